import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import {
  createTestContext,
  startCannedArmServer,
  TEST_SUB,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import { createForRbac } from './ad-sp.js';

const SCOPE = `${TEST_SUB}/resourceGroups/rg1`;
const ROLE_ID = `${TEST_SUB}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7`;

describe('nw ad sp create-for-rbac', () => {
  let server: CannedArmServer;
  let assignmentStatus = 201;
  before(async () => {
    server = await startCannedArmServer();
    server.on('GET', `${TEST_SUB}/providers/Microsoft.Authorization/roleDefinitions`, (req) => ({
      status: 200,
      body: { value: req.query.get('$filter') === "roleName eq 'Network Contributor'" ? [{ id: ROLE_ID }] : [] },
    }));
    server.on('POST', '/admin/v1/servicePrincipals', {
      status: 201,
      body: {
        appId: 'app-1',
        objectId: 'obj-1',
        displayName: 'ci-bot',
        password: 'nws_secret',
        tenant: TEST_SUB.split('/')[2],
      },
    });
    server.on('PUT', new RegExp(`^${SCOPE}/providers/Microsoft.Authorization/roleAssignments/[0-9a-f-]{36}$`), () =>
      assignmentStatus === 201
        ? { status: 201, body: {} }
        : { status: assignmentStatus, body: { error: { code: 'AuthorizationFailed', message: 'no' } } },
    );
    server.on('DELETE', '/admin/v1/servicePrincipals/obj-1', { status: 200, body: {} });
  });
  after(async () => {
    await server.close();
  });

  test("creates the principal, assigns the role at each scope, prints the password once with az's warning", async () => {
    const ctx = createTestContext(server.url);
    const before = server.requests.length;
    const out = await createForRbac({ name: 'ci-bot', role: 'Network Contributor', scopes: [SCOPE] }, ctx);
    assert.deepEqual(out, {
      appId: 'app-1',
      displayName: 'ci-bot',
      password: 'nws_secret',
      tenant: TEST_SUB.split('/')[2],
    });
    assert.match(ctx.stderr(), /credentials that you must protect/);
    const put = server.requests.slice(before).find((r) => r.method === 'PUT')!;
    assert.deepEqual(put.body, {
      properties: { roleDefinitionId: ROLE_ID, principalId: 'obj-1', principalType: 'ServicePrincipal' },
    });
  });

  test('usage errors and an unknown role create nothing', async () => {
    const ctx = createTestContext(server.url);
    const before = server.requests.length;
    await assert.rejects(createForRbac({ name: 'x', role: 'Reader' }, ctx), UsageError);
    await assert.rejects(createForRbac({ name: 'x', scopes: [SCOPE] }, ctx), UsageError);
    await assert.rejects(
      createForRbac({ name: 'x', role: 'Reader', scopes: ['/subscriptions/S/resourceGroups/rg1/providers/X'] }, ctx),
      /not a subscription or resource group id/,
    );
    await assert.rejects(
      createForRbac({ name: 'x', role: 'Janitor', scopes: [SCOPE] }, ctx),
      /Role 'Janitor' doesn't exist/,
    );
    assert.ok(
      server.requests.slice(before).every((r) => r.method === 'GET'),
      'nothing was created',
    );
  });

  test('a refused assignment deletes the new principal again', async () => {
    assignmentStatus = 403;
    const ctx = createTestContext(server.url);
    const before = server.requests.length;
    await assert.rejects(
      createForRbac({ name: 'ci-bot', role: 'Network Contributor', scopes: [SCOPE] }, ctx),
      /deleted again/,
    );
    assert.ok(
      server.requests
        .slice(before)
        .some((r) => r.method === 'DELETE' && r.path === '/admin/v1/servicePrincipals/obj-1'),
    );
    assert.ok(!ctx.stdout().includes('nws_secret'), 'no password printed');
    assignmentStatus = 201;
  });
});
