import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  extractLookback,
  finaliseCaptureFile,
  mergeLookback,
  startLookbackBuffer,
  type CaptureOutcome,
  type CaptureProgramChoice,
  type LookbackBuffer,
} from '../capture/index.js';
import type { Logger } from '../lib/index.js';
import {
  agentLookbackSettingsSchema,
  type AgentCaptureLookback,
  type AgentCaptureOrder,
  type AgentLookbackSettings,
  type AgentLookbackState,
  type AgentToServer,
} from '../model/index.js';
import type { ConfinedDir } from './confined-dir.js';

// The buffer's kernel ring has handed a packet to tcpdump at most one block timeout (libpcap's
// TPACKET_V3 retires a block after 1 s when traffic is light) after the kernel stamped it; then a
// flush (SIGUSR2) writes it out. Waiting this long after the live capture started means the
// buffer's files hold every packet up to the seam before they are read.
const SEAM_SETTLE_IN_MS = 2_200;
const STATE_INTERVAL_IN_MS = 5_000;

/** What the look-back manager needs. */
export interface LookbackManagerOptions {
  /** The agent's data folder (held); the buffer lives in `lookback/`, held copies in `lookback-hold/`. */
  data: ConfinedDir;
  interfaceName: string;
  tcpdumpPath?: string;
  /** Which program the buffer runs (AgentConfig.captureProgram); default 'auto'. */
  captureProgram?: CaptureProgramChoice;
  send(msg: AgentToServer): boolean;
  logger: Logger;
}

/** One capture's look-back, from its order to its merged file. */
export interface CaptureLookback {
  /** Call when the live capture really started. */
  liveStarted(at: Date): void;
  /** Call when the live capture is done, before its file is stored: merges and returns the file's new figures and what the look-back gave. */
  finish(
    capturePath: string,
    outcome: CaptureOutcome,
  ): Promise<{ outcome: CaptureOutcome; lookback: AgentCaptureLookback }>;
}

/**
 * Keeps this host's look-back buffer as the server configures it (off until told otherwise),
 * reports what it holds, and gives captures that ask for the past their share of it.
 */
