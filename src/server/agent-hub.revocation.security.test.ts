/**
 * Issue 9, point 1 at the agent hub: a revoked connection is cut at once, and nothing more is
 * handled from it or sent to it — not a message already queued, not the answer to a message
 * being handled, and never to the newer connection of a re-enrolled host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createLogger } from '../lib/index.js';
import type { AgentToServer } from '../model/index.js';
import { AgentHub, CLOSE_CREDENTIAL_REVOKED, type AgentIdentity } from './agent-hub.js';
import { AGENT_CONNECT_PATH } from '../model/index.js';

/** A hub on loopback whose credentials are `cred-*` bearer tokens of one host, with a gate in its message handler. */
async function startHub() {
  const handled: Array<{ credential: string | undefined; msg: AgentToServer }> = [];
  let release: () => void = () => {};
  let gate: Promise<void> | null = null;
  const disconnects: string[] = [];
  const hub: AgentHub = new AgentHub(createLogger({ name: 'test', level: 'silent' }), {
    authenticate: async (request: IncomingMessage): Promise<AgentIdentity | null> => {
      const token = /^Bearer (cred-\w+)$/.exec(request.headers.authorization ?? '')?.[1];
      return token ? { vmKey: 'vm1', baseUrl: 'http://x', credentialId: token } : null;
    },
    onMessage: async (identity, msg) => {
      // The hello every connection opens with is protocol, not one of the messages under test.
      if (msg.type === 'hello') return;
      handled.push({ credential: identity.credentialId, msg });
      if (gate) await gate;
      // As the upload-grant path does: an answer addressed by host.
      hub.send(identity.vmKey, {
        type: 'upload.refused',
        requestId: 'r',
        captureUid: 'c',
        reason: 'answer',
        retryable: false,
      });
    },
    onDisconnect: async (identity) => {
      disconnects.push(identity.credentialId ?? '');
    },
  });
  const http = createServer();
  hub.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`;
  const connect = async (credential: string) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${credential}` } });
    const received: unknown[] = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString())));
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    await once(ws, 'open');
    ws.send(
      JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: '0.1.0', hostname: 'web1', captures: [] }),
    );
    return { ws, received, closed };
  };
  return {
    hub,
    handled,
    disconnects,
    connect,
    holdMessages: () => {
      gate = new Promise((r) => {
        release = r;
      });
    },
    releaseMessages: () => {
      gate = null;
      release();
    },
    close: async () => {
      await hub.close();
      http.close();
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 200));

test('a revoked connection: closed with 4001 at once, queued messages dropped, answers never reach the new connection', async () => {
  const h = await startHub();
  try {
    const old = await h.connect('cred-old');
    h.holdMessages();
    old.ws.send(
      JSON.stringify({
        type: 'upload.request',
        requestId: '1',
        captureUid: 'c',
        sizeInBytes: 1,
        sha256: 'ab'.repeat(32),
      }),
    );
    old.ws.send(
      JSON.stringify({
        type: 'upload.request',
        requestId: '2',
        captureUid: 'c',
        sizeInBytes: 1,
        sha256: 'ab'.repeat(32),
      }),
    );
    await settle();
    assert.equal(h.handled.length, 1, 'the first message is being handled, the second waits');

    assert.equal(await h.hub.disconnect('vm1', 'extension deleted'), true);
    assert.equal(h.hub.isConnected('vm1'), false, 'the host shows disconnected at once');
    assert.deepEqual(h.disconnects, ['cred-old']);
    const [code] = await old.closed;
    assert.equal(code, CLOSE_CREDENTIAL_REVOKED);

    // The re-installed extension's agent connects while the old message is still in the handler.
    const fresh = await h.connect('cred-new');
    h.releaseMessages();
    await settle();
    assert.equal(
      h.handled.filter((x) => x.credential === 'cred-old').length,
      1,
      'the queued message of the revoked connection was not handled',
    );
    assert.deepEqual(fresh.received, [], "the new agent got no answer to the old connection's request");
    assert.deepEqual(old.received, [], 'the revoked connection got nothing');

    // The new connection works as usual.
    fresh.ws.send(JSON.stringify({ type: 'metrics', at: new Date().toISOString(), values: {} }));
    await settle();
    assert.equal(fresh.received.length, 1);
    fresh.ws.close();
  } finally {
    await h.close();
  }
});

test('the same agent reconnecting with the same credential keeps its answers (no revocation)', async () => {
  const h = await startHub();
  try {
    const first = await h.connect('cred-a');
    h.holdMessages();
    first.ws.send(
      JSON.stringify({
        type: 'upload.request',
        requestId: '1',
        captureUid: 'c',
        sizeInBytes: 1,
        sha256: 'ab'.repeat(32),
      }),
    );
    await settle();
    const second = await h.connect('cred-a');
    // A newer connection takes the host's place with its hello (agent-hub.ts accept): let it arrive.
    await settle();
    h.releaseMessages();
    await settle();
    assert.equal(second.received.length, 1, 'the answer reaches the newest connection of the same agent');
    second.ws.close();
  } finally {
    await h.close();
  }
});
