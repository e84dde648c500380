import { createHash } from 'node:crypto';

/**
 * Reading the alert payloads an alert-capture endpoint accepts: Azure's common alert schema,
 * Azure's metric-alert schema (version 2.0, what seed 002's function reads as `data.context`),
 * Azure's classic metric alert webhook, and Prometheus Alertmanager's webhook (version 4). Each
 * alert becomes the same small record: is it firing, which host does it name, and a key that is
 * the same every time the same firing is delivered. Unknown fields are ignored (newer senders add
 * some); missing required ones are an {@link AlertPayloadError} naming the field.
 */

/** The payload formats recognised. */
export type AlertPayloadSchema =
  'azureMonitorCommonAlertSchema' | 'AzureMonitorMetricAlert' | 'AzureClassicMetricAlert' | 'AlertmanagerWebhookV4';

/** One alert of a payload. */
export interface IncomingAlert {
  /** Fired/Activated/firing, as opposed to Resolved/resolved. */
  firing: boolean;
  /** What names the host (an ARM id, a VM name or a Prometheus `instance`); null when nothing does. */
  hostReference: string | null;
  /** Where hostReference came from, for error messages (`data.essentials.alertTargetIDs[0]`, `labels.vm`). */
  hostReferenceField: string;
  /** The same for every delivery of the same firing, different for the next firing. */
  dedupeKey: string;
  /** Rule name (Azure) or alertname (Prometheus). */
  ruleName: string;
  /** When the condition began, as the payload says. */
  firedAt: string | null;
}

/** A parsed payload. */
export interface ParsedAlertPayload {
  schema: AlertPayloadSchema;
  alerts: IncomingAlert[];
}

/** A payload that is not one of the accepted formats, or lacks a field they require. */
export class AlertPayloadError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AlertPayloadError';
  }
}

