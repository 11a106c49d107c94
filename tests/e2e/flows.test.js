// Rollcall in real Chromium: the flows people use, accessibility on every page and state,
// keyboard use, the same core flows with JavaScript off, and screenshots for the README.
'use strict';
const { test: baseTest, before, after } = require('node:test');

// No step may hang the run: each test gets two minutes.
const test = (name, fn) => baseTest(name, { timeout: 120_000 }, fn);
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { start, axe, registerWithProject, createClient, totp, ROOT } = require('./harness');

const PASSWORD = 'correct horse battery staple';
const SHOTS = path.join(ROOT, 'docs', 'screenshots');
let rc;
let admin; // Ada's page, signed in as the project's admin
const checked = []; // pages and states axe has passed

before(async () => {
  rc = await start();
  fs.mkdirSync(SHOTS, { recursive: true });
});
after(async () => { if (rc) await rc.stop(); });

async function newPage(options = {}) {
  const context = await rc.browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  return context.newPage();
}

async function accessible(page, label) {
  const violations = await axe(page);
  assert.deepEqual(violations, [], `${label}: ${violations.join(' | ')}`);
  checked.push(label);
}

async function shoot(page, name) {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 860 });
}

function register(page, first, email, project) {
  return registerWithProject(rc.base, page, { first, email, project, password: PASSWORD });
}

async function signIn(page, email, password = PASSWORD) {
  await page.goto(rc.base + '/signin');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button:has-text("Sign in")');
}

async function invite(page, { type = 'Practitioner', first, last, email, sendEmail = true, extra = [] }) {
  await page.goto(rc.base + '/admin/invite');
  await page.check(`#resourceType-${type}`);
  await page.fill('#firstName', first);
  await page.fill('#lastName', last);
  await page.fill('#email', email);
  if (!sendEmail) await page.uncheck('#sendEmail');
  for (const id of extra) await page.check(id);
  await page.click('button:has-text("Invite")');
  await page.waitForSelector('text=Go to member');
}

