// Starts Rollcall's release binary on a free port with a fresh SQLite database, a local SMTP
// sink that keeps every message, and headless Chromium (Debian's package).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.ROLLCALL_BIN || path.join(ROOT, 'target', 'release', 'rollcall');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

function decodeQuotedPrintable(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/** A small SMTP server: enough of the protocol for lettre's client. */
function startSmtpSink() {
  const messages = [];
  const server = net.createServer((socket) => {
    let buffer = '';
    let inData = false;
    socket.write('220 sink ready\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          const to = (raw.match(/^To: .*?([^\s<>]+@[^\s<>]+)/m) || [])[1];
          const subject = (raw.match(/^Subject: (.*)$/m) || [])[1];
          messages.push({ to, subject, text: decodeQuotedPrintable(raw) });
          socket.write('250 queued\r\n');
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol).toUpperCase();
        buffer = buffer.slice(eol + 2);
        if (line.startsWith('EHLO')) socket.write('250-sink\r\n250 8BITMIME\r\n');
        else if (line.startsWith('DATA')) { inData = true; socket.write('354 go ahead\r\n'); }
        else if (line.startsWith('QUIT')) { socket.end('221 bye\r\n'); return; }
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, messages })));
}

async function start() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-e2e-'));
  const smtp = await startSmtpSink();
  const port = await freePort();
  const env = { ...process.env, ROLLCALL_DATA_DIR: dataDir, ROLLCALL_BIND: `127.0.0.1:${port}`,
    ROLLCALL_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, RUST_LOG: 'warn' };
  for (const k of Object.keys(env)) if (k.startsWith('ROLLCALL_') && !['ROLLCALL_DATA_DIR', 'ROLLCALL_BIND', 'ROLLCALL_SMTP_URL'].includes(k)) delete env[k];
  const app = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  let browser;
  try {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
  } catch (e) {
    // Without this the server and the SMTP sink would keep node running forever.
    app.kill();
    smtp.server.close();
    throw e;
  }
  return {
    base, browser, smtp, dataDir, env,
    async waitForMail(to, subject) {
      for (let i = 0; i < 100; i++) {
        const m = [...smtp.messages].reverse().find((x) => x.to === to && x.subject && x.subject.includes(subject));
        if (m) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no email to ${to} about ${subject}`);
    },
    linkIn(mail) { return mail.text.match(/http:\/\/[^\s"<>]+/)[0]; },
    /** Runs a `rollcall` command against the same database. */
    rollcall(...args) { return execFileSync(BIN, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }); },
    async stop() { await browser.close(); app.kill(); smtp.server.close(); },
  };
}

/** axe-core with the WCAG 2.0, 2.1 and 2.2 A/AA rules; returns the violations. */
async function axe(page) {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/** Signs up in `page` and creates a first project; lands on the project's home page. */
async function registerWithProject(base, page, { first, email, project, password }) {
  await page.goto(base + '/register');
  await page.fill('#firstName', first);
  await page.fill('#lastName', 'Tester');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button:has-text("Create account")');
  await page.waitForURL('**/register/project');
  await page.fill('#projectName', project);
  await page.click('button:has-text("Create project")');
  await page.waitForURL(base + '/');
}

/** Creates a client application on the Clients tab; returns its id and the secret shown once. */
async function createClient(base, page, { name, admin = false }) {
  await page.goto(base + '/admin/clients/new');
  await page.fill('#name', name);
  if (admin) await page.check('#admin');
  await page.click('button:has-text("Create client")');
  await page.waitForSelector('#client-secret');
  return { id: page.url().split('/').pop(), secret: await page.inputValue('#client-secret') };
}

function base32(s) {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '')) bits += a.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

/** The code an authenticator app shows (RFC 6238, SHA-1, 6 digits, 30 s). */
function totp(secret, stepOffset = 0) {
  const step = Math.floor(Date.now() / 30000) + stepOffset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

module.exports = { start, axe, registerWithProject, createClient, totp, ROOT };
