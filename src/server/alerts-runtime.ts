import {
  AlertsRuntime,
  queryHostMetrics,
  type MetricsQueryParameters,
  type CaptureOperations,
  type CaptureSummary,
  type HostInfo,
  type WatcherRef,
} from '../alerts/index.js';
import { ApiError, armIdKey, storageAccountId } from '../lib/index.js';
import type { AgentToServer } from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import { SERVER_DEFAULTS, metricsBatchIntervalOf } from './config.js';
import { aggregateStatus, isSettled } from './services/capture-status.js';
import type { CaptureBody } from './services/capture-types.js';
import { findCaptureByKey, listCapturesOfWatcher } from './services/capture-requests.js';
import type { ServerContext } from './services/context.js';
import { captureStates, captureStatusView, createCapture, deleteCapture } from './services/packet-captures.js';
import { getStorageAccountById, storageAccountsNamed } from './services/storage-accounts.js';
import type { VmBody } from './services/vms.js';
import { findWatcherForLocation, type WatcherBody } from './services/watchers.js';

/**
 * Wires src/alerts into a server: the hosts, the packet-capture service and the server's facts
 * that the alerts runtime takes by parameter (it never imports the server).
 */

/** Every host of the server, as the alerts code sees them. */
export async function listAlertHosts(ctx: ServerContext): Promise<HostInfo[]> {
  return (await ctx.store.listResources<VmBody>('vm')).map((vm) => alertHostOf(ctx, vm));
}

/** One VM as alerts and metric queries see it (no listing of every host for one). */
export function alertHostOf(ctx: ServerContext, vm: ResourceRecord<VmBody>): HostInfo {
  return {
    key: vm.key,
    id: vm.id,
    name: vm.name,
    resourceGroup: vm.resourceGroup,
    subscriptionId: vm.subscriptionId,
    location: vm.location ?? ctx.config.defaultLocation,
    vmId: vm.body.properties.vmId,
    hostname: vm.body.properties.netwatcher.hostname,
  };
}

async function summarize(ctx: ServerContext, rec: ResourceRecord<CaptureBody>): Promise<CaptureSummary> {
  const states = [...(await captureStates(ctx, rec)).values()];
  return {
    key: rec.key,
    id: rec.id,
    name: rec.name,
    vmKeys: rec.body._internal.targets.map((t) => t.vmKey),
    status: aggregateStatus(states).packetCaptureStatus,
    active: rec.body._internal.active,
    settled: states.every((s) => isSettled(s, rec.body._internal)),
  };
}

function watcherRef(w: ResourceRecord<WatcherBody>): WatcherRef {
  return {
    key: w.key,
    id: w.id,
    name: w.name,
    resourceGroup: w.resourceGroup,
    subscriptionId: w.subscriptionId,
    location: w.location ?? w.body.location,
  };
}

/** The packet-capture service, as alert-triggered captures use it. */
export function captureOperations(ctx: ServerContext): CaptureOperations {
  return {
    async findWatcher(sub, location) {
      const w = await findWatcherForLocation(ctx, sub, location);
      return w ? watcherRef(w) : null;
    },
    async listCaptures(watcherKey) {
      const list = await listCapturesOfWatcher(ctx, watcherKey);
      return Promise.all(list.map((r) => summarize(ctx, r)));
    },
    async getCapture(key) {
      const rec = await findCaptureByKey(ctx, key);
      return rec ? summarize(ctx, rec) : null;
    },
    async createCapture(watcher, name, request, baseUrl) {
      const { record } = await createCapture(
        ctx,
        watcher.subscriptionId,
        watcher.resourceGroup,
        watcher.name,
        name,
        request,
        baseUrl,
      );
      return summarize(ctx, record);
    },
    async deleteCapture(key) {
      // Any resource by this key, as before: the key comes from this capture's own run record.
      const rec = await ctx.store.getResource<CaptureBody>(key);
      if (rec) await deleteCapture(ctx, rec, false);
    },
    async captureStatus(key, baseUrl) {
      const rec = await ctx.store.getResource<CaptureBody>(key);
      return rec ? captureStatusView(ctx, rec, baseUrl) : null;
    },
    async resolveStorageAccountId(nameOrId) {
      if (nameOrId === null)
        return storageAccountId(
          ctx.config.subscriptionId,
          SERVER_DEFAULTS.defaultResourceGroup,
          SERVER_DEFAULTS.defaultStorageAccountName,
        );
      if (nameOrId.startsWith('/')) return (await getStorageAccountById(ctx, nameOrId)).id;
      const matches = await storageAccountsNamed(ctx.store, nameOrId);
      if (matches.length !== 1) {
        throw new ApiError(
          'StorageAccountNotFound',
          matches.length === 0
            ? `Storage account '${nameOrId}' was not found. List accounts with 'nw storage account list'.`
            : `Storage account name '${nameOrId}' is used in several resource groups; give its id.`,
          { target: 'properties.storageLocation.storageId' },
        );
      }
      return matches[0]!.id;
    },
  };
}

