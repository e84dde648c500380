import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values are never logged: tokens, keys, connection strings, signed URLs (SAS and
 * presigned URLs carry credentials in their query strings). Redaction is by allow-list of
 * paths pino knows; callers log URL paths without their query and pass any full URL through
 * `redactUrl` from src/storage.
 */
const REDACT_PATHS = [
  'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'credential', '*.credential', 'enrollmentToken', '*.enrollmentToken', 'connectionString', '*.connectionString',
  'secretAccessKey', '*.secretAccessKey', 'accountKey', '*.accountKey', 'grant', '*.grant', 'sasUrl', '*.sasUrl', 'signedUrl', '*.signedUrl',
];

/** Creates the process logger (JSON lines on stderr). */
export function createLogger(options: { level?: string; name: string }): Logger {
  return pino({ name: options.name, level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
}
