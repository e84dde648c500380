import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from '../lib/index.js';
import {
  AGENT_CLOSE_INCOMPATIBLE,
  AGENT_MAX_MESSAGE_BYTES,
  AGENT_PING_AFTER_SILENCE_IN_MS,
  AGENT_RECONNECT_SPREAD_LIMITS,
  AGENT_SERVER_SILENCE_LIMIT_IN_MS,
  parseServerToAgent,
  type AgentToServer,
  type ServerToAgent,
} from '../model/index.js';

/**
 * A connection that hears nothing from the server for this long is half-open (the server vanished
 * without closing it, e.g. a network partition) and is dropped so the agent reconnects instead of
 * sending into the void. After {@link AGENT_PING_AFTER_SILENCE_IN_MS} of silence the agent pings
 * the server (a live one answers with a pong): a server that hears this agent's reports does not
 * ping it (src/server/agent-hub.ts, `pingsWhenSilent` in the hello); an older server pings every
 * 10 s, so the agent never needs to.
 */
const SERVER_SILENCE_LIMIT_IN_MS = AGENT_SERVER_SILENCE_LIMIT_IN_MS;

/** How long a connection attempt may take, TCP connect to the server's upgrade answer (the server's listen backlog is sized to it). */
export const HANDSHAKE_TIMEOUT_IN_MS = 10_000;

/** Shortest and longest wait between reconnection attempts. */
const RECONNECT_MIN_IN_MS = 250;
const RECONNECT_MAX_IN_MS = 5_000;

/**
 * The ceiling of the wait before reconnection attempt `attempt` (1, 2, …): doubling from 1 s to
 * {@link RECONNECT_MAX_IN_MS}; never below `spreadInMs`, the reconnect spread the server last
 * announced in its welcome (0: none announced, an older server or no welcome yet).
 */
export function reconnectCeilingInMs(attempt: number, spreadInMs: number = 0): number {
  const doubling = Math.min(RECONNECT_MAX_IN_MS, RECONNECT_MIN_IN_MS * 2 ** (Math.max(1, attempt) + 1));
  return Math.max(doubling, reconnectSpreadOf(spreadInMs));
}

/** A usable spread: finite, within the protocol's bounds (a broken value must not park the agent), or 0. */
function reconnectSpreadOf(spreadInMs: number): number {
  if (!Number.isFinite(spreadInMs) || spreadInMs <= 0) return 0;
  return Math.min(AGENT_RECONNECT_SPREAD_LIMITS.maxSeconds * 1000, spreadInMs);
}

/**
 * The wait before reconnection attempt `attempt`: uniform between {@link RECONNECT_MIN_IN_MS} and
 * its ceiling ("full jitter" above a floor). When a server restarts, all of its agents lose their
 * connection in the same instant; without jitter they would come back in the same instant too, and
 * again together after every failed round.
 *
 * The agent's own window (0.25–1 s on the first retry) does not know the fleet: 10,000 agents
 * came back within 0.75 s, >13,000 connection attempts a second against a server that admits
 * ~1,000, and the kernel's accept queue overflowed (bench/scale). So the server announces a
 * spread sized to its fleet (`welcome.reconnectSpreadInSeconds`, src/server/reconnect-spread.ts:
 * 1 s for 100 agents, 10 s for 10,000) and every wait, the first after a drop included, is drawn
 * from at least that window: the fleet arrives at the rate the server admits.
 */
export function reconnectDelayInMs(
  attempt: number,
  random: () => number = Math.random,
  spreadInMs: number = 0,
): number {
  return drawAboveFloorInMs(reconnectCeilingInMs(attempt, spreadInMs), random);
}

/** Uniform between {@link RECONNECT_MIN_IN_MS} and `ceilingInMs`: every reconnection wait is drawn so. */
function drawAboveFloorInMs(ceilingInMs: number, random: () => number): number {
  return Math.round(RECONNECT_MIN_IN_MS + random() * (ceilingInMs - RECONNECT_MIN_IN_MS));
}

/**
 * With several server addresses (replicas), the wait before trying the next one after a failure:
 * at once ({@link RECONNECT_MIN_IN_MS}) as long as the fleet is small, but spread like any
 * reconnection once the server announced a spread over a second: a replica's crash sends all of
 * its agents to the others together.
 */
