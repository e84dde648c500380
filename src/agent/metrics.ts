import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { hostMetricDeltas, readHostCounters, type HostCounterSnapshot } from '../alerts/host-counters.js';
import type { Logger } from '../lib/index.js';
import {
  AGENT_METRICS_ACK_LIMITS,
  AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS,
  AGENT_METRICS_SAMPLES_PER_BATCH_MAX,
  type AgentCaptureState,
  type AgentLookbackState,
  type AgentToServer,
} from '../model/index.js';

/** Host-metric settings of an agent (flags of `nw agent`). */
export interface AgentMetricsConfig {
  /** Where to serve Prometheus `/metrics`; absent (the default): no listener. */
  metricsListen?: { host: string; port: number };
  /** Interval between host-metric reports to the server. */
  metricsIntervalInMs?: number;
}

/**
 * Default sample interval. One second, so an alert on a 1-second evaluation sees a burst within
 * about a second of it leaving the host (alert → capture under 3 s when the server takes every
 * sample as it is taken: `--agent-metrics-batch-seconds 1`); a sample is a few hundred bytes.
 */
export const DEFAULT_METRICS_INTERVAL_IN_MS = 1_000;

/**
 * Samples an agent keeps while it cannot send them (disconnected, or not yet told by its server
 * that it takes batches): 15 minutes of one-second samples, ~350 bytes each. Past it the oldest
 * are dropped (counted as dropped reports).
 */
export const AGENT_METRICS_BUFFER_MAX_SAMPLES = 900;

/**
 * The offset of a server's clock from this host's, from the `serverTime` of its welcome read at
 * `nowInMs` (the welcome's transit, milliseconds, is inside it): what this host's batches carry
 * so that every replica places a re-sent sample where the first placed it. Whole milliseconds,
 * within the protocol's bound.
 */
export function clockOffsetOf(serverTime: string, nowInMs: number = Date.now()): number {
  const { maxClockOffsetInMs } = AGENT_METRICS_ACK_LIMITS;
  return Math.max(-maxClockOffsetInMs, Math.min(maxClockOffsetInMs, Math.round(Date.parse(serverTime) - nowInMs)));
}

/** What the reporter needs from the agent. */
export interface HostMetricsOptions {
  intervalInMs: number;
  /** Sends on the server connection; false when it is down. */
  send(msg: AgentToServer): boolean;
  /**
   * The batch interval the connected server announced in its welcome, or null (no connection, no
   * welcome yet, or an older server): then every sample goes as a single report as it is taken,
   * and samples taken while disconnected wait for a server that takes batches.
   */
  batchIntervalInSeconds?(): number | null;
  /** What the connected server's welcome said of acknowledgements (see {@link HostMetricSender}); absent or null: none. */
  metricBatchAcks?(): { clockOffsetInMs: number } | null;
  /** The captures the agent knows (for the Prometheus endpoint). */
  captureStates(): AgentCaptureState[];
  /** What the host's look-back buffer holds (for the Prometheus endpoint); absent: no such gauges. */
  lookbackState?(): AgentLookbackState;
  isConnected(): boolean;
  listen?: { host: string; port: number };
  logger: Logger;
  vmId: string;
  agentVersion: string;
  /** Root of /proc (tests). */
  procRoot?: string;
}

/** The running reporter. */
export interface HostMetricsReporter {
  /** URL of the Prometheus listener, or null. */
  metricsUrl: string | null;
  /** A `metrics.ack` from the connected server (see {@link HostMetricSender.onAck}). */
  onAck(throughId: number): void;
  /** The server connection dropped: unacknowledged batches go again on the next. */
  onDisconnected(): void;
  close(): Promise<void>;
}

/** Reads /proc once for every metric of one scrape (prom-client collects them in parallel). */
function memoizedSnapshot(procRoot: string | undefined): () => Promise<HostCounterSnapshot> {
  let at = 0;
  let pending: Promise<HostCounterSnapshot> | null = null;
  return () => {
    if (!pending || Date.now() - at > 250) {
      at = Date.now();
      pending = readHostCounters(procRoot);
    }
    return pending;
  };
}

/**
 * The agent's Prometheus registry. Host counters carry node_exporter's names and meaning
 * (`node_netstat_Tcp_OutSegs`, `node_network_transmit_bytes_total{device}` …), so dashboards and
 * rules written for node_exporter work unchanged; `nw_agent_*` are the agent's own.
 */
