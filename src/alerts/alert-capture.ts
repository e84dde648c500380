import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { compileFilters, normalizeFilters } from '../filter/index.js';
import { ApiError, armIdKey, buildArmId } from '../lib/index.js';
import {
  ALERT_CAPTURE_DEFAULTS,
  parseCaptureFilePath,
  parseJsonBody,
  type AlertCaptureBody,
  type AlertCapturePut,
  type AlertCaptureRunState,
  type PacketCaptureCreateRequest,
} from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import type { AlertsContext, CaptureOperations, CaptureSummary } from './context.js';
import { resolveHostReference, type HostInfo } from './hosts.js';
import { AlertPayloadError, parseAlertPayload, type AlertPayloadSchema, type IncomingAlert } from './payload-parse.js';
import { redactUrl } from '../storage/index.js';
import { deliverWebhook, type WebhookDeliveryResult } from './webhook.js';

/** A normal HTTP delivery (a URL that only looked like an own endpoint). */
function deliverWebhookOver(actx: AlertsContext, url: string, payload: unknown): Promise<WebhookDeliveryResult> {
  return deliverWebhook(url, payload, actx.webhook);
}

/**
 * The alert-triggered capture endpoint: seed 002's Azure function as a feature. A keyed URL takes
 * an alert payload and does the function's five steps — find the alerted host and its location's
 * watcher, remove an earlier capture of the same name, refuse past the session limit, start the
 * capture with its time limit, and (in alert-capture-runs.ts) poll until it is done and notify —
 * plus what the seed forgot: Resolved starts nothing, the same firing delivered twice starts one
 * capture, and Prometheus labels name hosts.
 */

/** Largest payload accepted (Azure's own limit for alert payloads). */
export const ALERT_PAYLOAD_MAX_BYTES = 256 * 1024;

/** Provider namespace of netwatcher's own resources (no Azure type has this shape). */
export const ALERT_CAPTURE_PROVIDER = 'Netwatcher';

/** URL path prefix of the public endpoint. */
export const ALERT_CAPTURE_PATH_PREFIX = '/alert-capture/v1';

/** How long a trigger waits for an earlier capture of the same name to be deleted (its file may still be uploading). */
const DELETE_WAIT_IN_MS = 20_000;

/** Stored body of an alert-capture endpoint (model's alertCaptureBodySchema). */
export type { AlertCaptureBody };

/** The secret of an endpoint: the SHA-256 of its key, and its notification webhooks' full URLs (the body shows them redacted). */
interface AlertCaptureSecret {
  keySha256: string;
  notificationUris?: string[];
}

/** Id of an alert-capture endpoint. */
export function alertCaptureId(sub: string, rg: string, name: string): string {
  return buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: ALERT_CAPTURE_PROVIDER,
    types: ['alertCaptures'],
    names: [name],
  });
}

