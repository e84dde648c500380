/**
 * Issue 17, steady CPU: the cost of each agent frame. ws unmasks the agents' frames with
 * bufferutil's native code (its prebuilt binary, loaded without its install script running —
 * npm may not run it), falling back to its JavaScript when the binary is missing; and neither end
 * compresses (permessage-deflate is never negotiated on the agent channel).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { ServerConnection } from '../agent/connection.js';
import { createLogger } from '../lib/index.js';
import { AGENT_CONNECT_PATH } from '../model/index.js';
import { AgentHub } from './agent-hub.js';

const require = createRequire(import.meta.url);
type Masker = {
  mask(s: Buffer, m: Buffer, o: Buffer, off: number, len: number): void;
  unmask(b: Buffer, m: Buffer): void;
};
const silent = createLogger({ name: 'test', level: 'silent' });

test('bufferutil loads its native prebuilt binary, and its JavaScript fallback masks alike', () => {
  const native = require('bufferutil') as Masker;
  assert.match(String(native.unmask), /\[native code\]/, 'the prebuilt binary, not the fallback');
  const fallback = require('bufferutil/fallback') as Masker;
  for (const size of [31, 32, 700, 65_536]) {
    const data = randomBytes(size);
    const key = randomBytes(4);
    const a = Buffer.from(data);
    const b = Buffer.from(data);
    native.unmask(a, key);
    fallback.unmask(b, key);
    assert.deepEqual(a, b);
    const outA = Buffer.alloc(size + 3);
    const outB = Buffer.alloc(size + 3);
    native.mask(data, key, outA, 3, size);
    fallback.mask(data, key, outB, 3, size);
    assert.deepEqual(outA, outB);
  }
});

test('the hub does not take permessage-deflate even from a client that offers it', async (t) => {
  const server = createServer((_req, res) => res.end());
  const hub = new AgentHub(silent, {
    authenticate: () => Promise.resolve({ vmKey: 'vm', baseUrl: 'http://127.0.0.1' }),
    onMessage: () => Promise.resolve(),
    onDisconnect: () => Promise.resolve(),
  });
  hub.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await hub.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`, {
    perMessageDeflate: true,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  assert.equal(ws.extensions, '');
  ws.close();
});

const deflating = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
await new Promise((r) => deflating.once('listening', r));
after(() => new Promise<void>((r) => deflating.close(() => r())));

test('the agent does not offer permessage-deflate, even to a server that would take it', async () => {
  const offered = new Promise<string | undefined>((resolve) =>
    deflating.once('connection', (_ws, request) => resolve(request.headers['sec-websocket-extensions'])),
  );
  const connection = new ServerConnection(
    `ws://127.0.0.1:${(deflating.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`,
    'credential',
    silent,
  );
  connection.start();
  const extensions = await offered;
  connection.close();
  assert.equal(extensions, undefined);
});
