import { createHash } from 'node:crypto';
import { constants, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/** Thrown (and reported) when the capture file cannot be opened, written, synced or closed. */
export class CaptureFileError extends Error {
  override readonly name = 'CaptureFileError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What a finished file holds. */
export interface WrittenFile {
  /** Bytes on disk. */
  sizeInBytes: number;
  /** Hex SHA-256 of those bytes. */
  sha256: string;
}

/**
 * Appends buffers to a file in order without ever making the caller wait: `append` queues,
 * a single background loop writes (gathering queued buffers into one writev), and the SHA-256
 * is computed as data is queued. The capture engine reads tcpdump's stdout on the same event
 * loop, so a slow disk must cost memory here, not packets in the kernel.
 *
 * Each appended buffer is a unit (the capture engine appends whole pcap records): when a write
 * fails part-way — a full disk takes what fits, then says ENOSPC — the file is cut back to the
 * end of the last buffer written whole, so it never ends in a torn record.
 * @example
 * const w = await CaptureFileWriter.open('/var/captures/a.cap');
 * w.append(header); w.append(record);
 * const { sha256 } = await w.finish();
 */
export class CaptureFileWriter {
  private readonly handle: FileHandle;
  private readonly hash = createHash('sha256');
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private acceptedBytes = 0;
  /** File offset up to which every appended buffer is wholly on disk: where a failed write cuts the file back to. */
  private completeBytes = 0;
  private writing: Promise<void> | null = null;
  private failure: CaptureFileError | null = null;
  private finished = false;
  private readonly path: string;
  private drainWaiters: Array<() => void> = [];

  /** Called once if a write fails; later appends are ignored and finish() rejects. */
  onError: ((err: CaptureFileError) => void) | null = null;

  private constructor(handle: FileHandle, path: string) {
    this.handle = handle;
    this.path = path;
  }

  /**
   * Creates (or truncates) the file; rejects with CaptureFileError. Never through a symbolic link
   * at the file's own name (O_NOFOLLOW): the agent runs as root, and a link planted there must not
   * make it truncate whatever the link points to.
   */
  static async open(path: string): Promise<CaptureFileWriter> {
    try {
      return new CaptureFileWriter(
        await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o640),
        path,
      );
    } catch (err) {
      throw new CaptureFileError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Bytes accepted so far (written or queued). */
  get sizeInBytes(): number {
    return this.acceptedBytes;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** The first write failure, if any. */
  get error(): CaptureFileError | null {
    return this.failure;
  }

  /** Queues `buf` (kept by reference: do not modify it afterwards). */
  append(buf: Buffer): void {
    if (this.finished) throw new Error('append after finish');
    if (this.failure !== null || buf.length === 0) return;
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    this.acceptedBytes += buf.length;
    this.hash.update(buf);
    if (this.writing === null) this.writing = this.writeLoop();
  }

  /** Resolves when the queue is empty (or writing failed). */
  whenDrained(): Promise<void> {
    if (this.queuedBytes === 0 || this.failure !== null) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Writes everything queued, fsyncs and closes; rejects with CaptureFileError on any failure. */
  async finish(): Promise<WrittenFile> {
    this.finished = true;
    if (this.writing !== null) await this.writing;
    try {
      if (this.failure === null) {
        try {
          await this.handle.sync();
        } catch (err) {
          this.fail(new CaptureFileError(`cannot fsync ${this.path}: ${(err as Error).message}`, { cause: err }));
        }
      }
    } finally {
      try {
        await this.handle.close();
      } catch (err) {
        this.fail(new CaptureFileError(`cannot close ${this.path}: ${(err as Error).message}`, { cause: err }));
      }
    }
    if (this.failure !== null) throw this.failure;
    return { sizeInBytes: this.acceptedBytes, sha256: this.hash.digest('hex') };
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === null) {
        // writev takes at most IOV_MAX (1024) buffers per call on Linux.
        const batch = this.queue.splice(0, 1024);
        let batchBytes = 0;
        for (const b of batch) batchBytes += b.length;
        try {
          await this.writeFully(batch, batchBytes);
        } catch (err) {
          await this.cutToCompleteBuffers();
          this.fail(new CaptureFileError(`cannot write ${this.path}: ${(err as Error).message}`, { cause: err }));
          break;
        }
        this.queuedBytes -= batchBytes;
      }
    } finally {
      this.writing = null;
      if (this.failure !== null) {
        this.queue = [];
        this.queuedBytes = 0;
      }
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  // writev may write less than asked (a full disk, a signal); carry on from where it stopped.
  private async writeFully(batch: Buffer[], batchBytes: number): Promise<void> {
    let written = 0;
    let buffers = batch;
    // Bytes of the buffer at the head of `buffers` that precede it in the original batch element (it may be a tail).
    let headOffset = 0;
    while (written < batchBytes) {
      const { bytesWritten } = await this.handle.writev(buffers);
      if (bytesWritten === 0) throw new Error('write made no progress');
      written += bytesWritten;
      let skip = bytesWritten;
      const rest: Buffer[] = [];
      for (const b of buffers) {
        if (skip >= b.length) {
          skip -= b.length;
          // A whole appended buffer (or the tail that completes it) is now on disk.
          this.completeBytes += headOffset + b.length;
          headOffset = 0;
          continue;
        }
        if (skip > 0) {
          rest.push(b.subarray(skip));
          headOffset += skip;
        } else {
          rest.push(b);
        }
        skip = 0;
      }
      buffers = rest;
    }
  }

  // Best effort: if even the truncate fails the file is what recoverCaptureFile repairs later.
  private async cutToCompleteBuffers(): Promise<void> {
    try {
      await this.handle.truncate(this.completeBytes);
    } catch {
      /* reported through the write failure */
    }
  }

  private fail(err: CaptureFileError): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.onError?.(err);
  }
}
