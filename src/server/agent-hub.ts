import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../lib/index.js';
import {
  AGENT_CLOSE_INCOMPATIBLE,
  AGENT_MAX_MESSAGE_BYTES,
  AGENT_CONNECT_PATH,
  AGENT_PROTOCOL_SUPPORTED,
  parseAgentToServer,
  type AgentToServer,
  type ServerToAgent,
} from '../model/index.js';

/** Largest message an agent may send (state and metrics are small). */
const MAX_AGENT_MESSAGE_BYTES = AGENT_MAX_MESSAGE_BYTES;

/**
 * Liveness of agent connections. A connection the server heard nothing from (no message, no
 * pong, no ping) for this long is pinged; one that stays silent for this long again is dropped
 * so the agent reconnects: a dead agent is let go within twice this (as when every connection
 * was pinged each interval). An agent that announced `pingsWhenSilent` is pinged only when it
 * falls silent — its reports (every 5 s by default) prove it alive, and it keeps its own side
 * alive by pinging the server (AGENT_PING_AFTER_SILENCE_IN_MS) — which halved the ping and pong
 * frames of a 10,000-agent server. Any other agent is pinged every interval as before: it needs
 * a word from the server within AGENT_SERVER_SILENCE_LIMIT_IN_MS.
 */
const PING_INTERVAL_IN_MS = 10_000;
/**
 * Connections are looked at this many times per interval (each tick a loop over them, no I/O);
 * the pings of agents that need them every interval are spread over the ticks: 10,000 pings in
 * one turn of the event loop held it for a noticeable moment (handshakes and reports waited).
 */
const PING_SLICES = 10;
/**
 * Handshakes whose credential is being checked at once. Past this, a handshake waits for the
 * database behind hundreds of others and would pass the agent's 10 s timeout anyway; refusing it
 * at once (503, Retry-After) costs the server a few bytes and the agent a jittered wait.
 */
const MAX_HANDSHAKES_IN_PROGRESS = 1000;
/** Credential checks a loaded server completes per second, roughly: sets Retry-After from the backlog. */
const HANDSHAKES_PER_SECOND_HINT = 500;
/** A connection that waits to take a live connection's place (see AgentHub.accept) is dropped if no hello comes within this. */
const HELLO_DEADLINE_IN_MS = 30_000;
/** How long close() waits for disconnects still being recorded before the database closes. */
const CLOSE_DRAIN_TIMEOUT_IN_MS = 10_000;

/** Who is at the other end of an agent connection: the host, how it reached us, and the id of the credential it presented (revocation closes connections by it). */
export interface AgentIdentity {
  vmKey: string;
  baseUrl: string;
  credentialId?: string;
}

/** WebSocket close code sent when the host's credential is revoked (extension or VM deleted, re-enrolled, revoked by an operator). */
export const CLOSE_CREDENTIAL_REVOKED = 4001;

/** One live agent connection. `revoked` is set the moment it is cut: from then on nothing is read from it or sent to it. */
interface AgentConnection {
  identity: AgentIdentity;
  ws: WebSocket;
  revoked: boolean;
  /** Which tick of the ping interval pings this connection when it needs a ping every interval. */
  pingSlice: number;
  /** Something came from the agent since the last tick (any message, pong or ping). */
  heard: boolean;
  /** Ticks since something last came from the agent. */
  silentTicks: number;
  /** Ticks since the ping not yet answered was sent; -1 while none is outstanding. */
  pingAgeTicks: number;
  /** The agent's hello said `pingsWhenSilent`: it is pinged only when it falls silent. */
  pingsWhenSilent: boolean;
  /** The newest metric batch stored and not yet acknowledged to the agent (0: none): sent on the connection's slice. */
  ackThroughId: number;
}

/**
 * Keeps one WebSocket per connected agent (the newest that sent its hello wins when an agent
 * reconnects) and delivers
 * server→agent messages. Messages from agents are handed to `onMessage` one at a time per agent,
 * in order, so a state never overtakes the one before it.
 */
