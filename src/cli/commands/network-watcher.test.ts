import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import {
  createTestContext,
  startCannedArmServer,
  TEST_SUB,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import { parseTags, watcherConfigure } from './network-watcher.js';

describe('nw network watcher configure', () => {
  let server: CannedArmServer;
  const watchers: Array<Record<string, unknown>> = [];
  before(async () => {
    server = await startCannedArmServer();
    server.on('GET', `${TEST_SUB}/providers/Microsoft.Network/networkWatchers`, () => ({
      status: 200,
      body: { value: watchers },
    }));
    server.on('PUT', /\/networkWatchers\/[^/]+$/, (req) => {
      const name = req.path.split('/').pop()!;
      const resource = {
        id: req.path,
        name,
        location: (req.body as { location: string }).location,
        properties: { provisioningState: 'Succeeded' },
      };
      watchers.push(resource);
      return { status: 201, body: resource };
    });
  });
  after(() => server.close());

  test('--enabled true creates NetworkWatcher_LOCATION in the resource group and prints every watcher', async () => {
    const ctx = createTestContext(server.url);
    const result = await watcherConfigure(
      { locations: ['westcentralus'], resourceGroup: 'NetworkWatcherRG', enabled: 'true' },
      ctx,
    );
    assert.equal(result.length, 1);
    assert.equal(result[0]!['name'], 'NetworkWatcher_westcentralus');
    assert.equal(result[0]!['resourceGroup'], 'NetworkWatcherRG');
    const put = server.requests.find((r) => r.method === 'PUT')!;
    assert.equal(
      put.path,
      `${TEST_SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus`,
    );
    assert.deepEqual(put.body, { location: 'westcentralus' });
  });

  test('an enabled location is left alone; a new one needs --resource-group', async () => {
    const ctx = createTestContext(server.url);
    const before = server.requests.filter((r) => r.method === 'PUT').length;
    await watcherConfigure({ locations: ['WestCentralUS'], resourceGroup: 'rg', enabled: true }, ctx);
    assert.equal(server.requests.filter((r) => r.method === 'PUT').length, before);
    await assert.rejects(watcherConfigure({ locations: ['eastus'], enabled: 'true' }, ctx), UsageError);
  });

  test('parseTags', () => {
    assert.deepEqual(parseTags(['a=b', 'c', 'd=e=f']), { a: 'b', c: '', d: 'e=f' });
    assert.throws(() => parseTags(['=x']), UsageError);
  });
});
