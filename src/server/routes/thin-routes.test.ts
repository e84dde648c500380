/**
 * Routes are thin (issue 10): a handler parses its input, calls a service and shapes the answer.
 * None reaches the store: rules and writes (and the transactions around them) live in
 * src/server/services and src/alerts. A scan of the sources, so a new route that calls
 * `ctx.store` fails here, whatever it does at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUTES = dirname(fileURLToPath(import.meta.url));

/** What references the store: its module, a context's store, or a variable of it. */
const STORE_REFERENCES: ReadonlyArray<{ what: string; pattern: RegExp }> = [
  { what: 'an import of src/store', pattern: /from\s+['"][./]*store\/[^'"]*['"]/ },
  { what: "a context's store (ctx.store, actx.store, …)", pattern: /\.store\b/ },
  { what: 'a store variable (store.…)', pattern: /(?<![\w-])store\s*\./ },
  { what: 'the Store class or a store of its own', pattern: /\b(?:Store|ActivityLogStore)\b/ },
];

/** The route sources (tests excluded), without comments (prose may say "the store."); 'no-store' headers match no pattern. */
function routeSources(): Array<{ file: string; code: string }> {
  return readdirSync(ROUTES)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((file) => ({
      file,
      code: readFileSync(join(ROUTES, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1'),
    }));
}

test('no file in src/server/routes references the store', () => {
  const sources = routeSources();
  assert.ok(sources.length >= 15, `the route files were found (${sources.length})`);
  const found = sources.flatMap(({ file, code }) =>
    STORE_REFERENCES.filter(({ pattern }) => pattern.test(code)).map(({ what }) => `${file}: ${what}`),
  );
  assert.deepEqual(found, [], 'routes call services; services call the store');
});

test('the scan finds a store reference where there is one', () => {
  const samples = [
    "import type { Store } from '../../store/index.js';",
    "const list = await ctx.store.listResources('vm');",
    'const rows = await store.list({});',
  ];
  for (const sample of samples)
    assert.ok(
      STORE_REFERENCES.some(({ pattern }) => pattern.test(sample)),
      `a reference is caught: ${sample}`,
    );
  assert.ok(!STORE_REFERENCES.some(({ pattern }) => pattern.test("reply.header('Cache-Control', 'no-store')")));
});

test('wiring is not a route: the alerts runtime lives where the server is composed', () => {
  const files = readdirSync(ROUTES);
  assert.ok(!files.includes('alerts-runtime.ts'), 'src/server/routes/alerts-runtime.ts moved to src/server/');
  assert.ok(readdirSync(join(ROUTES, '..')).includes('alerts-runtime.ts'));
});