test('a visitor registers, creates a project and lands on its home page', async () => {
  admin = await newPage({ permissions: ['clipboard-read', 'clipboard-write'] });
  await admin.goto(rc.base + '/register');
  await accessible(admin, 'sign-up');
  await shoot(admin, 'register');
  await admin.click('button:has-text("Create account")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'sign-up with errors');
  assert.equal(await admin.evaluate(() => document.activeElement.className), 'error-summary', 'focus moves to the error summary');
  await register(admin, 'Ada', 'ada@example.com', 'Analytical Clinic');
  assert.equal(await admin.textContent('main h1'), 'Analytical Clinic');
  assert.match(await admin.textContent('.flash'), /Project Analytical Clinic created/);
  await accessible(admin, 'project home');
});

test('a second project is created and the switcher changes project', async () => {
  await admin.click('nav[aria-label=Project] summary');
  await accessible(admin, 'project menu open');
  await admin.click('text=Create a new project');
  await admin.fill('#projectName', 'Engine Research');
  await admin.click('button:has-text("Create project")');
  await admin.waitForURL(rc.base + '/');
  assert.equal(await admin.textContent('main h1'), 'Engine Research');
  await admin.click('nav[aria-label=Project] summary');
  await admin.click('nav[aria-label=Project] button:has-text("Analytical Clinic")');
  await admin.waitForSelector('.flash');
  assert.equal(await admin.textContent('main h1'), 'Analytical Clinic');
});

test('an invited practitioner sets a password from the email and is signed in to the project', async () => {
  await admin.goto(rc.base + '/admin/invite');
  await accessible(admin, 'invite form');
  await admin.click('button:has-text("Invite")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'invite form with errors');
  await shoot(admin, 'invite-error');
  await invite(admin, { first: 'Grace', last: 'Hopper', email: 'grace@example.com' });
  await accessible(admin, 'invite result');
  const mail = await rc.waitForMail('grace@example.com', 'invited');
  const grace = await newPage();
  await grace.goto(rc.linkIn(mail));
  await accessible(grace, 'set password');
  await grace.fill('#password', 'quiet river paper falcon');
  await grace.fill('#confirmPassword', 'quiet river paper falcon');
  await grace.click('button:has-text("Set password")');
  await grace.waitForURL(rc.base + '/');
  assert.equal(await grace.textContent('main h1'), 'Analytical Clinic');
  assert.match(await grace.textContent('.flash'), /Your password is set/);
  assert.equal(await grace.textContent('.account-name'), 'Grace Hopper');
  await grace.context().close();
});

test('an existing account is invited, sees the invitation and accepts it', async () => {
  const bob = await newPage();
  await register(bob, 'Bob', 'bob@example.com', 'Bob Lab');
  await invite(admin, { first: 'Bob', last: 'Byte', email: 'bob@example.com' });
  assert.equal(await admin.textContent('main h1'), 'Invitation sent to an existing account');
  await accessible(admin, 'invite result for an existing account');
  await rc.waitForMail('bob@example.com', 'Invitation to join Analytical Clinic');
  await bob.goto(rc.base + '/');
  assert.match(await bob.textContent('main'), /Pending invitations/);
  await bob.click('main a:has-text("Accept or decline")');
  await bob.waitForURL('**/invitations');
  await accessible(bob, 'invitations');
  await shoot(bob, 'invitations');
  // Anyone can sign up with any address: accepting needs it confirmed by a link sent to it.
  await bob.click('button:has-text("Accept")');
  await bob.waitForURL('**/invitations');
  assert.match(await bob.textContent('.flash'), /Confirm your email address first/);
  await bob.click('button:has-text("Email me a link")');
  await bob.waitForURL('**/invitations');
  const confirm = await rc.waitForMail('bob@example.com', 'Confirm your email address');
  await bob.goto(rc.linkIn(confirm));
  await accessible(bob, 'confirm an email address');
  await bob.click('button:has-text("Confirm my address")');
  await bob.waitForURL('**/invitations');
  assert.match(await bob.textContent('.flash'), /is confirmed/);
  assert.equal(await bob.locator('#verify-notice').count(), 0);
  await bob.click('button:has-text("Accept")');
  await bob.waitForURL(rc.base + '/');
  assert.equal(await bob.textContent('main h1'), 'Analytical Clinic');
  assert.match(await bob.textContent('.flash'), /You joined Analytical Clinic/);
  await bob.context().close();
});

test('a patient is invited without email and the link can be copied', async () => {
  // The tab bar follows the kind of person picked on the form.
  await admin.goto(rc.base + '/admin/invite');
  assert.equal(await admin.textContent('nav.tabs a[aria-current=page]'), 'Users');
  await admin.check('#resourceType-Patient');
  assert.equal(await admin.textContent('nav.tabs a[aria-current=page]'), 'Patients');
  await admin.check('#resourceType-Practitioner');
  assert.equal(await admin.textContent('nav.tabs a[aria-current=page]'), 'Users');
  await invite(admin, { type: 'Patient', first: 'Pat', last: 'Ient', email: 'pat@example.com', sendEmail: false });
  const link = await admin.inputValue('#invite-link');
  assert.match(link, /\/setpassword\//);
  // The whole link is visible (it wraps), and Copy puts it on the clipboard.
  const box = await admin.$eval('#invite-link', (t) => ({ scroll: t.scrollWidth, client: t.clientWidth }));
  assert.ok(box.scroll <= box.client, 'the link is not cut off');
  await admin.click('button.copy-button[data-copy=invite-link]');
  await admin.waitForSelector('button.copy-button.copied');
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), link);
  await accessible(admin, 'invite result with its link');
  const pat = await newPage();
  await pat.goto(link);
  assert.match(await pat.textContent('h1'), /Choose a password/);
  await pat.context().close();
});

test('the Users tab searches live, filters and pages', async () => {
  rc.rollcall('seed', '--project', 'Analytical Clinic', '--members', '120');
  await admin.goto(rc.base + '/admin/users');
  await accessible(admin, 'users tab');
  assert.equal(await admin.locator('#member-results tbody tr').count(), 50);
  await admin.click('text=Next page');
  await admin.waitForURL('**after=**');
  assert.ok(await admin.locator('#member-results tbody tr').count() > 0);
  await admin.goto(rc.base + '/admin/users');
  await admin.fill('#q', 'grace@example');
  await admin.waitForFunction(() => document.querySelectorAll('#member-results tbody tr').length === 1);
  assert.match(admin.url(), /q=grace%40example/, 'the search is in the address');
  await shoot(admin, 'users');
  await admin.fill('#q', '');
  await admin.check('#admin');
  // The seed makes a few admins among its practitioners: every row left is an admin.
  await admin.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#member-results tbody tr')];
    return rows.length > 0 && rows.length < 50
      && rows.every((r) => r.querySelector('td[data-label=Admin] .badge'));
  });
  assert.match(admin.url(), /admin=1/, 'the filter is in the address');
  // Sorting by a column header keeps the filter, and says which way it sorts.
  await admin.click('th a:has-text("Email")');
  await admin.waitForURL('**sort=email**');
  assert.match(admin.url(), /admin=1/);
  assert.equal(await admin.getAttribute('th[aria-sort]', 'aria-sort'), 'ascending');
  await admin.goto(rc.base + '/admin/patients');
  await accessible(admin, 'patients tab');
});

