import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../lib/index.js';
import type { AgentToServer, ServerToAgent } from '../model/index.js';

/** Path agents connect to. */
export const AGENT_CONNECT_PATH = '/agent/v1/connect';

/** Largest message an agent may send (state and metrics are small). */
const MAX_AGENT_MESSAGE_BYTES = 1024 * 1024;

/** Interval of WebSocket pings; a connection that misses two is dropped so the agent reconnects. */
const PING_INTERVAL_IN_MS = 10_000;

/** Who is at the other end of an agent connection. */
export interface AgentIdentity { vmKey: string; baseUrl: string }

/**
 * Keeps one WebSocket per connected agent (the newest wins when an agent reconnects) and delivers
 * server→agent messages. Messages from agents are handed to `onMessage` one at a time per agent,
 * in order, so a state never overtakes the one before it.
 */
export class AgentHub extends EventEmitter {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_MESSAGE_BYTES });
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly handlers: {
      authenticate(request: IncomingMessage): Promise<AgentIdentity | null>;
      onMessage(identity: AgentIdentity, msg: AgentToServer): Promise<void>;
      onDisconnect(identity: AgentIdentity): Promise<void>;
    },
  ) {
    super();
  }

  /** Takes over WebSocket upgrades on the agent path of an HTTP(S) server. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '').split('?')[0]!.toLowerCase();
      if (path !== AGENT_CONNECT_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.handlers.authenticate(request).then((identity) => {
        if (!identity) {
          socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(identity, ws));
      }, (error: unknown) => {
        this.logger.error({ err: error }, 'agent authentication failed');
        socket.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      });
    });
    this.pingTimer = setInterval(() => this.pingAll(), PING_INTERVAL_IN_MS);
    this.pingTimer.unref();
  }

  private accept(identity: AgentIdentity, ws: WebSocket): void {
    const previous = this.sockets.get(identity.vmKey);
    if (previous) previous.close(4000, 'replaced by a newer connection');
    this.sockets.set(identity.vmKey, ws);
    (ws as WebSocket & { alive?: boolean }).alive = true;
    ws.on('pong', () => { (ws as WebSocket & { alive?: boolean }).alive = true; });
    let queue = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: AgentToServer;
      try {
        msg = JSON.parse(data.toString('utf8')) as AgentToServer;
      } catch {
        this.logger.warn({ vm: identity.vmKey }, 'agent sent a message that is not JSON; ignored');
        return;
      }
      queue = queue.then(() => this.handlers.onMessage(identity, msg)).catch((error: unknown) => {
        this.logger.error({ err: error, vm: identity.vmKey, type: msg.type }, 'handling an agent message failed');
      });
    });
    ws.on('close', () => {
      if (this.sockets.get(identity.vmKey) !== ws) return;
      this.sockets.delete(identity.vmKey);
      queue = queue.then(() => this.handlers.onDisconnect(identity)).catch((error: unknown) => {
        this.logger.error({ err: error, vm: identity.vmKey }, 'recording an agent disconnect failed');
      });
    });
    ws.on('error', (error) => this.logger.warn({ err: error, vm: identity.vmKey }, 'agent connection error'));
    this.logger.info({ vm: identity.vmKey }, 'agent connected');
  }

  private pingAll(): void {
    for (const ws of this.sockets.values()) {
      const w = ws as WebSocket & { alive?: boolean };
      if (w.alive === false) { ws.terminate(); continue; }
      w.alive = false;
      ws.ping();
    }
  }

  /** True when the host's agent has a live connection to this server. */
  isConnected(vmKey: string): boolean {
    return this.sockets.has(vmKey.toLowerCase());
  }

  /** Sends a message to a host's agent; false when it is not connected (the caller relies on reconciliation at reconnect). */
  send(vmKey: string, msg: ServerToAgent): boolean {
    const ws = this.sockets.get(vmKey.toLowerCase());
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Cuts a host's live connection at once (its credential was revoked, or the host deleted): it
   * leaves the table first, so its close records nothing and nothing more is sent to it, and the
   * socket is destroyed without waiting for the peer. True if there was one.
   */
  async disconnect(vmKey: string, reason: string): Promise<boolean> {
    const ws = this.sockets.get(vmKey.toLowerCase());
    if (!ws) return false;
    this.sockets.delete(vmKey.toLowerCase());
    ws.removeAllListeners('message');
    ws.terminate();
    this.logger.info({ vm: vmKey, reason }, 'agent connection closed');
    return true;
  }

  /** Number of connected agents. */
  get connectedCount(): number {
    return this.sockets.size;
  }

  /** Closes every agent connection. */
  async close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const ws of this.sockets.values()) ws.close(1001, 'server shutting down');
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
