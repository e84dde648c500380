import type { Logger } from '../lib/index.js';
import type { Store } from '../store/index.js';
import { AlertCaptureRunWatcher, RUN_WATCH_INTERVAL_IN_MS } from './alert-capture-runs.js';
import { deliverToOwnEndpoint } from './alert-capture.js';
import type { AlertsContext, CaptureOperations } from './context.js';
import { NotificationDispatcher } from './dispatcher.js';
import { EVALUATOR_TICK_IN_MS, MetricAlertEvaluator } from './evaluator.js';
import type { HostInfo } from './hosts.js';
import { MetricStore, type MetricStoreOptions } from './metric-store.js';
import { createServerTelemetry, type ServerTelemetrySources } from './telemetry.js';
import type { WebhookDeliveryOptions } from './webhook.js';

/** How long evaluations reuse one read of the host list (user-facing calls always read it fresh). */
const HOST_LIST_CACHE_IN_MS = 1_000;

/** A function whose result is reused for `ttlInMs` (a failed call is not kept). */
function cachedFor<T>(ttlInMs: number, fn: () => Promise<T>): () => Promise<T> {
  let at = 0;
  let value: Promise<T> | null = null;
  return () => {
    if (!value || Date.now() - at > ttlInMs) {
      at = Date.now();
      const p = fn();
      value = p;
      p.catch(() => {
        if (value === p) value = null;
      });
    }
    return value;
  };
}

/** What the server gives the alerts runtime. */
export interface AlertsRuntimeDeps {
  store: Store;
  logger: Logger;
  listHosts(): Promise<HostInfo[]>;
  baseUrl(): string;
  captures: CaptureOperations;
  /** Server facts the Prometheus endpoint shows (host totals come from the runtime itself). */
  telemetry: Omit<ServerTelemetrySources, 'hostTotals' | 'retiredHostTotals'>;
}

/** Tunables (tests shorten them). */
export interface AlertsRuntimeOptions {
  metrics?: MetricStoreOptions;
  webhook?: WebhookDeliveryOptions;
  evaluatorTickInMs?: number;
  /** The configured metric batch interval (`--agent-metrics-batch-seconds`): rule windows lag by what each rule tolerates of it; default 1 (no lag). */
  agentMetricsBatchIntervalInSeconds?: number;
  runWatchIntervalInMs?: number;
}

/**
 * Everything seed 002 needs running inside a server: host metrics kept, rules evaluated,
 * notifications sent, alert-triggered captures watched to completion, and the Prometheus registry.
 */
export class AlertsRuntime {
  /** Shared by the alerts services and routes. */
  readonly context: AlertsContext;
  readonly metrics: MetricStore;
  readonly captures: CaptureOperations;
  private readonly dispatcher: NotificationDispatcher;
  private readonly evaluator: MetricAlertEvaluator;
  private readonly runs: AlertCaptureRunWatcher;
  private started = false;

  constructor(deps: AlertsRuntimeDeps, options: AlertsRuntimeOptions = {}) {
    this.metrics = new MetricStore(deps.store, deps.logger, options.metrics);
    const telemetry = createServerTelemetry({
      ...deps.telemetry,
      hostTotals: () => this.metrics.totalsSinceStart(),
      retiredHostTotals: () => this.metrics.retiredTotalsSinceStart(),
    });
    this.context = {
      store: deps.store,
      logger: deps.logger,
      listHosts: deps.listHosts,
      baseUrl: deps.baseUrl,
      telemetry,
      webhook: options.webhook ?? {},
    };
    this.captures = deps.captures;
    this.context.deliverToOwnEndpoint = (url, payload) =>
      deliverToOwnEndpoint(this.context, deps.captures, url, payload);
    this.dispatcher = new NotificationDispatcher(this.context);
    // Every rule evaluation needs the host list: evaluations of one tick share one read of it.
    this.evaluator = new MetricAlertEvaluator(
      { ...this.context, listHosts: cachedFor(HOST_LIST_CACHE_IN_MS, deps.listHosts) },
      this.dispatcher,
      options.evaluatorTickInMs ?? EVALUATOR_TICK_IN_MS,
      options.agentMetricsBatchIntervalInSeconds ?? 1,
    );
    this.runs = new AlertCaptureRunWatcher(
      this.context,
      deps.captures,
      options.runWatchIntervalInMs ?? RUN_WATCH_INTERVAL_IN_MS,
    );
  }

  /** Starts the timers (metric flushes, evaluation, run watching). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.metrics.start();
    this.evaluator.start();
    this.runs.start();
  }

  /** Stops everything and writes pending metrics. */
  async close(): Promise<void> {
    await this.evaluator.close();
    await this.runs.close();
    await this.dispatcher.close();
    await this.metrics.close();
  }
}
