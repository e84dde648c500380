import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ALERT_CAPTURE_PROVIDER } from '../alerts/index.js';
import { ApiError, type Logger } from '../lib/index.js';
import { StatementBatcher, type Db } from '../store/index.js';
import { routeAuthorization } from './openapi.js';

/**
 * The activity log (issue 16 §4): who changed what, who was refused, who read packets. One row
 * per request, written after the answer is sent (a hook on every route, so routes added later are
 * covered without a line of their own). What a row holds is fixed here and nowhere else: the
 * time, the principal (id, kind, display name), the action, the resource id (the URL path only,
 * never its query string: SAS signatures and trigger keys live there), the status and error
 * code, the client address and the correlation id. Request and answer bodies are never read.
 */

/** Default retention of activity-log rows (Azure keeps its activity log 90 days). */
export const DEFAULT_ACTIVITY_LOG_RETENTION_IN_DAYS = 90;
/** Rows deleted per statement when pruning (a short statement never holds the database long). */
export const ACTIVITY_LOG_PRUNE_BATCH_IN_ROWS = 1000;
/** Statements per pruning run; the rest waits for the next run. */
const PRUNE_MAX_BATCHES_PER_RUN = 50;
/** How often old rows are pruned. */
const PRUNE_INTERVAL_IN_MS = 10 * 60_000;
/** Rows per page of the activity-log list (Azure pages with nextLink too). */
export const ACTIVITY_LOG_PAGE_SIZE_IN_ROWS = 200;

/** Methods that change something: always recorded. */
const CHANGE_METHODS = new Set(['PUT', 'PATCH', 'POST', 'DELETE']);

/** One recorded event. */
export interface ActivityRecord {
  seq: number;
  eventId: string;
  at: Date;
  subscriptionId: string | null;
  resourceGroup: string | null;
  resourceId: string;
  resourceProvider: string | null;
  resourceType: string | null;
  action: string;
  httpMethod: string;
  statusCode: number;
  errorCode: string | null;
  principalId: string | null;
  principalKind: string | null;
  principalName: string | null;
  clientAddress: string | null;
  correlationId: string | null;
  requestId: string;
}

/** The query of a list (all parts optional; strings compared case-insensitively). */
export interface ActivityQuery {
  from?: Date;
  to?: Date;
  resourceGroup?: string;
  resourceId?: string;
  resourceProvider?: string;
  correlationId?: string;
  caller?: string;
  /** Succeeded or Failed. */
  status?: 'Succeeded' | 'Failed';
  subscriptionId?: string;
  /** Only rows with seq below this (the page token). */
  beforeSeq?: number;
  limit?: number;
}

/** Reads paths of packet data: a GET of them is recorded like a change (they expose packets). */
function isPacketRead(path: string): boolean {
  const p = path.toLowerCase();
  return /\/packetcaptures\/[^/]+\/(?:download|analysis|packets(?:\/pcap)?)$/.test(p) || p.startsWith('/storage/');
}

/** Paths never recorded: the portal's page and assets, health, the API description. */
function isNeverRecorded(path: string): boolean {
  const p = path.toLowerCase();
  return p === '/' || p === '/healthz' || p === '/openapi.json' || p.startsWith('/portal/assets/');
}

/** Whether a finished request goes into the log. */
export function isRecorded(method: string, path: string, statusCode: number): boolean {
  if (isNeverRecorded(path)) return false;
  const m = method.toUpperCase();
  // Agents upload capture files to signed storage URLs: their own channel, not a caller's change.
  if (m === 'PUT' && path.toLowerCase().startsWith('/storage/') && statusCode < 400) return false;
  if (statusCode === 401 || statusCode === 403) return true;
  if (CHANGE_METHODS.has(m)) return true;
  // A sign-in through the identity provider ends in a GET of the callback.
  if (m === 'GET' && path.toLowerCase() === '/portal/api/sso/callback') return true;
  return m === 'GET' && statusCode < 400 && isPacketRead(path);
}

