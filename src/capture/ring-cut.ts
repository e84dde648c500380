// The ring whose files the engine cuts itself (issue 13): tcpdump writes one pcap stream to its
// stdout (`-w -`), and this process walks its record headers and appends whole records to the
// current file, starting the next file at the record that would take the current one past
// fileSizeInBytes. Every size from one record up is then exact (no file above it, none cut short
// by tcpdump's whole-million -C), and since the engine itself starts each file it deletes the
// oldest just before, so exactly fileCount files exist at the end (no "nearly full" guess).
// The cost: one more copy (through the pipe) and a header walk per packet; measured in docs/continuous.md.
import type { ChildProcess } from 'node:child_process';
import { renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CaptureFileWriter } from './file-writer.js';
import { cutCaptureFile } from './pcap-cut.js';
import { effectiveSnapLength, ringFileName } from './ring-rules.js';
import { ringFileFromCut, TcpdumpRingSession } from './ring-session.js';
import { fileIdentityOfPath } from '../lib/file-identity.js';
import type { TcpdumpInfoLine } from './tcpdump-stderr.js';
import type { RingCaptureOptions, RingCaptureSpec, RingFile } from './ring.js';
import {
  decodePcapHeader,
  maxCapturedLengthFor,
  PCAP_GLOBAL_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
} from '../pcap/format.js';

// Bytes queued for the disk beyond which the engine stops reading tcpdump's stream until they are written.
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/** Where a record goes (see classify). */
const enum RecordFate {
  SameFile,
  NextFile,
  Drop,
}

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
export class EngineCutRing extends TcpdumpRingSession {
  private readonly partBase: string;
  private statsTimer: NodeJS.Timeout | null = null;
  private recordsReceived = 0; // records read from tcpdump's stream so far
  private recordsAtLastReport = 0;
  private header: Buffer | null = null;
  private maxCaptured = 0;
  private littleEndian = true;
  private nanoseconds = false;
  private current: OpenRingFile | null = null;
  private nextSequence = 1;
  private cutOff = false; // a record stamped after the time limit was seen: nothing more is kept
  private split: Buffer | null = null; // the start of a header cut by the end of the last chunk
  private recordLeft = 0; // bytes of a record begun in an earlier chunk still to come
  private recordCapturedLength = 0; // of the record last classified
  private recordTimeInMs = 0; // of the record last classified

  constructor(spec: RingCaptureSpec, launchArgv: string[] | null, args: string[], opts: RingCaptureOptions) {
    super(spec, opts);
    this.partBase = join(this.dir, `.${basename(spec.outputPath)}.${process.pid}.part`);
    this.launch(launchArgv === null ? null : [...launchArgv, ...args], (child) => this.readStream(child));
  }
  protected override onListening(): void {
    super.onListening();
    this.statsTimer = setInterval(() => this.counters.request(), this.opts.statsIntervalInMs ?? 1000);
  }

  // tcpdump's report: the stop's hand-over, and the nudge of a quiet link. tcpdump has captured
  // packets this process has not read and nothing came since the last report: they sit in its
  // 64 KiB stdio buffer (on a quiet link for minutes), so ask it to flush (SIGUSR2, tcpdump's
  // flush-the-savefile signal), as the single-file engine does (session.ts); the current file
  // then grows within one report interval of the traffic.
  protected override onReport(info: TcpdumpInfoLine): void {
    this.counters.onReport(info);
    const quiet = this.recordsReceived === this.recordsAtLastReport;
    this.recordsAtLastReport = this.recordsReceived;
    if (this.stopReason === null && quiet && info.packetsCaptured > this.recordsReceived) this.signal('SIGUSR2');
  }

