/**
 * The capture manager's lifecycle (start, progress, stop, end, upload, restart) through its
 * engine seam: a scripted engine stands in for tcpdump, so these run without root or tcpdump.
 * The real engine has its own tests (src/capture) and the end-to-end tests run both together.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CaptureOutcome,
  CaptureSession,
  CaptureSpec,
  RingCaptureSession,
  RingCaptureSpec,
  RingFile,
  RingOutcome,
} from '../capture/index.js';
import { createLogger, fileIdentityOfPath } from '../lib/index.js';
import { CAPTURE_CONTAINER, openBlobStore } from '../storage/index.js';
import { startLocalStorageServer } from '../storage/testing/index.js';
import type { AgentCaptureOrder, AgentCaptureState, AgentToServer } from '../model/index.js';
import type { CaptureEngine, EngineRingOptions } from './capture-engine.js';
import { CaptureManager, type CaptureManagerOptions } from './capture-manager.js';

const base = mkdtempSync(join(tmpdir(), 'nw-lifecycle-'));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;

/** A pcap file header (microseconds, Ethernet) and `records` records of 60 bytes. */
function pcapBytes(records: number): Buffer {
  const header = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
  const parts = [header];
  for (let i = 0; i < records; i++) {
    const rec = Buffer.alloc(16 + 60);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(60, 8);
    rec.writeUInt32LE(60, 12);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

/** A scripted single-file session: the test decides when it starts and how it ends; it writes a real pcap to the path it was given. */
class ScriptedSession implements CaptureSession {
  readonly captureId: string;
  readonly pid = null;
  readonly started: Promise<Date>;
  readonly done: Promise<CaptureOutcome>;
  stops = 0;
  packets = 0;
  private resolveStarted!: (at: Date) => void;
  private rejectStarted!: (error: Error) => void;
  private resolveDone!: (o: CaptureOutcome) => void;
  private startedAt: Date | null = null;

  constructor(readonly spec: CaptureSpec) {
    this.captureId = spec.captureId;
    this.started = new Promise((res, rej) => {
      this.resolveStarted = res;
      this.rejectStarted = rej;
    });
    this.done = new Promise((res) => {
      this.resolveDone = res;
    });
  }

  start(at = new Date()): void {
    this.startedAt = at;
    this.resolveStarted(at);
  }

  progress() {
    return { packetsCaptured: this.packets, fileSizeInBytes: 24 + this.packets * 76, startedAt: this.startedAt };
  }

  /**
   * Ends the session as tcpdump would: the file written, the outcome told, with the file's
   * identity as the engine records it after its cut. `claimedSha256` stands for a file whose
   * bytes differ from what was hashed without its identity showing it (a bit flipped on disk).
   */
  end(
    stopReason: CaptureOutcome['stopReason'],
    records: number,
    error: CaptureOutcome['error'] = null,
    claimedSha256?: string,
  ): CaptureOutcome {
    const bytes = pcapBytes(records);
    writeFileSync(this.spec.outputPath, bytes);
    const outcome: CaptureOutcome = {
      stopReason,
      startedAt: this.startedAt,
      endedAt: new Date(),
      packetsCaptured: records,
      fileSizeInBytes: bytes.length,
      sha256: claimedSha256 ?? createHash('sha256').update(bytes).digest('hex'),
      fileIdentity: fileIdentityOfPath(this.spec.outputPath),
      kernelPacketsReceived: records,
      kernelPacketsDropped: 0,
      error,
    };
    if (!this.startedAt) this.rejectStarted(new Error('never started'));
    this.resolveDone(outcome);
    return outcome;
  }

  stop(): Promise<CaptureOutcome> {
    this.stops++;
    if (this.stops === 1) this.end('Manual', this.packets);
    return this.done;
  }
}

/** A scripted ring: the test closes and deletes files. */
class ScriptedRing implements RingCaptureSession {
  readonly started: Promise<Date>;
  readonly done: Promise<RingOutcome>;
  private resolveStarted!: (at: Date) => void;
  private resolveDone!: (o: RingOutcome) => void;
  private readonly closed: RingFile[] = [];

  constructor(
    readonly spec: RingCaptureSpec,
    readonly opts: EngineRingOptions,
  ) {
    this.started = new Promise((res) => {
      this.resolveStarted = res;
    });
    this.done = new Promise((res) => {
      this.resolveDone = res;
    });
  }

  start(): void {
    this.resolveStarted(new Date());
  }

  closeFile(sequence: number, records: number): RingFile {
    const name = `ring-${String(sequence).padStart(6, '0')}.cap`;
    const path = join(this.spec.outputPath, '..', name);
    const bytes = pcapBytes(records);
    writeFileSync(path, bytes);
    const file: RingFile = {
      name,
      path,
      sequence,
      sizeInBytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      fileIdentity: fileIdentityOfPath(path),
      packetsCaptured: records,
      firstPacketTime: null,
      lastPacketTime: null,
    };
    this.closed.push(file);
    void this.opts.onFileClosed?.(file);
    return file;
  }

  deleteFile(sequence: number): void {
    const i = this.closed.findIndex((f) => f.sequence === sequence);
    const [file] = this.closed.splice(i, 1);
    rmSync(file!.path);
    void this.opts.onFileDeleted?.(file!);
  }

  files(): RingFile[] {
    return [...this.closed];
  }

  stop(): Promise<RingOutcome> {
    this.resolveDone({
      stopReason: 'Manual',
      startedAt: null,
      endedAt: new Date(),
      files: this.files(),
      filesDeleted: 0,
      error: null,
      kernelPacketsReceived: null,
      kernelPacketsDropped: null,
    });
    return this.done;
  }
}

/** An engine that hands out scripted sessions and remembers them. */
class ScriptedEngine implements CaptureEngine {
  readonly sessions: ScriptedSession[] = [];
  readonly rings: ScriptedRing[] = [];
  ringError: Error | null = null;

  startCapture(spec: CaptureSpec): CaptureSession {
    const s = new ScriptedSession(spec);
    this.sessions.push(s);
    return s;
  }

  startRingCapture(spec: RingCaptureSpec, opts: EngineRingOptions): RingCaptureSession {
    if (this.ringError) throw this.ringError;
    const r = new ScriptedRing(spec, opts);
    this.rings.push(r);
    return r;
  }
}

interface Harness {
  manager: CaptureManager;
  engine: ScriptedEngine;
  sent: AgentToServer[];
  dataDir: string;
  captureRoot: string;
  connected: { value: boolean };
}

function harness(
  overrides: Partial<CaptureManagerOptions> = {},
  dirs?: { dataDir: string; captureRoot: string },
): Harness {
  const dir = join(base, `t${++counter}`);
  const dataDir = dirs?.dataDir ?? join(dir, 'data');
  const captureRoot = dirs?.captureRoot ?? join(dir, 'captures');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(captureRoot, { recursive: true });
  const engine = new ScriptedEngine();
  const sent: AgentToServer[] = [];
  const connected = { value: true };
  const manager = new CaptureManager({
    dataDir,
    captureRoot,
    interfaceName: 'lo',
    uploadRetryBudgetInMs: 1_000,
    uploadRetryIntervalInMs: 60_000,
    send: (msg) => {
      sent.push(msg);
      return connected.value;
    },
    logger: createLogger({ name: 'test', level: 'silent' }),
    engine,
    progressIntervalInMs: 20,
    serverAnswerTimeoutInMs: 200,
    uploadRetryPauseInMs: 20,
    ...overrides,
  });
  return { manager, engine, sent, dataDir, captureRoot, connected };
}

function order(uid: string, change: Partial<AgentCaptureOrder> = {}): AgentCaptureOrder {
  return {
    captureUid: uid,
    captureName: `c-${uid}`,
    bpfExpression: 'tcp',
    snapLengthInBytes: 0,
    totalBytesLimit: 1_000_000,
    timeLimitInSeconds: 60,
    localFilePath: null,
    upload: false,
    ...change,
  };
}

function statesOf(sent: AgentToServer[], uid: string): AgentCaptureState[] {
  return sent.flatMap((m) => (m.type === 'capture.state' && m.state.captureUid === uid ? [m.state] : []));
}

async function until(what: string, check: () => boolean, timeoutInMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutInMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('a capture runs through its phases: the engine gets the order, states go NotStarted → Running → counters → Stopped with the file', async () => {
  const h = harness();
  h.manager.handle({ type: 'capture.start', order: order('u1', { snapLengthInBytes: 128, timeLimitInSeconds: 30 }) });
  assert.equal(h.engine.sessions.length, 1);
  const session = h.engine.sessions[0]!;
  assert.equal(session.spec.bpfExpression, 'tcp');
  assert.equal(session.spec.snapLengthInBytes, 128);
  assert.equal(session.spec.timeLimitInSeconds, 30);
  assert.equal(session.spec.interfaceName, 'lo');
  const at = new Date('2026-01-02T03:04:05.000Z');
  session.start(at);
  await until('Running', () => statesOf(h.sent, 'u1').some((s) => s.status === 'Running'));
  assert.equal(statesOf(h.sent, 'u1').find((s) => s.status === 'Running')!.captureStartTime, at.toISOString());
  session.packets = 7;
  await until('progress', () => statesOf(h.sent, 'u1').some((s) => s.packetsCaptured === 7));
  const outcome = session.end('TimeExceeded', 3);
  await until('Stopped', () => statesOf(h.sent, 'u1').some((s) => s.status === 'Stopped'));
  const last = statesOf(h.sent, 'u1').at(-1)!;
  assert.equal(last.stopReason, 'TimeExceeded');
  assert.deepEqual(last.errors, []);
  assert.equal(last.packetsCaptured, 3);
  assert.equal(last.file?.sizeInBytes, outcome.fileSizeInBytes);
  assert.equal(last.file?.sha256, outcome.sha256);
  assert.equal(last.file?.stored, false);
  assert.equal(
    readFileSync(last.file!.path).length,
    outcome.fileSizeInBytes,
    'the file the state names is the one written',
  );
  const sequences = statesOf(h.sent, 'u1').map((s) => s.sequence);
  assert.deepEqual(
    sequences,
    [...sequences].sort((a, b) => a - b),
    'every state has a higher sequence',
  );
  assert.equal(new Set(sequences).size, sequences.length);
  await h.manager.close();
});

test('a repeated start order re-reports the state and does not start a second session', async () => {
  const h = harness();
  h.manager.handle({ type: 'capture.start', order: order('u1') });
  h.manager.handle({ type: 'capture.start', order: order('u1') });
  assert.equal(h.engine.sessions.length, 1);
  assert.equal(statesOf(h.sent, 'u1').length, 1, 'the known state is sent again');
  await h.manager.close();
});

test('capture.stop stops the session (Manual); closing the agent ends a running one as AgentStopped', async () => {
  const h = harness();
  h.manager.handle({ type: 'capture.start', order: order('u1') });
  h.manager.handle({ type: 'capture.start', order: order('u2') });
  for (const s of h.engine.sessions) s.start();
  await until('both running', () => ['u1', 'u2'].every((u) => statesOf(h.sent, u).some((s) => s.status === 'Running')));
  h.manager.handle({ type: 'capture.stop', captureUid: 'u1' });
  await until('u1 stopped', () => statesOf(h.sent, 'u1').some((s) => s.status === 'Stopped'));
  assert.equal(statesOf(h.sent, 'u1').at(-1)!.stopReason, 'Manual');
  await h.manager.close();
  assert.equal(h.engine.sessions[1]!.stops, 1, 'close stops what runs');
  assert.equal(statesOf(h.sent, 'u2').at(-1)!.stopReason, 'AgentStopped');
});

test("an engine failure is the capture's outcome: Error with its code and message", async () => {
  const h = harness();
  h.manager.handle({ type: 'capture.start', order: order('u1') });
  h.engine.sessions[0]!.end('Error', 0, { code: 'CaptureFailed', message: 'tcpdump: lo: No such device exists' });
  await until('Error', () => statesOf(h.sent, 'u1').some((s) => s.status === 'Error'));
  const last = statesOf(h.sent, 'u1').at(-1)!;
  assert.deepEqual(last.errors, ['CaptureFailed']);
  assert.match(last.errorMessage ?? '', /No such device/);
  await h.manager.close();
});

test('a ring the engine refuses is an Error (CaptureFailed) at once', async () => {
  const h = harness();
  h.engine.ringError = new RangeError('fileSizeInBytes must be at least 1000016');
  h.manager.handle({
    type: 'capture.start',
    order: order('r1', { ring: { fileCount: 2, fileSizeInBytes: 10, sessionTimeLimitInSeconds: 60 } }),
  });
  const last = statesOf(h.sent, 'r1').at(-1)!;
  assert.equal(last.status, 'Error');
  assert.deepEqual(last.errors, ['CaptureFailed']);
  assert.match(last.errorMessage ?? '', /at least 1000016/);
  await h.manager.close();
});

test("the agent's capture program picks the ring's writer: tcpdump the engine's cut, native nw-capture, auto left to the ring", () => {
  const writers: unknown[] = [];
  for (const captureProgram of ['tcpdump', 'native', 'auto', undefined] as const) {
    const h = harness(captureProgram === undefined ? {} : { captureProgram });
    h.manager.handle({
      type: 'capture.start',
      order: order('w1', { ring: { fileCount: 2, fileSizeInBytes: 100_000_000, sessionTimeLimitInSeconds: 60 } }),
    });
    writers.push(h.engine.rings[0]!.opts.writer);
  }
  assert.deepEqual(writers, ['engine', 'native', 'auto', undefined]);
});

test('a ring reports each closed file and drops the ones it deletes (oldestSequence moves on)', async () => {
  const h = harness();
  h.manager.handle({
    type: 'capture.start',
    order: order('r1', { ring: { fileCount: 2, fileSizeInBytes: 2_000_000, sessionTimeLimitInSeconds: 60 } }),
  });
  const ring = h.engine.rings[0]!;
  ring.start();
  await until('Running', () => statesOf(h.sent, 'r1').some((s) => s.status === 'Running'));
  ring.closeFile(1, 2);
  const second = ring.closeFile(2, 3);
  ring.deleteFile(1);
  const state = statesOf(h.sent, 'r1').at(-1)!;
  assert.deepEqual(
    state.ring?.files.map((f) => f.sequence),
    [2],
  );
  // The saved record keeps the identity of each ring file still held, for its upload's check.
  const saved = JSON.parse(readFileSync(join(h.dataDir, 'captures', 'r1.json'), 'utf8')) as {
    ringFileIdentities?: Record<string, unknown>;
  };
  assert.deepEqual(saved.ringFileIdentities, { '2': second.fileIdentity });
  assert.equal(state.ring?.oldestSequence, 2);
  assert.equal(state.ring?.filesDeleted, 1);
  assert.equal(state.packetsCaptured, 5);
  await h.manager.close();
  assert.equal(statesOf(h.sent, 'r1').at(-1)!.stopReason, 'AgentStopped');
});

test('upload: a grant request goes out once the file is complete; the server saying it is already stored marks it stored and frees the spool', async () => {
  const h = harness();
  h.manager.handle({ type: 'capture.start', order: order('u1', { upload: true }) });
  const session = h.engine.sessions[0]!;
  session.start();
  session.end('TimeExceeded', 2);
  await until('upload request', () => h.sent.some((m) => m.type === 'upload.request'));
  const request = h.sent.find((m) => m.type === 'upload.request');
  assert.ok(request?.type === 'upload.request');
  const file = statesOf(h.sent, 'u1').at(-1)!.file!;
  assert.equal(request.sizeInBytes, file.sizeInBytes);
  assert.equal(request.sha256, file.sha256);
  h.manager.handle({
    type: 'upload.refused',
    requestId: request.requestId,
    captureUid: 'u1',
    reason: 'stored',
    retryable: false,
    alreadyStored: true,
  });
  await until('stored', () => statesOf(h.sent, 'u1').at(-1)!.file?.stored === true);
  assert.equal(existsSync(file.path), false, 'the spool file goes once stored');
  await h.manager.close();
});

test('upload: with no answer from the server the retry budget runs out and the capture reports StorageFailed, keeping the file', async () => {
  const h = harness({ uploadRetryBudgetInMs: 300 });
  h.manager.handle({ type: 'capture.start', order: order('u1', { upload: true }) });
  h.engine.sessions[0]!.start();
  h.engine.sessions[0]!.end('TimeExceeded', 1);
  await until('StorageFailed', () => statesOf(h.sent, 'u1').some((s) => s.errors.includes('StorageFailed')), 5_000);
  const last = statesOf(h.sent, 'u1').at(-1)!;
  assert.equal(last.status, 'Stopped', 'storing failed, capturing did not');
  assert.match(last.errorMessage ?? '', /no answer from the server/);
  assert.ok(existsSync(last.file!.path), 'the host keeps the file');
  await h.manager.close();
});

test('upload: a refusal that is not retryable ends the attempts at once with its reason', async () => {
  const h = harness({ uploadRetryBudgetInMs: 10_000 });
  h.manager.handle({ type: 'capture.start', order: order('u1', { upload: true }) });
  h.engine.sessions[0]!.start();
  h.engine.sessions[0]!.end('TimeExceeded', 1);
  await until('upload request', () => h.sent.some((m) => m.type === 'upload.request'));
  const request = h.sent.find((m) => m.type === 'upload.request');
  assert.ok(request?.type === 'upload.request');
  h.manager.handle({
    type: 'upload.refused',
    requestId: request.requestId,
    captureUid: 'u1',
    reason: 'the capture is being deleted',
    retryable: false,
  });
  await until('StorageFailed', () => statesOf(h.sent, 'u1').some((s) => s.errors.includes('StorageFailed')), 2_000);
  assert.match(statesOf(h.sent, 'u1').at(-1)!.errorMessage ?? '', /being deleted/);
  assert.equal(h.sent.filter((m) => m.type === 'upload.request').length, 1, 'no second request');
  await h.manager.close();
});

test('upload: a verification that fails for an unchanged file is tried again; a file whose bytes differ from its SHA-256 behind an unchanged identity (a flipped bit) ends with LocalFileChanged', async () => {
  // The agent does not hash its file as it uploads it (the engine just did and recorded its
  // identity, and the server hashes the stored blob); it hashes it only when the server's
  // verification fails.
  const root = join(base, `storage-${++counter}`);
  const signingKey = randomBytes(32);
  const server = await startLocalStorageServer({ accountName: 'acct', rootDir: root, signingKey });
  const store = openBlobStore(
    'acct',
    { type: 'local', rootDir: root },
    { publicBaseUrl: server.publicBaseUrl, signingKey },
  );
  await store.ensureContainer(CAPTURE_CONTAINER);
  try {
    for (const flipped of [false, true]) {
      const h = harness({ uploadRetryBudgetInMs: 10_000 });
      h.manager.handle({ type: 'capture.start', order: order('u1', { upload: true }) });
      h.engine.sessions[0]!.start();
      h.engine.sessions[0]!.end('TimeExceeded', 3, null, flipped ? 'd'.repeat(64) : undefined);
      await until('upload request', () => h.sent.some((m) => m.type === 'upload.request'));
      const request = h.sent.find((m) => m.type === 'upload.request');
      assert.ok(request?.type === 'upload.request');
      const file = statesOf(h.sent, 'u1').at(-1)!.file!;
      const loc = { container: CAPTURE_CONTAINER, blobPath: `vm/u1-${String(flipped)}.cap` };
      const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 });
      h.manager.handle({ type: 'upload.grant', requestId: request.requestId, captureUid: 'u1', grant });
      await until('upload.done', () => h.sent.some((m) => m.type === 'upload.done'));
      const done = h.sent.find((m) => m.type === 'upload.done');
      assert.ok(done?.type === 'upload.done');
      // What the server does on a mismatch: answer ok: false (and delete the blob).
      const ok = await store.verify(loc, { sizeInBytes: done.sizeInBytes, sha256: done.sha256 });
      assert.equal(ok, !flipped);
      h.manager.handle({
        type: 'upload.verified',
        requestId: done.requestId,
        captureUid: 'u1',
        ok: false,
        reason: 'the stored blob does not match the file (size or SHA-256)',
      });
      if (flipped) {
        await until('StorageFailed', () => statesOf(h.sent, 'u1').some((s) => s.errors.includes('StorageFailed')));
        assert.match(statesOf(h.sent, 'u1').at(-1)!.errorMessage ?? '', /LocalFileChanged/);
        assert.equal(h.sent.filter((m) => m.type === 'upload.request').length, 1, 'no second attempt');
        assert.ok(existsSync(file.path), 'the host keeps the file');
      } else {
        await until('a second attempt', () => h.sent.filter((m) => m.type === 'upload.request').length === 2);
      }
      await h.manager.close();
    }
  } finally {
    await server.stop();
  }
});

test('upload: a file changed after the engine hashed it (same size, or replaced by another file) is refused as LocalFileChanged before anything is stored', async () => {
  const root = join(base, `storage-${++counter}`);
  const signingKey = randomBytes(32);
  const server = await startLocalStorageServer({ accountName: 'acct', rootDir: root, signingKey });
  const store = openBlobStore(
    'acct',
    { type: 'local', rootDir: root },
    { publicBaseUrl: server.publicBaseUrl, signingKey },
  );
  await store.ensureContainer(CAPTURE_CONTAINER);
  try {
    for (const how of ['modified', 'replaced'] as const) {
      const h = harness({ uploadRetryBudgetInMs: 10_000 });
      h.manager.handle({ type: 'capture.start', order: order('u1', { upload: true }) });
      h.engine.sessions[0]!.start();
      h.engine.sessions[0]!.end('TimeExceeded', 3);
      await until('upload request', () => h.sent.some((m) => m.type === 'upload.request'));
      const request = h.sent.find((m) => m.type === 'upload.request');
      assert.ok(request?.type === 'upload.request');
      const file = statesOf(h.sent, 'u1').at(-1)!.file!;
      const bytes = readFileSync(file.path);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff; // same size, another SHA-256
      if (how === 'modified') writeFileSync(file.path, bytes);
      else {
        writeFileSync(`${file.path}.other`, bytes);
        renameSync(`${file.path}.other`, file.path);
      }
      const loc = { container: CAPTURE_CONTAINER, blobPath: `vm/u1-${how}.cap` };
      const grant = await store.grantUpload(loc, { sizeInBytes: file.sizeInBytes, expiresInSeconds: 300 });
      h.manager.handle({ type: 'upload.grant', requestId: request.requestId, captureUid: 'u1', grant });
      await until('StorageFailed', () => statesOf(h.sent, 'u1').some((s) => s.errors.includes('StorageFailed')));
      assert.match(statesOf(h.sent, 'u1').at(-1)!.errorMessage ?? '', /LocalFileChanged/);
      assert.equal(
        h.sent.some((m) => m.type === 'upload.done'),
        false,
        'the server is never asked to verify',
      );
      assert.equal(await store.stat(loc), null, 'nothing stored');
      assert.equal(h.sent.filter((m) => m.type === 'upload.request').length, 1, 'no second attempt');
      assert.ok(existsSync(file.path), 'the host keeps the file');
      await h.manager.close();
    }
  } finally {
    await server.stop();
  }
});

test('a restarted agent reports a capture the previous process was running as AgentStopped and keeps its packets', async () => {
  const first = harness();
  first.manager.handle({ type: 'capture.start', order: order('u1') });
  first.engine.sessions[0]!.start();
  await until('Running', () => statesOf(first.sent, 'u1').some((s) => s.status === 'Running'));
  // The agent process dies here: tcpdump had written two records and half of a third.
  const file = join(first.dataDir, 'spool', 'u1.cap');
  writeFileSync(file, Buffer.concat([pcapBytes(2), Buffer.alloc(20, 9)]));
  const second = harness({}, { dataDir: first.dataDir, captureRoot: first.captureRoot });
  await second.manager.recoverInterrupted();
  const state = second.manager.states().find((s) => s.captureUid === 'u1')!;
  assert.equal(state.status, 'Error');
  assert.equal(state.stopReason, 'AgentStopped');
  assert.deepEqual(state.errors, ['AgentStopped']);
  assert.equal(state.packetsCaptured, 2, 'the complete records are kept');
  assert.equal(state.file?.sizeInBytes, pcapBytes(2).length, 'the half record is cut');
  assert.equal(readFileSync(file).length, pcapBytes(2).length);
  assert.ok(state.sequence > statesOf(first.sent, 'u1').at(-1)!.sequence, 'the new state supersedes the last one sent');
  assert.equal(second.engine.sessions.length, 0, 'nothing is started again');
  await second.manager.close();
  await first.manager.close();
});
