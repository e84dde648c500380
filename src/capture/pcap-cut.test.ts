import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePcapHeader, encodePcapRecord, readPcapBuffer } from '../pcap/index.js';
import { cutCaptureFile, EMPTY_SHA256 } from './pcap-cut.js';
import type { CaptureFileCutRules, CutCaptureFile } from './pcap-cut.js';
import { fileIdentityOfPath, sameFileIdentity } from '../lib/file-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-cut-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const header = encodePcapHeader({ snapLength: 262144, linkType: 1 });
const record = (seconds: number, bytes: number, microseconds = 0): Buffer =>
  encodePcapRecord({
    timestampSeconds: seconds,
    timestampFraction: microseconds,
    capturedLength: bytes,
    originalLength: bytes,
    data: Buffer.alloc(bytes, seconds & 0xff),
  });
const NO_RULES: CaptureFileCutRules = { maxBytes: 0, stopAfterInMs: null };

let n = 0;
async function cut(bytes: Buffer, rules: CaptureFileCutRules): Promise<{ result: CutCaptureFile; kept: Buffer }> {
  const path = join(dir, `f${++n}.cap`);
  writeFileSync(path, bytes);
  const handle = await open(path, 'r+');
  try {
    const result = await cutCaptureFile(handle, rules);
    const kept = readFileSync(path);
    // Whatever the cut, the file is what the result says and a valid pcap (or empty).
    assert.equal(kept.length, result.sizeInBytes);
    assert.equal(result.sha256, createHash('sha256').update(kept).digest('hex'));
    if (kept.length > 0) assert.equal(readPcapBuffer(kept).records.length, result.packetsCaptured);
    return { result, kept };
  } finally {
    await handle.close();
  }
}

test('a torn trailing record is cut off; an intact file is kept whole', async () => {
  const whole = Buffer.concat([header, record(1, 60), record(2, 60), record(3, 60)]);
  const torn = await cut(whole.subarray(0, whole.length - 30), NO_RULES);
  assert.deepEqual([torn.result.packetsCaptured, torn.result.sizeInBytes, torn.result.reason], [2, 24 + 2 * 76, 'end']);
  const intact = await cut(whole, NO_RULES);
  assert.ok(intact.kept.equals(whole));
  // A record header itself cut by the end of the file.
  const headerTorn = await cut(Buffer.concat([whole, record(4, 60).subarray(0, 10)]), NO_RULES);
  assert.equal(headerTorn.result.sizeInBytes, whole.length);
});

test('size limit: the file ends at the last whole record that fits', async () => {
  const whole = Buffer.concat([header, record(1, 100), record(2, 100), record(3, 100)]);
  const limited = await cut(whole, { maxBytes: 24 + 2 * 116 + 115, stopAfterInMs: null });
  assert.deepEqual(
    [limited.result.packetsCaptured, limited.result.sizeInBytes, limited.result.reason],
    [2, 24 + 2 * 116, 'size'],
  );
  const exact = await cut(whole, { maxBytes: whole.length, stopAfterInMs: null });
  assert.equal(exact.result.sizeInBytes, whole.length);
  assert.equal((await cut(whole, { maxBytes: 24, stopAfterInMs: null })).result.sizeInBytes, 24);
});

test('time limit: the first record stamped after the stop instant and all after it are cut', async () => {
  const whole = Buffer.concat([
    header,
    record(10, 50, 0),
    record(10, 50, 999_000),
    record(11, 50, 1000),
    record(12, 50),
  ]);
  const timed = await cut(whole, { maxBytes: 0, stopAfterInMs: 11_000 });
  assert.deepEqual([timed.result.packetsCaptured, timed.result.reason], [2, 'time']);
});

test('garbage instead of a record is cut off and reported; no header gives an empty file', async () => {
  const good = Buffer.concat([header, record(1, 40)]);
  const garbage = Buffer.alloc(64, 0xff); // captured length 0xffffffff: no record
  const malformed = await cut(Buffer.concat([good, garbage]), NO_RULES);
  assert.deepEqual(
    [malformed.result.packetsCaptured, malformed.result.sizeInBytes, malformed.result.reason],
    [1, good.length, 'malformed'],
  );
  const noHeader = await cut(Buffer.alloc(10), NO_RULES);
  const { fileIdentity: emptied, ...noHeaderRest } = noHeader.result;
  assert.deepEqual(noHeaderRest, { sizeInBytes: 0, sha256: EMPTY_SHA256, packetsCaptured: 0, reason: 'end' });
  assert.equal(emptied?.sizeInBytes, 0);
  const notPcap = await cut(Buffer.alloc(100, 7), NO_RULES);
  assert.equal(notPcap.result.sizeInBytes, 0);
  assert.equal(notPcap.result.reason, 'malformed');
});

test('files larger than one read: records and headers across read boundaries, the hash of exactly the kept bytes', async () => {
  // ~10 MiB of records of sizes that put record headers across the 4 MiB read boundaries.
  const parts = [header];
  for (let i = 0; parts.length < 4000; i++) parts.push(record(i, 1 + ((i * 7919) % 5000)));
  const whole = Buffer.concat(parts);
  const all = await cut(whole, NO_RULES);
  assert.equal(all.result.packetsCaptured, 3999);
  assert.ok(all.kept.equals(whole));
  const limit = 6 * 1024 * 1024 + 3;
  const limited = await cut(whole, { maxBytes: limit, stopAfterInMs: null });
  assert.ok(limited.result.sizeInBytes <= limit && limited.result.sizeInBytes > limit - 5016);
  assert.ok(limited.kept.equals(whole.subarray(0, limited.result.sizeInBytes)));
});

