import { closeSync } from 'node:fs';
import { posix } from 'node:path';
import {
  ringFileName,
  type CaptureOutcome,
  type RingCaptureSession,
  type RingFile,
  type RingOutcome,
  type CaptureSession,
  type CaptureProgramChoice,
} from '../capture/index.js';
import type { FileIdentity, Logger } from '../lib/index.js';
import {
  AGENT_MAX_RING_FILES_PER_STATE,
  type AgentCaptureLookback,
  type AgentCaptureOrder,
  type AgentCaptureState,
  type AgentLookbackState,
  type AgentRingFile,
  type AgentToServer,
  type ServerToAgent,
} from '../model/index.js';
import { inBackground } from './background.js';
import { ringWriterFor, tcpdumpCaptureEngine, type CaptureEngine } from './capture-engine.js';
import { CaptureFiles } from './capture-files.js';
import { CaptureRecords, type CaptureRecord } from './capture-records.js';
import { CaptureUploads } from './capture-uploads.js';
import { AGENT_DEFAULTS } from './config.js';
import { ConfinedPathError } from './confined-dir.js';
import { LookbackManager } from './lookback.js';
import { processIdentity } from './orphans.js';
import { CapturePathError } from './paths.js';

/** What an agent's capture manager needs from its surroundings. */
export interface CaptureManagerOptions {
  dataDir: string;
  captureRoot: string;
  interfaceName: string;
  tcpdumpPath?: string;
  /** Which program captures run — single files, rings and the look-back buffer (AgentConfig.captureProgram). */
  captureProgram?: CaptureProgramChoice;
  uploadRetryBudgetInMs: number;
  uploadRetryIntervalInMs: number;
  send(msg: AgentToServer): boolean;
  logger: Logger;
  /** CA (PEM) of a server with a private certificate, trusted for uploads to the server's own (local) storage. */
  serverCa?: string;
  /** The capture engine (default: src/capture's tcpdump sessions); tests of the lifecycle give a fake one. */
  engine?: CaptureEngine;
  /** Default AGENT_DEFAULTS.progressIntervalInMs. */
  progressIntervalInMs?: number;
  /** Default AGENT_DEFAULTS.serverAnswerTimeoutInMs. */
  serverAnswerTimeoutInMs?: number;
  /** Default AGENT_DEFAULTS.uploadRetryPauseInMs. */
  uploadRetryPauseInMs?: number;
}

/**
 * Runs the captures the server orders on this host and owns their files until they are safely
 * stored: the lifecycle of each capture (start, progress, stop, end, forget) on top of a capture
 * engine, with the saved states and crash recovery in capture-records.ts, the files' places in
 * capture-files.ts and the upload retry machine in capture-uploads.ts. Every change of a
 * capture's state is persisted and sent, so a lost connection never loses a status or a file, and
 * never stops a capture.
 */
export class CaptureManager {
  private readonly sessions = new Map<string, CaptureSession | RingCaptureSession>();
  private readonly progressTimers = new Map<string, NodeJS.Timeout>();
  private readonly files: CaptureFiles;
  private readonly records: CaptureRecords;
  private readonly uploads: CaptureUploads;
  private readonly engine: CaptureEngine;
  private readonly progressIntervalInMs: number;
  private closed = false;
  /** The host's look-back buffer (off until the server turns it on). */
  private readonly lookback: LookbackManager;