/** The public URL of an endpoint, without its key. */
export function alertCaptureEndpoint(baseUrl: string, sub: string, rg: string, name: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${ALERT_CAPTURE_PATH_PREFIX}/${encodeURIComponent(sub)}/${encodeURIComponent(rg)}/${encodeURIComponent(name)}`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Compares a presented key with the stored hash in constant time: both sides are SHA-256 digests
 * of the same length, so neither the comparison nor a length check leaks how much matched.
 */
export function keyMatches(presented: string | null, keySha256: string): boolean {
  const expected = Buffer.from(keySha256, 'hex');
  const actual = sha256(presented ?? '');
  return expected.length === actual.length && timingSafeEqual(expected, actual) && presented !== null;
}

/** A view of an endpoint (no secret). */
export function alertCaptureView(rec: ResourceRecord<AlertCaptureBody>): Record<string, unknown> {
  return {
    id: rec.id,
    name: rec.name,
    type: rec.body.type,
    etag: rec.etag,
    ...(rec.body.tags ? { tags: rec.body.tags } : {}),
    properties: rec.body.properties,
  };
}

/**
 * Creates or replaces an endpoint. A new endpoint gets a key, returned once in `url`; an update
 * keeps the key (regenerate it with {@link regenerateAlertCaptureKey}). `baseUrl` is the server
 * URL alert senders use (the public URL, or the one the caller used).
 */
export async function putAlertCapture(
  actx: AlertsContext,
  ops: CaptureOperations,
  sub: string,
  rg: string,
  name: string,
  input: AlertCapturePut,
  baseUrl: string = actx.baseUrl(),
): Promise<{ record: ResourceRecord<AlertCaptureBody>; created: boolean; url: string | null }> {
  const p = input.properties;
  const filters = normalizeFilters(p.filters ?? []);
  compileFilters(filters);
  const captureName = p.captureName ?? ALERT_CAPTURE_DEFAULTS.captureName;
  const sl = p.storageLocation ?? {};
  // The packet-capture rule, checked before anything is looked up or stored.
  const givenPath = sl.filePath || sl.localPath;
  const filePath = givenPath
    ? parseCaptureFilePath(
        givenPath,
        sl.filePath ? 'properties.storageLocation.filePath' : 'properties.storageLocation.localPath',
      )
    : undefined;
  // Like the seed's function, captures go to a storage account: the server's default one unless told.
  const storageId = sl.storageId || !filePath ? await ops.resolveStorageAccountId(sl.storageId || null) : '';
  const id = alertCaptureId(sub, rg, name);
  const existing = await actx.store.getResource<AlertCaptureBody>(armIdKey(id));
  const body: AlertCaptureBody = {
    type: `${ALERT_CAPTURE_PROVIDER}/alertCaptures`,
    ...(input.tags ? { tags: input.tags } : {}),
    properties: {
      enabled: p.enabled ?? true,
      captureName,
      timeLimitInSeconds: p.timeLimitInSeconds ?? ALERT_CAPTURE_DEFAULTS.timeLimitInSeconds,
      lookbackInSeconds: p.lookbackInSeconds ?? null,
      bytesToCapturePerPacket: p.bytesToCapturePerPacket ?? 0,
      totalBytesPerSession: p.totalBytesPerSession ?? null,
      sessionLimit: p.sessionLimit ?? ALERT_CAPTURE_DEFAULTS.sessionLimit,
      storageLocation: {
        storageId,
        ...(sl.storagePath ? { storagePath: sl.storagePath } : {}),
        ...(filePath ? { filePath } : {}),
      },
      filters,
      // Shown redacted: a webhook URL may carry a key. The full URLs are in the sealed secret.
      notificationWebhooks: (p.notificationWebhooks ?? []).map((w) => ({ serviceUri: redactUrl(w.serviceUri) })),
      hostLabel: p.hostLabel ?? null,
      resourceGroups: p.resourceGroups ? [...new Set(p.resourceGroups.map((g) => g.toLowerCase()))] : null,
      endpoint: alertCaptureEndpoint(baseUrl, sub, existing?.resourceGroup ?? rg, existing?.name ?? name),
      provisioningState: 'Succeeded',
    },
  };
  const key = existing ? null : randomBytes(32).toString('base64url');
  const previous = (existing?.secret as AlertCaptureSecret | null) ?? null;
  const notificationUris = (p.notificationWebhooks ?? []).map((w, i) => {
    // A read-modify-write client sends back the redacted URL it was shown: keep the full one.
    const current = previous?.notificationUris?.[i];
    return current && redactUrl(current) === w.serviceUri ? current : w.serviceUri;
  });
  const record = await actx.store.putResource<AlertCaptureBody>({
    key: armIdKey(id),
    type: 'alertCapture',
    parentKey: null,
    id: existing?.id ?? id,
    name: existing?.name ?? name,
    subscriptionId: sub,
    resourceGroup: rg,
    location: null,
    body,
    secret: {
      keySha256: key ? sha256(key).toString('hex') : (previous?.keySha256 ?? ''),
      notificationUris,
    } satisfies AlertCaptureSecret,
  });
  return { record, created: !existing, url: key ? `${body.properties.endpoint}?code=${key}` : null };
}

/** Replaces an endpoint's key; returns the new keyed URL (the old one stops working). */
export async function regenerateAlertCaptureKey(
  actx: AlertsContext,
  rec: ResourceRecord<AlertCaptureBody>,
): Promise<string> {
  const key = randomBytes(32).toString('base64url');
  await actx.store.putResource<AlertCaptureBody>({
    ...rec,
    secret: {
      ...((rec.secret as AlertCaptureSecret | null) ?? {}),
      keySha256: sha256(key).toString('hex'),
    } satisfies AlertCaptureSecret,
  });
  return `${rec.body.properties.endpoint}?code=${key}`;
}

/** An endpoint by id parts; 404 ResourceNotFound when missing. */
export async function getAlertCapture(
  actx: AlertsContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<AlertCaptureBody>> {
  const rec = await actx.store.getResource<AlertCaptureBody>(armIdKey(alertCaptureId(sub, rg, name)));
  if (!rec || rec.type !== 'alertCapture')
    throw new ApiError(
      'ResourceNotFound',
      `Alert-capture endpoint '${name}' was not found in resource group '${rg}'.`,
      { target: 'name' },
    );
  return rec;
}

// ---- triggers ------------------------------------------------------------------------------

/** What a run records about its trigger and outcome (shown by `alert-capture list-runs`). */
export interface AlertCaptureRunDetail {
  schema: AlertPayloadSchema | null;
  ruleName: string;
  firedAt: string | null;
  hostReference: string | null;
  /** The host's ARM id, once resolved. */
  target: string | null;
  captureName: string | null;
  captureId: string | null;
  /** Why nothing was started (ignored, duplicate, refused, failed). */
  reason: string | null;
  errorCode: string | null;
  timeLimitInSeconds: number | null;
  /** When the completion notification is due at the latest (the capture may hang on a lost host). */
  deadline: string | null;
  /** Filled when the run completes. */
  completion: Record<string, unknown> | null;
}

/** The states of a run (defined with the alert contract in src/model). */
export type { AlertCaptureRunState };

/** Run states that are final. */
export const FINISHED_RUN_STATES: readonly AlertCaptureRunState[] = [
  'completed',
  'ignored',
  'duplicate',
  'refused',
  'failed',
];

/** What became of one alert of a trigger. */
export interface TriggerOutcome {
  outcome: 'started' | 'ignored' | 'duplicate' | 'refused' | 'failed';
  runId: string;
  hostReference: string | null;
  target: string | null;
  captureId: string | null;
  captureName: string | null;
  reason: string | null;
  errorCode: string | null;
}

/** The answer of a trigger: HTTP status and body. */
export interface TriggerAnswer {
  statusCode: number;
  body: Record<string, unknown>;
}

/** The request, as the route hands it over. */
export interface TriggerRequest {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** The key from `?code=` or the `x-functions-key` header (Azure Functions' two places). */
  presentedKey: string | null;
  /** Set only by {@link deliverToOwnEndpoint}: this server's own action group calling in-process, which needs no key. */
  fromOwnActionGroup?: boolean;
  body: Buffer;
  /** How the caller reached the server (URLs in capture views). */
  baseUrl: string;
}

function emptyDetail(): AlertCaptureRunDetail {
  return {
    schema: null,
    ruleName: '',
    firedAt: null,
    hostReference: null,
    target: null,
    captureName: null,
    captureId: null,
    reason: null,
    errorCode: null,
    timeLimitInSeconds: null,
    deadline: null,
    completion: null,
  };
}

/**
 * Handles one POST to an endpoint. Authentication, size and format problems are ApiErrors (4xx)
 * and start nothing; otherwise every alert of the payload is recorded as a run with its outcome.
 * Answers 202 when a capture started, 200 when nothing had to (Resolved, duplicate), and the
 * error of the first alert when none could start.
 */
export async function triggerAlertCapture(
  actx: AlertsContext,
  ops: CaptureOperations,
  req: TriggerRequest,
): Promise<TriggerAnswer> {
  const rec = await actx.store.getResource<AlertCaptureBody>(
    armIdKey(alertCaptureId(req.subscriptionId, req.resourceGroup, req.name)),
  );
  if (!rec || rec.type !== 'alertCapture') throw new ApiError('NotFound', 'No alert-capture endpoint has this URL.');
  if (
    !req.fromOwnActionGroup &&
    !keyMatches(req.presentedKey, (rec.secret as AlertCaptureSecret | null)?.keySha256 ?? '')
  ) {
    actx.telemetry.alertCaptureTriggers.inc({ outcome: 'unauthorized' });
    throw new ApiError(
      'AuthenticationFailed',
      'The key of this alert-capture URL is missing or wrong (pass it as ?code=KEY or in the x-functions-key header).',
    );
  }
  if (!rec.body.properties.enabled)
    throw new ApiError('Forbidden', `Alert-capture endpoint '${rec.name}' is disabled.`);
  if (req.body.length > ALERT_PAYLOAD_MAX_BYTES)
    throw new ApiError(
      'PayloadTooLarge',
      `The alert payload is ${req.body.length} bytes; at most ${ALERT_PAYLOAD_MAX_BYTES} are accepted.`,
    );
  // The API's own JSON rules (depth, no NUL or lone surrogates: run details are stored as jsonb).
  const json = parseJsonBody(req.body.toString('utf8'));
  let parsed;
  try {
    parsed = parseAlertPayload(json, rec.body.properties.hostLabel ? { hostLabel: rec.body.properties.hostLabel } : {});
  } catch (error) {
    if (error instanceof AlertPayloadError)
      throw new ApiError('InvalidRequestContent', `The alert payload is not accepted: ${error.message}.`, {
        target: error.field,
      });
    throw error;
  }

  const allHosts = await actx.listHosts();
  // An endpoint captures only on hosts of its own subscription (and resource groups, if narrowed):
  // an alert naming any other host is refused, never started elsewhere.
  const hosts = allHosts.filter((h) => inEndpointScope(rec, h));
  const outcomes: TriggerOutcome[] = [];
  const errors: ApiError[] = [];
  const startedHosts = new Set<string>();
  for (const alert of parsed.alerts) {
    const detail: AlertCaptureRunDetail = {
      ...emptyDetail(),
      schema: parsed.schema,
      ruleName: alert.ruleName,
      firedAt: alert.firedAt,
      hostReference: alert.hostReference,
    };
    if (!alert.firing) {
      outcomes.push(
        await recordFinal(actx, rec, 'ignored', {
          ...detail,
          reason: 'the alert is resolved; only firing alerts start a capture',
        }),
      );
      continue;
    }
    let host = resolveAlertHost(alert, hosts);
    if (host instanceof ApiError && host.code === 'VirtualMachineNotFound') {
      const outside = resolveAlertHost(alert, allHosts);
      if (!(outside instanceof ApiError))
        host = new ApiError(
          'Forbidden',
          `${alert.hostReferenceField} '${alert.hostReference ?? ''}' names a host outside this endpoint's scope (subscription '${rec.subscriptionId}'${rec.body.properties.resourceGroups ? `, resource groups ${rec.body.properties.resourceGroups.join(', ')}` : ''}); nothing was started.`,
          { target: alert.hostReferenceField },
        );
    }
    if (host instanceof ApiError) {
      errors.push(host);
      outcomes.push(await recordFinal(actx, rec, 'refused', { ...detail, reason: host.message, errorCode: host.code }));
      continue;
    }
    if (startedHosts.has(host.key)) {
      outcomes.push(
        await recordFinal(actx, rec, 'duplicate', {
          ...detail,
          target: host.id,
          reason: 'another alert of this payload already names this host',
        }),
      );
      continue;
    }
    startedHosts.add(host.key);
    const outcome = await startForHost(actx, ops, rec, alert, host, detail, req.baseUrl);
    if (outcome.error) errors.push(outcome.error);
    outcomes.push(outcome.result);
  }
  for (const o of outcomes) actx.telemetry.alertCaptureTriggers.inc({ outcome: o.outcome });

  const started = outcomes.filter((o) => o.outcome === 'started');
  const summary = { schema: parsed.schema, alerts: outcomes };
  if (started.length > 0) return { statusCode: 202, body: { status: 'Accepted', ...summary } };
  if (errors.length > 0 && outcomes.every((o) => o.outcome === 'refused' || o.outcome === 'failed')) throw errors[0]!;
  return {
    statusCode: 200,
    body: { status: outcomes.every((o) => o.outcome === 'ignored') ? 'Ignored' : 'NothingStarted', ...summary },
  };
}