/**
 * The alerts runtime of a server, made once where the server is composed (ServerContext.alerts).
 * `serverUrl` gives the server's own base URL for links when no public URL is set (known once it listens).
 * @example ctx.alerts = createAlertsRuntime(ctx, () => listeningUrl);
 */
export function createAlertsRuntime(ctx: ServerContext, serverUrl: () => string): AlertsRuntime {
  return new AlertsRuntime(
    {
      store: ctx.store,
      logger: ctx.logger,
      listHosts: () => listAlertHosts(ctx),
      baseUrl: () => (ctx.config.publicUrl ?? serverUrl()).replace(/\/+$/, ''),
      captures: captureOperations(ctx),
      telemetry: {
        agentsConnected: () => ctx.hub.connectedCount,
        captureTotals: () => ctx.store.captureInstanceTotals(),
      },
    },
    {
      // Webhooks and completion notifications connect only where the outbound policy allows.
      webhook: ctx.outboundPolicy ? { outboundPolicy: ctx.outboundPolicy } : {},
      ...(ctx.config.metricsRetentionInSeconds !== undefined
        ? { metrics: { retentionInSeconds: ctx.config.metricsRetentionInSeconds } }
        : {}),
      // A rule's windows end its tolerated batch interval less one second before each
      // evaluation; its hosts are told to batch no longer (src/server/metric-batch-intervals.ts).
      agentMetricsBatchIntervalInSeconds: metricsBatchIntervalOf(ctx.config),
    },
  );
}

/**
 * Starts the server's alerts runtime once the server listens: host metrics from agents are
 * kept, rules evaluated, alert-triggered captures watched.
 */
export function startAlertsRuntime(ctx: ServerContext): AlertsRuntime {
  const runtime = ctx.alerts;
  ctx.hub.on('metrics', (vmKey: string, msg: Extract<AgentToServer, { type: 'metrics' | 'metrics.batch' }>) => {
    if (msg.type === 'metrics') runtime.metrics.record(vmKey, msg.values);
    else if (msg.id === undefined) runtime.metrics.recordBatch(vmKey, msg);
    else {
      // Acknowledged once its rows are in the database (MetricStore's watermark), on the connection that sent it.
      const ack = ctx.hub.metricBatchAcker();
      const throughId = msg.id;
      runtime.metrics.recordBatch(vmKey, msg, new Date(), ack ? () => ack(throughId) : undefined);
    }
  });
  runtime.start();
  return runtime;
}

/** The key of a VM by its id parts. */
export function vmKeyOf(sub: string, rg: string, vm: string): string {
  return armIdKey(`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}`);
}

/** Answers a host's metrics query (Azure Monitor's REST shape) with the samples still in memory written first. */
export async function queryAlertHostMetrics(
  ctx: ServerContext,
  host: HostInfo,
  query: MetricsQueryParameters,
): Promise<Record<string, unknown>> {
  await ctx.alerts.metrics.flush();
  return queryHostMetrics(ctx.store, host, query);
}
