/**
 * A bounded fuzz of the HTTP API, generated from the OpenAPI document: each operation's path
 * with real and hostile names, its query parameters, and a body drawn from its JSON schema, then
 * mutated (NUL, lone surrogates, deep nesting, huge strings, wrong types, encoded slashes), sent
 * to a real in-process server (PGlite). No answer may be a 5xx; requests refused for their token
 * change nothing; the server stays healthy. The seed is printed on failure; replay with
 * NW_FUZZ_SEED=<seed> (NW_FUZZ_RUNS=<n> for a longer run; NW_FUZZ_BUDGET_MS bounds its time).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildOpenApiDocument } from './openapi.js';
import { startServer, type RunningServer } from './server.js';
import { rawRequest } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RUNS = Number(process.env.NW_FUZZ_RUNS ?? 2000);
// A busy CI machine gets fewer requests rather than a hung suite: the run stops after this long.
const TIME_BUDGET_IN_MS = Number(process.env.NW_FUZZ_BUDGET_MS ?? 50_000);
const SEED = process.env.NW_FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.NW_FUZZ_SEED);

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  $ref?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
  maximum?: number;
  additionalProperties?: unknown;
};
type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content: Record<string, { schema: Schema }> };
        parameters?: Array<{ $ref?: string; name?: string }>;
        security?: unknown[];
      }
    >
  >;
  components: { schemas: Record<string, Schema>; parameters: Record<string, { name: string; in: string }> };
};

const doc = buildOpenApiDocument() as unknown as Doc;
const deref = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()!]! : s);

/** Strings an attacker tries. */
const hostileString = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfffy',
    '\u202e',
    '../../etc/passwd',
    '%2F',
    'a/b',
    '\\',
    '\n',
    '{{x}}',
    "'; DROP TABLE resources;--",
    '$(reboot)',
    '\u00ff\u0100',
    '🦀',
    '',
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(5_000, 100_000).map((n) => 'A'.repeat(n)),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(null, true, -1, 1e308, -0, 2 ** 53 + 1, [], {}, [[[[]]]]),
  fc.integer({ min: 60, max: 200 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown),
  fc.dictionary(hostileString, fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

/** Values that follow a JSON schema (roughly: enough to reach past the schema into the handlers). */
function fromSchema(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a) => fromSchema(a, depth + 1)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      if (depth > 6 || !s.properties) return fc.constant({});
      const required = new Set(s.required ?? []);
      const entries = Object.entries(s.properties).map(([k, v]) => [k, fromSchema(v, depth + 1)] as const);
      return fc.record(Object.fromEntries(entries), { requiredKeys: [...required].filter((k) => k in s.properties!) });
    }
    case 'array':
      return s.items ? fc.array(fromSchema(s.items, depth + 1), { maxLength: 3 }) : fc.constant([]);
    case 'integer':
      return fc.integer({ min: s.minimum ?? -10, max: Math.min(s.maximum ?? 100_000, 2 ** 31) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'string':
      return fc.oneof(
        {
          weight: 4,
          arbitrary: fc.constantFrom(
            'westus',
            'eastus',
            'TCP',
            '10.0.0.1',
            `/subscriptions/${SUB}/resourceGroups/fuzzrg/providers/Microsoft.Compute/virtualMachines/vm1`,
            'http://127.0.0.1:1/hook',
            'nwlocal',
          ),
        },
        { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
        // Resource ids an attacker writes: bad percent-encoding, encoded slashes, other types' ids.
        {
          weight: 1,
          arbitrary: fc
            .constantFrom('%E0%A4%A', 'vm1%2Fextensions%2Fx', '%ED%A0%80', 'nw1', '..')
            .map((n) => `/subscriptions/${SUB}/resourceGroups/fuzzrg/providers/Microsoft.Compute/virtualMachines/${n}`),
        },
        {
          weight: 1,
          arbitrary: fc.constant(
            `/subscriptions/${SUB}/resourceGroups/fuzzrg/providers/Microsoft.Network/networkWatchers/nw1`,
          ),
        },
      );
    default:
      return fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null));
  }
}

