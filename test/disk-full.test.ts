/**
 * Issue 9 point 7, agent side: a full disk under the capture root or under the agent's data
 * folder (where spooled files wait for upload) ends the capture as Error / LocalFileFailed with a
 * valid pcap cut at the last complete record; the agent and the server keep running, report it,
 * and take the next capture. The agent runs with small tmpfs folders over /var/captures and its
 * data folder in a mount namespace of its own (test/lab/with-tmpfs.ts), so nothing on the machine
 * fills up and nothing is left mounted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPcapBuffer } from '../src/pcap/index.js';
import { Lab, NW_BIN, REPO_ROOT, stopProcess, type LabAgent, type LabHost } from './lab/lab.js';

const LOC = 'westcentralus';
const WITH_TMPFS = join(REPO_ROOT, 'test', 'lab', 'with-tmpfs.ts');

describe('disk full on the agent', { timeout: 240_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let agent: LabAgent;
  let agentLog = '';
  const rg = `dfrg${process.pid}`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];

  /** Sends `count` UDP datagrams of 1,200 bytes from host a (to the server's address on the lab bridge). */
  const blast = async (count: number) => {
    const script =
      "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(1200,7);let i=0;const n=Number(process.argv[1]);(function go(){if(i++>=n){s.close();return;}s.send(b,5000,'10.0.0.1',()=>setImmediate(go));})();";
    const r = await a.ns.runNode(script, [String(count)]);
    assert.equal(r.exitCode, 0, r.stderr);
  };
  const status = (name: string) => lab.nwJson(pc('show-status', '--name', name, '--location', LOC));
  const waitEnded = async (name: string) => {
    let s: Record<string, unknown> = {};
    await lab.waitFor(
      async () => {
        s = await status(name);
        if (s.packetCaptureStatus === 'Running') await blast(200);
        return s.packetCaptureStatus === 'Stopped' || s.packetCaptureStatus === 'Error';
      },
      60_000,
      `${name} to end (last status ${JSON.stringify(s)})\n${agentLog.slice(-2000)}`,
    );
    return s;
  };
  /** Downloads a capture's file and checks it is a pcap whose records end exactly at its end. */
  const downloadValidPcap = async (name: string) => {
    const out = join(lab.workDir, `${name}.cap`);
    await lab.waitFor(
      async () =>
        (await lab.nw(pc('download', '--name', name, '--location', LOC, '--file', out, '--force'))).code === 0,
      30_000,
      `${name}'s file`,
    );
    const buf = readFileSync(out);
    const parsed = readPcapBuffer(buf);
    assert.ok(parsed.records.length > 10, `${parsed.records.length} records`);
    assert.equal(
      24 + parsed.records.reduce((n, r) => n + 16 + r.capturedLength, 0),
      buf.length,
      'cut at a record boundary: no torn last record',
    );
    return buf;
  };
  const assertAllAlive = async () => {
    assert.equal(agent.exitCode, null, `the agent is still running\n${agentLog.slice(-3000)}`);
    assert.equal((await fetch(`${lab.serverUrl}/healthz`)).ok, true, 'the server is healthy');
    await lab.waitForAgent(rg, 'vmfull');
  };

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    await lab.startServer();
    const extension = await lab.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      rg,
      '--vm-name',
      'vmfull',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const argv = String(extension.installCommand).split(/\s+/).filter(Boolean);
    const dataDir = join(lab.workDir, 'agent-data');
    argv[argv.indexOf('--data-dir') + 1] = dataDir;
    const [, ...rest] = argv;
    // 256 KiB over the capture root, 512 KiB over the data folder: a few hundred packets each.
    const child = a.ns.spawn(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        process.execPath,
        '--import',
        'tsx',
        WITH_TMPFS,
        '/var/captures=256k',
        `${dataDir}=512k`,
        '--',
        process.execPath,
        NW_BIN,
        ...rest,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => {
      agentLog += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      agentLog += d.toString();
    });
    agent = Object.assign(child, { log: () => agentLog });
    await lab.waitForAgent(rg, 'vmfull', 30_000);
  });
  after(async () => {
    await stopProcess(agent);
    await lab?.destroy();
  });

  test('a full capture root ends the capture as Error/LocalFileFailed with a valid pcap; agent and server carry on', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vmfull',
        '--name',
        'rootfull',
        '--file-path',
        `/var/captures/nwtest-${process.pid}-full.cap`,
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    await blast(400);
    const s = await waitEnded('rootfull');
    assert.equal(s.packetCaptureStatus, 'Error');
    assert.deepEqual(s.packetCaptureError, ['LocalFileFailed']);
    const buf = await downloadValidPcap('rootfull');
    assert.ok(buf.length > 128 * 1024, `the file filled the disk (${buf.length} bytes)`);
    await assertAllAlive();
  });

  test('a full data folder ends a spooled capture the same way; its file is still stored', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vmfull',
        '--name',
        'spoolfull',
        '--storage-account',
        'nwlocal',
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    await blast(600);
    const s = await waitEnded('spoolfull');
    assert.equal(s.packetCaptureStatus, 'Error');
    assert.ok((s.packetCaptureError as string[]).includes('LocalFileFailed'), JSON.stringify(s));
    await downloadValidPcap('spoolfull');
    await assertAllAlive();
  });

  test('after the spool is freed by the upload, the next capture runs and stops normally', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vmfull',
        '--name',
        'after',
        '--storage-account',
        'nwlocal',
        '--time-limit',
        '2',
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    await blast(20);
    let s: Record<string, unknown> = {};
    await lab.waitFor(
      async () => {
        s = await status('after');
        return s.packetCaptureStatus === 'Stopped' || s.packetCaptureStatus === 'Error';
      },
      30_000,
      'after to stop',
    );
    assert.equal(s.packetCaptureStatus, 'Stopped', JSON.stringify(s));
    assert.equal(s.stopReason, 'TimeExceeded');
    await assertAllAlive();
  });
});
