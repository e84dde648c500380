/**
 * Issue 17, reconnect storms: which goodbyes of agents cost database work. Real hub, real
 * WebSockets on loopback; the goodbye's work is what server.ts records (here: counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createLogger } from '../lib/index.js';
import { AGENT_CONNECT_PATH, AGENT_PROTOCOL_VERSION } from '../model/index.js';
import { AgentHub } from './agent-hub.js';
import { AgentGreetings } from './agent-greetings.js';

async function startHub() {
  const recordedGone: string[] = [];
  /** Set when the test's "database" closed: a record attempted after it fails as the server's would. */
  const database = { closed: false, writesAfterClose: 0 };
  const recordedConnected: string[] = [];
  let greetings: AgentGreetings;
  const greeted: Array<() => void> = [];
  const goodbyes: Array<Promise<unknown>> = [];
  const hub: AgentHub = new AgentHub(createLogger({ name: 'test', level: 'silent' }), {
    authenticate: async (request) => {
      const vm = /^Bearer (vm\w+)$/.exec(request.headers.authorization ?? '')?.[1];
      return vm ? { vmKey: vm, baseUrl: 'http://x', credentialId: vm } : null;
    },
    onMessage: async (identity, msg) => {
      if (msg.type !== 'hello') return;
      await greetings.hello(identity.vmKey, async () => {
        recordedConnected.push(identity.vmKey);
      });
      greeted.shift()?.();
    },
    onDisconnect: async (identity) => {
      const done = greetings.goodbye(identity.vmKey, async () => {
        if (database.closed) {
          database.writesAfterClose++;
          throw new Error('Cannot use a pool after calling end on the pool');
        }
        recordedGone.push(identity.vmKey);
      });
      goodbyes.push(done);
      await done;
    },
  });
  // One at a time: a test can hold the line (as a storm's database work does) with one task.
  greetings = new AgentGreetings(1, (vmKey) => hub.isConnected(vmKey));
  const http = createServer();
  hub.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}${AGENT_CONNECT_PATH}`;
  /** Opens a connection of `vm`; with `hello`, resolves once the hello's work is done. */
  const connect = async (vm: string, hello: boolean) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${vm}` } });
    await once(ws, 'open');
    if (hello) {
      const done = new Promise<void>((resolve) => greeted.push(resolve));
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocolVersion: AGENT_PROTOCOL_VERSION,
          agentVersion: '0.1.0',
          hostname: vm,
          captures: [],
        }),
      );
      await done;
    }
    return ws;
  };
  /** Cuts a connection (no close handshake) and waits until the hub has handled its goodbye. */
  const cut = async (ws: WebSocket) => {
    const before = goodbyes.length;
    ws.terminate();
    while (goodbyes.length === before) await new Promise((r) => setTimeout(r, 5));
    await goodbyes.at(-1);
  };
  /** Holds the greetings' line (another host's work in its one slot) until the returned function is called. */
  const holdLine = () => {
    let release: () => void = () => {};
    void greetings.forHost('another-host', () => new Promise<void>((resolve) => (release = resolve)));
    return () => release();
  };
  return {
    hub,
    greetings: () => greetings,
    database,
    holdLine,
    goodbyes,
    connect,
    cut,
    recordedGone,
    recordedConnected,
    close: async () => {
      await hub.close();
      http.close();
    },
  };
}

test('a connection that closes before its hello (a handshake its agent gave up on) records nothing', async () => {
  const h = await startHub();
  try {
    for (let i = 0; i < 20; i++) await h.cut(await h.connect('vm1', false));
    assert.deepEqual(h.recordedGone, [], 'no database work for 20 abandoned handshakes');
    // A greeted host that goes is recorded away, once.
    await h.cut(await h.connect('vm1', true));
    assert.deepEqual(h.recordedGone, ['vm1']);
    await h.cut(await h.connect('vm1', false));
    assert.deepEqual(h.recordedGone, ['vm1'], 'already recorded away: nothing more to record');
  } finally {
    await h.close();
  }
});

test('a host back before its goodbye is not recorded away; the goodbye is owed until its newer connection closes', async () => {
  const h = await startHub();
  try {
    const first = await h.connect('vm2', true);
    // The line is long (a storm): the goodbye of the cut connection waits its turn ...
    const release = h.holdLine();
    first.terminate();
    while (h.goodbyes.length === 0) await new Promise((r) => setTimeout(r, 5));
    // ... and the agent is back meanwhile.
    const second = await h.connect('vm2', false);
    release();
    await h.goodbyes[0];
    assert.deepEqual(h.recordedGone, [], 'back before its turn: not recorded away (and then back)');
    assert.equal(h.hub.isConnected('vm2'), true);
    // The newer connection closes: the owed goodbye is recorded, the host is connected nowhere.
    await h.cut(second);
    assert.deepEqual(h.recordedGone, ['vm2']);
    assert.equal(h.hub.isConnected('vm2'), false);
  } finally {
    await h.close();
  }
});

