import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../../server/index.js';
import type { ServiceStarters } from '../services.js';
import { createTestContext } from '../testing/canned-arm-server.js';
import { UsageError } from '../errors.js';
import { runServer } from './server.js';

/** `nw server` turns its flags into the server's configuration, and refuses bad values before starting anything. */
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

test('limits and retention flags reach the server configuration', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-cli-server-'));
  try {
    const seen: ServerConfig[] = [];
    const stop = new AbortController();
    stop.abort();
    await runServer(
      {
        listen: '127.0.0.1:0',
        dataDir: dir,
        sessionLimit: '5',
        metricsRetentionDays: '2',
        agentMetricsBatchSeconds: '3',
      },
      createTestContext('http://127.0.0.1:1'),
      stop.signal,
      recordingStarters(seen),
    );
    assert.equal(seen[0]?.sessionLimitPerLocation, 5);
    assert.equal(seen[0]?.metricsRetentionInSeconds, 2 * 86400);
    assert.equal(seen[0]?.agentMetricsBatchIntervalInSeconds, 3);
    for (const bad of [
      { sessionLimit: '0' },
      { sessionLimit: 'x' },
      { metricsRetentionDays: '-1' },
      { metricsRetentionDays: 'lots' },
      { agentMetricsBatchSeconds: '0' },
      { agentMetricsBatchSeconds: '31' },
      { agentMetricsBatchSeconds: '2.5' },
    ]) {
      const before = seen.length;
      await assert.rejects(
        runServer(
          { listen: '127.0.0.1:0', dataDir: dir, ...bad },
          createTestContext('http://127.0.0.1:1'),
          stop.signal,
          recordingStarters(seen),
        ),
        UsageError,
        JSON.stringify(bad),
      );
      assert.equal(seen.length, before, 'nothing started');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('activity-log retention and single sign-on flags reach the server configuration; bad ones start nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-cli-server-'));
  try {
    const seen: ServerConfig[] = [];
    const stop = new AbortController();
    stop.abort();
    await runServer(
      {
        listen: '127.0.0.1:0',
        dataDir: dir,
        activityLogRetentionDays: '30',
        oidcIssuer: 'https://login.example.com/realms/ops',
        oidcAudience: 'api://netwatcher',
        oidcClientId: 'nw-portal',
        oidcGroupsClaim: 'roles',
      },
      createTestContext('http://127.0.0.1:1'),
      stop.signal,
      recordingStarters(seen),
    );
    assert.equal(seen[0]?.activityLogRetentionInDays, 30);
    assert.deepEqual(seen[0]?.oidc, {
      issuer: 'https://login.example.com/realms/ops',
      audience: 'api://netwatcher',
      clientId: 'nw-portal',
      groupsClaim: 'roles',
      clockSkewInSeconds: 60,
    });
    for (const bad of [
      { activityLogRetentionDays: '0' },
      { activityLogRetentionDays: 'forever' },
      { oidcIssuer: 'https://login.example.com' }, // no audience: any token of the provider would do
      { oidcIssuer: 'http://login.example.com', oidcAudience: 'a' }, // plain http off loopback
      { oidcIssuer: 'not a url', oidcAudience: 'a' },
      { oidcAudience: 'a' }, // without an issuer
    ]) {
      const before = seen.length;
      await assert.rejects(
        runServer(
          { listen: '127.0.0.1:0', dataDir: dir, ...bad },
          createTestContext('http://127.0.0.1:1'),
          stop.signal,
          recordingStarters(seen),
        ),
        UsageError,
        JSON.stringify(bad),
      );
      assert.equal(seen.length, before, 'nothing started');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
