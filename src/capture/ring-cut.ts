// The ring whose files the engine cuts itself (issue 13): tcpdump writes one pcap stream to its
// stdout (`-w -`), and this process walks its record headers and appends whole records to the
// current file, starting the next file at the record that would take the current one past
// fileSizeInBytes. Every size from one record up is then exact (no file above it, none cut short
// by tcpdump's whole-million -C), and since the engine itself starts each file it deletes the
// oldest just before, so exactly fileCount files exist at the end (no "nearly full" guess).
// The cost is one pipe copy and a header walk per packet; measured in docs/continuous.md.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CaptureFileWriter } from './file-writer.js';
import { ringFileName } from './ring-rules.js';
import { isListeningLine, tcpdumpErrorMessage } from './tcpdump-stderr.js';
import { CaptureStartError } from './types.js';
import type { CaptureStopReason } from './types.js';
import type { RingCaptureOptions, RingCaptureSession, RingCaptureSpec, RingFile, RingOutcome } from './ring.js';
import { decodePcapHeader, maxCapturedLengthFor, PCAP_GLOBAL_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES } from '../pcap/format.js';

/** The file being written: its writer and what has gone into it. */
interface OpenRingFile {
  sequence: number;
  partPath: string;
  writer: CaptureFileWriter;
  sizeInBytes: number;
  packets: number;
  firstInMs: number | null;
  lastInMs: number | null;
}

/**
 * A ring capture whose files this process writes from tcpdump's `-w -` stream. `launchArgv` is
 * everything before tcpdump's own arguments (command prefix, setpriv, stdbuf, tcpdump), `args`
 * tcpdump's arguments with `-w -`.
 */
export class EngineCutRing implements RingCaptureSession {
  readonly started: Promise<Date>;
  readonly done: Promise<RingOutcome>;
  private readonly dir: string;
  private readonly partBase: string;
  private child: ChildProcess | null = null;
  private startedAt: Date | null = null;
  private stopReason: CaptureStopReason | null = null;
  private error: RingOutcome['error'] = null;
  private stderr = '';
  private readonly closed: RingFile[] = [];
  private pending = 0; // closed files being handed on (onFileClosed not yet called)
  private deleted = 0;
  private chain: Promise<void> = Promise.resolve();
  private limitTimer: NodeJS.Timeout | null = null;
  private header: Buffer | null = null;
  private maxCaptured = 0;
  private littleEndian = true;
  private nanoseconds = false;
  private current: OpenRingFile | null = null;
  private nextSequence = 1;
  private cutOff = false; // a record stamped after the time limit was seen: nothing more is kept
  private resolveStarted!: (d: Date) => void;
  private rejectStarted!: (e: Error) => void;
  private resolveDone!: (o: RingOutcome) => void;