test('a device is left alone', async () => {
  const handle = await open('/dev/null', 'r+');
  try {
    assert.deepEqual(await cutCaptureFile(handle, NO_RULES), {
      sizeInBytes: 0,
      sha256: EMPTY_SHA256,
      packetsCaptured: 0,
      reason: 'end',
    });
  } finally {
    await handle.close();
  }
});

test("the cut records the file's identity after it truncated it (both cuts); a later write changes it", async () => {
  const { cutCaptureFileSync } = await import('./pcap-cut.js');
  for (const sync of [false, true]) {
    const path = join(dir, `identity-${String(sync)}.cap`);
    writeFileSync(path, Buffer.concat([header, record(1, 100), record(2, 100).subarray(0, 50)]));
    const handle = await open(path, 'r+');
    let result: CutCaptureFile;
    try {
      result = sync ? cutCaptureFileSync(handle.fd, NO_RULES) : await cutCaptureFile(handle, NO_RULES);
    } finally {
      await handle.close();
    }
    const identity = fileIdentityOfPath(path);
    assert.deepEqual(result.fileIdentity, identity, sync ? 'sync cut' : 'async cut');
    assert.equal(identity.sizeInBytes, result.sizeInBytes);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(path, bytes);
    assert.equal(sameFileIdentity(fileIdentityOfPath(path), identity), false, 'a write shows');
  }
});

test('O_DIRECT and page-cache reads cut and hash alike, both cuts, at sizes around the 4 KiB and 4 MiB edges (disk and tmpfs)', async () => {
  const { cutCaptureFileSync } = await import('./pcap-cut.js');
  const shm = mkdtempSync(join('/dev/shm', 'nw-cut-'));
  try {
    const MiB = 1024 * 1024;
    // Records of varied lengths from 2023, one per 10 ms: the last one torn at every size but 0 and 24.
    const parts = [header];
    for (let i = 0, length = 24; length < 9 * MiB + 200; i++) {
      parts.push(record(1_700_000_000 + Math.floor(i / 100), 1 + ((i * 7919) % 3000), (i % 100) * 10_000));
      length += parts.at(-1)!.length;
    }
    const stream = Buffer.concat(parts);
    for (const size of [0, 24, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 123]) {
      const bytes = stream.subarray(0, size);
      for (const rules of [
        NO_RULES,
        { maxBytes: 24 + Math.floor(size * 0.6) + 1, stopAfterInMs: null },
        { maxBytes: 0, stopAfterInMs: (1_700_000_000 + 50) * 1000 + 5 },
      ]) {
        const runs: { result: CutCaptureFile; kept: Buffer; direct: boolean; where: string }[] = [];
        for (const [where, folder] of [
          ['disk', dir],
          ['tmpfs', shm],
        ] as const)
          for (const tryDirect of [true, false])
            for (const sync of [false, true]) {
              const path = join(folder, `edge-${++n}.cap`);
              writeFileSync(path, bytes);
              const handle = await open(path, 'r+');
              let direct: boolean | null = null;
              const opts = { tryDirect, onRead: (how: { direct: boolean }) => (direct = how.direct) };
              let result: CutCaptureFile;
              try {
                result = sync ? cutCaptureFileSync(handle.fd, rules, opts) : await cutCaptureFile(handle, rules, opts);
              } finally {
                await handle.close();
              }
              assert.deepEqual(result.fileIdentity, fileIdentityOfPath(path));
              runs.push({ result, kept: readFileSync(path), direct: direct!, where: `${where} ${tryDirect} ${sync}` });
            }
        const label = `${size} ${JSON.stringify(rules)}`;
        for (const run of runs) {
          // O_DIRECT on the disk for any file with bytes in it; never on tmpfs or when not tried.
          assert.equal(
            run.direct,
            run.where === 'disk true false' || run.where === 'disk true true' ? size > 0 : false,
            `${label} ${run.where}`,
          );
          const { fileIdentity: _a, ...result } = run.result;
          const { fileIdentity: _b, ...expected } = runs[0]!.result;
          assert.deepEqual(result, expected, `${label} ${run.where}`);
          assert.ok(run.kept.equals(runs[0]!.kept), `${label} ${run.where}`);
        }
        const kept = runs[0]!.kept;
        assert.equal(kept.length, runs[0]!.result.sizeInBytes);
        assert.equal(runs[0]!.result.sha256, createHash('sha256').update(kept).digest('hex'));
        assert.ok(bytes.subarray(0, kept.length).equals(kept));
        if (rules.maxBytes > 0) assert.ok(kept.length <= rules.maxBytes, label);
        if (size > 24 && rules === NO_RULES)
          assert.ok(kept.length < size && kept.length > size - 3100, `${label}: torn`);
      }
    }
  } finally {
    rmSync(shm, { recursive: true, force: true });
  }
});