export class LookbackManager {
  private buffer: LookbackBuffer | null = null;
  private settings: AgentLookbackSettings | null = null;
  private readonly timer: NodeJS.Timeout;
  private changing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LookbackManagerOptions) {
    // Settings survive an agent restart, so the buffer is back before the server is reached.
    const saved = opts.data.readFile('lookback.json');
    let restored: AgentLookbackSettings | null | undefined;
    try {
      const parsed =
        saved === null ? null : agentLookbackSettingsSchema.nullable().safeParse(JSON.parse(saved.toString('utf8')));
      if (parsed?.success) restored = parsed.data;
    } catch {
      // unreadable: the server sends the setting again at the next hello
    }
    if (restored !== undefined) {
      this.configure(restored);
    } else {
      // No settings: nothing of a buffer may remain (an agent killed while it had one).
      rmSync(this.bufferDir(), { recursive: true, force: true });
    }
    rmSync(this.holdRoot(), { recursive: true, force: true });
    this.timer = setInterval(() => this.report(), STATE_INTERVAL_IN_MS);
    this.timer.unref();
  }

  private bufferDir(): string {
    return this.opts.data.resolve('lookback');
  }

  private holdRoot(): string {
    return this.opts.data.resolve('lookback-hold');
  }

  /** Applies the server's settings (null: off, and the buffer's files are deleted). */
  configure(settings: AgentLookbackSettings | null): void {
    this.changing = this.changing.then(async () => {
      const same = JSON.stringify(settings) === JSON.stringify(this.settings);
      if (same && (settings === null || this.buffer !== null)) return;
      if (this.buffer !== null) {
        await this.buffer.stop();
        this.buffer = null;
      }
      this.settings = settings;
      try {
        this.opts.data.writeFileAtomic('lookback.json', JSON.stringify(settings));
      } catch (error) {
        this.opts.logger.warn({ err: error }, 'could not save the look-back settings');
      }
      if (settings === null) {
        rmSync(this.bufferDir(), { recursive: true, force: true });
        this.opts.logger.info('look-back buffer off; its files are deleted');
        this.report();
        return;
      }
      mkdirSync(this.bufferDir(), { recursive: true, mode: 0o700 });
      const buffer = startLookbackBuffer(
        {
          interfaceName: this.opts.interfaceName,
          seconds: settings.seconds,
          maxSizeInBytes: settings.maxSizeInBytes,
          snapLengthInBytes: settings.snapLengthInBytes,
          dir: this.bufferDir(),
        },
        {
          ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
          ...(this.opts.captureProgram ? { program: this.opts.captureProgram } : {}),
        },
      );
      this.buffer = buffer;
      try {
        await buffer.started;
        this.opts.logger.info({ ...settings }, 'look-back buffer on');
      } catch (error) {
        this.opts.logger.error({ err: error }, 'the look-back buffer could not start');
      }
      this.report();
    });
  }

  /** What the buffer holds now. */
  state(): AgentLookbackState {
    const s = this.buffer?.status();
    return {
      enabled: this.settings !== null,
      running: s?.running ?? false,
      sizeInBytes: s?.sizeInBytes ?? 0,
      files: s?.files ?? 0,
      oldestPacketTime: s?.oldestPacketTime?.toISOString() ?? null,
      spanInSeconds: Math.round((s?.spanInSeconds ?? 0) * 1000) / 1000,
      packetsCaptured: s?.packetsCaptured ?? 0,
      kernelPacketsDropped: s?.kernelPacketsDropped ?? 0,
      error: s?.error?.slice(0, 4000) ?? null,
    };
  }

  /** Sends the buffer's state to the server (every few seconds while on, and on every change). */
  report(): void {
    this.opts.send({ type: 'lookback.state', state: this.state() });
  }

  /**
   * Begins the look-back of a capture that asks for one (null when it does not): the buffer's
   * files are held at once, so nothing the capture needs is deleted while it starts.
   */
  begin(order: AgentCaptureOrder, receivedAt: Date): CaptureLookback | null {
    if (order.lookbackInSeconds === undefined) return null;
    const createdAtInMs =
      order.createdAt !== undefined
        ? Math.min(Date.parse(order.createdAt), receivedAt.getTime())
        : receivedAt.getTime();
    const requestedInMs = createdAtInMs - order.lookbackInSeconds * 1000;
    const requestedStartTime = new Date(requestedInMs).toISOString();
    const buffer = this.buffer;
    const settings = this.settings;
    if (buffer === null || settings === null || !buffer.status().running) {
      const reason =
        settings === null
          ? 'this host has no look-back buffer (enable it with nw vm lookback enable)'
          : `the look-back buffer of this host is not running: ${buffer?.status().error ?? 'starting'}`;
      return {
        liveStarted: () => undefined,
        finish: (_p, outcome) =>
          Promise.resolve({ outcome, lookback: { requestedStartTime, startTime: null, packets: 0, reason } }),
      };
    }
    const holdDir = join(this.holdRoot(), order.captureUid);
    rmSync(holdDir, { recursive: true, force: true });
    mkdirSync(holdDir, { recursive: true, mode: 0o700 });
    const held = buffer.hold(holdDir);
    // The buffer never hands out packets older than its own bound, whatever the capture asks.
    const fromInMs = Math.max(requestedInMs, Date.now() - settings.seconds * 1000);
    const lookbackPath = join(holdDir, 'extract.pcap');
    let liveStartInMs: number | null = null;
    let extraction: Promise<{ packets: number; coverageStartInMs: number | null } | Error> | null = null;
    const extract = (): Promise<{ packets: number; coverageStartInMs: number | null } | Error> => {
      extraction ??= (async () => {
        buffer.flush();
        await new Promise((r) => setTimeout(r, 200));
        for (const p of buffer.hold(holdDir)) if (!held.includes(p)) held.push(p);
        return extractLookback({
          files: held,
          fromInMs,
          bpfExpression: order.bpfExpression,
          outputPath: lookbackPath,
          ...(this.opts.tcpdumpPath ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
        });
      })().catch((error: unknown) => error as Error);
      return extraction;
    };
    let settle: NodeJS.Timeout | null = null;
    return {
      liveStarted: (at) => {
        liveStartInMs = at.getTime();
        settle = setTimeout(() => void extract(), SEAM_SETTLE_IN_MS);
      },
      finish: async (capturePath, outcome) => {
        if (settle !== null) clearTimeout(settle);
        // A capture shorter than the settle time: the rest of the wait happens here.
        if (extraction === null && liveStartInMs !== null)
          await new Promise((r) => setTimeout(r, Math.max(0, liveStartInMs! + SEAM_SETTLE_IN_MS - Date.now())));
        const extracted = await extract();
        try {
          if (extracted instanceof Error)
            return {
              outcome,
              lookback: {
                requestedStartTime,
                startTime: null,
                packets: 0,
                reason: `reading the look-back buffer failed: ${extracted.message}`.slice(0, 1000),
              },
            };
          if (outcome.startedAt === null)
            return {
              outcome,
              lookback: { requestedStartTime, startTime: null, packets: 0, reason: 'the capture never started' },
            };
          const merged = await mergeLookback({
            capturePath,
            lookbackPath,
            snapLengthInBytes: order.snapLengthInBytes,
            maxBytes: order.totalBytesLimit,
            liveStartInMs: outcome.startedAt.getTime(),
            scratchPath: join(holdDir, 'live.pcap'),
          });
          const handle = await open(capturePath, 'r+');
          let cut;
          try {
            // The merged file is hashed again: at idle priority, as the engine finalises its own files.
            cut = await finaliseCaptureFile(handle, { maxBytes: order.totalBytesLimit, stopAfterInMs: null });
          } finally {
            await handle.close();
          }
          const startTime =
            extracted.coverageStartInMs === null || merged.skippedReason !== null
              ? null
              : new Date(extracted.coverageStartInMs).toISOString();
          let reason = merged.skippedReason;
          if (reason === null && extracted.coverageStartInMs !== null && extracted.coverageStartInMs > requestedInMs) {
            reason = `the buffer held ${Math.round((createdAtInMs - extracted.coverageStartInMs) / 100) / 10} s of the ${order.lookbackInSeconds} s asked (its bounds: ${settings.seconds} s, ${settings.maxSizeInBytes} bytes)`;
          }
          if (reason === null && extracted.coverageStartInMs === null) reason = 'the buffer held no packet yet';
          // The session's identity is the file's before the merge rewrote it: only the new cut's counts.
          const { fileIdentity: _beforeMerge, ...live } = outcome;
          return {
            outcome: {
              ...live,
              packetsCaptured: cut.packetsCaptured,
              fileSizeInBytes: cut.sizeInBytes,
              sha256: cut.sha256,
              ...(cut.fileIdentity !== undefined ? { fileIdentity: cut.fileIdentity } : {}),
            },
            lookback: {
              requestedStartTime,
              startTime: extracted.coverageStartInMs === null ? null : startTime,
              packets: merged.lookbackPackets,
              reason,
            },
          };
        } catch (error) {
          this.opts.logger.warn(
            { err: error, capture: order.captureName },
            'merging the look-back into the capture failed; the live packets are kept',
          );
          return {
            outcome,
            lookback: {
              requestedStartTime,
              startTime: null,
              packets: 0,
              reason: `merging the look-back failed: ${(error as Error).message}`.slice(0, 1000),
            },
          };
        } finally {
          rmSync(holdDir, { recursive: true, force: true });
        }
      },
    };
  }

  /** Ends the buffer (its files are deleted only when the server turns it off; a restarted agent starts afresh). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.changing;
    await this.buffer?.stop();
    this.buffer = null;
  }
}