test('members ticked on two pages get a new access policy in one batch', async () => {
  await admin.goto(rc.base + '/admin/users');
  const firstPage = admin.locator('#member-results tbody input[name=member]');
  await firstPage.nth(1).check();
  await firstPage.nth(2).check();
  await admin.click('text=Next page');
  await admin.waitForURL('**after=**');
  const secondPage = admin.locator('#member-results tbody input[name=member]');
  await secondPage.nth(0).check();
  await secondPage.nth(1).check();
  assert.match(await admin.textContent('#bulk-count'), /^4 selected/);
  await admin.selectOption('#bulk-action', 'policy');
  const policy = await admin.locator('#bulk-policy option').nth(1).textContent();
  await admin.selectOption('#bulk-policy', { label: policy });
  await admin.click('button:has-text("Review")');
  await admin.waitForSelector('#bulk-who');
  assert.match(await admin.textContent('main h1'), /Change the access policy of 4 members/);
  assert.equal(await admin.evaluate(() => document.activeElement.textContent.trim()), 'Cancel', 'focus starts on Cancel');
  await accessible(admin, 'bulk confirmation');
  await shoot(admin, 'bulk-confirm');
  await admin.click('form button:has-text("Change the access policy")');
  await admin.waitForSelector('#bulk-summary');
  assert.match(await admin.textContent('#bulk-summary'), /4 members were changed/);
  await accessible(admin, 'bulk result');
  // The selection starts afresh after a batch.
  await admin.goto(rc.base + '/admin/users');
  assert.equal(await admin.locator('#member-results tbody input[name=member]:checked').count(), 0);
});

test('an admin promotes, demotes and removes a member with the confirmation dialog', async () => {
  await admin.goto(rc.base + '/admin/users?q=grace%40example');
  await admin.click('#member-results a:has-text("Grace Hopper")');
  await accessible(admin, 'member page');
  await admin.check('#admin');
  await admin.click('button:has-text("Save")');
  await admin.waitForSelector('.flash');
  assert.equal(await admin.isChecked('#admin'), true);
  await admin.uncheck('#admin');
  await admin.click('button:has-text("Save")');
  await admin.waitForSelector('.flash');
  assert.equal(await admin.isChecked('#admin'), false);
  await admin.click('text=Remove user');
  await admin.waitForSelector('dialog[open]');
  await accessible(admin, 'remove dialog');
  await shoot(admin, 'remove-dialog');
  await admin.click('dialog a:has-text("Cancel")');
  await admin.waitForSelector('dialog', { state: 'detached' });
  await admin.click('text=Remove user');
  await admin.click('dialog button:has-text("Remove Grace Hopper")');
  await admin.waitForURL('**/admin/users');
  assert.match(await admin.textContent('.flash'), /Grace Hopper was removed/);
  await admin.goto(rc.base + '/admin/audit');
  await accessible(admin, 'audit log');
  const actions = await admin.$$eval('tbody tr td[data-label=Action]', (c) => c.map((x) => x.textContent));
  for (const a of ['Member removed', 'Admin rights removed', 'Promoted to admin', 'Member invited']) assert.ok(actions.includes(a), a);
});

