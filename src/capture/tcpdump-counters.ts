// tcpdump's counters, asked for with SIGUSR1, and the stop rule built on them (issue 18).
//
// Why a stop waits at all: libpcap (TPACKET_V3) takes the kernel ring in blocks, and on a quiet
// link a block is handed over only when the kernel's block timer retires it, up to tcpdump's 1 s
// timeout after the block opened. tcpdump breaks its loop on SIGTERM, and the packets of a block
// not yet retired are lost — measured here: 5 datagrams sent 50 ms before an immediate SIGTERM
// gave "0 packets captured, 5 packets received by filter". So the engines let tcpdump run on for
// 1.2 s after every stop.
// Why it need not be 1.2 s: one SIGUSR1 report holds both how many packets the kernel accepted
// ("received by filter"; on Linux it includes those "dropped by kernel", which never reached the
// ring) and how many tcpdump has handed to its output ("captured"). Once a report asked for after
// the stop has captured ≥ received − dropped of the first such report, every packet the kernel held
// at the stop is in tcpdump's output buffer, which SIGTERM flushes. On an idle link that is the
// first report (a few ms); with packets in an open block, when the block timer retires it; under
// load, when tcpdump has caught up (blocks fill and retire at once).
import type { ChildProcess } from 'node:child_process';
import type { TcpdumpInfoLine } from './tcpdump-stderr.js';

/**
 * Sends `name` to a capture process that is still running; false when there is none any more
 * (not started, exited, or exiting just now — its 'close' follows), so a report or a nudge asked
 * for at the end is simply not sent.
 */
export function signalRunning(child: ChildProcess | null, name: NodeJS.Signals): boolean {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    return child.kill(name);
  } catch {
    return false;
  }
}

/** Default interval between the reports asked for while a stop waits for the hand-over. */
export const HAND_OVER_POLL_INTERVAL_IN_MS = 20;

/**
 * True when `now` (a report asked for after the stop) shows that tcpdump has handed to its output
 * every packet the kernel had accepted at `atStop` (the first report asked for after the stop).
 * @example isHandedOver({ packetsCaptured: 0, packetsReceivedByFilter: 5, packetsDroppedByKernel: 0 }, { packetsCaptured: 5, packetsReceivedByFilter: 6, packetsDroppedByKernel: 0 }) // true
 */
export function isHandedOver(atStop: TcpdumpInfoLine, now: TcpdumpInfoLine): boolean {
  return now.packetsCaptured >= atStop.packetsReceivedByFilter - atStop.packetsDroppedByKernel;
}

/**
 * Asks a running tcpdump for its counters, one request at a time (signals do not queue: a SIGUSR1
 * sent while another is pending gives one report, so counting answers needs one in flight at most),
 * and, at a stop, says when tcpdump may be ended without losing what the kernel had accepted.
 * @example
 * const counters = new TcpdumpCounters((s) => child.kill(s));
 * stderrReader.onInfo = (info) => counters.onReport(info);
 * counters.whenHandedOver(1200, () => child.kill('SIGTERM'));
 */
export class TcpdumpCounters {
  /** The last report, null before the first. */
  latest: TcpdumpInfoLine | null = null;
  private outstanding = false;
  private stopping = false;
  private askedAfterStop = false;
  private atStop: TcpdumpInfoLine | null = null;
  private onHandedOver: (() => void) | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private capTimer: NodeJS.Timeout | null = null;

  /** `sendSignal` returns false when tcpdump is gone. */
  constructor(
    private readonly sendSignal: (name: NodeJS.Signals) => boolean,
    private readonly pollIntervalInMs = HAND_OVER_POLL_INTERVAL_IN_MS,
  ) {}

  /** Asks for a report (SIGUSR1) unless one is still to come. */
  request(): void {
    if (this.outstanding) return;
    if (this.sendSignal('SIGUSR1')) this.outstanding = true;
  }

  /** Every SIGUSR1 report line tcpdump printed, in order. */
  onReport(info: TcpdumpInfoLine): void {
    this.outstanding = false;
    this.latest = info;
    if (this.onHandedOver === null) return;
    if (!this.askedAfterStop) {
      // The answer to a request sent before the stop: its counts are older than the stop.
      this.askAfterStop();
      return;
    }
    this.atStop ??= info;
    if (isHandedOver(this.atStop, info)) {
      this.end();
      return;
    }
    this.pollTimer = setTimeout(() => this.request(), this.pollIntervalInMs);
  }

  /**
   * At a stop: calls `onHandedOver` once, as soon as every packet the kernel has accepted by now
   * has reached tcpdump's output, or after `capInMs` whatever the counts say (a tcpdump that does
   * not answer, or cannot catch up).
   */
  whenHandedOver(capInMs: number, onHandedOver: () => void): void {
    if (this.stopping) return;
    this.stopping = true;
    this.onHandedOver = onHandedOver;
    this.capTimer = setTimeout(() => this.end(), capInMs);
    if (!this.outstanding) this.askAfterStop();
  }

  /** Clears the timers (tcpdump has ended). */
  dispose(): void {
    this.onHandedOver = null;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    if (this.capTimer !== null) clearTimeout(this.capTimer);
    this.pollTimer = null;
    this.capTimer = null;
  }

  private askAfterStop(): void {
    this.askedAfterStop = true;
    this.request();
  }

  private end(): void {
    const done = this.onHandedOver;
    this.dispose();
    done?.();
  }
}
