/**
 * Portal sign-in through a real OpenID Connect provider in headless Chromium (Debian's
 * `chromium`, driven by playwright-core): the sign-in page offers the provider, the provider's
 * login and consent pages are filled in as a user would, the browser comes back through the
 * callback (authorization code with PKCE) and the portal shows the user, whose session reads the
 * API with the role assigned to the user's oid; sign-out ends it. The provider is `oidc-provider` on loopback (src/server/testing).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../src/server/index.js';
import { READER_ROLE_ID } from '../src/server/rbac/index.js';
import {
  newSigningKey,
  PORTAL_CLIENT_ID,
  startTestOidcProvider,
  TEST_AUDIENCE,
  type TestOidcProvider,
} from '../src/server/testing/oidc-provider.js';

const SUB = '00000000-0000-0000-0000-000000000000';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('portal sign-in through the identity provider in headless Chromium', { timeout: 120_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-sso-e2e-'));
  let provider: TestOidcProvider;
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    const port = await freePort();
    provider = await startTestOidcProvider({
      keys: [await newSigningKey('e2e-key')],
      portalRedirectUris: [`http://127.0.0.1:${port}/portal/api/sso/callback`],
    });
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: port,
      dataDir,
      defaultLocation: 'local',
      subscriptionId: SUB,
      logLevel: 'silent',
      oidc: { issuer: provider.issuer, audience: TEST_AUDIENCE, clientId: PORTAL_CLIENT_ID },
    });
    // Signed in is not allowed: the user acts with the roles assigned to its oid (Reader, here).
    const assignment = await fetch(
      `${server.url}/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/5a1e0000-0000-4000-8000-0000000000e2?api-version=2022-04-01`,
      {
        method: 'PUT',
        headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          properties: {
            roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
            principalId: '11111111-aaaa-4aaa-8aaa-111111111111',
            principalType: 'User',
          },
        }),
      },
    );
    assert.equal(assignment.status, 201, await assignment.text());
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await provider?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('sign in with the organisation, see the user, read the API, sign out', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
    await page.waitForURL(`${provider.issuer}/**`);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    // The provider asks for consent once for this client.
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${server.url}/`, { timeout: 20_000 });
    await page.getByText('Alice Admin', { exact: true }).waitFor({ timeout: 20_000 });
    const status = await page.evaluate(
      async (path) => (await fetch(path)).status,
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers?api-version=2022-01-01`,
    );
    assert.equal(status, 200, "the user's session reads the API");
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
    const after = await page.evaluate(
      async (path) => (await fetch(path)).status,
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers?api-version=2022-01-01`,
    );
    assert.equal(after, 401);
    await page.close();
  });
});
