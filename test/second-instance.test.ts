/**
 * Issue 12 point 1 / issue 9 point 8: one process per data folder. A second `nw server` or
 * `nw up` on a folder in use refuses at once, naming the running one, and never opens its
 * database; a port in use is a clear error and a non-zero exit, never a hang; a lock left by a
 * killed server does not stop the next start. Real processes, on loopback.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NW_BIN, REPO_ROOT, runCommand, stopProcess } from './lab/lab.js';

describe('a second instance', { timeout: 120_000 }, () => {
  const home = mkdtempSync(join(tmpdir(), 'nw-second-'));
  const dataDir = join(home, 'data');
  const env = {
    ...process.env,
    HOME: home,
    PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}`,
  } as NodeJS.ProcessEnv;
  delete env.NW_CONFIG;
  delete env.NW_DATABASE_URL;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) await stopProcess(c);
    rmSync(home, { recursive: true, force: true });
  });

  const startFirst = async (): Promise<{ child: ChildProcess; url: string }> => {
    const child = spawn(
      process.execPath,
      [NW_BIN, 'server', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const url = /listening on (http\S+)/.exec(out)?.[1];
      if (url) return { child, url };
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`first server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Files of the database folder with their modification times: a second instance must leave them alone. */
  const databaseState = () =>
    readdirSync(join(dataDir, 'db'), { recursive: true })
      .map(String)
      .sort()
      .map((f) => `${f}@${statSync(join(dataDir, 'db', f)).mtimeMs}`)
      .join('\n');

  test('nw server and nw up on a data folder in use refuse at once, naming the running one; its database stays untouched', async () => {
    const first = await startFirst();
    const before = databaseState();
    for (const args of [
      ['server', '--listen', '127.0.0.1:0'],
      ['up', '--listen', '127.0.0.1:0', '--interface', 'lo'],
    ]) {
      const started = Date.now();
      const second = await runCommand(process.execPath, [NW_BIN, ...args, '--data-dir', dataDir], {
        env,
        timeoutInMs: 30_000,
      });
      assert.notEqual(second.code, 0, `${args[0]}: ${second.stdout}${second.stderr}`);
      assert.match(
        second.stderr,
        new RegExp(
          `netwatcher is already running on this data folder \\(pid ${first.child.pid}, URL ${first.url.replace(/\./g, '\\.')}\\)`,
        ),
        args[0],
      );
      assert.ok(Date.now() - started < 15_000, `${args[0]} refused at once`);
    }
    assert.equal(databaseState(), before, 'the live database was not opened');
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first one still answers');

    // A port in use (another data folder): a clear error and a non-zero exit, never a hang.
    const port = new URL(first.url).port;
    const started = Date.now();
    const busy = await runCommand(
      process.execPath,
      [NW_BIN, 'server', '--listen', `127.0.0.1:${port}`, '--data-dir', join(home, 'other')],
      { env, timeoutInMs: 30_000 },
    );
    assert.notEqual(busy.code, null, 'it exited (no hang)');
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.ok(Date.now() - started < 20_000);
    const busyUp = await runCommand(
      process.execPath,
      [NW_BIN, 'up', '--listen', `127.0.0.1:${port}`, '--data-dir', join(home, 'other-up'), '--interface', 'lo'],
      { env, timeoutInMs: 30_000 },
    );
    assert.notEqual(busyUp.code, null, 'nw up exited (no hang)');
    assert.notEqual(busyUp.code, 0);
    assert.match(busyUp.stderr, /is already in use/);

    // kill -9 leaves the lock file behind; the next start sees its process is gone and takes over.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const again = await startFirst();
    assert.equal((await fetch(`${again.url}/healthz`)).status, 200);
  });
});