export function nextAddressDelayInMs(
  backoffInMs: number,
  random: () => number = Math.random,
  spreadInMs: number = 0,
): number {
  const spread = reconnectSpreadOf(spreadInMs);
  if (spread <= 1000) return Math.min(backoffInMs, RECONNECT_MIN_IN_MS);
  return Math.min(backoffInMs, drawAboveFloorInMs(spread, random));
}

/** Longest Retry-After a busy server's refusal is followed for (a broken or hostile value must not park the agent). */
const RETRY_AFTER_MAX_IN_MS = 60_000;

/**
 * The wait before the next attempt after the server refused the handshake as busy (503) with
 * `retryAfter` (its Retry-After header, in seconds; the HTTP-date form is not used by the
 * server): uniform between once and twice that, so the refused agents of a reconnect storm
 * come back spread over a window instead of together when it ends; never less than the usual
 * back-off for this attempt. Without a usable header: the usual back-off.
 */
export function refusedRetryDelayInMs(
  retryAfter: string | undefined,
  attempt: number,
  random: () => number = Math.random,
  spreadInMs: number = 0,
): number {
  const backoff = reconnectDelayInMs(attempt, random, spreadInMs);
  const seconds = retryAfter !== undefined && /^\d{1,6}$/.test(retryAfter.trim()) ? Number(retryAfter.trim()) : NaN;
  if (!Number.isFinite(seconds)) return backoff;
  const base = Math.min(RETRY_AFTER_MAX_IN_MS / 2, seconds * 1000);
  return Math.max(backoff, Math.round(base + random() * base));
}

/** Wait before trying again after the server refused this agent's protocol version (it changes only when one side is upgraded). */
const INCOMPATIBLE_RETRY_IN_MS = 60_000;

/**
 * The agent's WebSocket to the server, reconnecting forever with capped, jittered backoff
 * ({@link reconnectDelayInMs}). It never queues
 * messages itself: the capture manager re-sends whatever the server has not acknowledged on every
 * `open` (the hello carries every capture's state), so nothing is lost across a disconnect.
 */
export class ServerConnection extends EventEmitter<{ open: []; message: [ServerToAgent]; close: [] }> {
  private ws: WebSocket | null = null;
  private closed = false;
  /** Reconnection attempts since the last open connection. */
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When the connection was lost (null while connected or before the first connection), and the retries since. */
  private lostAt: number | null = null;
  private retries = 0;
  private wasOpen = false;
  /** Server addresses to try, in turn: on every failed attempt or lost connection the next one is used. */
  private readonly urls: string[];
  private urlIndex = 0;
  /**
   * The reconnect spread the server last announced in a welcome (ms; 0: none, an older server):
   * kept across the drop it is meant for, replaced by every welcome.
   */
  private reconnectSpreadInMs = 0;

  constructor(
    url: string | readonly string[],
    private readonly credential: string,
    private readonly logger: Logger,
    private readonly caFile?: string,
    private readonly silenceLimitInMs: number = SERVER_SILENCE_LIMIT_IN_MS,
    private readonly pingAfterSilenceInMs: number = AGENT_PING_AFTER_SILENCE_IN_MS,
  ) {
    super();
    this.urls = [url].flat();
    if (this.urls.length === 0) throw new Error('no server address to connect to');
  }

