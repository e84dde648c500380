import { randomUUID } from 'node:crypto';
import { closeSync } from 'node:fs';
import { posix } from 'node:path';
import { recoverCaptureFile, ringFileName, startCapture, startRingCapture, type CaptureOutcome, type CaptureSession, type RingCaptureSession, type RingFile, type RingOutcome } from '../capture/index.js';
import type { Logger } from '../lib/index.js';
import { AGENT_MAX_RING_FILES_PER_STATE, type AgentCaptureOrder, type AgentCaptureState, type AgentRingFile, type AgentToServer, type ServerToAgent } from '../model/index.js';
import { uploadFile, uploadGrantSchema, type UploadGrant } from '../storage/index.js';
import { AGENT_DEFAULTS } from './config.js';
import { killLeftover, processIdentity, type ProcessIdentity } from './orphans.js';
import { ConfinedDir, ConfinedPathError } from './confined-dir.js';
import { CapturePathError, captureRelativePath } from './paths.js';
import { LookbackManager } from './lookback.js';
import type { AgentCaptureLookback, AgentLookbackState } from '../model/index.js';

/** What the agent keeps about one capture (persisted, so a restarted agent still reports and uploads it). */
interface CaptureRecord {
  order: AgentCaptureOrder;
  state: AgentCaptureState;
  /** True when the file lives in the agent's spool (no host path was asked for) and can go once stored. */
  spooled: boolean;
  /** The tcpdump of this capture while it runs, so a later agent can end it if this one dies. */
  tcpdump?: ProcessIdentity;
}

/** Answers to an upload request. */
type GrantAnswer = { kind: 'grant'; grant: UploadGrant } | { kind: 'refused'; reason: string; retryable: boolean; alreadyStored?: boolean };

/** What an agent's capture manager needs from its surroundings. */
export interface CaptureManagerOptions {
  dataDir: string;
  captureRoot: string;
  interfaceName: string;
  tcpdumpPath?: string;
  uploadRetryBudgetInMs: number;
  uploadRetryIntervalInMs: number;
  send(msg: AgentToServer): boolean;
  logger: Logger;
  /** CA (PEM) of a server with a private certificate, trusted for uploads to the server's own (local) storage. */
  serverCa?: string;
}

/**
 * Runs the captures the server orders on this host and owns their files until they are safely
 * stored. Every change of a capture's state is persisted and sent; states stay "unacknowledged"
 * until the server confirms their sequence, and all of them go again in the hello of the next
 * connection — so a lost connection never loses a status or a file, and never stops a capture.
 */
export class CaptureManager {
  private readonly captures = new Map<string, CaptureRecord>();
  private readonly sessions = new Map<string, CaptureSession | RingCaptureSession>();
  /** Ring files whose upload is under way or queued, per capture (one at a time, oldest first). */
  private readonly ringUploading = new Set<string>();
  private readonly pendingGrants = new Map<string, (a: GrantAnswer) => void>();
  private readonly pendingVerifications = new Map<string, (ok: boolean, reason?: string) => void>();
  private readonly uploading = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly progressTimers = new Map<string, NodeJS.Timeout>();
  /** Captures that were running when the previous agent process died (see recoverInterrupted). */
  private readonly interrupted: string[] = [];
  /** The data folder, held open: state (`captures/`) and spool (`spool/`) files are reached through it, never by a path a link could redirect. */
  private readonly data: ConfinedDir;
  private captureRoot: ConfinedDir | null = null;
  private closed = false;
  /** The host's look-back buffer (off until the server turns it on). */
  private readonly lookback: LookbackManager;

  constructor(private readonly opts: CaptureManagerOptions) {
    this.data = ConfinedDir.open(opts.dataDir);
    this.data.list('captures', true);
    this.data.list('spool', true);
    this.loadPersisted();
    this.lookback = new LookbackManager({ data: this.data, interfaceName: opts.interfaceName, ...(opts.tcpdumpPath ? { tcpdumpPath: opts.tcpdumpPath } : {}), send: (m) => opts.send(m), logger: opts.logger });
  }

  /** What the host's look-back buffer holds now (host metrics). */
  lookbackState(): AgentLookbackState {
    return this.lookback.state();
  }