export function createAgentRegistry(
  // prom-client (with @opentelemetry/api, ~80 modules) is loaded only for an agent that serves
  // /metrics (bench/agent-idle: most agents report through the server and never do).
  prom: typeof import('prom-client'),
  opts: Pick<
    HostMetricsOptions,
    'captureStates' | 'lookbackState' | 'isConnected' | 'vmId' | 'agentVersion' | 'procRoot'
  >,
  reports: { sent: () => number; dropped: () => number },
): Registry {
  const { Counter, Gauge, Registry, collectDefaultMetrics } = prom;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nw_agent_' });
  const snapshot = memoizedSnapshot(opts.procRoot);
  const netstat: Array<[string, 'Tcp' | 'Udp' | 'Udp6', string]> = [
    ['node_netstat_Tcp_InSegs', 'Tcp', 'InSegs'],
    ['node_netstat_Tcp_OutSegs', 'Tcp', 'OutSegs'],
    ['node_netstat_Tcp_RetransSegs', 'Tcp', 'RetransSegs'],
    ['node_netstat_Udp_InDatagrams', 'Udp', 'InDatagrams'],
    ['node_netstat_Udp_OutDatagrams', 'Udp', 'OutDatagrams'],
    ['node_netstat_Udp6_InDatagrams', 'Udp6', 'Udp6InDatagrams'],
    ['node_netstat_Udp6_OutDatagrams', 'Udp6', 'Udp6OutDatagrams'],
  ];
  for (const [name, group, field] of netstat) {
    // node_exporter types these `untyped`; prom-client has no such type, and a gauge rates the same.
    new Gauge({
      name,
      help: `Statistic ${group === 'Udp6' ? field : group + field}.`,
      registers: [registry],
      async collect() {
        const s = await snapshot();
        const v = group === 'Udp6' ? s.snmp6[field] : s.snmp[group]?.[field];
        if (v !== undefined) this.set(v);
      },
    });
  }
  const devices: Array<[string, 'rxBytes' | 'txBytes' | 'rxPackets' | 'txPackets', string]> = [
    ['node_network_receive_bytes_total', 'rxBytes', 'Network device statistic receive_bytes.'],
    ['node_network_transmit_bytes_total', 'txBytes', 'Network device statistic transmit_bytes.'],
    ['node_network_receive_packets_total', 'rxPackets', 'Network device statistic receive_packets.'],
    ['node_network_transmit_packets_total', 'txPackets', 'Network device statistic transmit_packets.'],
  ];
  for (const [name, field, help] of devices) {
    new Counter({
      name,
      help,
      labelNames: ['device'],
      registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        for (const [device, c] of Object.entries(s.interfaces)) this.inc({ device }, c[field]);
      },
    });
  }
  new Gauge({
    name: 'nw_agent_info',
    help: 'This agent: its VM id and version.',
    labelNames: ['vm_id', 'version'],
    registers: [registry],
    collect() {
      this.set({ vm_id: opts.vmId, version: opts.agentVersion }, 1);
    },
  });
  new Gauge({
    name: 'nw_agent_connected',
    help: '1 while the agent is connected to its server.',
    registers: [registry],
    collect() {
      this.set(opts.isConnected() ? 1 : 0);
    },
  });
  const byStatus = new Gauge({
    name: 'nw_agent_captures',
    help: 'Captures this agent knows, by status.',
    labelNames: ['status'],
    registers: [registry],
  });
  const packets = new Gauge({
    name: 'nw_agent_capture_packets_captured',
    help: 'Packets captured by the captures this agent knows.',
    registers: [registry],
  });
  new Gauge({
    name: 'nw_agent_capture_kernel_packets_dropped',
    help: 'Packets the kernel dropped during the captures this agent knows.',
    registers: [registry],
    collect() {
      const states = opts.captureStates();
      byStatus.reset();
      for (const status of ['NotStarted', 'Running', 'Stopped', 'Error'])
        byStatus.set({ status }, states.filter((s) => s.status === status).length);
      packets.set(states.reduce((a, s) => a + s.packetsCaptured, 0));
      this.set(states.reduce((a, s) => a + (s.kernelPacketsDropped ?? 0), 0));
    },
  });
  const lookback = opts.lookbackState;
  if (lookback) {
    // The look-back buffer's own cost and reach (issue 13): what it holds on disk, how far back, what the kernel dropped.
    const gauges: Array<[string, string, (s: AgentLookbackState) => number]> = [
      ['nw_agent_lookback_enabled', '1 while the host keeps a look-back buffer.', (s) => (s.enabled ? 1 : 0)],
      ['nw_agent_lookback_running', '1 while the look-back buffer captures.', (s) => (s.running ? 1 : 0)],
      ['nw_agent_lookback_size_bytes', 'Bytes the look-back buffer holds on the host.', (s) => s.sizeInBytes],
      [
        'nw_agent_lookback_span_seconds',
        'Seconds between the oldest packet the look-back buffer holds and now.',
        (s) => s.spanInSeconds,
      ],
      [
        'nw_agent_lookback_packets_captured',
        'Packets the look-back buffer captured since it started.',
        (s) => s.packetsCaptured,
      ],
      [
        'nw_agent_lookback_kernel_packets_dropped',
        'Packets the kernel dropped for the look-back buffer since it started.',
        (s) => s.kernelPacketsDropped,
      ],
    ];
    for (const [name, help, value] of gauges)
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value(lookback()));
        },
      });
  }
  new Counter({
    name: 'nw_agent_metric_reports_total',
    help: 'Host-metric samples, sent (one by one or in batches) or dropped (the buffer of unsent samples full, or older than a server takes).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'sent' }, reports.sent());
      this.inc({ outcome: 'dropped' }, reports.dropped());
    },
  });
  return registry;
}

