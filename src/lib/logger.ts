import { pino, type Logger } from 'pino';
import { SECRET_FIELD_NAMES } from './secret-fields.js';

export type { Logger };

/**
 * Keys whose values are never logged (SECRET_FIELD_NAMES, at the top level and one level down,
 * and request headers). Redaction is by the paths pino knows; callers log URL paths without their
 * query and pass any full URL through `redactUrl` from src/storage.
 */
const REDACT_PATHS = [
  ...SECRET_FIELD_NAMES.flatMap((name) => [name, `*.${name}`]),
  'headers.authorization',
  'req.headers.authorization',
];

/** Creates the process logger (JSON lines on stderr). */
export function createLogger(options: { level?: string; name: string }): Logger {
  return pino(
    { name: options.name, level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    pino.destination(2),
  );
}
