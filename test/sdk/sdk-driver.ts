/**
 * Runs Azure's own SDK clients (@azure/arm-network, @azure/arm-compute) in a process of their
 * own and answers calls from a test, one JSON line per call on stdin and per answer on stdout.
 *
 * Why a process: the clients are used as users use them, trusting a self-signed server through
 * NODE_EXTRA_CA_CERTS, which Node reads only at process start. The clients are unchanged apart
 * from the endpoint, a credential returning the netwatcher token, no retries (failures come back
 * at once) and — for plain http only — the SDK's documented http set-up
 * (`allowInsecureConnection` and a bearer policy that does not insist on https).
 *
 * Environment: NW_SDK_ENDPOINT, NW_SDK_TOKEN, NW_SDK_SUBSCRIPTION, NW_SDK_INSECURE_HTTP=1.
 * Call:   {"id":1,"client":"network","method":"packetCaptures.beginCreateAndWait","args":[…]}
 * Answer: {"id":1,"ok":true,"value":…} or {"id":1,"ok":false,"error":{"name","message","statusCode","code"}}
 * Calls run concurrently (answers may come out of order): a test can start a long-running
 * operation and inspect the capture while the SDK polls.
 */
import { createInterface } from 'node:readline';
import { NetworkManagementClient } from '@azure/arm-network';
import { ComputeManagementClient } from '@azure/arm-compute';

/** One call from the test. */
interface SdkCall {
  id: number;
  client: 'network' | 'compute';
  method: string;
  args: unknown[];
}

const endpoint = process.env.NW_SDK_ENDPOINT ?? '';
const token = process.env.NW_SDK_TOKEN ?? '';
const subscriptionId = process.env.NW_SDK_SUBSCRIPTION ?? '00000000-0000-0000-0000-000000000000';
const insecureHttp = process.env.NW_SDK_INSECURE_HTTP === '1';

const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };
const options = {
  endpoint,
  retryOptions: { maxRetries: 0 },
  ...(insecureHttp ? { allowInsecureConnection: true } : {}),
};
const clients = {
  network: new NetworkManagementClient(credential, subscriptionId, options),
  compute: new ComputeManagementClient(credential, subscriptionId, options),
};

/** A client's request pipeline (both SDKs expose one). */
interface Pipeline {
  removePolicy(options: { name: string }): unknown;
  addPolicy(policy: {
    name: string;
    sendRequest(
      request: { headers: { set(name: string, value: string): void } },
      next: (request: unknown) => Promise<unknown>,
    ): Promise<unknown>;
  }): void;
}

if (insecureHttp) {
  // The bearer policy refuses non-https URLs whatever allowInsecureConnection says
  // (azure-sdk-wire-notes.md §1), so over plain http it is swapped for one that sets the header.
  for (const client of Object.values(clients)) {
    const pipeline = (client as unknown as { pipeline: Pipeline }).pipeline;
    pipeline.removePolicy({ name: 'bearerTokenAuthenticationPolicy' });
    pipeline.addPolicy({
      name: 'netwatcherBearer',
      sendRequest: (request, next) => {
        request.headers.set('Authorization', `Bearer ${token}`);
        return next(request);
      },
    });
  }
}

/** Calls `group.method(...args)` on a client; lists (paged iterators) are read to the end. */
async function invoke(call: SdkCall): Promise<unknown> {
  const [group, method] = call.method.split('.') as [string, string];
  const target = (clients[call.client] as unknown as Record<string, Record<string, (...a: unknown[]) => unknown>>)[
    group
  ];
  const fn = target?.[method];
  if (typeof fn !== 'function') throw new TypeError(`no SDK method ${call.client}.${call.method}`);
  const result = await fn.apply(target, call.args);
  if (result && typeof result === 'object' && Symbol.asyncIterator in result) {
    const items: unknown[] = [];
    for await (const item of result as AsyncIterable<unknown>) items.push(item);
    return items;
  }
  return result;
}

function errorInfo(error: unknown): Record<string, unknown> {
  const e = error as { name?: string; message?: string; statusCode?: number; code?: string };
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error), statusCode: e?.statusCode, code: e?.code };
}

function answer(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  const call = JSON.parse(line) as SdkCall;
  invoke(call).then(
    (value) => answer({ id: call.id, ok: true, value: value ?? null }),
    (error: unknown) => answer({ id: call.id, ok: false, error: errorInfo(error) }),
  );
});
lines.on('close', () => process.exit(0));
answer({ id: 0, ok: true, value: 'ready' });
