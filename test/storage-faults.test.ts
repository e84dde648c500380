/**
 * Storage faults through the whole product (CLI → server → agent in a lab host → storage):
 * - the storage server stops in the middle of an upload and starts again: the capture is stored
 *   with the same SHA-256 (local: the netwatcher server itself restarts; Azurite; Swift's S3);
 * - storage stays down for longer than the agent's retry budget: the capture reports
 *   StorageFailed with the reason, the host keeps the file intact, and a later retry stores it.
 * Uploads from host A are slowed with a token bucket (tc tbf) so "the middle of an upload" lasts
 * seconds; the bytes host A sent while the storage was up prove the upload was under way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CAPTURE_CONTAINER, type BlobStore } from '../src/storage/index.js';
import { sha256OfStream, type AzuriteServer, type S3TestServer } from '../src/storage/testing/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { createAzureAccount, createS3Account, openDirectStore, startLabStorage } from './lab/storage.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}`;
const BUCKET = `nwfaults${process.pid}`;
const CAPTURE_LIMIT_IN_BYTES = 30_000_000;
/**
 * Host A's uplink: 32 Mbit/s, so a 30 MB upload takes about 8 s — slow enough that the test sees
 * the capture stop well before its upload is over, even when a loaded machine answers late.
 */
const UPLINK_RATE = '32mbit';

const UDP_SENDER = `
const dgram = require('dgram');
const [host, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const socket = dgram.createSocket('udp4');
let sent = 0;
const next = () => { if (sent === count) { socket.close(); console.log('sent'); return; } sent++; socket.send(Buffer.alloc(500, 1), port, host, next); };
next();
`;

type Status = {
  packetCaptureStatus: string;
  stopReason?: string;
  packetCaptureError: string[];
  storagePath: string;
  instances: Array<{
    errorMessage: string | null;
    file: { sizeInBytes: number; sha256: string; stored: boolean; localPath: string | null } | null;
  }>;
};

/** A storage kind, how this process reads it directly, and how to stop and start its server. */
interface FaultyStorage {
  kind: 'local' | 'azureBlob' | 's3';
  account: string;
  accountUrl: string;
  direct: BlobStore;
  stop(): Promise<void>;
  start(): Promise<void>;
}

