/**
 * Agent simulator: many agents in one process, each speaking the real agent protocol
 * (src/model/agent-protocol.ts) over its own WebSocket, for benchmarks that need thousands of
 * connected hosts without thousands of hosts (bench/scale, bench/fleet-fanout).
 *
 * Each simulated agent is enrolled like a real one (`PUT …/extensions/…` for its one-time token,
 * `POST /agent/v1/enroll` for its credential), connects from its own loopback source address (the
 * whole of 127.0.0.0/8 is local on Linux, so one process is not held to one address's ~28,000
 * ephemeral ports), sends `hello`, reports host metrics every second like src/agent/metrics.ts,
 * and answers capture orders with plausible states: `capture.start` → Running (then Stopped with
 * TimeExceeded when its time limit runs out), `capture.stop` → Stopped (Manual), `capture.forget`
 * → forgotten. States are re-sent until the server acknowledges them, and every capture's state
 * travels in the hello after a reconnect, as the real capture manager does. No tcpdump runs and
 * no file is written: a stopped capture reports no file.
 *
 * ```ts
 * import { startSimulatedFleet } from '../lib/agent-simulator.js';
 * const fleet = await startSimulatedFleet({ serverUrl, adminToken, count: 1000, resourceGroup: 'simrg' });
 * await fleet.waitConnected(1000, 60_000);   // every agent welcomed
 * fleet.hosts[0]!.vmId;                      // ARM id of a simulated VM, as a capture's target
 * await fleet.dropAll();                     // cut every connection; agents reconnect with back-off
 * await fleet.waitConnected(1000, 60_000);
 * await fleet.stop();
 * ```
 *
 * For more agents than one process handles comfortably (a few thousand), run several processes:
 * {@link startSimulatedFleetProcesses} forks bench/lib/agent-simulator-worker.ts per share, with the
 * same controls.
 */
import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { nextAddressDelayInMs, reconnectDelayInMs, refusedRetryDelayInMs } from '../../src/agent/connection.js';
import { HostMetricSender, clockOffsetOf } from '../../src/agent/metrics.js';
import { HOST_METRICS } from '../../src/alerts/host-metrics.js';
import {
  AGENT_PING_AFTER_SILENCE_IN_MS,
  AGENT_PROTOCOL_VERSION,
  AGENT_SERVER_SILENCE_LIMIT_IN_MS,
  parseServerToAgent,
  type AgentCaptureOrder,
  type AgentCaptureState,
  type AgentToServer,
  type ServerToAgent,
} from '../../src/model/index.js';

/** One enrolled simulated host. */
export interface SimulatedHost {
  /** Index in the fleet (also picks its source address). */
  index: number;
  vmName: string;
  /** ARM id of its VM (a capture's `target`). */
  vmId: string;
  resourceGroup: string;
  /** The agent credential the server issued at enrolment. */
  credential: string;
}

/** Options of {@link enrollSimulatedHosts}. */
export interface EnrollOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. */
  serverUrl: string;
  adminToken: string;
  count: number;
  /** Default 00000000-0000-0000-0000-000000000000. */
  subscriptionId?: string;
  /** Default `simrg`. */
  resourceGroup?: string;
  /** VM names are `${namePrefix}${index}`; default `sim`. */
  namePrefix?: string;
  /** First index (to enrol a fleet in shares); default 0. */
  firstIndex?: number;
  /** Requests in flight at once; default 16. */
  concurrency?: number;
}

const DEFAULT_SUB = '00000000-0000-0000-0000-000000000000';

/** The loopback source address of host `index`: 127.a.b.c with b, c in 1..254, so any number of hosts up to ~16 million each have their own. */
export function simulatedSourceAddress(index: number): string {
  const a = 2 + Math.floor(index / (254 * 254));
  const rest = index % (254 * 254);
  return `127.${a}.${1 + Math.floor(rest / 254)}.${1 + (rest % 254)}`;
}