/** Options of {@link parseAlertPayload}. */
export interface ParseAlertOptions {
  /** Alertmanager: a label that names the host, tried before `vm` and `instance`. */
  hostLabel?: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function obj(parent: Json, key: string, path: string): Json {
  const v = parent[key];
  if (!isObject(v)) throw new AlertPayloadError(`${path}.${key} is missing or not an object`, `${path}.${key}`);
  return v;
}

function str(parent: Json, key: string, path: string): string {
  const v = parent[key];
  if (typeof v !== 'string' || v === '')
    throw new AlertPayloadError(`${path}.${key} is missing or not a string`, `${path}.${key}`);
  return v;
}

function optStr(parent: Json, key: string): string | null {
  const v = parent[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  const found = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!found) throw new AlertPayloadError(`${field} is '${value}'; expected ${allowed.join(' or ')}`, field);
  return found;
}

function hashKey(...parts: Array<string | null>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

function parseCommon(body: Json): ParsedAlertPayload {
  const data = obj(body, 'data', '(body)');
  const e = obj(data, 'essentials', 'data');
  const condition = oneOf(
    str(e, 'monitorCondition', 'data.essentials'),
    ['Fired', 'Resolved'] as const,
    'data.essentials.monitorCondition',
  );
  const targets = e['alertTargetIDs'];
  if (!Array.isArray(targets) || targets.length === 0 || typeof targets[0] !== 'string') {
    throw new AlertPayloadError('data.essentials.alertTargetIDs is missing or empty', 'data.essentials.alertTargetIDs');
  }
  const alertId = str(e, 'alertId', 'data.essentials');
  const firedAt = optStr(e, 'firedDateTime');
  return {
    schema: 'azureMonitorCommonAlertSchema',
    alerts: [
      {
        firing: condition === 'Fired',
        hostReference: targets[0] as string,
        hostReferenceField: 'data.essentials.alertTargetIDs[0]',
        dedupeKey: hashKey('common', alertId.toLowerCase(), firedAt, condition),
        ruleName: optStr(e, 'alertRule') ?? '',
        firedAt,
      },
    ],
  };
}

function parseContext(
  schema: 'AzureMonitorMetricAlert' | 'AzureClassicMetricAlert',
  status: string,
  statusField: string,
  context: Json,
  contextPath: string,
): ParsedAlertPayload {
  const s = oneOf(status, ['Activated', 'Resolved'] as const, statusField);
  const resourceId = str(context, 'resourceId', contextPath);
  const timestamp = optStr(context, 'timestamp');
  const ruleId = optStr(context, 'id') ?? optStr(context, 'name') ?? '';
  return {
    schema,
    alerts: [
      {
        firing: s === 'Activated',
        hostReference: resourceId,
        hostReferenceField: `${contextPath}.resourceId`,
        // These schemas carry no alert instance id: a firing is its rule, target and time.
        dedupeKey: hashKey(schema, ruleId.toLowerCase(), resourceId.toLowerCase(), timestamp, s),
        ruleName: optStr(context, 'name') ?? '',
        firedAt: timestamp,
      },
    ],
  };
}

function parseAlertmanager(body: Json, options: ParseAlertOptions): ParsedAlertPayload {
  const alerts = body['alerts'];
  if (!Array.isArray(alerts) || alerts.length === 0)
    throw new AlertPayloadError('alerts is missing or empty', 'alerts');
  const labelOrder = [...new Set([options.hostLabel, 'vm', 'instance'].filter((l): l is string => Boolean(l)))];
  return {
    schema: 'AlertmanagerWebhookV4',
    alerts: alerts.map((raw, i) => {
      if (!isObject(raw)) throw new AlertPayloadError(`alerts[${i}] is not an object`, `alerts[${i}]`);
      const status = oneOf(str(raw, 'status', `alerts[${i}]`), ['firing', 'resolved'] as const, `alerts[${i}].status`);
      const labels = obj(raw, 'labels', `alerts[${i}]`);
      const label = labelOrder.find((l) => typeof labels[l] === 'string' && labels[l] !== '');
      const startsAt = optStr(raw, 'startsAt');
      // Alertmanager's fingerprint identifies the label set; with startsAt it identifies one firing.
      const fingerprint = optStr(raw, 'fingerprint') ?? hashKey(JSON.stringify(Object.entries(labels).sort()));
      return {
        firing: status === 'firing',
        hostReference: label ? String(labels[label]) : null,
        hostReferenceField: label ? `alerts[${i}].labels.${label}` : `alerts[${i}].labels.${labelOrder.join('|')}`,
        dedupeKey: hashKey('alertmanager', fingerprint, startsAt, status),
        ruleName: typeof labels['alertname'] === 'string' ? labels['alertname'] : '',
        firedAt: startsAt,
      };
    }),
  };
}

/**
 * Recognises and reads an alert payload.
 * @example parseAlertPayload(JSON.parse(body)).alerts[0]?.hostReference
 */
export function parseAlertPayload(body: unknown, options: ParseAlertOptions = {}): ParsedAlertPayload {
  if (!isObject(body)) throw new AlertPayloadError('the payload is not a JSON object');
  const schemaId = typeof body['schemaId'] === 'string' ? body['schemaId'].toLowerCase() : null;
  if (schemaId === 'azuremonitorcommonalertschema') return parseCommon(body);
  if (schemaId === 'azuremonitormetricalert') {
    const data = obj(body, 'data', '(body)');
    return parseContext(
      'AzureMonitorMetricAlert',
      str(data, 'status', 'data'),
      'data.status',
      obj(data, 'context', 'data'),
      'data.context',
    );
  }
  if (schemaId !== null)
    throw new AlertPayloadError(
      `schemaId '${String(body['schemaId'])}' is not supported; send a metric alert (common alert schema or AzureMonitorMetricAlert)`,
      'schemaId',
    );
  if (body['version'] === '4' && Array.isArray(body['alerts'])) return parseAlertmanager(body, options);
  if (typeof body['status'] === 'string' && isObject(body['context'])) {
    return parseContext('AzureClassicMetricAlert', body['status'], 'status', body['context'], 'context');
  }
  throw new AlertPayloadError(
    "the payload is not an alert this endpoint reads: expected Azure's common alert schema, an AzureMonitorMetricAlert, a classic metric alert, or an Alertmanager webhook (version 4)",
  );
}