  /** The capture root, opened the first time a capture keeps its file on the host. */
  private root(): ConfinedDir {
    this.captureRoot ??= ConfinedDir.open(this.opts.captureRoot);
    return this.captureRoot;
  }

  /** Where a capture's file lives: its folder (held) and its path below it. Throws CapturePathError for a local path the rules refuse. */
  private fileLocation(order: AgentCaptureOrder): { dir: ConfinedDir; rel: string } {
    if (order.localFilePath === null) return { dir: this.data, rel: `spool/${order.captureUid}.cap` };
    return { dir: this.root(), rel: captureRelativePath(this.opts.captureRoot, order.localFilePath) };
  }

  /** Runs `use` with a path that reaches the capture's file itself (opened without following links), or returns null when there is none. */
  private async withFile<T>(order: AgentCaptureOrder, write: boolean, use: (path: string) => Promise<T>, location?: { dir: ConfinedDir; rel: string }): Promise<T | null> {
    if (order.ring && !location) return null; // a ring has no single file
    const { dir, rel } = location ?? this.fileLocation(order);
    const opened = dir.openExisting(rel, write);
    if (!opened) return null;
    closeSync(opened.dirFd);
    try {
      // /proc/self/fd/N re-opens the very inode held, so nothing swapped in at the path meanwhile is read.
      return await use(`/proc/self/fd/${opened.fd}`);
    } finally {
      closeSync(opened.fd);
    }
  }

  /** Captures a previous agent process left: finished ones are reported and their uploads resumed; ones it was running ended with it. */
  private loadPersisted(): void {
    for (const name of this.data.list('captures', true).filter((n) => n.endsWith('.json'))) {
      try {
        const rec = JSON.parse(this.data.readFile(`captures/${name}`)?.toString('utf8') ?? 'null') as CaptureRecord;
        if (rec.state.status === 'Running' || rec.state.status === 'NotStarted') {
          // tcpdump died with the previous agent process; what it wrote is recovered by recoverInterrupted().
          rec.state = { ...rec.state, status: 'Error', stopReason: 'AgentStopped', errors: [...new Set([...rec.state.errors, 'AgentStopped' as const])], errorMessage: 'The agent stopped while the capture was running.', sequence: rec.state.sequence + 1 };
          this.interrupted.push(rec.state.captureUid);
          // Its tcpdump may still run (it only dies when it next writes to the dead agent's pipe).
          if (rec.tcpdump && killLeftover(rec.tcpdump)) this.opts.logger.warn({ capture: rec.order.captureName, pid: rec.tcpdump.pid }, 'ended the tcpdump a previous agent process left running');
          delete rec.tcpdump;
        }
        this.captures.set(rec.state.captureUid, rec);
        this.persist(rec);
      } catch (error) {
        this.opts.logger.warn({ err: error, file: name }, 'could not read a saved capture state; skipped');
      }
    }
  }

  /**
   * Keeps the packets of captures that were running when the previous agent process died: their
   * files are cut after the last complete record and become the captures' files, to be stored
   * like any other (no data is lost because the agent was killed). Call before connecting.
   */
  async recoverInterrupted(): Promise<void> {
    for (const uid of this.interrupted.splice(0)) {
      const rec = this.captures.get(uid);
      if (!rec) continue;
      try {
        const path = this.fileLocation(rec.order);
        const recovered = await this.withFile(rec.order, true, (held) => recoverCaptureFile(held));
        if (!recovered) continue;
        rec.state = { ...rec.state, packetsCaptured: recovered.packetsCaptured, bytesCaptured: recovered.sizeInBytes, file: { path: path.dir.resolve(path.rel), sizeInBytes: recovered.sizeInBytes, sha256: recovered.sha256, stored: false }, sequence: rec.state.sequence + 1 };
        this.persist(rec);
        this.opts.logger.info({ capture: rec.order.captureName, packets: recovered.packetsCaptured }, 'recovered the file of a capture interrupted by an agent stop');
      } catch (error) {
        this.opts.logger.warn({ err: error, capture: rec.order.captureName }, 'could not recover the file of an interrupted capture; it is left as it is');
      }
    }
  }

