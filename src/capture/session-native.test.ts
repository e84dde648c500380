// The engine with nw-capture (capture-program.ts), the real binary `npm run build` compiled, beside
// the real tcpdump: the same packets for the same traffic and filter, the limits, the live
// counters, errors, a tmpfs output. Two network namespaces joined by a veth pair; traffic never
// leaves them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePacket } from '../pcap/index.js';
import type { PcapContents } from '../pcap/index.js';
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

const ADDRESS_A = '10.78.6.1';
const ADDRESS_B = '10.78.6.2';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('startCapture with nw-capture', () => {
  let a: TestNamespace;
  let b: TestNamespace;
  let interfaceA: string;
  let dir: string;
  let native: StartCaptureOptions;
  let tcpdump: StartCaptureOptions;
  let counter = 0;

  before(async () => {
    a = await createNamespace({ prefix: 'nwnata' });
    b = await createNamespace({ prefix: 'nwnatb' });
    ({ interfaceA } = await createVethPair(a, b, {
      addressesA: [`${ADDRESS_A}/24`, 'fd76::1/64'],
      addressesB: [`${ADDRESS_B}/24`, 'fd76::2/64'],
    }));
    dir = await mkdtemp(join(tmpdir(), 'nw-native-'));
    const common = { commandPrefix: ['ip', 'netns', 'exec', a.name], kernelBufferInKiB: 4096 };
    native = { ...common, captureProgram: 'native' };
    tcpdump = { ...common, captureProgram: 'tcpdump' };
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function spec(overrides: Partial<CaptureSpec> = {}): CaptureSpec {
    counter++;
    return {
      captureId: `native-${counter}`,
      interfaceName: interfaceA,
      bpfExpression: 'udp',
      snapLengthInBytes: 0,
      totalBytesLimit: 10_000_000,
      timeLimitInSeconds: 60,
      outputPath: join(dir, `native-${counter}.cap`),
      ...overrides,
    };
  }

  test('the default (auto) captures with nw-capture when it is built', async () => {
    const session = startCapture(spec(), { commandPrefix: native.commandPrefix, kernelBufferInKiB: 4096 });
    await session.started;
    assert.equal(session.captureProgram, 'native');
    const outcome = await session.stop();
    assert.equal(outcome.captureProgram, 'native');
    assert.equal(outcome.error, null);
  });

  test("nw-capture's stdout is an open file description of its own: O_DIRECT there, not on the engine's handle", async () => {
    const s = spec();
    const session = startCapture(s, native);
    await session.started;
    try {
      const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '3', '10']);
      assert.equal(sent.stdout.trim(), '3', sent.stderr);
      // nw-capture sets O_DIRECT when it first writes (and clears it for each unaligned tail
      // only while writing that tail): wait for the file to hold the packets.
      const expected = 24 + 3 * (16 + 14 + 20 + 8 + 10);
      for (let i = 0; i < 100 && statSync(s.outputPath).size < expected; i++) await sleep(50);
      assert.equal(statSync(s.outputPath).size, expected);
      await sleep(100);
      // The flags of an open file description, as /proc shows them (octal), by who holds it.
      const flagsOf = (fdinfo: string): number => parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo)?.[1] ?? 'x', 8);
      const O_DIRECT = 0o40000; // Linux x86-64 and arm64 alike
      const child = flagsOf(readFileSync(`/proc/${session.pid}/fdinfo/1`, 'utf8'));
      assert.equal(readlinkSync(`/proc/${session.pid}/fd/1`), s.outputPath);
      // The file system of os.tmpdir() here takes O_DIRECT (ext4); tmpfs is the test below.
      assert.ok((child & O_DIRECT) !== 0, `nw-capture's stdout flags ${child.toString(8)}`);
      const ours = readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === s.outputPath;
        } catch {
          return false;
        }
      });
      assert.equal(ours.length, 1, 'the engine keeps one handle of its own');
      const own = flagsOf(readFileSync(`/proc/self/fdinfo/${ours[0]}`, 'utf8'));
      assert.equal(own & O_DIRECT, 0, `the engine's handle flags ${own.toString(8)}`);
    } finally {
      const outcome = await session.stop();
      assert.equal(outcome.error, null);
      assert.equal((await verifiedCaptureFile(s.outputPath, outcome)).records.length, 3);
    }
  });

  test('with nw-capture absent, auto falls back to tcpdump and native is a clear start error', async () => {
    const absent = { ...native, nativeCapturePath: join(dir, 'no-nw-capture') };
    const fallback = startCapture(spec(), { ...absent, captureProgram: 'auto' });
    await fallback.started;
    assert.equal(fallback.captureProgram, 'tcpdump');
    const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '2', '10']);
    assert.equal(sent.stdout.trim(), '2', sent.stderr);
    const kept = await fallback.stop();
    assert.equal(kept.captureProgram, 'tcpdump');
    assert.equal(kept.packetsCaptured, 2);

    const refused = startCapture(spec(), absent);
    await assert.rejects(
      refused.started,
      (err: unknown) =>
        err instanceof CaptureStartError &&
        err.code === 'CaptureFailed' &&
        /nw-capture asked for but unusable: nw-capture is not built \(no .*no-nw-capture/.test(err.message),
    );
    const outcome = await refused.done;
    assert.equal(outcome.stopReason, 'Error');
    assert.equal(outcome.captureProgram, undefined);
  });

  // The veth, and `any` (the agent's default interface: tcpdump 4.99 captures it as LINUX_SLL2).
  for (const on of ['veth', 'any'] as const) {
    test(`nw-capture and tcpdump on the same traffic keep the same records, filters compiled alike (-O): ${on}`, async () => {
      // A filter whose parts each drop something below: protocol, ports, a length test, IPv6.
      const bpfExpression = `(udp and (dst port 9999 or dst port 7777) and greater 200) or (ip6 and udp port 5555)`;
      const interfaceName = on === 'any' ? 'any' : interfaceA;
      const ours = startCapture(spec({ bpfExpression, interfaceName }), native);
      const theirs = startCapture(spec({ bpfExpression, interfaceName }), tcpdump);
      await Promise.all([ours.started, theirs.started]);
      assert.equal(ours.captureProgram, 'native');
      assert.equal(theirs.captureProgram, 'tcpdump');
      for (const [address, port, count, size] of [
        [ADDRESS_B, '9999', '5', '300'], // kept
        [ADDRESS_B, '9999', '4', '100'], // too short
        [ADDRESS_B, '7777', '3', '1200'], // kept
        [ADDRESS_B, '8888', '3', '1200'], // other port
        ['fd76::2', '5555', '2', '40'], // kept: IPv6
        [ADDRESS_B, '5555', '2', '400'], // IPv4 on 5555
      ] as const) {
        const sent = await a.runNode(UDP_SEND_SCRIPT, [address, port, count, size]);
        assert.equal(sent.stdout.trim(), count, sent.stderr);
      }
      const [mine, reference] = await Promise.all([ours.stop(), theirs.stop()]);
      assert.equal(mine.error, null);
      assert.equal(reference.error, null);
      const got = await verifiedCaptureFile(join(dir, `native-${counter - 1}.cap`), mine);
      const want = await verifiedCaptureFile(join(dir, `native-${counter}.cap`), reference);
      assert.deepEqual(got.header, want.header);
      assert.equal(want.records.length, 10);
      const strip = (c: PcapContents): unknown[] =>
        c.records.map((r) => ({
          captured: r.capturedLength,
          original: r.originalLength,
          data: r.data.toString('hex'),
        }));
      assert.deepEqual(strip(got), strip(want));
      const ports = got.records.map((r) => decodePacket(got.header.linkType, r.data).destinationPort);
      assert.deepEqual(ports, [9999, 9999, 9999, 9999, 9999, 7777, 7777, 7777, 5555, 5555]);
      // The kernel stamps each packet once for every packet socket: the same times too.
      for (const [i, r] of got.records.entries()) {
        const w = want.records[i]!;
        const gapInUs = Math.abs(
          (r.timestampSeconds - w.timestampSeconds) * 1e6 + (r.timestampFraction - w.timestampFraction),
        );
        assert.ok(gapInUs < 1000, `record ${i} stamped ${gapInUs} µs apart`);
      }
    });
  }

  test('size limit: a flood stops with SizeExceeded at the last whole record that fits', async () => {
    const s = spec({ totalBytesLimit: 50_000 });
    const session = startCapture(s, native);
    await session.started;
    const flood = a.runNode(UDP_FLOOD_SCRIPT, [ADDRESS_B, '9999', '1000', '3000']);
    const outcome = await session.done;
    await flood;
    assert.equal(outcome.captureProgram, 'native');
    assert.equal(outcome.stopReason, 'SizeExceeded');
    const { records } = await verifiedCaptureFile(s.outputPath, outcome);
    // 24-byte header, then whole records of 16 + 1042 bytes: as many as fit in 50 000.
    assert.equal(outcome.fileSizeInBytes, 24 + Math.floor((50_000 - 24) / 1058) * 1058);
    assert.ok(records.every((r) => r.capturedLength === 1042));
  });

  test('time limit: counted from the real start, nothing stamped after it, the last packets before it kept', async () => {
    const s = spec({ timeLimitInSeconds: 2 });
    const session = startCapture(s, native);
    const startedAt = await session.started;
    const sender = a.spawn(process.execPath, ['-e', UDP_PACED_SCRIPT, '--', ADDRESS_B, '9999', '100', '50', '4000']);
    try {
      const outcome = await session.done;
      assert.equal(outcome.captureProgram, 'native');
      assert.equal(outcome.stopReason, 'TimeExceeded');
      const elapsedInMs = outcome.endedAt.getTime() - startedAt.getTime();
      assert.ok(elapsedInMs >= 2000 && elapsedInMs < 4500, `ended ${elapsedInMs} ms after the start`);
      const { records } = await verifiedCaptureFile(s.outputPath, outcome);
      const limitInMs = startedAt.getTime() + 2000;
      const stampsInMs = records.map((r) => r.timestampSeconds * 1000 + r.timestampFraction / 1000);
      assert.ok(records.length >= 20, `only ${records.length} records`);
      assert.ok(
        stampsInMs.every((t) => t <= limitInMs),
        'a record stamped after the limit was kept',
      );
      assert.ok(Math.max(...stampsInMs) > limitInMs - 300, 'the last packets before the limit were lost');
      assert.equal(outcome.kernelPacketsDropped, 0);
    } finally {
      sender.kill('SIGKILL');
    }
  });

  test('live counters move while traffic flows, and a quiet link reaches the file within ~1 s', async (t) => {
    const s = spec();
    const session = startCapture(s, { ...native, statsIntervalInMs: 200 });
    await session.started;
    const sender = a.spawn(process.execPath, ['-e', UDP_PACED_SCRIPT, '--', ADDRESS_B, '9999', '100', '20', '3000']);
    try {
      const seen: number[] = [];
      for (let i = 0; i < 11; i++) {
        await sleep(250);
        seen.push(session.progress().packetsCaptured);
      }
      // Rising while the sender runs, not only once it ends: in steps, as libpcap hands over a
      // block of the ring at least every second (its timeout) on a link this quiet.
      assert.ok(new Set(seen.filter((n) => n > 0)).size >= 2, `counters seen: ${seen.join(', ')}`);
      assert.ok(seen.at(-1)! < 150, `counters seen: ${seen.join(', ')}`); // 150 datagrams in all
      await new Promise((r) => sender.once('close', r));
      await sleep(2000);
      // Quiet now: three datagrams, and the time until the file holds them.
      const before = statSync(s.outputPath).size;
      const sentAt = Date.now();
      const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '3', '10']);
      assert.equal(sent.stdout.trim(), '3', sent.stderr);
      const expected = before + 3 * (16 + 14 + 20 + 8 + 10);
      while (statSync(s.outputPath).size < expected && Date.now() - sentAt < 5000) await sleep(20);
      const delayInMs = Date.now() - sentAt;
      t.diagnostic(`a quiet link's packets reached the file after ${delayInMs} ms`);
      assert.equal(statSync(s.outputPath).size, expected);
      // libpcap's 1 s block timeout, then nw-capture's quiet-link flush.
      assert.ok(delayInMs < 2000, `a quiet link's packets took ${delayInMs} ms to reach the file`);
    } finally {
      sender.kill('SIGKILL');
    }
    const outcome = await session.stop();
    assert.equal(outcome.error, null);
    await verifiedCaptureFile(s.outputPath, outcome);
  });

  test("a bad interface or filter: CaptureFailed naming what is wrong, in nw-capture's words", async () => {
    const noDevice = await startCapture(spec({ interfaceName: 'nwnosuch0' }), native).done;
    assert.equal(noDevice.error?.code, 'CaptureFailed');
    assert.match(noDevice.error?.message ?? '', /^nw-capture exited with code 1: nwnosuch0: .*No such device/);
    const badFilter = startCapture(spec({ bpfExpression: 'udp and portrange' }), native);
    await assert.rejects(badFilter.started, CaptureStartError);
    const outcome = await badFilter.done;
    assert.equal(outcome.error?.code, 'CaptureFailed');
    assert.match(outcome.error?.message ?? '', /^nw-capture exited with code 1: .*syntax error/);
  });

  test('an output on tmpfs (no O_DIRECT there) is written all the same', async (t) => {
    const mountPoint = join(dir, 'tmpfs');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'nwnattmp', mountPoint]);
    if (mounted.status !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.toString()}`);
      return;
    }
    try {
      const s = spec({ outputPath: join(mountPoint, 'out.cap') });
      const session = startCapture(s, native);
      await session.started;
      const sent = await a.runNode(UDP_SEND_SCRIPT, [ADDRESS_B, '9999', '7', '333']);
      assert.equal(sent.stdout.trim(), '7', sent.stderr);
      const outcome = await session.stop();
      assert.equal(outcome.captureProgram, 'native');
      assert.equal(outcome.error, null);
      const { records } = await verifiedCaptureFile(s.outputPath, outcome);
      assert.equal(records.length, 7);
      assert.ok(records.every((r) => r.capturedLength === 14 + 20 + 8 + 333));
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });
});
