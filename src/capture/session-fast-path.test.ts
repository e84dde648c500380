// The engine since tcpdump writes the capture file itself (session.ts): live counters on a quiet
// link, a full disk, and a tcpdump that must not outlive the process that started it. Real
// tcpdump between two network namespaces; traffic never leaves them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPcapBuffer } from '../pcap/index.js';
import { recoverCaptureFile } from './recover.js';
import { startCapture } from './session.js';
import { defaultTcpdumpUser } from './tcpdump-launch.js';
import type { StartCaptureOptions } from './session.js';
import { createNamespace, createVethPair, UDP_FLOOD_SCRIPT, UDP_SEND_SCRIPT } from './testing/index.js';
import type { TestNamespace } from './testing/index.js';
import type { CaptureSpec } from './types.js';

const ADDRESS_A = '10.78.4.1';
const ADDRESS_B = '10.78.4.2';
const CAPTURE_CHILD = fileURLToPath(new URL('./testing/capture-child.ts', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutInMs: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('capture engine fast path with real tcpdump', () => {
  let a: TestNamespace;
  let b: TestNamespace;
  let interfaceA: string;
  let dir: string;
  let options: StartCaptureOptions;
  let counter = 0;

  before(async () => {
    a = await createNamespace({ prefix: 'nwfasta' });
    b = await createNamespace({ prefix: 'nwfastb' });
    ({ interfaceA } = await createVethPair(a, b, { addressesA: [`${ADDRESS_A}/24`], addressesB: [`${ADDRESS_B}/24`] }));
    dir = await mkdtemp(join(tmpdir(), 'nw-fast-'));
    options = { commandPrefix: ['ip', 'netns', 'exec', a.name], kernelBufferInKiB: 4096 };
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function spec(overrides: Partial<CaptureSpec> = {}): CaptureSpec {
    counter++;
    return {
      captureId: `fast-${counter}`,
      interfaceName: interfaceA,
      bpfExpression: 'udp',
      snapLengthInBytes: 0,
      totalBytesLimit: 10_000_000,
      timeLimitInSeconds: 60,
      outputPath: join(dir, `fast-${counter}.cap`),
      ...overrides,
    };
  }

  test("quiet link: packets and bytes show in progress within seconds, not when tcpdump's 64 KiB buffer fills", async () => {
    const s = spec();
    const session = startCapture(s, options);
    await session.started;
    const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '3', '10']);
    assert.equal(sent.stdout.trim(), '3', sent.stderr);
    // 3 records of 16 + 14 Ethernet + 20 IPv4 + 8 UDP + 10 bytes, after the 24-byte header:
    // 228 bytes, far below the 64 KiB tcpdump buffers before writing on its own.
    const expectedBytes = 24 + 3 * (16 + 14 + 20 + 8 + 10);
    await waitFor('live counters', 5000, () => {
      const p = session.progress();
      return p.packetsCaptured === 3 && p.fileSizeInBytes === expectedBytes;
    });
    const outcome = await session.stop();
    assert.equal(outcome.stopReason, 'Manual');
    assert.equal(outcome.packetsCaptured, 3);
    assert.equal(outcome.fileSizeInBytes, expectedBytes);
  });

  test('a disk that fills up mid-capture: LocalFileFailed (no space), a valid file cut at its last whole record, the hash of what is stored', async (t) => {
    const mountPoint = join(dir, 'small-disk');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'nwfasttmp', mountPoint]);
    if (mounted.status !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.toString()}`);
      return;
    }
    try {
      const s = spec({ outputPath: join(mountPoint, 'full.cap') });
      const session = startCapture(s, options);
      await session.started;
      // ~3 MB of datagrams into a 256 KiB file system, with no size limit in the way.
      const flood = a.runNode(UDP_FLOOD_SCRIPT, [ADDRESS_B, '9999', '1000', '2000']);
      const outcome = await session.done;
      await flood;
      assert.equal(outcome.stopReason, 'Error');
      assert.equal(outcome.error?.code, 'LocalFileFailed');
      assert.match(outcome.error?.message ?? '', /ENOSPC|no space/i);
      const bytes = await readFile(s.outputPath);
      assert.equal(bytes.length, outcome.fileSizeInBytes);
      assert.ok(bytes.length > 100_000, `only ${bytes.length} bytes kept`);
      assert.equal(outcome.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(readPcapBuffer(bytes).records.length, outcome.packetsCaptured); // throws unless whole records only
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  for (const program of ['native', 'tcpdump'] as const) {
    test(`the process running the engine is killed: ${program} (unprivileged, CAP_NET_RAW only) ends with it and the file keeps every whole record`, async () => {
      const s = spec();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', CAPTURE_CHILD, a.name, interfaceA, s.outputPath, program],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await waitFor(`the capture child to start (${err})`, 20_000, () => out.includes('\n'));
        const [pidText, ran] = out.trim().split(' ');
        const tcpdumpPid = Number(pidText);
        assert.equal(ran, program);
        assert.ok(tcpdumpPid > 0 && alive(tcpdumpPid));
        // The capture program itself, exec'ed in place by ip netns exec and setpriv.
        assert.equal(
          readFileSync(`/proc/${tcpdumpPid}/comm`, 'utf8').trim(),
          program === 'native' ? 'nw-capture' : 'tcpdump',
        );
        // Started by root, tcpdump runs as the unprivileged user with CAP_NET_RAW (bit 13) alone —
        // switched to by setpriv before tcpdump, not by tcpdump's own -Z, which would clear the
        // parent-death signal this test relies on below (tcpdump-launch.ts).
        const status = readFileSync(`/proc/${tcpdumpPid}/status`, 'utf8');
        const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
        if (process.geteuid?.() === 0) {
          assert.deepEqual(field('Uid').split(/\s+/), Array(4).fill(defaultTcpdumpUser().user), status);
          assert.equal(BigInt(`0x${field('CapEff')}`), 1n << 13n, status);
          assert.equal(BigInt(`0x${field('CapBnd')}`), 1n << 13n, status);
          assert.equal(field('NoNewPrivs'), '1');
        }
        const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '5', '100']);
        assert.equal(sent.stdout.trim(), '5', sent.stderr);
        await sleep(1500); // past libpcap's 1 s block timeout: tcpdump has the packets
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
        // No traffic from here on: a tcpdump that only dies on its next write would live forever.
        await waitFor('tcpdump to end with its parent', 5000, () => !alive(tcpdumpPid));
        assert.ok(existsSync(s.outputPath));
        const recovered = await recoverCaptureFile(s.outputPath);
        // tcpdump flushed on its way out (SIGTERM from the kernel): the packets are all there.
        assert.equal(recovered?.packetsCaptured, 5);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  }
});
