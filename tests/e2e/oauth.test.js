// People signing in to apps, driven by clients nobody here wrote: Medplum's SDK
// (`startLogin` + `processCode`, a choice of project, a second factor, `getProfile()`,
// `isSuperAdmin()`, automatic refresh, `signOut()`), `signInWithRedirect` in Chromium from a
// small app on another origin, and a certified OpenID Connect relying party (`openid-client`).
'use strict';
globalThis.WebSocket ??= require('ws');
const { test: baseTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const { MedplumClient } = require('@medplum/core');
const { start, registerWithProject, totp } = require('./harness');

const test = (name, fn) => baseTest(name, { timeout: 120_000 }, fn);
const PASSWORD = 'correct horse battery staple';
let rc;
let admin; // Ada's page: owner of "OAuth Clinic", later also of "Second Clinic"
let app; // the small browser app: { server, origin, redirects }

/** A static "app" on its own origin: Medplum's SDK in the browser, and a callback that
 * records what came back. */
function startApp() {
  const bundle = fs.readFileSync(require.resolve('@medplum/core').replace(/cjs\/index\.cjs$/, 'esm/index.mjs'));
  const redirects = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/medplum.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(bundle);
    }
    if (url.pathname === '/callback') {
      redirects.push(url.search);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('back at the app');
    }
    // The app: the client id comes in the query the first time and is kept for the return.
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html lang="en"><title>App</title><p id="state">loading</p>
<script type="module">
import { MedplumClient } from '/medplum.mjs';
const params = new URLSearchParams(location.search);
if (params.get('clientId')) sessionStorage.setItem('clientId', params.get('clientId'));
const medplum = new MedplumClient({ baseUrl: ${JSON.stringify(rc.base)}, clientId: sessionStorage.getItem('clientId') });
try {
  const profile = await medplum.signInWithRedirect();
  if (profile) {
    document.getElementById('state').textContent = 'signed in';
    document.body.dataset.profile = JSON.stringify(profile);
    document.body.dataset.project = medplum.getProject().name;
  }
} catch (e) {
  document.getElementById('state').textContent = 'failed: ' + e.message;
}
</script>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, redirects, origin: `http://127.0.0.1:${server.address().port}`,
  })));
}

before(async () => {
  rc = await start();
  app = await startApp();
  admin = await (await rc.browser.newContext()).newPage();
  await registerWithProject(rc.base, admin, { first: 'Ada', email: 'ada@example.com', project: 'OAuth Clinic', password: PASSWORD });
});
after(async () => {
  if (app) app.server.close();
  if (rc) await rc.stop();
});

/** Medplum's SDK in Node, exactly as an app developer makes it. */
function sdk(options = {}) {
  return new MedplumClient({ baseUrl: rc.base, fetch, ...options });
}

/** A browser app's client on the Clients tab, registered with these redirect URIs. */
async function browserClient(name, redirectUris) {
  await admin.goto(rc.base + '/admin/clients/new');
  await admin.fill('#name', name);
  await admin.fill('#redirectUri', redirectUris.join('\n'));
  await admin.click('button:has-text("Create client")');
  await admin.waitForSelector('#client-secret');
  const id = admin.url().split('/').pop();
  await admin.goto(rc.base + '/admin/clients/' + id);
  const authorizeUrl = await admin.inputValue('#authorize-url');
  assert.ok(authorizeUrl.includes(`client_id=${id}`) && authorizeUrl.includes('code_challenge_method=S256'));
  return id;
}

test('Medplum SDK: startLogin and processCode sign a person in, load the profile, refresh by itself and sign out', async () => {
  const medplum = sdk();
  const login = await medplum.startLogin({ email: 'ada@example.com', password: PASSWORD, scope: 'openid offline' });
  assert.ok(login.login && login.code, JSON.stringify(login));
  const profile = await medplum.processCode(login.code);
  assert.equal(profile.resourceType, 'Practitioner');
  assert.equal(profile.name[0].given[0], 'Ada');
  assert.equal(medplum.getProject().name, 'OAuth Clinic');
  assert.equal(medplum.isProjectAdmin(), true);
  assert.equal(medplum.isSuperAdmin(), false);
  const first = medplum.getAccessToken();
  assert.ok(medplum.getActiveLogin().refreshToken, 'offline scope: a refresh token');

  // The access token's hour is up, as far as the SDK knows (its own expiry field, which it
  // set from the token's `exp`): it refreshes before the next request, by itself.
  medplum.accessTokenExpires = Date.now() - 1000;
  const me = await medplum.get('auth/me', { cache: 'no-cache' });
  assert.equal(me.profile.id, profile.id);
  assert.notEqual(medplum.getAccessToken(), first, 'a new access token');

  const token = medplum.getAccessToken();
  await medplum.signOut();
  const after = await fetch(rc.base + '/auth/me', { headers: { authorization: 'Bearer ' + token } });
  assert.equal(after.status, 401, 'signed out on the server too');
});