  /** The hello's list: every capture this host knows. */
  states(): AgentCaptureState[] {
    return [...this.captures.values()].map((r) => r.state);
  }

  /** Called when a connection opens (after the hello): resume uploads that wait for the server. */
  onConnected(): void {
    this.lookback.report();
    for (const rec of this.captures.values()) if (this.needsUpload(rec)) void (rec.state.ring ? this.uploadRing(rec.state.captureUid) : this.upload(rec.state.captureUid, 'storage'));
  }

  /** Handles one server message. */
  handle(msg: ServerToAgent): void {
    switch (msg.type) {
      case 'capture.start': this.start(msg.order); break;
      case 'capture.stop': void this.stop(msg.captureUid); break;
      case 'capture.forget': this.forget(msg.captureUid, msg.deleteFiles); break;
      case 'capture.ack': break; // states are re-sent in full on reconnect; nothing to track per ack
      case 'upload.grant': {
        // A grant names where the agent sends a file: only one of the shapes src/storage knows is used.
        const grant = uploadGrantSchema.safeParse(msg.grant);
        this.pendingGrants.get(msg.requestId)?.(grant.success ? { kind: 'grant', grant: grant.data } : { kind: 'refused', reason: 'the server sent an upload grant of an unknown shape', retryable: true });
        break;
      }
      case 'upload.refused': this.pendingGrants.get(msg.requestId)?.({ kind: 'refused', reason: msg.reason, retryable: msg.retryable, ...(msg.alreadyStored ? { alreadyStored: true } : {}) }); break;
      case 'upload.verified': this.pendingVerifications.get(msg.requestId)?.(msg.ok, msg.reason); break;
      case 'file.fetch': void (msg.ringFileSequence !== undefined ? this.fetchRingFile(msg.captureUid, msg.ringFileSequence) : this.upload(msg.captureUid, 'fetch')); break;
      case 'welcome': break;
      case 'lookback.configure': this.lookback.configure(msg.settings); break;
    }
  }

  /**
   * Saves a capture's record. A failure (the data folder's disk is full) is logged and the agent
   * carries on: the state is still held in memory and sent, and the old saved state stays intact.
   */
  private persist(rec: CaptureRecord): void {
    try {
      this.data.writeFileAtomic(`captures/${rec.state.captureUid}.json`, JSON.stringify(rec));
    } catch (error) {
      this.opts.logger.error({ err: error, capture: rec.order.captureName }, 'could not save the capture state (disk full?); it is kept in memory and reported');
    }
  }

  private update(uid: string, change: Partial<AgentCaptureState>): void {
    const rec = this.captures.get(uid);
    if (!rec) return;
    rec.state = { ...rec.state, ...change, sequence: rec.state.sequence + 1 };
    // The protocol bounds messages (src/model/agent-protocol.ts): a state the server would refuse would never be acknowledged.
    if (rec.state.errorMessage !== null && rec.state.errorMessage.length > 4000) rec.state.errorMessage = `${rec.state.errorMessage.slice(0, 3999)}…`;
    this.persist(rec);
    this.opts.send({ type: 'capture.state', state: rec.state });
  }

