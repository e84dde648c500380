// The look-back buffer and the seam merge with real tcpdump between two network namespaces:
// the buffer stays within its seconds and its size, is deleted on stop, and a capture that asks
// for the past gets the buffered datagrams that pass its filter, then the live ones, with no
// datagram lost or repeated at the seam.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPcapBuffer } from '../pcap/index.js';
import { firstPacketTimeInMs, LOOKBACK_LIMITS, startLookbackBuffer, validateLookbackSpec } from './lookback.js';
import { extractLookback, mergeLookback } from './lookback-merge.js';
import { startCapture } from './session.js';
import { createNamespace, createVethPair } from './testing/index.js';
import type { TestNamespace } from './testing/index.js';

const ADDRESS_A = '10.78.14.1';
const ADDRESS_B = '10.78.14.2';
const PORT_KEPT = 9721;
const PORT_OTHER = 9722;
const MAGIC = Buffer.from('NWSEQ');

// Datagrams of SIZE bytes: MAGIC, a 32-bit sequence number, the 16-bit destination port; BURST
// every 10 ms until DURATION_IN_MS; a refused send is retried with the same number, so the
// stream has no gap. argv: ADDRESS PORT SIZE BURST DURATION_IN_MS.
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
  payload.writeUInt16BE(Number(portText), 9);
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

function datagramsOf(buf: Buffer, { othersToo = false } = {}): Array<{ seq: number; port: number; timeInMs: number }> {
  const records = readPcapBuffer(buf).records;
  return (othersToo ? records.filter((r) => r.data.indexOf(MAGIC) >= 0) : records).map((r) => {
    const at = r.data.indexOf(MAGIC);
    assert.ok(at >= 0, 'every record is one of the datagrams');
    return {
      seq: r.data.readUInt32BE(at + 5),
      port: r.data.readUInt16BE(at + 9),
      timeInMs: r.timestampSeconds * 1000 + r.timestampFraction / 1000,
    };
  });
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      total += statSync(join(dir, name)).size;
    } catch {
      // deleted between the listing and the stat
    }
  }
  return total;
}

