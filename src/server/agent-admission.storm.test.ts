/**
 * Issue 17, reconnect storms at the agent hub: a handshake its agent gave up on and the server
 * completed late never cuts the agent's working connection, and handshakes past the bound are
 * refused at once (503 with Retry-After) instead of waiting past the agent's timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createLogger } from '../lib/index.js';
import { AGENT_CONNECT_PATH, AGENT_PROTOCOL_VERSION } from '../model/index.js';
import { AgentHub, type AgentIdentity } from './agent-hub.js';

const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

async function startHub(maxHandshakes?: number) {
  let hold: Promise<void> | null = null;
  let release: () => void = () => {};
  const messages: Array<{ credential: string | undefined; type: string }> = [];
  const hub: AgentHub = new AgentHub(
    createLogger({ name: 'test', level: 'silent' }),
    {
      authenticate: async (request: IncomingMessage): Promise<AgentIdentity | null> => {
        if (hold) await hold;
        const token = /^Bearer (c\w+)$/.exec(request.headers.authorization ?? '')?.[1];
        return token ? { vmKey: 'vm1', baseUrl: 'http://x', credentialId: token } : null;
      },
      onMessage: async (identity, msg) => {
        messages.push({ credential: identity.credentialId, type: msg.type });
      },
      onDisconnect: async () => {},
    },
    maxHandshakes,
  );
  const http = createServer();
  hub.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  const url = `ws://127.0.0.1:${port}${AGENT_CONNECT_PATH}`;
  const open = async (credential: string, hello: boolean) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${credential}` } });
    const closes: number[] = [];
    ws.on('close', (code) => closes.push(code));
    await once(ws, 'open');
    if (hello)
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocolVersion: AGENT_PROTOCOL_VERSION,
          agentVersion: '0.1.0',
          hostname: 'web1',
          captures: [],
        }),
      );
    return { ws, closes };
  };
  return {
    hub,
    port,
    messages,
    open,
    holdAuthentication: () => {
      hold = new Promise((r) => (release = r));
    },
    releaseAuthentication: () => {
      hold = null;
      release();
    },
    close: async () => {
      await hub.close();
      http.close();
    },
  };
}

test('a late-completed handshake (no hello) does not displace the live connection; a newer one that says hello does', async () => {
  const h = await startHub();
  try {
    const live = await h.open('ca', true);
    await settle();
    // The agent's earlier attempt, given up on, completed by the server after the agent's retry connected.
    const late = await h.open('ca', false);
    await settle();
    assert.deepEqual(live.closes, [], 'the working connection is not cut (close 4000 before)');
    live.ws.send(JSON.stringify({ type: 'metrics', at: new Date().toISOString(), values: {} }));
    await settle();
    assert.ok(
      h.messages.some((m) => m.type === 'metrics'),
      'the working connection is still read',
    );
    late.ws.terminate();
    await settle();
    assert.equal(h.hub.isConnected('vm1'), true, 'its close leaves the host connected');
    assert.deepEqual(live.closes, []);
    // A real reconnect (it says hello) takes over, as before.
    const next = await h.open('ca', true);
    await settle();
    assert.deepEqual(live.closes, [4000], 'replaced by the newer connection once it said hello');
    assert.equal(h.hub.isConnected('vm1'), true);
    next.ws.close();
  } finally {
    await h.close();
  }
});

test('handshakes past the bound are refused at once with 503 and Retry-After', async () => {
  const h = await startHub(2);
  try {
    h.holdAuthentication();
    // Two handshakes wait for their credential check (the database busy) ...
    const waiting = [h.open('ca', false), h.open('cb', false)];
    await settle(100);
    // ... the third is refused at once, with a time to come back.
    const startedAt = Date.now();
    const refused = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: h.port,
        path: AGENT_CONNECT_PATH,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          Authorization: 'Bearer cc',
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, retryAfter: [res.headers['retry-after']].flat()[0] });
      });
      req.on('upgrade', () => reject(new Error('upgraded past the bound')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(refused.status, 503);
    assert.match(refused.retryAfter ?? '', /^\d+$/);
    assert.ok(Number(refused.retryAfter) >= 1);
    assert.ok(Date.now() - startedAt < 1_000, 'refused at once, not after waiting');
    assert.equal(h.hub.refusedHandshakes, 1);
    // The two waiting ones are admitted once their checks finish.
    h.releaseAuthentication();
    const admitted = await Promise.all(waiting);
    for (const a of admitted) a.ws.terminate();
  } finally {
    await h.close();
  }
});
