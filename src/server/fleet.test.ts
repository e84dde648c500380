/**
 * Scale sets and join keys through the HTTP API of an in-process server (issue 14): hosts join a
 * resource group or a scale set with a key; a key's max uses, revocation and expiry hold, also
 * under concurrent joins; a name in use is refused and costs no use; keys are never shown again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { migrate, openPglite, Store } from '../store/index.js';
import { startServer, type RunningServer } from './server.js';
import { apiCaller } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'fleetrg';
const rgPath = `/subscriptions/${SUB}/resourceGroups/${RG}`;

/** Whether an agent connection with this credential is accepted (the WebSocket opens). */
function agentConnects(baseUrl: string, credential: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/agent/v1/connect`, {
      headers: { Authorization: `Bearer ${credential}` },
    });
    ws.on('open', () => {
      ws.close();
      resolve(true);
    });
    ws.on('error', () => resolve(false));
    ws.on('unexpected-response', () => resolve(false));
  });
}

describe('scale sets and join keys', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-fleet-'));
  const call = apiCaller(() => server, '2024-07-01');
  const join_ = (joinKey: string, vmName?: string, hostname = '') =>
    call('POST', '/agent/v1/join', { joinKey, hostname, ...(vmName ? { vmName } : {}) }, null);
  const newKey = async (body: Record<string, unknown> = {}) => {
    const r = await call('POST', `${rgPath}/providers/Netwatcher/joinKeys`, body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { id: string; joinKey: string; installCommand: string };
  };

  before(async () => {
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'westus',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a join key registers and enrols a host in one step; its credential works; the key is shown once and never stored', async () => {
    const key = await newKey({ maxUses: 5, description: 'web tier' });
    assert.match(key.joinKey, /^nwj_[A-Za-z0-9_-]{40,}$/);
    assert.match(
      key.installCommand,
      /^nw agent --server \S+ --join-key nwj_\S+ --data-dir \/var\/lib\/netwatcher\/agent$/,
    );
    const joined = await join_(key.joinKey, undefined, 'web1');
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    assert.equal(joined.body.vmName, 'web1', 'the name defaults to the host name');
    assert.match(String(joined.body.credential), /^nwg_/);
    const vm = await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachines/web1`);
    assert.equal(vm.status, 200);
    assert.ok((vm.body.properties as { netwatcher: { enrolledAt: string | null } }).netwatcher.enrolledAt);
    // The agent credential authenticates nothing of the admin API but is a live credential.
    const listed = await call('GET', `${rgPath}/providers/Netwatcher/joinKeys`);
    const row = (listed.body.value as Array<Record<string, unknown>>).find((k) => k.id === key.id)!;
    assert.equal(row.uses, 1);
    assert.equal(row.state, 'Active');
    assert.equal(JSON.stringify(listed.body).includes(key.joinKey), false, 'a list never shows the key');
    assert.equal(JSON.stringify(listed.body).includes(key.joinKey.slice(4, 20)), false);
    // Nothing on disk holds the key (the database stores its hash only), and the log never names it.
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name));
      }
    };
    walk(dataDir);
    for (const f of files) assert.equal(readFileSync(f).includes(key.joinKey), false, `${f} holds the join key`);
  });

  test('a name in use is refused clearly and costs the key no use', async () => {
    const key = await newKey({ maxUses: 1 });
    const clash = await join_(key.joinKey, 'web1');
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error?.code, 'VirtualMachineNameInUse');
    assert.match(clash.body.error!.message, /web1.*already exists/);
    const ok = await join_(key.joinKey, 'web2');
    assert.equal(ok.status, 200, 'the refused join did not use the only use');
  });

  test('max uses holds under concurrent joins: exactly N hosts get in', async () => {
    const key = await newKey({ maxUses: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => join_(key.joinKey, `race${i}`)));
    assert.equal(answers.filter((a) => a.status === 200).length, 3);
    const refused = answers.filter((a) => a.status !== 200);
    assert.ok(
      refused.every(
        (a) => a.status === 401 && a.body.error?.code === 'InvalidJoinKey' && /maxUses 3/.test(a.body.error.message),
      ),
      JSON.stringify(refused.map((r) => r.body)),
    );
    const vms = await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachines`);
    assert.equal(
      (vms.body.value as Array<{ name: string }>).filter((v) => v.name.startsWith('race')).length,
      3,
      'refused joins created nothing',
    );
  });

  test('revoking a key stops new joins and leaves joined hosts alone', async () => {
    const key = await newKey();
    const first = await join_(key.joinKey, 'keep1');
    assert.equal(first.status, 200);
    const revoked = await call('POST', `${rgPath}/providers/Netwatcher/joinKeys/${key.id}/revoke`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.state, 'Revoked');
    const late = await join_(key.joinKey, 'keep2');
    assert.equal(late.status, 401);
    assert.match(late.body.error!.message, /revoked/);
    // The host that joined still authenticates (its credential is its own).
    assert.equal(
      await agentConnects(server.url, String(first.body.credential)),
      true,
      'the joined host keeps its credential',
    );
    assert.equal(await agentConnects(server.url, 'nwg_not-a-credential'), false);
    assert.equal((await call('POST', `${rgPath}/providers/Netwatcher/joinKeys/no-such-id/revoke`)).status, 404);
  });

  test('bad join-key input is refused naming the field, and an unknown key is refused', async () => {
    const bad = await call('POST', `${rgPath}/providers/Netwatcher/joinKeys`, { maxUses: 0 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /maxUses/);
    const noVmss = await call('POST', `${rgPath}/providers/Netwatcher/joinKeys`, { vmScaleSetName: 'nosuch' });
    assert.equal(noVmss.status, 404);
    const unknown = await join_('nwj_not-a-key', 'x1');
    assert.equal(unknown.status, 401);
    assert.match(unknown.body.error!.message, /unknown/);
    const badName = await join_((await newKey()).joinKey, 'bad name!');
    assert.equal(badName.status, 400);
  });

  test('a scale set: hosts join as instances 0, 1, 2 in join order; its extension issues a scale-set key; a host name in use is refused', async () => {
    assert.equal(
      (await call('PUT', `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web`, { location: 'westus' }))
        .status,
      201,
    );
    assert.equal(
      (await call('PUT', `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web`, {})).status,
      200,
      'PUT again: it exists',
    );
    // Refused as on a VM (one check for both): another publisher, or the Windows agent.
    for (const [extName, properties, target, message] of [
      [
        'Other',
        { publisher: 'Contoso.Agents', type: 'NetworkWatcherAgentLinux' },
        'properties.publisher',
        /Publisher 'Contoso.Agents' is not supported/,
      ],
      [
        'NetworkWatcherAgentWindows',
        { publisher: 'Microsoft.Azure.NetworkWatcher' },
        'properties.type',
        /run on Linux hosts/,
      ],
    ] as const) {
      const refused = await call(
        'PUT',
        `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web/extensions/${extName}`,
        { properties },
      );
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error?.code, 'InvalidParameter');
      assert.equal(refused.body.error?.target, target);
      assert.match(refused.body.error?.message, message);
      const stored = await call(
        'GET',
        `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web/extensions/${extName}`,
      );
      assert.equal(stored.status, 404, 'a refused extension is not recorded');
    }
    const ext = await call(
      'PUT',
      `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web/extensions/NetworkWatcherAgentLinux`,
      {
        properties: {
          publisher: 'Microsoft.Azure.NetworkWatcher',
          type: 'NetworkWatcherAgentLinux',
          typeHandlerVersion: '1.4',
        },
      },
    );
    assert.equal(ext.status, 201, JSON.stringify(ext.body));
    const props = ext.body.properties as { installCommand: string; joinKey: string };
    assert.match(props.installCommand, /--join-key nwj_/);
    for (const host of ['h-a', 'h-b', 'h-c']) assert.equal((await join_(props.joinKey, undefined, host)).status, 200);
    const clash = await join_(props.joinKey, undefined, 'h-b');
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error?.code, 'VirtualMachineNameInUse');
    const instances = await call(
      'GET',
      `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines`,
    );
    const list = instances.body.value as Array<{
      id: string;
      name: string;
      instanceId: string;
      properties: { osProfile: { computerName: string } };
    }>;
    assert.deepEqual(
      list.map((i) => [i.instanceId, i.name, i.properties.osProfile.computerName]),
      [
        ['0', 'web_0', 'h-a'],
        ['1', 'web_1', 'h-b'],
        ['2', 'web_2', 'h-c'],
      ],
    );
    assert.match(list[1]!.id, /\/virtualMachineScaleSets\/web\/virtualMachines\/1$/);
    const vmss = await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web`);
    assert.equal((vmss.body.sku as { capacity: number }).capacity, 3);
    // Instances are not standalone VMs.
    const vms = await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachines`);
    assert.equal(
      (vms.body.value as Array<{ name: string }>).some((v) => v.name.startsWith('web_')),
      false,
    );
    // A new install command revokes the earlier one's key.
    const again = await call(
      'PUT',
      `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web/extensions/NetworkWatcherAgentLinux`,
      {},
    );
    assert.equal(again.status, 200);
    assert.equal((await join_(props.joinKey, undefined, 'h-d')).status, 401);
    // Delete: its instances go, their credentials with them.
    assert.equal(
      (await call('DELETE', `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web`)).status,
      200,
    );
    assert.equal((await call('GET', `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets/web`)).status, 404);
  });
});

describe('join keys in the store', () => {
  test('an expired key is refused and counts nothing; a join that throws counts nothing', async () => {
    const db = await openPglite(null);
    await migrate(db);
    const store = new Store(db);
    const expired = await store.createJoinKey({
      subscriptionId: 's',
      resourceGroup: 'rg',
      vmssKey: null,
      location: null,
      description: null,
      maxUses: null,
      expiresAt: new Date(Date.now() - 1000),
    });
    const r = await store.useJoinKey(expired.key, async () => 'joined');
    assert.deepEqual([r.ok, r.ok ? null : r.refusal], [false, 'expired']);
    const live = await store.createJoinKey({
      subscriptionId: 's',
      resourceGroup: 'rg',
      vmssKey: null,
      location: null,
      description: null,
      maxUses: 1,
      expiresAt: new Date(Date.now() + 60_000),
    });
    await assert.rejects(
      store.useJoinKey(live.key, async () => {
        throw new Error('name in use');
      }),
      /name in use/,
    );
    assert.equal((await store.listJoinKeys({ subscriptionId: 's' })).find((k) => k.id === live.id)!.uses, 0);
    const used = await store.useJoinKey(live.key, async () => 'joined');
    assert.equal(used.ok, true);
    const exhausted = await store.useJoinKey(live.key, async () => 'joined');
    assert.equal(exhausted.ok ? null : exhausted.refusal, 'exhausted');
    await db.close();
  });
});
