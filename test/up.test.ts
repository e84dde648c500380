/**
 * `nw up` as a newcomer runs it: on a host (a fresh network namespace, so its loopback and
 * captures are its own), with a fresh home folder. It must print its progress and URL, configure
 * the CLI so the next `nw` command just works, capture on this host, stop cleanly on Ctrl-C, and
 * keep every resource when started again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createNamespace, type TestNamespace } from '../src/capture/testing/index.js';
import { readPcapBuffer } from '../src/pcap/index.js';
import { NW_BIN, REPO_ROOT, stopProcess } from './lab/lab.js';

describe('nw up', { timeout: 180_000 }, () => {
  let ns: TestNamespace;
  const home = mkdtempSync(join(tmpdir(), 'nw-up-home-'));
  const dataDir = join(home, '.netwatcher');
  const env = {
    ...process.env,
    HOME: home,
    PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}`,
  } as NodeJS.ProcessEnv;
  delete env.NW_CONFIG;
  const captureFile = `/var/captures/nwtest-up-${process.pid}.cap`;
  let upProcess: ChildProcess | null = null;

  const nw = async (args: string[]) => {
    const r = await ns.exec('env', [`HOME=${home}`, `PATH=${env.PATH}`, process.execPath, NW_BIN, ...args], {
      timeoutInMs: 60_000,
    });
    return r;
  };
  const nwJson = async <T = Record<string, unknown>>(args: string[]): Promise<T> => {
    const r = await nw(args);
    assert.equal(r.exitCode, 0, `nw ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const startUp = async (): Promise<{ child: ChildProcess; output: () => string }> => {
    const child = ns.spawn(
      'env',
      [
        `HOME=${home}`,
        `PATH=${env.PATH}`,
        process.execPath,
        NW_BIN,
        'up',
        '--vm-name',
        'devbox',
        '--listen',
        '127.0.0.1:8817',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const deadline = Date.now() + 60_000;
    while (!out.includes('ready')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nw up did not get ready:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, output: () => out };
  };

  before(async () => {
    ns = await createNamespace({ prefix: 'nwup' });
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
  });
  after(async () => {
    await stopProcess(upProcess);
    await ns?.destroy();
    rmSync(home, { recursive: true, force: true });
    rmSync(captureFile, { force: true });
  });

  test('first run: progress, URL, CLI configured, a capture on this host', async () => {
    const { child, output } = await startUp();
    upProcess = child;
    const out = output();
    assert.match(out, /starting server/);
    assert.match(out, /starting agent/);
    assert.match(out, /http:\/\/127\.0\.0\.1:8817/);
    const config = JSON.parse(readFileSync(join(home, '.config', 'netwatcher', 'config.json'), 'utf8')) as {
      server: string;
      token: string;
    };
    assert.equal(config.server, 'http://127.0.0.1:8817');
    assert.equal(statSync(join(home, '.config', 'netwatcher', 'config.json')).mode & 0o077, 0, 'config is private');

    const accounts = await nwJson<Array<{ name: string }>>(['storage', 'account', 'list']);
    assert.ok(accounts.some((a) => a.name === 'nwlocal'));
    const vm = await nwJson<{ name: string }>([
      'vm',
      'show',
      '--resource-group',
      'netwatcher-local',
      '--name',
      'devbox',
    ]);
    assert.equal(vm.name, 'devbox');
    await nwJson([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '--resource-group',
      'netwatcher-local',
      '--vm',
      'devbox',
      '--name',
      'first',
      '--file-path',
      captureFile,
      '--storage-account',
      'nwlocal',
      '--time-limit',
      '2',
    ]);
    await ns.exec('ping', ['-c', '3', '-i', '0.2', '127.0.0.1']);
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 100 && status.packetCaptureStatus !== 'Stopped'; i++) {
      status = await nwJson([
        'network',
        'watcher',
        'packet-capture',
        'show-status',
        '--name',
        'first',
        '--location',
        'local',
      ]);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status.stopReason, 'TimeExceeded');
    assert.ok(existsSync(captureFile), 'the file is also kept on the host at filePath');
    const out2 = join(home, 'first.cap');
    let download = await nw([
      'network',
      'watcher',
      'packet-capture',
      'download',
      '--name',
      'first',
      '--location',
      'local',
      '--file',
      out2,
    ]);
    for (let i = 0; i < 50 && download.exitCode !== 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      download = await nw([
        'network',
        'watcher',
        'packet-capture',
        'download',
        '--name',
        'first',
        '--location',
        'local',
        '--file',
        out2,
      ]);
    }
    assert.equal(download.exitCode, 0, download.stderr);
    const file = readPcapBuffer(readFileSync(out2));
    assert.ok(file.records.length >= 6, `${file.records.length} packets (3 pings and replies on loopback)`);
    assert.deepEqual(readFileSync(out2), readFileSync(captureFile), 'the stored file is the host file');

    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 0, `nw up exits cleanly on Ctrl-C:\n${output()}`);
    assert.match(output(), /stopped/);
    upProcess = null;
  });

  test('second run keeps every resource and reuses the agent credential', async () => {
    const { child, output } = await startUp();
    upProcess = child;
    assert.match(output(), /enrolled earlier/);
    const list = await nwJson<Array<{ name: string }>>([
      'network',
      'watcher',
      'packet-capture',
      'list',
      '--location',
      'local',
    ]);
    assert.deepEqual(
      list.map((c) => c.name),
      ['first'],
    );
    // The banner's suggested capture must not be one that exists already (issue 12 point 7).
    assert.match(output(), /packet-capture create .*--name first-2 /);
    assert.doesNotMatch(output(), /--name first /);
    const vm = await nwJson<
      { properties?: unknown; netwatcher?: { agentConnected: boolean } } & Record<string, unknown>
    >(['vm', 'show', '--resource-group', 'netwatcher-local', '--name', 'devbox']);
    assert.match(JSON.stringify(vm), /"agentConnected":\s*true/);
    child.kill('SIGINT');
    assert.equal(await new Promise((resolve) => child.once('exit', (c) => resolve(c))), 0);
    upProcess = null;
  });
});