describe('look-back buffer with real tcpdump', () => {
  let a: TestNamespace;
  let b: TestNamespace;
  let interfaceA: string;
  let dir: string;

  before(async () => {
    a = await createNamespace({ prefix: 'nwlba' });
    b = await createNamespace({ prefix: 'nwlbb' });
    ({ interfaceA } = await createVethPair(a, b, { addressesA: [`${ADDRESS_A}/24`], addressesB: [`${ADDRESS_B}/24`] }));
    dir = await mkdtemp(join(tmpdir(), 'nw-lookback-'));
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('bounds are checked', () => {
    assert.throws(() => validateLookbackSpec({ seconds: 0, maxSizeInBytes: 1 << 30, snapLengthInBytes: 0 }), /seconds/);
    assert.throws(
      () =>
        validateLookbackSpec({
          seconds: 10,
          maxSizeInBytes: LOOKBACK_LIMITS.minMaxSizeInBytes - 1,
          snapLengthInBytes: 0,
        }),
      /maxSizeInBytes/,
    );
    assert.throws(
      () => validateLookbackSpec({ seconds: 10, maxSizeInBytes: 1 << 30, snapLengthInBytes: -1 }),
      /snapLengthInBytes/,
    );
  });

  test("the program: 'auto' is nw-capture when it runs here, tcpdump without it; 'native' without it fails", async () => {
    const bufDir = await mkdtemp(join(dir, 'program-'));
    const spec = { interfaceName: interfaceA, seconds: 3, maxSizeInBytes: 1 << 30, snapLengthInBytes: 0, dir: bufDir };
    const commandPrefix = ['ip', 'netns', 'exec', a.name];
    const native = startLookbackBuffer(spec, { commandPrefix });
    assert.equal(native.program, 'native');
    await native.started;
    await native.stop();
    const fallback = startLookbackBuffer(spec, { commandPrefix, nativeCapturePath: '/nonexistent/nw-capture' });
    assert.equal(fallback.program, 'tcpdump');
    await fallback.started;
    await fallback.stop();
    const forced = startLookbackBuffer(spec, {
      commandPrefix,
      program: 'native',
      nativeCapturePath: '/nonexistent/nw-capture',
    });
    await assert.rejects(forced.started, /nw-capture ENOENT/);
    assert.match(forced.status().error ?? '', /nw-capture ENOENT/);
    await forced.stop();
    assert.deepEqual(readdirSync(bufDir), []);
    await rm(bufDir, { recursive: true });
  });

  for (const program of ['native', 'tcpdump'] as const)
    test(`${program} writes, within both bounds: never more bytes than maxSize, no packet older than seconds kept; deleted on stop`, async () => {
      const bufDir = await mkdtemp(join(dir, `bounds-${program}-`));
      const maxSizeInBytes = LOOKBACK_LIMITS.minMaxSizeInBytes;
      const lb = startLookbackBuffer(
        { interfaceName: interfaceA, seconds: 3, maxSizeInBytes, snapLengthInBytes: 0, dir: bufDir },
        { commandPrefix: ['ip', 'netns', 'exec', a.name], pollIntervalInMs: 200, program },
      );
      assert.equal(lb.program, program);
      await lb.started;
      let most = 0;
      const sampler = setInterval(() => (most = Math.max(most, dirBytes(bufDir))), 20);
      // ~1.4 MB/s for 6 s: twice the size bound.
      await b.runNode(SEQUENCED_UDP_SCRIPT, [ADDRESS_A, String(PORT_OTHER), '1400', '10', '6000'], {
        timeoutInMs: 60000,
      });
      // Then a slow stream: the time bound, not the size, decides what is kept.
      await b.runNode(SEQUENCED_UDP_SCRIPT, [ADDRESS_A, String(PORT_OTHER), '100', '1', '5000'], {
        timeoutInMs: 60000,
      });
      clearInterval(sampler);
      assert.ok(most <= maxSizeInBytes, `the folder never held more than maxSize (most ${most} of ${maxSizeInBytes})`);
      assert.ok(most > maxSizeInBytes / 2, `the size bound was reached (most ${most})`);
      const status = lb.status();
      assert.equal(status.running, true);
      const oldestFile = readdirSync(bufDir).sort()[0]!;
      const oldestOnDisk = firstPacketTimeInMs(join(bufDir, oldestFile))!;
      // One rotation (1 s) and one check (0.2 s) past the bound at most.
      assert.ok(
        Date.now() - oldestOnDisk <= 3000 + 1000 + 600,
        `oldest packet on disk is ${Date.now() - oldestOnDisk} ms old`,
      );
      assert.ok(status.spanInSeconds <= 3.01 && status.spanInSeconds > 1, `span ${status.spanInSeconds} s`);
      assert.ok(status.packetsCaptured > 0);
      assert.equal(status.kernelPacketsDropped, 0);
      await lb.stop();
      assert.deepEqual(readdirSync(bufDir), [], 'nothing of the buffer is left on the host');
    });

  for (const program of ['native', 'tcpdump'] as const)
    test(`${program} writes the buffer, a capture with look-back: buffered datagrams that pass its filter, then live ones, no gap or duplicate at the seam`, async () => {
      const bufDir = await mkdtemp(join(dir, `seam-${program}-`));
      const holdDir = await mkdtemp(join(dir, `hold-${program}-`));
      const lb = startLookbackBuffer(
        { interfaceName: interfaceA, seconds: 30, maxSizeInBytes: 64 * 1024 * 1024, snapLengthInBytes: 0, dir: bufDir },
        { commandPrefix: ['ip', 'netns', 'exec', a.name], program },
      );
      await lb.started;
      // 100 datagrams/s on the port the capture keeps, and as many on another one.
      const kept = b.runNode(SEQUENCED_UDP_SCRIPT, [ADDRESS_A, String(PORT_KEPT), '200', '1', '9000'], {
        timeoutInMs: 60000,
      });
      const other = b.runNode(SEQUENCED_UDP_SCRIPT, [ADDRESS_A, String(PORT_OTHER), '200', '1', '9000'], {
        timeoutInMs: 60000,
      });
      await sleep(4000);
      const createdAtInMs = Date.now();
      const lookbackInMs = 3000;
      const held = lb.hold(holdDir);
      const capturePath = join(dir, `seam-${program}.cap`);
      const bpfExpression = `udp dst port ${PORT_KEPT}`;
      const live = startCapture(
        {
          captureId: 'seam',
          interfaceName: interfaceA,
          bpfExpression,
          snapLengthInBytes: 100,
          totalBytesLimit: 0,
          timeLimitInSeconds: 3,
          outputPath: capturePath,
        },
        { commandPrefix: ['ip', 'netns', 'exec', a.name] },
      );
      const liveStart = await live.started;
      // What the kernel held for the buffer at the live start reaches its file within a block timeout (1 s) and a flush.
      await sleep(2000);
      lb.flush();
      await sleep(200);
      held.push(...lb.hold(holdDir).filter((p) => !held.includes(p)));
      const lookbackPath = join(dir, `seam-${program}.lookback.pcap`);
      const extracted = await extractLookback({
        files: held,
        fromInMs: createdAtInMs - lookbackInMs,
        bpfExpression,
        outputPath: lookbackPath,
      });
      const outcome = await live.done;
      assert.equal(outcome.stopReason, 'TimeExceeded');
      const livePackets = outcome.packetsCaptured;
      const merged = await mergeLookback({
        capturePath,
        lookbackPath,
        snapLengthInBytes: 100,
        maxBytes: 0,
        liveStartInMs: liveStart.getTime(),
        scratchPath: join(dir, `seam-${program}.scratch`),
      });
      await Promise.all([kept, other]);
      // The first datagram of the kept port the buffer holds from the look-back's start on: where the
      // file must begin (the sender's own pace decides how far after the start that is).
      const firstBuffered = (await Promise.all(held.map((p) => readFile(p))))
        .flatMap((buf) => datagramsOf(buf, { othersToo: true }))
        .filter((d) => d.port === PORT_KEPT && d.timeInMs >= createdAtInMs - lookbackInMs)
        .reduce((min, d) => Math.min(min, d.timeInMs), Infinity);
      await lb.stop();
      await rm(holdDir, { recursive: true });

      assert.equal(merged.skippedReason, null);
      assert.ok(
        extracted.coverageStartInMs !== null && extracted.coverageStartInMs === createdAtInMs - lookbackInMs,
        'the buffer covers the whole look-back',
      );
      const file = await readFile(capturePath);
      const records = readPcapBuffer(file).records;
      assert.ok(
        records.every((r) => r.capturedLength <= 100),
        "the capture's snap length applies to buffered packets too",
      );
      const got = datagramsOf(file);
      assert.ok(
        got.every((d) => d.port === PORT_KEPT),
        'the filter applies to buffered packets too',
      );
      assert.equal(got.length, merged.lookbackPackets + livePackets, 'every live record after the buffered ones');
      for (let i = 1; i < got.length; i++)
        assert.equal(got[i]!.seq, got[i - 1]!.seq + 1, `continuous at ${i} (seam after ${merged.lookbackPackets})`);
      assert.ok(merged.lookbackPackets > 150, `datagrams from before the capture (${merged.lookbackPackets})`);
      assert.ok(merged.duplicatesDropped > 0, 'the buffer also held packets the live capture has: they were left out');
      const first = got[0]!.timeInMs;
      assert.equal(
        first,
        firstBuffered,
        `file begins ${createdAtInMs - first} ms before creation, the buffer's first datagram from the look-back's start ${createdAtInMs - firstBuffered} ms`,
      );
      assert.ok(first >= createdAtInMs - lookbackInMs, 'nothing from before the look-back');
    });
});