/** One host-metric sample: when it was taken (agent clock) and what the kernel counted since the one before. */
interface HostMetricSample {
  at: string;
  atInMs: number;
  values: Record<string, number>;
}

/** A batch sent to a server that acknowledges batches and not yet acknowledged: re-sent as it was after a reconnect. */
interface UnackedBatch {
  id: number;
  /** The server's clock less this host's, measured when the batch was first sent (the server places its samples by it). */
  clockOffsetInMs: number;
  samples: HostMetricSample[];
  /** Sent on the current connection (cleared on a disconnect: it goes again on the next). */
  sentHere: boolean;
}

/** A drop of samples is logged at most this often (with the count since the last log): a long outage logs a line a minute, not one per sample. */
const DROP_LOG_INTERVAL_IN_MS = 60_000;

/**
 * Decides how each sample leaves (issue 17): with a server that announced batches, samples are
 * kept and sent together once the oldest is an interval old (and at once after a reconnect:
 * the backlog of the disconnect, oldest first, in batches of at most
 * AGENT_METRICS_SAMPLES_PER_BATCH_MAX); otherwise each goes as a single report, as older servers
 * take them. Samples that cannot leave wait in a bounded buffer.
 *
 * With a server that also announced `metricBatchAcks`, each batch carries an id and the clock
 * offset of that welcome, and is kept until a `metrics.ack` covers it ({@link onAck}); batches
 * still unacknowledged when the connection drops are re-sent first, as they were, on the next
 * connection to a server that acknowledges (a replica killed before its database had them loses
 * nothing; the server keeps a re-sent sample once). Kept batches and unsent samples share the
 * one bound, AGENT_METRICS_BUFFER_MAX_SAMPLES: past it the oldest sample goes, counted in
 * `dropped` and logged. A server that does not acknowledge is sent samples as before, and kept
 * batches are not re-sent to it (an older server's database has no such uniqueness to keep a
 * repeat once); they wait for one that does, or until they are too old to send.
 */
export class HostMetricSender {
  private buffer: HostMetricSample[] = [];
  private unacked: UnackedBatch[] = [];
  /** Samples in {@link unacked}. */
  private unackedSamples = 0;
  /** The id the next batch gets: one count for the agent's life, so ids never repeat across connections. */
  private nextId = 1;
  /** Some kept batch has not been sent on this connection (after a disconnect). */
  private resendPending = false;
  private droppedUnlogged = 0;
  private lastDropLogInMs = -Infinity;
  /** Samples sent (first sends; re-sends are {@link resent}), and samples dropped (the buffer full, or older than a server takes). */
  sent = 0;
  dropped = 0;
  /** Samples sent again after a reconnect because no ack had covered them. */
  resent = 0;

  constructor(
    private readonly opts: Pick<HostMetricsOptions, 'send' | 'batchIntervalInSeconds' | 'intervalInMs'> & {
      isConnected(): boolean;
      /**
       * What the connected server's welcome said of acknowledgements: the offset of its clock from
       * this host's, or null (no connection, no welcome yet, or a server that does not acknowledge).
       */
      metricBatchAcks?(): { clockOffsetInMs: number } | null;
      logger?: Pick<Logger, 'warn'>;
    },
  ) {}