test("a host's greetings, goodbyes and sweeps take turns: a sweep queued during a hello runs after it", async () => {
  const greetings = new AgentGreetings(16, () => false);
  const order: string[] = [];
  let finishHello: () => void = () => {};
  const hello = greetings.hello('vm3', async () => {
    order.push('hello started');
    await new Promise<void>((resolve) => (finishHello = resolve));
    order.push('hello done');
  });
  await new Promise((r) => setImmediate(r));
  // A replica's sweep found vm3's lease expired while its agent's hello (through this replica) was under way.
  const sweep = greetings.forHost('VM3', async () => {
    order.push('sweep');
  });
  const other = greetings.forHost('vm4', async () => {
    order.push('other host');
  });
  await other;
  assert.deepEqual(order, ['hello started', 'other host'], 'another host is not held up; vm3 waits its turn');
  finishHello();
  await Promise.all([hello, sweep]);
  assert.deepEqual(order, ['hello started', 'other host', 'hello done', 'sweep']);
  // A failed turn does not stop the host's next ones.
  await assert.rejects(greetings.forHost('vm3', () => Promise.reject(new Error('db down'))));
  assert.equal(await greetings.forHost('vm3', async () => 'next'), 'next');
});

test('at a stop, goodbyes whose turn has not come are not written (the database closes next): counted, the turn under way finishes', async () => {
  const h = await startHub();
  try {
    const sockets = [await h.connect('vm5', true), await h.connect('vm6', true), await h.connect('vm7', true)];
    // The fleet leaves just before the stop, behind a long line (a sweep's or a storm's work) ...
    const release = h.holdLine();
    for (const ws of sockets) ws.terminate();
    while (h.goodbyes.length < 3) await new Promise((r) => setTimeout(r, 5));
    // ... and the server stops as server.ts does: greetings stop, the hub closes, the turn under way ends.
    h.greetings().stop();
    await h.hub.close();
    release();
    const unrecorded = await h.greetings().settled(5_000);
    h.database.closed = true;
    await Promise.all(h.goodbyes);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(h.recordedGone, [], 'no per-host record written once the stop began');
    assert.equal(h.database.writesAfterClose, 0, 'none attempted after the database closed');
    assert.deepEqual(unrecorded.sort(), ['vm5', 'vm6', 'vm7'], 'each counted for the one summary line');
    // A hello whose turn comes after the stop records nothing either.
    let greeted = false;
    await h.greetings().hello('vm8', async () => {
      greeted = true;
    });
    assert.equal(greeted, false);
    // Sweeps still run: a lease a sweep claimed is its to record.
    assert.equal(await h.greetings().forHost('vm9', async () => 'swept'), 'swept');
  } finally {
    await h.close();
  }
});

test('a goodbye with a grace: an agent back within it costs nothing; one that stays away is recorded after it; ending the graces runs the waiting goodbyes at once; a stop ends them unrecorded', async () => {
  let connectedHere = false;
  const greetings = new AgentGreetings(16, () => connectedHere);
  const gone: string[] = [];
  const record = (vm: string) => async () => {
    gone.push(vm);
  };
  await greetings.hello('vm5', async () => {});
  await greetings.hello('vm6', async () => {});
  await greetings.hello('vm7', async () => {});
  // vm5 cut; its agent is back 50 ms later (a reconnect storm), inside the 300 ms grace.
  const startedAt = Date.now();
  const back = greetings.goodbye('vm5', record('vm5'), 300);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(gone, [], 'nothing recorded during the grace');
  connectedHere = true;
  assert.equal(await back, false, 'back within the grace: not recorded away');
  assert.ok(Date.now() - startedAt >= 290, 'the goodbye waited out its grace');
  // vm6 cut and not back: recorded away once the grace is over.
  connectedHere = false;
  assert.equal(await greetings.goodbye('vm6', record('vm6'), 100), true);
  assert.deepEqual(gone, ['vm6']);
  // vm7 cut, then the graces are ended: the goodbye takes its turn at once.
  const stopping = greetings.goodbye('vm7', record('vm7'), 60_000);
  assert.equal(greetings.inGraceCount, 1);
  const stoppedAt = Date.now();
  greetings.endGraces();
  assert.equal(await stopping, true);
  assert.ok(Date.now() - stoppedAt < 1_000, 'not held for the grace');
  assert.deepEqual(gone, ['vm6', 'vm7']);
  // vm8 cut, then the server stops: its grace ends at once and, the database about to close, the
  // goodbye is left to the sweep or the next start (counted for the stop's summary line).
  const greetings2 = new AgentGreetings(16, () => false);
  await greetings2.hello('vm8', async () => {});
  const cut = greetings2.goodbye('vm8', record('vm8'), 60_000);
  const stopAt = Date.now();
  greetings2.stop();
  assert.equal(await cut, false);
  assert.ok(Date.now() - stopAt < 1_000, 'a stop is not held for the grace');
  assert.deepEqual(await greetings2.settled(1_000), ['vm8']);
  assert.deepEqual(gone, ['vm6', 'vm7'], 'nothing written for vm8');
});