export class AgentHub extends EventEmitter {
  private readonly sockets = new Map<string, AgentConnection>();
  /** The connection whose message is being handled: replies go to it, never to a newer connection of the same host. */
  private readonly current = new AsyncLocalStorage<AgentConnection>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_AGENT_MESSAGE_BYTES,
    // ws's default, said here: compressing small JSON frames would cost CPU at every one of 10,000 agents' messages.
    perMessageDeflate: false,
  });
  private pingTimer: NodeJS.Timeout | null = null;
  /** Disconnects still being recorded: close() waits for them before the database goes. */
  private readonly recordingDisconnects = new Set<Promise<void>>();
  private pingTick = 0;
  /** Handshakes being authenticated now, and those refused for being past the bound (AgentHub.attach). */
  private handshaking = 0;
  refusedHandshakes = 0;
  private closing = false;
  /** Connections of hosts connected here by another, until their hello (AgentHub.accept). */
  private readonly waitingForHello = new Set<WebSocket>();
  private accepted = 0;

  constructor(
    private readonly logger: Logger,
    private readonly handlers: {
      authenticate(request: IncomingMessage): Promise<AgentIdentity | null>;
      onMessage(identity: AgentIdentity, msg: AgentToServer): Promise<void>;
      /** `abrupt`: the connection ended without a close frame (a network failure, a cut, a crashed agent), so the agent likely comes back soon; false for a clean close and for a revocation. */
      onDisconnect(identity: AgentIdentity, how?: { abrupt: boolean }): Promise<void>;
      /** Of these credential ids, the ones still valid (checked every ping interval, so a credential revoked through another replica's database cuts this replica's connection too). */
      validCredentials?(credentialIds: string[]): Promise<Set<string>>;
    },
    /** Handshakes authenticated at once; the excess is refused with 503 and Retry-After. */
    private readonly maxHandshakes: number = MAX_HANDSHAKES_IN_PROGRESS,
    /** Liveness interval ({@link PING_INTERVAL_IN_MS}); tests shorten it. */
    private readonly pingIntervalInMs: number = PING_INTERVAL_IN_MS,
  ) {
    super();
  }

  /** Pings sent since start (tests and the bench look at it). */
  pingsSent = 0;

  /** Takes over WebSocket upgrades on the agent path of an HTTP(S) server. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '').split('?')[0]!.toLowerCase();
      if (path !== AGENT_CONNECT_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      // An agent that gave up on this handshake (its 10 s timeout) closed its side while the
      // request waited in the accept queue: nothing is done for it.
      if (socket.destroyed || (socket as Duplex & { readableEnded?: boolean }).readableEnded) {
        socket.destroy();
        return;
      }
      // Cheap admission: handshakes beyond the bound are refused at once, and the agent waits
      // out Retry-After (with jitter) instead of queueing here until its timeout passes.
      if (this.handshaking >= this.maxHandshakes) {
        this.refusedHandshakes++;
        const retryAfterInSeconds = Math.max(1, Math.ceil(this.handshaking / HANDSHAKES_PER_SECOND_HINT));
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${retryAfterInSeconds}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
        return;
      }
      this.handshaking++;
      let done = false;
      const finished = (): void => {
        if (done) return;
        done = true;
        this.handshaking--;
      };
      this.handlers.authenticate(request).then(
        (identity) => {
          finished();
          if (socket.destroyed) return;
          if (!identity) {
            socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            return;
          }
          this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(identity, ws));
        },
        (error: unknown) => {
          finished();
          this.logger.error({ err: error }, 'agent authentication failed');
          socket.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        },
      );
    });
    this.pingTimer = setInterval(() => this.pingNextSlice(), this.pingIntervalInMs / PING_SLICES);
    this.pingTimer.unref();
  }

  private accept(identity: AgentIdentity, ws: WebSocket): void {
    const conn: AgentConnection = {
      identity,
      ws,
      revoked: false,
      pingSlice: this.accepted++ % PING_SLICES,
      heard: true,
      silentTicks: 0,
      pingAgeTicks: -1,
      pingsWhenSilent: false,
      ackThroughId: 0,
    };
    // A newcomer takes a host's place at once only if the host has no connection here; beside a
    // live one it waits for its hello (takeOver). A handshake the agent gave up on (its 10 s
    // timeout) that the server completes late never sends a hello: it must not cut the agent's
    // working connection, made meanwhile by its retry (302 such cuts, close 4000, in a loaded
    // bench/scale storm on the embedded database, each followed by one more reconnect).
    let helloDeadline: NodeJS.Timeout | null = null;
    if (this.sockets.has(identity.vmKey)) {
      this.waitingForHello.add(ws);
      helloDeadline = setTimeout(() => ws.terminate(), HELLO_DEADLINE_IN_MS);
      helloDeadline.unref();
    } else this.sockets.set(identity.vmKey, conn);
    const takeOver = (): void => {
      if (helloDeadline) clearTimeout(helloDeadline);
      helloDeadline = null;
      this.waitingForHello.delete(ws);
      const previous = this.sockets.get(identity.vmKey);
      if (previous === conn) return;
      if (previous) {
        // The same agent reconnecting keeps its queued messages; another credential (a re-enrolled
        // host) must not have the old one's messages handled or answered.
        if (previous.identity.credentialId !== identity.credentialId) previous.revoked = true;
        previous.ws.close(4000, 'replaced by a newer connection');
      }
      this.sockets.set(identity.vmKey, conn);
    };
    const heard = (): void => {
      conn.heard = true;
    };
    ws.on('pong', heard);
    // ws answers an agent's ping with a pong by itself; it is a word from the agent too.
    ws.on('ping', heard);
    let queue = Promise.resolve();
    let greeted = false;
    ws.on('message', (data, isBinary) => {
      conn.heard = true;
      // A cut connection may still deliver frames that were in flight: they are not accepted.
      if (isBinary || conn.revoked) return;
      // Every message is checked against the protocol schema before anything acts on it: a
      // compromised host can send only well-typed, bounded values about itself.
      const parsed = parseAgentToServer(data.toString('utf8'));
      if (!parsed.ok) {
        this.logger.warn(
          { vm: identity.vmKey, reason: parsed.reason },
          'agent sent a message that does not follow the agent protocol; ignored',
        );
        return;
      }
      const msg: AgentToServer = parsed.message;
      if (msg.type === 'hello') {
        const { min, max } = AGENT_PROTOCOL_SUPPORTED;
        if (msg.protocolVersion < min || msg.protocolVersion > max) {
          this.logger.warn(
            { vm: identity.vmKey, protocolVersion: msg.protocolVersion, agentVersion: msg.agentVersion },
            'refused an agent whose protocol version this server does not speak',
          );
          ws.close(
            AGENT_CLOSE_INCOMPATIBLE,
            `agent protocol ${msg.protocolVersion} is not supported; this server speaks ${min === max ? min : `${min}-${max}`}`,
          );
          return;
        }
        greeted = true;
        conn.pingsWhenSilent = msg.pingsWhenSilent === true;
        takeOver();
      } else if (!greeted) {
        this.logger.warn({ vm: identity.vmKey, type: msg.type }, 'agent sent a message before its hello; ignored');
        return;
      }
      if (msg.type === 'metrics' || msg.type === 'metrics.batch') {
        // Reports are a stream, stamped as they arrive and needing no database: they neither wait
        // behind a slow message (a hello in a reconnect storm) nor make the others wait.
        this.current
          .run(conn, () => this.handlers.onMessage(identity, msg))
          .catch((error: unknown) => {
            this.logger.error({ err: error, vm: identity.vmKey, type: msg.type }, 'handling an agent message failed');
          });
        return;
      }
      queue = queue
        .then(() => {
          // Messages queued before a revocation are dropped too, not handled late.
          if (conn.revoked) return undefined;
          return this.current.run(conn, () => this.handlers.onMessage(identity, msg));
        })
        .catch((error: unknown) => {
          this.logger.error({ err: error, vm: identity.vmKey, type: msg.type }, 'handling an agent message failed');
        });
    });
    ws.on('close', (code) => {
      if (helloDeadline) clearTimeout(helloDeadline);
      this.waitingForHello.delete(ws);
      if (this.sockets.get(identity.vmKey) !== conn) return;
      this.sockets.delete(identity.vmKey);
      // 1006: no close frame came (RFC 6455 §7.1.5); a server stopping closes with 1001 (clean).
      const abrupt = code === 1006 && !this.closing;
      queue = queue
        .then(() => this.handlers.onDisconnect(identity, { abrupt }))
        .catch((error: unknown) => {
          this.logger.error({ err: error, vm: identity.vmKey }, 'recording an agent disconnect failed');
        });
      const recording = queue;
      this.recordingDisconnects.add(recording);
      void recording.finally(() => this.recordingDisconnects.delete(recording));
    });
    ws.on('error', (error) => this.logger.warn({ err: error, vm: identity.vmKey }, 'agent connection error'));
    this.logger.info({ vm: identity.vmKey }, 'agent connected');
  }

  /**
   * Cuts a host's live connection at once (its credential was revoked): nothing more is read
   * from it or sent to it, the host is recorded disconnected, and the agent is told why (close
   * code 4001). Returns whether there was a connection. A later connection with a new credential
   * is accepted as usual.
   */
  async disconnect(vmKey: string, reason: string): Promise<boolean> {
    const conn = this.sockets.get(vmKey.toLowerCase());
    if (!conn) return false;
    this.cut(conn, reason);
    await this.handlers.onDisconnect(conn.identity).catch((error: unknown) => {
      this.logger.error({ err: error, vm: conn.identity.vmKey }, 'recording an agent disconnect failed');
    });
    return true;
  }

  private cut(conn: AgentConnection, reason: string): void {
    conn.revoked = true;
    if (this.sockets.get(conn.identity.vmKey) === conn) this.sockets.delete(conn.identity.vmKey);
    conn.ws.close(CLOSE_CREDENTIAL_REVOKED, reason.slice(0, 120));
    // The close handshake waits for the peer; a revoked peer gets no say in how long the socket lives.
    setTimeout(() => conn.ws.terminate(), 1000).unref();
    this.logger.info({ vm: conn.identity.vmKey, reason }, 'agent connection closed: credential revoked');
  }

  private async sweepRevoked(): Promise<void> {
    if (!this.handlers.validCredentials) return;
    const conns = [...this.sockets.values()].filter((c) => c.identity.credentialId);
    if (conns.length === 0) return;
    const valid = await this.handlers.validCredentials(conns.map((c) => c.identity.credentialId!));
    for (const c of conns) {
      if (!c.revoked && !valid.has(c.identity.credentialId!)) {
        this.cut(c, 'the credential of this host was revoked');
        await this.handlers.onDisconnect(c.identity).catch(() => undefined);
      }
    }
  }

  /**
   * Each tenth of the interval: a connection silent for a whole interval since its last ping is
   * dropped; one silent for an interval is pinged; an agent that did not announce
   * `pingsWhenSilent` is pinged on its slice of every interval whatever it sent (its pong, or
   * anything else, is the answer). Credentials are checked once per interval.
   */
  private pingNextSlice(): void {
    const slice = this.pingTick++ % PING_SLICES;
    if (slice === 0)
      this.sweepRevoked().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'checking agent credentials failed'),
      );
    for (const conn of this.sockets.values()) {
      if (conn.heard) {
        conn.heard = false;
        conn.silentTicks = 0;
        conn.pingAgeTicks = -1;
      } else {
        conn.silentTicks++;
        if (conn.pingAgeTicks >= 0) conn.pingAgeTicks++;
      }
      if (conn.pingAgeTicks >= PING_SLICES) {
        conn.ws.terminate();
        continue;
      }
      // One cumulative ack per connection per interval, not one per batch: at a batch a second
      // from each of 10,000 agents, an ack each raised the server's steady CPU by half (bench/scale).
      if (conn.ackThroughId > 0 && conn.pingSlice === slice) this.sendMetricAck(conn);
      const due = conn.pingsWhenSilent
        ? conn.silentTicks >= PING_SLICES && conn.pingAgeTicks < 0
        : conn.pingSlice === slice && conn.pingAgeTicks < 0;
      if (!due) continue;
      conn.pingAgeTicks = 0;
      this.pingsSent++;
      conn.ws.ping();
    }
  }

  private sendMetricAck(conn: AgentConnection): void {
    const throughId = conn.ackThroughId;
    conn.ackThroughId = 0;
    if (conn.revoked || this.sockets.get(conn.identity.vmKey) !== conn || conn.ws.readyState !== conn.ws.OPEN) return;
    const msg: ServerToAgent = { type: 'metrics.ack', throughId };
    conn.ws.send(JSON.stringify(msg));
  }

  /** True when the host's agent has a live connection to this server. */
  isConnected(vmKey: string): boolean {
    return this.sockets.has(vmKey.toLowerCase());
  }

  /** Sends a message to a host's agent; false when it is not connected (the caller relies on reconciliation at reconnect). */
  send(vmKey: string, msg: ServerToAgent): boolean {
    const local = this.sendLocal(vmKey, msg);
    if (local !== 'absent') return local === 'sent';
    // Not connected here: another replica may hold the agent's connection (src/server/replicas.ts).
    return this.remoteSend?.(vmKey.toLowerCase(), msg) ?? false;
  }

  /**
   * Where orders go for hosts not connected to this process (set by the replica coordinator):
   * true when the order was taken for delivery through another replica.
   */
  remoteSend: ((vmKey: string, msg: ServerToAgent) => boolean) | null = null;

  /** Keys of the hosts connected to this process. */
  connectedKeys(): string[] {
    return [...this.sockets.keys()];
  }

  /**
   * Where the metric store reports, later, that a batch of the connection whose message is being
   * handled now is in the database: the connection's `metrics.ack` (cumulative) goes on its slice
   * of the liveness interval ({@link pingNextSlice}), only to that very connection while it is
   * open and not revoked — never to a newer connection of the host, which did not send the batch
   * (its agent re-sends what it still holds). Null outside a message's handling.
   */
  metricBatchAcker(): ((throughId: number) => void) | null {
    const conn = this.current.getStore();
    if (!conn) return null;
    return (throughId) => {
      if (throughId > conn.ackThroughId) conn.ackThroughId = throughId;
    };
  }

  /** Sends over this process's own connection only: 'sent', 'refused' (a reply to a revoked connection) or 'absent' (no open connection here). */
  sendLocal(vmKey: string, msg: ServerToAgent): 'sent' | 'refused' | 'absent' {
    const key = vmKey.toLowerCase();
    // A reply to a message goes to the connection that sent it: a message of a revoked (or
    // replaced) connection must not earn the new connection an answer it never asked for.
    // (A connection replaced by the same agent reconnecting with the same credential is not
    // revoked: its replies go to the newest connection, which is that agent.)
    const replyingTo = this.current.getStore();
    if (replyingTo && replyingTo.identity.vmKey.toLowerCase() === key && replyingTo.revoked) return 'refused';
    const conn = this.sockets.get(key);
    if (conn?.revoked) return 'refused';
    if (!conn || conn.ws.readyState !== conn.ws.OPEN) return 'absent';
    conn.ws.send(JSON.stringify(msg));
    return 'sent';
  }

  /** Number of connected agents. */
  get connectedCount(): number {
    return this.sockets.size;
  }

  /** Closes every agent connection. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const { ws } of this.sockets.values()) ws.close(1001, 'server shutting down');
    for (const ws of this.waitingForHello) ws.close(1001, 'server shutting down');
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // Agents that went away just before the stop are still being recorded (thousands at once
    // when a fleet drops): let them finish before the database closes, for a bounded time.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.recordingDisconnects]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_DRAIN_TIMEOUT_IN_MS);
      }),
    ]);
    clearTimeout(timer);
  }
}