/** The parts of an ARM path: subscription, resource group, provider, type and the resource id (a trailing action name dropped). */
export function armPartsOf(path: string): {
  subscriptionId: string | null;
  resourceGroup: string | null;
  provider: string | null;
  resourceType: string | null;
  resourceId: string;
  actionName: string | null;
} {
  let segments = path.split('/').filter(Boolean);
  // The alert-capture trigger (`/alert-capture/v1/{sub}/{rg}/{name}`) acts on its endpoint's resource: logged as that resource's `trigger` action.
  if (segments[0]?.toLowerCase() === 'alert-capture' && segments.length === 5) {
    segments = [
      'subscriptions',
      segments[2]!,
      'resourceGroups',
      segments[3]!,
      'providers',
      ALERT_CAPTURE_PROVIDER,
      'alertCaptures',
      segments[4]!,
      'trigger',
    ];
  }
  const lower = segments.map((s) => s.toLowerCase());
  const subAt = lower[0] === 'subscriptions' ? 0 : -1;
  const subscriptionId = subAt === 0 ? (segments[1] ?? null) : null;
  const rgAt = lower.indexOf('resourcegroups');
  const resourceGroup = rgAt >= 0 ? (segments[rgAt + 1] ?? null) : null;
  const providersAt = lower.lastIndexOf('providers');
  if (subscriptionId === null || providersAt < 0 || providersAt + 1 >= segments.length) {
    return {
      subscriptionId,
      resourceGroup,
      provider: null,
      resourceType: null,
      resourceId: `/${segments.join('/')}`,
      actionName: null,
    };
  }
  const provider = segments[providersAt + 1]!;
  const rest = segments.slice(providersAt + 2);
  // After the namespace come type/name pairs; an odd segment left over is an action (stop, queryStatus) or a collection.
  const pairs = Math.floor(rest.length / 2);
  const types = [provider];
  for (let i = 0; i < pairs; i++) types.push(rest[i * 2]!);
  const leftover = rest.length % 2 === 1 ? rest[rest.length - 1]! : null;
  const idSegments = segments.slice(0, providersAt + 2 + pairs * 2);
  return {
    subscriptionId,
    resourceGroup,
    provider,
    resourceType: types.join('/') + (pairs === 0 && leftover ? `/${leftover}` : ''),
    resourceId: `/${idSegments.join('/')}`,
    actionName: pairs > 0 ? leftover : null,
  };
}

/**
 * The action a request performs, as the activity log names it (`operationName`). For ARM paths
 * Azure's form: `{namespace}/{types}/{write|delete|read}` and `…/{action}/action` for a POST to
 * an action; other paths: `METHOD route-pattern`. The operation table in src/server/openapi.ts
 * names each operation's action too: when it does, this is the one function to switch to it.
 * @example activityActionOf({ method: 'POST', url: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw/packetCaptures/pc/stop' }) // 'Microsoft.Network/networkWatchers/packetCaptures/stop/action'
 */
export function activityActionOf(
  request: Pick<FastifyRequest, 'method' | 'url'> & { routeOptions?: { url?: string | undefined } },
): string {
  // The action the operation table gives the route (what authorisation checked) names it first.
  const pattern = request.routeOptions?.url;
  const access = pattern === undefined ? undefined : routeAuthorization(request.method, pattern)?.access;
  if (access !== undefined && access !== 'public') {
    if ('action' in access) return access.action;
    if ('dataAction' in access) return access.dataAction;
  }
  const path = request.url.split('?')[0]!;
  const method = request.method.toUpperCase();
  const parts = armPartsOf(path);
  if (parts.provider && parts.resourceType) {
    if (parts.actionName) return `${parts.resourceType}/${parts.actionName}/${method === 'GET' ? 'read' : 'action'}`;
    const verb =
      method === 'DELETE'
        ? 'delete'
        : method === 'GET' || method === 'HEAD'
          ? 'read'
          : method === 'POST' && parts.resourceType.split('/').length === 1
            ? 'action'
            : 'write';
    return `${parts.resourceType}/${verb}`;
  }
  return `${method} ${request.routeOptions?.url ?? path}`;
}