  private start(order: AgentCaptureOrder): void {
    const known = this.captures.get(order.captureUid);
    if (known) {
      // A repeated order (the server re-sends after reconnects): just report where it stands.
      this.opts.send({ type: 'capture.state', state: known.state });
      return;
    }
    const rec: CaptureRecord = {
      order,
      spooled: order.localFilePath === null,
      state: {
        captureUid: order.captureUid, status: 'NotStarted', captureStartTime: null, stopReason: null, errors: [], errorMessage: null,
        packetsCaptured: 0, bytesCaptured: 0, kernelPacketsDropped: null, kernelPacketsReceived: null, file: null, sequence: 1,
      },
    };
    this.captures.set(order.captureUid, rec);
    if (order.ring) {
      this.startRing(rec, order.ring);
      return;
    }
    let outputPath: string;
    let heldPath: string;
    let heldDirFd: number;
    try {
      const { dir, rel } = this.fileLocation(order);
      // A spool file without a record is the leftover of an agent that died before saving one: ours to replace.
      if (order.localFilePath === null) dir.remove(rel);
      // Created here, exclusively and with no link followed, through a held folder the session then writes in.
      const created = dir.createExclusive(rel, 0o640);
      closeSync(created.fd);
      outputPath = dir.resolve(rel);
      heldPath = created.heldPath;
      heldDirFd = created.dirFd;
    } catch (error) {
      const message = error instanceof CapturePathError || error instanceof ConfinedPathError ? error.message : `cannot prepare the capture file: ${(error as Error).message}`;
      this.update(order.captureUid, { status: 'Error', stopReason: 'Error', errors: ['LocalFileFailed'], errorMessage: message });
      return;
    }
    this.persist(rec);
    // Held now, before tcpdump starts, so that the packets of the last seconds are kept for this capture.
    const lookback = this.lookback.begin(order, new Date());
    const session = startCapture({
      captureId: order.captureName,
      interfaceName: this.opts.interfaceName,
      bpfExpression: order.bpfExpression,
      snapLengthInBytes: order.snapLengthInBytes,
      totalBytesLimit: order.totalBytesLimit,
      timeLimitInSeconds: order.timeLimitInSeconds,
      outputPath: heldPath,
    }, { ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}) });
    this.sessions.set(order.captureUid, session);
    session.started.then((at) => {
      const identity = session.pid !== null ? processIdentity(session.pid) : null;
      if (identity) rec.tcpdump = identity; // persisted with the Running state just below
      lookback?.liveStarted(at);
      this.update(order.captureUid, { status: 'Running', captureStartTime: at.toISOString() });
      const timer = setInterval(() => {
        const p = session.progress();
        const current = this.captures.get(order.captureUid)?.state;
        if (current && current.status === 'Running' && (p.packetsCaptured !== current.packetsCaptured)) {
          this.update(order.captureUid, { packetsCaptured: p.packetsCaptured, bytesCaptured: p.fileSizeInBytes });
        }
      }, AGENT_DEFAULTS.progressIntervalInMs);
      timer.unref();
      this.progressTimers.set(order.captureUid, timer);
    }, () => { /* the outcome reports the failure */ });
    void session.done.then(async (live) => {
      // The buffered packets go in front of the live ones before the file is hashed and stored.
      const merged = lookback ? await lookback.finish(heldPath, live) : { outcome: live, lookback: undefined };
      closeSync(heldDirFd);
      this.finished(order.captureUid, outputPath, merged.outcome, merged.lookback);
    });
  }

  private finished(uid: string, outputPath: string, outcome: CaptureOutcome, lookback?: AgentCaptureLookback): void {
    clearInterval(this.progressTimers.get(uid));
    this.progressTimers.delete(uid);
    this.sessions.delete(uid);
    const rec = this.captures.get(uid);
    if (!rec) return;
    delete rec.tcpdump;
    const hasFile = outcome.fileSizeInBytes > 0;
    const errors = outcome.error ? [outcome.error.code] : [];
    this.update(uid, {
      status: outcome.stopReason === 'Error' ? 'Error' : 'Stopped',
      captureStartTime: outcome.startedAt?.toISOString() ?? rec.state.captureStartTime,
      // A capture cut short because the agent itself is shutting down did not stop by hand.
      stopReason: this.closed && outcome.stopReason === 'Manual' ? 'AgentStopped' : outcome.stopReason,
      errors,
      errorMessage: outcome.error?.message ?? null,
      packetsCaptured: outcome.packetsCaptured,
      bytesCaptured: outcome.fileSizeInBytes,
      kernelPacketsDropped: outcome.kernelPacketsDropped,
      kernelPacketsReceived: outcome.kernelPacketsReceived,
      file: hasFile ? { path: outputPath, sizeInBytes: outcome.fileSizeInBytes, sha256: outcome.sha256, stored: false } : null,
      ...(lookback ? { lookback } : {}),
    });
    if (this.needsUpload(this.captures.get(uid)!)) void this.upload(uid, 'storage');
  }

  /** Where a ring file lives: the folder of localFilePath, or the capture's spool folder. */
  private ringFileLocation(order: AgentCaptureOrder, name: string): { dir: ConfinedDir; rel: string } {
    if (order.localFilePath === null) return { dir: this.data, rel: `spool/${order.captureUid}/${name}` };
    const rel = captureRelativePath(this.opts.captureRoot, order.localFilePath);
    const folder = posix.dirname(rel);
    return { dir: this.root(), rel: folder === '.' ? name : `${folder}/${name}` };
  }

  /**
   * Continuous capture (issue 13): one tcpdump writes the ring (src/capture/ring.ts); each file is
   * reported and uploaded as soon as it closes, and a file the ring deletes leaves the state, so
   * the server deletes its stored copy too (agent-channel.ts). Nothing else deletes a closed file
   * before it is stored, except the ring's own rule.
   */
  private startRing(rec: CaptureRecord, ring: NonNullable<AgentCaptureOrder['ring']>): void {
    const order = rec.order;
    const uid = order.captureUid;
    rec.state = { ...rec.state, ring: { oldestSequence: 1, filesDeleted: 0, files: [] } };
    let outputPath: string;
    try {
      const base = order.localFilePath === null ? 'ring.cap' : posix.basename(order.localFilePath);
      const first = this.ringFileLocation(order, ringFileName(base, 1));
      // Walks (and makes) the folders with no link followed, as for single files; the engine then works in the folder by path.
      const { dirFd } = first.dir.openParent(first.rel, true);
      closeSync(dirFd);
      const existing = first.dir.openExisting(first.rel, false);
      if (existing) {
        closeSync(existing.fd);
        closeSync(existing.dirFd);
        throw new CapturePathError(`'${first.dir.resolve(first.rel)}' already exists (an earlier ring's file); choose another localPath.`);
      }
      outputPath = first.dir.resolve(first.rel.replace(/[^/]+$/, base));
    } catch (error) {
      const message = error instanceof CapturePathError || error instanceof ConfinedPathError ? error.message : `cannot prepare the ring's folder: ${(error as Error).message}`;
      this.update(uid, { status: 'Error', stopReason: 'Error', errors: ['LocalFileFailed'], errorMessage: message });
      return;
    }
    this.persist(rec);
    let session: RingCaptureSession;
    try {
      session = startRingCapture({
        captureId: order.captureName, interfaceName: this.opts.interfaceName, bpfExpression: order.bpfExpression, snapLengthInBytes: order.snapLengthInBytes,
        fileCount: ring.fileCount, fileSizeInBytes: ring.fileSizeInBytes, sessionTimeLimitInSeconds: ring.sessionTimeLimitInSeconds, outputPath,
      }, {
        ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
        onFileClosed: (file) => this.ringFileClosed(uid, file),
        onFileDeleted: (file) => this.ringFileDeleted(uid, file),
      });
    } catch (error) {
      this.update(uid, { status: 'Error', stopReason: 'Error', errors: ['CaptureFailed'], errorMessage: (error as Error).message });
      return;
    }
    this.sessions.set(uid, session);
    session.started.then((at) => this.update(uid, { status: 'Running', captureStartTime: at.toISOString() }), () => { /* the outcome reports the failure */ });
    void session.done.then((outcome) => this.ringFinished(uid, outcome));
  }

  private ringFileClosed(uid: string, file: RingFile): void {
    const rec = this.captures.get(uid);
    if (!rec?.state.ring) return;
    const entry: AgentRingFile = {
      sequence: file.sequence, name: file.name, sizeInBytes: file.sizeInBytes, sha256: file.sha256, packetsCaptured: file.packetsCaptured,
      firstPacketTime: file.firstPacketTime?.toISOString() ?? null, lastPacketTime: file.lastPacketTime?.toISOString() ?? null, stored: false,
    };
    const files = [...rec.state.ring.files, entry].slice(-AGENT_MAX_RING_FILES_PER_STATE);
    this.update(uid, {
      ring: { ...rec.state.ring, files },
      packetsCaptured: rec.state.packetsCaptured + file.packetsCaptured,
      bytesCaptured: rec.state.bytesCaptured + file.sizeInBytes,
    });
    if (rec.order.upload) void this.uploadRing(uid);
  }

  private ringFileDeleted(uid: string, file: RingFile): void {
    const rec = this.captures.get(uid);
    if (!rec?.state.ring) return;
    const r = rec.state.ring;
    this.update(uid, { ring: { oldestSequence: Math.max(r.oldestSequence, file.sequence + 1), filesDeleted: r.filesDeleted + 1, files: r.files.filter((f) => f.sequence !== file.sequence) } });
  }

  private ringFinished(uid: string, outcome: RingOutcome): void {
    this.sessions.delete(uid);
    const rec = this.captures.get(uid);
    if (!rec) return;
    this.update(uid, {
      status: outcome.stopReason === 'Error' ? 'Error' : 'Stopped',
      captureStartTime: outcome.startedAt?.toISOString() ?? rec.state.captureStartTime,
      stopReason: this.closed && outcome.stopReason === 'Manual' ? 'AgentStopped' : outcome.stopReason,
      errors: outcome.error ? [outcome.error.code] : [],
      errorMessage: outcome.error?.message ?? null,
      kernelPacketsDropped: outcome.kernelPacketsDropped,
      kernelPacketsReceived: outcome.kernelPacketsReceived,
    });
    if (rec.order.upload) void this.uploadRing(uid);
  }

  /**
   * Stores a ring's unstored files one at a time, oldest first, each as soon as it closed. A file
   * the ring deletes meanwhile is skipped (its blob, if any, goes with the ring's rule); a failure
   * keeps the file and retries later, as for single files.
   */
  private async uploadRing(uid: string): Promise<void> {
    if (this.ringUploading.has(uid) || this.closed) return;
    this.ringUploading.add(uid);
    try {
      for (;;) {
        const rec = this.captures.get(uid);
        const next = rec?.state.ring?.files.find((f) => !f.stored);
        if (!rec || !next || this.closed) return;
        const deadline = Date.now() + this.opts.uploadRetryBudgetInMs;
        let result: Awaited<ReturnType<CaptureManager['tryUpload']>> = { ok: false, reason: 'not connected to the server', retryable: true };
        while (!this.closed && Date.now() < deadline && this.ringHolds(uid, next.sequence)) {
          result = await this.tryUpload(uid, { ...next, path: next.name }, Math.max(1_000, deadline - Date.now()), next.sequence);
          if (result.ok || !result.retryable) break;
          await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(0, deadline - Date.now()))));
        }
        const current = this.captures.get(uid);
        if (!current?.state.ring) return;
        if (!this.ringHolds(uid, next.sequence)) continue; // rotated out meanwhile
        if (result.ok) {
          const errors = current.state.errors.filter((e) => e !== 'StorageFailed');
          this.update(uid, { ring: { ...current.state.ring, files: current.state.ring.files.map((f) => (f.sequence === next.sequence ? { ...f, stored: true } : f)) }, errors, errorMessage: errors.length ? current.state.errorMessage : null });
          // A spooled file was only kept to be stored.
          if (current.spooled) this.removeQuietly(this.data, `spool/${uid}/${next.name}`);
          continue;
        }
        if (this.closed) return;
        const reason = result.ok ? '' : result.reason;
        this.opts.logger.warn({ capture: current.order.captureName, file: next.name, reason }, 'could not store a ring file; keeping it and retrying later');
        if (!current.state.errors.includes('StorageFailed')) this.update(uid, { errors: [...current.state.errors, 'StorageFailed'], errorMessage: `Storing ring file ${next.name} failed: ${reason}. The host keeps it and retries.` });
        clearTimeout(this.retryTimers.get(uid));
        const timer = setTimeout(() => void this.uploadRing(uid), this.opts.uploadRetryIntervalInMs);
        timer.unref();
        this.retryTimers.set(uid, timer);
        return;
      }
    } finally {
      this.ringUploading.delete(uid);
    }
  }

  /** True while file `sequence` of the capture's ring is still on the host (not rotated out). */
  private ringHolds(uid: string, sequence: number): boolean {
    return this.captures.get(uid)?.state.ring?.files.some((f) => f.sequence === sequence) ?? false;
  }

  private needsUpload(rec: CaptureRecord): boolean {
    if (rec.state.ring) return rec.order.upload && rec.state.ring.files.some((f) => !f.stored);
    return rec.order.upload && rec.state.file !== null && !rec.state.file.stored && (rec.state.status === 'Stopped' || rec.state.status === 'Error');
  }

  private async stop(uid: string): Promise<void> {
    const session = this.sessions.get(uid);
    if (session) {
      await session.stop();
      return;
    }
    const rec = this.captures.get(uid);
    if (rec) this.opts.send({ type: 'capture.state', state: rec.state });
  }

  private forget(uid: string, deleteFiles: boolean): void {
    const rec = this.captures.get(uid);
    if (!rec) return;
    const session = this.sessions.get(uid);
    if (session) {
      // The server no longer has this capture (deleted while this host was away): end it, then forget it.
      void session.stop().then(() => this.forget(uid, deleteFiles));
      return;
    }
    clearTimeout(this.retryTimers.get(uid));
    this.captures.delete(uid);
    this.removeQuietly(this.data, `captures/${uid}.json`);
    if (rec.state.ring) {
      // A ring's spooled files belong to the capture alone; files under localPath go only when asked.
      if (rec.spooled || deleteFiles) {
        for (const f of rec.state.ring.files) {
          try {
            const { dir, rel } = this.ringFileLocation(rec.order, f.name);
            this.removeQuietly(dir, rel);
          } catch (error) {
            this.opts.logger.warn({ err: error, capture: rec.order.captureName }, 'could not remove a ring file of a deleted capture');
          }
        }
      }
      return;
    }
    // A spool file belongs to the capture alone: once the capture is gone nobody can fetch it, stored or not.
    if (rec.spooled || (deleteFiles && rec.state.file)) {
      try {
        const { dir, rel } = this.fileLocation(rec.order);
        this.removeQuietly(dir, rel);
      } catch (error) {
        this.opts.logger.warn({ err: error, capture: rec.order.captureName }, 'could not remove the file of a deleted capture');
      }
    }
  }

  private removeQuietly(dir: ConfinedDir, rel: string): void {
    try {
      dir.remove(rel);
    } catch (error) {
      this.opts.logger.warn({ err: error, path: dir.resolve(rel) }, 'could not remove a file');
    }
  }

  /** Asks the server for a grant, uploads, and waits for the server to verify size and SHA-256. */
  private async upload(uid: string, purpose: 'storage' | 'fetch'): Promise<void> {
    const key = `${uid}:${purpose}`;
    if (this.uploading.has(key) || this.closed) return;
    const rec = this.captures.get(uid);
    const file = rec?.state.file;
    if (!rec || !file) return;
    this.uploading.add(key);
    const deadline = Date.now() + this.opts.uploadRetryBudgetInMs;
    try {
      let lastReason = 'not connected to the server';
      while (!this.closed && Date.now() < deadline) {
        // The uploader's own retries (without progress) stay within what is left of the budget.
        const result = await this.tryUpload(uid, file, Math.max(1_000, deadline - Date.now()));
        if (result.ok) {
          if (purpose === 'storage') {
            const errors = rec.state.errors.filter((e) => e !== 'StorageFailed');
            this.update(uid, { file: { ...file, stored: true }, errors, errorMessage: errors.length ? rec.state.errorMessage : null });
            if (rec.spooled) this.removeQuietly(this.data, `spool/${uid}.cap`);
          }
          return;
        }
        lastReason = result.reason;
        if (!result.retryable) break;
        await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(0, deadline - Date.now()))));
      }
      if (purpose === 'storage' && !this.closed) {
        this.opts.logger.warn({ capture: rec.order.captureName, reason: lastReason }, 'could not store the capture file; keeping it and retrying later');
        if (!rec.state.errors.includes('StorageFailed')) this.update(uid, { errors: [...rec.state.errors, 'StorageFailed'], errorMessage: `Storing the file failed: ${lastReason}. The host keeps it and retries.` });
        const timer = setTimeout(() => void this.upload(uid, 'storage'), this.opts.uploadRetryIntervalInMs);
        timer.unref();
        this.retryTimers.set(uid, timer);
      }
    } finally {
      this.uploading.delete(key);
    }
  }

  /** Sends one ring file to the server's host-files store for a download (a ring kept only on the host). */
  private async fetchRingFile(uid: string, sequence: number): Promise<void> {
    const file = this.captures.get(uid)?.state.ring?.files.find((f) => f.sequence === sequence);
    if (!file) return;
    const result = await this.tryUpload(uid, { ...file, path: file.name }, this.opts.uploadRetryBudgetInMs, sequence);
    if (!result.ok) this.opts.logger.warn({ capture: uid, file: file.name, reason: result.reason }, 'could not send a ring file for download');
  }

  private async tryUpload(uid: string, file: NonNullable<AgentCaptureState['file']>, retryBudgetInMs: number, ringFileSequence?: number): Promise<{ ok: true } | { ok: false; reason: string; retryable: boolean }> {
    const requestId = randomUUID();
    const ringPart = ringFileSequence !== undefined ? { ringFileSequence } : {};
    const answer = await this.ask<GrantAnswer>(this.pendingGrants, requestId, { type: 'upload.request', requestId, captureUid: uid, sizeInBytes: file.sizeInBytes, sha256: file.sha256, ...ringPart }, { kind: 'refused', reason: 'no answer from the server', retryable: true });
    this.opts.logger.debug({ capture: uid, answer: answer.kind, ...(answer.kind === 'refused' ? { reason: answer.reason } : {}) }, 'upload grant answer');
    if (answer.kind === 'refused') return answer.alreadyStored ? { ok: true } : { ok: false, reason: answer.reason, retryable: answer.retryable };
    if (answer.grant.sizeInBytes !== file.sizeInBytes) return { ok: false, reason: `the server granted ${answer.grant.sizeInBytes} bytes for a file of ${file.sizeInBytes}`, retryable: true };
    const rec = this.captures.get(uid);
    if (!rec) return { ok: false, reason: 'the capture was deleted', retryable: false };
    const location = ringFileSequence !== undefined ? this.ringFileLocation(rec.order, file.path) : undefined;
    const result = await this.withFile(rec.order, false, (held) => uploadFile(answer.grant, held, { sizeInBytes: file.sizeInBytes, sha256: file.sha256, retryBudgetInMs, ...(this.opts.serverCa !== undefined ? { serverCa: this.opts.serverCa } : {}) }), location);
    if (result === null) return { ok: false, reason: `the file ${file.path} is gone from the host`, retryable: false };
    this.opts.logger.debug({ capture: uid, ok: result.ok, ...(result.ok ? {} : { reason: result.reason }) }, 'upload of the file ended');
    if (!result.ok) return result;
    const verified = await this.ask<{ ok: boolean; reason?: string }>(this.pendingVerifications as never, requestId, { type: 'upload.done', requestId, captureUid: uid, sizeInBytes: file.sizeInBytes, sha256: file.sha256, ...ringPart }, { ok: false, reason: 'no answer from the server' }, (ok: boolean, reason?: string) => ({ ok, reason }));
    this.opts.logger.debug({ capture: uid, verified: verified.ok, reason: verified.reason }, 'the server verified the upload');
    return verified.ok ? { ok: true } : { ok: false, reason: verified.reason ?? 'verification failed', retryable: true };
  }

  /** Sends a request and waits (bounded) for the answer with the same request id. */
  private ask<T>(pending: Map<string, (...args: never[]) => void>, requestId: string, msg: AgentToServer, onTimeout: T, map?: (...args: never[]) => T): Promise<T> {
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => { pending.delete(requestId); resolve(onTimeout); }, 30_000);
      (pending as Map<string, (...args: unknown[]) => void>).set(requestId, (...args: unknown[]) => {
        clearTimeout(timer);
        pending.delete(requestId);
        resolve(map ? (map as (...a: unknown[]) => T)(...args) : (args[0] as T));
      });
      if (!this.opts.send(msg)) { clearTimeout(timer); pending.delete(requestId); resolve(onTimeout); }
    });
  }

  /** Stops every running capture (their files are completed and kept) and timers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retryTimers.values()) clearTimeout(t);
    for (const t of this.progressTimers.values()) clearInterval(t);
    await Promise.all([...this.sessions.values()].map((s) => s.stop()));
    await this.lookback.close();
  }
}
