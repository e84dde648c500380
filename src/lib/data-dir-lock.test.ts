import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { assertDataDirFree, DATA_DIR_LOCK_FILE, DataDirInUseError, lockDataDir } from './data-dir-lock.js';
import { processIdentity } from './process-identity.js';

test('a held folder refuses a second lock, naming the holder; release frees it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-lock-'));
  try {
    const lock = lockDataDir(dir);
    lock.setUrl('http://127.0.0.1:8817');
    assert.throws(
      () => lockDataDir(dir),
      (e: unknown) =>
        e instanceof DataDirInUseError &&
        e.holder.pid === process.pid &&
        e.message.includes(`already running on this data folder (pid ${process.pid}, URL http://127.0.0.1:8817)`),
    );
    assert.throws(() => assertDataDirFree(dir), DataDirInUseError);
    lock.release();
    assert.equal(existsSync(join(dir, DATA_DIR_LOCK_FILE)), false);
    assertDataDirFree(dir);
    lockDataDir(dir).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a live process of another PID holds it; once it is gone (or its PID names another process) the lock is stale and taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-lock-'));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await once(child, 'spawn');
    const identity = processIdentity(child.pid!)!;
    const path = join(dir, DATA_DIR_LOCK_FILE);
    writeFileSync(
      path,
      JSON.stringify({
        pid: identity.pid,
        startTicks: identity.startTicks,
        url: 'http://127.0.0.1:1',
        startedAt: new Date().toISOString(),
      }),
    );
    assert.throws(
      () => lockDataDir(dir),
      (e: unknown) => e instanceof DataDirInUseError && e.holder.pid === child.pid,
    );
    // Same PID, other start time: a reused PID, not the holder.
    writeFileSync(
      path,
      JSON.stringify({ pid: identity.pid, startTicks: '1', url: null, startedAt: new Date().toISOString() }),
    );
    lockDataDir(dir).release();
    writeFileSync(
      path,
      JSON.stringify({
        pid: identity.pid,
        startTicks: identity.startTicks,
        url: null,
        startedAt: new Date().toISOString(),
      }),
    );
    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = lockDataDir(dir);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
    lock.release();
    // A garbled file (a crash mid-write of an older version, a stray edit) is stale too.
    writeFileSync(path, '{not json');
    lockDataDir(dir).release();
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
