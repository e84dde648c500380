/**
 * Issue 9, point 1 end to end: a real agent in a network namespace, connected to a real server.
 * Deleting its extension cuts it at once (the VM shows disconnected, no capture can be ordered,
 * its old credential never gets back in); a re-installed extension's agent is the only one
 * connected; revoking the credential from the CLI does the same.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, type LabHost } from './lab/lab.js';

const SUB = '00000000-0000-0000-0000-000000000000';

describe('revocation while connected', { timeout: 400_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  const rg = `rvrg${process.pid}`;
  const vm = 'revoked1';
  const vmPath = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}`;
  const connected = async () =>
    ((await lab.api('GET', vmPath)).body as { properties?: { netwatcher?: { agentConnected?: boolean } } }).properties
      ?.netwatcher?.agentConnected === true;

  before(async () => {
    lab = await Lab.create();
    host = await lab.addHost('rv1', ['10.0.0.31/24']);
    // Generous start-up limits: a loaded CI machine (many test files at once) starts PGlite slowly.
    await lab.startServer([], { timeoutInMs: 120_000 });
  });
  after(async () => {
    await lab?.destroy();
  });

  test('deleting the extension cuts the live agent at once; re-installing connects only the new agent', async () => {
    const first = await lab.installAgent(host, rg, vm, [], { timeoutInMs: 90_000 });
    const started = Date.now();
    const del = await lab.nw([
      'vm',
      'extension',
      'delete',
      '-g',
      rg,
      '--vm-name',
      vm,
      '-n',
      'NetworkWatcherAgentLinux',
    ]);
    assert.equal(del.code, 0, del.stderr);
    await lab.waitFor(async () => !(await connected()), 3_000, 'the VM to show disconnected');
    assert.ok(Date.now() - started < 3_000, 'disconnected at once, not after a heartbeat timeout');
    assert.match(lab.serverOutput, /credential revoked/);

    // The agent keeps trying with its old credential: it never gets back in, and no order reaches it.
    await sleep(3_000);
    assert.equal(await connected(), false, 'the revoked agent did not reconnect');
    const create = await lab.nw([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '-g',
      rg,
      '--vm',
      vm,
      '--name',
      'afterRevoke',
      '--time-limit',
      '5',
    ]);
    assert.notEqual(create.code, 0, 'no capture can be ordered on a revoked host');

    // Re-install: a new enrolment, a new agent; the old one (still running) stays out.
    const second = await lab.installAgent(host, rg, vm, [], { timeoutInMs: 90_000 });
    await sleep(2_000);
    assert.equal(await connected(), true);
    assert.notEqual(first.installCommand, second.installCommand, 'a new one-time token');

    // Revoking from the CLI cuts the new agent too.
    const revoke = await lab.nwJson(['vm', 'agent-credential', 'revoke', '-g', rg, '--vm-name', vm]);
    assert.ok(Number(revoke.revokedTokens) >= 1);
    await lab.waitFor(async () => !(await connected()), 3_000, 'the VM to show disconnected after revoke');
    await sleep(2_000);
    assert.equal(await connected(), false);
  });
});