  constructor(private readonly opts: CaptureManagerOptions) {
    this.files = new CaptureFiles(opts.dataDir, opts.captureRoot, opts.logger);
    this.records = new CaptureRecords(this.files, (m) => opts.send(m), opts.logger);
    this.uploads = new CaptureUploads({
      records: this.records,
      files: this.files,
      send: (m) => opts.send(m),
      logger: opts.logger,
      ...(opts.serverCa !== undefined ? { serverCa: opts.serverCa } : {}),
      timings: {
        retryBudgetInMs: opts.uploadRetryBudgetInMs,
        retryIntervalInMs: opts.uploadRetryIntervalInMs,
        retryPauseInMs: opts.uploadRetryPauseInMs ?? AGENT_DEFAULTS.uploadRetryPauseInMs,
        attemptMinBudgetInMs: AGENT_DEFAULTS.uploadAttemptMinBudgetInMs,
        serverAnswerTimeoutInMs: opts.serverAnswerTimeoutInMs ?? AGENT_DEFAULTS.serverAnswerTimeoutInMs,
      },
    });
    this.engine = opts.engine ?? tcpdumpCaptureEngine;
    this.progressIntervalInMs = opts.progressIntervalInMs ?? AGENT_DEFAULTS.progressIntervalInMs;
    this.lookback = new LookbackManager({
      data: this.files.data,
      interfaceName: opts.interfaceName,
      ...(opts.tcpdumpPath ? { tcpdumpPath: opts.tcpdumpPath } : {}),
      ...(opts.captureProgram ? { captureProgram: opts.captureProgram } : {}),
      send: (m) => opts.send(m),
      logger: opts.logger,
    });
  }

  /** What the host's look-back buffer holds now (host metrics). */
  lookbackState(): AgentLookbackState {
    return this.lookback.state();
  }

  /**
   * Keeps the packets of captures that were running when the previous agent process died (see
   * CaptureRecords.recoverInterrupted). Call before connecting.
   */
  async recoverInterrupted(): Promise<void> {
    await this.records.recoverInterrupted();
  }

  /** The hello's list: every capture this host knows. */
  states(): AgentCaptureState[] {
    return this.records.all().map((r) => r.state);
  }

  /** Called when a connection opens (after the hello): resume uploads that wait for the server. */
  onConnected(): void {
    this.lookback.report();
    for (const rec of this.records.all()) if (this.uploads.needsUpload(rec)) this.uploads.storeInBackground(rec);
  }

  /** Called when the connection to the server closes: what was asked on it will not be answered. */
  onDisconnected(): void {
    this.uploads.onDisconnected();
  }

  /** Handles one server message. */
  handle(msg: ServerToAgent): void {
    switch (msg.type) {
      case 'capture.start':
        this.start(msg.order);
        break;
      case 'capture.stop':
        inBackground(this.opts.logger, `stopping capture ${msg.captureUid}`, this.stop(msg.captureUid));
        break;
      case 'capture.forget':
        this.forget(msg.captureUid, msg.deleteFiles);
        break;
      case 'capture.ack':
        break; // states are re-sent in full on reconnect; nothing to track per ack
      case 'upload.grant':
      case 'upload.refused':
      case 'upload.verified':
        this.uploads.handle(msg);
        break;
      case 'file.fetch':
        this.uploads.fetchInBackground(msg.captureUid, msg.ringFileSequence);
        break;
      case 'welcome':
        break;
      case 'lookback.configure':
        this.lookback.configure(msg.settings);
        break;
    }
  }

