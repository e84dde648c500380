/**
 * Continuous (ring-buffer) capture through the whole product (issue 13 §1): CLI → server → agent
 * in a lab host → tcpdump → the ring (cut by the engine at these sizes) → each file stored as it closes, in every storage kind at once
 * (local, Azure Blob on Azurite, S3 on Swift). Under steady sequence-numbered UDP, a ring of
 * fileCount 3 never holds more than 3 files on the host or in any storage account, deletes the
 * oldest first (in storage too), every file is a valid pcap within fileSizeInBytes whose SHA-256
 * the status states, the stream is continuous across consecutive files, and the session stops at
 * sessionTimeLimitInSeconds with TimeExceeded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { decodePacket, readPcapBuffer } from '../src/pcap/index.js';
import type { BlobStore } from '../src/storage/index.js';
import {
  sha256OfStream,
  startAzurite,
  startSwiftS3,
  swiftIsInstalled,
  type AzuriteServer,
  type S3TestServer,
} from '../src/storage/testing/index.js';
import { Lab, type LabHost } from './lab/lab.js';
import { createAzureAccount, createS3Account, openDirectStore } from './lab/storage.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}`;
const BUCKET = `nwring${process.pid}`;
const PORT = 9714;
const FILE_SIZE = 1048576;
const SESSION_SECONDS = 12;
const MAGIC = Buffer.from('NWSEQ');

// Datagrams of SIZE bytes, MAGIC + a 32-bit sequence number first, BURST every 10 ms until
// DURATION_IN_MS; a datagram the kernel refuses is retried with the same number, so the stream on
// the wire has no gap (as in src/capture/ring.test.ts). argv: ADDRESS PORT SIZE BURST DURATION_IN_MS.
const SEQUENCED_UDP_SCRIPT = `
const dgram = require('node:dgram');
const [address, portText, sizeText, burstText, durationText] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
socket.on('error', () => {});
const deadline = Date.now() + Number(durationText);
let seq = 0;
function sendOne(done) {
  const payload = Buffer.alloc(Number(sizeText), 0x61);
  payload.write('NWSEQ', 0);
  payload.writeUInt32BE(seq, 5);
  socket.send(payload, Number(portText), address, (err) => {
    if (err && err.code !== 'ECONNREFUSED') return setTimeout(() => sendOne(done), 1);
    seq++;
    done();
  });
}
function burst() {
  if (Date.now() >= deadline) { socket.close(); console.log(seq - 1); return; }
  let left = Number(burstText);
  const next = () => (left-- > 0 ? sendOne(next) : setTimeout(burst, 10));
  next();
}
burst();
`;

function sequencesOf(buf: Buffer): number[] {
  return readPcapBuffer(buf).records.map((r) => {
    const at = r.data.indexOf(MAGIC);
    assert.ok(at >= 0, 'every record is one of the datagrams');
    return r.data.readUInt32BE(at + MAGIC.length);
  });
}

interface RingFileStatus {
  name: string;
  sequence: number;
  sizeInBytes: number;
  sha256: string;
  packetsCaptured: number;
  firstPacketTime: string | null;
  lastPacketTime: string | null;
  stored: boolean;
  storagePath: string;
  localPath: string | null;
}
interface RingStatus {
  packetCaptureStatus: string;
  stopReason?: string;
  captureStartTime?: string;
  packetCaptureError: string[];
  files: RingFileStatus[];
  filesDeleted: number;
}

interface Kind {
  kind: string;
  account: string;
  accountUrl: string;
  direct: BlobStore;
}

describe('continuous (ring) capture end to end: host and every storage kind', { timeout: 240_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let workDir: string;
  let azurite: AzuriteServer | undefined;
  let swift: S3TestServer | undefined;
  const rg = `ring${process.pid}`;
  const kinds: Kind[] = [];
  let sender: ChildProcess | undefined;
  const folderOf = (kind: string) => `/var/captures/nwring-${process.pid}-${kind}`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  const status = async (name: string): Promise<RingStatus> => {
    const r = await lab.api('POST', `${WATCHER}/packetCaptures/${name}/queryStatus`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as RingStatus;
  };
  /** The blob of ring file `sequence`, worked out from any file's storagePath (the layout is the server's; docs/continuous.md). */
  const blobOf = (k: Kind, sample: RingFileStatus, sequence: number) => {
    const rest = sample.storagePath
      .slice(k.accountUrl.length + 1)
      .split('/')
      .map(decodeURIComponent);
    const [container, ...path] = rest;
    path[path.length - 1] = sample.name.replace(/-\d{6}\.cap$/, `-${String(sequence).padStart(6, '0')}.cap`);
    return { container: container!, blobPath: path.join('/') };
  };

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), `nw-ring-e2e-${process.pid}-`));
    lab = await Lab.create();
    host = await lab.addHost('a', ['10.0.0.3/24']);
    // Started one by one and kept as they come, so a failure to start one still stops the others (after()).
    await lab.startServer();
    const placement = lab.storagePlacement();
    azurite = await startAzurite(join(workDir, 'azurite'), placement);
    assert.ok(
      swiftIsInstalled(),
      'the S3 tests need OpenStack Swift: apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account',
    );
    swift = await startSwiftS3(join(workDir, 'swift'), placement);
    await lab.installAgent(host, rg, 'vma');
    const azureCreate = await createAzureAccount(lab, 'azring', rg, azurite);
    assert.equal(azureCreate.code, 0, azureCreate.stderr);
    const s3Create = await createS3Account(lab, 's3ring', rg, swift, BUCKET);
    assert.equal(s3Create.code, 0, s3Create.stderr);
    kinds.push(
      {
        kind: 'local',
        account: 'nwlocal',
        accountUrl: `${lab.serverUrl}/storage/nwlocal`,
        direct: openDirectStore({ type: 'local', rootDir: join(lab.serverDataDir, 'storage', 'nwlocal') }),
      },
      {
        kind: 'azure',
        account: 'azring',
        accountUrl: `http://10.0.0.1:${azurite.port}/devstoreaccount1`,
        direct: openDirectStore({ type: 'azureBlob', connectionString: azurite.probeConnectionString }),
      },
      {
        kind: 's3',
        account: 's3ring',
        accountUrl: `${swift.endpoint}/${BUCKET}`,
        direct: openDirectStore({
          type: 's3',
          endpoint: swift.probeEndpoint,
          region: swift.region,
          bucket: BUCKET,
          accessKeyId: swift.accessKeyId,
          secretAccessKey: swift.secretAccessKey,
          forcePathStyle: true,
        }),
      },
    );
  });

  after(async () => {
    sender?.kill('SIGTERM');
    await Promise.all([azurite?.stop(), swift?.stop()]);
    await lab?.destroy();
    for (const k of ['local', 'azure', 's3', 'host', 'literal']) rmSync(folderOf(k), { recursive: true, force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('the API refuses what the ring cannot do, naming the property, and creates nothing', async () => {
    const vm = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`;
    const put = (name: string, properties: Record<string, unknown>) =>
      lab.api('PUT', `${WATCHER}/packetCaptures/${name}`, { properties: { target: vm, ...properties } });
    const cases: Array<[Record<string, unknown>, string]> = [
      // Below the 24-byte header and one record of 16 + 2000 bytes.
      [
        {
          continuousCapture: true,
          captureSettings: { fileSizeInBytes: 2_039 },
          bytesToCapturePerPacket: 2000,
          storageLocation: { localPath: '/var/captures/x.cap' },
        },
        'properties.captureSettings.fileSizeInBytes',
      ],
      // Whole packets: a file must hold the 24-byte header and one record of 16 + 262,144 bytes.
      [
        {
          continuousCapture: true,
          captureSettings: { fileSizeInBytes: 262_183 },
          storageLocation: { localPath: '/var/captures/x.cap' },
        },
        'properties.captureSettings.fileSizeInBytes',
      ],
      [
        {
          continuousCapture: true,
          captureSettings: { fileCount: 1 },
          storageLocation: { localPath: '/var/captures/x.cap' },
        },
        'properties.captureSettings.fileCount',
      ],
      [
        {
          continuousCapture: true,
          captureSettings: { fileCount: 10001 },
          storageLocation: { localPath: '/var/captures/x.cap' },
        },
        'properties.captureSettings.fileCount',
      ],
      [
        { continuousCapture: true, storageLocation: { filePath: '/var/captures/x.cap' } },
        'properties.storageLocation.filePath',
      ],
      [
        { continuousCapture: false, storageLocation: { filePath: '/var/captures/x.cap' } },
        'properties.storageLocation.filePath',
      ],
      [
        {
          continuousCapture: false,
          captureSettings: { fileCount: 3 },
          storageLocation: { localPath: '/var/captures/x.cap' },
        },
        'properties.captureSettings',
      ],
      [
        { continuousCapture: true, timeLimitInSeconds: 60, storageLocation: { localPath: '/var/captures/x.cap' } },
        'properties.timeLimitInSeconds',
      ],
    ];
    for (const [i, [properties, target]] of cases.entries()) {
      const r = await put(`bad${i}`, properties);
      assert.equal(r.status, 400, `case ${i}: ${JSON.stringify(r.body)}`);
      const error = (r.body as { error: { code: string; target: string; message: string } }).error;
      assert.equal(error.target, target, `case ${i}: ${error.message}`);
      assert.equal((await lab.api('GET', `${WATCHER}/packetCaptures/bad${i}`)).status, 404, 'nothing was created');
    }
  });

  test('fileCount 3 under steady UDP: ≤ 3 files on the host and in each storage kind, oldest deleted, continuous stream, TimeExceeded', async () => {
    const names = kinds.map((k) => `ring-${k.kind}`);
    // Steady traffic first (~1.2 MB/s of 1000-byte datagrams: a file about every second, so each ring
    // wraps several times), so every ring sees it from its first second however long the creates take.
    sender = host.ns.spawn(
      process.execPath,
      ['-e', SEQUENCED_UDP_SCRIPT, '10.0.0.1', String(PORT), '1000', '12', '120000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // And a ring kept only on the host (no storage account): its files are fetched from the host on download.
    const hostOnly = lab.nwJson<Record<string, unknown>>(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'ring-host',
        '--continuous-capture',
        'true',
        '--capture-settings',
        'fileCount=3',
        `fileSizeInBytes=${FILE_SIZE}`,
        `sessionTimeLimitInSeconds=${SESSION_SECONDS}`,
        '--capture-size',
        '2000',
        '--local-path',
        `${folderOf('host')}/ring.cap`,
        '--filters',
        `[{"protocol":"UDP","remotePort":"${PORT}"}]`,
      ),
    );
    await Promise.all(
      kinds.map(async (k) => {
        rmSync(folderOf(k.kind), { recursive: true, force: true });
        const created = await lab.nwJson<Record<string, unknown>>(
          pc(
            'create',
            '--resource-group',
            rg,
            '--vm',
            'vma',
            '--name',
            `ring-${k.kind}`,
            '--storage-account',
            k.account,
            '--continuous-capture',
            'true',
            '--capture-settings',
            'fileCount=3',
            `fileSizeInBytes=${FILE_SIZE}`,
            `sessionTimeLimitInSeconds=${SESSION_SECONDS}`,
            '--capture-size',
            '2000',
            '--local-path',
            `${folderOf(k.kind)}/ring.cap`,
            '--filters',
            `[{"protocol":"UDP","remotePort":"${PORT}"}]`,
          ),
        );
        assert.equal(created.continuousCapture, true);
        assert.deepEqual(created.captureSettings, {
          fileCount: 3,
          fileSizeInBytes: FILE_SIZE,
          sessionTimeLimitInSeconds: SESSION_SECONDS,
        });
      }),
    );
    await hostOnly;

    let maxOnHost = 0;
    const maxInStorage = new Map<string, number>();
    let sampling = true;
    const hostSampler = (async () => {
      while (sampling) {
        for (const k of [...kinds, { kind: 'host' }]) {
          const files = existsSync(folderOf(k.kind))
            ? readdirSync(folderOf(k.kind)).filter((f) => /^ring-\d{6}\.cap$/.test(f))
            : [];
          maxOnHost = Math.max(maxOnHost, files.length);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const storageSampler = (async () => {
      while (sampling) {
        for (const [i, k] of kinds.entries()) {
          const s = await status(names[i]!).catch(() => null);
          const sample = s?.files?.at(-1);
          if (!sample?.storagePath) continue;
          let present = 0;
          for (let seq = Math.max(1, sample.sequence - 6); seq <= sample.sequence + 1; seq++)
            if (await k.direct.stat(blobOf(k, sample, seq))) present++;
          maxInStorage.set(k.kind, Math.max(maxInStorage.get(k.kind) ?? 0, present));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const finals = new Map<string, RingStatus>();
    try {
      await lab.waitFor(
        async () => {
          for (const n of names) {
            const s = await status(n);
            if (
              s.packetCaptureStatus === 'Running' ||
              s.packetCaptureStatus === 'NotStarted' ||
              s.files.some((f) => !f.stored)
            )
              return false;
            finals.set(n, s);
          }
          return true;
        },
        (SESSION_SECONDS + 40) * 1000,
        'every ring to stop and store its files',
      );
    } finally {
      sampling = false;
      sender?.kill('SIGTERM');
      await Promise.all([hostSampler, storageSampler]);
    }

    assert.ok(maxOnHost <= 3, `never more than 3 files on the host (saw ${maxOnHost})`);
    for (const [i, k] of kinds.entries()) {
      const s = finals.get(names[i]!)!;
      assert.equal(s.packetCaptureStatus, 'Stopped', `${k.kind}: ${JSON.stringify(s)}`);
      assert.equal(s.stopReason, 'TimeExceeded');
      assert.deepEqual(s.packetCaptureError, []);
      assert.ok(
        (maxInStorage.get(k.kind) ?? 0) <= 3,
        `${k.kind}: never more than 3 files in storage (saw ${maxInStorage.get(k.kind)})`,
      );
      // Exactly 3: the engine deletes the oldest only as it starts the next file itself (docs/continuous.md).
      const kept = s.files.length;
      assert.equal(kept, 3, `${k.kind}: the last 3 files are kept: ${JSON.stringify(s)}`);
      assert.ok(s.filesDeleted >= 2, `${k.kind}: the ring wrapped (${s.filesDeleted} deleted)`);
      const last = s.files.at(-1)!.sequence;
      assert.deepEqual(
        s.files.map((f) => f.sequence),
        Array.from({ length: kept }, (_, j) => last - kept + 1 + j),
        `${k.kind}: consecutive files, oldest first`,
      );
      assert.equal(s.filesDeleted, last - kept, `${k.kind}: every older file was deleted`);

      // The host holds exactly these files; storage exactly these blobs (the oldest deleted there too).
      const onHost = readdirSync(folderOf(k.kind))
        .filter((f) => f.endsWith('.cap'))
        .sort();
      assert.deepEqual(
        onHost,
        s.files.map((f) => f.name),
        `${k.kind}: the files on the host`,
      );
      for (let seq = 1; seq <= last; seq++) {
        const stored = await k.direct.stat(blobOf(k, s.files[0]!, seq));
        assert.equal(
          stored !== null,
          seq > last - kept,
          `${k.kind}: blob of file ${seq} ${seq > last - kept ? 'kept' : 'deleted'}`,
        );
      }

      let previousLast: number | null = null;
      for (const f of s.files) {
        const buf = readFileSync(join(folderOf(k.kind), f.name));
        assert.ok(buf.length <= FILE_SIZE, `${f.name} within fileSizeInBytes`);
        assert.equal(buf.length, f.sizeInBytes);
        assert.equal(createHash('sha256').update(buf).digest('hex'), f.sha256, `${k.kind} ${f.name}: SHA-256`);
        const blob = await k.direct.openRead(blobOf(k, f, f.sequence));
        assert.equal(await sha256OfStream(blob.stream), f.sha256, `${k.kind} ${f.name}: the stored copy is the file`);
        const seqs = sequencesOf(buf);
        assert.equal(seqs.length, f.packetsCaptured);
        assert.ok(seqs.length > 0, `${k.kind} ${f.name}: no empty file is kept`);
        for (let j = 1; j < seqs.length; j++)
          assert.equal(seqs[j], seqs[j - 1]! + 1, `${k.kind} ${f.name}: continuous within the file`);
        if (previousLast !== null)
          assert.equal(seqs[0], previousLast + 1, `${k.kind} ${f.name}: no datagram lost or repeated at the seam`);
        previousLast = seqs.at(-1)!;
        const records = readPcapBuffer(buf).records;
        assert.equal(
          new Date(f.firstPacketTime!).getTime(),
          records[0]!.timestampSeconds * 1000 + Math.floor(records[0]!.timestampFraction / 1000),
          `${f.name}: firstPacketTime`,
        );
      }
      // The session ended at its limit, while the traffic went on.
      const startedAt = new Date(s.captureStartTime!).getTime();
      const lastPacketAt = new Date(s.files.at(-1)!.lastPacketTime!).getTime();
      assert.ok(
        lastPacketAt <= startedAt + SESSION_SECONDS * 1000 + 50,
        `${k.kind}: nothing after sessionTimeLimitInSeconds`,
      );
      assert.ok(
        lastPacketAt >= startedAt + (SESSION_SECONDS - 2) * 1000,
        `${k.kind}: the ring ran until about the limit`,
      );
    }

    // The host-only ring: the same rule on the host, and a file fetched from it on download.
    let hostRing = await status('ring-host');
    await lab.waitFor(
      async () => (hostRing = await status('ring-host')).packetCaptureStatus === 'Stopped',
      30_000,
      'the host-only ring to stop',
    );
    assert.equal(hostRing.stopReason, 'TimeExceeded');
    assert.ok(hostRing.files.length === 3 && hostRing.filesDeleted >= 2, JSON.stringify(hostRing));
    assert.ok(
      hostRing.files.every((f) => !f.stored && f.storagePath === ''),
      'nothing stored without a storage account',
    );
    assert.deepEqual(
      readdirSync(folderOf('host'))
        .filter((f) => f.endsWith('.cap'))
        .sort(),
      hostRing.files.map((f) => f.name),
    );
    const fetched = await lab.nwJson<{ sha256: string; verified: boolean }>(
      pc(
        'download',
        '--name',
        'ring-host',
        '--location',
        LOC,
        '--ring-file',
        hostRing.files[0]!.name,
        '--file',
        join(workDir, 'host.cap'),
      ),
    );
    assert.deepEqual(fetched, { ...fetched, sha256: hostRing.files[0]!.sha256, verified: true });
    assert.equal(
      createHash('sha256')
        .update(readFileSync(join(folderOf('host'), hostRing.files[0]!.name)))
        .digest('hex'),
      fetched.sha256,
    );

    // Download: one ring file, and all of them, checked against the server's SHA-256.
    const local = finals.get('ring-local')!;
    const one = join(workDir, 'one.cap');
    const single = await lab.nwJson<{ sha256: string; verified: boolean }>(
      pc(
        'download',
        '--name',
        'ring-azure',
        '--location',
        LOC,
        '--ring-file',
        finals.get('ring-azure')!.files[1]!.name,
        '--file',
        one,
      ),
    );
    assert.equal(single.verified, true);
    assert.equal(single.sha256, finals.get('ring-azure')!.files[1]!.sha256);
    const all = await lab.nwJson<Array<{ file: string; sha256: string; verified: boolean }>>(
      pc('download', '--name', 'ring-local', '--location', LOC, '--all-files', '--dir', join(workDir, 'all')),
    );
    assert.deepEqual(
      all.map((d) => d.sha256),
      local.files.map((f) => f.sha256),
    );
    assert.ok(all.every((d) => d.verified));
    const missing = await lab.nw(
      pc(
        'download',
        '--name',
        'ring-local',
        '--location',
        LOC,
        '--ring-file',
        'ring-000001.cap',
        '--file',
        join(workDir, 'gone.cap'),
      ),
    );
    assert.notEqual(missing.code, 0, 'a rotated-out file cannot be downloaded');
    assert.match(missing.stderr, /ring-000001\.cap/);
  });
  test("the issue's literal CLI example (whole packets, 1 MiB files, no filter) runs: 3 files within 1048576 bytes, whole packets, the stream continuous", async () => {
    const folder = folderOf('literal');
    rmSync(folder, { recursive: true, force: true });
    const literalSender = host.ns.spawn(
      process.execPath,
      ['-e', SEQUENCED_UDP_SCRIPT, '10.0.0.1', String(PORT), '1000', '12', '120000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      // As in the issue, only the path differs (a folder of this run's own under /var/captures).
      const created = await lab.nwJson<Record<string, unknown>>(
        pc(
          'create',
          '--resource-group',
          rg,
          '--vm',
          'vma',
          '--name',
          'ring-literal',
          '--continuous-capture',
          'true',
          '--capture-settings',
          'fileCount=3',
          'fileSizeInBytes=1048576',
          'sessionTimeLimitInSeconds=600',
          '--local-path',
          `${folder}/ring.cap`,
        ),
      );
      assert.deepEqual(created.captureSettings, {
        fileCount: 3,
        fileSizeInBytes: 1048576,
        sessionTimeLimitInSeconds: 600,
      });
      let maxOnHost = 0;
      let s = await status('ring-literal');
      await lab.waitFor(
        async () => {
          maxOnHost = Math.max(
            maxOnHost,
            existsSync(folder) ? readdirSync(folder).filter((f) => /^ring-\d{6}\.cap$/.test(f)).length : 0,
          );
          s = await status('ring-literal');
          assert.notEqual(s.packetCaptureStatus, 'Stopped', JSON.stringify(s));
          return s.filesDeleted >= 3;
        },
        60_000,
        'the literal ring to wrap',
      );
      const stop = await lab.nw(pc('stop', '--name', 'ring-literal', '--location', LOC));
      assert.equal(stop.code, 0, stop.stderr);
      await lab.waitFor(
        async () => (s = await status('ring-literal')).packetCaptureStatus === 'Stopped',
        30_000,
        'the literal ring to stop',
      );
      assert.equal(s.stopReason, 'Manual');
      assert.deepEqual(s.packetCaptureError, []);
      assert.ok(maxOnHost <= 3, `never more than 3 files on the host (saw ${maxOnHost})`);
      assert.equal(s.files.length, 3, `the engine keeps exactly fileCount files: ${JSON.stringify(s)}`);
      assert.deepEqual(
        readdirSync(folder)
          .filter((f) => f.endsWith('.cap'))
          .sort(),
        s.files.map((f) => f.name),
      );
      let previousLast: number | null = null;
      for (const f of s.files) {
        const buf = readFileSync(join(folder, f.name));
        assert.ok(buf.length <= 1048576, `${f.name}: ${buf.length} bytes, within fileSizeInBytes`);
        assert.equal(buf.length, f.sizeInBytes);
        assert.equal(createHash('sha256').update(buf).digest('hex'), f.sha256);
        const { header, records } = readPcapBuffer(buf);
        assert.equal(header.snapLength, 262144, 'whole packets');
        assert.equal(records.length, f.packetsCaptured);
        assert.ok(
          records.every((r) => r.capturedLength === r.originalLength),
          'no packet cut by a snap length',
        );
        // Everything on the host's interface is in the ring (no filter); the datagrams are the ones to our port.
        const seqs = records
          .filter((r) => decodePacket(header.linkType, r.data).destinationPort === PORT && r.data.indexOf(MAGIC) >= 0)
          .map((r) => r.data.readUInt32BE(r.data.indexOf(MAGIC) + MAGIC.length));
        assert.ok(seqs.length > 0, `${f.name} holds datagrams`);
        for (let j = 1; j < seqs.length; j++)
          assert.equal(seqs[j], seqs[j - 1]! + 1, `${f.name}: continuous within the file`);
        if (previousLast !== null)
          assert.equal(seqs[0], previousLast + 1, `${f.name}: no datagram lost or repeated at the seam`);
        previousLast = seqs.at(-1)!;
      }
    } finally {
      literalSender.kill('SIGTERM');
    }
  });
});
