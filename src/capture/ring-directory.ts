// The ring whose files the capture process writes and rotates itself, this process watching the
// directory (issue 13, issue 18): nw-capture with `--file-size-bytes N` (exact sizes: a new file
// starts before the record that would pass N) or tcpdump with `-C MILLIONS` (whole millions, a
// file may pass them by one record). Either writes PART, PART1, PART2, … and creates the next file
// only once the previous one is closed, so "a later file exists" means "the earlier one is
// complete"; this process renames each complete file to its ring name, finishes it (count, hash,
// and a cut at the time limit or at a torn last record) and deletes the oldest.
// What it cannot do is delete the oldest exactly when the next file starts: the writer starts it
// on its own, so the oldest goes when the current file is nearly full (margin below), and a ring
// whose traffic ends in that window keeps fileCount - 1 files (docs/continuous.md).
import { existsSync, renameSync, statSync, unlinkSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { firstPacketTimeInMs } from './first-packet-time.js';
import { cutCaptureFile } from './pcap-cut.js';
import { ringFileName } from './ring-rules.js';
import { ringFileFromCut, TcpdumpRingSession } from './ring-session.js';
import type { RingCaptureOptions, RingCaptureSpec, RingFile } from './ring.js';

/** How one writing program rotates: what DirectoryRing needs to know of it. */
export interface DirectoryRingWriter {
  /** 'tcpdump' or 'nw-capture', for messages. */
  programName: string;
  /** Everything before the program's own arguments, the program last; null when it is not found. */
  launchArgv: string[] | null;
  /** The program's arguments with `-w -` (buildTcpdumpArgs). */
  baseArgs: string[];
  /** The arguments that replace `-w -`: its part path and its rotation option. */
  rotationArgs(partPath: string): string[];
  /** The smallest size of the current file at which the writer may start the next one. */
  switchFromBytes: number;
  /**
   * Bytes the file on disk may lag the writer's own count by, beyond its recent growth: tcpdump's
   * stdio buffer, or nw-capture's piece being filled (4 MiB, written at once).
   */
  lagBytes: number;
  /**
   * Whether the early deletion waits until the file is at least half full (tcpdump: its lag is
   * small, so a file far from the switch is never the reason to delete one).
   */
  marginAtMostHalf: boolean;
  /** True when an exit on its own was a failure to write the files (LocalFileFailed), from its stderr. */
  isWriteError(stderrText: string): boolean;
}

export class DirectoryRing extends TcpdumpRingSession {
  // The writer's own names: PART, PART1, PART2, … (hidden, so nothing mistakes them for finished files).
  private readonly partPath: string;
  private current = 0; // the writer's index of the file being written
  private lastSize = 0; // size of the current file at the last check
  private growthPerCheck = 0; // recent largest growth of the current file between two checks
  private lastClosed = false; // the writer has ended and its last file is closed
  private pollTimer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  // Closed files waiting for (or in) their finish, oldest first; `deleted` once the ring dropped one unfinished.
  private readonly finishing: Array<{ path: string; deleted: boolean }> = [];

  constructor(
    spec: RingCaptureSpec,
    opts: RingCaptureOptions,
    private readonly writer: DirectoryRingWriter,
  ) {
    super(spec, opts);
    this.programName = writer.programName;
    this.partPath = join(this.dir, `.${basename(spec.outputPath)}.${process.pid}.part`);
    // `-w -` becomes `-w PART` and the rotation option: the writer opens and rotates the files
    // itself (as root, `-Z root`, so it can create them in a root-owned directory).
    const dash = writer.baseArgs.indexOf('-w');
    const args = [
      ...writer.baseArgs.slice(0, dash),
      ...writer.rotationArgs(this.partPath),
      ...writer.baseArgs.slice(dash + 2),
    ];
    this.launch(writer.launchArgv === null ? null : [...writer.launchArgv, ...args]);
  }

  protected override endedOnItsOwnCode(): 'CaptureFailed' | 'LocalFileFailed' {
    return this.writer.isWriteError(this.stderr.text) ? 'LocalFileFailed' : 'CaptureFailed';
  }

  protected override onListening(): void {
    super.onListening();
    try {
      this.watcher = watch(this.dir, () => this.check());
      this.watcher.on('error', () => undefined);
    } catch {
      // polling alone then
    }
    this.pollTimer = setInterval(() => this.check(), this.opts.pollIntervalInMs ?? 20);
  }

  private partName(index: number): string {
    return index === 0 ? this.partPath : `${this.partPath}${index}`;
  }

  // Called on every inotify event and poll: renames each file the writer has closed (a later one
  // exists) to its ring name and keeps at most fileCount files on the host.
  private check(): void {
    while (existsSync(this.partName(this.current + 1))) {
      this.closeCurrent(false);
    }
    // The current file is (nearly) full: the writer's next packets start a new file. Delete the
    // oldest now so the host never holds more than fileCount files, not even for the moment of the
    // switch. "Nearly": the size on disk lags the writer's by its buffer, and the switch may come
    // before the next check, so the margin is three checks' growth plus that buffer.
    try {
      const size = statSync(this.partName(this.current)).size;
      this.growthPerCheck = Math.max(this.growthPerCheck * 0.9, size - this.lastSize);
      this.lastSize = size;
      const margin = 3 * this.growthPerCheck + this.writer.lagBytes;
      const switchFrom = this.writer.switchFromBytes;
      const nearlyFull = size > switchFrom - (this.writer.marginAtMostHalf ? Math.min(margin, switchFrom / 2) : margin);
      // Not once the session is stopping: what the writer writes during the drain past a time limit
      // is cut off, so an early deletion there could give a file holding real packets for nothing.
      if (nearlyFull && this.stopReason === null) this.enforceCount(1);
    } catch {
      // not created yet
    }
    this.enforceCount(0);
  }

  private closeCurrent(last: boolean): void {
    const sequence = this.current + 1;
    const name = ringFileName(this.spec.outputPath, sequence);
    const path = join(this.dir, name);
    const from = this.partName(this.current);
    this.current++;
    this.lastSize = 0;
    if (!existsSync(from)) return;
    // Past a time limit every file closed from now on is cut at it: the writer may switch files
    // during the drain, so the one before the last can hold packets stamped after the limit too.
    const stopAfterInMs =
      this.stopReason === 'TimeExceeded' && this.startedAt !== null
        ? this.startedAt.getTime() + this.spec.sessionTimeLimitInSeconds * 1000
        : null;
    // A file begun after the limit holds nothing the session keeps: removed at once, so it never
    // counts as a ring file (counting it deleted real, older files for an empty one).
    if (stopAfterInMs !== null && this.closed.length + this.pending > 0) {
      const first = firstPacketTimeInMs(from);
      if (first === null || first > stopAfterInMs) {
        try {
          unlinkSync(from);
        } catch {
          /* already gone */
        }
        return;
      }
    }
    renameSync(from, path);
    this.pending++;
    const entry = { path, deleted: false };
    this.finishing.push(entry);
    const stopping = this.stopReason !== null;
    this.chain = this.chain.then(async () => {
      let file: RingFile;
      try {
        if (entry.deleted) throw Object.assign(new Error('deleted unfinished'), { code: 'ENOENT' });
        const handle = await open(path, 'r+');
        try {
          // The engine's own files are 0640 (file-writer.ts); tcpdump creates its files 0644 (less its
          // umask; nw-capture 0640). Packets in clear are not for every user of the host.
          await handle.chmod(0o640);
          // nw-capture's files bypass the page cache, tcpdump -C's do not (see session.ts).
          const cut = await cutCaptureFile(
            handle,
            { maxBytes: this.spec.fileSizeInBytes, stopAfterInMs },
            { tryDirect: this.programName === 'nw-capture' },
          );
          await handle.sync();
          file = ringFileFromCut(name, path, sequence, cut);
        } finally {
          await handle.close();
        }
      } catch (err) {
        // Deleted by the ring before it could be finished (it wrapped faster than one file's hash).
        this.pending--;
        this.finishing.shift();
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !entry.deleted)
          this.fail('LocalFileFailed', (err as Error).message);
        return;
      }
      this.pending--;
      this.finishing.shift();
      // Dropped by the ring while it was being finished: the cut read an unlinked file.
      if (entry.deleted) return;
      if ((last || stopping) && file.packetsCaptured === 0 && this.closed.length > 0) {
        // A file started during the stop's drain whose packets all came after the limit (cut
        // off): nothing in it, so it is removed rather than kept as the ring's newest file.
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
        return;
      }
      this.closed.push(file);
      this.enforceCount(0);
      if (this.closed.includes(file)) await this.opts.onFileClosed?.(file);
    });
  }

  // Deletes the oldest files until at most fileCount - headroom exist (closed, being finished, and
  // the current one). When the writer closes files faster than they are finished (hashing reads
  // each back), the oldest unfinished ones go too: the host's bound before the hand-on of a file
  // the ring would drop next anyway.
  private enforceCount(headroom: number): void {
    const max = Math.max(this.spec.fileCount - headroom, 1);
    const writing = this.lastClosed ? 0 : 1; // the file being written, until the last one closes
    for (;;) {
      const unfinished = this.finishing.filter((f) => !f.deleted);
      if (this.closed.length + unfinished.length + writing <= max) return;
      if (this.closed.length > 0) this.deleteOldest();
      else if (unfinished.length > 0) {
        const oldest = unfinished[0]!;
        oldest.deleted = true;
        this.deleteUnfinished(oldest.path);
      } else return;
    }
  }

  protected async finish(): Promise<void> {
    this.stopTimers();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.watcher?.close();
    if (this.startedAt !== null) {
      // Files closed since the last check, then the last one.
      while (existsSync(this.partName(this.current + 1))) this.closeCurrent(false);
      // With one file allowed, the last file replaces the previous one.
      this.enforceCount(0);
      this.lastClosed = true;
      if (this.writer.isWriteError(this.stderr.text)) {
        // The file the writer could not write (a full disk): a valid prefix at best, and not what
        // the ring promised; removed, as the engine's cut removes its failed file.
        try {
          unlinkSync(this.partName(this.current));
        } catch {
          // never created
        }
      } else this.closeCurrent(true);
    } else {
      try {
        unlinkSync(this.partPath);
      } catch {
        // never created
      }
    }
    await this.chain;
    this.resolveOutcome();
  }
}
