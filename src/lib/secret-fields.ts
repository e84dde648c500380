/**
 * Names of fields whose values are secrets wherever they appear: tokens, keys, connection strings,
 * install commands (they carry a one-time token), upload grants and signed URLs (SAS and presigned
 * URLs carry credentials in their query strings). One list: the process logger redacts these keys
 * (src/lib/logger.ts) and the CLI's `--debug` output redacts every field whose name contains one
 * (src/cli/redact.ts). Add a secret field's name here, not in either of them.
 */
export const SECRET_FIELD_NAMES = [
  'token',
  'authorization',
  'credential',
  'enrollmentToken',
  'connectionString',
  'secretAccessKey',
  'accountKey',
  'accessKey',
  'secret',
  'password',
  'installCommand',
  'protectedSettings',
  'grant',
  'sas',
  'sasUrl',
  'signedUrl',
] as const;

/** True for a field name that contains one of {@link SECRET_FIELD_NAMES}, in any casing (`access_token`, `AccountKey`, `clientSecret`). */
export function isSecretFieldName(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_FIELD_NAMES.some((secret) => lower.includes(secret.toLowerCase()));
}
