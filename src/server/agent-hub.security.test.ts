/**
 * Issue 9 point 4, the server's side of the agent channel: every agent message is checked
 * against the protocol schema before anything acts on it, and an agent of an incompatible
 * protocol version is refused at hello with a clear close reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { createLogger } from '../lib/index.js';
import type { AgentToServer } from '../model/index.js';
import { AgentHub } from './agent-hub.js';
import { AGENT_CONNECT_PATH } from '../model/index.js';

const received: AgentToServer[] = [];
let server: Server;
let hub: AgentHub;
let url = '';

before(async () => {
  server = createServer((_req, res) => res.end());
  hub = new AgentHub(createLogger({ name: 'test', level: 'silent' }), {
    authenticate: (request) =>
      Promise.resolve({ vmKey: String(request.headers['x-test-vm'] ?? 'vm'), baseUrl: 'http://127.0.0.1' }),
    onMessage: (_identity, msg) => {
      received.push(msg);
      return Promise.resolve();
    },
    onDisconnect: () => Promise.resolve(),
  });
  hub.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`;
});
after(async () => {
  await hub.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const hello = (extra: Record<string, unknown> = {}) => ({
  type: 'hello',
  protocolVersion: 1,
  agentVersion: '0.1.0',
  hostname: 'web1',
  captures: [],
  ...extra,
});

/** Connects as an agent, sends `frames`, and returns how the connection ended (or 'open' if it still is after a moment). */
async function session(vm: string, frames: unknown[]): Promise<{ code: number | 'open'; reason: string }> {
  const ws = new WebSocket(url, { headers: { 'x-test-vm': vm } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  for (const f of frames) ws.send(typeof f === 'string' ? f : JSON.stringify(f));
  const outcome = await Promise.race([
    closed,
    new Promise<{ code: 'open'; reason: string }>((r) => setTimeout(() => r({ code: 'open', reason: '' }), 400)),
  ]);
  ws.close();
  return outcome;
}

test('messages that break the protocol schema never reach the handlers', async () => {
  received.length = 0;
  const badState = {
    captureUid: '../../x',
    status: 'Running',
    captureStartTime: null,
    stopReason: null,
    errors: [],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 0,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: null,
    sequence: 1,
  };
  await session('vm-a', [
    hello(),
    { type: 'capture.state', state: badState },
    { type: 'capture.state', state: { ...badState, captureUid: 'ok-uid', status: 'Exploded' } },
    { type: 'upload.request', requestId: 'r1', captureUid: 'ok-uid', sizeInBytes: -5, sha256: 'nothex' },
    { type: 'metrics', at: 'yesterday', values: { x: 'NaN' } },
    { type: 'no.such.type' },
    'not json at all',
  ]);
  assert.deepEqual(
    received.map((m) => m.type),
    ['hello'],
    'only the well-formed hello was handled',
  );
});

test('a hello whose host name is malformed or unbounded is refused, so shared host lookups stay intact', async () => {
  received.length = 0;
  await session('vm-b', [hello({ hostname: 42 })]);
  await session('vm-c', [hello({ hostname: 'web1\u0000; rm -rf' })]);
  await session('vm-d', [hello({ hostname: 'a'.repeat(100_000) })]);
  await session('vm-e', [hello({ agentVersion: 'x'.repeat(100_000) })]);
  assert.deepEqual(received, []);
});

test('an agent of an incompatible protocol version is refused at hello with a clear reason', async () => {
  received.length = 0;
  const outcome = await session('vm-f', [
    hello({ protocolVersion: 99 }),
    { type: 'metrics', at: new Date().toISOString(), values: { x: 1 } },
  ]);
  assert.equal(outcome.code, 4002);
  assert.match(outcome.reason, /protocol 99 is not supported/);
  assert.deepEqual(received, [], 'nothing of the refused agent was handled');
});

test('nothing an agent says before its hello is acted on', async () => {
  received.length = 0;
  await session('vm-g', [{ type: 'metrics', at: new Date().toISOString(), values: { x: 1 } }]);
  assert.deepEqual(received, []);
});
