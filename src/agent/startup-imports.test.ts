// What an idle agent loads (issue 18, bench/agent-idle): importing the agent and the CLI that runs
// `nw agent` must not load the server's database drivers, the storage SDKs or prom-client — the
// agent never loads the SDKs (its uploads speak Azure's and S3's REST calls themselves), and
// prom-client is loaded when /metrics is served. Before, the agent's
// start pulled all of them in (640 ESM and 205 CommonJS modules; 88 MiB resident idle).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NOT_AT_START = [
  '@azure/storage-blob',
  '@aws-sdk/',
  '/pg/',
  '@electric-sql/pglite',
  'prom-client',
  '/src/store/',
  // The analyses and the dissectors: `nw pcap …` and `packet-capture analyze` import them when they
  // run (src/cli/commands/analyze-actions.ts); the agent reads pcap files with format.ts and
  // stream-parser.ts only.
  '/src/analysis/',
  '/src/cli/commands/analyze-actions.',
];
// The only files of src/pcap an agent needs at start (record framing; no dissector).
const PCAP_AT_START = new Set(['format.ts', 'stream-parser.ts', 'pending-bytes.ts']);

test("importing the agent and nw's CLI loads no storage SDK, database driver, prom-client or analysis module", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-imports-'));
  try {
    const log = join(dir, 'resolved.txt');
    // A resolve hook sees every module an ESM import reaches, CommonJS packages' entries included.
    const hook = `import { appendFileSync } from 'node:fs'; export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`;
    const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`;
    await execFileAsync(
      process.execPath,
      [
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--import',
        'tsx',
        '--input-type=module',
        '--eval',
        "await import('./src/agent/index.ts'); await import('./src/cli/program.ts'); process.exit(0);",
      ],
      { cwd: ROOT, timeout: 60000 },
    );
    const resolved = (await readFile(log, 'utf8')).split('\n');
    assert.ok(
      resolved.some((u) => u.includes('/src/agent/agent.ts')),
      'the hook saw the agent',
    );
    for (const name of NOT_AT_START) {
      const hits = resolved.filter((u) => u.includes(name));
      assert.deepEqual(hits.slice(0, 3), [], `${name} is not loaded at start`);
    }
    const pcapFiles = resolved.filter((u) => u.includes('/src/pcap/')).map((u) => u.slice(u.lastIndexOf('/') + 1));
    assert.deepEqual(
      [...new Set(pcapFiles.filter((f) => !PCAP_AT_START.has(f)))],
      [],
      'only the pcap framing modules are loaded at start',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
