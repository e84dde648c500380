import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../../server/index.js';
import type { ServiceStarters } from '../services.js';
import { runCli } from '../program.js';
import { createTestContext } from '../testing/canned-arm-server.js';

function recordingStarters(seen: ServerConfig[]): ServiceStarters {
  return {
    startServer: async (config) => {
      seen.push(config);
      return { url: 'http://127.0.0.1:1', adminToken: 't', close: async () => {} };
    },
    startAgent: async () => {
      throw new Error('not used');
    },
    adminTokenFile: 'admin-token',
    defaultStorageAccountName: 'nwlocal',
    defaultResourceGroup: 'NetworkWatcherRG',
  };
}

test('--outbound-deny and --outbound-allow (repeatable) reach the server configuration; a bad CIDR is a usage error before anything starts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-cli-outbound-'));
  try {
    const seen: ServerConfig[] = [];
    const stop = new AbortController();
    stop.abort();
    const run = (args: string[]) =>
      runCli(
        ['server', '--listen', '127.0.0.1:0', '--data-dir', dir, ...args],
        createTestContext('http://127.0.0.1:1'),
        { stop: stop.signal, starters: recordingStarters(seen) },
      );
    assert.equal(
      await run(['--outbound-deny', '10.0.0.0/8', '--outbound-deny', 'fd00::/8', '--outbound-allow', '10.1.0.0/16']),
      0,
    );
    assert.deepEqual(seen[0]?.outbound, { deny: ['10.0.0.0/8', 'fd00::/8'], allow: ['10.1.0.0/16'] });
    assert.equal(await run([]), 0);
    assert.equal(seen[1]?.outbound, undefined, 'no flags: the built-in denials only');
    for (const bad of [
      ['--outbound-deny', '10.0.0.0/33'],
      ['--outbound-allow', 'example.com'],
    ]) {
      const before = seen.length;
      assert.equal(await run(bad), 2, bad.join(' '));
      assert.equal(seen.length, before, 'nothing started');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
