import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverUrlsOf } from '../../agent/agent.js';
import { runCli } from '../program.js';
import type { ServiceStarters } from '../services.js';
import { createTestContext } from '../testing/canned-arm-server.js';

test('nw agent takes several server addresses: repeated --server and comma lists reach the agent as one list', async () => {
  const seen: string[] = [];
  const starters: ServiceStarters = {
    startServer: async () => {
      throw new Error('not used');
    },
    startAgent: async (config) => {
      seen.push(config.serverUrl);
      return { vmId: 'vm', warnings: [], close: async () => {} } as never;
    },
    adminTokenFile: 'admin-token',
    defaultStorageAccountName: 'nwlocal',
    defaultResourceGroup: 'NetworkWatcherRG',
  };
  const stop = new AbortController();
  stop.abort();
  const ctx = createTestContext('http://127.0.0.1:1');
  const dataDir = `/tmp/nw-agent-servers-${process.pid}`;
  const code = await runCli(
    ['agent', '--server', 'http://nw1:8817', '--server', 'http://nw2:8817,http://nw3:8817/', '--data-dir', dataDir],
    ctx,
    { stop: stop.signal, starters },
  );
  assert.equal(code, 0, ctx.stderr());
  assert.equal(seen[0], 'http://nw1:8817,http://nw2:8817,http://nw3:8817/');
  assert.deepEqual(serverUrlsOf(seen[0]!), ['http://nw1:8817', 'http://nw2:8817', 'http://nw3:8817']);
  assert.throws(() => serverUrlsOf(' , '), /no server address/);
});
