/**
 * The newcomer's first hour (issue 12), as README.md writes it: the Quick start's two commands,
 * then the tour's commands extracted from the README (so this test breaks when the README
 * drifts), run as written with their placeholders filled — first on "this host" (a network
 * namespace with a fresh home folder, running what install.sh ends with: `nw up`), with a second
 * agent on the same machine, then with `nw up` reachable from a second host (another namespace
 * on a bridge) whose agent runs the printed install command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapBuffer } from '../src/pcap/index.js';
import { vmNameFromHostname } from '../src/cli/commands/up.js';
import { Lab, NW_BIN, REPO_ROOT, stopProcess, type LabHost } from './lab/lab.js';
import type { TestNamespace } from '../src/capture/testing/index.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The text of a `## ` section of the README. */
function section(title: string): string {
  const start = README.indexOf(`## ${title}`);
  assert.ok(start >= 0, `README has a section '${title}'`);
  const end = README.indexOf('\n## ', start + 3);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The ```sh blocks of a text, each as its command lines (continuations joined, comments and blanks dropped). */
function shellBlocks(text: string): string[][] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => {
    const joined = m[1]!.replace(/\\\n\s*/g, '');
    return joined
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !l.startsWith('#'));
  });
}

/** Words of a command line as a POSIX shell splits the quoting the README uses ("…" with \" inside, '…'). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        current += line[i];
      }
    } else if (c === "'") {
      inWord = true;
      for (i++; i < line.length && line[i] !== "'"; i++) current += line[i];
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

describe('the newcomer path of README.md', { timeout: 420_000 }, () => {
  let lab: Lab;
  let web2: LabHost;
  const home = mkdtempSync(join(tmpdir(), 'nw-newcomer-'));
  const rg = `nwnew${process.pid}`;
  const myHost = vmNameFromHostname(hostname());
  const placeholders: Record<string, string> = { MYHOST: myHost, myRG: rg, HOST: '10.0.0.1' };
  const processes: ChildProcess[] = [];
  const agentDirs: string[] = [];
  let up: { child: ChildProcess; output: () => string } | null = null;

  const fill = (word: string) => word.replace(/\bMYHOST\b|\bmyRG\b|\bHOST\b/g, (p) => placeholders[p]!);
  const envArgs = () => ['-C', home, `HOME=${home}`, `PATH=${join(REPO_ROOT, 'bin')}:${process.env.PATH}`];
  /** A README command line, run on "this host" as the newcomer would (in their home folder). */
  const run = async (line: string) => {
    const words = shellWords(line).map(fill);
    assert.equal(words[0], 'nw', line);
    const r = await lab.srv.exec('env', [...envArgs(), process.execPath, NW_BIN, ...words.slice(1)], {
      timeoutInMs: 120_000,
    });
    assert.equal(r.exitCode, 0, `${words.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const spawnOn = (ns: TestNamespace, words: string[]) => {
    let out = '';
    const child = ns.spawn('env', [...envArgs(), process.execPath, NW_BIN, ...words.slice(1)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    processes.push(child);
    return { child, output: () => out };
  };
  const startUp = async (words: string[]) => {
    const started = spawnOn(lab.srv, words);
    const deadline = Date.now() + 120_000;
    while (!/^ready$/m.test(started.output())) {
      if (started.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${words.join(' ')} did not get ready:\n${started.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return started;
  };
  /** Runs the install command `vm extension set` printed, on a host, and waits for its agent. */
  const install = async (setOutput: string, ns: TestNamespace, vmName: string) => {
    const installCommand = String((JSON.parse(setOutput) as { installCommand?: unknown }).installCommand);
    const words = shellWords(installCommand);
    assert.deepEqual(words.slice(0, 2), ['nw', 'agent']);
    agentDirs.push(words[words.indexOf('--data-dir') + 1]!);
    const agent = spawnOn(ns, words);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const vm = JSON.parse(await run(`nw vm show --resource-group ${rg} --name ${vmName}`)) as {
        netwatcher?: { agentConnected?: boolean };
      };
      if (vm.netwatcher?.agentConnected === true) return agent;
      if (agent.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`agent of ${vmName} did not connect:\n${agent.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const assertPcap = (file: string) =>
    assert.ok(Array.isArray(readPcapBuffer(readFileSync(join(home, file))).records), file);

  before(async () => {
    lab = await Lab.create();
    web2 = await lab.addHost('web2', ['10.0.0.5/24']);
    await lab.srv.exec('ip', ['link', 'set', 'lo', 'up']);
  });
  after(async () => {
    for (const p of processes) await stopProcess(p);
    await lab?.destroy();
    for (const d of agentDirs) rmSync(d, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  test('the Quick start is two commands, and install.sh ends by running nw up', () => {
    const [quick] = shellBlocks(section('Quick start'));
    assert.deepEqual(
      quick!.map((l) => l.replace(/\s+#\s.*$/, '')),
      ['bash install.sh', 'bash test.sh'],
    );
    const install = readFileSync(join(REPO_ROOT, 'install.sh'), 'utf8').trim().split('\n');
    assert.equal(install[install.length - 1], 'exec ./bin/nw.js up "$@"');
  });

  test('the tour on this host, a second agent on this machine, then a second host', async () => {
    // The tour's first four blocks (seed 002's alert commands follow; test/alerts-* cover them).
    const blocks = shellBlocks(section('A tour')).slice(0, 4);
    assert.match(
      blocks[3]?.[0] ?? '',
      /vm-name web2/,
      'this host, a second agent, nw up for other hosts, the second host',
    );
    const [thisHost, secondAgent, reachable, secondHost] = blocks as [string[], string[], string[], string[]];

    // What install.sh ends with.
    up = await startUp(['nw', 'up']);
    assert.match(up.output(), new RegExp(`as VM ${myHost} in resource group netwatcher-local`));
    for (const line of thisHost) await run(line);
    assertPcap('capture.cap');

    // A second agent on this machine: the printed install command, run here.
    const [set1, ...rest1] = secondAgent;
    assert.match(set1!, /^nw vm extension set /);
    const web1Agent = await install(await run(set1!), lab.srv, 'web1');
    for (const line of rest1) await run(line);
    assertPcap('web1.cap');
    await stopProcess(web1Agent.child);

    // nw up reachable from other hosts.
    assert.equal(reachable.length, 1);
    up.child.kill('SIGINT');
    await new Promise((r) => up!.child.once('exit', r));
    up = await startUp(shellWords(reachable[0]!).map(fill));
    assert.match(up.output(), /TLS: made a self-signed certificate/);
    assert.match(up.output(), /Other hosts reach it at https:\/\/10\.0\.0\.1:8817/);

    const [set2, ...rest2] = secondHost;
    const setOutput = await run(set2!);
    assert.match(
      String(JSON.parse(setOutput).installCommand),
      /^nw agent --server https:\/\/10\.0\.0\.1:8817 .*--ca-sha256 [0-9a-f]{64}/,
    );
    await install(setOutput, web2.ns, 'web2');
    for (const line of rest2) await run(line);
    assertPcap('web2.cap');
  });
});
