// The portal's one way to the server: the same ARM API every client uses, authenticated by the
// session cookie, with the session's CSRF token on every change.

/** Header the server checks on changes made with a session cookie (src/web/portal-auth.ts). */
const CSRF_HEADER = 'x-nw-csrf-token';
/** Any api-version is accepted; this is the one Azure's network SDK sends. */
const API_VERSION = '2024-05-01';

/** An error as the API gave it: its stable code, message and the field it names. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target: string | undefined,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

/** What sign-in and the session route answer. */
export interface SessionInfo {
  signedIn: boolean;
  principal?: string;
  csrfToken?: string;
  subscriptionId: string;
  ssoSignInUrl?: string;
}

let csrfToken = '';
let onSignedOut: () => void = () => {};

/** Remembers the session's CSRF token (kept in memory only) and what to do when the session ends. */
export function rememberSession(info: SessionInfo, signedOut: () => void): void {
  csrfToken = info.csrfToken ?? '';
  onSignedOut = signedOut;
}

async function failureOf(res: Response): Promise<ApiFailure> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; target?: string } };
    if (body.error?.message)
      return new ApiFailure(res.status, body.error.code ?? String(res.status), body.error.message, body.error.target);
  } catch {
    /* not JSON: fall through */
  }
  return new ApiFailure(res.status, String(res.status), text.trim() || `${res.status} ${res.statusText}`, undefined);
}

/** The URL of an API path with api-version added (download links use it too). */
export function apiUrl(path: string, query: Record<string, string> = {}): string {
  const params = new URLSearchParams(
    path.startsWith('/subscriptions/') ? { 'api-version': API_VERSION, ...query } : query,
  );
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

/** Calls the API; the answer's JSON (null when empty), or an ApiFailure carrying the API's own error. */
export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  query: Record<string, string> = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers[CSRF_HEADER] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(apiUrl(path, query), {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) {
    const failure = await failureOf(res);
    if (res.status === 401 && !path.startsWith('/portal/api/sign-in')) onSignedOut();
    throw failure;
  }
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** An ARM list's items (`value`). */
export async function list<T>(path: string, query: Record<string, string> = {}): Promise<T[]> {
  return (await api<{ value?: T[] }>('GET', path, undefined, query))?.value ?? [];
}

/** The resource group of an ARM id. */
export function resourceGroupOf(id: string): string {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1] ?? '';
}
