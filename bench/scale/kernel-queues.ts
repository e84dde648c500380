/**
 * What the kernel and the server's event loop did during a phase of bench/scale (issue 17,
 * reconnect storms): the TCP listen-queue counters of /proc/net/netstat (the same as `nstat -az
 * TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop TcpExtSyncookiesSent`, as a
 * delta; they count the whole network namespace, so other programs' connections show too), the
 * accept queue of each replica's listening socket (`ss -ltn`: Recv-Q, sampled every 250 ms, its
 * largest value against Send-Q, the backlog the kernel applies), and the replicas' event-loop
 * delay (bench/scale/event-loop-probe.mjs, preloaded into each server: the largest and the 99th
 * percentile of the 500 ms windows' maxima).
 *
 * A full accept queue makes the kernel drop SYNs (and final ACKs) without a word: the client
 * retransmits its SYN after 1, 3, 7, 15 s, so against a 10 s handshake timeout two or three drops
 * time the attempt out although the server never saw it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const COUNTERS = [
  'ListenOverflows',
  'ListenDrops',
  'TCPReqQFullDrop',
  'TCPReqQFullDoCookies',
  'SyncookiesSent',
  'TCPTimeouts',
] as const;
export type TcpExtCounters = Record<(typeof COUNTERS)[number], number>;

/** The TcpExt counters of this network namespace (0 where the kernel has none). */
export function tcpExtCounters(): TcpExtCounters {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[i]!.split(/\s+/).slice(1);
  const values = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
  const out = {} as TcpExtCounters;
  for (const c of COUNTERS) out[c] = values[names.indexOf(c)] ?? 0;
  return out;
}

/** `ss -ltnH` for one port: the accept queue's length now (Recv-Q) and its limit (Send-Q). */
export async function listenQueue(port: number): Promise<{ recvQ: number; sendQ: number } | null> {
  const { stdout } = await run('ss', ['-ltnH', `sport = :${port}`]).catch(() => ({ stdout: '' }));
  const fields = stdout.trim().split(/\s+/);
  if (fields.length < 3) return null;
  return { recvQ: Number(fields[1]), sendQ: Number(fields[2]) };
}

interface EventLoopLine {
  at: number;
  maxMs: number;
  p99Ms: number;
  /** Hosts whose hello was recorded since the mark (event-loop-probe.mjs); absent from a server that does not say. */
  hellosSinceMark?: number;
  /** The window's longest garbage-collection pause of the main thread, its kind, and the pauses' sum (absent from older probes). */
  gcMaxMs?: number;
  gcMaxKind?: string | null;
  gcTotalMs?: number;
}

/** A 500 ms window in which the event loop was held at least {@link HOLD_MS}, with the garbage collector's share. */
export interface EventLoopHold {
  /** Seconds from the phase's start to the window's end. */
  atSeconds: number;
  maxMs: number;
  gcMaxMs: number | null;
  gcMaxKind: string | null;
  gcTotalMs: number | null;
}

/** A hold worth listing (the issue's 0.5–1.5 s ones and up). */
const HOLD_MS = 300;

/** The probe's lines in [from, to] (ms since the epoch) of every file. */
function eventLoopLines(files: string[], from: number, to: number): EventLoopLine[] {
  const out: EventLoopLine[] = [];
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      const l = JSON.parse(line) as EventLoopLine;
      if (l.at >= from && l.at <= to) out.push(l);
    }
  }
  return out;
}

export interface QueueFigures {
  /** Deltas of the TcpExt counters over the phase. */
  counters: TcpExtCounters;
  /** Largest accept-queue length seen on any replica's port, and that socket's limit. */
  maxRecvQ: number;
  backlog: number;
  /** Samples in which the accept queue was at its limit. */
  fullSamples: number;
  samples: number;
  /** Event-loop delay of the replicas over the phase: largest, and the 99th percentile of the 500 ms windows' maxima. */
  eventLoopMaxMs: number;
  eventLoopP99OfMaxMs: number;
  /** The windows held ≥ 300 ms, in order. */
  holds: EventLoopHold[];
}