  constructor(private readonly spec: RingCaptureSpec, launchArgv: string[] | null, args: string[], private readonly opts: RingCaptureOptions) {
    this.dir = dirname(spec.outputPath);
    this.partBase = join(this.dir, `.${basename(spec.outputPath)}.${process.pid}.part`);
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.started.catch(() => undefined);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (launchArgv === null) {
      this.fail('CaptureFailed', `spawn ${opts.tcpdumpPath ?? 'tcpdump'} ENOENT`);
      void this.finish();
      return;
    }
    const argv = [...launchArgv, ...args];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (this.stderr.length < 64 * 1024) this.stderr += text;
      if (this.startedAt === null && isListeningLine(this.stderr)) this.onListening();
    });
    child.on('error', () => undefined);
    // The stream is read to its end before the outcome, so the last packets tcpdump flushes on SIGTERM are kept.
    const reading = this.readStream(child);
    child.on('close', (code) => {
      void reading.then(() => {
        if (this.startedAt === null) this.fail('CaptureFailed', tcpdumpErrorMessage(this.stderr) || `tcpdump exited with ${code}`);
        else if (this.stopReason === null) this.fail('CaptureFailed', `tcpdump ended on its own: ${tcpdumpErrorMessage(this.stderr)}`);
        return this.finish();
      });
    });
  }

  files(): RingFile[] {
    return [...this.closed];
  }

  stop(): Promise<RingOutcome> {
    this.requestStop('Manual');
    return this.done;
  }

  private onListening(): void {
    this.startedAt = new Date();
    this.resolveStarted(this.startedAt);
    if (this.spec.sessionTimeLimitInSeconds > 0) {
      this.limitTimer = setTimeout(() => this.requestStop('TimeExceeded'), this.spec.sessionTimeLimitInSeconds * 1000);
    }
  }

  private fail(code: 'CaptureFailed' | 'LocalFileFailed', message: string): void {
    if (this.error === null) this.error = { code, message };
    this.stopReason = 'Error';
    this.rejectStarted(new CaptureStartError(message, code));
  }

  private requestStop(reason: CaptureStopReason): void {
    if (this.stopReason !== null || this.child === null) return;
    this.stopReason = reason;
    const child = this.child;
    // As in ring.ts: let the kernel ring's last block reach tcpdump's output, then end it (it flushes on SIGTERM).
    setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, this.startedAt === null ? 0 : (this.opts.stopDrainTimeoutInMs ?? 1200));
  }

  // Reads tcpdump's stdout chunk by chunk (async iteration: while a file switch is awaited the
  // pipe fills and tcpdump waits, its packets held in the kernel ring, none lost here).
  private async readStream(child: ChildProcess): Promise<void> {
    const stdout = child.stdout;
    if (stdout === null) return;
    let carry: Buffer | null = null;
    try {
      for await (const chunk of stdout as AsyncIterable<Buffer>) {
        const buf: Buffer = carry === null ? chunk : Buffer.concat([carry, chunk]);
        const used = await this.consume(buf);
        carry = used < buf.length ? buf.subarray(used) : null;
      }
    } catch (err) {
      // Leaving the loop destroys the pipe; tcpdump, told to stop, ends on SIGTERM or EPIPE.
      this.failAndStop('LocalFileFailed', (err as Error).message);
    }
  }

  private failAndStop(code: 'CaptureFailed' | 'LocalFileFailed', message: string): void {
    const child = this.child;
    const wasStopping = this.stopReason !== null;
    this.fail(code, message);
    if (!wasStopping && child !== null) child.kill('SIGTERM');
  }

  // Appends the whole records at the start of `buf` to the ring's files; returns the bytes used
  // (a trailing partial record waits for the next chunk). Hot path: header fields read in place,
  // and each run of records that go to one file is appended as one slice.
  private async consume(buf: Buffer): Promise<number> {
    let at = 0;
    if (this.header === null) {
      if (buf.length < PCAP_GLOBAL_HEADER_BYTES) return 0;
      const header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      this.header = Buffer.from(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      this.maxCaptured = maxCapturedLengthFor(header);
      this.littleEndian = header.littleEndian;
      this.nanoseconds = header.magic === 'nsec';
      at = PCAP_GLOBAL_HEADER_BYTES;
      await this.startFile();
    }
    const le = this.littleEndian;
    const limit = this.spec.fileSizeInBytes;
    let runStart = at;
    while (buf.length - at >= PCAP_RECORD_HEADER_BYTES) {
      const capturedLength = le ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
      if (capturedLength > this.maxCaptured) throw new Error(`tcpdump's output is not a pcap stream: a record of ${capturedLength} bytes, more than the snap length allows`);
      const recordBytes = PCAP_RECORD_HEADER_BYTES + capturedLength;
      if (buf.length - at < recordBytes) break;
      if (this.cutOff) {
        at += recordBytes;
        runStart = at;
        continue;
      }
      const seconds = le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
      const fraction = le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4);
      const timeInMs = seconds * 1000 + (this.nanoseconds ? fraction / 1e6 : fraction / 1e3);
      // Past a time limit, what tcpdump still hands over during the drain is stamped after it: cut.
      const stopAfterInMs = this.stopAfterInMs();
      if (stopAfterInMs !== null && timeInMs > stopAfterInMs) {
        this.append(buf, runStart, at);
        this.cutOff = true;
        at += recordBytes;
        runStart = at;
        continue;
      }
      let file = this.current as OpenRingFile;
      // The record that would take the file past fileSizeInBytes starts the next one.
      if (file.sizeInBytes + (at - runStart) + recordBytes > limit) {
        this.append(buf, runStart, at);
        runStart = at;
        this.closeCurrent();
        await this.startFile();
        file = this.current as OpenRingFile;
      }
      file.packets++;
      file.firstInMs ??= timeInMs;
      file.lastInMs = timeInMs;
      at += recordBytes;
    }
    this.append(buf, runStart, at);
    return at;
  }

  private stopAfterInMs(): number | null {
    return this.stopReason === 'TimeExceeded' && this.startedAt !== null ? this.startedAt.getTime() + this.spec.sessionTimeLimitInSeconds * 1000 : null;
  }

  private append(buf: Buffer, from: number, to: number): void {
    if (to <= from || this.current === null) return;
    this.current.writer.append(buf.subarray(from, to));
    this.current.sizeInBytes += to - from;
  }

  // Opens the next file (header first), after deleting the oldest so that with it at most fileCount exist.
  private async startFile(): Promise<void> {
    this.enforceCount(1);
    // Files still being finished cannot be deleted yet: wait for them (reading pauses, tcpdump and
    // the kernel ring hold the packets) rather than let fileCount + 1 files exist.
    while (this.pending > 0 && this.closed.length + this.pending + 1 > this.spec.fileCount) {
      await this.chain;
      this.enforceCount(1);
    }
    const sequence = this.nextSequence++;
    const partPath = `${this.partBase}${sequence}`;
    const writer = await CaptureFileWriter.open(partPath);
    writer.append(this.header as Buffer);
    this.current = { sequence, partPath, writer, sizeInBytes: PCAP_GLOBAL_HEADER_BYTES, packets: 0, firstInMs: null, lastInMs: null };
  }

  // Finishes the current file (fsync, close, rename to its ring name) and hands it on, in order.
  private closeCurrent(): void {
    const file = this.current;
    if (file === null) return;
    this.current = null;
    this.pending++;
    const name = ringFileName(this.spec.outputPath, file.sequence);
    const path = join(this.dir, name);
    this.chain = this.chain.then(async () => {
      let ring: RingFile;
      try {
        const written = await file.writer.finish();
        renameSync(file.partPath, path);
        ring = {
          name, path, sequence: file.sequence, sizeInBytes: written.sizeInBytes, sha256: written.sha256, packetsCaptured: file.packets,
          firstPacketTime: file.firstInMs === null ? null : new Date(file.firstInMs),
          lastPacketTime: file.lastInMs === null ? null : new Date(file.lastInMs),
        };
      } catch (err) {
        this.pending--;
        try { unlinkSync(file.partPath); } catch { /* not there */ }
        this.failAndStop('LocalFileFailed', (err as Error).message);
        return;
      }
      this.pending--;
      this.closed.push(ring);
      await this.opts.onFileClosed?.(ring);
    });
  }

  // Deletes the oldest closed files until at most fileCount - room exist (closed, being finished, being written).
  private enforceCount(room: number): void {
    const writing = this.current === null ? 0 : 1;
    while (this.closed.length > 0 && this.closed.length + this.pending + writing + room > this.spec.fileCount) {
      const oldest = this.closed.shift() as RingFile;
      try {
        unlinkSync(oldest.path);
      } catch {
        // already gone
      }
      this.deleted++;
      void Promise.resolve(this.opts.onFileDeleted?.(oldest)).catch(() => undefined);
    }
  }

  private async finish(): Promise<void> {
    if (this.limitTimer) clearTimeout(this.limitTimer);
    this.closeCurrent();
    await this.chain;
    this.resolveDone({ stopReason: this.stopReason ?? 'Error', startedAt: this.startedAt, endedAt: new Date(), files: [...this.closed], filesDeleted: this.deleted, error: this.error });
  }
}