/** Whether a host is in an endpoint's scope: its subscription, and one of its resource groups when it names some. */
export function inEndpointScope(rec: ResourceRecord<AlertCaptureBody>, host: HostInfo): boolean {
  if (host.subscriptionId.toLowerCase() !== rec.subscriptionId.toLowerCase()) return false;
  const groups = rec.body.properties.resourceGroups;
  return !groups || groups.includes(host.resourceGroup.toLowerCase());
}

/** The full notification URLs of an endpoint (sealed secret), or those of its body for one stored before they were kept apart. */
export function notificationUrisOf(rec: ResourceRecord<AlertCaptureBody>): string[] {
  return (
    (rec.secret as AlertCaptureSecret | null)?.notificationUris ??
    rec.body.properties.notificationWebhooks.map((w) => w.serviceUri)
  );
}

/**
 * When `url` is one of this server's own alert-capture endpoints (its URL as the server recorded
 * it, with or without a key), runs the trigger in-process — an action group of this server
 * needs no key in its stored URL — and answers like a webhook delivery; otherwise null.
 */
export function deliverToOwnEndpoint(
  actx: AlertsContext,
  ops: CaptureOperations,
  url: string,
  payload: unknown,
): Promise<WebhookDeliveryResult> | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const parts = parsed.pathname.split('/');
  const prefix = ALERT_CAPTURE_PATH_PREFIX.split('/');
  if (
    parts.length !== prefix.length + 3 ||
    parts.slice(0, prefix.length).join('/').toLowerCase() !== ALERT_CAPTURE_PATH_PREFIX
  )
    return null;
  let sub: string, rg: string, name: string;
  try {
    [sub, rg, name] = parts.slice(prefix.length).map((p) => decodeURIComponent(p)) as [string, string, string];
  } catch {
    return null;
  }
  return (async (): Promise<WebhookDeliveryResult | null> => {
    const rec = await actx.store.getResource<AlertCaptureBody>(armIdKey(alertCaptureId(sub, rg, name)));
    // Only the URL the server itself recorded for the endpoint: another host's same path is not ours.
    if (
      !rec ||
      rec.type !== 'alertCapture' ||
      redactUrl(url).toLowerCase() !== rec.body.properties.endpoint.toLowerCase()
    )
      return null;
    try {
      const answer = await triggerAlertCapture(actx, ops, {
        subscriptionId: sub,
        resourceGroup: rg,
        name,
        presentedKey: null,
        fromOwnActionGroup: true,
        body: Buffer.from(JSON.stringify(payload)),
        baseUrl: actx.baseUrl(),
      });
      return { outcome: 'Succeeded', attempts: 1, httpStatus: answer.statusCode, error: null };
    } catch (error) {
      if (error instanceof ApiError)
        return {
          outcome: 'Failed',
          attempts: 1,
          httpStatus: error.statusCode,
          error: `${error.code}: ${error.message}`,
        };
      throw error;
    }
  })().then((r) => r ?? deliverWebhookOver(actx, url, payload));
}

