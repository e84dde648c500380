/**
 * The hello-recorded diagnostics channel (agent-channel.ts): what bench/scale's probe counts to
 * tell when a fleet is greeted on the embedded database, which no other process can read while
 * the server runs. Through the real server and a loopback agent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningServer } from '../server.js';
import { apiCaller, connectLoopbackAgent, startLoopbackServer, waitFor } from '../testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const VM_PATH = `/subscriptions/${SUB}/resourceGroups/rg-hello/providers/Microsoft.Compute/virtualMachines/h1`;

let server: RunningServer;
const dataDir = mkdtempSync(join(tmpdir(), 'nw-hello-channel-'));
const call = apiCaller(() => server);
before(async () => {
  server = await startLoopbackServer(dataDir, SUB);
});
after(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('each hello is published once its host is recorded connected, with the host key', async () => {
  const published: Array<{ vmKey: string }> = [];
  const onHello = (message: unknown): void => {
    published.push(message as { vmKey: string });
  };
  subscribe('netwatcher:agent-hello-recorded', onHello);
  try {
    const { ws } = await connectLoopbackAgent({ call, serverUrl: server.url, vmPath: VM_PATH, hostname: 'h1' });
    await waitFor(() => published.length === 1);
    assert.equal(published[0]!.vmKey, VM_PATH.toLowerCase());
    // Recorded before it was published: the VM shows its agent connected.
    const vm = await call('GET', VM_PATH, undefined, undefined);
    assert.equal(vm.status, 200, JSON.stringify(vm.body));
    assert.match(JSON.stringify(vm.body), /"agentConnected":true/);
    ws.close();
  } finally {
    unsubscribe('netwatcher:agent-hello-recorded', onHello);
  }
});