test('pending invitations are resent and cancelled; a member is suspended and reactivated', async () => {
  await invite(admin, { first: 'Hedy', last: 'Lamarr', email: 'hedy@example.com' });
  await rc.waitForMail('hedy@example.com', 'invited');
  await admin.goto(rc.base + '/admin/users');
  await admin.click('nav.tabs a:has-text("Invitations")');
  await admin.waitForURL('**/admin/invitations');
  const row = admin.locator('tr', { hasText: 'Hedy Lamarr' });
  assert.match(await row.textContent(), /Works until/);
  assert.match(await row.textContent(), /Ada /);
  await accessible(admin, 'pending invitations');
  await shoot(admin, 'pending-invitations');
  await row.locator('button:has-text("Resend")').click();
  await admin.waitForSelector('.flash');
  assert.match(await admin.textContent('.flash'), /previous link no longer works/);
  await admin.locator('tr', { hasText: 'Hedy Lamarr' }).locator('a:has-text("Cancel")').click();
  await admin.waitForSelector('dialog[open]');
  await accessible(admin, 'cancel invitation dialog');
  assert.match(await admin.textContent('dialog h2'), /Hedy Lamarr/);
  await admin.click('dialog button:has-text("Cancel invitation")');
  await admin.waitForSelector('.flash');
  assert.match(await admin.textContent('.flash'), /invitation of Hedy Lamarr was cancelled/);
  assert.equal(await admin.locator('tr', { hasText: 'Hedy Lamarr' }).count(), 0);

  await admin.goto(rc.base + '/admin/users?q=bob%40example');
  await admin.click('#member-results a:has-text("Bob Byte")');
  await admin.click('button:has-text("Suspend")');
  await admin.waitForSelector('.flash');
  assert.match(await admin.textContent('dl'), /Suspended/);
  await accessible(admin, 'suspended member page');
  await admin.goto(rc.base + '/admin/users');
  await admin.selectOption('#status', 'suspended');
  await admin.waitForURL('**status=suspended**');
  await admin.waitForSelector('#member-results td[data-label=Name]:has-text("Bob Byte")');
  assert.equal(await admin.locator('#member-results tbody tr').count(), 1);
  await accessible(admin, 'users filtered by suspended');
  await admin.click('#member-results a:has-text("Bob Byte")');
  await admin.click('button:has-text("Reactivate")');
  await admin.waitForSelector('.flash');
  assert.match(await admin.textContent('dl'), /Active/);
  await admin.goto(rc.base + '/admin/audit');
  const actions = await admin.$$eval('tbody tr td[data-label=Action]', (c) => c.map((x) => x.textContent));
  for (const a of ['Invitation cancelled', 'Invite resent', 'Member suspended', 'Member reactivated']) assert.ok(actions.includes(a), a);
});

test('many people are invited from a pasted list after a preview', async () => {
  await admin.goto(rc.base + '/admin/invitations');
  await admin.click('a:has-text("Invite many")');
  await admin.waitForURL('**/admin/invite/bulk');
  await accessible(admin, 'bulk invite form');
  await admin.fill('#people', [
    'ward1@example.com, Wanda, One',
    'ward2@example.com, Walter, Two, RelatedPerson',
    'ward3@example, Wes, Three',
    'ada@example.com, Ada, Tester',
  ].join('\n'));
  await admin.click('button:has-text("Check the list")');
  await admin.waitForSelector('#bulk-invite-preview');
  assert.match(await admin.textContent('#bulk-invite-summary'), /^2 of 4 can be invited/);
  await accessible(admin, 'bulk invite preview');
  await shoot(admin, 'bulk-invite-preview');
  await admin.click('button:has-text("Invite 2 people")');
  await admin.waitForSelector('#bulk-invite-result');
  assert.match(await admin.textContent('main h1'), /^2 of 4 invited/);
  await accessible(admin, 'bulk invite result');
  await rc.waitForMail('ward2@example.com', 'invited');
});

test('a person changes their email address through the link sent to it', async () => {
  const eve = await newPage();
  await register(eve, 'Eve', 'eve@example.com', 'Eve Lab');
  await eve.goto(rc.base + '/account/security');
  await eve.fill('#newEmail', 'eve.new@example.org');
  await eve.fill('#emailPassword', PASSWORD);
  await eve.click('button:has-text("Change email")');
  await eve.waitForSelector('.flash');
  assert.match(await eve.textContent('.flash'), /We sent a link to eve.new@example.org/);
  await accessible(eve, 'security page after an email change request');
  const mail = await rc.waitForMail('eve.new@example.org', 'Confirm your new email address');
  await eve.goto(rc.linkIn(mail));
  await accessible(eve, 'confirm new email');
  await eve.click('button:has-text("Confirm eve.new@example.org")');
  await eve.waitForSelector('text=Your email address is now eve.new@example.org');
  await eve.context().close();
});