/** The error code of an error answer (ARM's `{error:{code}}` or OAuth's `{error}`), read only for statuses ≥ 400. */
function errorCodeOf(payload: unknown): string | null {
  if (typeof payload !== 'string' || payload.length > 64 * 1024) return null;
  try {
    const body = JSON.parse(payload) as { error?: unknown };
    if (typeof body.error === 'string') return body.error.slice(0, 100);
    const code = (body.error as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code.slice(0, 100) : null;
  } catch {
    return null;
  }
}

/** The client's address: the socket's, or with --trust-proxy the first X-Forwarded-For hop. */
function clientAddressOf(request: FastifyRequest, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first && /^[0-9A-Fa-f:.]{2,45}$/.test(first)) return first;
  }
  return request.socket.remoteAddress ?? null;
}

function headerText(reply: FastifyReply, name: string): string | null {
  const v = reply.getHeader(name);
  return v === undefined ? null : String(Array.isArray(v) ? v[0] : v).slice(0, 200);
}

const ERROR_CODE = Symbol('activityErrorCode');

/** The store of activity-log rows (its own table; see migrations). */
export class ActivityLogStore {
  constructor(private readonly db: Db) {}

  /**
   * Events recorded together share one multi-row insert (a fan-out of 1,000 creates is 1,000
   * events at once, issue 17); a failed one is tried again alone, so only a bad row is refused.
   */
  private readonly batch = new StatementBatcher<undefined, Omit<ActivityRecord, 'seq' | 'at'> & { at?: Date }>(
    async (ids, events) => {
      await this.db.query(
        `INSERT INTO activity_log (event_id, at, subscription_id, resource_group, resource_id, resource_provider, resource_type, action, http_method, status_code, error_code,
         principal_id, principal_kind, principal_name, client_address, correlation_id, request_id)
       SELECT e.event_id, coalesce(e.at, clock_timestamp()), e.subscription_id, e.resource_group, e.resource_id, e.resource_provider, e.resource_type, e.action, e.http_method,
         e.status_code, e.error_code, e.principal_id, e.principal_kind, e.principal_name, e.client_address, e.correlation_id, e.request_id
       FROM jsonb_to_recordset($1::jsonb) AS e(event_id text, at timestamptz, subscription_id text, resource_group text, resource_id text, resource_provider text, resource_type text,
         action text, http_method text, status_code integer, error_code text, principal_id text, principal_kind text, principal_name text, client_address text, correlation_id text, request_id text)`,
        [
          JSON.stringify(
            events.map((e) => ({
              event_id: e.eventId,
              at: e.at?.toISOString() ?? null,
              subscription_id: e.subscriptionId,
              resource_group: e.resourceGroup,
              resource_id: e.resourceId,
              resource_provider: e.resourceProvider,
              resource_type: e.resourceType,
              action: e.action,
              http_method: e.httpMethod,
              status_code: e.statusCode,
              error_code: e.errorCode,
              principal_id: e.principalId,
              principal_kind: e.principalKind,
              principal_name: e.principalName,
              client_address: e.clientAddress,
              correlation_id: e.correlationId,
              request_id: e.requestId,
            })),
          ),
        ],
      );
      return () => undefined;
    },
    { maxCallsPerRun: 200, maxRunsInFlight: 1, retryAlone: true },
  );

  /** Appends one event. */
  async insert(e: Omit<ActivityRecord, 'seq' | 'eventId' | 'at'> & { at?: Date }): Promise<void> {
    const eventId = randomUUID();
    await this.batch.call(eventId, { ...e, eventId });
  }