  private start(order: AgentCaptureOrder): void {
    const known = this.records.get(order.captureUid);
    if (known) {
      // A repeated order (the server re-sends after reconnects): just report where it stands.
      this.opts.send({ type: 'capture.state', state: known.state });
      return;
    }
    const rec: CaptureRecord = {
      order,
      spooled: order.localFilePath === null,
      state: {
        captureUid: order.captureUid,
        status: 'NotStarted',
        captureStartTime: null,
        stopReason: null,
        errors: [],
        errorMessage: null,
        packetsCaptured: 0,
        bytesCaptured: 0,
        kernelPacketsDropped: null,
        kernelPacketsReceived: null,
        file: null,
        sequence: 1,
      },
    };
    this.records.add(rec);
    if (order.ring) {
      this.startRing(rec, order.ring);
      return;
    }
    let outputPath: string;
    let heldPath: string;
    let heldDirFd: number;
    try {
      const { dir, rel } = this.files.fileLocation(order);
      // A spool file without a record is the leftover of an agent that died before saving one: ours to replace.
      if (order.localFilePath === null) dir.remove(rel);
      // Created here, exclusively and with no link followed, through a held folder the session then writes in.
      const created = dir.createExclusive(rel, 0o640);
      closeSync(created.fd);
      outputPath = dir.resolve(rel);
      heldPath = created.heldPath;
      heldDirFd = created.dirFd;
    } catch (error) {
      const message =
        error instanceof CapturePathError || error instanceof ConfinedPathError
          ? error.message
          : `cannot prepare the capture file: ${(error as Error).message}`;
      this.records.update(order.captureUid, {
        status: 'Error',
        stopReason: 'Error',
        errors: ['LocalFileFailed'],
        errorMessage: message,
      });
      return;
    }
    this.records.persist(rec);
    // Held now, before tcpdump starts, so that the packets of the last seconds are kept for this capture.
    const lookback = this.lookback.begin(order, new Date());
    const session = this.engine.startCapture(
      {
        captureId: order.captureName,
        interfaceName: this.opts.interfaceName,
        bpfExpression: order.bpfExpression,
        snapLengthInBytes: order.snapLengthInBytes,
        totalBytesLimit: order.totalBytesLimit,
        timeLimitInSeconds: order.timeLimitInSeconds,
        outputPath: heldPath,
      },
      {
        ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
        ...(this.opts.captureProgram ? { captureProgram: this.opts.captureProgram } : {}),
      },
    );
    this.sessions.set(order.captureUid, session);
    inBackground(
      this.opts.logger,
      `starting capture ${order.captureName}`,
      session.started.then(
        (at) => {
          this.opts.logger.info(
            { capture: order.captureName, program: session.captureProgram ?? null, pid: session.pid },
            `capture ${order.captureName} started (${session.captureProgram === 'native' ? 'nw-capture' : 'tcpdump'})`,
          );
          const identity = session.pid !== null ? processIdentity(session.pid) : null;
          if (identity) rec.tcpdump = identity; // persisted with the Running state just below
          lookback?.liveStarted(at);
          this.records.update(order.captureUid, { status: 'Running', captureStartTime: at.toISOString() });
          const timer = setInterval(() => {
            const p = session.progress();
            const current = this.records.get(order.captureUid)?.state;
            if (current && current.status === 'Running' && p.packetsCaptured !== current.packetsCaptured) {
              this.records.update(order.captureUid, {
                packetsCaptured: p.packetsCaptured,
                bytesCaptured: p.fileSizeInBytes,
              });
            }
          }, this.progressIntervalInMs);
          timer.unref();
          this.progressTimers.set(order.captureUid, timer);
        },
        () => {
          /* the outcome reports the failure */
        },
      ),
    );
    inBackground(
      this.opts.logger,
      `ending capture ${order.captureName}`,
      session.done.then(async (live) => {
        // The buffered packets go in front of the live ones before the file is hashed and stored.
        const merged = lookback ? await lookback.finish(heldPath, live) : { outcome: live, lookback: undefined };
        closeSync(heldDirFd);
        this.finished(order.captureUid, outputPath, merged.outcome, merged.lookback);
      }),
    );
  }

