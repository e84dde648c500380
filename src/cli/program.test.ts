import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './program.js';
import {
  createTestContext,
  installCannedWorld,
  startCannedArmServer,
  WORLD,
  type CannedArmServer,
} from './testing/canned-arm-server.js';

/** Splits a command line the way a POSIX shell would for the quoting the seed uses ("…" with \" inside). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        current += line[i];
      }
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/** The seed's commands (Azure's "Manage packet captures … using the Azure CLI", network-watcher-packet-capture-manage-cli), `az` → `nw`, placeholders filled. */
const SEED = {
  extensionSet: `nw vm extension set --resource-group ${WORLD.resourceGroup} --vm-name ${WORLD.vmName} --publisher Microsoft.Azure.NetworkWatcher --name NetworkWatcherAgentLinux --version 1.4`,
  extensionShow: `nw vm extension show --resource-group ${WORLD.resourceGroup} --vm-name ${WORLD.vmName} --name AzureNetworkWatcherExtension`,
  storageList: 'nw storage account list',
  create: `nw network watcher packet-capture create --resource-group ${WORLD.resourceGroup} --vm ${WORLD.vmName} --name packetCaptureName --storage-account ${WORLD.storageName} --filters "[{\\"protocol\\":\\"TCP\\", \\"remoteIPAddress\\":\\"1.1.1.1-255.255.255\\",\\"localIPAddress\\":\\"10.0.0.3\\", \\"remotePort\\":\\"20\\"},{\\"protocol\\":\\"TCP\\", \\"remoteIPAddress\\":\\"1.1.1.1-255.255.255\\",\\"localIPAddress\\":\\"10.0.0.3\\", \\"remotePort\\":\\"80\\"},{\\"protocol\\":\\"TCP\\", \\"remoteIPAddress\\":\\"1.1.1.1-255.255.255\\",\\"localIPAddress\\":\\"10.0.0.3\\", \\"remotePort\\":\\"443\\"},{\\"protocol\\":\\"UDP\\"}]"`,
  showStatus: `nw network watcher packet-capture show-status --name packetCaptureName --location ${WORLD.location}`,
  stop: `nw network watcher packet-capture stop --name packetCaptureName --location ${WORLD.location}`,
  delete: `nw network watcher packet-capture delete --name packetCaptureName --location ${WORLD.location}`,
};