test('account settings are saved with a photo', async () => {
  await admin.click('nav[aria-label=Account] summary');
  await admin.click('text=Account settings');
  await accessible(admin, 'account settings');
  await admin.fill('#prefix', 'Dr.');
  await admin.selectOption('#language', 'en');
  await admin.click('button:has-text("Add a qualification")');
  await admin.fill('[id="qualification[0].text"]', 'Mathematics');
  await admin.click('button:has-text("Save profile")');
  await admin.waitForSelector('.flash');
  await admin.setInputFiles('#photo', path.join(SHOTS, 'register.png'));
  await admin.click('button:has-text("Upload photo")');
  await admin.waitForSelector('.profile-photo');
  assert.equal(await admin.$eval('nav[aria-label=Account] img', (i) => i.naturalWidth), 256);
  await shoot(admin, 'account');
  await admin.fill('#phone', 'not a phone');
  await admin.click('button:has-text("Save profile")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'account settings with errors');
});

test('an authenticator is enrolled, sign-in asks for its code, and an old session is revoked', async () => {
  const other = await newPage();
  await signIn(other, 'ada@example.com');
  await admin.goto(rc.base + '/account/security');
  await accessible(admin, 'security');
  await admin.click('text=Set up two-factor authentication');
  await accessible(admin, 'enrol authenticator');
  const secret = await admin.getAttribute('#mfa-secret', 'data-copy-value');
  assert.match(await admin.textContent('#mfa-secret'), /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'the key in groups of four');
  await admin.click('button.copy-button[data-copy=mfa-secret]');
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), secret, 'copied without the spaces');
  // Ten recovery codes, to download before two-factor authentication turns on.
  const codes = await admin.$$eval('#recovery-codes code', (els) => els.map((e) => e.textContent));
  assert.equal(codes.length, 10);
  const [download] = await Promise.all([admin.waitForEvent('download'), admin.click('a:has-text("Download as text")')]);
  assert.equal(download.suggestedFilename(), 'rollcall-recovery-codes.txt');
  const saved = fs.readFileSync(await download.path(), 'utf8');
  assert.ok(codes.every((c) => saved.includes(c)), 'the file holds every code');
  await admin.fill('#token', totp(secret));
  await admin.click('button:has-text("Turn on")');
  await admin.waitForSelector('.error-summary');
  assert.match(await admin.textContent('.error-summary'), /Store your recovery codes/);
  await accessible(admin, 'enrol authenticator, codes not confirmed');
  await admin.check('#stored');
  await admin.fill('#token', totp(secret));
  await admin.click('button:has-text("Turn on")');
  await admin.waitForSelector('.flash');
  await admin.click('nav[aria-label=Account] summary');
  await admin.click('button:has-text("Sign out")');
  await signIn(admin, 'ada@example.com');
  await admin.waitForURL('**/signin/**');
  if (admin.url().includes('/signin/project')) {
    await admin.click('.choice:has-text("Analytical Clinic")');
  }
  await admin.waitForURL('**/signin/mfa**');
  await accessible(admin, 'sign-in code');
  await admin.fill('#token', totp(secret, 1));
  await admin.click('button:has-text("Verify")');
  await admin.waitForURL((u) => !u.pathname.startsWith('/signin/mfa'));
  if (admin.url().includes('/signin/project')) await admin.click('.choice:has-text("Analytical Clinic")');
  await admin.goto(rc.base + '/account/security');
  await shoot(admin, 'security');
  await admin.click('form[action$="/revoke"] button');
  await admin.waitForSelector('.flash');
  await other.goto(rc.base + '/');
  assert.match(other.url(), /\/signin/);
  await other.context().close();
});

test('every flow above works with the keyboard alone, and focus is visible', async () => {
  const page = await newPage();
  await page.goto(rc.base + '/resetpassword');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to main content');
  let outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused link shows a focus ring');
  await page.goto(rc.base + '/signin');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'email', 'sign-in starts in the email field');
  await page.keyboard.type('bob@example.com');
  await page.keyboard.press('Tab');
  await page.keyboard.type('wrong password here');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.error-summary');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'error-summary');
  await page.focus('#password');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => !u.pathname.startsWith('/signin') || u.pathname === '/signin/project');
  outline = await page.evaluate(() => { document.querySelector('button, a').focus(); return getComputedStyle(document.activeElement).outlineStyle; });
  assert.notEqual(outline, 'none');
  await page.context().close();
});

/** Presses Tab until the focused element matches `selector` (fails after 80 presses). */
async function tabTo(page, selector) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement && document.activeElement.matches(sel), selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

