import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../lib/index.js';
import { ACTIVITY_LOG_PAGE_SIZE_IN_ROWS, eventDataOf, parseActivityFilter } from '../activity-log.js';
import { apiVersionOf, requestBaseUrl } from '../request-context.js';
import { listActivityRecords } from '../services/activity-log.js';
import type { ServerContext } from '../services/context.js';
import { SUB, type ArmParams } from './arm-paths.js';

/** Azure's activity-log list (Microsoft.Insights eventtypes/management/values, api-version 2015-04-01). */
export const ACTIVITY_LOG_PATH = `${SUB}/providers/Microsoft.Insights/eventtypes/management/values`;

/** Top-level EventData fields `$select` may name. */
const SELECTABLE = new Set([
  'authorization',
  'caller',
  'channels',
  'claims',
  'correlationId',
  'description',
  'eventDataId',
  'eventName',
  'category',
  'httpRequest',
  'id',
  'level',
  'resourceGroupName',
  'resourceProviderName',
  'resourceId',
  'resourceType',
  'operationId',
  'operationName',
  'properties',
  'status',
  'subStatus',
  'eventTimestamp',
  'submissionTimestamp',
  'subscriptionId',
  'tenantId',
]);

/**
 * The activity log as Azure serves it, so `az monitor activity-log list` works: newest first,
 * `$filter` (see parseActivityFilter), `$select` (top-level fields), pages linked by nextLink.
 */
export function registerActivityLogRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams; Querystring: Record<string, string | undefined> }>(ACTIVITY_LOG_PATH, async (req) => {
    const query = parseActivityFilter(req.query['$filter']);
    const selectText = req.query['$select'];
    const select =
      selectText === undefined || selectText.trim() === ''
        ? null
        : selectText
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
    for (const field of select ?? []) {
      const known = [...SELECTABLE].find((f) => f.toLowerCase() === field.toLowerCase());
      if (!known)
        throw new ApiError(
          'InvalidParameter',
          `$select: '${field}' is not a field of an event; fields: ${[...SELECTABLE].join(', ')}.`,
          { target: '$select' },
        );
    }
    const token = req.query['$skiptoken'];
    let beforeSeq: number | undefined;
    if (token !== undefined) {
      beforeSeq = Number(Buffer.from(token, 'base64url').toString('utf8'));
      if (!Number.isInteger(beforeSeq) || beforeSeq < 1)
        throw new ApiError('InvalidParameter', `$skiptoken '${token}' is not a token from a nextLink of this list.`, {
          target: '$skiptoken',
        });
    }
    const rows = await listActivityRecords(ctx, {
      ...query,
      subscriptionId: req.params.sub,
      beforeSeq,
      limit: ACTIVITY_LOG_PAGE_SIZE_IN_ROWS + 1,
    });
    const page = rows.slice(0, ACTIVITY_LOG_PAGE_SIZE_IN_ROWS);
    const value = page.map(eventDataOf).map((e) => {
      if (!select) return e;
      const wanted = new Set(select.map((s) => s.toLowerCase()));
      return Object.fromEntries(Object.entries(e).filter(([k]) => wanted.has(k.toLowerCase())));
    });
    if (rows.length <= ACTIVITY_LOG_PAGE_SIZE_IN_ROWS) return { value };
    const next = new URL(req.url, requestBaseUrl(req));
    next.searchParams.set('$skiptoken', Buffer.from(String(page[page.length - 1]!.seq)).toString('base64url'));
    next.searchParams.set('api-version', apiVersionOf(req));
    return { value, nextLink: next.toString() };
  });
}
