/**
 * Issue 9 point 12, loose ends found under faults: a host whose agent dies mid-capture.
 * show-status says the host is unreachable (Azure's `Unknown`) instead of `Running` forever; the
 * capture can be deleted (it does not stay `Deleting`); and when the agent comes back, the spool
 * file of the deleted capture is removed from the host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, stopProcess, type LabAgent, type LabHost } from './lab/lab.js';

const LOC = 'westcentralus';
const SUB = '00000000-0000-0000-0000-000000000000';

describe('a host whose agent went away', { timeout: 180_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let agent: LabAgent;
  let installCommand = '';
  let dataDir = '';
  const rg = `gonerg${process.pid}`;
  const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];
  const spoolFiles = () => (existsSync(join(dataDir, 'spool')) ? readdirSync(join(dataDir, 'spool')) : []);

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    await lab.startServer();
    ({ agent, installCommand, dataDir } = await lab.installAgent(a, rg, 'vmgone'));
  });
  after(async () => {
    await lab?.destroy();
  });

  test('show-status says Unknown while the agent is dead, delete completes, and the spool file goes when the agent returns', async () => {
    await lab.nwJson(
      pc(
        'create',
        '--resource-group',
        rg,
        '--vm',
        'vmgone',
        '--name',
        'orphan',
        '--storage-account',
        'nwlocal',
        '--filters',
        '[{"protocol":"UDP"}]',
      ),
    );
    await lab.waitFor(
      async () =>
        (await lab.nwJson(pc('show-status', '--name', 'orphan', '--location', LOC))).packetCaptureStatus === 'Running',
      20_000,
      'orphan to run',
    );
    const uid = spoolFiles().find((f) => f.endsWith('.cap'));
    assert.ok(uid, 'the capture writes to the spool');

    agent.kill('SIGKILL');
    await lab.waitFor(
      async () => {
        const vm = await lab.api(
          'GET',
          `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vmgone`,
        );
        return (
          (vm.body as { properties: { netwatcher: { agentConnected: boolean } } }).properties.netwatcher
            .agentConnected === false
        );
      },
      30_000,
      'the server to see the agent gone',
    );

    const status = await lab.nwJson(pc('show-status', '--name', 'orphan', '--location', LOC));
    assert.equal(status.packetCaptureStatus, 'Unknown', JSON.stringify(status));
    // az puts netwatcher's additive fields under additionalProperties, as the SDK model does.
    const instances = ((status.additionalProperties as Record<string, unknown> | undefined)?.instances ??
      status.instances) as Array<{ errorMessage: string | null }>;
    assert.match(instances[0]?.errorMessage ?? '', /AgentNotConnected|unreachable/);

    const del = await lab.nw(pc('delete', '--name', 'orphan', '--location', LOC), { timeoutInMs: 30_000 });
    assert.equal(del.code, 0, del.stderr);
    const list = await lab.nwJson<Array<{ name: string }>>(pc('list', '--location', LOC));
    assert.ok(!list.some((c) => c.name === 'orphan'), 'the capture is gone, not left Deleting');

    // The agent comes back (its credential is saved; the one-time token is spent).
    const argv = installCommand.split(/\s+/).filter(Boolean);
    argv.splice(argv.indexOf('--token'), 2);
    agent = lab.startAgentProcess(a, argv);
    await lab.waitForAgent(rg, 'vmgone');
    await lab.waitFor(
      async () => !spoolFiles().includes(uid),
      20_000,
      `the spool file ${uid} of the deleted capture to be removed (left: ${spoolFiles().join(', ')})`,
    );
    await sleep(200);
    assert.equal(agent.exitCode, null);
    await stopProcess(agent);
  });
});
