import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePcapHeader, encodePcapRecord } from '../pcap/index.js';
import { finaliseCaptureFile } from './idle-cut.js';
import { cutCaptureFile, cutCaptureFileSync } from './pcap-cut.js';
import type { CaptureFileCutRules } from './pcap-cut.js';
import { fileIdentityOfPath } from '../lib/file-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-idle-cut-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const header = encodePcapHeader({ snapLength: 262144, linkType: 1 });
const record = (seconds: number, bytes: number): Buffer =>
  encodePcapRecord({
    timestampSeconds: seconds,
    timestampFraction: 0,
    capturedLength: bytes,
    originalLength: bytes,
    data: Buffer.alloc(bytes, seconds & 0xff),
  });

// ~9 MiB of records (more than two of the cut's 4 MiB reads) and a torn one at the end.
const records: Buffer[] = [header];
for (let i = 1; i <= 150; i++) records.push(record(i, 60_000 + i));
const whole = Buffer.concat(records);
const torn = Buffer.concat([whole, record(151, 1000).subarray(0, 500)]);

let n = 0;
function fileWith(bytes: Buffer): string {
  const path = join(dir, `f${++n}.cap`);
  writeFileSync(path, bytes);
  return path;
}

const RULES: CaptureFileCutRules[] = [
  { maxBytes: 0, stopAfterInMs: null },
  { maxBytes: 5_000_000, stopAfterInMs: null },
  { maxBytes: 0, stopAfterInMs: 100_000 },
];

test('the idle worker cuts, hashes and syncs exactly as the cut on the event loop does', async () => {
  for (const rules of RULES) {
    const inlinePath = fileWith(torn);
    const inlineHandle = await open(inlinePath, 'r+');
    const expected = await cutCaptureFile(inlineHandle, rules).finally(() => inlineHandle.close());

    const idlePath = fileWith(torn);
    const handle = await open(idlePath, 'r+');
    const got = await finaliseCaptureFile(handle, rules, { workerMinBytes: 0 }).finally(() => handle.close());
    const { priority, readDirect: _readDirect, ...cut } = got;
    // Two files, so two identities: each is its own file's after the cut.
    const { fileIdentity: gotIdentity, ...gotRest } = cut;
    const { fileIdentity: expectedIdentity, ...expectedRest } = expected;
    assert.deepEqual(gotRest, expectedRest, JSON.stringify(rules));
    assert.deepEqual(gotIdentity, fileIdentityOfPath(idlePath));
    assert.deepEqual(expectedIdentity, fileIdentityOfPath(inlinePath));
    const kept = readFileSync(idlePath);
    assert.equal(kept.length, cut.sizeInBytes);
    assert.equal(createHash('sha256').update(kept).digest('hex'), cut.sha256);
    assert.ok(rules.maxBytes === 0 || kept.length <= rules.maxBytes);
    // It ran on a worker thread that lowered itself, not on the event loop.
    assert.ok(priority !== null, 'the worker did not run');
    assert.equal(priority.nice, 19);
    assert.equal(priority.schedIdle, true);
    assert.notEqual(priority.threadId, process.pid);
  }
  // Only that thread: this one (the event loop, tcpdump's launcher) keeps its priority.
  assert.equal(getPriority(0), getPriority(process.pid));
  assert.notEqual(getPriority(0), 19);
});

test("'normal' runs the same worker at the process's priority; 'inline' runs no worker", async () => {
  const handle = await open(fileWith(torn), 'r+');
  const normal = await finaliseCaptureFile(handle, RULES[0]!, { priority: 'normal', workerMinBytes: 0 }).finally(() =>
    handle.close(),
  );
  assert.ok(normal.priority !== null, 'the worker did not run');
  assert.equal(normal.priority.nice, getPriority(0));
  assert.equal(normal.priority.schedIdle, false);
  assert.equal(normal.sizeInBytes, whole.length);
  const inlineHandle = await open(fileWith(torn), 'r+');
  const inline = await finaliseCaptureFile(inlineHandle, RULES[0]!, { priority: 'inline' }).finally(() =>
    inlineHandle.close(),
  );
  assert.equal(inline.priority, null);
  assert.equal(inline.sha256, normal.sha256);
});

