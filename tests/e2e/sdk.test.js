// Medplum's own TypeScript SDK (`@medplum/core`) against Rollcall, unmodified: client login
// (form body and HTTP Basic), invite, member search, member read and a JSON Patch promote.
'use strict';
// @medplum/core 5 expects a global WebSocket, which Node 20 does not have.
globalThis.WebSocket ??= require('ws');
const { test: baseTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { MedplumClient } = require('@medplum/core');
const { start, registerWithProject, createClient } = require('./harness');

const test = (name, fn) => baseTest(name, { timeout: 120_000 }, fn);
let rc;
let client; // an admin client application's id and secret

before(async () => {
  rc = await start();
  const page = await (await rc.browser.newContext()).newPage();
  await registerWithProject(rc.base, page, {
    first: 'Ada', email: 'ada@example.com', project: 'SDK Clinic', password: 'correct horse battery staple',
  });
  client = await createClient(rc.base, page, { name: 'SDK script', admin: true });
});
after(async () => { if (rc) await rc.stop(); });

function sdk(options = {}) {
  return new MedplumClient({ baseUrl: rc.base, fetch, ...options });
}

test('startClientLogin signs in and loads the client as the profile', async () => {
  const medplum = sdk();
  const profile = await medplum.startClientLogin(client.id, client.secret);
  assert.equal(profile.resourceType, 'ClientApplication');
  assert.equal(profile.id, client.id);
  assert.equal(medplum.getProject().name, 'SDK Clinic');
  assert.ok(medplum.getAccessToken());

  const basic = sdk({ authCredentialsMethod: 'header' });
  const viaBasic = await basic.startClientLogin(client.id, client.secret);
  assert.equal(viaBasic.id, client.id);

  await assert.rejects(sdk().startClientLogin(client.id, 'wrong secret'));
});

test('invite, search, read and promote through the SDK', async () => {
  const medplum = sdk();
  await medplum.startClientLogin(client.id, client.secret);
  const projectId = medplum.getProject().id;

  const patient = await medplum.post(`admin/projects/${projectId}/invite`, {
    resourceType: 'Patient', firstName: 'Pat', lastName: 'Sdk', email: 'pat@example.com', sendEmail: false,
  });
  assert.equal(patient.resourceType, 'ProjectMembership');
  assert.equal(patient.admin, false);
  assert.match(patient.profile.reference, /^Patient\//);

  const doctor = await medplum.invite(projectId, {
    resourceType: 'Practitioner', firstName: 'Doc', lastName: 'Sdk', email: 'doc@example.com',
  });
  assert.match(doctor.profile.reference, /^Practitioner\//);
  await rc.waitForMail('doc@example.com', 'invited');

  const patients = await medplum.searchResources('ProjectMembership', 'profile-type=Patient');
  assert.deepEqual(patients.map((m) => m.id), [patient.id]);
  const others = await medplum.searchResources('ProjectMembership', { 'profile-type:not': 'Patient' });
  assert.equal(others.length, 3, 'Ada, the client and Doc');

  const read = await medplum.get(`admin/projects/${projectId}/members/${patient.id}`);
  assert.equal(read.id, patient.id);
  assert.equal(read.admin, false);

  const promoted = await medplum.patch(`admin/projects/${projectId}/members/${patient.id}`, [
    { op: 'replace', path: '/admin', value: true },
  ]);
  assert.equal(promoted.admin, true);
  const reread = await medplum.get(`admin/projects/${projectId}/members/${patient.id}`, { cache: 'no-cache' });
  assert.equal(reread.admin, true);

  const profile = await medplum.readResource('Patient', patient.profile.reference.split('/')[1]);
  assert.equal(profile.name[0].given[0], 'Pat');
});

test('errors reach the SDK as OperationOutcome messages', async () => {
  const medplum = sdk();
  await medplum.startClientLogin(client.id, client.secret);
  const projectId = medplum.getProject().id;
  const body = { resourceType: 'Practitioner', firstName: 'Twice', lastName: 'Sdk', email: 'twice@example.com', sendEmail: false };
  await medplum.invite(projectId, body);
  await assert.rejects(medplum.invite(projectId, body), /already a member/);
  await assert.rejects(medplum.invite(projectId, { ...body, email: 'not-an-email' }), /email/i);
  await assert.rejects(medplum.get('admin/projects/not-mine'), /admin/i);
});
