import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { killLeftover, processIdentity } from './orphans.js';

test('a leftover process is killed only while it is the same process', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const identity = processIdentity(child.pid!);
  assert.equal(identity?.command, 'sleep');
  assert.equal(
    killLeftover({ ...identity!, startTicks: String(Number(identity!.startTicks) + 1) }),
    false,
    'another start time: a reused PID is left alone',
  );
  assert.equal(killLeftover({ ...identity!, command: 'tcpdump' }), false, 'another command is left alone');
  assert.equal(killLeftover(identity!), true);
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.once('exit', (c, s) => r([c, s])),
  );
  assert.equal(signal, 'SIGKILL');
  assert.equal(processIdentity(child.pid!), null);
  assert.equal(killLeftover(identity!), false, 'gone');
});
