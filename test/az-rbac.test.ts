/**
 * Principals and roles with the real Azure CLI (Debian's az 2.45) against `nw server
 * --tls-self-signed` on loopback: `nw ad sp create-for-rbac` prints a service principal's
 * password once; `az login --service-principal` logs in with it through the token endpoint;
 * `az role assignment create/list/delete --assignee APPID` work as the admin (az resolves the app
 * id through the server's Microsoft Graph answers); as the service principal (Network
 * Contributor on rg1) az may list assignments but not create one, and is told so with ARM's
 * AuthorizationFailed; `nw ad sp credential reset` ends the service principal's az session at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NW_BIN, runCommand, stopProcess } from './lab/lab.js';
import { startSelfSignedServer } from './lab/self-signed-server.js';
import { AZ_BIN, AzEnvironment, azLoginCommands, runTimed, type AzResult } from './az/az-env.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const SCOPE = `/subscriptions/${SUB}/resourceGroups/rg1`;

describe('service principals and role assignments with the real az', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-az-rbac-'));
  let server: ChildProcess;
  let url = '';
  let caPath = '';
  let adminToken = '';
  let asAdmin: AzEnvironment;
  let asBot: AzEnvironment;
  const nwEnv = { ...process.env, NW_CONFIG: join(dir, 'cli.json') };
  const transcript: string[] = [];
  const az = async (env: AzEnvironment, args: string[]): Promise<AzResult> => {
    const r = await runTimed(AZ_BIN, args, env.env, { timeoutInMs: 60_000 });
    transcript.push(
      `$ az ${args.join(' ')}\n(exit ${r.code}, ${Math.round(r.durationInMs)} ms)\n${r.stdout.slice(0, 1500)}${r.stderr.slice(-1500)}`,
    );
    return r;
  };
  const azOk = async (env: AzEnvironment, args: string[]): Promise<any> => {
    const r = await az(env, args);
    assert.equal(r.code, 0, `az ${args.join(' ')}:\n${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : null;
  };
  const nw = async (args: string[]) => {
    const r = await runCommand(process.execPath, [NW_BIN, ...args], { env: nwEnv });
    transcript.push(`$ nw ${args.join(' ')}\n(exit ${r.code})\n${r.stderr.slice(-1500)}`);
    return r;
  };
  let bot: { appId: string; password: string; tenant: string; displayName: string };

  before(async () => {
    const started = await startSelfSignedServer(join(dir, 'data'));
    server = started.process;
    ({ url, caPath, adminToken } = started);
    asAdmin = await AzEnvironment.create({ caBundle: caPath });
    asBot = await AzEnvironment.create({ caBundle: caPath });
  });
  after(async () => {
    await stopProcess(server);
    asAdmin?.destroy();
    asBot?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create-for-rbac, az login --service-principal, az role assignment create/list/delete, refusal, reset', async (t) => {
    let finished = false;
    // On a failure the whole conversation is printed: what az sent and what it said.
    t.after(() => {
      if (!finished) console.log(transcript.join('\n\n'));
    });
    assert.equal((await nw(['login', '--server', url, '--token', adminToken, '--ca-file', caPath])).code, 0);
    const created = await nw([
      'ad',
      'sp',
      'create-for-rbac',
      '--name',
      'ci-bot',
      '--role',
      'Network Contributor',
      '--scopes',
      SCOPE,
    ]);
    assert.equal(created.code, 0, created.stderr);
    bot = JSON.parse(created.stdout);
    assert.deepEqual(Object.keys(bot).sort(), ['appId', 'displayName', 'password', 'tenant']);
    assert.match(created.stderr, /credentials that you must protect/);
    const listed = await nw(['ad', 'sp', 'list']);
    assert.ok(listed.stdout.includes(bot.appId) && !listed.stdout.includes(bot.password));

    // The recipe of docs/sdk.md, plus one step for role assignments: az finds Microsoft Graph (here: the server) only in the cloud's config.
    const graphStep = [
      'cloud',
      'update',
      '--cloud-config',
      JSON.stringify({ endpoints: { microsoftGraphResourceId: `${url}/` } }),
    ];
    const [register, select, adminLogin] = azLoginCommands(url, adminToken, SUB);
    await Promise.all(
      [asAdmin, asBot].map(async (env) => {
        await azOk(env, register!);
        await azOk(env, select!);
        await azOk(env, graphStep);
      }),
    );
    await azOk(asAdmin, adminLogin!);
    const login = await azOk(asBot, [
      'login',
      '--service-principal',
      '-u',
      bot.appId,
      '-p',
      bot.password,
      '--tenant',
      bot.tenant,
    ]);
    assert.equal(login[0].id, SUB);
    assert.equal(login[0].user.name, bot.appId);

    // As the admin: a second role by --assignee APPID (az asks Graph, i.e. the server, for the object id).
    const reader = await azOk(asAdmin, [
      'role',
      'assignment',
      'create',
      '--assignee',
      bot.appId,
      '--role',
      'Reader',
      '--scope',
      SCOPE,
    ]);
    assert.equal(reader.principalType, 'ServicePrincipal');
    assert.equal(reader.scope, SCOPE);
    assert.match(reader.roleDefinitionId, /\/roleDefinitions\/acdd72a7-3385-48ef-bd42-f606fba81ae7$/);
    const both = await azOk(asAdmin, ['role', 'assignment', 'list', '--assignee', bot.appId, '--scope', SCOPE]);
    assert.deepEqual(both.map((a: any) => a.roleDefinitionName).sort(), ['Network Contributor', 'Reader']);
    assert.ok(
      both.every((a: any) => a.principalName === bot.appId && a.principalId === reader.principalId),
      JSON.stringify(both),
    );

    // As the service principal: Network Contributor reads assignments but cannot make one.
    const seen = await azOk(asBot, ['role', 'assignment', 'list', '--scope', SCOPE]);
    assert.equal(seen.length, 2);
    const refused = await az(asBot, [
      'role',
      'assignment',
      'create',
      '--assignee',
      bot.appId,
      '--role',
      'Owner',
      '--scope',
      SCOPE,
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /AuthorizationFailed|does not have authorization to perform action 'Microsoft.Authorization\/roleAssignments\/write' over scope/,
    );

    await azOk(asAdmin, [
      'role',
      'assignment',
      'delete',
      '--assignee',
      bot.appId,
      '--role',
      'Reader',
      '--scope',
      SCOPE,
    ]);
    const left = await azOk(asAdmin, ['role', 'assignment', 'list', '--assignee', bot.appId, '--scope', SCOPE]);
    assert.deepEqual(
      left.map((a: any) => a.roleDefinitionName),
      ['Network Contributor'],
    );

    // A new secret: az's cached access token of the old one stops working at once.
    const reset = await nw(['ad', 'sp', 'credential', 'reset', '--id', bot.appId]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.notEqual(JSON.parse(reset.stdout).password, bot.password);
    const after = await az(asBot, ['role', 'assignment', 'list', '--scope', SCOPE]);
    assert.notEqual(after.code, 0, after.stdout);
    finished = true;
  });
});
