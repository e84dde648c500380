// SAS tokens (sig=…), S3 presigned URLs (X-Amz-Signature=…, X-Amz-Credential=…) and our own
// local signed URLs (sig=…) all carry their credential in the query string, and a URL may also
// carry user:password. Redaction is by allow-list: everything after `?` and any user info goes.

/**
 * A URL safe to log: query string, fragment and user info removed.
 * @example redactUrl('https://a.blob.core.windows.net/c/b.cap?sv=2021&sig=abc') // 'https://a.blob.core.windows.net/c/b.cap'
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL we can parse: keep only what precedes any query or fragment marker.
    return url.split(/[?#]/, 1)[0] ?? '';
  }
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

const urlInTextPattern = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const connectionStringSecretPattern = /\b(AccountKey|SharedAccessSignature|SharedAccessKey)=[^;\s"']*/gi;

/**
 * Free text (an error message, a log line) with every URL passed through {@link redactUrl}
 * and connection-string secrets replaced by `***`.
 * @example redactSecretsInText('PUT http://h/b?sig=x failed') // 'PUT http://h/b failed'
 */
export function redactSecretsInText(text: string): string {
  return text
    .replace(urlInTextPattern, (match) => redactUrl(match))
    .replace(connectionStringSecretPattern, (_match, key: string) => `${key}=***`);
}