  /** Events matching a query, newest first. */
  async list(q: ActivityQuery): Promise<ActivityRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.from) add('at >= ?', q.from);
    if (q.to) add('at <= ?', q.to);
    // Server-level events (sign-in, token endpoint, storage URLs) belong to no subscription: every subscription's log shows them.
    if (q.subscriptionId) add('(subscription_id IS NULL OR lower(subscription_id) = lower(?))', q.subscriptionId);
    if (q.resourceGroup) add('lower(resource_group) = lower(?)', q.resourceGroup);
    if (q.resourceId) add('lower(resource_id) = lower(?)', q.resourceId);
    if (q.resourceProvider) add('lower(resource_provider) = lower(?)', q.resourceProvider);
    if (q.correlationId) add('lower(correlation_id) = lower(?)', q.correlationId);
    if (q.caller) {
      params.push(q.caller);
      where.push(
        `(lower(principal_id) = lower($${params.length}) OR lower(principal_name) = lower($${params.length}))`,
      );
    }
    if (q.status) where.push(q.status === 'Succeeded' ? 'status_code < 400' : 'status_code >= 400');
    if (q.beforeSeq !== undefined) add('seq < ?', q.beforeSeq);
    params.push(q.limit ?? ACTIVITY_LOG_PAGE_SIZE_IN_ROWS);
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM activity_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      seq: Number(r['seq']),
      eventId: String(r['event_id']),
      at: new Date(r['at'] as string | Date),
      subscriptionId: r['subscription_id'] as string | null,
      resourceGroup: r['resource_group'] as string | null,
      resourceId: String(r['resource_id']),
      resourceProvider: r['resource_provider'] as string | null,
      resourceType: r['resource_type'] as string | null,
      action: String(r['action']),
      httpMethod: String(r['http_method']),
      statusCode: Number(r['status_code']),
      errorCode: r['error_code'] as string | null,
      principalId: r['principal_id'] as string | null,
      principalKind: r['principal_kind'] as string | null,
      principalName: r['principal_name'] as string | null,
      clientAddress: r['client_address'] as string | null,
      correlationId: r['correlation_id'] as string | null,
      requestId: String(r['request_id']),
    }));
  }

  /** Deletes up to one batch of rows older than `before`; the number deleted. */
  async pruneBatch(before: Date, batchInRows = ACTIVITY_LOG_PRUNE_BATCH_IN_ROWS): Promise<number> {
    const rows = await this.db.query<{ n: string | number }>(
      `WITH gone AS (DELETE FROM activity_log WHERE seq IN (SELECT seq FROM activity_log WHERE at < $1 ORDER BY at LIMIT $2) RETURNING 1) SELECT count(*) AS n FROM gone`,
      [before, batchInRows],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Deletes rows older than `before` in bounded batches, yielding to the event loop between
   * them, at most `maxBatches` statements (the rest waits for the next run); the number deleted.
   */
  async prune(before: Date, options: { batchInRows?: number; maxBatches?: number } = {}): Promise<number> {
    const batch = options.batchInRows ?? ACTIVITY_LOG_PRUNE_BATCH_IN_ROWS;
    let total = 0;
    for (let i = 0; i < (options.maxBatches ?? PRUNE_MAX_BATCHES_PER_RUN); i++) {
      const n = await this.pruneBatch(before, batch);
      total += n;
      if (n < batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }
}

/** What the recording hook needs. */
export interface ActivityLogOptions {
  store: ActivityLogStore;
  logger: Logger;
  trustProxy: boolean;
}

/**
 * Records every finished request that {@link isRecorded} selects. Installed on the root app
 * before the route plugins load, so it covers every route, present and future. A failed write
 * is logged and never fails or delays the request (the answer has been sent).
 */
export function registerActivityLogHooks(app: FastifyInstance, options: ActivityLogOptions): void {
  // Error answers: the code is read from the answer already serialised (no body of a request is read).
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400) (req as unknown as Record<symbol, string | null>)[ERROR_CODE] = errorCodeOf(payload);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const status = reply.statusCode;
    if (!isRecorded(req.method, path, status)) return;
    const parts = armPartsOf(path);
    const principal = req.principal;
    const record = {
      subscriptionId: parts.subscriptionId,
      resourceGroup: parts.resourceGroup,
      resourceId: parts.resourceId.slice(0, 1000),
      resourceProvider: parts.provider,
      resourceType: parts.resourceType,
      action: activityActionOf(req).slice(0, 1000),
      httpMethod: req.method.toUpperCase(),
      statusCode: status,
      errorCode: (req as unknown as Record<symbol, string | null>)[ERROR_CODE] ?? null,
      principalId: principal?.id ?? null,
      principalKind: principal?.kind ?? null,
      principalName: principal?.displayName.slice(0, 300) ?? null,
      clientAddress: clientAddressOf(req, options.trustProxy),
      correlationId: headerText(reply, 'x-ms-correlation-request-id'),
      requestId: req.id,
    };
    try {
      await options.store.insert(record);
    } catch (error) {
      options.logger.error(
        { err: error, action: record.action, statusCode: status },
        'could not record an activity-log event',
      );
    }
  });
}