/** A JSON request with node's http (keep-alive off: one connection per call is what a fleet of hosts does). */
function jsonRequest(
  method: string,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      target,
      {
        method,
        headers: {
          ...headers,
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${target.pathname} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Registers `count` hosts (VM + agent extension) and enrols each, as `nw vm extension set` plus the install command do. */
export async function enrollSimulatedHosts(options: EnrollOptions): Promise<SimulatedHost[]> {
  const base = options.serverUrl.replace(/\/+$/, '');
  const sub = options.subscriptionId ?? DEFAULT_SUB;
  const rg = options.resourceGroup ?? 'simrg';
  const prefix = options.namePrefix ?? 'sim';
  const first = options.firstIndex ?? 0;
  const indexes = Array.from({ length: options.count }, (_, i) => first + i);
  return pool(indexes, options.concurrency ?? 16, async (index) => {
    const vmName = `${prefix}${index}`;
    const vmId = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const ext = await jsonRequest(
          'PUT',
          `${base}${vmId}/extensions/NetworkWatcherAgentLinux?api-version=2024-03-01`,
          {
            location: 'westcentralus',
            properties: {
              publisher: 'Microsoft.Azure.NetworkWatcher',
              type: 'NetworkWatcherAgentLinux',
              typeHandlerVersion: '1.4',
            },
          },
          { Authorization: `Bearer ${options.adminToken}` },
        );
        if (ext.status !== 200 && ext.status !== 201)
          throw new Error(`extension of ${vmName}: HTTP ${ext.status} ${JSON.stringify(ext.body).slice(0, 300)}`);
        const token = (ext.body as { properties: { enrollmentToken: string } }).properties.enrollmentToken;
        const enrolled = await jsonRequest('POST', `${base}/agent/v1/enroll`, { token, hostname: vmName });
        if (enrolled.status !== 200)
          throw new Error(
            `enrolment of ${vmName}: HTTP ${enrolled.status} ${JSON.stringify(enrolled.body).slice(0, 300)}`,
          );
        return {
          index,
          vmName,
          vmId,
          resourceGroup: rg,
          credential: (enrolled.body as { credential: string }).credential,
        };
      } catch (error) {
        // A busy server (or a 429) is retried a few times: enrolment is set-up, not what is measured.
        if (attempt >= 5) throw error;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  });
}

/** Counters of a fleet. */
export interface FleetStats {
  /** Agents with an open connection now. */
  connected: number;
  /** Connection attempts that failed (refused, timed out, closed before open). */
  failedAttempts: number;
  /** Handshakes that timed out (a subset of failedAttempts). */
  handshakeTimeouts: number;
  /** Failed attempts by cause: an error code (ECONNRESET …), `HTTP nnn`, or `closed` (closed before open without an error). */
  failureCauses: Record<string, number>;
  /** Connections that were open and were lost without {@link SimulatedFleet.dropAll}. */
  unexpectedDrops: number;
  /** Metric samples sent (one by one or in batches; the database holds one row each). */
  metricReports: number;
  /** Pings the agents sent the server after hearing nothing from it for a while (as the real agent, src/agent/connection.ts). */
  keepalivePings: number;
  /** Capture orders received (`capture.start`). */
  ordersReceived: number;
  /** The longest reconnect spread a welcome announced (seconds; 0: none, an older server). */
  largestSpreadInSeconds: number;
  /** Captures running now. */
  running: number;
}

/** Back-off of a simulated agent: a function of the attempt (1, 2, …) and the server's announced reconnect spread (ms, 0: none) giving the wait in ms. Default: the real agent's (src/agent/connection.ts). */
export type BackoffPolicy = (attempt: number, spreadInMs: number) => number;

/**
 * How a simulated agent's samples leave: `batch` as the real agent (batches at the announced
 * interval, numbered and kept until acknowledged when the server acknowledges); `unacked`,
 * batches without ids, as agents before acknowledgements; `single`, one report a sample.
 */
export type ReportFormat = 'batch' | 'unacked' | 'single';

/** Options of {@link startSimulatedFleet}. */
export interface FleetOptions extends Partial<EnrollOptions> {
  /** The server's URL, or several replicas' as a comma list (each agent rotates through them on failures, as `nw agent --server A,B,C` does). */
  serverUrl: string;
  /** Enrols this many hosts first (needs adminToken), unless `hosts` is given. */
  count?: number;
  /** Already enrolled hosts (e.g. from {@link enrollSimulatedHosts}). */
  hosts?: SimulatedHost[];
  /** Metric sample interval; default 1000 ms as the real agent; 0 sends none. */
  metricsIntervalInMs?: number;
  /**
   * How samples leave: `batch` (default) as the real agent, in `metrics.batch` messages at the
   * interval the server's welcome announces (single reports until it does); `single`, one
   * `metrics` message per sample, as agents before issue 17's batches (to compare both).
   */
  reportFormat?: ReportFormat;
  /** Connections opened at once while connecting the first time; default 64. */
  connectConcurrency?: number;
  /** Reconnect wait per attempt; default the real agent's jittered exponential back-off. */
  backoff?: BackoffPolicy;
  /** WebSocket handshake timeout; default 10 s as the real agent. */
  handshakeTimeoutInMs?: number;
  /** Called for every capture order a simulated agent receives (for latency measurements). */
  onOrder?: (host: SimulatedHost, order: AgentCaptureOrder) => void;
}

/** A running simulated fleet. */
export interface SimulatedFleet {
  hosts: SimulatedHost[];
  /** Resolves when at least `n` agents are connected (their connection open and hello sent); rejects after `timeoutInMs`. Returns the wait in ms. */
  waitConnected(n: number, timeoutInMs: number): Promise<number>;
  /** Cuts every connection at once (as a server or network failure does) and resolves when all are closed; the agents reconnect with their back-off. */
  dropAll(): Promise<void>;
  stats(): FleetStats;
  /** Switches how every agent's samples leave from now on (see {@link FleetOptions.reportFormat}). */
  setReportFormat(format: ReportFormat): void;
  /** Closes every connection for good. */
  stop(): Promise<void>;
}

/**
 * The real agent's reconnect back-off (src/agent/connection.ts, its own functions), so storms are
 * measured as they happen: within the reconnect spread the server last announced (none from an
 * older server: the agent's back-off alone, as agents before the spread).
 */
const defaultBackoff: BackoffPolicy = (attempt, spreadInMs) => reconnectDelayInMs(attempt, Math.random, spreadInMs);

const METRIC_NAMES = HOST_METRICS.map((m) => m.name);

/** Plausible one-second counter deltas of a quiet host. */
function metricValues(): Record<string, number> {
  const values: Record<string, number> = {};
  for (const name of METRIC_NAMES) {
    values[name] =
      name.includes('Bytes') || name.startsWith('Network')
        ? Math.floor(Math.random() * 20_000)
        : Math.floor(Math.random() * 40);
  }
  return values;
}

interface SimCapture {
  state: AgentCaptureState;
  acked: boolean;
  timer: NodeJS.Timeout | null;
}

/** One simulated agent. */
class SimulatedAgent {
  ws: WebSocket | null = null;
  welcomed = false;
  /** The batch interval the server's welcome announced on this connection (null: single reports). */
  private batchIntervalInSeconds: number | null = null;
  /** Whether the server's welcome on this connection said it acknowledges batches, with the clock offset measured from it. */
  private metricBatchAcks: { clockOffsetInMs: number } | null = null;
  /** The reconnect spread the server last announced (ms; 0: none), kept across the drop, as the real agent. */
  private reconnectSpreadInMs = 0;
  /** The real agent's sampler logic (src/agent/metrics.ts): single reports, batches, the buffer. */
  private readonly sender: HostMetricSender;
  private closed = false;
  private dropping = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly captures = new Map<string, SimCapture>();
  /** The server's agent endpoint, or several replicas' (`serverUrl` a comma list), tried in turn. */
  private readonly wsUrls: string[];
  private urlIndex = 0;
  /** When the server was last heard on this connection, and whether the agent pinged it since (the real agent's keep-alive). */
  private heardAtInMs = 0;
  private pingedSinceHeard = false;

  constructor(
    readonly host: SimulatedHost,
    serverUrl: string,
    private readonly fleet: FleetInternals,
  ) {
    this.wsUrls = serverUrl
      .split(',')
      .map((url) => `${url.trim().replace(/\/+$/, '').replace(/^http/, 'ws')}/agent/v1/connect`);
    this.sender = new HostMetricSender({
      intervalInMs: fleet.metricsIntervalInMs,
      send: (msg) => this.send(msg),
      batchIntervalInSeconds: () => (this.fleet.reportFormat !== 'single' ? this.batchIntervalInSeconds : null),
      metricBatchAcks: () => (this.fleet.reportFormat === 'batch' ? this.metricBatchAcks : null),
      isConnected: () => this.welcomed && this.ws?.readyState === WebSocket.OPEN,
    });
  }

  /** Opens a connection; resolves when it opened or failed (the reconnect is scheduled then). */
  connect(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const ws = new WebSocket(this.wsUrls[this.urlIndex]!, {
        headers: { Authorization: `Bearer ${this.host.credential}` },
        handshakeTimeout: this.fleet.handshakeTimeoutInMs,
        localAddress: simulatedSourceAddress(this.host.index),
        perMessageDeflate: false,
      });
      this.ws = ws;
      let opened = false;
      let timedOut = false;
      let cause = 'closed';
      const heard = (): void => {
        this.heardAtInMs = Date.now();
        this.pingedSinceHeard = false;
      };
      ws.on('ping', heard);
      ws.on('pong', heard);
      ws.on('open', () => {
        heard();
        opened = true;
        this.attempt = 0;
        this.batchIntervalInSeconds = null;
        // An open connection (the credential accepted) counts as connected; the server's welcome (its batch interval) comes after the hello.
        this.welcomed = true;
        this.fleet.connected++;
        this.fleet.onWelcome();
        this.send({
          type: 'hello',
          protocolVersion: AGENT_PROTOCOL_VERSION,
          agentVersion: 'sim-0.1.0',
          hostname: this.host.vmName,
          captures: [...this.captures.values()].map((c) => c.state),
          pingsWhenSilent: true,
        });
        resolve();
      });
      ws.on('message', (data, isBinary) => {
        heard();
        if (isBinary) return;
        const parsed = parseServerToAgent(data.toString());
        if (parsed.ok) this.handle(parsed.message);
      });
      ws.on('error', (error) => {
        if (/handshake (has )?timed out/i.test(error.message)) timedOut = true;
        // A refusal (503 and Retry-After) ends in terminate(), whose "closed before the connection
        // was established" would hide the status.
        if (cause.startsWith('HTTP ')) return;
        cause = timedOut ? 'handshake timeout' : ((error as NodeJS.ErrnoException).code ?? error.message.slice(0, 60));
      });
      let retryAfter: string | undefined;
      ws.on('unexpected-response', (_req, res) => {
        cause = `HTTP ${res.statusCode}`;
        if (res.statusCode === 503) retryAfter = [res.headers['retry-after']].flat()[0] ?? '';
        res.resume();
        ws.terminate();
      });
      ws.on('close', (code) => {
        if (this.ws === ws) this.ws = null;
        this.batchIntervalInSeconds = null;
        this.metricBatchAcks = null;
        this.sender.onDisconnected();
        if (this.welcomed) {
          this.welcomed = false;
          this.fleet.connected--;
          if (!this.dropping && !this.closed) {
            this.fleet.stats.unexpectedDrops++;
            this.fleet.stats.failureCauses[`dropped ${code}`] =
              (this.fleet.stats.failureCauses[`dropped ${code}`] ?? 0) + 1;
          }
        }
        this.dropping = false;
        if (!opened) {
          this.fleet.stats.failedAttempts++;
          if (timedOut) this.fleet.stats.handshakeTimeouts++;
          this.fleet.stats.failureCauses[cause] = (this.fleet.stats.failureCauses[cause] ?? 0) + 1;
          resolve();
        }
        if (this.closed) return;
        this.attempt++;
        const waitInMs = this.nextAddressWaitInMs(this.fleet.backoff(this.attempt, this.reconnectSpreadInMs));
        this.reconnectTimer = setTimeout(
          () => {
            this.reconnectTimer = null;
            void this.connect();
          },
          // As the real agent: a busy server's Retry-After (jittered) when it refused with 503.
          retryAfter === undefined
            ? waitInMs
            : refusedRetryDelayInMs(retryAfter, this.attempt, Math.random, this.reconnectSpreadInMs),
        );
      });
    });
  }

  /**
   * With several addresses, as the real agent (src/agent/connection.ts): the next attempt goes to
   * the next one, at once (its shortest wait) unless a whole round failed.
   */
  private nextAddressWaitInMs(backoffInMs: number): number {
    if (this.wsUrls.length === 1) return backoffInMs;
    this.urlIndex = (this.urlIndex + 1) % this.wsUrls.length;
    return this.urlIndex === 0 ? backoffInMs : nextAddressDelayInMs(backoffInMs, Math.random, this.reconnectSpreadInMs);
  }

  send(msg: AgentToServer): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Takes one sample; it leaves as the real agent's would (before issue 17, samples of a disconnected agent were not taken at all). */
  sendMetrics(): void {
    this.keepAlive();
    const before = this.sender.sent;
    this.sender.take(metricValues());
    this.fleet.stats.metricReports += this.sender.sent - before;
  }

  /**
   * The real agent's keep-alive (src/agent/connection.ts), checked at each sample instead of a
   * timer per connection: a ping after AGENT_PING_AFTER_SILENCE_IN_MS without a word from the
   * server, the connection given up after AGENT_SERVER_SILENCE_LIMIT_IN_MS. Against a server that
   * pings every 10 s (before issue 17's steady-CPU work) neither ever happens, as with the agents
   * of then.
   */
  private keepAlive(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const silentForInMs = Date.now() - this.heardAtInMs;
    if (silentForInMs >= AGENT_SERVER_SILENCE_LIMIT_IN_MS) ws.terminate();
    else if (silentForInMs >= AGENT_PING_AFTER_SILENCE_IN_MS && !this.pingedSinceHeard) {
      this.pingedSinceHeard = true;
      this.fleet.stats.keepalivePings++;
      ws.ping();
    }
  }

  private setState(uid: string, patch: Partial<AgentCaptureState>): void {
    const c = this.captures.get(uid);
    if (!c) return;
    c.state = { ...c.state, ...patch, sequence: c.state.sequence + 1 };
    c.acked = false;
    this.send({ type: 'capture.state', state: c.state });
  }

  private stopCapture(uid: string, reason: 'Manual' | 'TimeExceeded'): void {
    const c = this.captures.get(uid);
    if (!c || c.state.status !== 'Running') return;
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    this.fleet.running--;
    const packets = 10 + Math.floor(Math.random() * 1000);
    this.setState(uid, {
      status: 'Stopped',
      stopReason: reason,
      packetsCaptured: packets,
      bytesCaptured: packets * 120,
      kernelPacketsDropped: 0,
      kernelPacketsReceived: packets,
    });
  }

  private handle(msg: ServerToAgent): void {
    switch (msg.type) {
      case 'metrics.ack':
        this.sender.onAck(msg.throughId);
        return;
      case 'welcome':
        this.batchIntervalInSeconds = msg.metricsBatchIntervalInSeconds ?? null;
        this.metricBatchAcks = msg.metricBatchAcks
          ? { clockOffsetInMs: clockOffsetOf(msg.metricBatchAcks.serverTime) }
          : null;
        this.reconnectSpreadInMs = (msg.reconnectSpreadInSeconds ?? 0) * 1000;
        this.fleet.stats.largestSpreadInSeconds = Math.max(
          this.fleet.stats.largestSpreadInSeconds,
          msg.reconnectSpreadInSeconds ?? 0,
        );
        return;
      case 'capture.start': {
        const order = msg.order;
        this.fleet.stats.ordersReceived++;
        this.fleet.onOrder?.(this.host, order);
        if (this.captures.has(order.captureUid)) {
          const c = this.captures.get(order.captureUid)!;
          this.send({ type: 'capture.state', state: c.state });
          return;
        }
        const state: AgentCaptureState = {
          captureUid: order.captureUid,
          status: 'Running',
          captureStartTime: new Date().toISOString(),
          stopReason: null,
          errors: [],
          errorMessage: null,
          packetsCaptured: 0,
          bytesCaptured: 0,
          kernelPacketsDropped: 0,
          kernelPacketsReceived: 0,
          file: null,
          sequence: 1,
        };
        const c: SimCapture = { state, acked: false, timer: null };
        this.captures.set(order.captureUid, c);
        this.fleet.running++;
        if (order.timeLimitInSeconds > 0) {
          c.timer = setTimeout(
            () => this.stopCapture(order.captureUid, 'TimeExceeded'),
            order.timeLimitInSeconds * 1000,
          );
          c.timer.unref();
        }
        this.send({ type: 'capture.state', state });
        return;
      }
      case 'capture.stop':
        if (this.captures.get(msg.captureUid)?.state.status === 'Running') this.stopCapture(msg.captureUid, 'Manual');
        else {
          const c = this.captures.get(msg.captureUid);
          if (c) this.send({ type: 'capture.state', state: c.state });
        }
        return;
      case 'capture.forget': {
        const c = this.captures.get(msg.captureUid);
        if (c?.timer) clearTimeout(c.timer);
        if (c?.state.status === 'Running') this.fleet.running--;
        this.captures.delete(msg.captureUid);
        return;
      }
      case 'capture.ack': {
        const c = this.captures.get(msg.captureUid);
        if (c && c.state.sequence === msg.sequence) c.acked = true;
        return;
      }
      case 'file.fetch':
      case 'upload.grant':
      case 'upload.refused':
      case 'upload.verified':
        // The simulator writes no files: nothing to fetch or upload.
        return;
    }
  }

  /** Cuts the connection as a network failure does (no close handshake); resolves when it is closed. The agent reconnects after its back-off. */
  drop(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.dropping = true;
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.terminate();
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const c of this.captures.values()) if (c.timer) clearTimeout(c.timer);
    this.ws?.terminate();
  }
}