describe('nw (runCli)', () => {
  let server: CannedArmServer;
  before(async () => {
    server = await startCannedArmServer();
    installCannedWorld(server);
  });
  after(() => server.close());

  async function nw(line: string) {
    const ctx = createTestContext(server.url);
    const words = shellWords(line);
    assert.equal(words[0], 'nw');
    const code = await runCli(words.slice(1), ctx);
    return { code, stdout: ctx.stdout(), stderr: ctx.stderr() };
  }

  describe("the seed's commands work verbatim and print JSON with the sample's keys", () => {
    test('vm extension set prints the extension and the one-time install command', async () => {
      const { code, stdout, stderr } = await nw(SEED.extensionSet);
      assert.equal(code, 0, stderr);
      const out = JSON.parse(stdout) as Record<string, unknown>;
      assert.equal(out['virtualMachineExtensionType'], 'NetworkWatcherAgentLinux');
      assert.equal(out['installCommand'], `nw agent --server ${server.url} --token one-time-token`);
      const put = server.requests.find(
        (r) => r.method === 'PUT' && r.path.endsWith('/extensions/NetworkWatcherAgentLinux'),
      )!;
      assert.deepEqual(put.body, {
        properties: {
          publisher: 'Microsoft.Azure.NetworkWatcher',
          type: 'NetworkWatcherAgentLinux',
          typeHandlerVersion: '1.4',
          autoUpgradeMinorVersion: true,
        },
      });
    });

    test('vm extension show passes the alias name through', async () => {
      const { code, stdout } = await nw(SEED.extensionShow);
      assert.equal(code, 0);
      const out = JSON.parse(stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(out), [
        'autoUpgradeMinorVersion',
        'forceUpdateTag',
        'id',
        'instanceView',
        'location',
        'name',
        'protectedSettings',
        'provisioningState',
        'publisher',
        'resourceGroup',
        'settings',
        'tags',
        'type',
        'typeHandlerVersion',
        'virtualMachineExtensionType',
      ]);
      assert.equal(out['name'], 'AzureNetworkWatcherExtension');
      assert.equal(out['resourceGroup'], WORLD.resourceGroup);
    });

    test('storage account list', async () => {
      const { code, stdout } = await nw(SEED.storageList);
      assert.equal(code, 0);
      const out = JSON.parse(stdout) as Array<Record<string, unknown>>;
      assert.equal(out[0]!['name'], WORLD.storageName);
      assert.equal(out[0]!['resourceGroup'], WORLD.storageGroup);
      assert.ok('primaryEndpoints' in out[0]! && 'kind' in out[0]!);
    });

    test('packet-capture create: VM lookup, watcher by location, storage by name, filters sent as given', async () => {
      const before = server.requests.length;
      const { code, stdout, stderr } = await nw(SEED.create);
      assert.equal(code, 0, stderr);
      const out = JSON.parse(stdout) as Record<string, unknown>;
      for (const key of [
        'bytesToCapturePerPacket',
        'etag',
        'filters',
        'id',
        'name',
        'provisioningState',
        'resourceGroup',
        'storageLocation',
        'target',
        'timeLimitInSeconds',
        'totalBytesPerSession',
      ]) {
        assert.ok(key in out, `missing ${key}`);
      }
      assert.equal(out['provisioningState'], 'Succeeded');
      assert.equal(out['resourceGroup'], WORLD.watcherGroup);
      assert.deepEqual((out['filters'] as unknown[])[3], {
        localIpAddress: '',
        localPort: '',
        protocol: 'UDP',
        remoteIpAddress: '',
        remotePort: '',
      });
      const requests = server.requests
        .slice(before)
        .map((r) => `${r.method} ${r.path.replace(/^\/subscriptions\/[^/]+/, '')}`);
      assert.deepEqual(requests.slice(0, 4), [
        `GET /resourceGroups/${WORLD.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${WORLD.vmName}`,
        'GET /providers/Microsoft.Network/networkWatchers',
        'GET /providers/Microsoft.Storage/storageAccounts',
        `PUT /resourceGroups/${WORLD.watcherGroup}/providers/Microsoft.Network/networkWatchers/${WORLD.watcherName}/packetCaptures/packetCaptureName`,
      ]);
      const put = server.requests.slice(before).find((r) => r.method === 'PUT')!;
      const properties = (put.body as { properties: Record<string, unknown> }).properties;
      assert.equal(
        properties['target'],
        `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/${WORLD.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${WORLD.vmName}`,
      );
      assert.deepEqual(properties['storageLocation'], {
        storageId: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/${WORLD.storageGroup}/providers/Microsoft.Storage/storageAccounts/${WORLD.storageName}`,
      });
      assert.equal((properties['filters'] as unknown[]).length, 4);
      assert.deepEqual((properties['filters'] as unknown[])[0], {
        protocol: 'TCP',
        remoteIPAddress: '1.1.1.1-255.255.255',
        localIPAddress: '10.0.0.3',
        remotePort: '20',
      });
    });

    test('packet-capture show-status prints the seed keys with additionalProperties.status', async () => {
      const { code, stdout } = await nw(SEED.showStatus);
      assert.equal(code, 0);
      const out = JSON.parse(stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(out), [
        'additionalProperties',
        'captureStartTime',
        'id',
        'name',
        'packetCaptureError',
        'packetCaptureStatus',
        'stopReason',
      ]);
      assert.deepEqual(out['additionalProperties'], { status: 'Succeeded' });
      assert.equal(out['packetCaptureStatus'], 'Stopped');
      assert.equal(out['stopReason'], 'TimeExceeded');
    });

    test('packet-capture stop and delete print nothing', async () => {
      const stop = await nw(SEED.stop);
      assert.deepEqual([stop.code, stop.stdout, stop.stderr], [0, '', '']);
      const del = await nw(SEED.delete);
      assert.deepEqual([del.code, del.stdout, del.stderr], [0, '', '']);
      const show = await nw(
        `nw network watcher packet-capture show --name packetCaptureName --location ${WORLD.location}`,
      );
      assert.equal(show.code, 1);
      assert.match(show.stderr, /^ERROR: \(PacketCaptureNotFound\) Packet capture 'packetCaptureName' was not found\./);
    });
  });

  describe('exit codes and parsing', () => {
    test('usage errors exit 2 with az text', async () => {
      const r = await nw(
        `nw network watcher packet-capture create -g ${WORLD.resourceGroup} --vm ${WORLD.vmName} -n x`,
      );
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr,
        'ERROR: usage error: --storage-account NAME_OR_ID [--storage-path PATH] [--file-path PATH] | --file-path PATH\n',
      );
    });

    test('unknown options, unknown commands and missing required options exit 2', async () => {
      assert.equal((await nw('nw storage account list --bogus')).code, 2);
      assert.equal((await nw('nw bogus')).code, 2);
      const missing = await nw('nw network watcher packet-capture show --location x');
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--name/);
    });

    test('--help and --version exit 0; help carries examples', async () => {
      const help = await nw('nw network watcher packet-capture show-status --help');
      assert.equal(help.code, 0);
      assert.match(
        help.stdout,
        /Examples:\n {4}nw network watcher packet-capture show-status --name packetCaptureName --location westcentralus/,
      );
      assert.equal((await nw('nw --version')).code, 0);
    });

    test('--version of vm extension set is the extension version, not the program version', async () => {
      const r = await nw(
        `nw vm extension set -g ${WORLD.resourceGroup} --vm-name ${WORLD.vmName} -n NetworkWatcherAgentLinux --version 1.9 -o none`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      const put = [...server.requests]
        .reverse()
        .find((q) => q.method === 'PUT' && q.path.endsWith('/extensions/NetworkWatcherAgentLinux'))!;
      assert.equal((put.body as { properties: { typeHandlerVersion: string } }).properties.typeHandlerVersion, '1.9');
    });

    test('a location without a watcher is an error naming the region', async () => {
      const r = await nw('nw network watcher packet-capture list --location nowhere');
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'ERROR: network watcher is not enabled for region nowhere.\n');
    });

    test('not logged in exits 1 and says how to log in', async () => {
      const ctx = createTestContext(server.url, { config: { subscriptionId: 'x' } });
      const code = await runCli(['storage', 'account', 'list'], ctx);
      assert.equal(code, 1);
      assert.match(ctx.stderr(), /nw login --server URL --token TOKEN/);
    });

    test('-o table and --debug (token redacted)', async () => {
      const r = await nw('nw network watcher list -o table --debug');
      assert.equal(r.code, 0);
      assert.equal(
        r.stdout,
        'Location       Name                          ProvisioningState    ResourceGroup\n-------------  ----------------------------  -------------------  ----------------\nwestcentralus  NetworkWatcher_westcentralus  Succeeded            NetworkWatcherRG\n',
      );
      assert.match(
        r.stderr,
        /DEBUG: Request URL: 'http:\/\/127\.0\.0\.1:\d+\/subscriptions\/.*\/networkWatchers\?api-version=2022-01-01'/,
      );
      assert.match(r.stderr, /authorization: REDACTED/i);
      assert.ok(!r.stderr.includes('test-token'));
    });
  });
});