/** Prunes the log every ten minutes (and once at start); never blocks: one run at a time, bounded batches. */
export function startActivityLogPruner(
  store: ActivityLogStore,
  retentionInDays: number,
  logger: Logger,
  intervalInMs = PRUNE_INTERVAL_IN_MS,
): { close(): Promise<void> } {
  let running: Promise<void> | null = null;
  const run = () => {
    if (running) return;
    running = store
      .prune(new Date(Date.now() - retentionInDays * 86_400_000))
      .then((n) => {
        if (n > 0) logger.info({ rows: n, retentionInDays }, 'pruned old activity-log events');
      })
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'pruning the activity log failed; retried at the next run'),
      )
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(run, 5_000);
  const timer = setInterval(run, intervalInMs);
  first.unref();
  timer.unref();
  return {
    async close() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}

// ---- The query: Azure's activity log list ------------------------------------------------

/** Fields the `$filter` accepts, as az sends them. */
const FILTER_FIELDS: Readonly<Record<string, keyof ActivityQuery>> = {
  resourcegroupname: 'resourceGroup',
  resourceid: 'resourceId',
  resourceuri: 'resourceId',
  resourceprovider: 'resourceProvider',
  correlationid: 'correlationId',
  caller: 'caller',
  status: 'status',
};

/** An ISO time az sends (often without a zone: UTC, as Azure reads it). */
function parseFilterTime(text: string): Date {
  const zoned = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
  const at = new Date(zoned);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at.getTime()))
    throw new ApiError('InvalidFilter', `'${text}' in $filter is not an ISO 8601 time (e.g. 2026-12-01T10:00:00Z).`, {
      target: '$filter',
    });
  return at;
}

/**
 * Parses the OData `$filter` of an activity-log list: conditions joined by `and`, each
 * `eventTimestamp ge|le TIME` or `FIELD eq 'VALUE'` for resourceGroupName, resourceId
 * (resourceUri), resourceProvider, correlationId, caller and status. Anything else is a 400
 * naming what is not supported (never silently ignored).
 * @example parseActivityFilter("eventTimestamp ge '2026-12-01T00:00:00Z' and resourceGroupName eq 'rg1'")
 */
export function parseActivityFilter(filter: string | undefined): ActivityQuery {
  const q: ActivityQuery = {};
  if (filter === undefined || filter.trim() === '') return q;
  if (filter.length > 2000)
    throw new ApiError('InvalidFilter', '$filter is longer than 2000 characters.', { target: '$filter' });
  const condition = /^\s*([A-Za-z]+)\s+(eq|ge|le)\s+(?:'((?:[^']|'')*)'|([^\s']+))\s*/i;
  let rest = filter;
  let first = true;
  while (rest.trim() !== '') {
    if (!first) {
      const and = /^\s*and\s+/i.exec(rest);
      if (!and)
        throw new ApiError(
          'InvalidFilter',
          `$filter: expected 'and' before '${rest.trim().slice(0, 60)}'; conditions are joined with 'and' (or, not and parentheses are not supported).`,
          { target: '$filter' },
        );
      rest = rest.slice(and[0].length);
    }
    first = false;
    const m = condition.exec(rest);
    if (!m)
      throw new ApiError(
        'InvalidFilter',
        `$filter: cannot read '${rest.trim().slice(0, 60)}'; supported: eventTimestamp ge|le TIME, and resourceGroupName, resourceId, resourceProvider, correlationId, caller or status eq 'VALUE'.`,
        { target: '$filter' },
      );
    rest = rest.slice(m[0].length);
    const field = m[1]!.toLowerCase();
    const op = m[2]!.toLowerCase();
    const value = m[3] !== undefined ? m[3].replace(/''/g, "'") : m[4]!;
    if (field === 'eventtimestamp' || field === 'eventsubmissiontimestamp') {
      if (op === 'eq')
        throw new ApiError('InvalidFilter', "$filter: eventTimestamp takes 'ge' or 'le', not 'eq'.", {
          target: '$filter',
        });
      if (op === 'ge') q.from = parseFilterTime(value);
      else q.to = parseFilterTime(value);
      continue;
    }
    const key = FILTER_FIELDS[field];
    if (!key)
      throw new ApiError(
        'InvalidFilter',
        `$filter: the field '${m[1]}' is not supported; use eventTimestamp, resourceGroupName, resourceId, resourceProvider, correlationId, caller or status.`,
        { target: '$filter' },
      );
    if (op !== 'eq')
      throw new ApiError('InvalidFilter', `$filter: ${m[1]} takes 'eq', not '${m[2]}'.`, { target: '$filter' });
    if (key === 'status') {
      const status = ['Succeeded', 'Failed'].find((s) => s.toLowerCase() === value.toLowerCase());
      if (!status)
        throw new ApiError('InvalidFilter', `$filter: status is 'Succeeded' or 'Failed', not '${value}'.`, {
          target: '$filter',
        });
      q.status = status as 'Succeeded' | 'Failed';
    } else {
      (q as Record<string, unknown>)[key] = value;
    }
  }
  if (q.from && q.to && q.from > q.to)
    throw new ApiError('InvalidFilter', '$filter: the eventTimestamp ge time is after the le time.', {
      target: '$filter',
    });
  return q;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'NoContent',
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  412: 'PreconditionFailed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
  507: 'InsufficientStorage',
};