test('a file opened through a held folder (no path reopened by the worker) is cut through its descriptor', async () => {
  const path = fileWith(torn);
  const dirFd = openSync(dir, 'r');
  try {
    const handle = await open(`/proc/self/fd/${dirFd}/${path.slice(dir.length + 1)}`, 'r+');
    // The name is gone before the cut: only the descriptor leads to the file.
    rmSync(path);
    const cut = await finaliseCaptureFile(handle, RULES[0]!, { workerMinBytes: 0 });
    const st = await handle.stat();
    await handle.close();
    assert.equal(st.size, whole.length);
    assert.equal(cut.sha256, createHash('sha256').update(whole).digest('hex'));
  } finally {
    closeSync(dirFd);
  }
});

test('cutCaptureFileSync agrees with cutCaptureFile on an empty file, a bare header and garbage', async () => {
  for (const bytes of [Buffer.alloc(0), header, Buffer.alloc(100, 7), header.subarray(0, 10)]) {
    const a = await open(fileWith(bytes), 'r+');
    const expected = await cutCaptureFile(a, RULES[0]!).finally(() => a.close());
    const path = fileWith(bytes);
    const fd = openSync(path, 'r+');
    try {
      const { fileIdentity, ...rest } = cutCaptureFileSync(fd, RULES[0]!);
      const { fileIdentity: _other, ...expectedRest } = expected;
      assert.deepEqual(rest, expectedRest);
      assert.deepEqual(fileIdentity, fileIdentityOfPath(path));
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(path).length, expected.sizeInBytes);
  }
});

test('a file under workerMinBytes is cut on the event loop (a worker would cost more than its hash)', async () => {
  const handle = await open(fileWith(torn), 'r+');
  const small = await finaliseCaptureFile(handle, RULES[0]!, { workerMinBytes: torn.length + 1 }).finally(() =>
    handle.close(),
  );
  assert.equal(small.priority, null);
  assert.equal(small.sha256, createHash('sha256').update(whole).digest('hex'));
  const big = await open(fileWith(torn), 'r+');
  const large = await finaliseCaptureFile(big, RULES[0]!, { workerMinBytes: torn.length }).finally(() => big.close());
  assert.equal(large.priority?.nice, 19);
});

test('the worker reads with O_DIRECT on the disk, through the page cache on tmpfs or when told not to: the same cut', async () => {
  const shm = mkdtempSync(join('/dev/shm', 'nw-idle-cut-'));
  try {
    const results = [];
    for (const [folder, tryDirect, direct] of [
      [dir, true, true],
      [dir, false, false],
      [shm, true, false],
    ] as const)
      for (const priority of ['idle', 'inline'] as const) {
        const path = join(folder, `direct-${++n}.cap`);
        writeFileSync(path, torn);
        const handle = await open(path, 'r+');
        const got = await finaliseCaptureFile(handle, RULES[1]!, { priority, workerMinBytes: 0, tryDirect }).finally(
          () => handle.close(),
        );
        assert.equal(got.readDirect, direct, `${folder} ${priority} ${tryDirect}`);
        assert.equal(got.priority === null, priority === 'inline');
        assert.deepEqual(got.fileIdentity, fileIdentityOfPath(path));
        const { priority: _p, readDirect: _r, fileIdentity: _i, ...cut } = got;
        results.push(cut);
        assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), cut.sha256);
      }
    for (const cut of results) assert.deepEqual(cut, results[0]);
    assert.ok(results[0]!.sizeInBytes < torn.length && results[0]!.sizeInBytes <= RULES[1]!.maxBytes);
  } finally {
    rmSync(shm, { recursive: true, force: true });
  }
});
