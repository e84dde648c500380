// Where a capture's finalisation and upload spend CPU, per GB and per step (issue 18): the engine's
// cut (read, record walk, SHA-256), then uploadFile for each storage kind the tests run locally
// (the local kind's routes in a child process, Azurite, Swift's s3api), then the server's verify.
// CPU of this process (the agent's side) and of the storage process (the server's receiving side,
// or the storage service) are measured apart, step by step, on one synthesised capture file
// already in the page cache (as after a capture). Compare runs with and without a change in the
// same invocation's baseline lines (`read`, `sha256 from memory`), not across machines.
// `--previous-root DIR` (a worktree of an earlier commit, with its node_modules) adds a "server
// verify, previous code" step: that code's openBlobStore verifying the same blob, in the same run;
// and "uploadFile none, previous code" steps: that code's uploadFile, ABBA with this code's.
// Usage: flock /work/wt/fidelity.lock node --import tsx bench/capture-fidelity/finalise-steps.ts [--size-mb 1024] [--record-bytes 65000] [--kinds local,azure,s3] [--previous-root DIR] [--json]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cutCaptureFileSync } from '../../src/capture/pcap-cut.js';
import { CAPTURE_CONTAINER, azureCaptureBlobPath, openBlobStore, uploadFile } from '../../src/storage/index.js';
import type { BlobStore, StorageBackendConfig } from '../../src/storage/index.js';
import { hashFileRange } from '../../src/storage/hash.js';
import { startAzurite, startSwiftS3, swiftIsInstalled } from '../../src/storage/testing/index.js';
import { ownCpuSeconds, processCpuSeconds } from './cpu.js';
import { syntheticCaptureHeader, syntheticCaptureRecord } from './synthetic-capture.js';

interface Step {
  step: string;
  agentCpuSecondsPerGb: number;
  storageCpuSecondsPerGb: number | null;
  wallSeconds: number;
}

