// Reading what tcpdump writes on stderr: its start line, its exit statistics, its errors. nw-capture
// (capture-program.ts) writes the same lines, its errors prefixed "nw-capture: " instead of "tcpdump: ".

/** tcpdump's exit statistics. */
export interface TcpdumpStats {
  /** "N packets captured": packets tcpdump wrote. */
  packetsCaptured: number | null;
  /** "N packets received by filter": packets that passed the kernel filter. */
  packetsReceivedByFilter: number | null;
  /** "N packets dropped by kernel": ring-buffer overflows. */
  packetsDroppedByKernel: number | null;
}

/** True once stderr holds the line tcpdump prints after the capture socket is open and filtered. */
export function isListeningLine(stderrText: string): boolean {
  // "tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes"
  return /(^|\n)((tcpdump|nw-capture): )?listening on /.test(stderrText);
}

/**
 * Parses the statistics tcpdump prints when it exits; missing lines are null.
 * @example parseTcpdumpStats('5 packets captured\n9 packets received by filter\n0 packets dropped by kernel\n')
 */
export function parseTcpdumpStats(stderrText: string): TcpdumpStats {
  const last = (re: RegExp): number | null => {
    let value: number | null = null;
    for (const m of stderrText.matchAll(re)) value = Number(m[1]);
    return value;
  };
  return {
    packetsCaptured: last(/^(\d+) packets? captured$/gm),
    packetsReceivedByFilter: last(/^(\d+) packets? received by filter$/gm),
    packetsDroppedByKernel: last(/^(\d+) packets? dropped by kernel$/gm),
  };
}

/** What tcpdump prints on stderr, as one line, when sent SIGUSR1 (Linux's stand-in for BSD's SIGINFO). */
export interface TcpdumpInfoLine {
  /** Packets tcpdump has handed to its output so far (some may still sit in its stdio buffer). */
  packetsCaptured: number;
  /** Packets that passed the kernel filter so far. */
  packetsReceivedByFilter: number;
  /** Ring-buffer overflows so far. */
  packetsDroppedByKernel: number;
}

/**
 * Parses one line of tcpdump's SIGUSR1 report; null for any other line.
 * @example parseTcpdumpInfoLine('tcpdump: 5 packets captured, 9 packets received by filter, 0 packets dropped by kernel')
 * // { packetsCaptured: 5, packetsReceivedByFilter: 9, packetsDroppedByKernel: 0 }
 */
export function parseTcpdumpInfoLine(line: string): TcpdumpInfoLine | null {
  const m =
    /^(?:(?:tcpdump|nw-capture): )?(\d+) packets? captured, (\d+) packets? received by filter, (\d+) packets? dropped by kernel/.exec(
      line.trim(),
    );
  if (m === null) return null;
  return { packetsCaptured: Number(m[1]), packetsReceivedByFilter: Number(m[2]), packetsDroppedByKernel: Number(m[3]) };
}

/**
 * The human part of tcpdump's stderr for an error report: informational lines (start line,
 * statistics, link-type notices, usage text) removed, `tcpdump: ` and `nw-capture: ` prefixes dropped.
 * @example tcpdumpErrorMessage('tcpdump: syntax error in filter expression\n') === 'syntax error in filter expression'
 */
export function tcpdumpErrorMessage(stderrText: string): string {
  const lines = stderrText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .filter((l) => !/^((tcpdump|nw-capture): )?(listening on |data link type |verbose output suppressed)/.test(l))
    .filter((l) => !/^\d+ packets? (captured|received by filter|dropped by (kernel|interface))$/.test(l))
    .filter((l) => !/^(Usage|\s*\[-|tcpdump version|libpcap version|OpenSSL)/.test(l))
    .map((l) => l.replace(/^(tcpdump|nw-capture): /, ''));
  return lines.join('; ').slice(0, 2000);
}

// The kept stderr is its first and last 32 KiB: the start line and errors come first, the exit
// statistics last, and a chatty tcpdump must not grow this process.
const STDERR_PART_CHARS = 32 * 1024;

/**
 * Reads tcpdump's stderr as it comes: each SIGUSR1 report line goes to `onInfo` and is not kept
 * (over a long capture, one a second, they would push the start line and errors out); the rest is
 * kept as its first and last 32 KiB, so the exit statistics are always there.
 * @example const reader = new TcpdumpStderrReader((info) => counters.onReport(info)); child.stderr.on('data', (t) => reader.push(t));
 */
export class TcpdumpStderrReader {
  private head = '';
  private tail = '';
  private line = '';

  constructor(private readonly onInfo: (info: TcpdumpInfoLine) => void = () => undefined) {}

  /** Text as read from the pipe (any split). */
  push(text: string): void {
    const lines = (this.line + text).split('\n');
    this.line = lines.pop() ?? '';
    // A line that never ends (not tcpdump's) is kept like any other text, not grown without bound.
    if (this.line.length > STDERR_PART_CHARS) {
      lines.push(this.line);
      this.line = '';
    }
    let kept = '';
    for (const line of lines) {
      const info = parseTcpdumpInfoLine(line);
      if (info !== null) this.onInfo(info);
      else kept += `${line}\n`;
    }
    if (kept === '') return;
    const room = STDERR_PART_CHARS - this.head.length;
    if (room > 0) {
      this.head += kept.slice(0, room);
      kept = kept.slice(room);
    }
    if (kept !== '') this.tail = (this.tail + kept).slice(-STDERR_PART_CHARS);
  }

  /** What was kept, with a last line not yet ended. */
  get text(): string {
    const head = this.tail === '' ? this.head : `${this.head}\n${this.tail}`;
    return this.line === '' ? head : `${head}${this.line}\n`;
  }
}