/** Starts sampling; `stop()` returns the phase's figures. */
export function watchQueues(ports: number[], eventLoopFiles: string[]): { stop(): Promise<QueueFigures> } {
  const before = tcpExtCounters();
  const from = Date.now();
  let maxRecvQ = 0;
  let backlog = 0;
  let fullSamples = 0;
  let samples = 0;
  let sampling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      for (const port of ports) {
        const q = await listenQueue(port);
        if (!q) continue;
        samples++;
        maxRecvQ = Math.max(maxRecvQ, q.recvQ);
        backlog = q.sendQ;
        // The kernel calls the queue full once it holds more than its limit (sk_acceptq_is_full).
        if (q.recvQ >= q.sendQ) fullSamples++;
      }
    });
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      await sampling;
      const after = tcpExtCounters();
      const counters = {} as TcpExtCounters;
      for (const c of COUNTERS) counters[c] = after[c] - before[c];
      // The probe writes every 500 ms: wait for the window that holds the phase's end.
      await new Promise((r) => setTimeout(r, 600));
      const lines = eventLoopLines(eventLoopFiles, from, Date.now());
      const maxima = lines.map((l) => l.maxMs).sort((a, b) => a - b);
      return {
        counters,
        maxRecvQ,
        backlog,
        fullSamples,
        samples,
        eventLoopMaxMs: maxima.at(-1) ?? NaN,
        eventLoopP99OfMaxMs: maxima.length
          ? maxima[Math.min(maxima.length - 1, Math.floor(maxima.length * 0.99))]!
          : NaN,
        holds: lines
          .filter((l) => l.maxMs >= HOLD_MS)
          .sort((a, b) => a.at - b.at)
          .map((l) => ({
            atSeconds: (l.at - from) / 1000,
            maxMs: l.maxMs,
            gcMaxMs: l.gcMaxMs ?? null,
            gcMaxKind: l.gcMaxKind ?? null,
            gcTotalMs: l.gcTotalMs ?? null,
          })),
      };
    },
  };
}

/**
 * Marks `atMs` (ms since the epoch) for the probes: from their next line on, `hellosSinceMark`
 * counts the hosts whose hello was recorded at or after it (the storm's hellos, not the connect's).
 */
export function markHellos(eventLoopFiles: string[], atMs: number): void {
  for (const file of eventLoopFiles) writeFileSync(`${file}.mark`, String(atMs));
}

/**
 * Waits until the replicas' probes together count `n` hosts whose hello was recorded since the
 * mark (none: since the start); resolves with the time of the probe line that first showed it
 * (ms since the epoch: up to 500 ms after the fact), or NaN after `timeoutInMs`, or when none
 * was counted within the first 60 s (a server that does not publish its hellos: an older checkout).
 */
export async function waitHellosRecorded(eventLoopFiles: string[], n: number, timeoutInMs: number): Promise<number> {
  const from = Date.now();
  for (;;) {
    const latest = eventLoopFiles.map((f) => eventLoopLines([f], from, Number.POSITIVE_INFINITY).at(-1));
    const counted = latest.reduce((sum, l) => sum + (l?.hellosSinceMark ?? 0), 0);
    if (counted >= n) return Math.max(...latest.map((l) => l?.at ?? 0));
    if (Date.now() - from > timeoutInMs || (counted === 0 && Date.now() - from > 60_000)) return NaN;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One line for the log. */
export function describeQueues(q: QueueFigures): string {
  const c = q.counters;
  return `listen overflows ${c.ListenOverflows}, listen drops ${c.ListenDrops}, SYN-queue full drops ${c.TCPReqQFullDrop}, syncookies sent ${c.SyncookiesSent}, TCP timeouts ${c.TCPTimeouts}; accept queue max ${q.maxRecvQ} of ${q.backlog} (full in ${q.fullSamples} of ${q.samples} samples); event-loop delay max ${q.eventLoopMaxMs} ms, p99 of 500 ms maxima ${q.eventLoopP99OfMaxMs} ms; holds ≥ ${HOLD_MS} ms: ${q.holds.length === 0 ? 'none' : q.holds.map((h) => `+${h.atSeconds.toFixed(1)} s ${h.maxMs} ms (GC longest ${h.gcMaxMs ?? '?'} ms ${h.gcMaxKind ?? ''}, sum ${h.gcTotalMs ?? '?'} ms)`).join(', ')}`;
}