test('menus, inviting and removing work with the keyboard alone', async () => {
  const page = admin;
  await page.goto(rc.base + '/');
  // Project menu → Project admin → Users → Invite new user.
  await tabTo(page, 'nav[aria-label=Project] summary');
  await page.keyboard.press('Enter');
  await tabTo(page, 'a[href="/admin/project"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/project');
  await tabTo(page, '.tabs a[href="/admin/users"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/users');
  await tabTo(page, 'a.button[href="/admin/invite"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/invite');
  await tabTo(page, '#firstName');
  await page.keyboard.type('Kay');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Board');
  await page.keyboard.press('Tab');
  await page.keyboard.type('kay@example.com');
  await tabTo(page, 'form button[type=submit]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('text=Go to member');
  await tabTo(page, 'a.button-primary[href^="/admin/members/"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/members/**');
  // Remove: the dialog takes focus on Cancel, so Enter there removes nobody; Escape closes
  // it and focus returns to the button.
  await tabTo(page, 'a.button-danger');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open]');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Cancel');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog', { state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.className), 'button button-danger');
  assert.match(page.url(), /\/admin\/members\//, 'still on the member page');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog', { state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.className), 'button button-danger');
  // The fastest keyboard user: focus leaves Cancel the instant the dialog opens. The dialog
  // opens only after htmx has settled (htmx focuses [autofocus] as it settles), so nothing
  // takes focus back a moment later.
  await page.evaluate(() => {
    new MutationObserver((_, observer) => {
      const open = document.querySelector('dialog[open]');
      if (!open) return;
      observer.disconnect();
      open.querySelector('button[type=submit]').focus();
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['open'] });
  });
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open]');
  await page.waitForTimeout(200);
  assert.match(await page.evaluate(() => document.activeElement.textContent), /Remove Kay Board/);
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Cancel');
  await page.keyboard.press('Tab');
  assert.match(await page.evaluate(() => document.activeElement.textContent), /Remove Kay Board/);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/admin/users');
  assert.match(await page.textContent('.flash'), /Kay Board was removed/);
  // Account menu → Account settings.
  await page.goto(rc.base + '/');
  await tabTo(page, 'nav[aria-label=Account] summary');
  await page.keyboard.press('Enter');
  await tabTo(page, 'a[href="/account"]');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/account');
});

test('with JavaScript off, sign-up, invite, removal, cancelling an invitation and account settings work by plain forms', async () => {
  const page = await newPage({ javaScriptEnabled: false });
  await register(page, 'Nora', 'nora@example.com', 'No Script Clinic');
  await page.goto(rc.base + '/admin/invite');
  await page.click('button:has-text("Invite")');
  await page.waitForSelector('.error-summary');
  await invite(page, { first: 'Quiet', last: 'Member', email: 'quiet@example.com' });
  await page.click('text=Go to member');
  await page.click('text=Remove user');
  await page.waitForURL('**/remove');
  assert.match(await page.textContent('main h2'), /Remove Quiet Member\?/);
  await page.click('button:has-text("Remove Quiet Member")');
  await page.waitForURL('**/admin/users');
  assert.match(await page.textContent('.flash'), /Quiet Member was removed/);
  await invite(page, { first: 'Later', last: 'Person', email: 'later@example.com' });
  await page.goto(rc.base + '/admin/invitations');
  await page.locator('tr', { hasText: 'Later Person' }).locator('a:has-text("Cancel")').click();
  await page.waitForURL('**/cancel');
  await page.click('button:has-text("Cancel invitation")');
  await page.waitForURL('**/admin/invitations');
  assert.match(await page.textContent('.flash'), /invitation of Later Person was cancelled/);
  await invite(page, { first: 'Batch', last: 'One', email: 'batch1@example.com' });
  await invite(page, { first: 'Batch', last: 'Two', email: 'batch2@example.com' });
  await page.goto(rc.base + '/admin/users?q=batch');
  await page.locator('#member-results tbody input[name=member]').nth(0).check();
  await page.locator('#member-results tbody input[name=member]').nth(1).check();
  await page.selectOption('#bulk-action', 'suspend');
  await page.click('button:has-text("Review")');
  await page.waitForURL('**/admin/users/bulk');
  assert.match(await page.textContent('main h1'), /Suspend 2 members/);
  await page.click('form button:has-text("Suspend 2 members")');
  await page.waitForSelector('#bulk-summary');
  assert.match(await page.textContent('#bulk-summary'), /2 members were changed/);
  await page.goto(rc.base + '/admin/users?q=nora');
  assert.equal(await page.locator('#member-results tbody tr').count(), 1, 'search works as a plain GET');
  await page.goto(rc.base + '/admin/users?q=batch1');
  await page.click('#member-results a:has-text("Batch One")');
  await page.click('a:has-text("Edit profile")');
  await page.click('button:has-text("Add an identifier")');
  await page.fill('#identifier\\[0\\]\\.value', 'NS-7');
  await page.click('button:has-text("Save profile")');
  await page.waitForSelector('.flash');
  assert.match(await page.textContent('dl'), /NS-7/);
  await page.goto(rc.base + '/account');
  await page.fill('#suffix', 'MD');
  await page.click('button:has-text("Save profile")');
  await page.waitForSelector('.flash');
  assert.equal(await page.inputValue('#suffix'), 'MD');
  await page.context().close();
});