  // Reads tcpdump's stdout chunk by chunk (async iteration: while a file switch is awaited the
  // pipe fills and tcpdump waits, its packets held in the kernel ring, none lost here).
  private async readStream(child: ChildProcess): Promise<void> {
    const stdout = child.stdout;
    if (stdout === null) return;
    try {
      for await (const chunk of stdout as AsyncIterable<Buffer>) await this.consume(chunk);
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

  // Appends the chunk's bytes to the ring's files, record by record, without copying them: a
  // record that spans chunks (most do at full snap: 64 KiB reads, records up to 64 KiB) goes on
  // piece by piece into the file chosen at its header; only a record header split between chunks
  // (16 bytes) is copied. Hot path: header fields read in place, each run of records that go to
  // one file appended as one slice.
  private async consume(chunk: Buffer): Promise<void> {
    if (this.cutOff) return;
    let buf = chunk;
    let at = 0;
    if (this.header === null) {
      buf = this.split === null ? chunk : Buffer.concat([this.split, chunk]);
      this.split = null;
      if (buf.length < PCAP_GLOBAL_HEADER_BYTES) {
        this.split = Buffer.from(buf);
        return;
      }
      const header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      this.header = Buffer.from(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
      // tcpdump never writes more than its -s: a longer record is not its stream, and could pass the size.
      this.maxCaptured = Math.min(maxCapturedLengthFor(header), effectiveSnapLength(this.spec.snapLengthInBytes));
      this.littleEndian = header.littleEndian;
      this.nanoseconds = header.magic === 'nsec';
      at = PCAP_GLOBAL_HEADER_BYTES;
      await this.startFile();
    }
    // The rest of a record begun in an earlier chunk.
    if (this.recordLeft > 0) {
      const n = Math.min(this.recordLeft, buf.length - at);
      this.append(buf, at, at + n);
      this.recordLeft -= n;
      at += n;
      if (this.recordLeft > 0) return;
    }
    // A record header split by the last chunk, completed from this one.
    if (this.split !== null) {
      const need = PCAP_RECORD_HEADER_BYTES - this.split.length;
      if (buf.length - at < need) {
        this.split = Buffer.concat([this.split, buf.subarray(at)]);
        return;
      }
      const recordHeader = Buffer.concat([this.split, buf.subarray(at, at + need)]);
      this.split = null;
      const fate = this.classify(recordHeader, 0);
      if (fate === RecordFate.Drop) {
        this.cutOff = true;
        return;
      }
      if (fate === RecordFate.NextFile) await this.nextFile();
      this.assign();
      this.append(recordHeader, 0, PCAP_RECORD_HEADER_BYTES);
      at += need;
      const n = Math.min(this.recordCapturedLength, buf.length - at);
      this.append(buf, at, at + n);
      this.recordLeft = this.recordCapturedLength - n;
      at += n;
      if (this.recordLeft > 0) return;
    }
    let runStart = at;
    while (buf.length - at >= PCAP_RECORD_HEADER_BYTES) {
      const fate = this.classify(buf, at);
      if (fate === RecordFate.Drop) {
        this.append(buf, runStart, at);
        this.cutOff = true;
        return;
      }
      if (fate === RecordFate.NextFile) {
        this.append(buf, runStart, at);
        runStart = at;
        await this.nextFile();
      }
      this.assign();
      const end = at + PCAP_RECORD_HEADER_BYTES + this.recordCapturedLength;
      if (end > buf.length) {
        this.recordLeft = end - buf.length;
        at = buf.length;
        break;
      }
      at = end;
    }
    this.append(buf, runStart, at);
    if (at < buf.length) this.split = Buffer.from(buf.subarray(at));
    // A disk slower than the capture: stop reading rather than queue without bound (tcpdump then
    // waits on the pipe and the kernel ring drops, as when tcpdump writes to that disk itself).
    const writer = this.current?.writer;
    if (writer !== undefined && writer.pendingBytes > MAX_QUEUED_BYTES) await writer.whenDrained();
  }

  // Reads the record header at `at` into recordCapturedLength/recordTimeInMs and says where the
  // record goes: cut off (stamped past the time limit: it and all after it), the current file,
  // or the next file (it would take the current one past fileSizeInBytes).
  private classify(buf: Buffer, at: number): RecordFate {
    const le = this.littleEndian;
    const capturedLength = le ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
    if (capturedLength > this.maxCaptured)
      throw new Error(
        `tcpdump's output is not a pcap stream: a record of ${capturedLength} bytes, more than the snap length ${this.maxCaptured}`,
      );
    const seconds = le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    const fraction = le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4);
    this.recordCapturedLength = capturedLength;
    this.recordTimeInMs = seconds * 1000 + (this.nanoseconds ? fraction / 1e6 : fraction / 1e3);
    // Past a time limit, what tcpdump still hands over during the drain is stamped after it.
    if (
      this.stopReason === 'TimeExceeded' &&
      this.startedAt !== null &&
      this.recordTimeInMs > this.startedAt.getTime() + this.spec.sessionTimeLimitInSeconds * 1000
    )
      return RecordFate.Drop;
    const file = this.current as OpenRingFile;
    return file.sizeInBytes + PCAP_RECORD_HEADER_BYTES + capturedLength > this.spec.fileSizeInBytes
      ? RecordFate.NextFile
      : RecordFate.SameFile;
  }

  // Counts the record just classified into the current file.
  private assign(): void {
    const file = this.current as OpenRingFile;
    file.sizeInBytes += PCAP_RECORD_HEADER_BYTES + this.recordCapturedLength;
    file.packets++;
    this.recordsReceived++;
    file.firstInMs ??= this.recordTimeInMs;
    file.lastInMs = this.recordTimeInMs;
  }

  private async nextFile(): Promise<void> {
    this.closeCurrent();
    await this.startFile();
  }

  // Bytes of records already counted into the current file (assign) go to its writer.
  private append(buf: Buffer, from: number, to: number): void {
    if (to <= from || this.current === null) return;
    this.current.writer.append(buf.subarray(from, to));
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
    writer.onError = (err) => this.failAndStop('LocalFileFailed', err.message);
    writer.append(this.header as Buffer);
    this.current = {
      sequence,
      partPath,
      writer,
      sizeInBytes: PCAP_GLOBAL_HEADER_BYTES,
      packets: 0,
      firstInMs: null,
      lastInMs: null,
    };
  }

  // Finishes the current file (fsync, close, rename to its ring name) and hands it on, in order.
  // `torn`: tcpdump ended inside a record (killed), so the file is cut back to its last whole one.
  private closeCurrent(torn = false): void {
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
        if (!torn && written.sizeInBytes !== file.sizeInBytes)
          throw new Error(`${name}: wrote ${written.sizeInBytes} bytes for records of ${file.sizeInBytes}`);
        renameSync(file.partPath, path);
        ring = {
          name,
          path,
          sequence: file.sequence,
          sizeInBytes: written.sizeInBytes,
          sha256: written.sha256,
          // After the rename, which moves ctime: the identity the uploader will find.
          fileIdentity: fileIdentityOfPath(path),
          packetsCaptured: file.packets,
          firstPacketTime: file.firstInMs === null ? null : new Date(file.firstInMs),
          lastPacketTime: file.lastInMs === null ? null : new Date(file.lastInMs),
        };
        if (torn) {
          const handle = await open(path, 'r+');
          try {
            // The engine wrote this file itself, through the page cache.
            const cut = await cutCaptureFile(
              handle,
              { maxBytes: this.spec.fileSizeInBytes, stopAfterInMs: null },
              { tryDirect: false },
            );
            await handle.sync();
            ring = ringFileFromCut(name, path, file.sequence, cut);
          } finally {
            await handle.close();
          }
        }
      } catch (err) {
        this.pending--;
        try {
          unlinkSync(file.partPath);
        } catch {
          /* not there */
        }
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
    while (this.closed.length > 0 && this.closed.length + this.pending + writing + room > this.spec.fileCount)
      this.deleteOldest();
  }

  protected async finish(): Promise<void> {
    this.stopTimers();
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.closeCurrent(this.recordLeft > 0);
    await this.chain;
    this.resolveOutcome();
  }
}