function resolveAlertHost(alert: IncomingAlert, hosts: readonly HostInfo[]): HostInfo | ApiError {
  if (!alert.hostReference)
    return new ApiError('InvalidRequestContent', `The alert names no host: ${alert.hostReferenceField} is missing.`, {
      target: alert.hostReferenceField,
    });
  const r = resolveHostReference(hosts, alert.hostReference);
  if (r.kind === 'found') return r.host;
  if (r.kind === 'ambiguous')
    return new ApiError(
      'InvalidParameter',
      `${alert.hostReferenceField} '${r.reference}' fits several hosts (${r.candidates.join(', ')}); name the VM by its id.`,
      { target: alert.hostReferenceField },
    );
  return new ApiError(
    'VirtualMachineNotFound',
    `${alert.hostReferenceField} '${r.reference}' names no host netwatcher knows.`,
    { target: alert.hostReferenceField },
  );
}

function outcomeOf(runId: string, state: TriggerOutcome['outcome'], d: AlertCaptureRunDetail): TriggerOutcome {
  return {
    outcome: state,
    runId,
    hostReference: d.hostReference,
    target: d.target,
    captureId: d.captureId,
    captureName: d.captureName,
    reason: d.reason,
    errorCode: d.errorCode,
  };
}

async function recordFinal(
  actx: AlertsContext,
  rec: ResourceRecord<AlertCaptureBody>,
  state: 'ignored' | 'duplicate' | 'refused' | 'failed',
  detail: AlertCaptureRunDetail,
): Promise<TriggerOutcome> {
  const id = randomUUID();
  // History only: a unique key of its own, so it never blocks a real trigger.
  await actx.store.insertAlertCaptureRun({
    id,
    configKey: rec.key,
    dedupeKey: `${state}:${id}`,
    state,
    captureKey: null,
    detail,
  });
  return outcomeOf(id, state, detail);
}