test('Medplum SDK in Chromium: signInWithRedirect from an app on another origin, through the sign-in page and back', async () => {
  const clientId = await browserClient('Redirect app', [app.origin + '/']);
  const person = await (await rc.browser.newContext()).newPage();
  await person.goto(`${app.origin}/?clientId=${clientId}`);
  await person.waitForURL(rc.base + '/signin?**');
  await person.fill('#email', 'ada@example.com');
  await person.fill('#password', PASSWORD);
  await person.click('button:has-text("Sign in")');
  await person.waitForURL(app.origin + '/?code=**');
  await person.waitForFunction(() => document.getElementById('state').textContent !== 'loading');
  assert.equal(await person.textContent('#state'), 'signed in');
  const profile = JSON.parse(await person.getAttribute('body', 'data-profile'));
  assert.equal(profile.resourceType, 'Practitioner');
});

test('Medplum SDK: a person in two projects chooses one; super admins are seen as such; a second factor comes first', async () => {
  await admin.goto(rc.base + '/projects/new');
  await admin.fill('#projectName', 'Second Clinic');
  await admin.click('button:has-text("Create project")');
  await admin.waitForURL(rc.base + '/');

  let medplum = sdk();
  const choice = await medplum.startLogin({ email: 'ada@example.com', password: PASSWORD });
  assert.equal(choice.memberships.length, 2, JSON.stringify(choice));
  const second = choice.memberships.find((m) => m.project.display === 'Second Clinic');
  // What Medplum's sign-in form sends when a profile is picked.
  const chosen = await medplum.post('auth/profile', { login: choice.login, profile: second.id });
  await medplum.processCode(chosen.code);
  assert.equal(medplum.getProject().name, 'Second Clinic');
  await assert.rejects(medplum.post('auth/profile', { login: choice.login, profile: second.id }), /already completed/);

  rc.rollcall('create-superadmin', '--email', 'ada@example.com');
  medplum = sdk();
  const direct = await medplum.startLogin({ email: 'ada@example.com', password: PASSWORD, projectId: second.project.reference.split('/')[1] });
  await medplum.processCode(direct.code);
  assert.equal(medplum.isSuperAdmin(), true);

  // Two-factor authentication, turned on in the browser.
  await admin.goto(rc.base + '/account/mfa');
  const secret = await admin.getAttribute('#mfa-secret', 'data-copy-value');
  await admin.check('#stored');
  await admin.fill('#token', totp(secret));
  await admin.click('button:has-text("Turn on")');
  await admin.waitForURL('**/account/security');

  medplum = sdk();
  const pending = await medplum.startLogin({ email: 'ada@example.com', password: PASSWORD, projectId: second.project.reference.split('/')[1] });
  assert.equal(pending.mfaRequired, true, JSON.stringify(pending));
  await assert.rejects(medplum.post('auth/mfa/verify', { login: pending.login, token: '000000' }), /code/i);
  const verified = await medplum.post('auth/mfa/verify', { login: pending.login, token: totp(secret, 1) });
  await medplum.processCode(verified.code);
  assert.equal(medplum.getProject().name, 'Second Clinic');
  assert.equal(medplum.isSuperAdmin(), true);

});

test('openid-client: discovery, authorization code with PKCE, ID token checked against the keys, UserInfo and refresh', async () => {
  const client = await import('openid-client');
  const clientId = await browserClient('OIDC app', [app.origin + '/callback']);
  const config = await client.discovery(new URL(rc.base), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  client.enableNonRepudiationChecks(config);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: app.origin + '/callback',
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  // Ada is signed in here (with her second factor): straight back with a code.
  await admin.goto(url.href);
  await admin.waitForURL(app.origin + '/callback?**');
  const tokens = await client.authorizationCodeGrant(config, new URL(admin.url()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, rc.base);
  assert.equal(claims.aud, clientId);
  assert.equal(claims.email, 'ada@example.com');
  assert.match(claims.fhirUser, /^Practitioner\//);

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.given_name, 'Ada');
  assert.equal(info.email, 'ada@example.com');

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated');
  const invalidGrant = (e) => e.error === 'invalid_grant';
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), invalidGrant, 'a spent refresh token');
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), invalidGrant, 'its family ended with the reuse');

  // The code again: refused.
  await assert.rejects(client.authorizationCodeGrant(config, new URL(admin.url()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  }), invalidGrant);
});