function writeCaptureFile(path: string, bytes: number, recordBytes: number): number {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, syntheticCaptureHeader());
    const data = randomBytes(recordBytes);
    let written = 24;
    const block: Buffer[] = [];
    let blockBytes = 0;
    for (let i = 0; written < bytes; i++) {
      const rec = syntheticCaptureRecord(i, data);
      block.push(rec);
      blockBytes += rec.length;
      written += rec.length;
      if (blockBytes >= 1 << 20) {
        writeSync(fd, Buffer.concat(block));
        block.length = 0;
        blockBytes = 0;
      }
    }
    if (block.length > 0) writeSync(fd, Buffer.concat(block));
    return written;
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1024' },
      'record-bytes': { type: 'string', default: '65000' },
      kinds: { type: 'string', default: 'local,azure,s3' },
      'previous-root': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const say = (t: string): void => {
    if (!values.json) process.stdout.write(t);
  };
  const dir = await mkdtemp(join('/var/tmp', 'nw-finalise-steps-'));
  const path = join(dir, 'capture.cap');
  const size = writeCaptureFile(path, Number(values['size-mb']) * 1024 * 1024, Number(values['record-bytes']));
  const gb = size / 1e9;
  const steps: Step[] = [];
  let storagePid: number | null = null;
  const measure = async <T>(step: string, run: () => Promise<T> | T): Promise<T> => {
    const s0 = storagePid === null ? null : await processCpuSeconds(storagePid);
    const c0 = ownCpuSeconds();
    const t0 = performance.now();
    const out = await run();
    const wallSeconds = (performance.now() - t0) / 1000;
    const agent = (ownCpuSeconds() - c0) / gb;
    const s1 = storagePid === null ? null : await processCpuSeconds(storagePid);
    const storage = s0 === null || s1 === null ? null : (s1 - s0) / gb;
    steps.push({ step, agentCpuSecondsPerGb: agent, storageCpuSecondsPerGb: storage, wallSeconds });
    say(
      `${step.padEnd(44)} agent ${agent.toFixed(3)} CPU-s/GB${storage === null ? '' : `, storage process ${storage.toFixed(3)}`} (${wallSeconds.toFixed(2)} s wall) load ${(await loadAverage()).trim()}\n`,
    );
    return out;
  };
  say(`finalisation + upload steps over ${(size / 2 ** 20).toFixed(0)} MiB, ${values['record-bytes']}-byte records\n`);
  let expected = { sizeInBytes: 0, sha256: '' };
  try {
    // Warm the page cache (a capture's file is there after tcpdump wrote it).
    const fd = openSync(path, 'r+');
    const buf = Buffer.allocUnsafe(4 << 20);
    await measure('read (4 MiB readSync, page cache)', () => {
      for (let pos = 0; pos < size;) pos += readSync(fd, buf, 0, buf.length, pos);
    });
    await measure('sha256 from memory (4 MiB updates)', () => {
      const h = createHash('sha256');
      for (let pos = 0; pos < size; pos += buf.length) h.update(buf);
      h.digest();
    });
    await measure('md5 from memory (Content-MD5 of blocks)', () => {
      const h = createHash('md5');
      for (let pos = 0; pos < size; pos += buf.length) h.update(buf);
      h.digest();
    });
    const cut = await measure('engine cut: read + walk + sha256', () =>
      cutCaptureFileSync(fd, { maxBytes: 0, stopAfterInMs: null }),
    );
    closeSync(fd);
    expected = { sizeInBytes: cut.sizeInBytes, sha256: cut.sha256 };
    await measure("uploadFile's pre-send sha256 (4 MiB reads)", async () => {
      const h = await open(path, 'r');
      try {
        await hashFileRange(h, 0, size);
      } finally {
        await h.close();
      }
    });
    const kinds = values.kinds.split(',');
    const signingKey = randomBytes(32);
    let counter = 0;
    const loc = () => ({
      container: CAPTURE_CONTAINER,
      blobPath: azureCaptureBlobPath({
        subscriptionId: 'sub-1',
        resourceGroup: 'RG-Bench',
        vmName: 'VM1',
        createdAt: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, ++counter)),
      }),
    });
    const previousRoot = values['previous-root'];
    const previousModule =
      previousRoot === undefined
        ? null
        : ((await import(join(previousRoot, 'src/storage/index.ts'))) as {
            openBlobStore: typeof openBlobStore;
            uploadFile: typeof uploadFile;
          });
    const previousOpen = previousModule?.openBlobStore ?? null;
    const previousUpload = previousModule?.uploadFile ?? null;
    const runKind = async (name: string, open: (openStore: typeof openBlobStore) => BlobStore): Promise<void> => {
      const store = open(openBlobStore);
      await store.ensureContainer(CAPTURE_CONTAINER);
      // uploadFile by default (its own SHA-256 check), then as the agent calls it (the server's
      // verify is the check; an older uploadFile ignores the option and checks anyway).
      for (const check of ['beforeStore', 'none'] as const) {
        const where = loc();
        const grant = await store.grantUpload(where, { sizeInBytes: size, expiresInSeconds: 3600 });
        const result = await measure(`${name}: uploadFile, localContentCheck ${check}`, () =>
          uploadFile(grant, path, { ...expected, retryBudgetInMs: 60_000, localContentCheck: check }),
        );
        if (!result.ok) throw new Error(`${name} upload failed: ${result.reason}`);
        if (check === 'none') {
          const verifyNow = async (): Promise<void> => {
            const ok = await measure(`${name}: server verify (download + sha256)`, () => store.verify(where, expected));
            if (!ok) throw new Error(`${name}: verify failed`);
          };
          await verifyNow();
          if (previousOpen) {
            // ABBA: the first read of a blob comes from the storage's disk, later ones from its
            // page cache, and a slower sender means more wake-ups per GB for the reader.
            const previous = open(previousOpen);
            for (let i = 0; i < 2; i++) {
              const okBefore = await measure(`${name}: server verify, previous code`, () =>
                previous.verify(where, expected),
              );
              if (!okBefore) throw new Error(`${name}: the previous code's verify failed`);
            }
            await verifyNow();
          }
        }
        await store.delete(where);
      }
      if (previousUpload) {
        // The agent's upload as the agent calls it ('none'), the previous code's and this code's
        // in ABBA order (this code's first run is the one above): each to a blob of its own.
        const runs = [
          ['previous code', previousUpload],
          ['previous code', previousUpload],
          ['this code', uploadFile],
        ] as const;
        for (const [label, upload] of runs) {
          const where = loc();
          const grant = await store.grantUpload(where, { sizeInBytes: size, expiresInSeconds: 3600 });
          const result = await measure(`${name}: uploadFile none, ${label}`, () =>
            upload(grant, path, { ...expected, retryBudgetInMs: 60_000, localContentCheck: 'none' }),
          );
          if (!result.ok) throw new Error(`${name} upload (${label}) failed: ${result.reason}`);
          await store.delete(where);
        }
      }
    };
    if (kinds.includes('local')) {
      const rootDir = join(dir, 'root');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', new URL('./finalise-steps-local-server.ts', import.meta.url).pathname, rootDir],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NW_BENCH_KEY: signingKey.toString('hex') } },
      );
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', () => reject(new Error('the local storage server exited')));
      });
      storagePid = child.pid ?? null;
      try {
        await runKind('local', (openStore) =>
          openStore('benchacct', { type: 'local', rootDir }, { publicBaseUrl: `http://127.0.0.1:${port}`, signingKey }),
        );
      } finally {
        storagePid = null;
        child.kill();
      }
    }
    if (kinds.includes('azure')) {
      const azurite = await startAzurite(join(dir, 'azurite'));
      storagePid = await findChildPid('azurite');
      try {
        await runKind('azure', (openStore) =>
          openStore(
            'benchaz',
            { type: 'azureBlob', connectionString: azurite.connectionString },
            { publicBaseUrl: 'http://127.0.0.1:1', signingKey },
          ),
        );
      } finally {
        storagePid = null;
        await azurite.stop();
      }
    }
    if (kinds.includes('s3') && swiftIsInstalled()) {
      const s3 = await startSwiftS3(join(dir, 'swift'));
      storagePid = null; // several Swift processes: storage CPU not attributed
      try {
        const config: StorageBackendConfig = {
          type: 's3',
          endpoint: s3.endpoint,
          region: s3.region,
          bucket: 'nw-captures',
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          forcePathStyle: true,
        };
        await runKind('s3', (openStore) =>
          openStore('benchs3', config, { publicBaseUrl: 'http://127.0.0.1:1', signingKey }),
        );
      } finally {
        await s3.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ sizeInBytes: size, steps }, null, 2)}\n`);
}

const loadAverage = async (): Promise<string> => {
  const h = await open('/proc/loadavg', 'r');
  try {
    return (await h.readFile('utf8')).split(' ').slice(0, 3).join(' ');
  } finally {
    await h.close();
  }
};

// The newest process whose command line mentions `name` and whose parent is this process.
async function findChildPid(name: string): Promise<number | null> {
  const { readdir, readFile } = await import('node:fs/promises');
  let found: number | null = null;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === process.pid && cmd.includes(name)) found = Math.max(found ?? 0, Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