/** The five steps of the seed's function for one host. */
async function startForHost(
  actx: AlertsContext,
  ops: CaptureOperations,
  rec: ResourceRecord<AlertCaptureBody>,
  alert: IncomingAlert,
  host: HostInfo,
  base: AlertCaptureRunDetail,
  baseUrl: string,
): Promise<{ result: TriggerOutcome; error?: ApiError }> {
  const p = rec.body.properties;
  const captureName = p.captureName.replace(/\{vm\}/g, host.name);
  let detail: AlertCaptureRunDetail = {
    ...base,
    target: host.id,
    captureName,
    timeLimitInSeconds: p.timeLimitInSeconds,
  };
  const runId = randomUUID();
  // The same firing delivered again (a retry, a second action group) finds its run and stops here.
  if (
    !(await actx.store.insertAlertCaptureRun({
      id: runId,
      configKey: rec.key,
      dedupeKey: `${alert.dedupeKey}:${host.key}`,
      state: 'starting',
      captureKey: null,
      detail,
    }))
  ) {
    return {
      result: await recordFinal(actx, rec, 'duplicate', { ...detail, reason: 'this firing was received before' }),
    };
  }
  const finish = async (state: 'duplicate' | 'refused' | 'failed', reason: string, error?: ApiError) => {
    detail = { ...detail, reason, errorCode: error?.code ?? null };
    // A refused or failed firing may be sent again (a retry, or by hand once the cause is fixed):
    // it gives its de-duplication key back. A duplicate keeps it: that incident is being captured.
    await actx.store.updateAlertCaptureRun(runId, {
      state,
      detail,
      ...(state === 'duplicate' ? {} : { dedupeKey: `${state}:${runId}` }),
    });
    return { result: outcomeOf(runId, state, detail), ...(error ? { error } : {}) };
  };
  try {
    // 1. the alerted host's location's watcher
    const watcher = await ops.findWatcher(host.subscriptionId, host.location);
    if (!watcher) {
      const e = new ApiError(
        'NetworkWatcherNotFound',
        `Location '${host.location}' of host '${host.name}' has no network watcher.`,
      );
      return await finish('failed', e.message, e);
    }
    // 2. an earlier capture of the same name: still running on this host means this is the same
    // incident (a burst of alerts); running elsewhere is someone else's capture; ended is removed.
    const captures = await ops.listCaptures(watcher.key);
    const earlier = captures.find((c) => c.name.toLowerCase() === captureName.toLowerCase());
    if (earlier && !isEnded(earlier)) {
      if (earlier.vmKeys.includes(host.key))
        return await finish('duplicate', `capture '${earlier.name}' is already running on this host`);
      const e = new ApiError(
        'Conflict',
        `Capture '${earlier.name}' is running on another host; put {vm} in the endpoint's captureName to capture several hosts at once.`,
        { target: 'captureName' },
      );
      return await finish('refused', e.message, e);
    }
    if (earlier) {
      await ops.deleteCapture(earlier.key);
      if (!(await waitUntilGone(ops, earlier.key))) {
        const e = new ApiError(
          'Conflict',
          `The earlier capture '${earlier.name}' is still being deleted (its file is being stored); try again shortly.`,
          { target: 'captureName' },
        );
        return await finish('failed', e.message, e);
      }
    }
    // 3. the session limit of the watcher
    const active = (await ops.listCaptures(watcher.key)).filter((c) => c.active).length;
    if (active >= p.sessionLimit) {
      const e = new ApiError(
        'SessionLimitReached',
        `Network watcher '${watcher.name}' already runs ${active} capture sessions, this endpoint's limit (${p.sessionLimit}); nothing was started.`,
      );
      return await finish('refused', e.message, e);
    }
    // 4. start the capture with its time limit
    const request: PacketCaptureCreateRequest = {
      properties: {
        target: host.id,
        bytesToCapturePerPacket: p.bytesToCapturePerPacket,
        ...(p.totalBytesPerSession !== null ? { totalBytesPerSession: p.totalBytesPerSession } : {}),
        timeLimitInSeconds: p.timeLimitInSeconds,
        storageLocation: {
          ...(p.storageLocation.storageId ? { storageId: p.storageLocation.storageId } : {}),
          ...(p.storageLocation.storagePath ? { storagePath: p.storageLocation.storagePath } : {}),
          ...(p.storageLocation.filePath ? { filePath: p.storageLocation.filePath } : {}),
        },
        filters: p.filters,
        ...(typeof p.lookbackInSeconds === 'number' ? { lookbackInSeconds: p.lookbackInSeconds } : {}),
      },
    };
    let capture: CaptureSummary;
    try {
      try {
        capture = await ops.createCapture(watcher, captureName, request, baseUrl);
      } catch (error) {
        // A host without a look-back buffer still gets its capture (from the alert on): losing the capture would be worse than losing the past.
        if (!(error instanceof ApiError && error.target === 'properties.lookbackInSeconds')) throw error;
        const { lookbackInSeconds: _dropped, ...rest } = request.properties;
        capture = await ops.createCapture(watcher, captureName, { properties: rest }, baseUrl);
        detail = {
          ...detail,
          reason: `host '${host.name}' has no look-back buffer: captured from the alert on (${error.message})`,
        };
      }
    } catch (error) {
      // Two alerts for one host at the same moment: the other one is starting it.
      if (error instanceof ApiError && error.code === 'PacketCaptureNameInUse')
        return await finish('duplicate', `capture '${captureName}' was started by another alert at the same moment`);
      if (error instanceof ApiError) return await finish('failed', error.message, error);
      throw error;
    }
    // 5. (alert-capture-runs.ts) poll until done and notify
    const deadline = new Date(Date.now() + (p.timeLimitInSeconds + 600) * 1000).toISOString();
    detail = { ...detail, captureId: capture.id, deadline };
    await actx.store.updateAlertCaptureRun(runId, { state: 'running', captureKey: capture.key, detail });
    actx.logger.info(
      { endpoint: rec.id, capture: capture.id, rule: alert.ruleName },
      'alert-triggered capture started',
    );
    return { result: outcomeOf(runId, 'started', detail) };
  } catch (error) {
    await actx.store
      .updateAlertCaptureRun(runId, {
        state: 'failed',
        dedupeKey: `failed:${runId}`,
        detail: { ...detail, reason: 'internal error', errorCode: 'InternalServerError' },
      })
      .catch(() => undefined);
    throw error;
  }
}

function isEnded(c: CaptureSummary): boolean {
  return c.status === 'Stopped' || c.status === 'Error';
}

async function waitUntilGone(ops: CaptureOperations, key: string): Promise<boolean> {
  const deadline = Date.now() + DELETE_WAIT_IN_MS;
  while (Date.now() < deadline) {
    if (!(await ops.getCapture(key))) return true;
    await sleep(100);
  }
  return false;
}
