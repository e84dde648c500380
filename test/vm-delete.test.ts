/**
 * Issue 12 point 3: `nw vm delete` removes a host — refused while a capture runs on it unless
 * --force, then its credential is revoked and its live agent connection cut at once (the agent
 * cannot come back with it), and a mistyped host can simply be removed. Real server, real agent
 * and tcpdump in a network-namespace lab.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, type LabHost } from './lab/lab.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';

describe('nw vm delete', { timeout: 240_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  const rg = `vdrg${process.pid}`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  const vmApi = (name: string) =>
    `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    await lab.startServer();
  });
  after(async () => {
    await lab?.destroy();
    for (const f of readdirSync('/var/captures'))
      if (f.startsWith(`nwtest-vd-${process.pid}-`)) rmSync(join('/var/captures', f), { force: true });
  });

  test('a mistyped host (registered, never connected) is removed; deleting it again is no error', async () => {
    await lab.nwJson([
      'vm',
      'extension',
      'set',
      '-g',
      rg,
      '--vm-name',
      'wbe1',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '-n',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const r = await lab.nw(['vm', 'delete', '-g', rg, '-n', 'wbe1', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal((await lab.api('GET', vmApi('wbe1'))).status, 404);
    const listed = await lab.nwJson<Array<{ name: string }>>(['vm', 'list', '-g', rg]);
    assert.deepEqual(
      listed.map((v) => v.name),
      [],
    );
    assert.equal((await lab.nw(['vm', 'delete', '-g', rg, '-n', 'wbe1', '--yes'])).code, 0);
    // Without --yes and no terminal it asks for --yes and deletes nothing.
    assert.equal((await lab.nw(['vm', 'delete', '-g', rg, '-n', 'wbe1'])).code, 2);
  });

  test('refused while a capture runs; --force ends the capture, revokes the credential and cuts the connection', async () => {
    const { agent } = await lab.installAgent(a, rg, 'vma');
    const file = `/var/captures/nwtest-vd-${process.pid}-running.cap`;
    // Limits of 0 (issue 12 point 4) mean the maxima, and the capture shows the values enforced.
    const created = await lab.nwJson(
      pc(
        'create',
        '-g',
        rg,
        '--vm',
        'vma',
        '--name',
        'longrun',
        '--file-path',
        file,
        '--time-limit',
        '0',
        '--capture-limit',
        '0',
      ),
    );
    assert.equal(created.timeLimitInSeconds, 18000);
    assert.equal(created.totalBytesPerSession, 4294967295);
    assert.equal((await lab.nwJson(pc('show', '--name', 'longrun', '--location', LOC))).timeLimitInSeconds, 18000);

    const refused = await lab.nw(['vm', 'delete', '-g', rg, '-n', 'vma', '--yes']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Conflict/);
    assert.match(refused.stderr, /longrun/);
    assert.match(refused.stderr, /--force/);
    const still = await lab.api('GET', vmApi('vma'));
    assert.equal(still.status, 200, 'nothing changed');
    assert.equal(
      (still.body as { properties: { netwatcher: { agentConnected: boolean } } }).properties.netwatcher.agentConnected,
      true,
    );

    const forced = await lab.nw(['vm', 'delete', '-g', rg, '-n', 'vma', '--yes', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await lab.api('GET', vmApi('vma'))).status, 404);
    const status = await lab.nwJson(pc('show-status', '--name', 'longrun', '--location', LOC));
    assert.equal(status.packetCaptureStatus, 'Stopped');
    assert.equal(status.stopReason, 'Manual');

    // The agent's credential is gone: re-registering the same name shows it disconnected, and it stays so.
    await lab.nwJson([
      'vm',
      'extension',
      'set',
      '-g',
      rg,
      '--vm-name',
      'vma',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '-n',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    await sleep(4000);
    const again = await lab.api('GET', vmApi('vma'));
    assert.equal(
      (again.body as { properties: { netwatcher: { agentConnected: boolean } } }).properties.netwatcher.agentConnected,
      false,
      `the old agent did not come back:\n${agent.log().slice(-2000)}`,
    );
  });
});