interface FleetInternals {
  connected: number;
  running: number;
  stats: Omit<FleetStats, 'connected' | 'running'>;
  backoff: BackoffPolicy;
  handshakeTimeoutInMs: number;
  metricsIntervalInMs: number;
  reportFormat: ReportFormat;
  onOrder: FleetOptions['onOrder'];
  onWelcome(): void;
}

/** Starts a fleet of simulated agents in this process (enrolling them first unless `hosts` is given) and connects them. */
export async function startSimulatedFleet(options: FleetOptions): Promise<SimulatedFleet> {
  let hosts = options.hosts;
  if (!hosts) {
    if (!options.adminToken || options.count === undefined)
      throw new Error('startSimulatedFleet needs hosts, or adminToken and count to enrol them');
    hosts = await enrollSimulatedHosts({ ...options, adminToken: options.adminToken, count: options.count });
  }
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const internals: FleetInternals = {
    connected: 0,
    running: 0,
    stats: {
      failedAttempts: 0,
      handshakeTimeouts: 0,
      unexpectedDrops: 0,
      metricReports: 0,
      keepalivePings: 0,
      ordersReceived: 0,
      largestSpreadInSeconds: 0,
      failureCauses: {},
    },
    backoff: options.backoff ?? defaultBackoff,
    handshakeTimeoutInMs: options.handshakeTimeoutInMs ?? 10_000,
    metricsIntervalInMs: options.metricsIntervalInMs ?? 1000,
    reportFormat: options.reportFormat ?? 'batch',
    onOrder: options.onOrder,
    onWelcome() {
      for (let i = waiters.length - 1; i >= 0; i--)
        if (internals.connected >= waiters[i]!.n) {
          waiters[i]!.resolve();
          waiters.splice(i, 1);
        }
    },
  };
  const agents = hosts.map((h) => new SimulatedAgent(h, options.serverUrl, internals));
  // Metrics: one timer for the fleet, reports spread over the interval as real hosts' clocks are.
  const interval = options.metricsIntervalInMs ?? 1000;
  let metricsTimer: NodeJS.Timeout | null = null;
  if (interval > 0) {
    const TICK_IN_MS = 50;
    const perTick = Math.max(1, Math.ceil((agents.length * TICK_IN_MS) / interval));
    let cursor = 0;
    metricsTimer = setInterval(() => {
      for (let k = 0; k < perTick && agents.length > 0; k++) {
        agents[cursor]!.sendMetrics();
        cursor = (cursor + 1) % agents.length;
      }
    }, TICK_IN_MS);
  }
  await pool(agents, options.connectConcurrency ?? 64, (a) => a.connect());
  return {
    hosts,
    waitConnected(n, timeoutInMs) {
      const started = performance.now();
      if (internals.connected >= n) return Promise.resolve(0);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${internals.connected} of ${n} agents connected after ${timeoutInMs} ms`)),
          timeoutInMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(performance.now() - started);
          },
        });
      });
    },
    async dropAll() {
      await Promise.all(agents.map((a) => a.drop()));
    },
    setReportFormat(format) {
      internals.reportFormat = format;
    },
    stats: () => ({
      ...internals.stats,
      failureCauses: { ...internals.stats.failureCauses },
      connected: internals.connected,
      running: internals.running,
    }),
    async stop() {
      if (metricsTimer) clearInterval(metricsTimer);
      for (const a of agents) a.close();
    },
  };
}

/** A fleet spread over several processes: the same controls, answered by every process. */
export interface SimulatedFleetProcesses {
  hosts: SimulatedHost[];
  /** Process ids of the simulator processes (to measure their CPU apart from the server's). */
  pids: number[];
  waitConnected(n: number, timeoutInMs: number, pollInMs?: number): Promise<number>;
  dropAll(): Promise<void>;
  setReportFormat(format: ReportFormat): Promise<void>;
  /** Counters summed over the processes. */
  stats(): Promise<FleetStats>;
  stop(): Promise<void>;
}

/**
 * Polls a fleet's counters until `count` agents are connected; resolves with the time it took,
 * throws after `timeoutInMs`.
 */
export async function waitForConnected(
  stats: () => Promise<FleetStats>,
  count: number,
  timeoutInMs: number,
  pollInMs = 100,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const s = await stats();
    if (s.connected >= count) return performance.now() - started;
    if (performance.now() - started > timeoutInMs)
      throw new Error(`only ${s.connected} of ${count} agents connected after ${timeoutInMs} ms`);
    await new Promise((r) => setTimeout(r, pollInMs));
  }
}

/** Counters of several fleets summed (failure causes merged). */
export function sumFleetStats(all: FleetStats[]): FleetStats {
  const sum: FleetStats = {
    connected: 0,
    failedAttempts: 0,
    handshakeTimeouts: 0,
    unexpectedDrops: 0,
    metricReports: 0,
    keepalivePings: 0,
    ordersReceived: 0,
    running: 0,
    largestSpreadInSeconds: 0,
    failureCauses: {},
  };
  for (const s of all) {
    sum.largestSpreadInSeconds = Math.max(sum.largestSpreadInSeconds, s.largestSpreadInSeconds ?? 0);
    for (const k of [
      'connected',
      'failedAttempts',
      'handshakeTimeouts',
      'unexpectedDrops',
      'metricReports',
      'keepalivePings',
      'ordersReceived',
      'running',
    ] as const)
      sum[k] += s[k];
    for (const [c, n] of Object.entries(s.failureCauses)) sum.failureCauses[c] = (sum.failureCauses[c] ?? 0) + n;
  }
  return sum;
}

/**
 * Runs already enrolled `hosts` (see {@link enrollSimulatedHosts}) in `processes` child processes,
 * each a {@link startSimulatedFleet} of its share. Resolves once every process has started
 * connecting its share (not when all are connected: use `waitConnected`).
 */
export async function startSimulatedFleetProcesses(
  options: Omit<FleetOptions, 'hosts' | 'count' | 'onOrder' | 'backoff'> & {
    hosts: SimulatedHost[];
    processes: number;
  },
): Promise<SimulatedFleetProcesses> {
  const { fork } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const worker = fileURLToPath(new URL('./agent-simulator-worker.ts', import.meta.url));
  const n = Math.max(1, Math.min(options.processes, options.hosts.length));
  const children = Array.from({ length: n }, () =>
    fork(worker, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  let nextId = 1;
  const call = (child: (typeof children)[number], op: string, extra: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const onMessage = (raw: unknown) => {
        const m = raw as { id: number; ok: boolean; result?: unknown; error?: string };
        if (m.id !== id) return;
        child.off('message', onMessage);
        if (m.ok) resolve(m.result);
        else reject(new Error(m.error));
      };
      child.on('message', onMessage);
      child.send({ id, op, ...extra });
    });
  const { processes: _processes, hosts, ...rest } = options;
  await Promise.all(
    children.map((child, k) =>
      call(child, 'start', { options: { ...rest, hosts: hosts.filter((_, i) => i % n === k) } }),
    ),
  );
  const stats = async (): Promise<FleetStats> =>
    sumFleetStats((await Promise.all(children.map((c) => call(c, 'stats')))) as FleetStats[]);
  return {
    hosts,
    pids: children.map((c) => c.pid!),
    waitConnected: (count, timeoutInMs, pollInMs) => waitForConnected(stats, count, timeoutInMs, pollInMs),
    async dropAll() {
      await Promise.all(children.map((c) => call(c, 'drop')));
    },
    async setReportFormat(format) {
      await Promise.all(children.map((c) => call(c, 'format', { format })));
    },
    stats,
    async stop() {
      await Promise.all(children.map((c) => call(c, 'stop').catch(() => c.kill())));
    },
  };
}