const localized = (value: string) => ({ value, localizedValue: value });

/** .NET ticks of a time (Azure's event ids end in them). */
function ticksOf(at: Date): string {
  return (BigInt(at.getTime()) * 10000n + 621355968000000000n).toString();
}

/**
 * One event in Azure's EventData shape (what `az monitor activity-log list` prints). The caller
 * is the principal's display name (its id for a service principal, as Azure prints an app id);
 * no claim of a token is copied, only the principal's id and kind.
 */
export function eventDataOf(r: ActivityRecord): Record<string, unknown> {
  const failed = r.statusCode >= 400;
  const statusText = STATUS_TEXT[r.statusCode] ?? String(r.statusCode);
  const caller = r.principalKind === 'servicePrincipal' ? r.principalId : (r.principalName ?? r.principalId);
  const time = r.at.toISOString();
  return {
    authorization: { action: r.action, scope: r.resourceId },
    caller: caller ?? undefined,
    channels: 'Operation',
    claims: r.principalId
      ? {
          'http://schemas.microsoft.com/identity/claims/objectidentifier': r.principalId,
          principalKind: r.principalKind ?? '',
          name: r.principalName ?? '',
        }
      : {},
    correlationId: r.correlationId ?? r.requestId,
    description: '',
    eventDataId: r.eventId,
    eventName: localized('EndRequest'),
    category: localized('Administrative'),
    httpRequest: { clientRequestId: r.requestId, clientIpAddress: r.clientAddress ?? undefined, method: r.httpMethod },
    id: `${r.resourceId}/events/${r.eventId}/ticks/${ticksOf(r.at)}`,
    level: r.statusCode >= 500 ? 'Error' : failed ? 'Warning' : 'Informational',
    resourceGroupName: r.resourceGroup ?? undefined,
    resourceProviderName: r.resourceProvider ? localized(r.resourceProvider) : undefined,
    resourceId: r.resourceId,
    resourceType: r.resourceType ? localized(r.resourceType) : undefined,
    operationId: r.requestId,
    operationName: localized(r.action),
    properties: {
      statusCode: statusText,
      serviceRequestId: r.requestId,
      ...(r.errorCode ? { errorCode: r.errorCode } : {}),
      ...(r.principalKind ? { principalKind: r.principalKind } : {}),
    },
    status: localized(failed ? 'Failed' : 'Succeeded'),
    subStatus: localized(statusText),
    eventTimestamp: time,
    submissionTimestamp: time,
    subscriptionId: r.subscriptionId ?? undefined,
    tenantId: undefined,
  };
}