/** Replaces one place of a value with a hostile one. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[path[0]! % keys.length]!;
  const copy: Record<string, unknown> = Array.isArray(value)
    ? ([...value] as unknown as Record<string, unknown>)
    : { ...(value as Record<string, unknown>) };
  copy[key] = mutate((value as Record<string, unknown>)[key], path.slice(1), replacement);
  return copy;
}

/** Names for path parameters: the fuzz setup's real resources, other valid names and hostile ones (sent percent-encoded, or raw). */
const paramValue = (name: string): fc.Arbitrary<string> => {
  const real: Record<string, string[]> = {
    subscriptionId: [SUB],
    resourceGroupName: ['fuzzrg', 'NetworkWatcherRG'],
    networkWatcherName: ['nw1', 'NetworkWatcher_westus'],
    packetCaptureName: ['pc1'],
    vmName: ['vm1'],
    vmExtensionName: ['NetworkWatcherAgentLinux'],
    accountName: ['nwlocal'],
    ruleName: ['rule1'],
    actionGroupName: ['ag1'],
    alertCaptureName: ['ac1'],
    location: ['westus'],
    resourceProviderNamespace: ['Microsoft.Network'],
    operationId: ['00000000-0000-0000-0000-000000000000'],
    alertId: ['x'],
  };
  const encoded = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(real[name] ?? ['x'])) },
    { weight: 1, arbitrary: hostileString.map((v) => pct(v.slice(0, 400))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%00',
        '%ED%A0%80',
        '%E0%A4%A',
        '%',
        '%2F..%2F',
        'nw1%2FpacketCaptures%2Fpc1',
        '..',
        '%20',
        'a%0Ab',
      ),
    },
  );
  return encoded;
};

/** Percent-encodes like encodeURIComponent, and a lone surrogate as the bytes a careless client would send (not UTF-8). */
function pct(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return `%ED%A0%80${encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'))}`;
  }
}

function send(
  server: RunningServer,
  method: string,
  path: string,
  token: string | null,
  body: string | undefined,
): Promise<{ status: number; body: string }> {
  // Only each answer's start is kept: a run sends thousands.
  return rawRequest(server.url, method, path, token, body, { maxBodyChars: 4096 });
}

