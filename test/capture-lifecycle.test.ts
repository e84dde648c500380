/**
 * Limits, bad input and resilience through the whole product: CLI → server → agent → tcpdump on
 * a test host. Each limit test checks the downloaded file and the stop reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPcapBuffer } from '../src/pcap/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';

const LOC = 'westcentralus';

describe('capture limits, bad input and restarts', { timeout: 300_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let agentA: { installCommand: string; agent: ChildProcess };
  const rg = `lcrg${process.pid}`;
  const responders: ChildProcess[] = [];
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  const uniqueFile = (name: string) => `/var/captures/nwtest-${process.pid}-${name}.cap`;

  /** Waits until show-status says the capture ended; returns the status. */
  const waitStopped = async (name: string, timeoutInMs = 30_000) => {
    let status: Record<string, unknown> = {};
    await lab.waitFor(
      async () => {
        status = await lab.nwJson(pc('show-status', '--name', name, '--location', LOC));
        return status.packetCaptureStatus === 'Stopped' || status.packetCaptureStatus === 'Error';
      },
      timeoutInMs,
      `${name} to stop`,
    );
    return status;
  };
  const download = async (name: string) => {
    const out = join(lab.workDir, `${name}.cap`);
    const r = await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out, '--force'));
    assert.equal(r.code, 0, r.stderr);
    return readPcapBuffer(readFileSync(out));
  };
  const udpBurst = (count: number) =>
    runFlows(
      a,
      Array.from({ length: count }, (_, i) => ({ proto: 'udp' as const, host: '10.0.0.4', port: 5000 + (i % 3) })),
    );

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    await lab.startServer();
    agentA = await lab.installAgent(a, rg, 'vma');
    responders.push(await startResponder(b, { tcp: [80], udp: [5000, 5001, 5002] }));
  });
  after(async () => {
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
    for (const f of readdirSync('/var/captures'))
      if (f.startsWith(`nwtest-${process.pid}-`)) rmSync(join('/var/captures', f), { force: true });
  });

  test('time limit: stops by itself with TimeExceeded about the limit after it really started', async () => {
    const created = await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'timed',
        '--file-path',
        uniqueFile('timed'),
        '--time-limit',
        '2',
      ),
    );
    assert.equal(created.timeLimitInSeconds, 2);
    const status = await waitStopped('timed', 20_000);
    assert.equal(status.packetCaptureStatus, 'Stopped');
    assert.equal(status.stopReason, 'TimeExceeded');
    const file = await download('timed');
    assert.ok(file.header.linkType > 0);
  });

  test('total bytes: the file never exceeds totalBytesPerSession, is a valid pcap and stops with SizeExceeded', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'sized',
        '--storage-account',
        'nwlocal',
        '--capture-limit',
        '6000',
        '--filters',
        '[{"protocol":"UDP","remotePort":"5000-5002"}]',
      ),
    );
    for (let i = 0; i < 5; i++) {
      await udpBurst(20);
      const s = await lab.nwJson(pc('show-status', '--name', 'sized', '--location', LOC));
      if (s.packetCaptureStatus === 'Stopped') break;
    }
    const status = await waitStopped('sized');
    assert.equal(status.stopReason, 'SizeExceeded');
    const out = join(lab.workDir, 'sized.cap');
    await lab.waitFor(
      async () =>
        (await lab.nw(pc('download', '--name', 'sized', '--location', LOC, '--file', out, '--force'))).code === 0,
      20_000,
      'sized file stored',
    );
    const buf = readFileSync(out);
    assert.ok(buf.length <= 6000, `file is ${buf.length} bytes`);
    assert.ok(buf.length > 6000 - 1000, 'the file is filled up to the limit, less than one packet short');
    const parsed = readPcapBuffer(buf);
    assert.ok(parsed.records.length > 0);
    assert.equal(
      24 + parsed.records.reduce((n, r) => n + 16 + r.capturedLength, 0),
      buf.length,
      'cut at a packet boundary',
    );
  });

  test('snap length: every record is cut to bytesToCapturePerPacket', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'snapped',
        '--file-path',
        uniqueFile('snapped'),
        '--capture-size',
        '64',
        '--filters',
        '[{"protocol":"TCP","remotePort":"80"}]',
      ),
    );
    await runFlows(a, [
      { proto: 'tcp', host: '10.0.0.4', port: 80 },
      { proto: 'tcp', host: '10.0.0.4', port: 80 },
    ]);
    await sleep(300);
    assert.equal((await lab.nw(pc('stop', '--name', 'snapped', '--location', LOC))).code, 0);
    const status = await waitStopped('snapped');
    assert.equal(status.stopReason, 'Manual');
    const file = await download('snapped');
    assert.ok(file.records.length >= 6, `${file.records.length} records`);
    assert.ok(file.records.every((r) => r.capturedLength <= 64));
    assert.ok(
      file.records.some((r) => r.originalLength > 64),
      'some packets were longer than the snap length',
    );
    assert.ok(file.header.snapLength <= 64);
  });

  test('bad input is refused with a named field and changes nothing', async () => {
    const attempt = async (name: string, args: string[], expected: RegExp) => {
      const r = await lab.nw(pc('create', '--resource-group', rg, '--vm', 'vma', '--name', name, ...args));
      assert.notEqual(r.code, 0, `${args.join(' ')} must fail`);
      assert.match(r.stderr, expected, r.stderr);
    };
    await attempt('bad1', ['--file-path', '/etc/evil.cap'], /\/var\/captures/);
    await attempt('bad2', ['--file-path', '/var/captures/../etc/x.cap'], /\/var\/captures|\.\./);
    await attempt('bad3', ['--file-path', '/var/captures/x.pcapng'], /\.cap/);
    await attempt('bad4', ['--storage-account', 'nosuchaccount'], /nosuchaccount|not found/i);
    await attempt(
      'bad5',
      ['--storage-account', 'nwlocal', '--filters', '[{"localIPAddress":"10.0.0.300"}]'],
      /InvalidFilter|localIPAddress/,
    );
    await attempt('bad6', ['--storage-account', 'nwlocal', '--time-limit', '18001'], /time/i);
    const nope = await lab.nw(
      pc('create', '--resource-group', rg, '--vm', 'novm', '--name', 'bad7', '--storage-account', 'nwlocal'),
    );
    assert.notEqual(nope.code, 0);
    assert.match(nope.stderr, /novm/);
    // A name in use.
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'dup',
        '--file-path',
        uniqueFile('dup'),
        '--time-limit',
        '30',
      ),
    );
    await attempt('dup', ['--file-path', uniqueFile('dup2')], /already exists|PacketCaptureNameInUse/);
    assert.equal((await lab.nw(pc('stop', '--name', 'dup', '--location', LOC))).code, 0);
    const names = (await lab.nwJson<Array<{ name: string }>>(pc('list', '--location', LOC))).map((c) => c.name);
    for (const bad of ['bad1', 'bad2', 'bad3', 'bad4', 'bad5', 'bad6', 'bad7'])
      assert.ok(!names.includes(bad), `${bad} was not created`);
  });

  test('a VM whose agent extension was removed is refused', async () => {
    const host = await lab.addHost('c', ['10.0.0.5/24']);
    await lab.installAgent(host, rg, 'vmc');
    const del = await lab.nw([
      'vm',
      'extension',
      'delete',
      '--resource-group',
      rg,
      '--vm-name',
      'vmc',
      '--name',
      'NetworkWatcherAgentLinux',
    ]);
    assert.equal(del.code, 0, del.stderr);
    const r = await lab.nw(
      pc('create', '--resource-group', rg, '--vm', 'vmc', '--name', 'noagent', '--storage-account', 'nwlocal'),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /AgentNotInstalled|not installed/);
  });

  test('a server restart during a running capture loses nothing', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'survivor',
        '--storage-account',
        'nwlocal',
        '--time-limit',
        '6',
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    await lab.stopServer();
    await udpBurst(10);
    await sleep(6_500); // the capture ends on the host while the server is away
    await lab.startServer();
    const status = await waitStopped('survivor', 30_000);
    assert.equal(status.packetCaptureStatus, 'Stopped');
    assert.equal(status.stopReason, 'TimeExceeded');
    const extra = status.additionalProperties as { packetsCaptured: number };
    assert.ok(extra.packetsCaptured >= 10, `packets captured: ${extra.packetsCaptured}`);
    const out = join(lab.workDir, 'survivor.cap');
    await lab.waitFor(
      async () =>
        (await lab.nw(pc('download', '--name', 'survivor', '--location', LOC, '--file', out, '--force'))).code === 0,
      30_000,
      'survivor file stored',
    );
    const file = readPcapBuffer(readFileSync(out));
    assert.ok(file.records.length >= 10);
  });
  test('an agent killed in the middle of a capture: the packets written so far are kept and stored', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'killed',
        '--storage-account',
        'nwlocal',
        '--time-limit',
        '120',
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    // Enough packets that tcpdump's 4 KiB output buffer has reached the agent's file.
    await udpBurst(120);
    await lab.waitFor(
      async () => {
        const s = await lab.nwJson(pc('show-status', '--name', 'killed', '--location', LOC));
        return (s.additionalProperties as { packetsCaptured: number }).packetsCaptured >= 100;
      },
      20_000,
      'packets to reach the file',
    );
    const argvBefore = agentA.installCommand.split(/\s+/);
    const stateDir = join(argvBefore[argvBefore.indexOf('--data-dir') + 1]!, 'captures');
    const saved = readdirSync(stateDir)
      .map(
        (f) =>
          JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as {
            order: { captureName: string };
            tcpdump?: { pid: number };
          },
      )
      .find((r) => r.order.captureName === 'killed');
    const tcpdumpPid = saved?.tcpdump?.pid;
    assert.ok(tcpdumpPid, 'the agent records its tcpdump');
    agentA.agent.kill('SIGKILL');
    await new Promise((r) => agentA.agent.once('exit', r));
    assert.ok(existsSync(`/proc/${tcpdumpPid}`), 'tcpdump outlives a killed agent (it only dies when it next writes)');
    // The host comes back: the same agent, started again without a token (its saved credential).
    const argv = agentA.installCommand.split(/\s+/);
    argv.splice(argv.indexOf('--token'), 2);
    agentA = { installCommand: agentA.installCommand, agent: lab.startAgentProcess(a, argv) };
    const status = await waitStopped('killed', 30_000);
    await lab.waitFor(
      async () =>
        !existsSync(`/proc/${tcpdumpPid}`) || readFileSync(`/proc/${tcpdumpPid}/stat`, 'utf8').includes(') Z'),
      10_000,
      'the restarted agent to end the leftover tcpdump',
    );
    assert.equal(status.packetCaptureStatus, 'Error');
    assert.equal(status.stopReason, 'AgentStopped');
    assert.deepEqual(status.packetCaptureError, ['AgentStopped']);
    const out = join(lab.workDir, 'killed.cap');
    await lab.waitFor(
      async () =>
        (await lab.nw(pc('download', '--name', 'killed', '--location', LOC, '--file', out, '--force'))).code === 0,
      30_000,
      'the recovered file to be stored',
    );
    const file = readPcapBuffer(readFileSync(out));
    assert.ok(file.records.length >= 100, `${file.records.length} packets kept`);
  });

  test('past the parallel-session limit a capture is refused with a clear error', async () => {
    await lab.stopServer();
    await lab.startServer(['--session-limit', '1']);
    await lab.waitForAgent(rg, 'vma');
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'one',
        '--file-path',
        uniqueFile('one'),
        '--time-limit',
        '60',
      ),
    );
    const r = await lab.nw(
      pc('create', '--resource-group', rg, '--vm', 'vma', '--name', 'two', '--file-path', uniqueFile('two')),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SessionLimitReached/);
    assert.match(r.stderr, /limit/);
    // Stopping the first frees the session.
    assert.equal((await lab.nw(pc('stop', '--name', 'one', '--location', LOC))).code, 0);
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vma',
        '--name',
        'two',
        '--file-path',
        uniqueFile('two'),
        '--time-limit',
        '1',
      ),
    );
  });
});
