import { randomUUID } from 'node:crypto';
import { isFileIdentity, type Logger } from '../lib/index.js';
import type { AgentCaptureState, AgentToServer, ServerToAgent } from '../model/index.js';
import { fileHasSha256, uploadFile, uploadGrantSchema, type UploadGrant } from '../storage/uploader.js';
import { inBackground } from './background.js';
import type { CaptureFiles } from './capture-files.js';
import type { CaptureRecord, CaptureRecords } from './capture-records.js';
import { ServerRequests } from './server-requests.js';

/** Answers to an upload request. */
type GrantAnswer =
  | { kind: 'grant'; grant: UploadGrant }
  | { kind: 'refused'; reason: string; retryable: boolean; alreadyStored?: boolean };

/** The server's verdict on an uploaded file (size and SHA-256 of the stored blob). */
interface VerificationAnswer {
  ok: boolean;
  reason?: string;
}

/** How one attempt at storing a file ended. */
type AttemptOutcome = { ok: true } | { ok: false; reason: string; retryable: boolean };

/** A file to upload: a capture's file, or a ring file (its path is then the file's name). */
type UploadableFile = NonNullable<AgentCaptureState['file']>;

/** Timings of the upload retry machine (AGENT_DEFAULTS gives the agent's). */
export interface UploadTimings {
  /** How long one upload may keep retrying before the capture reports StorageFailed. */
  retryBudgetInMs: number;
  /** Interval between later retries after a StorageFailed. */
  retryIntervalInMs: number;
  /** Pause between two attempts within the budget. */
  retryPauseInMs: number;
  /** The uploader's own retries get at least this much of what is left of the budget. */
  attemptMinBudgetInMs: number;
  /** How long the server has to answer an upload request or a verification. */
  serverAnswerTimeoutInMs: number;
}

/** What the upload machine needs from the capture manager. */
export interface CaptureUploadsOptions {
  records: CaptureRecords;
  files: CaptureFiles;
  send(msg: AgentToServer): boolean;
  logger: Logger;
  timings: UploadTimings;
  /** CA (PEM) of a server with a private certificate, trusted for uploads to the server's own (local) storage. */
  serverCa?: string;
}

/**
 * The upload retry machine: asks the server for a grant, uploads, waits for the server to verify
 * size and SHA-256, and retries within a budget; past it the capture reports StorageFailed and the
 * host keeps the file and tries again every retryIntervalInMs. A ring's files go one at a time,
 * oldest first, as soon as each closes.
 */
