/**
 * Issue 9 point 10: request headers (Host, X-Forwarded-Host/-Proto) shape the URLs the server
 * builds — operation links, install commands, storagePath — only when the operator says so
 * (--trust-proxy; --public-url names the server instead), and the install command is one a
 * shell runs as the words it shows. Real servers on loopback with their embedded database.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningServer, ServerConfig } from '../src/server/index.js';
import { rawRequest, startLoopbackServer } from '../src/server/testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const HOSTILE = { host: 'evil.example:8817', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };

/** A request with headers fetch will not let us set (Host). */
async function call(
  server: RunningServer,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  const answer = await rawRequest(server.url, method, `${path}?api-version=2022-01-01`, server.adminToken, body, {
    headers,
  });
  return { status: answer.status, headers: answer.headers, body: answer.json };
}

/** The words a POSIX shell makes of a command line. */
function shellWords(line: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => resolve(out.split('\0').slice(0, -1)));
  });
}

describe('proxy headers', () => {
  const dirs: string[] = [];
  const servers: RunningServer[] = [];
  const start = async (extra: Partial<ServerConfig> = {}) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nw-proxy-'));
    dirs.push(dataDir);
    const server = await startLoopbackServer(dataDir, SUB, {
      ...extra,
    });
    servers.push(server);
    return server;
  };
  const extensionPath = (vm: string) =>
    `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/${vm}/extensions/NetworkWatcherAgentLinux`;
  const extensionBody = {
    location: 'westcentralus',
    properties: {
      publisher: 'Microsoft.Azure.NetworkWatcher',
      type: 'NetworkWatcherAgentLinux',
      typeHandlerVersion: '1.4',
    },
  };
  after(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('without --trust-proxy, Host and X-Forwarded-* are ignored: links and install commands name the server itself', async () => {
    const server = await start();
    const put = await call(server, 'PUT', extensionPath('vm1'), HOSTILE, extensionBody);
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.ok(
      String(put.body.properties.installCommand).startsWith(`nw agent --server ${server.url} `),
      put.body.properties.installCommand,
    );
    assert.ok(
      String(put.headers['azure-asyncoperation']).startsWith(`${server.url}/`),
      String(put.headers['azure-asyncoperation']),
    );
    const accounts = await call(
      server,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`,
      HOSTILE,
    );
    assert.doesNotMatch(JSON.stringify(accounts.body), /evil\.example/);
    const openapi = await call(server, 'GET', '/openapi.json', HOSTILE);
    assert.deepEqual(openapi.body.servers, [{ url: server.url }]);
  });

  test('with --trust-proxy the forwarded host shapes links; with --public-url too, install commands name the public URL', async () => {
    const proxied = await start({ trustProxy: true });
    const put = await call(
      proxied,
      'PUT',
      extensionPath('vm2'),
      { 'x-forwarded-host': 'nw.example', 'x-forwarded-proto': 'https' },
      extensionBody,
    );
    assert.ok(
      String(put.body.properties.installCommand).startsWith('nw agent --server https://nw.example '),
      put.body.properties.installCommand,
    );
    assert.ok(String(put.headers['azure-asyncoperation']).startsWith('https://nw.example/'));
    const both = await start({ trustProxy: true, publicUrl: 'https://agents.example:8817' });
    const put2 = await call(
      both,
      'PUT',
      extensionPath('vm3'),
      { 'x-forwarded-host': 'nw.example', 'x-forwarded-proto': 'https' },
      extensionBody,
    );
    assert.ok(String(put2.body.properties.installCommand).startsWith('nw agent --server https://agents.example:8817 '));
    assert.ok(String(put2.headers['azure-asyncoperation']).startsWith('https://nw.example/'));
  });

  test('the install command is shell-quoted: a hostile public URL reaches the agent as one word and runs nothing', async () => {
    const evil = "http://x.example:1/$(touch /tmp/nw-pwned);'`id`";
    const server = await start({ publicUrl: evil });
    const put = await call(server, 'PUT', extensionPath('vm4'), {}, extensionBody);
    const words = await shellWords(String(put.body.properties.installCommand));
    assert.deepEqual(words.slice(0, 4), ['nw', 'agent', '--server', evil]);
    assert.equal(words[4], '--token');
    assert.equal(words[5], put.body.properties.enrollmentToken);
  });
});
