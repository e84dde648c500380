import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { CliContext } from '../context.js';
import { DEFAULT_SUBSCRIPTION_ID } from '../config.js';

/**
 * For the CLI's unit tests only: a real local HTTP server that answers with canned ARM
 * responses, so the client's own protocol handling (LRO headers, errors, streaming) is tested
 * over real sockets. End-to-end tests against the real server live in test/.
 */

/** A request the canned server received. */
export interface CannedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text, or null. */
  body: unknown;
}

/** A canned answer. */
export interface CannedReply {
  status: number;
  headers?: Record<string, string>;
  /** JSON body (absent: empty). */
  body?: unknown;
  /** Raw bytes instead of JSON. */
  raw?: Buffer;
}

/** Produces the answer to a request. */
export type CannedHandler = (request: CannedRequest) => CannedReply | Promise<CannedReply>;

/** A started canned server. */
export interface CannedArmServer {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Every request received, in order. */
  requests: CannedRequest[];
  /** Answers METHOD PATH (exact path, case-insensitive, or a regular expression) with a handler or a fixed reply. */
  on(method: string, path: string | RegExp, reply: CannedHandler | CannedReply): void;
  close(): Promise<void>;
}

/** Starts a canned server on 127.0.0.1 and a free port. Unmatched requests get an ARM 404. */
export async function startCannedArmServer(): Promise<CannedArmServer> {
  const routes: Array<{ method: string; path: string | RegExp; handler: CannedHandler }> = [];
  const requests: CannedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        if (text.length > 0) {
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        }
        const request: CannedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body,
        };
        requests.push(request);
        const route = routes.find(
          (r) =>
            r.method === request.method &&
            (typeof r.path === 'string'
              ? r.path.toLowerCase() === request.path.toLowerCase()
              : r.path.test(request.path)),
        );
        let reply: CannedReply;
        try {
          reply = route
            ? await route.handler(request)
            : {
                status: 404,
                body: {
                  error: { code: 'NotFound', message: `no canned answer for ${request.method} ${request.path}` },
                },
              };
        } catch (error) {
          reply = { status: 500, body: { error: { code: 'InternalServerError', message: String(error) } } };
        }
        const headers: Record<string, string> = { ...(reply.headers ?? {}) };
        let payload: Buffer | undefined = reply.raw;
        if (payload === undefined && reply.body !== undefined) {
          payload = Buffer.from(JSON.stringify(reply.body));
          headers['content-type'] ??= 'application/json; charset=utf-8';
        }
        if (payload !== undefined && headers['content-length'] === undefined)
          headers['content-length'] = String(payload.length);
        res.writeHead(reply.status, headers);
        res.end(payload);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on(method, path, reply) {
      routes.push({ method: method.toUpperCase(), path, handler: typeof reply === 'function' ? reply : () => reply });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A CliContext whose stdout and stderr are collected, talking to `serverUrl`. */
export interface TestContext extends CliContext {
  /** Everything written to out so far. */
  stdout(): string;
  /** Everything written to err so far. */
  stderr(): string;
}

/** Builds a test context (token `test-token`, the zero subscription, 10 ms polls). */
export function createTestContext(serverUrl: string, overrides: Partial<CliContext> = {}): TestContext {
  let outText = '';
  let errText = '';
  const out = new Writable({
    write: (chunk: Buffer, _encoding, callback) => ((outText += chunk.toString('utf8')), callback()),
  });
  const err = new Writable({
    write: (chunk: Buffer, _encoding, callback) => ((errText += chunk.toString('utf8')), callback()),
  });
  return {
    config: { server: serverUrl, token: 'test-token', subscriptionId: DEFAULT_SUBSCRIPTION_ID },
    out,
    err,
    fetch: globalThis.fetch,
    pollIntervalInMs: 10,
    ...overrides,
    stdout: () => outText,
    stderr: () => errText,
  };
}

/** The subscription scope of the canned resources. */
export const TEST_SUB = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`;

/** Names used by the canned world (the seed's placeholders, filled). */
export const WORLD = {
  resourceGroup: 'myRG',
  vmName: 'myVM',
  location: 'westcentralus',
  watcherGroup: 'NetworkWatcherRG',
  watcherName: 'NetworkWatcher_westcentralus',
  storageGroup: 'storageRG',
  storageName: 'gwteststorage123abc',
} as const;

/**
 * Installs canned answers for the seed's commands: a VM in westcentralus, its location's
 * watcher, one storage account, the agent extension, and packet captures kept in memory with
 * Azure-style long-running operations (201/202 + Azure-AsyncOperation [+ Location]).
 * `captureStatus` is what queryStatus reports.
 */
export function installCannedWorld(
  server: CannedArmServer,
  captureStatus: () => Record<string, unknown> = () => ({
    packetCaptureStatus: 'Stopped',
    stopReason: 'TimeExceeded',
    captureStartTime: '2016-12-06T17:20:01.5671279Z',
    packetCaptureError: [],
  }),
): { captures: Map<string, Record<string, unknown>> } {
  const rgPath = `${TEST_SUB}/resourceGroups/${WORLD.resourceGroup}`;
  const vmId = `${rgPath}/providers/Microsoft.Compute/virtualMachines/${WORLD.vmName}`;
  const watcherId = `${TEST_SUB}/resourceGroups/${WORLD.watcherGroup}/providers/Microsoft.Network/networkWatchers/${WORLD.watcherName}`;
  const storageId = `${TEST_SUB}/resourceGroups/${WORLD.storageGroup}/providers/Microsoft.Storage/storageAccounts/${WORLD.storageName}`;
  const captures = new Map<string, Record<string, unknown>>();
  let operation = 0;
  const asyncHeaders = (withLocation: boolean) => {
    const id = ++operation;
    const headers: Record<string, string> = {
      'azure-asyncoperation': `${server.url}${TEST_SUB}/providers/Microsoft.Network/locations/${WORLD.location}/operations/${id}?api-version=2022-01-01`,
    };
    if (withLocation)
      headers['location'] =
        `${server.url}${TEST_SUB}/providers/Microsoft.Network/locations/${WORLD.location}/operationResults/${id}?api-version=2022-01-01`;
    return headers;
  };
  server.on('GET', /\/operations\/\d+$/, { status: 200, body: { status: 'Succeeded' } });

  server.on('GET', vmId, {
    status: 200,
    body: {
      id: vmId,
      name: WORLD.vmName,
      location: WORLD.location,
      type: 'Microsoft.Compute/virtualMachines',
      properties: { provisioningState: 'Succeeded', netwatcher: { agentConnected: true } },
    },
  });
  server.on('GET', `${TEST_SUB}/providers/Microsoft.Network/networkWatchers`, {
    status: 200,
    body: {
      value: [
        {
          id: watcherId,
          name: WORLD.watcherName,
          location: WORLD.location,
          type: 'Microsoft.Network/networkWatchers',
          etag: 'W/"w"',
          properties: { provisioningState: 'Succeeded' },
        },
      ],
    },
  });
  server.on('GET', `${TEST_SUB}/providers/Microsoft.Storage/storageAccounts`, {
    status: 200,
    body: {
      value: [
        {
          id: storageId,
          name: WORLD.storageName,
          location: WORLD.location,
          kind: 'StorageV2',
          type: 'Microsoft.Storage/storageAccounts',
          properties: {
            provisioningState: 'Succeeded',
            primaryEndpoints: { blob: `${server.url}/blobs/${WORLD.storageName}/` },
            backend: { type: 'local' },
          },
        },
      ],
    },
  });

  const extension = (name: string) => ({
    id: `${vmId}/extensions/${name}`,
    name,
    type: 'Microsoft.Compute/virtualMachines/extensions',
    location: WORLD.location,
    properties: {
      publisher: 'Microsoft.Azure.NetworkWatcher',
      type: 'NetworkWatcherAgentLinux',
      typeHandlerVersion: '1.4',
      autoUpgradeMinorVersion: true,
      provisioningState: 'Succeeded',
      settings: null,
    },
  });
  server.on('PUT', new RegExp(`^${vmId}/extensions/[^/]+$`), (req) => {
    const name = req.path.split('/').pop()!;
    const resource = extension(name);
    return {
      status: 201,
      headers: asyncHeaders(false),
      body: {
        ...resource,
        properties: {
          ...resource.properties,
          provisioningState: 'Creating',
          enrollmentToken: 'one-time-token',
          installCommand: `nw agent --server ${server.url} --token one-time-token`,
        },
      },
    };
  });
  server.on('GET', new RegExp(`^${vmId}/extensions/[^/]+$`), (req) => ({
    status: 200,
    body: extension(req.path.split('/').pop()!),
  }));
  server.on('GET', `${vmId}/extensions`, { status: 200, body: { value: [extension('NetworkWatcherAgentLinux')] } });

  const capturePath = new RegExp(`^${watcherId}/packetCaptures/([^/]+)$`, 'i');
  const nameOf = (path: string) =>
    decodeURIComponent(capturePath.exec(path)?.[1] ?? /packetCaptures\/([^/]+)/.exec(path)![1]!);
  const notFound = (name: string): CannedReply => ({
    status: 404,
    body: { error: { code: 'PacketCaptureNotFound', message: `Packet capture '${name}' was not found.` } },
  });
  server.on('PUT', capturePath, (req) => {
    const name = nameOf(req.path);
    const properties = (req.body as { properties: Record<string, unknown> }).properties;
    const filters = ((properties['filters'] as Array<Record<string, string>> | undefined) ?? []).map((f) => ({
      protocol: 'Any',
      localIPAddress: '',
      localPort: '',
      remoteIPAddress: '',
      remotePort: '',
      ...f,
    }));
    const storageLocation = properties['storageLocation'] as Record<string, string>;
    const resource = {
      name,
      id: `${watcherId}/packetCaptures/${name}`,
      etag: 'W/"b8cf3528"',
      type: 'Microsoft.Network/networkWatchers/packetCaptures',
      properties: {
        bytesToCapturePerPacket: 0,
        totalBytesPerSession: 1073741824,
        timeLimitInSeconds: 18000,
        scope: { include: [], exclude: [] },
        ...properties,
        filters,
        storageLocation: {
          ...storageLocation,
          storagePath: storageLocation['storageId']
            ? `${server.url}/blobs/${WORLD.storageName}/network-watcher-logs/x.cap`
            : '',
        },
        provisioningState: 'Updating',
      },
    };
    captures.set(name.toLowerCase(), resource);
    return { status: 201, headers: asyncHeaders(false), body: resource };
  });
  server.on('GET', capturePath, (req) => {
    const found = captures.get(nameOf(req.path).toLowerCase()) as { properties: Record<string, unknown> } | undefined;
    return found
      ? { status: 200, body: { ...found, properties: { ...found.properties, provisioningState: 'Succeeded' } } }
      : notFound(nameOf(req.path));
  });
  server.on('GET', `${watcherId}/packetCaptures`, () => ({ status: 200, body: { value: [...captures.values()] } }));
  server.on('DELETE', capturePath, (req) => {
    const name = nameOf(req.path);
    if (!captures.delete(name.toLowerCase())) return { status: 204 };
    return { status: 202, headers: asyncHeaders(true) };
  });
  const results = new Map<string, CannedReply>();
  server.on('POST', new RegExp(`^${watcherId}/packetCaptures/[^/]+/(queryStatus|stop)$`, 'i'), (req) => {
    const name = nameOf(req.path);
    if (!captures.has(name.toLowerCase())) return notFound(name);
    const headers = asyncHeaders(true);
    const resultPath = new URL(headers['location']!).pathname;
    const isStatus = req.path.toLowerCase().endsWith('/querystatus');
    results.set(
      resultPath,
      isStatus
        ? { status: 200, body: { name, id: `${watcherId}/packetCaptures/${name}`, ...captureStatus() } }
        : { status: 200 },
    );
    return { status: 202, headers };
  });
  server.on(
    'GET',
    /\/operationResults\/\d+$/,
    (req) =>
      results.get(req.path) ?? {
        status: 404,
        body: { error: { code: 'OperationNotFound', message: 'no such operation' } },
      },
  );
  return { captures };
}
