import type { Writable } from 'node:stream';
import type { FetchFunction } from './context.js';
import { DEFAULT_API_VERSION } from '../model/index.js';
import { ApiResponseError, ServerUnreachableError } from './errors.js';
import { maskUrlQuery, redactBody, redactHeaders } from './redact.js';

/** A parsed ARM response. */
export interface ArmResponse {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The JSON body, or null when empty. */
  body: unknown;
  /** The URL that was requested (absolute). */
  url: string;
}

/** Options of one request. */
export interface ArmRequestOptions {
  /** JSON body (PUT); POST without body sends Content-Length: 0 like the SDKs. */
  body?: unknown;
  /** Extra query parameters. */
  query?: Record<string, string | undefined>;
  /** Statuses that are not errors besides 2xx (e.g. 404 for `wait --deleted`). */
  allowStatuses?: readonly number[];
}

/** How to reach the server. */
export interface ArmClientOptions {
  /** Base URL of the server. */
  serverUrl: string;
  /** Bearer token. */
  token: string;
  /** HTTP. */
  fetch: FetchFunction;
  /** Where `--debug` lines go; absent means no debug output. */
  debug?: Writable | undefined;
}

/**
 * A small HTTP client for the server's ARM API: adds api-version and the bearer token, parses
 * JSON, turns ARM error bodies into ApiResponseError. The token is only sent to the configured server's
 * origin, never to another host a poll or download URL might name.
 * @example const vm = await client.request('GET', '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1');
 */
export class ArmClient {
  readonly serverUrl: string;
  private readonly token: string;
  private readonly fetchFn: FetchFunction;
  private readonly debugStream: Writable | undefined;

  constructor(options: ArmClientOptions) {
    this.serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchFn = options.fetch;
    this.debugStream = options.debug;
  }

  /** Sends a request and parses the JSON answer; throws ApiResponseError on a non-2xx status. */
  async request(method: string, pathOrUrl: string, options: ArmRequestOptions = {}): Promise<ArmResponse> {
    const response = await this.send(method, pathOrUrl, options);
    const text = await response.text();
    const body = parseJsonBody(text);
    if (this.debugStream)
      this.debug(`Response body: ${text.length === 0 ? '(empty)' : JSON.stringify(redactBody(body))}`);
    if (!response.ok && !(options.allowStatuses ?? []).includes(response.status))
      throw toApiError(response.status, body, text);
    return {
      status: response.status,
      headers: response.headers,
      body,
      url: response.url || this.resolveUrl(pathOrUrl, options.query),
    };
  }

  /** Sends a request and returns the raw response, for streaming downloads. Throws ApiResponseError on a non-2xx status. */
  async stream(method: string, pathOrUrl: string, options: ArmRequestOptions = {}): Promise<Response> {
    const response = await this.send(method, pathOrUrl, options);
    if (!response.ok) {
      const text = await response.text();
      throw toApiError(response.status, parseJsonBody(text), text);
    }
    return response;
  }

  /** The absolute URL for a path or URL, with api-version added when the URL has none (as the SDKs do). */
  resolveUrl(pathOrUrl: string, query?: Record<string, string | undefined>): string {
    // Absolute URLs (poll URLs the server built) are used as they are; paths hang off the base URL.
    const url = /^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl)
      ? new URL(pathOrUrl)
      : new URL(this.serverUrl + (pathOrUrl.startsWith('/') ? '' : '/') + pathOrUrl);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    if (![...url.searchParams.keys()].some((k) => k.toLowerCase() === 'api-version'))
      url.searchParams.set('api-version', DEFAULT_API_VERSION);
    return url.toString();
  }

  private async send(method: string, pathOrUrl: string, options: ArmRequestOptions): Promise<Response> {
    const url = this.resolveUrl(pathOrUrl, options.query);
    const headers = new Headers({ Accept: 'application/json', 'User-Agent': 'netwatcher-cli' });
    if (new URL(url).origin === new URL(this.serverUrl).origin) headers.set('Authorization', `Bearer ${this.token}`);
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers.set('Content-Type', 'application/json');
    } else if (method === 'POST' || method === 'PUT') {
      body = '';
    }
    if (this.debugStream) {
      this.debug(`Request URL: '${maskUrlQuery(url)}'`);
      this.debug(`Request method: '${method}'`);
      this.debug('Request headers:');
      for (const line of redactHeaders(headers.entries())) this.debug(`    ${line}`);
      if (options.body !== undefined) this.debug(`Request body: ${JSON.stringify(redactBody(options.body))}`);
    }
    let response: Response;
    try {
      response = await this.fetchFn(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    } catch (error) {
      throw new ServerUnreachableError(new URL(url).origin, error);
    }
    if (this.debugStream) {
      this.debug(`Response status: ${response.status}`);
      this.debug('Response headers:');
      for (const line of redactHeaders(response.headers.entries())) this.debug(`    ${line}`);
    }
    return response;
  }

  private debug(line: string): void {
    this.debugStream?.write(`DEBUG: ${line}\n`);
  }
}

function parseJsonBody(text: string): unknown {
  if (text.trim().length === 0) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Builds the ApiResponseError for an error response: ARM's `{"error":{…}}`, a flat `{code,message}`, or plain text. */
export function toApiError(status: number, body: unknown, text: string): ApiResponseError {
  const fallbackCode = status === 401 ? 'AuthenticationFailed' : status === 404 ? 'NotFound' : `HttpStatus${status}`;
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    const inner = (
      record['error'] !== null && typeof record['error'] === 'object' ? record['error'] : record
    ) as Record<string, unknown>;
    const code = typeof inner['code'] === 'string' ? inner['code'] : fallbackCode;
    const message = typeof inner['message'] === 'string' ? inner['message'] : text.trim() || `HTTP ${status}`;
    const target = typeof inner['target'] === 'string' ? inner['target'] : undefined;
    return new ApiResponseError(status, code, message, target);
  }
  return new ApiResponseError(status, fallbackCode, text.trim() || `the server answered HTTP ${status}`);
}
