/**
 * Issue 9 point 4, the agent's side: whatever a (malicious or impersonated) server sends, only
 * messages the protocol schema accepts reach the capture manager, and a refusal for an
 * incompatible protocol version is logged as such.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import type { ServerToAgent } from '../model/index.js';
import { ServerConnection } from './connection.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((r) => wss.once('listening', r));
after(() => new Promise<void>((r) => wss.close(() => r())));
const url = () => `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/agent/v1/connect`;

function capturingLogger(): { logger: pino.Logger; lines: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines: () => text };
}

const order = {
  captureUid: 'u1',
  captureName: 'c',
  bpfExpression: '',
  snapLengthInBytes: 0,
  totalBytesLimit: 1000,
  timeLimitInSeconds: 5,
  localFilePath: null,
  upload: false,
};

test('server messages that break the protocol schema never reach the agent', async () => {
  wss.removeAllListeners('connection');
  wss.on('connection', (ws) => {
    for (const bad of [
      { type: 'capture.start', order: { ...order, captureUid: '../../../etc/cron.d/x' } },
      { type: 'capture.start', order: { ...order, localFilePath: 42 } },
      { type: 'capture.start', order: { ...order, totalBytesLimit: -1 } },
      { type: 'capture.forget', captureUid: 'u1', deleteFiles: 'yes' },
      { type: 'capture.stop' },
      { type: 'unknown' },
    ])
      ws.send(JSON.stringify(bad));
    ws.send('{not json');
    ws.send(JSON.stringify({ type: 'capture.stop', captureUid: 'u1' }));
  });
  const { logger, lines } = capturingLogger();
  const connection = new ServerConnection(url(), 'credential', logger);
  const got: ServerToAgent[] = [];
  connection.on('message', (m) => got.push(m));
  connection.start();
  const deadline = Date.now() + 3_000;
  while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  connection.close();
  assert.deepEqual(got, [{ type: 'capture.stop', captureUid: 'u1' }]);
  assert.match(lines(), /does not follow the agent protocol/);
});

test('a refusal for an incompatible protocol version is logged clearly', async () => {
  wss.removeAllListeners('connection');
  wss.on('connection', (ws) => ws.close(4002, 'agent protocol 1 is not supported; this server speaks 2'));
  const { logger, lines } = capturingLogger();
  const connection = new ServerConnection(url(), 'credential', logger);
  connection.start();
  const deadline = Date.now() + 3_000;
  while (!/protocol version/.test(lines()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  connection.close();
  assert.match(lines(), /protocol version is not one the server speaks.*upgrade/);
  assert.match(lines(), /this server speaks 2/);
});
