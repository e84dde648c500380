// A test's side of a real server: admin API calls, and an agent enrolled and connected over
// loopback that says hello and records what the server sends (parsed by the protocol's schema).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import WebSocket from 'ws';
import {
  AGENT_CONNECT_PATH,
  AGENT_PROTOCOL_VERSION,
  parseServerToAgent,
  type ServerToAgent,
} from '../../model/index.js';
import type { ServerConfig } from '../config.js';
import { startServer, type RunningServer } from '../server.js';

/**
 * A server as most tests start one: on a free loopback port, its embedded database in `dataDir`,
 * location westcentralus, silent; `overrides` replace or add any setting.
 * @example server = await startLoopbackServer(dataDir, SUB, { agentMetricsBatchIntervalInSeconds: 3 });
 */
export function startLoopbackServer(
  dataDir: string,
  subscriptionId: string,
  overrides: Partial<ServerConfig> = {},
): Promise<RunningServer> {
  return startServer({
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir,
    defaultLocation: 'westcentralus',
    subscriptionId,
    logLevel: 'silent',
    ...overrides,
  });
}

/** One API call's answer: the status, the response headers and the parsed JSON body (null when empty). */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}

/**
 * An API caller on the server `server()` returns (called per request, so it may start later);
 * the token `defaultToken()` gives by default (the admin token; a test that rotates it says which).
 * `?api-version=` is added to a path without a query (none when `apiVersion` is null); a body is
 * sent as JSON, a string as written; `headers` are added to the request's.
 */
export function apiCaller(
  server: () => RunningServer,
  apiVersion: string | null = '2022-01-01',
  defaultToken: () => string | null = () => server().adminToken,
) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    token: string | null = defaultToken(),
    headers: Record<string, string> = {},
  ) => {
    const query = apiVersion === null || path.includes('?') ? '' : `?api-version=${apiVersion}`;
    const res = await fetch(`${server().url}${path}${query}`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : null) as Record<string, any>,
    } satisfies ApiAnswer;
  };
}

/** A raw request's answer: the status, the body as text, parsed when it is JSON (else null), the headers. */
export interface RawAnswer {
  status: number;
  body: string;
  json: any;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A raw HTTP request to the server at `serverUrl` (fetch would normalise the path: these send the
 * bytes as written): `token` as a bearer (none when null), a body as written (a string) or as
 * JSON, sent with its Content-Length. `maxBodyChars` keeps only the start of a long answer (a
 * fuzz run's thousands of answers); `json` is then null.
 */
export function rawRequest(
  serverUrl: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
  options: { headers?: Record<string, string>; maxBodyChars?: number } = {},
): Promise<RawAnswer> {
  const url = new URL(serverUrl);
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const maxBodyChars = options.maxBodyChars ?? Infinity;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
          ...(text !== undefined
            ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        let out = '';
        let whole = true;
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (out.length < maxBodyChars) out += c;
          else whole = false;
        });
        res.on('end', () => {
          let json: unknown = null;
          try {
            json = out && whole ? JSON.parse(out) : null;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body: out, json, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Polls `check` until it holds; throws after `timeoutInMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutInMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutInMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Enrols the VM at `vmPath` (its agent extension), connects to `serverUrl` as its agent and says
 * hello; resolves after the server's first welcome with the socket and every message received so far
 * (the array keeps growing). Each message is also handed to `onMessage`.
 */
export async function connectLoopbackAgent(options: {
  call: ReturnType<typeof apiCaller>;
  serverUrl: string;
  vmPath: string;
  hostname: string;
  onMessage?: (msg: ServerToAgent) => void;
}): Promise<{ ws: WebSocket; received: ServerToAgent[] }> {
  const { call } = options;
  const ext = await call('PUT', `${options.vmPath}/extensions/NetworkWatcherAgentLinux`, {
    properties: { publisher: 'Microsoft.Azure.NetworkWatcher', type: 'NetworkWatcherAgentLinux' },
  });
  const enrolled = await call(
    'POST',
    '/agent/v1/enroll',
    { token: ext.body.properties.enrollmentToken, hostname: options.hostname },
    null,
  );
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const ws = new WebSocket(`${options.serverUrl.replace('http', 'ws')}${AGENT_CONNECT_PATH}`, {
    headers: { Authorization: `Bearer ${enrolled.body.credential}` },
  });
  const received: ServerToAgent[] = [];
  ws.on('message', (d) => {
    const parsed = parseServerToAgent(d.toString());
    assert.ok(parsed.ok, 'every server message follows the protocol');
    received.push(parsed.message);
    options.onMessage?.(parsed.message);
  });
  await once(ws, 'open');
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocolVersion: AGENT_PROTOCOL_VERSION,
      agentVersion: 't',
      hostname: options.hostname,
      captures: [],
    }),
  );
  await waitFor(() => received.some((m) => m.type === 'welcome'));
  return { ws, received };
}
