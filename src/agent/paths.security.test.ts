/**
 * Issue 9 point 3: files on hosts cannot escape. Every test plants a symbolic link (or has a
 * malicious server name a path) that would make the root agent create, truncate or delete a file
 * outside its folders, and checks that the file outside is untouched. No tcpdump runs: the agent
 * is pointed at a tcpdump that does not exist, so a capture that gets as far as starting fails
 * right after its file was opened — which is the moment an escape would happen.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../lib/index.js';
import type { AgentCaptureOrder, AgentToServer } from '../model/index.js';
import { CaptureManager } from './capture-manager.js';

const base = mkdtempSync(join(tmpdir(), 'nw-paths-sec-'));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;

/** A fresh agent layout: data folder, capture root and a folder outside both. */
function layout() {
  const dir = join(base, `t${++counter}`);
  const dataDir = join(dir, 'data');
  const captureRoot = join(dir, 'captures');
  const outside = join(dir, 'outside');
  for (const d of [dataDir, captureRoot, outside]) mkdirSync(d, { recursive: true });
  return { dataDir, captureRoot, outside };
}

function manager(dataDir: string, captureRoot: string, sent: AgentToServer[] = []): CaptureManager {
  return new CaptureManager({
    dataDir,
    captureRoot,
    interfaceName: 'lo',
    tcpdumpPath: '/nonexistent/tcpdump',
    uploadRetryBudgetInMs: 1_000,
    uploadRetryIntervalInMs: 60_000,
    send: (msg) => {
      sent.push(msg);
      return true;
    },
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
}

function order(uid: string, localFilePath: string | null): AgentCaptureOrder {
  return {
    captureUid: uid,
    captureName: `c-${uid}`,
    bpfExpression: '',
    snapLengthInBytes: 0,
    totalBytesLimit: 1_000_000,
    timeLimitInSeconds: 5,
    localFilePath,
    upload: false,
  };
}

/** A pcap header plus half a record: what recovery would cut to 24 bytes. */
const victimBytes = Buffer.concat([
  Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'),
  Buffer.alloc(10, 7),
]);

async function settle(): Promise<void> {
  await sleep(300);
}

test('a dangling link at the capture file name does not make the agent create a file outside', async () => {
  const { dataDir, captureRoot, outside } = layout();
  symlinkSync(join(outside, 'planted.cap'), join(captureRoot, 'x.cap'));
  const sent: AgentToServer[] = [];
  const m = manager(dataDir, captureRoot, sent);
  m.handle({ type: 'capture.start', order: order('u1', join(captureRoot, 'x.cap')) });
  await settle();
  await m.close();
  assert.equal(existsSync(join(outside, 'planted.cap')), false, 'nothing was created through the link');
  const last = sent.filter((s) => s.type === 'capture.state').at(-1);
  assert.ok(last && last.type === 'capture.state' && last.state.errors.includes('LocalFileFailed'));
});

test('a spool folder replaced by a link does not make the agent write outside its data folder', async () => {
  const { dataDir, captureRoot, outside } = layout();
  const m = manager(dataDir, captureRoot);
  // Replaced while the agent runs (a link there at start makes the agent refuse to start).
  rmSync(join(dataDir, 'spool'), { recursive: true });
  symlinkSync(outside, join(dataDir, 'spool'));
  m.handle({ type: 'capture.start', order: order('u2', null) });
  await settle();
  await m.close();
  assert.equal(existsSync(join(outside, 'u2.cap')), false);
});

test('recovering an interrupted capture never truncates a file a link points to', async () => {
  const { dataDir, captureRoot, outside } = layout();
  const victim = join(outside, 'victim.cap');
  writeFileSync(victim, victimBytes);
  symlinkSync(victim, join(captureRoot, 'r.cap'));
  mkdirSync(join(dataDir, 'captures'), { recursive: true });
  const state = {
    captureUid: 'u3',
    status: 'Running',
    captureStartTime: null,
    stopReason: null,
    errors: [],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 0,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: null,
    sequence: 2,
  };
  writeFileSync(
    join(dataDir, 'captures', 'u3.json'),
    JSON.stringify({ order: order('u3', join(captureRoot, 'r.cap')), state, spooled: false }),
  );
  const m = manager(dataDir, captureRoot);
  await m.recoverInterrupted();
  await m.close();
  assert.deepEqual(readFileSync(victim), victimBytes, 'the file outside is as it was');
});

test("deleting a capture's files never deletes through a folder replaced by a link", async () => {
  const { dataDir, captureRoot, outside } = layout();
  const victim = join(outside, 'd.cap');
  writeFileSync(victim, victimBytes);
  symlinkSync(outside, join(captureRoot, 'sub'));
  mkdirSync(join(dataDir, 'captures'), { recursive: true });
  const path = join(captureRoot, 'sub', 'd.cap');
  const state = {
    captureUid: 'u4',
    status: 'Stopped',
    captureStartTime: null,
    stopReason: 'Manual',
    errors: [],
    errorMessage: null,
    packetsCaptured: 1,
    bytesCaptured: 34,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: { path, sizeInBytes: 34, sha256: 'x', stored: false },
    sequence: 2,
  };
  writeFileSync(
    join(dataDir, 'captures', 'u4.json'),
    JSON.stringify({ order: order('u4', path), state, spooled: false }),
  );
  const m = manager(dataDir, captureRoot);
  m.handle({ type: 'capture.forget', captureUid: 'u4', deleteFiles: true });
  await m.close();
  assert.ok(existsSync(victim), 'the file outside is still there');
});

test('a malicious server cannot name a capture so that its spool file lands outside the data folder', async () => {
  const { dataDir, captureRoot, outside } = layout();
  const uid = `../../outside/evil`;
  const m = manager(dataDir, captureRoot);
  try {
    m.handle({ type: 'capture.start', order: order(uid, null) });
  } catch {
    /* refusing by throwing is fine too */
  }
  await settle();
  await m.close();
  assert.equal(existsSync(join(outside, 'evil.cap')), false, 'no spool file outside');
  assert.equal(existsSync(join(outside, 'evil.json')), false, 'no state file outside');
});