  /** The address in use (or tried next). */
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  /** Starts connecting (and reconnecting). */
  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url, {
      headers: { Authorization: `Bearer ${this.credential}` },
      ...(this.caFile ? { ca: readFileSync(this.caFile) } : {}),
      handshakeTimeout: HANDSHAKE_TIMEOUT_IN_MS,
      // Small JSON messages: compressing them would cost both ends CPU for little (the server does not offer it either).
      perMessageDeflate: false,
      // A (malicious or broken) server cannot make the agent buffer more than one bounded message.
      maxPayload: AGENT_MAX_MESSAGE_BYTES,
    });
    this.ws = ws;
    let silence: NodeJS.Timeout | null = null;
    let pingTimer: NodeJS.Timeout | null = null;
    const heard = (): void => {
      if (silence) clearTimeout(silence);
      if (pingTimer) clearTimeout(pingTimer);
      silence = setTimeout(() => {
        this.logger.warn('no word from the server for a while; reconnecting');
        ws.terminate();
      }, this.silenceLimitInMs);
      silence.unref();
      pingTimer = setTimeout(() => {
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      }, this.pingAfterSilenceInMs);
      pingTimer.unref();
    };
    ws.on('ping', heard);
    ws.on('pong', heard);
    ws.on('open', () => {
      heard();
      this.attempt = 0;
      if (this.lostAt !== null)
        this.logger.warn(
          { retries: this.retries, downForInMs: Date.now() - this.lostAt },
          `connected to the server again, after ${this.retries} retries over ${((Date.now() - this.lostAt) / 1000).toFixed(1)} s`,
        );
      else this.logger.info('connected to server');
      this.lostAt = null;
      this.retries = 0;
      this.wasOpen = true;
      this.emit('open');
    });
    ws.on('message', (data, isBinary) => {
      heard();
      if (isBinary) return;
      // Only messages the protocol schema accepts reach the capture manager: whatever the server
      // says, nothing unchecked decides a file name, a path or a process argument on this host.
      const parsed = parseServerToAgent(data.toString());
      if (parsed.ok && parsed.message.type === 'welcome')
        this.reconnectSpreadInMs = (parsed.message.reconnectSpreadInSeconds ?? 0) * 1000;
      if (parsed.ok) this.emit('message', parsed.message);
      else
        this.logger.warn({ reason: parsed.reason }, 'ignored a server message that does not follow the agent protocol');
    });
    // A busy server's refusal (503, e.g. in a reconnect storm) says when to come back.
    let retryAfter: string | undefined;
    ws.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 503) {
        retryAfter = [res.headers['retry-after']].flat()[0] ?? '';
        this.logger.warn(
          { status: res.statusCode, retryAfter },
          'the server is busy and asked this agent to come back later',
        );
      } else
        this.logger.error(
          { status: res.statusCode },
          res.statusCode === 401
            ? 'server refused the agent credential (extension removed or re-enrolled?)'
            : 'server refused the connection',
        );
      res.resume();
      ws.terminate();
    });
    let lastError = '';
    ws.on('error', (error) => {
      lastError = error.message;
      this.logger.debug({ err: error }, 'connection error');
    });
    ws.on('close', (code, reason) => {
      if (silence) clearTimeout(silence);
      if (pingTimer) clearTimeout(pingTimer);
      if (this.ws === ws) this.ws = null;
      this.emit('close');
      if (this.closed) return;
      // A newcomer reads these lines: losing the server, each retry with its wait, and being back.
      if (this.wasOpen) {
        this.wasOpen = false;
        this.lostAt = Date.now();
        this.logger.warn(
          { server: this.url },
          'lost the connection to the server; captures keep running, and their states are sent when it is back',
        );
      } else {
        this.retries++;
      }
      this.attempt++;
      const spreadInMs = this.reconnectSpreadInMs;
      let delayInMs =
        retryAfter === undefined
          ? reconnectDelayInMs(this.attempt, Math.random, spreadInMs)
          : refusedRetryDelayInMs(retryAfter, this.attempt, Math.random, spreadInMs);
      this.logger.warn(
        {
          retry: this.retries + 1,
          backoffInMs: delayInMs,
          backoffCeilingInMs: reconnectCeilingInMs(this.attempt, spreadInMs),
          ...(lastError ? { cause: lastError } : {}),
        },
        `cannot reach the server${lastError ? ` (${lastError})` : ''}; retrying in ${(delayInMs / 1000).toFixed(2)} s`,
      );
      if (code === AGENT_CLOSE_INCOMPATIBLE) {
        this.logger.error(
          { reason: reason.toString() },
          'the server refused this agent: its protocol version is not one the server speaks; upgrade the agent (or the server). Retrying in a minute.',
        );
        delayInMs = INCOMPATIBLE_RETRY_IN_MS;
      }
      // Several servers (replicas): the next attempt goes to the next one, so a dead replica is
      // left at once; back-off grows only after a full round fails (one address: as before).
      if (this.urls.length > 1) {
        this.urlIndex = (this.urlIndex + 1) % this.urls.length;
        if (this.urlIndex !== 0 && code !== AGENT_CLOSE_INCOMPATIBLE && retryAfter === undefined)
          delayInMs = nextAddressDelayInMs(delayInMs, Math.random, spreadInMs);
      }
      this.timer = setTimeout(() => this.connect(), delayInMs);
    });
  }

  /** True while connected. */
  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Sends if connected; false otherwise (the caller re-sends after the next `open`). */
  send(msg: AgentToServer): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes for good. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, 'agent stopping');
  }
}
