// The capture engine against the real tcpdump, capturing real packets between two network
// namespaces joined by a veth pair. Traffic never leaves the namespaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePacket } from '../pcap/index.js';
import { startCapture } from './session.js';
import type { StartCaptureOptions } from './session.js';
import {
  createNamespace,
  createVethPair,
  UDP_FLOOD_SCRIPT,
  UDP_PACED_SCRIPT,
  UDP_SEND_SCRIPT,
  verifiedCaptureFile,
} from './testing/index.js';
import type { TestNamespace } from './testing/index.js';
import { CaptureStartError } from './types.js';
import type { CaptureSpec } from './types.js';

const ADDRESS_A = '10.78.0.1';
const ADDRESS_B = '10.78.0.2';

// With the default capture program: nw-capture when `npm run build` compiled it, else tcpdump.
describe('startCapture with real tcpdump or nw-capture', () => {
  let a: TestNamespace;
  let b: TestNamespace;
  let interfaceA: string;
  let dir: string;
  let captureOptions: StartCaptureOptions;
  let counter = 0;

  before(async () => {
    a = await createNamespace({ prefix: 'nwcapa' });
    b = await createNamespace({ prefix: 'nwcapb' });
    ({ interfaceA } = await createVethPair(a, b, {
      addressesA: [`${ADDRESS_A}/24`, 'fd78::1/64'],
      addressesB: [`${ADDRESS_B}/24`, 'fd78::2/64'],
    }));
    dir = await mkdtemp(join(tmpdir(), 'nw-capture-'));
    captureOptions = { commandPrefix: ['ip', 'netns', 'exec', a.name], kernelBufferInKiB: 4096 };
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function spec(overrides: Partial<CaptureSpec> = {}): CaptureSpec {
    counter++;
    return {
      captureId: `test-${counter}`,
      interfaceName: interfaceA,
      bpfExpression: 'udp',
      snapLengthInBytes: 0,
      totalBytesLimit: 10_000_000,
      timeLimitInSeconds: 60,
      outputPath: join(dir, `capture-${counter}.cap`),
      ...overrides,
    };
  }

  test('time limit: stops ~2 s after the start with TimeExceeded, keeping packets up to the limit and none after', async () => {
    const s = spec({ timeLimitInSeconds: 2 });
    const session = startCapture(s, captureOptions);
    const startedAt = await session.started;
    // One datagram every 50 ms for longer than the limit, so there are packets on both sides of it.
    const sender = a.spawn(process.execPath, ['-e', UDP_PACED_SCRIPT, '--', ADDRESS_B, '9999', '100', '50', '4000']);
    try {
      const outcome = await session.done;
      assert.equal(outcome.stopReason, 'TimeExceeded');
      assert.equal(outcome.error, null);
      assert.equal(outcome.startedAt?.getTime(), startedAt.getTime());
      const elapsedInMs = outcome.endedAt.getTime() - startedAt.getTime();
      assert.ok(elapsedInMs >= 2000 && elapsedInMs < 4500, `ended ${elapsedInMs} ms after the start`);
      const { header, records } = await verifiedCaptureFile(s.outputPath, outcome);
      assert.ok(records.length >= 20, `only ${records.length} records`);
      const limitInMs = startedAt.getTime() + 2000;
      const stampsInMs = records.map((r) => r.timestampSeconds * 1000 + r.timestampFraction / 1000);
      assert.ok(
        stampsInMs.every((t) => t <= limitInMs),
        'a record stamped after the time limit was kept',
      );
      // The last block of packets before the limit must not be lost at stop.
      assert.ok(
        Math.max(...stampsInMs) > limitInMs - 300,
        `last record ${limitInMs - Math.max(...stampsInMs)} ms before the limit`,
      );
      assert.ok(records.every((r) => decodePacket(header.linkType, r.data).destinationPort === 9999));
      assert.ok(outcome.kernelPacketsReceived !== null && outcome.kernelPacketsReceived >= records.length);
      assert.equal(outcome.kernelPacketsDropped, 0);
    } finally {
      sender.kill('SIGKILL');
    }
  });

  test('size limit: a UDP flood stops with SizeExceeded and a valid file no larger than the limit', async () => {
    const s = spec({ totalBytesLimit: 20_000 });
    const session = startCapture(s, captureOptions);
    await session.started;
    const flood = a.runNode(UDP_FLOOD_SCRIPT, [ADDRESS_B, '9999', '1000', '3000']);
    const outcome = await session.done;
    assert.equal(outcome.stopReason, 'SizeExceeded');
    assert.ok(outcome.fileSizeInBytes <= 20_000, `file is ${outcome.fileSizeInBytes} bytes`);
    // Cut at the last whole record that fits: less than one record (16 + 14 + 1028 bytes) short.
    assert.ok(outcome.fileSizeInBytes > 20_000 - 1058, `file is only ${outcome.fileSizeInBytes} bytes`);
    const { records } = await verifiedCaptureFile(s.outputPath, outcome);
    assert.ok(records.every((r) => r.capturedLength === 1042)); // 14 Ethernet + 20 IPv4 + 8 UDP + 1000
    await flood;
  });

  test('snap length 64: records are cut to 64 bytes and keep their wire length', async () => {
    const s = spec({ snapLengthInBytes: 64 });
    const session = startCapture(s, captureOptions);
    await session.started;
    const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '10', '1200']);
    assert.equal(sent.stdout.trim(), '10', sent.stderr);
    const outcome = await session.stop();
    assert.equal(outcome.stopReason, 'Manual');
    const { header, records } = await verifiedCaptureFile(s.outputPath, outcome);
    assert.equal(header.snapLength, 64);
    assert.equal(records.length, 10);
    for (const r of records) {
      assert.equal(r.capturedLength, 64);
      assert.equal(r.originalLength, 14 + 20 + 8 + 1200);
      // 64 bytes still hold the headers: the packet still decodes.
      assert.equal(decodePacket(header.linkType, r.data).destinationPort, 9999);
    }
  });

  test('manual stop: Manual, complete file with every packet sent before the stop, kernel stats, idempotent', async () => {
    const s = spec({ interfaceName: 'any', bpfExpression: `udp and host ${ADDRESS_B}` });
    const session = startCapture(s, captureOptions);
    await session.started;
    assert.ok(session.progress().startedAt instanceof Date);
    const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '5', '300']);
    assert.equal(sent.stdout.trim(), '5', sent.stderr);
    const stopping = session.stop();
    assert.equal(session.stop(), stopping);
    const outcome = await stopping;
    assert.equal(outcome.stopReason, 'Manual');
    assert.equal(outcome.error, null);
    const { header, records } = await verifiedCaptureFile(s.outputPath, outcome);
    assert.equal(header.linkType, 276); // -i any on Debian 12: LINUX_SLL2
    const udp = records.map((r) => decodePacket(header.linkType, r.data)).filter((p) => p.protocol === 'UDP');
    // Sent right before the stop and still all there: the unretired ring block was drained.
    assert.equal(udp.length, 5);
    assert.ok(udp.every((p) => p.direction === 'out' && p.sourceAddress === ADDRESS_A));
    assert.deepEqual(session.progress(), {
      packetsCaptured: 5,
      fileSizeInBytes: outcome.fileSizeInBytes,
      startedAt: outcome.startedAt,
    });
    assert.ok((outcome.kernelPacketsReceived ?? 0) >= 5);
    assert.equal(outcome.kernelPacketsDropped, 0);
  });

  test('IPv6 traffic and a filter that excludes it', async () => {
    const s = spec({ bpfExpression: 'ip6 and udp port 5555' });
    const session = startCapture(s, captureOptions);
    await session.started;
    await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '5555', '3', '10']); // IPv4: filtered out
    await a.runNode(UDP_SEND_SCRIPT, ['fd78::2', '5555', '4', '10']);
    const outcome = await session.stop();
    const { header, records } = await verifiedCaptureFile(s.outputPath, outcome);
    const packets = records.map((r) => decodePacket(header.linkType, r.data));
    assert.equal(packets.length, 4);
    assert.ok(packets.every((p) => p.family === 6 && p.destinationAddress === 'fd78::2' && p.destinationPort === 5555));
  });

  test("a bad BPF expression gives Error/CaptureFailed with tcpdump's message, and started rejects", async () => {
    const s = spec({ bpfExpression: 'udp and portrange' });
    const session = startCapture(s, captureOptions);
    await assert.rejects(
      session.started,
      (err: unknown) => err instanceof CaptureStartError && err.code === 'CaptureFailed',
    );
    const outcome = await session.done;
    assert.equal(outcome.stopReason, 'Error');
    assert.equal(outcome.startedAt, null);
    assert.equal(outcome.error?.code, 'CaptureFailed');
    assert.match(outcome.error?.message ?? '', /syntax error/);
  });

  test('an unknown interface gives CaptureFailed naming the device', async () => {
    const outcome = await startCapture(spec({ interfaceName: 'nwnosuch0' }), captureOptions).done;
    assert.equal(outcome.error?.code, 'CaptureFailed');
    assert.match(outcome.error?.message ?? '', /nwnosuch0.*No such device/);
  });

  test('a missing tcpdump binary gives CaptureFailed', async () => {
    const outcome = await startCapture(spec(), { tcpdumpPath: '/nonexistent/tcpdump' }).done;
    assert.equal(outcome.stopReason, 'Error');
    assert.equal(outcome.error?.code, 'CaptureFailed');
    assert.match(outcome.error?.message ?? '', /ENOENT/);
  });

  test('an unwritable output path gives LocalFileFailed before tcpdump starts', async () => {
    const session = startCapture(spec({ outputPath: join(dir, 'no-such-dir', 'x.cap') }), captureOptions);
    await assert.rejects(
      session.started,
      (err: unknown) => err instanceof CaptureStartError && err.code === 'LocalFileFailed',
    );
    const outcome = await session.done;
    assert.equal(outcome.error?.code, 'LocalFileFailed');
    assert.equal(outcome.kernelPacketsReceived, null);
  });

  test('a write failure mid-capture gives LocalFileFailed and stops tcpdump', async () => {
    // /dev/full fails every write with ENOSPC. tcpdump block-buffers its output (no -U, 64 KiB):
    // the 20 KB sent here reach /dev/full through the engine's SIGUSR2 flush probe.
    const session = startCapture(spec({ outputPath: '/dev/full' }), captureOptions);
    await session.started;
    await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '20', '1000']);
    const outcome = await session.done;
    assert.equal(outcome.stopReason, 'Error');
    assert.equal(outcome.error?.code, 'LocalFileFailed');
    assert.match(outcome.error?.message ?? '', /ENOSPC|no space/i);
  });

  test('tcpdump ending on its own mid-capture (interface removed) gives CaptureFailed and a valid file', async () => {
    const c = await createNamespace({ prefix: 'nwcapc' });
    try {
      const pair = await createVethPair(a, c, { addressesA: ['10.78.1.1/24'], addressesB: ['10.78.1.2/24'] });
      const s = spec({ interfaceName: pair.interfaceA });
      const session = startCapture(s, captureOptions);
      await session.started;
      await a.runNode(UDP_SEND_SCRIPT, ['10.78.1.2', '9999', '3', '50']);
      const removed = await a.exec('ip', ['link', 'del', pair.interfaceA]);
      assert.equal(removed.exitCode, 0, removed.stderr);
      const outcome = await session.done;
      assert.equal(outcome.stopReason, 'Error');
      assert.equal(outcome.error?.code, 'CaptureFailed');
      // The program that captured: nw-capture when built (the default), else tcpdump.
      const name = outcome.captureProgram === 'native' ? 'nw-capture' : 'tcpdump';
      assert.match(outcome.error?.message ?? '', new RegExp(`^${name} exited with code 1: .*(interface|device)`, 'i'));
      assert.ok(outcome.startedAt instanceof Date);
      await verifiedCaptureFile(s.outputPath, outcome);
    } finally {
      await c.destroy();
    }
  });

  test('stop before the start: Manual, started rejects', async () => {
    const session = startCapture(spec(), captureOptions);
    const outcome = await session.stop();
    assert.equal(outcome.stopReason, 'Manual');
    assert.equal(outcome.startedAt, null);
    await assert.rejects(session.started, CaptureStartError);
  });

  test('invalid specs throw at once', () => {
    assert.throws(() => startCapture(spec({ totalBytesLimit: 10 })), RangeError);
    assert.throws(() => startCapture(spec({ timeLimitInSeconds: -1 })), RangeError);
    assert.throws(() => startCapture(spec({ outputPath: 'relative.cap' })), RangeError);
  });

  test('no tcpdump or nw-capture of ours is left running', async () => {
    // Only look for processes naming our unique interface: other tests may run tcpdump too.
    const ps = a.spawn('pgrep', ['-c', '-f', `(tcpdump|nw-capture) -i ${interfaceA} `]);
    let out = '';
    ps.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await once(ps, 'close');
    assert.equal(out.trim() === '' ? '0' : out.trim(), '0');
  });
});
