import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCaptureStream } from './capture-reader.js';
import { encodePcapHeader, encodePcapRecord, LinkType } from './format.js';
import { mergeCaptures } from './merge.js';

/** A classic pcap file with one packet per timestamp (µs), each a distinct byte. */
function pcapFile(timestampsInUs: number[], marker: number): Buffer {
  return Buffer.concat([
    encodePcapHeader({ snapLength: 262144, linkType: LinkType.ETHERNET }),
    ...timestampsInUs.map((t, i) =>
      encodePcapRecord({
        timestampSeconds: Math.floor(t / 1e6),
        timestampFraction: t % 1e6,
        capturedLength: 60,
        originalLength: 60,
        data: Buffer.alloc(60, marker + i),
      }),
    ),
  ]);
}

/** Yields a buffer in small chunks, as a network stream does, counting how many were read. */
async function* chunked(buf: Buffer, size: number, read: { n: number }): AsyncGenerator<Buffer> {
  for (let o = 0; o < buf.length; o += size) {
    read.n++;
    yield buf.subarray(o, o + size);
  }
}

test('merges hosts in time order, one named interface per host with the filter in the comments; reads lazily', async () => {
  const readA = { n: 0 };
  const readB = { n: 0 };
  const a = pcapFile([1_000_000, 3_000_000, 5_000_000], 10);
  const b = pcapFile([2_000_000, 4_000_000], 100);
  const out: Buffer[] = [];
  const merged = mergeCaptures(
    [
      { name: 'host-a', comment: 'instance 0; filter: udp', chunks: chunked(a, 7, readA) },
      { name: 'host-b', comment: 'instance 2; filter: udp', chunks: chunked(b, 7, readB) },
    ],
    'pcapng',
    'netwatcher capture pc1; filter: udp',
  );
  const first = await merged.next();
  out.push(first.value as Buffer);
  assert.ok(readA.n < a.length / 7, 'a source is not read to its end before its packets are needed');
  for await (const chunk of merged) out.push(chunk);
  const file = Buffer.concat(out);
  const packets: Array<{ iface: number; t: number; marker: number }> = [];
  await readCaptureStream(
    (async function* () {
      yield file;
    })(),
    { onPacket: (p) => packets.push({ iface: p.interfaceId, t: p.timestampSeconds, marker: p.data[0]! }) },
  );
  assert.deepEqual(
    packets.map((p) => p.t),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    packets.map((p) => p.marker),
    [10, 100, 11, 101, 12],
  );
  assert.deepEqual(
    packets.map((p) => p.iface),
    [0, 1, 0, 1, 0],
  );
  // tshark agrees: two interfaces named after the hosts, the comments carry hosts and filter.
  const dir = mkdtempSync(join(tmpdir(), 'nw-merge-'));
  try {
    writeFileSync(join(dir, 'all.pcapng'), file);
    const info = execFileSync('capinfos', ['-I', join(dir, 'all.pcapng')], { encoding: 'utf8' });
    assert.match(info, /host-a/);
    assert.match(info, /host-b/);
    const comments = execFileSync(
      'tshark',
      ['-r', join(dir, 'all.pcapng'), '-T', 'fields', '-e', 'frame.interface_name'],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n');
    assert.deepEqual(comments, ['host-a', 'host-b', 'host-a', 'host-b', 'host-a']);
    const section = execFileSync('capinfos', ['-k', join(dir, 'all.pcapng')], { encoding: 'utf8' });
    assert.match(section, /filter: udp/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('classic pcap output: one link type for all, nanosecond timestamps, time-ordered; mixed link types are refused', async () => {
  const out: Buffer[] = [];
  for await (const c of mergeCaptures(
    [
      { name: 'a', chunks: chunked(pcapFile([5, 9], 1), 64, { n: 0 }) },
      { name: 'b', chunks: chunked(pcapFile([7], 50), 64, { n: 0 }) },
    ],
    'pcap',
    'x',
  ))
    out.push(c);
  const file = Buffer.concat(out);
  assert.equal(file.readUInt32LE(0), 0xa1b23c4d);
  const markers: number[] = [];
  const ns: number[] = [];
  await readCaptureStream(
    (async function* () {
      yield file;
    })(),
    {
      onPacket: (p) => {
        markers.push(p.data[0]!);
        ns.push(p.timestampNanoseconds);
      },
    },
  );
  assert.deepEqual(markers, [1, 50, 2]);
  assert.deepEqual(ns, [5000, 7000, 9000]);
  const sll = Buffer.concat([
    encodePcapHeader({ snapLength: 262144, linkType: LinkType.LINUX_SLL }),
    encodePcapRecord({
      timestampSeconds: 1,
      timestampFraction: 0,
      capturedLength: 20,
      originalLength: 20,
      data: Buffer.alloc(20),
    }),
  ]);
  await assert.rejects(async () => {
    for await (const _ of mergeCaptures(
      [
        { name: 'a', chunks: chunked(pcapFile([1], 1), 64, { n: 0 }) },
        { name: 'b', chunks: chunked(sll, 64, { n: 0 }) },
      ],
      'pcap',
      'x',
    )) {
      /* drain */
    }
  }, /different link types/);
});
