// NW_CAPTURE_PROGRAM / --capture-program reach the agent checked: a valid value as the typed
// choice, an invalid one as a usage error before the agent starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentConfig } from '../../agent/index.js';
import { runCli } from '../program.js';
import type { ServiceStarters } from '../services.js';
import { createTestContext } from '../testing/canned-arm-server.js';

function recordingStarters(seen: AgentConfig[]): ServiceStarters {
  return {
    startServer: async () => {
      throw new Error('not used');
    },
    startAgent: async (config) => {
      seen.push(config);
      return { vmId: 'vm', warnings: [], close: async () => {} } as never;
    },
    adminTokenFile: 'admin-token',
    defaultStorageAccountName: 'nwlocal',
    defaultResourceGroup: 'NetworkWatcherRG',
  };
}

async function runAgentCli(
  args: string[],
  env: string | undefined,
): Promise<{ code: number; seen: AgentConfig[]; stderr: string }> {
  const saved = process.env['NW_CAPTURE_PROGRAM'];
  if (env === undefined) delete process.env['NW_CAPTURE_PROGRAM'];
  else process.env['NW_CAPTURE_PROGRAM'] = env;
  try {
    const seen: AgentConfig[] = [];
    const stop = new AbortController();
    stop.abort();
    const ctx = createTestContext('http://127.0.0.1:1');
    const dataDir = `/tmp/nw-agent-capture-program-${process.pid}`;
    const code = await runCli(['agent', '--server', 'http://nw1:8817', '--data-dir', dataDir, ...args], ctx, {
      stop: stop.signal,
      starters: recordingStarters(seen),
    });
    return { code, seen, stderr: ctx.stderr() };
  } finally {
    if (saved === undefined) delete process.env['NW_CAPTURE_PROGRAM'];
    else process.env['NW_CAPTURE_PROGRAM'] = saved;
  }
}

test('NW_CAPTURE_PROGRAM=tcpdump reaches the agent as its capture program; the flag wins over it', async () => {
  const fromEnv = await runAgentCli([], 'tcpdump');
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.equal(fromEnv.seen[0]?.captureProgram, 'tcpdump');
  const fromFlag = await runAgentCli(['--capture-program', 'native'], 'tcpdump');
  assert.equal(fromFlag.code, 0, fromFlag.stderr);
  assert.equal(fromFlag.seen[0]?.captureProgram, 'native');
  const unset = await runAgentCli([], undefined);
  assert.equal(unset.code, 0, unset.stderr);
  assert.equal(unset.seen[0]?.captureProgram, undefined); // the agent's default: auto
});

test('an invalid NW_CAPTURE_PROGRAM stops nw agent at start with a usage error naming the accepted values', async () => {
  const run = await runAgentCli([], 'fast');
  assert.notEqual(run.code, 0);
  assert.equal(run.seen.length, 0, 'the agent must not start');
  assert.match(run.stderr, /NW_CAPTURE_PROGRAM.*auto, native, tcpdump.*'fast'/);
});
