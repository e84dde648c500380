/**
 * Issue 17, steady CPU: the server does not ping an agent it hears from when the agent keeps its
 * own side alive (`pingsWhenSilent` in its hello), and still lets a dead agent go within about two
 * intervals; an older agent is pinged every interval as before; and the real agent's connection
 * (src/agent/connection.ts) stays up on such a server with no ping from it. The interval is
 * shortened (500 ms for 10 s; the agent's 20 s and 35 s scaled alike).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { ServerConnection } from '../agent/connection.js';
import { createLogger } from '../lib/index.js';
import { AGENT_CONNECT_PATH, AGENT_PROTOCOL_VERSION } from '../model/index.js';
import { AgentHub } from './agent-hub.js';

const INTERVAL_IN_MS = 500;
const silent = createLogger({ name: 'test', level: 'silent' });
const disconnects: string[] = [];
let server: Server;
let hub: AgentHub;
let url = '';

before(async () => {
  server = createServer((_req, res) => res.end());
  hub = new AgentHub(
    silent,
    {
      authenticate: (request) =>
        Promise.resolve({ vmKey: String(request.headers['x-test-vm'] ?? 'vm'), baseUrl: 'http://127.0.0.1' }),
      onMessage: () => Promise.resolve(),
      onDisconnect: (identity) => {
        disconnects.push(identity.vmKey);
        return Promise.resolve();
      },
    },
    undefined,
    INTERVAL_IN_MS,
  );
  hub.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`;
});
after(async () => {
  await hub.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const hello = (pingsWhenSilent: boolean) => ({
  type: 'hello',
  protocolVersion: AGENT_PROTOCOL_VERSION,
  agentVersion: '0.1.0',
  hostname: 'web1',
  captures: [],
  ...(pingsWhenSilent ? { pingsWhenSilent: true } : {}),
});
const report = () => ({ type: 'metrics', at: new Date().toISOString(), values: { 'Network In Total': 1 } });

/** An agent of raw frames: says hello, then reports every `reportEveryInMs` (0: never); `autoPong` false plays a dead agent. */
async function agent(vm: string, opts: { pingsWhenSilent: boolean; reportEveryInMs: number; autoPong?: boolean }) {
  const ws = new WebSocket(url, { headers: { 'x-test-vm': vm }, autoPong: opts.autoPong ?? true });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let pings = 0;
  ws.on('ping', () => pings++);
  const openedAt = Date.now();
  const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now() - openedAt)));
  ws.send(JSON.stringify(hello(opts.pingsWhenSilent)));
  const reporter =
    opts.reportEveryInMs > 0 ? setInterval(() => ws.send(JSON.stringify(report())), opts.reportEveryInMs) : null;
  return {
    pings: () => pings,
    closed,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    stop() {
      if (reporter) clearInterval(reporter);
      ws.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an agent that keeps its side alive and reports is never pinged', async () => {
  const a = await agent('vm-reporting', { pingsWhenSilent: true, reportEveryInMs: 100 });
  await sleep(5 * INTERVAL_IN_MS);
  assert.equal(a.pings(), 0, 'its reports prove it alive');
  assert.ok(a.isOpen());
  a.stop();
});

test('an older agent (no pingsWhenSilent) is pinged every interval even while it reports', async () => {
  const a = await agent('vm-older', { pingsWhenSilent: false, reportEveryInMs: 100 });
  await sleep(5 * INTERVAL_IN_MS);
  assert.ok(a.pings() >= 4, `it needs a word from the server (${a.pings()} pings in 5 intervals)`);
  assert.ok(a.isOpen());
  a.stop();
});

test('a silent agent that keeps its side alive is pinged once it falls silent, and kept while it answers', async () => {
  const a = await agent('vm-quiet', { pingsWhenSilent: true, reportEveryInMs: 0 });
  await sleep(5 * INTERVAL_IN_MS);
  assert.ok(a.pings() >= 2 && a.pings() <= 4, `about one ping per interval of silence (${a.pings()})`);
  assert.ok(a.isOpen(), 'its pongs keep it');
  a.stop();
});

for (const pingsWhenSilent of [true, false])
  test(`a dead agent (${pingsWhenSilent ? 'pingsWhenSilent' : 'older'}) is dropped within about two intervals of its last word, and recorded disconnected`, async () => {
    const vm = `vm-dead-${pingsWhenSilent}`;
    const a = await agent(vm, { pingsWhenSilent, reportEveryInMs: 0, autoPong: false });
    const closedAfterInMs = await Promise.race([a.closed, sleep(6 * INTERVAL_IN_MS).then(() => -1)]);
    assert.ok(closedAfterInMs > 0, 'dropped');
    // Its last word was the hello: one interval until a ping (a tick late at most), one more for the pong.
    assert.ok(
      closedAfterInMs >= 0.8 * INTERVAL_IN_MS &&
        closedAfterInMs <= 2 * INTERVAL_IN_MS + 2 * (INTERVAL_IN_MS / 10) + 150,
      `dropped ${closedAfterInMs} ms after its last word`,
    );
    await sleep(50);
    assert.ok(disconnects.includes(vm));
  });

test("the agent's own connection stays up on a server that does not ping it while it reports, and after it falls silent", async () => {
  const before = hub.pingsSent;
  // The agent's 20 s and 35 s, scaled as the server's 10 s is to 500 ms.
  const connection = new ServerConnection(url, 'credential', silent, undefined, 1_750, 1_000);
  let opens = 0;
  let closes = 0;
  connection.on('open', () => {
    opens++;
    connection.send(hello(true) as Parameters<ServerConnection['send']>[0]);
  });
  connection.on('close', () => closes++);
  connection.start();
  const reporter = setInterval(() => connection.send(report() as Parameters<ServerConnection['send']>[0]), 250);
  await sleep(4_000);
  clearInterval(reporter);
  const pingsWhileReporting = hub.pingsSent - before;
  // Silent now: pings keep it (the server pings it after an interval of silence, the agent answers) for 3 s more.
  await sleep(3_000);
  connection.close();
  assert.equal(pingsWhileReporting, 0, 'no ping from the server while the agent reports');
  assert.equal(closes, 0, 'never dropped');
  assert.equal(opens, 1);
});
