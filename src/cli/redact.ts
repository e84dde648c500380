/**
 * Redaction for `--debug` output. By allow-list, as the Azure SDK guidelines ask: only query
 * parameters and headers known to be harmless are shown verbatim, because signed URLs (SAS,
 * S3 presigned) carry credentials in their query strings and tokens travel in headers.
 */
import { isSecretFieldName } from '../lib/index.js';

const SAFE_QUERY_PARAMETERS = new Set(['api-version', 'instance', 'deletefiles']);

const SAFE_HEADERS = new Set([
  'accept',
  'content-type',
  'content-length',
  'user-agent',
  'retry-after',
  'etag',
  'date',
  'location',
  'azure-asyncoperation',
  'operation-location',
  'x-ms-request-id',
  'x-ms-client-request-id',
  'x-ms-correlation-request-id',
  'x-nw-content-sha256',
  'content-disposition',
  'x-nw-file-name',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'cache-control',
  'vary',
]);

const REDACTED = 'REDACTED';

/**
 * A URL for `--debug` output: its shape kept, every query value except allow-listed ones and any
 * user info replaced by REDACTED (src/storage redactUrl, for logs, drops the query instead).
 */
export function maskUrlQuery(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\?.*$/, '?REDACTED');
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (!SAFE_QUERY_PARAMETERS.has(key.toLowerCase())) parsed.searchParams.set(key, REDACTED);
  }
  if (parsed.username || parsed.password) {
    parsed.username = REDACTED;
    parsed.password = '';
  }
  return parsed.toString();
}

/** Header lines for debug output: safe headers verbatim (URLs redacted), the rest as REDACTED. */
export function redactHeaders(headers: Iterable<[string, string]>): string[] {
  const lines: string[] = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!SAFE_HEADERS.has(lower)) lines.push(`${name}: ${REDACTED}`);
    else if (lower === 'location' || lower === 'azure-asyncoperation' || lower === 'operation-location')
      lines.push(`${name}: ${maskUrlQuery(value)}`);
    else lines.push(`${name}: ${value}`);
  }
  return lines;
}

/** A deep copy of a JSON value with secret-looking fields replaced by REDACTED. */
export function redactBody(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactBody);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (isSecretFieldName(key) && inner !== null && inner !== undefined) out[key] = REDACTED;
    // URLs in bodies (webhook serviceUri, alert-capture url) may carry keys in their query.
    else if (typeof inner === 'string' && /^https?:\/\//i.test(inner) && inner.includes('?'))
      out[key] = maskUrlQuery(inner);
    else out[key] = redactBody(inner);
  }
  return out;
}
