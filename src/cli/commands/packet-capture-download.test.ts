import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadError } from '../errors.js';
import {
  createTestContext,
  installCannedWorld,
  startCannedArmServer,
  TEST_SUB,
  WORLD,
  type CannedArmServer,
} from '../testing/canned-arm-server.js';
import { formatBytes, packetCaptureDownload } from './packet-capture-download.js';

const WATCHER = `${TEST_SUB}/resourceGroups/${WORLD.watcherGroup}/providers/Microsoft.Network/networkWatchers/${WORLD.watcherName}`;

describe('packet-capture download', () => {
  let server: CannedArmServer;
  let dir: string;
  // A pcap global header followed by random bytes: 200 KiB, enough for several chunks.
  const file = Buffer.concat([
    Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'),
    randomBytes(200 * 1024),
  ]);
  const sha256 = createHash('sha256').update(file).digest('hex');

  before(async () => {
    server = await startCannedArmServer();
    installCannedWorld(server);
    dir = await mkdtemp(join(tmpdir(), 'nw-cli-download-'));
    server.on('GET', `${WATCHER}/packetCaptures/good/download`, (req) => {
      const instance = req.query.get('instance');
      const bytes = instance ? Buffer.from(`instance ${instance}`) : file;
      return {
        status: 200,
        headers: {
          'content-type': 'application/vnd.tcpdump.pcap',
          'x-nw-content-sha256': createHash('sha256').update(bytes).digest('hex'),
        },
        raw: bytes,
      };
    });
    server.on('GET', `${WATCHER}/packetCaptures/corrupt/download`, {
      status: 200,
      headers: { 'x-nw-content-sha256': '0'.repeat(64) },
      raw: file,
    });
    server.on('GET', `${WATCHER}/packetCaptures/unsigned/download`, { status: 200, raw: Buffer.from('abc') });
    server.on('GET', `${WATCHER}/packetCaptures/running/download`, {
      status: 409,
      body: { error: { code: 'FileNotAvailable', message: "Capture 'running' has no file yet." } },
    });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('writes the file (mode 0600), verifies its SHA-256 and prints what it wrote', async () => {
    const ctx = createTestContext(server.url);
    const target = join(dir, 'good.cap');
    const result = await packetCaptureDownload({ name: 'good', location: WORLD.location, file: target }, ctx);
    assert.deepEqual(result, { file: target, sizeInBytes: file.length, sha256, verified: true });
    assert.ok((await readFile(target)).equals(file));
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(ctx.stdout()), { file: target, sha256, sizeInBytes: file.length, verified: true });
    assert.equal(ctx.stderr(), '', 'no progress when stderr is not a terminal');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.part')),
      [],
    );
  });

  test('refuses to overwrite without --force, overwrites with it', async () => {
    const target = join(dir, 'exists.cap');
    await writeFile(target, 'old');
    await assert.rejects(
      packetCaptureDownload({ name: 'good', location: WORLD.location, file: target }, createTestContext(server.url)),
      DownloadError,
    );
    assert.equal(await readFile(target, 'utf8'), 'old');
    await packetCaptureDownload(
      { name: 'good', location: WORLD.location, file: target, force: true },
      createTestContext(server.url),
    );
    assert.ok((await readFile(target)).equals(file));
  });

  test('a checksum mismatch fails and leaves no file behind', async () => {
    const target = join(dir, 'corrupt.cap');
    await assert.rejects(
      packetCaptureDownload({ name: 'corrupt', location: WORLD.location, file: target }, createTestContext(server.url)),
      /does not match/,
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('corrupt')),
      [],
    );
  });

  test('no checksum header: the file is kept, with a warning and verified false', async () => {
    const ctx = createTestContext(server.url);
    const result = await packetCaptureDownload(
      { name: 'unsigned', location: WORLD.location, file: join(dir, 'unsigned.cap') },
      ctx,
    );
    assert.equal(result.verified, false);
    assert.match(ctx.stderr(), /^WARNING: the server sent no x-nw-content-sha256 header/);
  });

  test('--instance is sent as ?instance= and names the default file', async () => {
    const ctx = createTestContext(server.url);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const result = await packetCaptureDownload({ name: 'good', location: WORLD.location, instance: 'vmss_1' }, ctx);
      assert.equal(result.file, join(dir, 'good_vmss_1.cap'));
      assert.equal(await readFile(result.file, 'utf8'), 'instance vmss_1');
    } finally {
      process.chdir(cwd);
    }
  });

  test('--progress writes progress lines on stderr', async () => {
    const ctx = createTestContext(server.url);
    await packetCaptureDownload(
      { name: 'good', location: WORLD.location, file: join(dir, 'progress.cap'), progress: true, output: 'none' },
      ctx,
    );
    assert.match(ctx.stderr(), /Downloading progress\.cap: 200\.0 KiB of 200\.0 KiB \(100%\)\n$/);
    assert.equal(ctx.stdout(), '');
  });

  test('an API error (no file yet) is an ApiResponseError and creates nothing', async () => {
    const target = join(dir, 'running.cap');
    await assert.rejects(
      packetCaptureDownload({ name: 'running', location: WORLD.location, file: target }, createTestContext(server.url)),
      /Capture 'running' has no file yet/,
    );
    await assert.rejects(stat(target));
  });

  test('formatBytes', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MiB');
  });
});
