import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendHttpRequest } from './http-client.js';
import { hashFileRange } from './hash.js';
import { FileRangePieces } from './upload-context.js';

// FileRangePieces: the local kind's request bodies, 4 MiB pieces in two buffers reused for the
// whole range, each filled again only after the socket's write callback for its last piece.
const piece = 4 * 1024 * 1024;
const content = randomBytes(6 * piece + 12_345);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
let dir: string;
let file: FileHandle;
let server: Server;
let port: number;
let received: Buffer[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nw-upload-context-'));
  await writeFile(join(dir, 'f'), content);
  file = await open(join(dir, 'f'), 'r');
  // A slow receiver: it pauses after each read, so the socket's buffers fill and the sender's
  // write callbacks come late — the case where a buffer reused too early would send other bytes.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      req.pause();
      setTimeout(() => req.resume(), 1);
    });
    req.on('end', () => {
      received = chunks;
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await file?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a range of several pieces arrives byte for byte through a slow receiver, in two buffers', async () => {
  for (const [start, end] of [
    [0, content.length],
    [piece - 7, 5 * piece + 3],
    [100, 200],
  ] as const) {
    const body = new FileRangePieces(file, start, end);
    let progress = 0;
    try {
      const response = await sendHttpRequest(`http://127.0.0.1:${port}/`, {
        method: 'PUT',
        headers: { 'content-length': String(end - start) },
        body,
        onBodyBytes: (count) => {
          progress += count;
        },
        idleTimeoutInMs: 30_000,
        signal: new AbortController().signal,
      });
      assert.equal(response.statusCode, 201);
    } finally {
      body.destroy();
    }
    assert.equal(sha256(Buffer.concat(received)), sha256(content.subarray(start, end)), `${start}-${end}`);
    assert.equal(progress, end - start);
    assert.ok(body.buffersMade <= 2, `${body.buffersMade} buffers for ${end - start} bytes`);
  }
});

test('a file shorter than the range fails the request with LocalFileChanged; destroy ends a waiting next', async () => {
  const body = new FileRangePieces(file, content.length - 10, content.length + 10);
  assert.equal((await body.next())?.length, 10);
  await assert.rejects(body.next(), { code: 'LocalFileChanged' });
  const waiting = new FileRangePieces(file, 0, 3 * piece);
  const first = await waiting.next();
  const second = await waiting.next();
  assert.ok(first && second, 'two pieces, both buffers in use');
  const third = waiting.next(); // waits for a released buffer
  await sleep(20);
  waiting.destroy();
  assert.equal(await third, null);
});

test('hashFileRange hashes exactly the range, in one buffer; a file that ends first gives a smaller size', async () => {
  const whole = { sizeInBytes: content.length, sha256: sha256(content) };
  assert.deepEqual(await hashFileRange(file, 0, content.length), whole);
  assert.deepEqual(await hashFileRange(file, 5, piece + 9), {
    sizeInBytes: piece + 4,
    sha256: sha256(content.subarray(5, piece + 9)),
  });
  assert.deepEqual(await hashFileRange(file, 0, 0), { sizeInBytes: 0, sha256: sha256(Buffer.alloc(0)) });
  assert.deepEqual(await hashFileRange(file, 0, content.length + 1), whole);
});

test('FileRangePieces reads with O_DIRECT on the disk, through the page cache on tmpfs or when told not to: the same bytes; no descriptor left open', async () => {
  const { readdirSync, mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  const shm = mkdtempSync(join('/dev/shm', 'nw-upload-context-'));
  try {
    writeFileSync(join(shm, 'f'), content);
    const shmFile = await open(join(shm, 'f'), 'r');
    try {
      const fdsBefore = openFds();
      for (const [where, handle, tryDirect, direct] of [
        ['disk', file, true, true],
        ['disk', file, false, false],
        ['tmpfs', shmFile, true, false],
      ] as const)
        for (const [start, end] of [
          [0, content.length],
          [piece - 7, 5 * piece + 3],
          [100, 200],
          [4095, 4097],
        ] as const) {
          const body = new FileRangePieces(handle, start, end, undefined, { tryDirect });
          try {
            const response = await sendHttpRequest(`http://127.0.0.1:${port}/`, {
              method: 'PUT',
              headers: { 'content-length': String(end - start) },
              body,
              idleTimeoutInMs: 30_000,
              signal: new AbortController().signal,
            });
            assert.equal(response.statusCode, 201);
          } finally {
            body.destroy();
          }
          const label = `${where} ${tryDirect} ${start}-${end}`;
          assert.equal(sha256(Buffer.concat(received)), sha256(content.subarray(start, end)), label);
          assert.equal(body.directReads > 0, direct, label);
          assert.ok(body.buffersMade <= 2, label);
        }
      // Destroyed with a read in flight: its descriptor is closed once that read ends.
      const abandoned = new FileRangePieces(file, 0, content.length);
      const inFlight = abandoned.next();
      // Microtasks only, until its read is submitted: that read cannot end before the next turn.
      const state = abandoned as unknown as { reading: boolean };
      for (let i = 0; i < 100 && !state.reading; i++) await Promise.resolve();
      assert.equal(state.reading, true, 'the read is in flight');
      abandoned.destroy();
      assert.ok((await inFlight) !== null);
      assert.equal(await abandoned.next(), null);
      assert.equal(abandoned.directReads, 1);
      assert.equal(openFds(), fdsBefore, 'every O_DIRECT descriptor closed');
    } finally {
      await shmFile.close();
    }
  } finally {
    rmSync(shm, { recursive: true, force: true });
  }
});
