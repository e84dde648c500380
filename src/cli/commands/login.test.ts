import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiResponseError } from '../errors.js';
import {
  createTestContext,
  startCannedArmServer,
  TEST_SUB,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import { login } from './login.js';

describe('nw login', () => {
  let server: CannedArmServer;
  let dir: string;
  before(async () => {
    server = await startCannedArmServer();
    dir = await mkdtemp(join(tmpdir(), 'nw-cli-login-'));
    server.on('GET', `${TEST_SUB}/providers/Microsoft.Network/networkWatchers`, (req) =>
      req.headers['authorization'] === 'Bearer good'
        ? { status: 200, body: { value: [] } }
        : { status: 401, body: { error: { code: 'AuthenticationFailed', message: 'The token is not valid.' } } },
    );
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('checks the token, then writes the config (0600) and prints it without the token', async () => {
    const configPath = join(dir, 'nw', 'config.json');
    const ctx = createTestContext(server.url, { config: { subscriptionId: 'ignored' }, configPath });
    await login({ server: `${server.url}/`, token: 'good' }, ctx);
    assert.deepEqual(JSON.parse(await readFile(configPath, 'utf8')), {
      subscriptionId: '00000000-0000-0000-0000-000000000000',
      server: server.url,
      token: 'good',
    });
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    assert.ok(!ctx.stdout().includes('good'));
    assert.equal(JSON.parse(ctx.stdout()).server, server.url);
  });

  test('a refused token writes nothing', async () => {
    const configPath = join(dir, 'refused.json');
    const ctx = createTestContext(server.url, { configPath });
    await assert.rejects(
      login({ server: server.url, token: 'bad' }, ctx),
      (e: unknown) => e instanceof ApiResponseError && e.statusCode === 401 && /refused the token/.test(e.message),
    );
    await assert.rejects(stat(configPath));
  });

  test('--service-principal trades the app id and secret at the token endpoint, checks the subscription, saves the secret', async () => {
    server.on('POST', '/adfs/oauth2/token', (req) => {
      const form = new URLSearchParams(String(req.body));
      return form.get('client_id') === 'app-1' &&
        form.get('client_secret') === 'nws_good' &&
        form.get('grant_type') === 'client_credentials'
        ? { status: 200, body: { token_type: 'Bearer', access_token: 'nwo_x', expires_in: 3600, ext_expires_in: 3600 } }
        : {
            status: 401,
            body: { error: 'invalid_client', error_description: 'The client secret is not valid for this client id.' },
          };
    });
    server.on('GET', TEST_SUB, (req) =>
      req.headers['authorization'] === 'Bearer nws_good'
        ? { status: 200, body: { id: TEST_SUB } }
        : { status: 401, body: { error: { code: 'AuthenticationFailed', message: 'no' } } },
    );
    const configPath = join(dir, 'sp.json');
    const ctx = createTestContext(server.url, { configPath });
    await assert.rejects(
      login({ server: server.url, servicePrincipal: true, username: 'app-2', password: 'nws_good' }, ctx),
      /refused the service principal app-2: The client secret is not valid/,
    );
    await assert.rejects(stat(configPath));
    await assert.rejects(
      login({ server: server.url, servicePrincipal: true, token: 'x', password: 'y', username: 'z' }, ctx),
      /not both/,
    );
    await login({ server: server.url, servicePrincipal: true, username: 'app-1', password: 'nws_good' }, ctx);
    assert.equal(JSON.parse(await readFile(configPath, 'utf8')).token, 'nws_good');
  });
});