  /** Samples waiting to be sent or acknowledged. */
  get buffered(): number {
    return this.buffer.length + this.unackedSamples;
  }

  /** Samples sent in batches no ack has covered yet. */
  get unacknowledged(): number {
    return this.unackedSamples;
  }

  /** Takes one sample (at `nowInMs` on this host's clock). */
  take(values: Record<string, number>, nowInMs: number = Date.now()): void {
    const sample = { at: new Date(nowInMs).toISOString(), atInMs: nowInMs, values };
    const intervalInSeconds = this.opts.isConnected() ? (this.opts.batchIntervalInSeconds?.() ?? null) : null;
    if (intervalInSeconds === null && this.opts.isConnected()) {
      // An older server (or no welcome yet): a single report, as before; a backlog waits for a server that takes batches.
      if (this.opts.send({ type: 'metrics', at: sample.at, values })) this.sent++;
      else this.keep(sample, nowInMs);
      return;
    }
    this.keep(sample, nowInMs);
    if (intervalInSeconds === null) return;
    // Batches not yet sent on this connection (a reconnect's re-sends) go at once, before new samples.
    if (this.resendPending && this.acks()) {
      this.flush(nowInMs);
      return;
    }
    // Sent when the batch spans the interval: the sample taken an interval after the oldest goes in the next one.
    const oldest = this.buffer[0];
    if (oldest && nowInMs - oldest.atInMs >= intervalInSeconds * 1000 - this.opts.intervalInMs * 1.5)
      this.flush(nowInMs);
  }

  /**
   * Sends every buffered sample now, in batches (false when the connection took none or not all):
   * first the batches a server acknowledging them has not had on this connection, in order.
   */
  flush(nowInMs: number = Date.now()): boolean {
    // A server takes no sample older than this (a small margin for the time the batch takes to leave).
    const oldestInMs = nowInMs - AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS * 1000 + 60_000;
    this.dropStale(oldestInMs, nowInMs);
    const acks = this.acks();
    if (acks) {
      for (const batch of this.unacked) {
        if (batch.sentHere) continue;
        if (!this.opts.send(this.batchMessage(batch.samples, nowInMs, batch))) return false;
        batch.sentHere = true;
        this.resent += batch.samples.length;
      }
      this.resendPending = false;
    }
    while (this.buffer.length > 0) {
      const chunk = this.buffer.slice(0, AGENT_METRICS_SAMPLES_PER_BATCH_MAX);
      const batch = acks ? { id: this.nextId, clockOffsetInMs: acks.clockOffsetInMs } : null;
      if (!this.opts.send(this.batchMessage(chunk, nowInMs, batch))) return false;
      this.buffer.splice(0, chunk.length);
      this.sent += chunk.length;
      if (batch) {
        this.nextId++;
        this.unacked.push({ ...batch, samples: chunk, sentHere: true });
        this.unackedSamples += chunk.length;
      }
    }
    return true;
  }

  /**
   * A `metrics.ack` from the connected server: the batches up to `throughId` are in its database
   * and are forgotten. An ack for an id this agent never sent is ignored (a confused or hostile
   * server must not make it forget batches no one has): returns false then.
   */
  onAck(throughId: number): boolean {
    if (!Number.isSafeInteger(throughId) || throughId < 1 || throughId >= this.nextId) return false;
    let n = 0;
    while (n < this.unacked.length && this.unacked[n]!.id <= throughId) {
      this.unackedSamples -= this.unacked[n]!.samples.length;
      n++;
    }
    this.unacked.splice(0, n);
    return true;
  }

  /** The connection dropped: every batch not acknowledged goes again on the next one that acknowledges. */
  onDisconnected(): void {
    for (const batch of this.unacked) batch.sentHere = false;
    this.resendPending = this.unacked.length > 0;
  }

  private acks(): { clockOffsetInMs: number } | null {
    return this.opts.isConnected() ? (this.opts.metricBatchAcks?.() ?? null) : null;
  }

  private batchMessage(
    samples: HostMetricSample[],
    nowInMs: number,
    ack: { id: number; clockOffsetInMs: number } | null,
  ): AgentToServer {
    const sentAt = new Date(Math.max(nowInMs, samples.at(-1)!.atInMs)).toISOString();
    const out = samples.map(({ at, values }) => ({ at, values }));
    return ack
      ? { type: 'metrics.batch', sentAt, id: ack.id, clockOffsetInMs: ack.clockOffsetInMs, samples: out }
      : { type: 'metrics.batch', sentAt, samples: out };
  }