  private finished(uid: string, outputPath: string, outcome: CaptureOutcome, lookback?: AgentCaptureLookback): void {
    clearInterval(this.progressTimers.get(uid));
    this.progressTimers.delete(uid);
    this.sessions.delete(uid);
    const rec = this.records.get(uid);
    if (!rec) return;
    delete rec.tcpdump;
    const hasFile = outcome.fileSizeInBytes > 0;
    // Saved with the state below: the upload checks it instead of hashing the file again.
    if (hasFile && outcome.fileIdentity !== undefined) rec.fileIdentity = outcome.fileIdentity;
    else delete rec.fileIdentity;
    const errors = outcome.error ? [outcome.error.code] : [];
    this.records.update(uid, {
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
      file: hasFile
        ? { path: outputPath, sizeInBytes: outcome.fileSizeInBytes, sha256: outcome.sha256, stored: false }
        : null,
      ...(lookback ? { lookback } : {}),
    });
    const after = this.records.get(uid)!;
    if (this.uploads.needsUpload(after)) this.uploads.storeInBackground(after);
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
      const first = this.files.ringFileLocation(order, ringFileName(base, 1));
      // Walks (and makes) the folders with no link followed, as for single files; the engine then works in the folder by path.
      const { dirFd } = first.dir.openParent(first.rel, true);
      closeSync(dirFd);
      const existing = first.dir.openExisting(first.rel, false);
      if (existing) {
        closeSync(existing.fd);
        closeSync(existing.dirFd);
        throw new CapturePathError(
          `'${first.dir.resolve(first.rel)}' already exists (an earlier ring's file); choose another localPath.`,
        );
      }
      outputPath = first.dir.resolve(first.rel.replace(/[^/]+$/, base));
    } catch (error) {
      const message =
        error instanceof CapturePathError || error instanceof ConfinedPathError
          ? error.message
          : `cannot prepare the ring's folder: ${(error as Error).message}`;
      this.records.update(uid, {
        status: 'Error',
        stopReason: 'Error',
        errors: ['LocalFileFailed'],
        errorMessage: message,
      });
      return;
    }
    this.records.persist(rec);
    let session: RingCaptureSession;
    try {
      session = this.engine.startRingCapture(
        {
          captureId: order.captureName,
          interfaceName: this.opts.interfaceName,
          bpfExpression: order.bpfExpression,
          snapLengthInBytes: order.snapLengthInBytes,
          fileCount: ring.fileCount,
          fileSizeInBytes: ring.fileSizeInBytes,
          sessionTimeLimitInSeconds: ring.sessionTimeLimitInSeconds,
          outputPath,
        },
        {
          ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
          ...(this.opts.captureProgram ? { writer: ringWriterFor(this.opts.captureProgram) } : {}),
          onFileClosed: (file) => this.ringFileClosed(uid, file),
          onFileDeleted: (file) => this.ringFileDeleted(uid, file),
        },
      );
    } catch (error) {
      this.records.update(uid, {
        status: 'Error',
        stopReason: 'Error',
        errors: ['CaptureFailed'],
        errorMessage: (error as Error).message,
      });
      return;
    }
    this.sessions.set(uid, session);
    inBackground(
      this.opts.logger,
      `starting ring capture ${order.captureName}`,
      session.started.then(
        (at) => this.records.update(uid, { status: 'Running', captureStartTime: at.toISOString() }),
        () => {
          /* the outcome reports the failure */
        },
      ),
    );
    inBackground(
      this.opts.logger,
      `ending ring capture ${order.captureName}`,
      session.done.then((outcome) => this.ringFinished(uid, outcome)),
    );
  }

  private ringFileClosed(uid: string, file: RingFile): void {
    const rec = this.records.get(uid);
    if (!rec?.state.ring) return;
    const entry: AgentRingFile = {
      sequence: file.sequence,
      name: file.name,
      sizeInBytes: file.sizeInBytes,
      sha256: file.sha256,
      packetsCaptured: file.packetsCaptured,
      firstPacketTime: file.firstPacketTime?.toISOString() ?? null,
      lastPacketTime: file.lastPacketTime?.toISOString() ?? null,
      stored: false,
    };
    const files = [...rec.state.ring.files, entry].slice(-AGENT_MAX_RING_FILES_PER_STATE);
    rec.ringFileIdentities = keptRingFileIdentities(rec.ringFileIdentities, files);
    if (file.fileIdentity !== undefined) rec.ringFileIdentities[String(file.sequence)] = file.fileIdentity;
    this.records.update(uid, {
      ring: { ...rec.state.ring, files },
      packetsCaptured: rec.state.packetsCaptured + file.packetsCaptured,
      bytesCaptured: rec.state.bytesCaptured + file.sizeInBytes,
    });
    if (rec.order.upload) this.uploads.storeInBackground(rec);
  }

  private ringFileDeleted(uid: string, file: RingFile): void {
    const rec = this.records.get(uid);
    if (!rec?.state.ring) return;
    const r = rec.state.ring;
    const files = r.files.filter((f) => f.sequence !== file.sequence);
    rec.ringFileIdentities = keptRingFileIdentities(rec.ringFileIdentities, files);
    this.records.update(uid, {
      ring: {
        oldestSequence: Math.max(r.oldestSequence, file.sequence + 1),
        filesDeleted: r.filesDeleted + 1,
        files,
      },
    });
  }

  private ringFinished(uid: string, outcome: RingOutcome): void {
    this.sessions.delete(uid);
    const rec = this.records.get(uid);
    if (!rec) return;
    this.records.update(uid, {
      status: outcome.stopReason === 'Error' ? 'Error' : 'Stopped',
      captureStartTime: outcome.startedAt?.toISOString() ?? rec.state.captureStartTime,
      stopReason: this.closed && outcome.stopReason === 'Manual' ? 'AgentStopped' : outcome.stopReason,
      errors: outcome.error ? [outcome.error.code] : [],
      errorMessage: outcome.error?.message ?? null,
      kernelPacketsDropped: outcome.kernelPacketsDropped,
      kernelPacketsReceived: outcome.kernelPacketsReceived,
    });
    if (rec.order.upload) this.uploads.storeInBackground(rec);
  }

  private async stop(uid: string): Promise<void> {
    const session = this.sessions.get(uid);
    if (session) {
      await session.stop();
      return;
    }
    const rec = this.records.get(uid);
    if (rec) this.opts.send({ type: 'capture.state', state: rec.state });
  }

  private forget(uid: string, deleteFiles: boolean): void {
    const rec = this.records.get(uid);
    if (!rec) return;
    const session = this.sessions.get(uid);
    if (session) {
      // The server no longer has this capture (deleted while this host was away): end it, then forget it.
      inBackground(
        this.opts.logger,
        `stopping capture ${rec.order.captureName}`,
        session.stop().then(() => this.forget(uid, deleteFiles)),
      );
      return;
    }
    this.uploads.cancel(uid);
    this.records.remove(uid);
    if (rec.state.ring) {
      // A ring's spooled files belong to the capture alone; files under localPath go only when asked.
      if (rec.spooled || deleteFiles) {
        for (const f of rec.state.ring.files) {
          try {
            const { dir, rel } = this.files.ringFileLocation(rec.order, f.name);
            this.files.removeQuietly(dir, rel);
          } catch (error) {
            this.opts.logger.warn(
              { err: error, capture: rec.order.captureName },
              'could not remove a ring file of a deleted capture',
            );
          }
        }
      }
      return;
    }
    // A spool file belongs to the capture alone: once the capture is gone nobody can fetch it, stored or not.
    if (rec.spooled || (deleteFiles && rec.state.file)) {
      try {
        const { dir, rel } = this.files.fileLocation(rec.order);
        this.files.removeQuietly(dir, rel);
      } catch (error) {
        this.opts.logger.warn(
          { err: error, capture: rec.order.captureName },
          'could not remove the file of a deleted capture',
        );
      }
    }
  }

  /** Stops every running capture (their files are completed and kept) and timers. */
  async close(): Promise<void> {
    this.closed = true;
    this.uploads.close();
    for (const t of this.progressTimers.values()) clearInterval(t);
    await Promise.all([...this.sessions.values()].map((s) => s.stop()));
    await this.lookback.close();
  }
}

/** The identities of the ring files still in `files` (a rotated-out file's goes with it). */
function keptRingFileIdentities(
  identities: Record<string, FileIdentity> | undefined,
  files: ReadonlyArray<{ sequence: number }>,
): Record<string, FileIdentity> {
  const kept: Record<string, FileIdentity> = {};
  for (const f of files) {
    const identity = identities?.[String(f.sequence)];
    if (identity !== undefined) kept[String(f.sequence)] = identity;
  }
  return kept;
}
