/**
 * Child of test/db-disk-full.test.ts, run inside a private mount namespace (`unshare -m`): mounts
 * a small tmpfs on the folder it is given (gone with the namespace), runs a server whose data
 * folder is on it, fills the disk, and prints what the API and a start on the full disk answered
 * as one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server/index.js';
import { loadOrCreateSecretKey } from '../../src/store/index.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const root = process.argv[2]!;
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'nw-test-tmpfs', root], {
  encoding: 'utf8',
});
if (mounted.status !== 0) throw new Error(`mount failed: ${mounted.stderr}`);

/** Writes filler files until the disk is full. */
function fill(dir: string): void {
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(dir, `fill-${i}`), Buffer.alloc(1024 * 1024));
    } catch {
      break;
    }
  }
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(dir, `fill-small-${i}`), Buffer.alloc(4096));
    } catch {
      break;
    }
  }
}

const result: Record<string, unknown> = {};
const dataDir = join(root, 'data');
const server = await startServer({
  listenHost: '127.0.0.1',
  listenPort: 0,
  dataDir,
  defaultLocation: 'l',
  subscriptionId: SUB,
  logLevel: 'silent',
});
fill(root);
const answers: Array<{ status: number; code: string | null }> = [];
for (let i = 0; i < 200; i++) {
  // Random (incompressible) tags, so every write needs new pages.
  const res = await fetch(
    `${server.url}/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw${i}?api-version=2024-01-01`,
    {
      method: 'PUT',
      headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ location: `loc${i}`, tags: { blob: randomBytes(300 * 1024).toString('base64') } }),
    },
  );
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  answers.push({ status: res.status, code: body?.error?.code ?? null });
  if (res.status >= 400) {
    result.firstErrorMessage = body?.error?.message ?? null;
    break;
  }
}
result.answers = answers;
result.healthz = (await fetch(`${server.url}/healthz`)).status;
await server.close().catch((e: unknown) => {
  result.closeError = String(e);
});

// A fresh data folder on the full disk (its key file made before the disk filled up).
const fresh = join(root, 'fresh');
mkdirSync(fresh, { mode: 0o700 });
rmSync(join(root, 'fill-0'), { force: true });
loadOrCreateSecretKey(fresh);
fill(root);
try {
  const s = await startServer({
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir: fresh,
    defaultLocation: 'l',
    subscriptionId: SUB,
    logLevel: 'silent',
  });
  result.freshStart = 'started';
  await s.close();
} catch (error) {
  result.freshStart = (error as Error).message;
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
