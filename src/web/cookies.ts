// Cookie header parsing and Set-Cookie serialisation for the portal session (RFC 6265 §4.1).

/** The cookies of a request's `Cookie` header by name; a malformed pair is skipped, the first of a repeated name wins. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /** Sent only over https (and named with the `__Host-` prefix, so no subdomain or http page can plant it). */
  secure: boolean;
  /** Lifetime; 0 deletes the cookie. */
  maxAgeInSeconds: number;
}

/** Name of the session cookie: `__Host-` needs Secure, so plain-http servers use the bare name. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-nw_session' : 'nw_session';
}

/**
 * A Set-Cookie value for the session: HttpOnly (scripts never see it), SameSite=Strict (no
 * cross-site request carries it), Path=/, Secure on https.
 * @example sessionSetCookie('abc', { secure: false, maxAgeInSeconds: 3600 })
 * // 'nw_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict'
 */
export function sessionSetCookie(value: string, options: SessionCookieOptions): string {
  const parts = [
    `${sessionCookieName(options.secure)}=${value}`,
    'Path=/',
    `Max-Age=${options.maxAgeInSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}
