import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { createLogger } from '../lib/index.js';
import {
  nextAddressDelayInMs,
  reconnectCeilingInMs,
  reconnectDelayInMs,
  refusedRetryDelayInMs,
  ServerConnection,
} from './connection.js';

/** A WebSocket server on a free loopback port, listening. */
async function listeningServer(options: { port?: number; autoPong?: boolean } = {}): Promise<WebSocketServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await new Promise((r) => server.once('listening', r));
  return server;
}

function portOf(server: WebSocketServer): number {
  return (server.address() as AddressInfo).port;
}

/** A logger at warn whose lines are kept, parsed, for the test to read. */
async function recordingLogger(): Promise<{ logger: Logger; lines: Array<Record<string, unknown>> }> {
  const { pino } = await import('pino');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

/** A server that accepts agents and then says nothing: no pings, no close — a half-open link as the agent sees it. */
const silent = await listeningServer();
after(() => new Promise<void>((r) => silent.close(() => r())));

test('a connection on which the server falls silent is dropped and made again', async () => {
  const port = portOf(silent);
  let accepted = 0;
  silent.on('connection', () => {
    accepted++;
  });
  const connection = new ServerConnection(
    `ws://127.0.0.1:${port}/agent/v1/connect`,
    'credential',
    createLogger({ name: 'test', level: 'silent' }),
    undefined,
    300,
  );
  let opens = 0;
  let closes = 0;
  connection.on('open', () => {
    opens++;
  });
  connection.on('close', () => {
    closes++;
  });
  connection.start();
  const deadline = Date.now() + 5_000;
  while (opens < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  connection.close();
  assert.ok(closes >= 1, 'the silent connection was dropped');
  assert.ok(opens >= 2 && accepted >= 2, `reconnected (${opens} opens, ${accepted} accepted)`);
});

test('pings keep a quiet connection alive', async () => {
  const port = portOf(silent);
  const pinger = setInterval(() => {
    for (const c of silent.clients) c.ping();
  }, 100);
  const connection = new ServerConnection(
    `ws://127.0.0.1:${port}/agent/v1/connect`,
    'credential',
    createLogger({ name: 'test', level: 'silent' }),
    undefined,
    300,
  );
  let closes = 0;
  connection.on('close', () => {
    closes++;
  });
  connection.start();
  await new Promise((r) => setTimeout(r, 1_200));
  const closesWhilePinged = closes;
  clearInterval(pinger);
  connection.close();
  assert.equal(closesWhilePinged, 0, 'no reconnect while the server pings');
});

test('an agent that hears nothing pings the server, and a server that answers (pong) keeps the connection', async () => {
  // A server that never pings (as one that hears the agent's reports): ws answers the agent's pings by itself.
  const quiet = await listeningServer();
  let pingsHeard = 0;
  quiet.on('connection', (ws) => ws.on('ping', () => pingsHeard++));
  const connection = new ServerConnection(
    `ws://127.0.0.1:${portOf(quiet)}/agent/v1/connect`,
    'credential',
    createLogger({ name: 'test', level: 'silent' }),
    undefined,
    300,
    100,
  );
  let closes = 0;
  connection.on('close', () => {
    closes++;
  });
  connection.start();
  await new Promise((r) => setTimeout(r, 1_500));
  const closesWhileAnswered = closes;
  connection.close();
  await new Promise<void>((r) => quiet.close(() => r()));
  assert.equal(closesWhileAnswered, 0, 'its pongs keep the connection');
  assert.ok(pingsHeard >= 5, `the agent pinged after each 100 ms of silence (${pingsHeard})`);
});

test('a server that answers neither pings nor anything else is left after the silence limit, though the agent pinged it', async () => {
  const dead = await listeningServer({ autoPong: false });
  let pingsHeard = 0;
  let accepted = 0;
  dead.on('connection', (ws) => {
    accepted++;
    ws.on('ping', () => pingsHeard++);
  });
  const connection = new ServerConnection(
    `ws://127.0.0.1:${portOf(dead)}/agent/v1/connect`,
    'credential',
    createLogger({ name: 'test', level: 'silent' }),
    undefined,
    300,
    100,
  );
  let openedAt = 0;
  let droppedAfterInMs = -1;
  connection.on('open', () => {
    if (!openedAt) openedAt = Date.now();
  });
  connection.on('close', () => {
    if (droppedAfterInMs < 0 && openedAt) droppedAfterInMs = Date.now() - openedAt;
  });
  connection.start();
  const deadline = Date.now() + 3_000;
  while (accepted < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  connection.close();
  await new Promise<void>((r) => dead.close(() => r()));
  assert.ok(pingsHeard >= 1, 'it pinged before giving up');
  assert.ok(
    droppedAfterInMs >= 280 && droppedAfterInMs <= 600,
    `dropped ${droppedAfterInMs} ms after the last word (limit 300)`,
  );
  assert.ok(accepted >= 2, 'and reconnected');
});

test('it says when it loses the server, each retry with its back-off, and when it is back', async () => {
  const { logger, lines } = await recordingLogger();
  let server = await listeningServer();
  const port = portOf(server);
  const connection = new ServerConnection(`ws://127.0.0.1:${port}/agent/v1/connect`, 'credential', logger);
  let opens = 0;
  connection.on('open', () => {
    opens++;
  });
  connection.start();
  try {
    while (opens < 1) await new Promise((r) => setTimeout(r, 20));
    // The server goes away (connections cut, nothing listening) for a while, then comes back on the same port.
    for (const c of server.clients) c.terminate();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise((r) => setTimeout(r, 1_500));
    server = await listeningServer({ port });
    const deadline = Date.now() + 10_000;
    while (opens < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(opens, 2, 'reconnected');
    const messages = lines.map((l) => String(l.msg));
    assert.ok(
      messages.some((m) => m.startsWith('lost the connection to the server')),
      messages.join('\n'),
    );
    const retries = lines.filter((l) => typeof l.backoffInMs === 'number');
    assert.ok(retries.length >= 2, `each retry is logged: ${messages.join('\n')}`);
    assert.ok(
      (retries[1]!.backoffCeilingInMs as number) > (retries[0]!.backoffCeilingInMs as number),
      'with its growing back-off',
    );
    for (const r of retries)
      assert.ok(
        (r.backoffInMs as number) >= 250 && (r.backoffInMs as number) <= (r.backoffCeilingInMs as number),
        'each wait within its window',
      );
    assert.match(messages[messages.length - 1]!, /^connected to the server again, after \d+ retries/);
  } finally {
    connection.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('with several server addresses it moves to the next one when one fails, and back round when that one goes', async () => {
  // A port nothing listens on (a dead replica), then two live ones.
  const dead = await listeningServer();
  const deadPort = portOf(dead);
  await new Promise<void>((r) => dead.close(() => r()));
  const live = await Promise.all([listeningServer(), listeningServer()]);
  const hits = [0, 0];
  live.forEach((s, i) =>
    s.on('connection', () => {
      hits[i]!++;
    }),
  );
  const urls = [deadPort, ...live.map((s) => portOf(s))].map((p) => `ws://127.0.0.1:${p}/agent/v1/connect`);
  const connection = new ServerConnection(urls, 'credential', createLogger({ name: 'test', level: 'silent' }));
  const startedAt = Date.now();
  connection.start();
  while (!connection.isOpen && Date.now() - startedAt < 5_000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(connection.isOpen, true);
  assert.equal(connection.url, urls[1], 'past the dead address to the first live one');
  assert.ok(Date.now() - startedAt < 1_500, 'without waiting out a back-off');
  // The replica it is on goes away: it goes on to the next.
  for (const c of live[0]!.clients) c.terminate();
  await new Promise<void>((r) => live[0]!.close(() => r()));
  const deadline = Date.now() + 5_000;
  while (hits[1] === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  connection.close();
  await new Promise<void>((r) => live[1]!.close(() => r()));
  assert.deepEqual(hits, [1, 1]);
});

test('reconnect back-off: jittered over a window that doubles up to 5 s, so a fleet cut at once does not return at once', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 50].map(reconnectCeilingInMs), [1000, 2000, 4000, 5000, 5000, 5000]);
  assert.equal(
    reconnectDelayInMs(1, () => 0),
    250,
    'never sooner than 250 ms',
  );
  assert.equal(
    reconnectDelayInMs(1, () => 1),
    1000,
  );
  assert.equal(
    reconnectDelayInMs(9, () => 1),
    5000,
    'never later than 5 s',
  );
  // 10,000 agents losing the server together: their first retries spread over the window, not one instant.
  const waits = Array.from({ length: 10_000 }, () => reconnectDelayInMs(1));
  const buckets = new Array(8).fill(0) as number[];
  for (const w of waits) {
    assert.ok(w >= 250 && w <= 1000);
    buckets[Math.min(7, Math.floor((w - 250) / (750 / 8)))]!++;
  }
  for (const b of buckets)
    assert.ok(b > (10_000 / 8) * 0.8 && b < (10_000 / 8) * 1.2, `evenly spread: ${buckets.join(' ')}`);
});

test("a busy server's refusal (503, Retry-After) is waited out with jitter: between once and twice its time, never less than the back-off", () => {
  assert.equal(
    refusedRetryDelayInMs('3', 1, () => 0),
    3000,
  );
  assert.equal(
    refusedRetryDelayInMs('3', 1, () => 1),
    6000,
  );
  assert.equal(
    refusedRetryDelayInMs('0', 9, () => 1),
    5000,
    'never less than the usual back-off',
  );
  assert.equal(
    refusedRetryDelayInMs('99999', 1, () => 1),
    60_000,
    'a hostile value does not park the agent',
  );
  assert.equal(
    refusedRetryDelayInMs('Wed, 21 Oct 2026 07:28:00 GMT', 1, () => 1),
    1000,
    'unusable: the usual back-off',
  );
  const waits = Array.from({ length: 1_000 }, () => refusedRetryDelayInMs('2', 1));
  assert.ok(Math.min(...waits) >= 2000 && Math.max(...waits) <= 4000);
  assert.ok(new Set(waits.map((w) => Math.floor(w / 500))).size >= 4, 'spread over the window');
});

test("the server's announced reconnect spread widens every wait, the first after a drop included; bounded, and ignored when unusable", () => {
  // 10,000 agents: the server announces 10 s; the first wait after the drop is drawn from 0.25–10 s.
  assert.equal(reconnectCeilingInMs(1, 10_000), 10_000);
  assert.equal(
    reconnectDelayInMs(1, () => 0, 10_000),
    250,
  );
  assert.equal(
    reconnectDelayInMs(1, () => 1, 10_000),
    10_000,
  );
  assert.equal(
    reconnectDelayInMs(1, () => 0.5, 10_000),
    5125,
  );
  // Later retries: the doubling back-off, never below the spread.
  assert.equal(reconnectCeilingInMs(9, 10_000), 10_000);
  assert.equal(reconnectCeilingInMs(9, 2_000), 5_000);
  // A short spread (a small fleet) changes nothing: 1 s, then doubling.
  assert.equal(reconnectCeilingInMs(1, 1_000), 1_000);
  assert.equal(reconnectCeilingInMs(2, 1_000), 2_000);
  // None announced (an older server) or an unusable value: today's back-off; a huge one is held to 60 s.
  for (const spread of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.equal(reconnectCeilingInMs(1, spread), 1_000, String(spread));
  assert.equal(reconnectCeilingInMs(1, 3_600_000), 60_000);
  // Spread out, the fleet arrives evenly: of 10,000 first waits, about a tenth in each second.
  const waits = Array.from({ length: 10_000 }, () => reconnectDelayInMs(1, Math.random, 10_000));
  const perSecond = Array.from(
    { length: 10 },
    (_, s) => waits.filter((w) => w >= s * 1000 && w < (s + 1) * 1000).length,
  );
  assert.ok(Math.max(...perSecond) < 1_300, `at most ~1,000 a second: ${perSecond.join(', ')}`);
  // A busy server's refusal is never waited out shorter than the spread's back-off.
  assert.equal(
    refusedRetryDelayInMs('1', 1, () => 1, 10_000),
    10_000,
  );
  // Several addresses: the next at once for a small fleet, spread for a large one.
  assert.equal(
    nextAddressDelayInMs(4_000, () => 1, 1_000),
    250,
  );
  assert.equal(
    nextAddressDelayInMs(4_000, () => 1, 0),
    250,
  );
  assert.equal(
    nextAddressDelayInMs(20_000, () => 1, 10_000),
    10_000,
  );
  assert.equal(
    nextAddressDelayInMs(20_000, () => 0, 10_000),
    250,
  );
});

test('the agent keeps the spread of the last welcome for its next drop', async () => {
  const { logger, lines } = await recordingLogger();
  const server = await listeningServer();
  const port = portOf(server);
  // Each connection is welcomed (the first two with a spread of 7 s, then without one) and cut at once.
  let accepted = 0;
  server.on('connection', (ws) => {
    accepted++;
    const spread = accepted <= 2 ? { reconnectSpreadInSeconds: 7 } : {};
    ws.send(JSON.stringify({ type: 'welcome', vmId: '/vm', location: 'westcentralus', ...spread }), () =>
      setTimeout(() => ws.terminate(), 50),
    );
  });
  const connection = new ServerConnection(`ws://127.0.0.1:${port}/agent/v1/connect`, 'credential', logger);
  // The waits are drawn at the top of their windows: a window of 7 s shows as a wait of 7 s.
  const random = Math.random;
  Math.random = () => 0.999_999;
  connection.start();
  try {
    const deadline = Date.now() + 5_000;
    while (lines.filter((l) => typeof l.backoffInMs === 'number').length < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const first = lines.find((l) => typeof l.backoffInMs === 'number')!;
    assert.ok(first, 'the drop was followed by a retry');
    assert.equal(first.backoffCeilingInMs, 7_000, 'the first wait after the drop spans the announced 7 s');
    assert.equal(first.backoffInMs, 7_000);
  } finally {
    Math.random = random;
    connection.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a welcome without a spread restores the back-off of agents before it', async () => {
  const server = await listeningServer();
  const port = portOf(server);
  // First connection: a spread of 30 s, then a second welcome without one (the server replaced
  // by an older one would send such); then the cut. The agent is back within its own 1 s.
  let accepted = 0;
  server.on('connection', (ws) => {
    accepted++;
    if (accepted > 1) return;
    ws.send(JSON.stringify({ type: 'welcome', vmId: '/vm', location: 'l', reconnectSpreadInSeconds: 30 }));
    ws.send(JSON.stringify({ type: 'welcome', vmId: '/vm', location: 'l' }), () =>
      setTimeout(() => ws.terminate(), 50),
    );
  });
  const connection = new ServerConnection(
    `ws://127.0.0.1:${port}/agent/v1/connect`,
    'credential',
    createLogger({ name: 'test', level: 'silent' }),
  );
  connection.start();
  try {
    const deadline = Date.now() + 3_000;
    while (accepted < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(accepted, 2, 'reconnected within the back-off of old agents (≤ 1 s), not over 30 s');
  } finally {
    connection.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
