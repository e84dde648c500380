import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createLogger } from '../lib/index.js';
import { ServerConnection } from './connection.js';

/** A server that accepts agents and then says nothing: no pings, no close — a half-open link as the agent sees it. */
const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((r) => silent.once('listening', r));
after(() => new Promise<void>((r) => silent.close(() => r())));

test('a connection on which the server falls silent is dropped and made again', async () => {
  const port = (silent.address() as AddressInfo).port;
  let accepted = 0;
  silent.on('connection', () => { accepted++; });
  const connection = new ServerConnection(`ws://127.0.0.1:${port}/agent/v1/connect`, 'credential', createLogger({ name: 'test', level: 'silent' }), undefined, 300);
  let opens = 0;
  let closes = 0;
  connection.on('open', () => { opens++; });
  connection.on('close', () => { closes++; });
  connection.start();
  const deadline = Date.now() + 5_000;
  while (opens < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  connection.close();
  assert.ok(closes >= 1, 'the silent connection was dropped');
  assert.ok(opens >= 2 && accepted >= 2, `reconnected (${opens} opens, ${accepted} accepted)`);
});

test('pings keep a quiet connection alive', async () => {
  const port = (silent.address() as AddressInfo).port;
  const pinger = setInterval(() => { for (const c of silent.clients) c.ping(); }, 100);
  const connection = new ServerConnection(`ws://127.0.0.1:${port}/agent/v1/connect`, 'credential', createLogger({ name: 'test', level: 'silent' }), undefined, 300);
  let closes = 0;
  connection.on('close', () => { closes++; });
  connection.start();
  await new Promise((r) => setTimeout(r, 1_200));
  const closesWhilePinged = closes;
  clearInterval(pinger);
  connection.close();
  assert.equal(closesWhilePinged, 0, 'no reconnect while the server pings');
});