let server: RunningServer;
const dataDir = mkdtempSync(join(tmpdir(), 'nw-fuzz-'));
before(async () => {
  server = await startServer({
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir,
    defaultLocation: 'westus',
    subscriptionId: SUB,
    logLevel: 'silent',
  });
  const admin = (method: string, path: string, body: unknown) =>
    send(server, method, `${path}?api-version=2022-01-01`, server.adminToken, JSON.stringify(body));
  const rg = `/subscriptions/${SUB}/resourceGroups/fuzzrg`;
  await admin('PUT', `${rg}/providers/Microsoft.Network/networkWatchers/nw1`, { location: 'westus' });
  await admin('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux`, {
    location: 'westus',
  });
  await admin('PUT', `${rg}/providers/Microsoft.Insights/actionGroups/ag1`, {
    location: 'global',
    properties: { groupShortName: 'ag1', enabled: true, webhookReceivers: [] },
  });
  await admin('PUT', `${rg}/providers/Netwatcher/alertCaptures/ac1`, { properties: {} });
});
after(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Everything the API lists (etags included): refused requests must leave it as it was. */
async function snapshot(): Promise<string> {
  const lists = [
    'Microsoft.Network/networkWatchers',
    'Microsoft.Compute/virtualMachines',
    'Microsoft.Storage/storageAccounts',
    'Microsoft.Insights/metricAlerts',
    'Microsoft.Insights/actionGroups',
    'Netwatcher/alertCaptures',
  ];
  const answers = await Promise.all(
    lists.map((l) =>
      send(server, 'GET', `/subscriptions/${SUB}/providers/${l}?api-version=2022-01-01`, server.adminToken, undefined),
    ),
  );
  return answers.map((a) => a.body.replace(/"lastSeen[^,}]*[,}]/g, '')).join('\n');
}

test(
  `API fuzz from the OpenAPI schemas (seed ${SEED}, up to ${RUNS} requests in ${TIME_BUDGET_IN_MS / 1000} s): no 5xx, refused requests change nothing, the server stays healthy`,
  { timeout: 240_000 },
  async () => {
    const operations = Object.entries(doc.paths).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ template, method: method.toUpperCase(), op })),
    );
    const requestArb = fc
      .record({
        operation: fc.constantFrom(...operations),
        params: fc.dictionary(fc.constantFrom('a'), fc.string(), { maxKeys: 0 }), // placeholder, filled below per operation
        token: fc.constantFrom<'admin' | 'none' | 'wrong'>('admin', 'admin', 'admin', 'none', 'wrong'),
        mutatePath: fc.array(fc.nat(), { maxLength: 4 }),
        mutation: fc.option(hostileValue, { freq: 2 }),
        // Query values are sent percent-encoded, but for a few malformed escapes sent raw (a hostile
        // string that merely began with '%' was once sent raw too, which Node's client refuses to send).
        extraQuery: fc.option(
          fc.tuple(
            fc.constantFrom(
              'api-version',
              '$skiptoken',
              'deleteFiles',
              'pageCount',
              'code',
              'metricnames',
              'timespan',
              'x',
            ),
            fc.oneof(
              hostileString.map((v) => pct(v.slice(0, 2000))),
              fc.constantFrom('%00', '%ED%A0%80', '%'),
            ),
          ),
          { freq: 2 },
        ),
        // Raw bodies: broken JSON, and nesting far past the limit (as text: a value that deep would overflow the reporter).
        rawBody: fc.option(
          fc.oneof(
            fc.constantFrom('{', '[1,', 'null', '"x"', '\u0000', '{"location":"\\ud800"}', '{"location":"a\\u0000"}'),
            fc.integer({ min: 65, max: 100_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
            fc.integer({ min: 65, max: 20_000 }).map((d) => '{"properties":'.repeat(d) + '1' + '}'.repeat(d)),
          ),
          { freq: 8 },
        ),
      })
      .chain((r) => {
        const names = [...r.operation.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
        const body = r.operation.op.requestBody
          ? fromSchema(r.operation.op.requestBody.content['application/json']!.schema)
          : fc.constant(undefined);
        return fc
          .tuple(fc.constant(r), fc.tuple(...names.map((n) => paramValue(n))), body)
          .map(([req, values, generated]) => ({ ...req, names, values, generated }));
      });

    let count = 0;
    let compared = 0;
    const startedAt = Date.now();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        let path = r.operation.template;
        r.names.forEach((n, i) => {
          path = path.replace(`{${n}}`, r.values[i]!);
        });
        const query = `api-version=2022-01-01${r.extraQuery ? `&${r.extraQuery[0]}=${r.extraQuery[1]}` : ''}`;
        let body: string | undefined;
        if (r.rawBody !== null) body = r.rawBody;
        else if (r.generated !== undefined || r.mutation !== null)
          body = JSON.stringify(
            r.mutation !== null ? mutate(r.generated ?? {}, r.mutatePath, r.mutation) : r.generated,
          );
        if (body === undefined && (r.operation.method === 'PUT' || r.operation.method === 'POST')) body = '';
        const token = r.token === 'admin' ? server.adminToken : r.token === 'wrong' ? 'nwa_wrong' : null;
        const refused = r.token !== 'admin' && !r.operation.op.security;
        // One refused request in eight is checked against the state before it (each check costs six GETs).
        const check = refused && count % 8 === 0;
        const before = check ? await snapshot() : '';
        const answer = await send(server, r.operation.method, `${path}?${query}`, token, body);
        count++;
        const what = `${r.operation.method} ${path}?${query.slice(0, 200)} (${r.token}) → ${answer.status} ${answer.body.slice(0, 300)}\nbody: ${String(body).slice(0, 300)}`;
        assert.ok(answer.status < 500, what);
        if (refused) assert.ok(answer.status === 401 || answer.status === 400, what);
        if (check) {
          compared++;
          assert.equal(await snapshot(), before, `a refused request changed state: ${what}`);
        }
      }),
      {
        numRuns: RUNS,
        seed: SEED,
        endOnFailure: true,
        interruptAfterTimeLimit: TIME_BUDGET_IN_MS,
        markInterruptAsFailure: false,
        reporter: (out) => {
          if (out.failed)
            throw new Error(
              `API fuzz failed after ${out.numRuns} requests: replay with NW_FUZZ_SEED=${out.seed}\n${String((out.errorInstance as Error | undefined)?.message ?? out.errorInstance).slice(0, 3000)}`,
            );
        },
      },
    );
    assert.ok(count === RUNS || count >= 300, `only ${count} requests within ${TIME_BUDGET_IN_MS} ms`);
    console.log(
      `fuzz: ${count} requests in ${Date.now() - startedAt} ms, ${compared} refused ones compared with the state before them`,
    );
    assert.ok(compared > count / 40, `${compared} refused requests compared`);

    const health = await send(server, 'GET', '/healthz', null, undefined);
    assert.equal(health.status, 200);
    const list = await send(
      server,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers?api-version=2022-01-01`,
      server.adminToken,
      undefined,
    );
    assert.equal(list.status, 200, 'the server still answers');
  },
);