test('an API client is created on the Clients tab and its secret is shown once', async () => {
  await admin.goto(rc.base + '/admin/project');
  await admin.click('nav.tabs a:has-text("Clients")');
  await admin.click('a:has-text("New client application")');
  await admin.click('button:has-text("Create client")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'new client with errors');
  const client = await createClient(rc.base, admin, { name: 'Lab importer', admin: true });
  assert.match(client.secret, /^[0-9a-f]{64}$/);
  await accessible(admin, 'client with its new secret');
  await shoot(admin, 'client');
  await admin.click('button.copy-button[data-copy=client-secret]');
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), client.secret);
  await admin.click('a:has-text("I have stored it")');
  assert.equal(await admin.locator('#client-secret').count(), 0, 'dismissed');
  await admin.click('button.copy-button[data-copy=client-id]');
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), client.id);
  await admin.reload();
  assert.equal(await admin.locator('#client-secret').count(), 0, 'the secret is not shown again');
  await admin.click('a:has-text("Rotate secret")');
  await admin.waitForSelector('dialog[open]');
  assert.match(await admin.textContent('dialog'), /every integration using client ID/);
  await accessible(admin, 'rotate secret confirmation');
  await admin.click('dialog button:has-text("Rotate secret")');
  const rotated = await admin.inputValue('#client-secret');
  assert.notEqual(rotated, client.secret);
  await admin.click('a:has-text("Remove client")');
  await admin.waitForSelector('dialog[open]');
  await accessible(admin, 'remove client confirmation');
  await admin.click('dialog a:has-text("Cancel")');
  await admin.waitForSelector('dialog', { state: 'detached' });
  await admin.click('nav.tabs a:has-text("Clients")');
  await admin.waitForSelector('td:has-text("Lab importer")');
});