describe('storage faults end to end', { timeout: 300_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let c: LabHost;
  let workDir: string;
  let azurite: AzuriteServer | undefined;
  let swift: S3TestServer | undefined;
  let iperfServer: ChildProcess | undefined;
  const agentDataDirs: string[] = [];
  const agentLogs: Array<() => string> = [];
  const secrets: string[] = [];
  const hostFiles: string[] = [];
  const storages: FaultyStorage[] = [];
  const rg = `sfrg${process.pid}`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];

  const queryStatus = async (name: string): Promise<Status> => {
    const r = await lab.api('POST', `${WATCHER}/packetCaptures/${name}/queryStatus`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Status;
  };
  const waitStatus = async (
    name: string,
    what: string,
    check: (s: Status) => boolean,
    timeoutInMs: number,
  ): Promise<Status> => {
    let status: Status | undefined;
    await lab.waitFor(
      async () => {
        try {
          status = await queryStatus(name);
        } catch {
          return false; // the server may be restarting
        }
        return check(status);
      },
      timeoutInMs,
      `${name}: ${what} (last status ${JSON.stringify(status)})`,
    );
    return status!;
  };
  const txBytesOf = async (host: LabHost): Promise<number> => {
    const r = await host.ns.exec('cat', [`/sys/class/net/${host.interfaceName}/statistics/tx_bytes`]);
    return Number(r.stdout.trim());
  };
  const sha256OfFile = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const storedBlobSha256 = async (s: FaultyStorage, storagePath: string) => {
    assert.ok(storagePath.startsWith(`${s.accountUrl}/${CAPTURE_CONTAINER}/`), storagePath);
    const read = await s.direct.openRead({
      container: CAPTURE_CONTAINER,
      blobPath: storagePath.slice(`${s.accountUrl}/${CAPTURE_CONTAINER}/`.length),
    });
    return sha256OfStream(read.stream);
  };
  const downloadSha256 = async (name: string) => {
    const out = join(workDir, `${name}.cap`);
    const r = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out, '--force'));
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { sha256: string }).sha256;
  };

  const agentsConnected = () =>
    lab.waitFor(
      async () => {
        for (const vmName of ['vma', 'vmc']) {
          const vm = await lab.api(
            'GET',
            `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vmName}`,
          );
          if (
            (vm.body as { properties?: { netwatcher?: { agentConnected?: boolean } } }).properties?.netwatcher
              ?.agentConnected !== true
          )
            return false;
        }
        return true;
      },
      30_000,
      'the agents to reconnect',
    );

  /** `nw vm extension set`, then the printed install command on the host, with extra agent flags after it. */
  const installAgent = async (host: LabHost, vmName: string, flags: string[]) => {
    const { agent, dataDir } = await lab.installAgent(host, rg, vmName, flags);
    agentDataDirs.push(dataDir);
    agentLogs.push(agent.log);
  };

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), `nw-storage-faults-${process.pid}-`));
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    c = await lab.addHost('c', ['10.0.0.5/24']);
    [{ azurite, swift }] = await Promise.all([startLabStorage(lab, workDir), lab.startServer()]);
    // Host A rides out short outages (budget 60 s); host C gives up after 3 s and retries every 1.5 s.
    await installAgent(a, 'vma', ['--upload-retry-budget-ms', '60000']);
    await installAgent(c, 'vmc', ['--upload-retry-budget-ms', '3000', '--upload-retry-interval-ms', '1500']);
    const shaped = await a.ns.exec('tc', [
      'qdisc',
      'add',
      'dev',
      a.interfaceName,
      'root',
      'tbf',
      'rate',
      UPLINK_RATE,
      'burst',
      '64kb',
      'latency',
      '400ms',
    ]);
    assert.equal(shaped.exitCode, 0, shaped.stderr);
    iperfServer = a.ns.spawn('iperf3', ['-s', '-p', '5201'], { stdio: 'ignore' });

    const azureCreate = await createAzureAccount(lab, 'azcaps', rg, azurite);
    assert.equal(azureCreate.code, 0, azureCreate.stderr);
    const s3Create = await createS3Account(lab, 's3caps', rg, swift, BUCKET);
    assert.equal(s3Create.code, 0, s3Create.stderr);
    secrets.push(/AccountKey=([^;]+)/.exec(azurite.connectionString)![1]!, swift.secretAccessKey);
    const az = azurite;
    const s3 = swift;
    storages.push(
      {
        kind: 'local',
        account: 'nwlocal',
        accountUrl: `${lab.serverUrl}/storage/nwlocal`,
        direct: openDirectStore({ type: 'local', rootDir: join(lab.serverDataDir, 'storage', 'nwlocal') }),
        // The local kind's storage server is netwatcher's server itself. It is killed, as in a
        // crash: a SIGTERM lets it finish the requests in flight, which could be the whole upload.
        stop: async () => {
          lab.killServer();
          await lab.stopServer();
        },
        start: async () => {
          await lab.startServer();
          await agentsConnected();
        },
      },
      {
        kind: 'azureBlob',
        account: 'azcaps',
        accountUrl: `http://10.0.0.1:${az.port}/devstoreaccount1`,
        direct: openDirectStore({ type: 'azureBlob', connectionString: az.probeConnectionString }),
        stop: () => az.stop(),
        start: () => az.start(),
      },
      {
        kind: 's3',
        account: 's3caps',
        accountUrl: `${s3.endpoint}/${BUCKET}`,
        direct: openDirectStore({
          type: 's3',
          endpoint: s3.probeEndpoint,
          region: s3.region,
          bucket: BUCKET,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          forcePathStyle: true,
        }),
        stop: () => s3.stop(),
        start: () => s3.start(),
      },
    );
  });

  after(async () => {
    await stopProcess(iperfServer ?? null);
    await Promise.all([azurite?.stop(), swift?.stop()]);
    await lab?.destroy();
    for (const file of hostFiles) rmSync(file, { force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  for (const kind of ['local', 'azureBlob', 's3'] as const) {
    test(`${kind}: the storage server stops in the middle of an upload and starts again; the capture is stored with the same SHA-256`, async () => {
      const s = storages.find((x) => x.kind === kind)!;
      const name = `mid${kind.toLowerCase()}`;
      const created = await lab.nw(
        pc(
          'create',
          '--resource-group',
          rg,
          '--vm',
          'vma',
          '--name',
          name,
          '--storage-account',
          s.account,
          '--capture-limit',
          String(CAPTURE_LIMIT_IN_BYTES),
          '--filters',
          '[{"protocol":"TCP","localPort":"5201"}]',
        ),
      );
      assert.equal(created.code, 0, created.stderr);
      // B sends to A (A's uplink is the slow one; its own traffic here is only ACKs), until the
      // capture reaches its size limit (a busy machine may drop a few packets before tcpdump).
      for (let round = 0; round < 3 && (await queryStatus(name)).packetCaptureStatus === 'Running'; round++) {
        const load = await b.ns.exec('iperf3', ['-c', '10.0.0.3', '-p', '5201', '-n', '45M', '-b', '400M'], {
          timeoutInMs: 60_000,
        });
        assert.equal(load.exitCode, 0, load.stderr);
        await sleep(500);
      }
      const stopped = await waitStatus(
        name,
        'stopped by its size limit',
        (st) => st.packetCaptureStatus === 'Stopped',
        30_000,
      );
      assert.equal(stopped.stopReason, 'SizeExceeded');
      const txAtStop = await txBytesOf(a);
      const sizeInBytes = stopped.instances[0]!.file!.sizeInBytes;
      assert.ok(sizeInBytes > CAPTURE_LIMIT_IN_BYTES - 100_000, `a ${sizeInBytes}-byte file`);

      // Wait until about 4 MB of the file have left host A, then cut the storage off.
      let sentBeforeOutage = 0;
      try {
        await lab.waitFor(
          async () => {
            sentBeforeOutage = (await txBytesOf(a)) - txAtStop;
            return sentBeforeOutage > 4_000_000;
            // The upload starts after the agent's grant round-trip; on a loaded 2-core machine (and just
            // after the previous test restarted the server) that once took over 20 s.
          },
          60_000,
          'the upload to get under way',
        );
      } catch (error) {
        throw new Error(
          `${(error as Error).message.split('\n')[0]}; ${sentBeforeOutage} bytes sent; status: ${JSON.stringify(await queryStatus(name).catch(() => null))}`,
          { cause: error },
        );
      }
      await s.stop();
      try {
        assert.ok(
          sentBeforeOutage < sizeInBytes - 4_000_000,
          `the upload was still under way (${sentBeforeOutage} of ${sizeInBytes} bytes sent)`,
        );
        await sleep(3_000);
      } finally {
        await s.start();
      }

      const stored = await waitStatus(name, 'file stored', (st) => st.instances[0]?.file?.stored === true, 90_000);
      assert.deepEqual(stored.packetCaptureError, []);
      const file = stored.instances[0]!.file!;
      assert.equal(await storedBlobSha256(s, stored.storagePath), file.sha256, 'the blob in storage is the file');
      assert.equal(await downloadSha256(name), file.sha256);
    });
  }

  for (const kind of ['azureBlob', 's3'] as const) {
    // Azure's capture also keeps a file on the host (--file-path); S3's lives in the agent's spool.
    const keepsHostFile = kind === 'azureBlob';
    test(`${kind}: storage down longer than the retry budget: StorageFailed with the reason, the host keeps the file, a later retry stores it${keepsHostFile ? '; delete --delete-files removes blob and host file' : ''}`, async () => {
      const s = storages.find((x) => x.kind === kind)!;
      const name = `out${kind.toLowerCase()}`;
      const hostFile = `/var/captures/nwtest-${process.pid}-${name}.cap`;
      if (keepsHostFile) hostFiles.push(hostFile);
      await s.stop();
      let down = true;
      try {
        const created = await lab.nw(
          pc(
            'create',
            '--resource-group',
            rg,
            '--vm',
            'vmc',
            '--name',
            name,
            '--storage-account',
            s.account,
            ...(keepsHostFile ? ['--file-path', hostFile] : []),
            '--filters',
            '[{"protocol":"UDP","remotePort":"9999"}]',
          ),
        );
        assert.equal(created.code, 0, created.stderr);
        const sent = await c.ns.runNode(UDP_SENDER, ['10.0.0.1', '9999', '30'], { timeoutInMs: 20_000 });
        assert.match(sent.stdout, /sent/, sent.stderr);
        assert.equal((await lab.nw(pc('stop', '--name', name, '--location', LOC))).code, 0);

        const failed = await waitStatus(
          name,
          'StorageFailed',
          (st) => st.packetCaptureError.includes('StorageFailed'),
          30_000,
        );
        assert.equal(failed.packetCaptureStatus, 'Stopped', 'the capture itself went well');
        assert.match(
          failed.instances[0]!.errorMessage ?? '',
          /Storing the file failed: .*(unavailable|refused|ECONNREFUSED)/i,
        );
        const file = failed.instances[0]!.file!;
        assert.equal(file.stored, false);
        // The host keeps the file, intact.
        const kept = keepsHostFile
          ? hostFile
          : join(
              agentDataDirs[1]!,
              'spool',
              readdirSync(join(agentDataDirs[1]!, 'spool')).find((f) => f.endsWith('.cap')) ?? 'missing.cap',
            );
        assert.equal(sha256OfFile(kept), file.sha256, 'the local copy is intact');
        const early = await lab.nw(
          pc('download', '--name', name, '--location', LOC, '--file', join(workDir, `${name}-early.cap`)),
        );
        assert.notEqual(early.code, 0);
        assert.match(early.stderr, /FileNotAvailable.*not in storage yet\. Storing it failed/);
        assert.ok(!existsSync(join(workDir, `${name}-early.cap`)));

        await s.start();
        down = false;
        const stored = await waitStatus(
          name,
          'stored by a later retry',
          (st) => st.instances[0]?.file?.stored === true,
          30_000,
        );
        assert.deepEqual(stored.packetCaptureError, [], 'StorageFailed is cleared once the file is stored');
        assert.equal(stored.instances[0]!.file!.sha256, file.sha256);
        assert.equal(await storedBlobSha256(s, stored.storagePath), file.sha256);
        assert.equal(await downloadSha256(name), file.sha256);
        if (keepsHostFile) {
          assert.equal(sha256OfFile(hostFile), file.sha256, 'a --file-path file stays on the host after the upload');
          const deleted = await lab.nw(pc('delete', '--name', name, '--location', LOC, '--delete-files'));
          assert.equal(deleted.code, 0, deleted.stderr);
          assert.equal(
            await s.direct.stat({
              container: CAPTURE_CONTAINER,
              blobPath: stored.storagePath.slice(`${s.accountUrl}/${CAPTURE_CONTAINER}/`.length),
            }),
            null,
            'the blob is gone',
          );
          await lab.waitFor(async () => !existsSync(hostFile), 10_000, 'the host file to be removed');
        } else {
          assert.ok(!existsSync(kept), 'a spooled file goes once it is stored');
        }
      } finally {
        if (down) await s.start();
      }
    });
  }

  test('failures were logged without a secret or a signed URL', () => {
    assert.equal(agentLogs.length, 2);
    const logs = [lab.serverOutput, ...agentLogs.map((log) => log())].join('\n');
    assert.match(logs, /could not store the capture file/, 'the agent logged its failed uploads');
    for (const secret of secrets) assert.ok(!logs.includes(secret), 'an account secret was logged');
    for (const credential of [/[?&]sig=/, /X-Amz-Signature=/i, /X-Amz-Credential=/i, /[?&]sv=\d/])
      assert.doesNotMatch(logs, credential);
  });
});
