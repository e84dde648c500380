import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../agent/index.js';
import type { ServerConfig } from '../../server/index.js';
import type { ServiceStarters } from '../services.js';
import {
  createTestContext,
  installCannedWorld,
  startCannedArmServer,
  WORLD,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import { up, vmNameFromHostname } from './up.js';

/**
 * The orchestration of `nw up` (order of steps, enrolment with the token from the extension
 * PUT, reuse of a saved credential, CLI config, clean stop). The server here is the canned ARM
 * server; the real server and agent are exercised end to end in test/.
 */
describe('nw up orchestration', () => {
  let server: CannedArmServer;
  let dir: string;
  before(async () => {
    server = await startCannedArmServer();
    installCannedWorld(server);
    dir = await mkdtemp(join(tmpdir(), 'nw-cli-up-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  function starters(events: string[], hasCredential: boolean): ServiceStarters {
    return {
      startServer: async (config: ServerConfig) => {
        events.push(`server ${config.listenHost}:${config.listenPort} ${config.dataDir} ${config.defaultLocation}`);
        return { url: server.url, adminToken: 'admin-token', close: async () => void events.push('server closed') };
      },
      startAgent: async (config: AgentConfig) => {
        events.push(`agent ${config.dataDir} token=${config.enrollmentToken ?? 'none'}`);
        if (!config.enrollmentToken && !hasCredential) throw new Error('no credential');
        return { vmId: 'vm-guid', close: async () => void events.push('agent closed') };
      },
      adminTokenFile: 'admin-token',
      defaultStorageAccountName: 'nwlocal',
      defaultResourceGroup: 'NetworkWatcherRG',
    };
  }

  test('first run: server, extension PUT, agent enrolled with the one-time token, config written, clean stop', async () => {
    const events: string[] = [];
    const configPath = join(dir, 'config.json');
    const ctx = createTestContext(server.url, {
      config: { subscriptionId: '00000000-0000-0000-0000-000000000000' },
      configPath,
    });
    const stop = new AbortController();
    const running = up(
      {
        dataDir: join(dir, 'data'),
        listen: '127.0.0.1:0',
        location: WORLD.location,
        vmName: WORLD.vmName,
        resourceGroup: WORLD.resourceGroup,
      },
      ctx,
      stop.signal,
      starters(events, false),
    );
    await waitFor(() => ctx.stdout().includes('ready'));
    stop.abort();
    const result = await running;
    assert.equal(result.enrolled, true);
    assert.deepEqual(events, [
      `server 127.0.0.1:0 ${join(dir, 'data')} ${WORLD.location}`,
      `agent ${join(dir, 'data', 'agent')} token=none`,
      `agent ${join(dir, 'data', 'agent')} token=one-time-token`,
      'agent closed',
      'server closed',
    ]);
    const put = server.requests.find(
      (r) => r.method === 'PUT' && r.path.endsWith('/extensions/NetworkWatcherAgentLinux'),
    )!;
    assert.equal((put.body as { location: string }).location, WORLD.location);
    assert.deepEqual(JSON.parse(await readFile(configPath, 'utf8')), {
      subscriptionId: '00000000-0000-0000-0000-000000000000',
      server: server.url,
      token: 'admin-token',
    });
    const out = ctx.stdout();
    assert.ok(out.indexOf('starting server') < out.indexOf('starting agent'));
    assert.match(
      out,
      /nw network watcher packet-capture create -g myRG --vm myVM --name first --storage-account nwlocal/,
    );
    assert.ok(
      out.includes(`Web portal: ${server.url}/ (sign in with the admin token in ${join(dir, 'data', 'admin-token')})`),
      out,
    );
  });

  test('second run: the saved credential is reused, no new enrolment', async () => {
    const events: string[] = [];
    const ctx = createTestContext(server.url, { config: { subscriptionId: '00000000-0000-0000-0000-000000000000' } });
    const stop = new AbortController();
    const putsBefore = server.requests.filter((r) => r.method === 'PUT').length;
    const running = up(
      {
        dataDir: join(dir, 'data'),
        listen: '127.0.0.1:0',
        location: WORLD.location,
        vmName: WORLD.vmName,
        resourceGroup: WORLD.resourceGroup,
      },
      ctx,
      stop.signal,
      starters(events, true),
    );
    await waitFor(() => ctx.stdout().includes('ready'));
    stop.abort();
    assert.equal((await running).enrolled, false);
    assert.equal(server.requests.filter((r) => r.method === 'PUT').length, putsBefore);
    assert.deepEqual(
      events.filter((e) => e.startsWith('agent /')),
      [`agent ${join(dir, 'data', 'agent')} token=none`],
    );
  });

  test('vmNameFromHostname', () => {
    assert.equal(vmNameFromHostname('build-01.example.com'), 'build-01');
    assert.equal(vmNameFromHostname('we!rd'), 'we-rd');
  });
});

async function waitFor(condition: () => boolean, timeoutInMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
