import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../lib/index.js';
import { CaptureManager } from './capture-manager.js';

const base = mkdtempSync(join(tmpdir(), 'nw-manager-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('the spool file of a capture deleted before its upload is removed (issue 9 point 12)', async () => {
  const dataDir = join(base, 'data');
  mkdirSync(join(dataDir, 'captures'), { recursive: true });
  mkdirSync(join(dataDir, 'spool'), { recursive: true });
  const spoolFile = join(dataDir, 'spool', 'u1.cap');
  writeFileSync(spoolFile, Buffer.alloc(24));
  const order = {
    captureUid: 'u1',
    captureName: 'c',
    bpfExpression: '',
    snapLengthInBytes: 0,
    totalBytesLimit: 1000,
    timeLimitInSeconds: 5,
    localFilePath: null,
    upload: true,
  };
  const state = {
    captureUid: 'u1',
    status: 'Stopped',
    captureStartTime: null,
    stopReason: 'Manual',
    errors: ['StorageFailed'],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 24,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: { path: spoolFile, sizeInBytes: 24, sha256: 'x', stored: false },
    sequence: 3,
  };
  writeFileSync(join(dataDir, 'captures', 'u1.json'), JSON.stringify({ order, state, spooled: true }));
  const manager = new CaptureManager({
    dataDir,
    captureRoot: join(base, 'captures'),
    interfaceName: 'lo',
    uploadRetryBudgetInMs: 1_000,
    uploadRetryIntervalInMs: 60_000,
    send: () => false,
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
  // What the server says when a host reports on a capture that was deleted while it was away.
  manager.handle({ type: 'capture.forget', captureUid: 'u1', deleteFiles: false });
  await manager.close();
  assert.equal(existsSync(spoolFile), false, 'the spool file is gone');
  assert.equal(existsSync(join(dataDir, 'captures', 'u1.json')), false, 'and so is its record');
});
