/**
 * The Azure SDK for Python (Debian's python3-azure) against `nw up --tls`: the packet-capture
 * lifecycle with polling_interval=1, logged in at the server's token endpoint
 * (test/az/sdk_lifecycle.py). On loopback in the root namespace; the capture runs on `nw up`'s own
 * agent (interface lo). Outbound traffic of Python is confined as for az (test/az/az-env.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AZ_SUPPORT_DIR, AzEnvironment, DEBIAN_PYTHON, runTimed } from './az/az-env.js';
import { startNwUp, type NwUp } from './az/nw-up.js';

const SUB = '00000000-0000-0000-0000-000000000000';

describe('the Azure SDK for Python', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-pysdk-'));
  let up: NwUp;
  let az: AzEnvironment;
  before(async () => {
    up = await startNwUp({
      dataDir: join(dir, 'data'),
      configPath: join(dir, 'config.json'),
      listen: '127.0.0.1:0',
      vmName: 'pyvm',
      resourceGroup: 'pyrg',
      location: 'pyloc',
      interfaceName: 'lo',
    });
    // The SDK needs no API-profile workaround (that is az's); only trust and confinement.
    az = await AzEnvironment.create({ caBundle: up.certPath, withProfileWorkaround: false });
  });
  after(async () => {
    await up?.stop();
    az?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('nw up --tls prints the az recipe with the certificate to trust', () => {
    const out = up.output();
    assert.ok(out.includes(`  export REQUESTS_CA_BUNDLE=${up.certPath}\n`), out);
    assert.ok(out.includes(`  az cloud register --name netwatcher --endpoint-resource-manager ${up.url}/\n`), out);
    assert.ok(
      out.includes(
        `  az login --service-principal --username netwatcher --password "$(cat ${up.adminTokenPath})" --tenant ${SUB}\n`,
      ),
      out,
    );
    assert.equal(
      out.includes(readFileSync(up.adminTokenPath, 'utf8').trim()),
      false,
      'the token itself is not printed',
    );
  });

  test('login, extension, create, get, status Running, stop, status Stopped, delete after stop, delete of a missing capture', async () => {
    const token = readFileSync(up.adminTokenPath, 'utf8').trim();
    const r = await runTimed(
      DEBIAN_PYTHON,
      [join(AZ_SUPPORT_DIR, 'sdk_lifecycle.py'), up.url, token, SUB, 'pyrg', 'pyvm', 'pyloc'],
      az.env,
      { timeoutInMs: 180_000 },
    );
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const at = (name: string, nth = 0) => {
      const s = steps.filter((x) => x.step === name)[nth];
      assert.ok(s, `step ${name} #${nth} ran: ${r.stdout}`);
      return s;
    };
    assert.equal(at('extension.create_or_update').provisioningState, 'Succeeded');
    assert.equal(at('extension.get').name, 'NetworkWatcherAgentLinux', 'AzureNetworkWatcherExtension finds the agent');
    assert.equal(at('packet_captures.create').provisioningState, 'Succeeded');
    assert.match(
      at('packet_captures.create').storagePath,
      /\/network-watcher-logs\/subscriptions\/.+\/virtualmachines\/pyvm\/.+\.cap$/,
    );
    assert.equal(at('packet_captures.get').timeLimitInSeconds, 60);
    assert.equal(at('packet_captures.get_status').packetCaptureStatus, 'Running');
    assert.deepEqual(
      at('packet_captures.get_status')
        .extra.filter((k: string) => ['packetsCaptured', 'bytesCaptured'].includes(k))
        .sort(),
      ['bytesCaptured', 'packetsCaptured'],
      "netwatcher's extra fields reach additional_properties",
    );
    assert.equal(at('packet_captures.get_status', 1).packetCaptureStatus, 'Stopped');
    assert.equal(at('packet_captures.get_status', 1).stopReason, 'Manual');
    // Retry-After: 1 s, not azure-core's default 30 s between polls.
    assert.ok(at('packet_captures.stop').seconds < 10, `stop took ${at('packet_captures.stop').seconds} s`);
    assert.ok(at('packet_captures.create').seconds < 10, `create took ${at('packet_captures.create').seconds} s`);
    at('packet_captures.delete');
    at('packet_captures.delete_missing');
    assert.deepEqual(at('list').names, []);
  });
});