export class CaptureUploads {
  private readonly grants: ServerRequests<GrantAnswer>;
  private readonly verifications: ServerRequests<VerificationAnswer>;
  private readonly uploading = new Set<string>();
  /** Ring files whose upload is under way or queued, per capture (one at a time, oldest first). */
  private readonly ringUploading = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: CaptureUploadsOptions) {
    this.grants = new ServerRequests(opts.send, opts.timings.serverAnswerTimeoutInMs);
    this.verifications = new ServerRequests(opts.send, opts.timings.serverAnswerTimeoutInMs);
  }

  /** The connection to the server is gone: requests sent on it get no answer. */
  onDisconnected(): void {
    this.grants.abandonAll();
    this.verifications.abandonAll();
  }

  /** Takes the server's answers to upload requests and verifications; other messages are not for it. */
  handle(msg: ServerToAgent): void {
    switch (msg.type) {
      case 'upload.grant': {
        // A grant names where the agent sends a file: only one of the shapes src/storage knows is used.
        const grant = uploadGrantSchema.safeParse(msg.grant);
        this.grants.answer(
          msg.requestId,
          grant.success
            ? { kind: 'grant', grant: grant.data }
            : { kind: 'refused', reason: 'the server sent an upload grant of an unknown shape', retryable: true },
        );
        break;
      }
      case 'upload.refused':
        this.grants.answer(msg.requestId, {
          kind: 'refused',
          reason: msg.reason,
          retryable: msg.retryable,
          ...(msg.alreadyStored ? { alreadyStored: true } : {}),
        });
        break;
      case 'upload.verified':
        this.verifications.answer(msg.requestId, {
          ok: msg.ok,
          ...(msg.reason !== undefined ? { reason: msg.reason } : {}),
        });
        break;
      default:
        break;
    }
  }

  /** True when a capture has a finished file (or ring files) to store that is not stored yet. */
  needsUpload(rec: CaptureRecord): boolean {
    if (rec.state.ring) return rec.order.upload && rec.state.ring.files.some((f) => !f.stored);
    return (
      rec.order.upload &&
      rec.state.file !== null &&
      !rec.state.file.stored &&
      (rec.state.status === 'Stopped' || rec.state.status === 'Error')
    );
  }

  /** Stores what a capture has to store, in the background: its file, or its ring's unstored files. */
  storeInBackground(rec: CaptureRecord): void {
    const uid = rec.state.captureUid;
    inBackground(
      this.opts.logger,
      `storing the files of capture ${rec.order.captureName}`,
      rec.state.ring ? this.uploadRing(uid) : this.upload(uid, 'storage'),
    );
  }

  /** Sends a capture's file (or one ring file) to the server's host-files store for a download, in the background. */
  fetchInBackground(uid: string, ringFileSequence?: number): void {
    inBackground(
      this.opts.logger,
      `sending a file of capture ${uid} for download`,
      ringFileSequence !== undefined ? this.fetchRingFile(uid, ringFileSequence) : this.upload(uid, 'fetch'),
    );
  }

  /** Drops a capture's pending retry (the capture is forgotten). */
  cancel(uid: string): void {
    clearTimeout(this.retryTimers.get(uid));
  }

  /** Ends every retry; uploads under way stop at their next step. */
  close(): void {
    this.closed = true;
    for (const t of this.retryTimers.values()) clearTimeout(t);
  }

  private retryLater(uid: string, retry: () => Promise<void>): void {
    clearTimeout(this.retryTimers.get(uid));
    const timer = setTimeout(
      () => inBackground(this.opts.logger, `retrying the upload of capture ${uid}`, retry()),
      this.opts.timings.retryIntervalInMs,
    );
    timer.unref();
    this.retryTimers.set(uid, timer);
  }

  private pause(deadline: number): Promise<void> {
    return new Promise((r) =>
      setTimeout(r, Math.min(this.opts.timings.retryPauseInMs, Math.max(0, deadline - Date.now()))),
    );
  }

  /** What is left of the budget for one attempt (the uploader's own retries stay within it). */
  private attemptBudget(deadline: number): number {
    return Math.max(this.opts.timings.attemptMinBudgetInMs, deadline - Date.now());
  }

  /** Asks the server for a grant, uploads, and waits for the server to verify size and SHA-256. */
  private async upload(uid: string, purpose: 'storage' | 'fetch'): Promise<void> {
    const key = `${uid}:${purpose}`;
    if (this.uploading.has(key) || this.closed) return;
    const rec = this.opts.records.get(uid);
    const file = rec?.state.file;
    if (!rec || !file) return;
    this.uploading.add(key);
    const deadline = Date.now() + this.opts.timings.retryBudgetInMs;
    try {
      let lastReason = 'not connected to the server';
      while (!this.closed && Date.now() < deadline) {
        const result = await this.tryUpload(uid, file, this.attemptBudget(deadline));
        if (result.ok) {
          if (purpose === 'storage') {
            const errors = rec.state.errors.filter((e) => e !== 'StorageFailed');
            this.opts.records.update(uid, {
              file: { ...file, stored: true },
              errors,
              errorMessage: errors.length ? rec.state.errorMessage : null,
            });
            if (rec.spooled) this.opts.files.removeQuietly(this.opts.files.data, `spool/${uid}.cap`);
          }
          return;
        }
        lastReason = result.reason;
        if (!result.retryable) break;
        await this.pause(deadline);
      }
      if (purpose === 'storage' && !this.closed) {
        this.opts.logger.warn(
          { capture: rec.order.captureName, reason: lastReason },
          'could not store the capture file; keeping it and retrying later',
        );
        if (!rec.state.errors.includes('StorageFailed'))
          this.opts.records.update(uid, {
            errors: [...rec.state.errors, 'StorageFailed'],
            errorMessage: `Storing the file failed: ${lastReason}. The host keeps it and retries.`,
          });
        this.retryLater(uid, () => this.upload(uid, 'storage'));
      }
    } finally {
      this.uploading.delete(key);
    }
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
        const rec = this.opts.records.get(uid);
        const next = rec?.state.ring?.files.find((f) => !f.stored);
        if (!rec || !next || this.closed) return;
        const deadline = Date.now() + this.opts.timings.retryBudgetInMs;
        let result: AttemptOutcome = { ok: false, reason: 'not connected to the server', retryable: true };
        while (!this.closed && Date.now() < deadline && this.ringHolds(uid, next.sequence)) {
          result = await this.tryUpload(uid, { ...next, path: next.name }, this.attemptBudget(deadline), next.sequence);
          if (result.ok || !result.retryable) break;
          await this.pause(deadline);
        }
        const current = this.opts.records.get(uid);
        if (!current?.state.ring) return;
        if (!this.ringHolds(uid, next.sequence)) continue; // rotated out meanwhile
        if (result.ok) {
          const errors = current.state.errors.filter((e) => e !== 'StorageFailed');
          this.opts.records.update(uid, {
            ring: {
              ...current.state.ring,
              files: current.state.ring.files.map((f) => (f.sequence === next.sequence ? { ...f, stored: true } : f)),
            },
            errors,
            errorMessage: errors.length ? current.state.errorMessage : null,
          });
          // A spooled file was only kept to be stored.
          if (current.spooled) this.opts.files.removeQuietly(this.opts.files.data, `spool/${uid}/${next.name}`);
          continue;
        }
        if (this.closed) return;
        const reason = result.reason;
        this.opts.logger.warn(
          { capture: current.order.captureName, file: next.name, reason },
          'could not store a ring file; keeping it and retrying later',
        );
        if (!current.state.errors.includes('StorageFailed'))
          this.opts.records.update(uid, {
            errors: [...current.state.errors, 'StorageFailed'],
            errorMessage: `Storing ring file ${next.name} failed: ${reason}. The host keeps it and retries.`,
          });
        this.retryLater(uid, () => this.uploadRing(uid));
        return;
      }
    } finally {
      this.ringUploading.delete(uid);
    }
  }

  /** True while file `sequence` of the capture's ring is still on the host (not rotated out). */
  private ringHolds(uid: string, sequence: number): boolean {
    return this.opts.records.get(uid)?.state.ring?.files.some((f) => f.sequence === sequence) ?? false;
  }

  /** Sends one ring file to the server's host-files store for a download (a ring kept only on the host). */
  private async fetchRingFile(uid: string, sequence: number): Promise<void> {
    const file = this.opts.records.get(uid)?.state.ring?.files.find((f) => f.sequence === sequence);
    if (!file) return;
    const result = await this.tryUpload(uid, { ...file, path: file.name }, this.opts.timings.retryBudgetInMs, sequence);
    if (!result.ok)
      this.opts.logger.warn(
        { capture: uid, file: file.name, reason: result.reason },
        'could not send a ring file for download',
      );
  }

  /** One attempt: a grant, the upload, the server's verification. */
  private async tryUpload(
    uid: string,
    file: UploadableFile,
    retryBudgetInMs: number,
    ringFileSequence?: number,
  ): Promise<AttemptOutcome> {
    const requestId = randomUUID();
    const ringPart = ringFileSequence !== undefined ? { ringFileSequence } : {};
    const answer = await this.grants.ask(
      requestId,
      {
        type: 'upload.request',
        requestId,
        captureUid: uid,
        sizeInBytes: file.sizeInBytes,
        sha256: file.sha256,
        ...ringPart,
      },
      { kind: 'refused', reason: 'no answer from the server', retryable: true },
    );
    this.opts.logger.debug(
      { capture: uid, answer: answer.kind, ...(answer.kind === 'refused' ? { reason: answer.reason } : {}) },
      'upload grant answer',
    );
    if (answer.kind === 'refused')
      return answer.alreadyStored ? { ok: true } : { ok: false, reason: answer.reason, retryable: answer.retryable };
    if (answer.grant.sizeInBytes !== file.sizeInBytes)
      return {
        ok: false,
        reason: `the server granted ${answer.grant.sizeInBytes} bytes for a file of ${file.sizeInBytes}`,
        retryable: true,
      };
    const rec = this.opts.records.get(uid);
    if (!rec) return { ok: false, reason: 'the capture was deleted', retryable: false };
    const location =
      ringFileSequence !== undefined ? this.opts.files.ringFileLocation(rec.order, file.path) : undefined;
    const savedIdentity =
      ringFileSequence !== undefined ? rec.ringFileIdentities?.[String(ringFileSequence)] : rec.fileIdentity;
    // Read back from disk: a damaged one counts as none (the file is then hashed).
    const identity = isFileIdentity(savedIdentity) ? savedIdentity : undefined;
    const result = await this.opts.files.withFile(
      rec.order,
      false,
      (held) =>
        uploadFile(answer.grant, held, {
          sizeInBytes: file.sizeInBytes,
          sha256: file.sha256,
          // The engine hashed this file as it finalised it and recorded its identity then: the
          // uploader compares that (fstat) at the open and before the blob is committed, so a
          // file changed since is refused (LocalFileChanged) and never stored, without a second
          // SHA-256 (~0.5–0.7 CPU-s per GB). Without an identity (a record saved by an older
          // agent) the file is hashed as it is read. The server still hashes the stored blob
          // against the same SHA-256 (deleting it on a mismatch), and the file is hashed here
          // again only when that verification fails (below).
          localContentCheck: identity !== undefined ? { identity } : 'beforeStore',
          retryBudgetInMs,
          ...(this.opts.serverCa !== undefined ? { serverCa: this.opts.serverCa } : {}),
        }),
      location,
    );
    if (result === null) return { ok: false, reason: `the file ${file.path} is gone from the host`, retryable: false };
    this.opts.logger.debug(
      { capture: uid, ok: result.ok, ...(result.ok ? {} : { reason: result.reason }) },
      'upload of the file ended',
    );
    if (!result.ok) return result;
    const verified = await this.verifications.ask(
      requestId,
      {
        type: 'upload.done',
        requestId,
        captureUid: uid,
        sizeInBytes: file.sizeInBytes,
        sha256: file.sha256,
        ...ringPart,
      },
      { ok: false, reason: 'no answer from the server' },
    );
    this.opts.logger.debug(
      { capture: uid, verified: verified.ok, reason: verified.reason },
      'the server verified the upload',
    );
    if (verified.ok) return { ok: true };
    // A file that changed since the engine hashed it would fail every attempt: say so, and stop.
    const unchanged = await this.opts.files.withFile(
      rec.order,
      false,
      (held) => fileHasSha256(held, file.sha256),
      location,
    );
    if (unchanged === false)
      return {
        ok: false,
        reason: 'LocalFileChanged: the local file no longer has the expected SHA-256',
        retryable: false,
      };
    return { ok: false, reason: verified.reason ?? 'verification failed', retryable: true };
  }
}