  /** Drops samples older than `oldestInMs`, kept batches' and unsent ones alike. */
  private dropStale(oldestInMs: number, nowInMs: number): void {
    let cut = 0;
    while (this.unacked.length > 0 && this.unacked[0]!.samples[0]!.atInMs < oldestInMs) {
      this.dropOldest();
      cut++;
    }
    const stale = this.buffer.findIndex((s) => s.atInMs >= oldestInMs);
    const n = stale < 0 ? this.buffer.length : stale;
    if (n > 0) this.buffer.splice(0, n);
    this.countDropped(cut + n, nowInMs, 'older than a server takes');
  }

  /** Drops the oldest sample held: of the oldest kept batch, else of the unsent ones. */
  private dropOldest(): void {
    const first = this.unacked[0];
    if (first) {
      first.samples.shift();
      this.unackedSamples--;
      if (first.samples.length === 0) this.unacked.shift();
    } else this.buffer.shift();
  }

  private countDropped(n: number, nowInMs: number, why: string): void {
    if (n === 0) return;
    this.dropped += n;
    this.droppedUnlogged += n;
    if (!this.opts.logger || nowInMs - this.lastDropLogInMs < DROP_LOG_INTERVAL_IN_MS) return;
    this.opts.logger.warn(
      { dropped: this.droppedUnlogged, droppedSinceStart: this.dropped, bound: AGENT_METRICS_BUFFER_MAX_SAMPLES },
      `host-metric samples dropped (${why}): the server has not taken them`,
    );
    this.droppedUnlogged = 0;
    this.lastDropLogInMs = nowInMs;
  }

  private keep(sample: HostMetricSample, nowInMs: number): void {
    // A clock stepped back on this host: the batch must stay in time order (the server refuses it otherwise).
    const last = this.buffer.at(-1);
    if (last && sample.atInMs <= last.atInMs) {
      this.countDropped(1, nowInMs, 'the clock stepped back');
      return;
    }
    this.buffer.push(sample);
    if (this.buffer.length + this.unackedSamples > AGENT_METRICS_BUFFER_MAX_SAMPLES) {
      this.dropOldest();
      this.countDropped(1, nowInMs, `more than ${AGENT_METRICS_BUFFER_MAX_SAMPLES} held`);
    }
  }
}

/**
 * Starts reporting host metrics: every interval, what the kernel counted since the last sample
 * (`{'TCP Segments Sent': n, …}`), sent as the server takes them ({@link HostMetricSender}), and,
 * when asked, a Prometheus `/metrics` listener.
 */
export async function startHostMetrics(opts: HostMetricsOptions): Promise<HostMetricsReporter> {
  let previous: HostCounterSnapshot | null = null;
  const sender = new HostMetricSender({ ...opts, isConnected: () => opts.isConnected(), logger: opts.logger });
  let warned = false;
  let busy = false;
  const report = async () => {
    if (busy) return;
    busy = true;
    try {
      const current = await readHostCounters(opts.procRoot);
      if (previous) sender.take(hostMetricDeltas(previous, current));
      previous = current;
      warned = false;
    } catch (error) {
      if (!warned) opts.logger.warn({ err: error }, 'cannot read host network counters; host metrics are not reported');
      warned = true;
    } finally {
      busy = false;
    }
  };
  await report();
  const timer = setInterval(() => {
    void report();
  }, opts.intervalInMs);
  timer.unref();

  let server: Server | null = null;
  let metricsUrl: string | null = null;
  if (opts.listen) {
    const registry = createAgentRegistry(await import('prom-client'), opts, {
      sent: () => sender.sent,
      dropped: () => sender.dropped,
    });
    server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics is served here\n');
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
        },
        (error: unknown) => {
          opts.logger.warn({ err: error }, 'collecting metrics failed');
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end('collecting metrics failed\n');
        },
      );
    });
    const s = server;
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(opts.listen!.port, opts.listen!.host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const host = opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host;
    metricsUrl = `http://${host}:${port}/metrics`;
    opts.logger.info({ url: metricsUrl }, 'serving Prometheus metrics');
  }
  return {
    metricsUrl,
    onAck: (throughId) => {
      sender.onAck(throughId);
    },
    onDisconnected: () => sender.onDisconnected(),
    async close() {
      clearInterval(timer);
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        // A scraper keeps its connection alive between scrapes; close() alone would wait for it.
        server.closeAllConnections();
        await closed;
      }
    },
  };
}
