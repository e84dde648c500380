/**
 * A whole packet-capture lifecycle driven by Azure's own SDK clients over https, against a real
 * agent capturing with tcpdump on a test host: the CLI logged in with the server's CA file, the
 * agent installed from its install command (which fetches the CA and checks its pin), the SDK
 * trusting the self-signed server through NODE_EXTRA_CA_CERTS with certificate checks on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificateSha256 } from '../src/lib/index.js';
import { readPcapBuffer } from '../src/pcap/index.js';
import { Lab, NW_BIN, runCommand, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';
import { SdkCallError, SdkProcess } from './sdk/sdk-process.js';
import { removeAgentDataDirs, runInstallCommand, startTlsLabServer, type TlsLabServer } from './sdk/tls-lab.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const POLL = { updateIntervalInMs: 50 };
const W = ['NetworkWatcherRG', `NetworkWatcher_${LOC}`] as const;
const EXT = {
  location: LOC,
  publisher: 'Microsoft.Azure.NetworkWatcher',
  typePropertiesType: 'NetworkWatcherAgentLinux',
  typeHandlerVersion: '1.4',
  autoUpgradeMinorVersion: true,
};
const STORAGE_ID = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;

describe('Azure SDK lifecycle over https with a real agent', { timeout: 170_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let c: LabHost;
  let srv: TlsLabServer;
  let sdk: SdkProcess;
  let agentA: ChildProcess & { log?: () => string };
  let agentADataDir = '';
  const rg = `sdkrg${process.pid}`;
  const vmId = (vm: string) =>
    `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}`;
  const responders: ChildProcess[] = [];

  /** Polls an SDK call until `check` accepts its result. */
  const until = async <T>(
    what: string,
    call: () => Promise<T>,
    check: (v: T) => boolean,
    timeoutInMs = 20_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutInMs;
    for (;;) {
      let last: unknown;
      try {
        const v = await call();
        if (check(v)) return v;
        last = v;
      } catch (error) {
        if (!(error instanceof SdkCallError)) throw error;
        last = error.info;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; last: ${JSON.stringify(last)}\n${lab.serverOutput.slice(-2000)}`,
        );
      await sleep(100);
    }
  };
  const status = (name: string) => sdk.call('network', 'packetCaptures.beginGetStatusAndWait', ...W, name, POLL);
  const extensionSet = (vm: string) =>
    lab.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    c = await lab.addHost('c', ['10.0.0.5/24']);
    srv = await startTlsLabServer(lab);
    responders.push(await startResponder(b, { tcp: [80], udp: [] }));
    sdk = await SdkProcess.start({ endpoint: srv.url, token: srv.adminToken, caFile: srv.certPath });
  });
  after(async () => {
    await sdk?.close();
    for (const r of responders) await stopProcess(r);
    await srv?.stop();
    await lab?.destroy();
    removeAgentDataDirs();
  });

  test('nw login --ca-file: the CLI keeps the CA and talks https with it; without it, it refuses the server', async () => {
    const login = await lab.nw(['login', '--server', srv.url, '--token', srv.adminToken, '--ca-file', srv.certPath]);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(JSON.parse(readFileSync(lab.cliConfigPath, 'utf8')).caFile, srv.certPath);
    const accounts = await lab.nwJson<Array<{ name: string; primaryEndpoints?: { blob?: string } }>>([
      'storage',
      'account',
      'list',
    ]);
    assert.match(accounts.find((x) => x.name === 'nwlocal')?.primaryEndpoints?.blob ?? '', /^https:\/\//);
    const noCa = join(lab.workDir, 'no-ca.json');
    writeFileSync(noCa, JSON.stringify({ server: srv.url, token: srv.adminToken, subscriptionId: SUB }));
    const refused = await runCommand(process.execPath, [NW_BIN, 'storage', 'account', 'list'], {
      env: { ...lab.cliEnv, NW_CONFIG: noCa },
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate|self.signed/i);
  });

  test('agent extension through the SDK; the install command pins the CA; a wrong pin is refused', async () => {
    const ext = await sdk.call(
      'compute',
      'virtualMachineExtensions.beginCreateOrUpdateAndWait',
      rg,
      'vma',
      'NetworkWatcherAgentLinux',
      EXT,
      POLL,
    );
    assert.equal(ext.provisioningState, 'Creating');
    const set = await extensionSet('vma');
    const pin = certificateSha256(readFileSync(srv.certPath, 'utf8'));
    const command = String(set.installCommand);
    assert.ok(command.startsWith(`nw agent --server ${srv.agentUrl} --token `), command);
    assert.ok(command.includes(`--ca-sha256 ${pin}`), command);

    // A machine in the middle could hand out another CA: the agent refuses what does not match the pin.
    const forged = runInstallCommand(lab, a, command.replace(pin, 'f'.repeat(64)));
    const code = await new Promise<number | null>((resolve) =>
      forged.agent.once('exit', (exitCode) => resolve(exitCode)),
    );
    assert.notEqual(code, 0);
    assert.match(forged.agent.log!(), /expected SHA-256/);

    const installed = runInstallCommand(lab, a, command);
    agentA = installed.agent;
    agentADataDir = installed.dataDir;
    const ready = await until(
      'the agent to connect',
      () => sdk.call('compute', 'virtualMachineExtensions.get', rg, 'vma', 'NetworkWatcherAgentLinux'),
      (e) => e.provisioningState === 'Succeeded',
    );
    assert.equal(ready.typePropertiesType, 'NetworkWatcherAgentLinux');
    assert.equal(
      certificateSha256(readFileSync(join(installed.dataDir, 'server-ca.pem'), 'utf8')),
      pin,
      'the agent kept the pinned CA',
    );

    const watcher = await sdk.call('network', 'networkWatchers.get', ...W);
    assert.equal(watcher.location, LOC, 'enrolment created the location watcher');
    assert.ok(
      (await sdk.call<Array<{ name: string }>>('network', 'networkWatchers.list', W[0])).some((w) => w.name === W[1]),
    );
    assert.ok(
      (await sdk.call<Array<{ name: string }>>('network', 'networkWatchers.listAll')).some((w) => w.name === W[1]),
    );
  });

  test('capture lifecycle: create, get, list, status NotStarted → Running → Stopped (Manual), stop, file, delete', async () => {
    // Freeze the agent so the capture is seen before it starts on the host.
    agentA.kill('SIGSTOP');
    let creating: Promise<Record<string, any>>;
    try {
      creating = sdk.call(
        'network',
        'packetCaptures.beginCreateAndWait',
        ...W,
        'life',
        {
          target: vmId('vma'),
          storageLocation: { storageId: STORAGE_ID },
          timeLimitInSeconds: 120,
          filters: [{ protocol: 'TCP', remotePort: '80' }],
        },
        POLL,
      );
      const pending = await until(
        'the capture to exist',
        () => sdk.call('network', 'packetCaptures.get', ...W, 'life'),
        () => true,
      );
      assert.equal(pending.provisioningState, 'Updating');
      const notStarted = await status('life');
      assert.equal(notStarted.packetCaptureStatus, 'NotStarted');
      assert.equal(notStarted.captureStartTime, undefined);
    } finally {
      agentA.kill('SIGCONT');
    }
    const created = await creating;
    assert.equal(created.name, 'life');
    assert.equal(created.provisioningState, 'Succeeded', 'the create operation ends when the capture runs');
    assert.equal(created.target, vmId('vma'));
    assert.equal(created.bytesToCapturePerPacket, 0);
    assert.equal(created.totalBytesPerSession, 1073741824);
    assert.equal(created.timeLimitInSeconds, 120);
    // The blob's real URL, as the caller reaches the server (Azure's layout under network-watcher-logs).
    assert.ok(
      created.storageLocation.storagePath.startsWith(
        `${srv.url}/storage/nwlocal/network-watcher-logs/subscriptions/${SUB}/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/vma/`,
      ),
      created.storageLocation.storagePath,
    );
    assert.match(created.storageLocation.storagePath, /\/\d{4}\/\d\d\/\d\d\/packetcapture_\d\d_\d\d_\d\d_\d{3}\.cap$/);
    assert.deepEqual(created.filters, [
      { protocol: 'TCP', localIPAddress: '', remoteIPAddress: '', localPort: '', remotePort: '80' },
    ]);

    const running = await status('life');
    assert.equal(running.packetCaptureStatus, 'Running');
    assert.ok(!Number.isNaN(Date.parse(running.captureStartTime)));
    await runFlows(
      a,
      Array.from({ length: 3 }, () => ({ proto: 'tcp' as const, host: '10.0.0.4', port: 80 })),
    );
    const listed = await sdk.call<Array<{ name: string; provisioningState: string }>>(
      'network',
      'packetCaptures.list',
      ...W,
    );
    assert.deepEqual(
      listed.map((p) => [p.name, p.provisioningState]),
      [['life', 'Succeeded']],
    );

    await sleep(300); // let tcpdump write the replies
    await sdk.call('network', 'packetCaptures.beginStopAndWait', ...W, 'life', POLL);
    const stopped = await status('life');
    assert.equal(stopped.packetCaptureStatus, 'Stopped');
    assert.equal(stopped.stopReason, 'Manual');
    assert.deepEqual(stopped.packetCaptureError, []);

    // The file reached the server's local storage over https (the agent trusts the pinned CA for uploads too).
    const download = `${srv.url}/subscriptions/${SUB}/resourceGroups/${W[0]}/providers/Microsoft.Network/networkWatchers/${W[1]}/packetCaptures/life/download`;
    let file: Buffer | null = null;
    const deadline = Date.now() + 20_000;
    while (!file) {
      const res = await srv.fetch(download, { headers: { Authorization: `Bearer ${srv.adminToken}` } });
      if (res.status === 200) file = Buffer.from(await res.arrayBuffer());
      else if (Date.now() > deadline) throw new Error(`download: ${res.status} ${await res.text()}`);
      else await sleep(200);
    }
    const pcap = readPcapBuffer(file);
    assert.ok(pcap.records.length >= 3 * 6, `${pcap.records.length} packets: 3 TCP connections of at least 6 packets`);

    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'life', POLL);
    const gone = await sdk.callFailing('network', 'packetCaptures.get', ...W, 'life');
    assert.deepEqual([gone.statusCode, gone.code], [404, 'PacketCaptureNotFound']);
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'life', POLL);
  });

  test('a time limit ends the capture by itself with TimeExceeded', async () => {
    const created = await sdk.call(
      'network',
      'packetCaptures.beginCreateAndWait',
      ...W,
      'timed',
      { target: vmId('vma'), storageLocation: { storageId: STORAGE_ID }, timeLimitInSeconds: 2 },
      POLL,
    );
    assert.equal(created.provisioningState, 'Succeeded');
    const done = await until(
      'the time limit',
      () => status('timed'),
      (s) => s.packetCaptureStatus === 'Stopped',
      15_000,
    );
    assert.equal(done.stopReason, 'TimeExceeded');
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'timed', POLL);
  });

  test('a capture whose agent cannot capture: the operation fails with CaptureFailed and the status says Error', async () => {
    const set = await extensionSet('vmc');
    // An interface that does not exist on the host: tcpdump refuses to start there.
    runInstallCommand(lab, c, String(set.installCommand), ['--interface', 'nwnosuch0']);
    await until(
      'the agent of vmc to connect',
      () => sdk.call('compute', 'virtualMachineExtensions.get', rg, 'vmc', 'NetworkWatcherAgentLinux'),
      (e) => e.provisioningState === 'Succeeded',
    );
    const failed = await sdk.callFailing(
      'network',
      'packetCaptures.beginCreateAndWait',
      ...W,
      'broken',
      { target: vmId('vmc'), storageLocation: { storageId: STORAGE_ID }, timeLimitInSeconds: 30 },
      POLL,
    );
    assert.equal(failed.statusCode, undefined, 'a failed operation, not an HTTP error');
    assert.match(failed.message, /The long-running operation has failed\. CaptureFailed\./);
    const s = await status('broken');
    assert.equal(s.packetCaptureStatus, 'Error');
    assert.ok(s.packetCaptureError.includes('CaptureFailed'), JSON.stringify(s));
    const got = await sdk.call('network', 'packetCaptures.get', ...W, 'broken');
    assert.equal(got.provisioningState, 'Failed');
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'broken', POLL);
    assert.deepEqual(await sdk.call('network', 'packetCaptures.list', ...W), []);
  });

  test('a later run of the agent, without token or CA flags, reconnects with the saved credential and CA', async () => {
    const vmUrl = `${srv.url}/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`;
    const connected = async () => {
      const res = await srv.fetch(vmUrl, { headers: { Authorization: `Bearer ${srv.adminToken}` } });
      return ((await res.json()) as { properties: { netwatcher: { agentConnected: boolean } } }).properties.netwatcher
        .agentConnected;
    };
    await stopProcess(agentA);
    await lab.waitFor(async () => !(await connected()), 10_000, 'the server to see the agent go');
    lab.startAgentProcess(a, ['nw', 'agent', '--server', srv.agentUrl, '--data-dir', agentADataDir]);
    await lab.waitFor(connected, 20_000, 'the agent to reconnect over https');
    const created = await sdk.call(
      'network',
      'packetCaptures.beginCreateAndWait',
      ...W,
      'again',
      { target: vmId('vma'), storageLocation: { storageId: STORAGE_ID }, timeLimitInSeconds: 30 },
      POLL,
    );
    assert.equal(created.provisioningState, 'Succeeded');
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...W, 'again', POLL);
  });
});