test('an admin edits a member profile; an owner deletes a project, then their account', async () => {
  await admin.goto(rc.base + '/admin/users?q=bob%40example');
  await admin.click('#member-results a:has-text("Bob Byte")');
  await admin.click('a:has-text("Edit profile")');
  await admin.waitForURL('**/profile');
  assert.match(await admin.textContent('main'), /only they can change its name/);
  await admin.click('button:has-text("Add an identifier")');
  await admin.waitForSelector('#identifier\\[0\\]\\.value');
  await admin.fill('#identifier\\[0\\]\\.system', 'urn:staff number');
  await admin.fill('#phone', 'not a phone');
  await admin.click('button:has-text("Save profile")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'member profile with errors');
  await admin.fill('#identifier\\[0\\]\\.system', 'urn:staff');
  await admin.fill('#identifier\\[0\\]\\.value', 'S-1001');
  await admin.fill('#phone', '+44 20 7946 0001');
  await admin.click('button:has-text("Save profile")');
  await admin.waitForSelector('.flash');
  assert.match(await admin.textContent('dl'), /S-1001/);
  await admin.click('a:has-text("Edit profile")');
  await admin.waitForURL('**/profile');
  await accessible(admin, 'member profile');

  const zed = await newPage();
  await register(zed, 'Zed', 'zed@example.com', 'Short Lived');
  await zed.goto(rc.base + '/admin/project');
  await zed.click('a:has-text("Delete this project")');
  await zed.waitForURL('**/admin/project/delete');
  await accessible(zed, 'delete project');
  assert.equal(await zed.evaluate(() => document.activeElement.textContent), 'Keep the project');
  await zed.fill('#confirmName', 'short lived');
  await zed.click('button:has-text("Delete Short Lived")');
  await zed.waitForSelector('.error-summary');
  await accessible(zed, 'delete project with errors');
  await zed.fill('#confirmName', 'Short Lived');
  await zed.click('button:has-text("Delete Short Lived")');
  await zed.waitForURL('**/register/project');
  assert.match(await zed.textContent('.flash'), /Short Lived was deleted/);
  await zed.click('nav[aria-label=Account] summary');
  await zed.click('a:has-text("Delete account")');
  await zed.waitForURL('**/account/delete');
  await accessible(zed, 'delete account');
  await zed.fill('#password', 'not the password at all');
  await zed.click('button:has-text("Delete my account")');
  await zed.waitForSelector('.error-summary');
  await accessible(zed, 'delete account with errors');
  await zed.fill('#password', PASSWORD);
  await zed.click('button:has-text("Delete my account")');
  await zed.waitForURL('**/signin');
  assert.match(await zed.textContent('.flash'), /Your account was deleted/);
  await rc.waitForMail('zed@example.com', 'Your Rollcall account was deleted');
  await zed.context().close();
});

test('the remaining pages have no accessibility violations', async () => {
  for (const p of ['/signin', '/resetpassword', '/projects/new', '/admin/project', '/admin/access-policies',
    '/admin/access-policies/new', '/admin/clients', '/admin/sign-in', '/no-such-page']) {
    await admin.goto(rc.base + p);
    await accessible(admin, p);
  }
  await admin.goto(rc.base + '/admin/users?q=bob%40example');
  await admin.click('#member-results a:has-text("Bob Byte")');
  await admin.goto(admin.url() + '/remove');
  await accessible(admin, 'remove confirmation page');
  await admin.goto(rc.base + '/admin/access-policies/new');
  await admin.click('button:has-text("Save policy")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'access policy with errors');
  // Single sign-on, reached from the Details tab, with its errors.
  await admin.goto(rc.base + '/admin/project');
  await admin.click('#sign-in-link');
  await admin.waitForURL('**/admin/sign-in');
  await admin.click('button:has-text("Save provider")');
  await admin.waitForSelector('.error-summary');
  await accessible(admin, 'single sign-on with errors');
  assert.equal(checked.length, 56, `axe ran on ${checked.length} pages and states`);
});

test('dark mode (chosen in the account menu, or from the device) and the phone layout pass axe', async () => {
  await admin.setViewportSize({ width: 1280, height: 860 });
  await admin.goto(rc.base + '/admin/users');
  await admin.click('nav[aria-label=Account] summary');
  await admin.click('.theme-choice button:has-text("Dark")');
  await admin.waitForURL('**/admin/users');
  assert.equal(await admin.getAttribute('html', 'data-theme'), 'dark');
  assert.equal(await admin.evaluate(() => getComputedStyle(document.body).colorScheme), 'dark');
  const pages = ['/', '/admin/users', '/admin/patients', '/admin/invite', '/admin/invitations', '/admin/audit',
    '/admin/clients/new', '/admin/access-policies/new', '/admin/project', '/account', '/account/security', '/no-such-page'];
  for (const width of [1280, 375]) {
    await admin.setViewportSize({ width, height: 860 });
    for (const p of pages) {
      await admin.goto(rc.base + p);
      const violations = await axe(admin);
      assert.deepEqual(violations, [], `dark ${p} at ${width}px: ${violations.join(' | ')}`);
      if (width === 375) {
        const wide = await admin.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= 375, `${p} scrolls sideways at 375 px (${wide})`);
      }
    }
  }
  // At 375 px the admin tabs wrap: the current one is on screen.
  await admin.goto(rc.base + '/admin/audit');
  const box = await admin.locator('nav.tabs a[aria-current=page]').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 375, 'the active tab is visible');
  await shoot(admin, 'audit-dark');
  // Back to following the device, which here is dark too: signed-out pages in a dark device.
  await admin.setViewportSize({ width: 1280, height: 860 });
  await admin.click('nav[aria-label=Account] summary');
  await admin.click('.theme-choice button:has-text("System")');
  await admin.waitForLoadState();
  assert.equal(await admin.getAttribute('html', 'data-theme'), null);
  const visitor = await newPage({ colorScheme: 'dark' });
  for (const p of ['/signin', '/register', '/resetpassword']) {
    await visitor.goto(rc.base + p);
    assert.equal(await visitor.evaluate(() => getComputedStyle(document.body).colorScheme), 'dark');
    const violations = await axe(visitor);
    assert.deepEqual(violations, [], `dark device ${p}: ${violations.join(' | ')}`);
  }
  await visitor.context().close();
});
