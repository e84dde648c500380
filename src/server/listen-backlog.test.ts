/**
 * Issue 17, reconnect storms: the server's listening socket holds at most LISTEN_BACKLOG
 * connections for accepting, read from the kernel (`ss`: a listening socket's Send-Q is its
 * backlog). With the kernel's 4,096 a loaded server drained its queue more slowly than the
 * agents' 10 s handshake timeout and accepted only connections already given up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANDSHAKE_TIMEOUT_IN_MS as AGENT_HANDSHAKE_TIMEOUT_IN_MS } from '../agent/connection.js';
import { LISTEN_BACKLOG, startServer, type RunningServer } from './server.js';

/** Handshakes a second a loaded server completed in a 10,000-agent storm (bench/scale, 3 December). */
const LOADED_ADMISSIONS_PER_SECOND = 170;

let server: RunningServer;
const dataDir = mkdtempSync(join(tmpdir(), 'nw-listen-backlog-'));

before(async () => {
  server = await startServer({
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir,
    defaultLocation: 'westcentralus',
    subscriptionId: '00000000-0000-0000-0000-000000000000',
    logLevel: 'silent',
  });
});

after(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the listening socket queues no more connections than a loaded server accepts within the agents’ timeout', () => {
  const port = new URL(server.url).port;
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const [state, , sendQ] = out.trim().split(/\s+/);
  assert.equal(state, 'LISTEN', out);
  assert.equal(Number(sendQ), LISTEN_BACKLOG, 'the kernel holds the backlog the server asked for');
  assert.ok(
    (LISTEN_BACKLOG / LOADED_ADMISSIONS_PER_SECOND) * 1000 < AGENT_HANDSHAKE_TIMEOUT_IN_MS,
    'a full queue drains before its last connection’s agent gives up',
  );
});
