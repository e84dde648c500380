/**
 * The permission matrix: every route the server registers × each built-in role assigned at the
 * subscription, at the resource group the resources live in, at another resource group, and not
 * at all. What each role may do is written here by operation id, independently of the role
 * definitions and of the operation table's actions (which the server checks), so a wrong action
 * in the table or a wrong permission in a role fails here. Refusals are ARM's 403
 * AuthorizationFailed naming the action and the scope, and change nothing. A registered route
 * that the operation table does not know fails the first test: every new route needs its action.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOpenApiDocument } from './openapi.js';
import {
  CONTRIBUTOR_ROLE_ID,
  NETWORK_CONTRIBUTOR_ROLE_ID,
  OWNER_ROLE_ID,
  PACKET_CAPTURE_DATA_READER_ROLE_ID,
  PACKET_CAPTURE_OPERATOR_ROLE_ID,
  READER_ROLE_ID,
} from './rbac/index.js';
import { startRbacServer, type RbacServer } from './testing/rbac-server.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'authrg';
const OTHER_RG = 'otherrg';
const rgPath = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const av = 'api-version=2022-01-01';

/** Routes outside the operation table that check their own proof (signatures, agent credentials, keys, the portal's session routes). */
const SELF_AUTHENTICATED_PREFIXES = ['/storage/', '/agent/', '/alert-capture/', '/portal/'];

const NETWORK_READS = [
  'NetworkWatchers_ListAll',
  'NetworkWatchers_List',
  'NetworkWatchers_Get',
  'PacketCaptures_List',
  'PacketCaptures_Get',
];
const CAPTURE_CHANGES = ['PacketCaptures_Create', 'PacketCaptures_Delete', 'PacketCaptures_Stop'];
const DATA = [
  'PacketCaptures_Analyze',
  'PacketCaptures_ListPackets',
  'PacketCaptures_DownloadPackets',
  'PacketCaptures_Download',
];
const OPERATIONS = ['Operations_GetStatus', 'Operations_GetResult'];
const STORAGE_READS = ['StorageAccounts_List', 'StorageAccounts_ListByResourceGroup', 'StorageAccounts_GetProperties'];
const VM_READS = [
  'VirtualMachines_ListAll',
  'VirtualMachines_List',
  'VirtualMachines_Get',
  'VirtualMachineExtensions_List',
  'VirtualMachineExtensions_Get',
];
const AUTHORIZATION_READS = [
  'RoleDefinitions_List',
  'RoleDefinitions_Get',
  'RoleAssignments_ListForSubscription',
  'RoleAssignments_Get',
  'RoleDefinitions_ListAtResourceGroup',
  'RoleDefinitions_GetAtResourceGroup',
  'RoleAssignments_ListAtResourceGroup',
  'RoleAssignments_GetAtResourceGroup',
];
const AUTHORIZATION_WRITES = [
  'RoleAssignments_Create',
  'RoleAssignments_Delete',
  'RoleAssignments_CreateAtResourceGroup',
  'RoleAssignments_DeleteAtResourceGroup',
];
/** Server-wide: the admin's alone (no role assignment reaches the root scope). */
const ROOT = [
  'AdminToken_Rotate',
  'Tokens_List',
  'ServicePrincipals_List',
  'ServicePrincipals_Create',
  'ServicePrincipals_Get',
  'ServicePrincipals_ResetCredential',
  'ServicePrincipals_Delete',
];

interface Route {
  method: string;
  url: string;
  operationId: string;
  access: { action?: string; dataAction?: string; anyPrincipal?: true; scope: string } | null;
}

/** Which operations a role allows, by operation id (`everything` for Owner and Contributor: every management operation but ROOT, no data). */
function allowedBy(role: string, op: Route): boolean {
  const id = op.operationId;
  if (ROOT.includes(id) || (DATA.includes(id) && !(role === 'Packet Capture Data Reader'))) return false;
  switch (role) {
    case 'Owner':
      return true;
    case 'Contributor':
      return !AUTHORIZATION_WRITES.includes(id);
    // Reader: every GET but packets, and the status of captures.
    case 'Reader':
      return op.method === 'GET' || id === 'PacketCaptures_GetStatus';
    case 'Network Contributor':
      return (
        id.startsWith('NetworkWatchers_') ||
        (id.startsWith('PacketCaptures_') && !DATA.includes(id)) ||
        OPERATIONS.includes(id) ||
        AUTHORIZATION_READS.includes(id)
      );
    case 'Packet Capture Operator':
      return [
        ...NETWORK_READS,
        ...CAPTURE_CHANGES,
        'PacketCaptures_GetStatus',
        ...OPERATIONS,
        ...VM_READS,
        ...STORAGE_READS,
      ].includes(id);
    case 'Packet Capture Data Reader':
      return [...NETWORK_READS, 'PacketCaptures_GetStatus', ...DATA, ...STORAGE_READS].includes(id);
    default:
      throw new Error(role);
  }
}

const ROLES: Record<string, string> = {
  Owner: OWNER_ROLE_ID,
  Contributor: CONTRIBUTOR_ROLE_ID,
  Reader: READER_ROLE_ID,
  'Network Contributor': NETWORK_CONTRIBUTOR_ROLE_ID,
  'Packet Capture Operator': PACKET_CAPTURE_OPERATOR_ROLE_ID,
  'Packet Capture Data Reader': PACKET_CAPTURE_DATA_READER_ROLE_ID,
};
type Where = 'subscription' | 'resourceGroup' | 'otherResourceGroup' | 'none';
const WHERE: Where[] = ['subscription', 'resourceGroup', 'otherResourceGroup', 'none'];

/** A concrete path for a route pattern: real resources where they exist, so a refusal is never a 404 in disguise. */
function concrete(pattern: string): string {
  const segs = pattern.split('/');
  return segs
    .map((seg, i) => {
      if (!seg.startsWith(':') && !seg.startsWith('{')) return seg;
      const collection = (segs[i - 1] ?? '').toLowerCase();
      const byCollection: Record<string, string> = {
        subscriptions: SUB,
        resourcegroups: RG,
        networkwatchers: 'nw1',
        packetcaptures: 'pc1',
        virtualmachines: 'vm1',
        extensions: 'NetworkWatcherAgentLinux',
        storageaccounts: 'nwlocal',
        metricalerts: 'rule1',
        actiongroups: 'ag1',
        alertcaptures: 'ac1',
        providers: 'Microsoft.Network',
        locations: 'westus',
        operations: '00000000-0000-0000-0000-000000000001',
        operationresults: '00000000-0000-0000-0000-000000000001',
        alerts: '00000000-0000-0000-0000-000000000002',
        roleassignments: '11111111-1111-1111-1111-111111111111',
        roledefinitions: READER_ROLE_ID,
      };
      return byCollection[collection] ?? 'x';
    })
    .join('/');
}

describe('permission matrix', () => {
  let s: RbacServer;
  let routes: Route[] = [];
  /** principal secrets by `${role} @ ${where}` */
  const secrets = new Map<string, string>();

  before(async () => {
    s = await startRbacServer(SUB);
    const ok = (r: { status: number; body: string }, ...codes: number[]) => assert.ok(codes.includes(r.status), r.body);
    ok(
      await s.admin('PUT', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1?${av}`, { location: 'westus' }),
      201,
    );
    ok(
      await s.admin(
        'PUT',
        `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux?${av}`,
        {
          location: 'westus',
          properties: {
            publisher: 'Microsoft.Azure.NetworkWatcher',
            type: 'NetworkWatcherAgentLinux',
            typeHandlerVersion: '1.4',
          },
        },
      ),
      200,
      201,
    );
    ok(
      await s.admin('PUT', `${rgPath}/providers/Microsoft.Insights/actionGroups/ag1?${av}`, {
        location: 'global',
        properties: { groupShortName: 'ag1', enabled: true, webhookReceivers: [] },
      }),
      201,
    );
    ok(await s.admin('PUT', `${rgPath}/providers/Netwatcher/alertCaptures/ac1?${av}`, { properties: {} }), 201);
    for (const [role, roleId] of Object.entries(ROLES)) {
      for (const where of WHERE) {
        const sp = await s.createServicePrincipal(`${role} ${where}`);
        const scope =
          where === 'subscription'
            ? `/subscriptions/${SUB}`
            : where === 'resourceGroup'
              ? rgPath
              : `/subscriptions/${SUB}/resourceGroups/${OTHER_RG}`;
        if (where !== 'none') await s.assign(roleId, sp.objectId, scope);
        secrets.set(`${role} @ ${where}`, sp.password);
      }
    }
  });
  after(async () => {
    await s?.close();
  });

  test('every registered route has an action in the operation table (or checks its own proof)', () => {
    const doc = buildOpenApiDocument() as {
      paths: Record<
        string,
        Record<string, { operationId: string; security?: unknown[]; 'x-nw-authorization'?: Route['access'] }>
      >;
    };
    const shape = (m: string, p: string) =>
      `${m.toUpperCase() === 'HEAD' ? 'GET' : m.toUpperCase()} ${p
        .toLowerCase()
        .replace(/\{\w+\}|:\w+/g, '{}')
        .replace(/(.)\/+$/, '$1')}`;
    const documented = new Map<string, { operationId: string; access: Route['access'] }>();
    for (const [p, ops] of Object.entries(doc.paths))
      for (const [m, op] of Object.entries(ops))
        documented.set(shape(m, p), { operationId: op.operationId, access: op['x-nw-authorization'] ?? null });
    const registered = (s.server.routes ?? []).filter((r) => r.method !== 'OPTIONS' && r.method !== 'HEAD');
    assert.ok(registered.length > 60, `${registered.length} routes`);
    const missing: string[] = [];
    const seen = new Set<string>();
    routes = [];
    for (const r of registered) {
      const key = shape(r.method, r.url);
      if (seen.has(key)) continue;
      seen.add(key);
      const found = documented.get(key);
      if (!found) {
        if (!SELF_AUTHENTICATED_PREFIXES.some((p) => r.url.toLowerCase().startsWith(p)))
          missing.push(`${r.method} ${r.url}`);
        continue;
      }
      routes.push({ method: r.method, url: r.url, operationId: found.operationId, access: found.access });
    }
    assert.deepEqual(
      missing,
      [],
      `routes without an entry (and action) in the operation table of src/server/openapi.ts: ${missing.join(', ')}`,
    );
    for (const r of routes) {
      const isPublic =
        (doc.paths[Object.keys(doc.paths).find((p) => shape(r.method, p) === shape(r.method, r.url))!]![
          r.method.toLowerCase()
        ]!.security ?? null) !== null;
      assert.ok(isPublic || r.access !== null, `${r.method} ${r.url} (${r.operationId}) has no action`);
      assert.ok(
        isPublic ||
          r.access?.anyPrincipal ||
          /^[A-Za-z.{}]+(\/[A-Za-z.{}*]+)+$/.test(r.access?.action ?? r.access?.dataAction ?? ''),
        `${r.operationId}: action '${JSON.stringify(r.access)}' has an action's shape`,
      );
    }
  });

  /** A body that would pass many PUT/POST schemas is not needed: the check runs before the body is read. */
  const bodyFor = (route: Route) =>
    route.method === 'PUT' || route.method === 'POST' ? { location: 'westus', properties: {} } : undefined;

  /** The scope a route's check names, as the matrix expects it: the resource group, the subscription or the root. */
  function expectedScopeKind(route: Route): 'root' | 'subscription' | 'resourceGroup' {
    if (route.access?.scope === 'root') return 'root';
    if (route.access?.scope === 'subscription' || route.access?.scope === 'operation') return 'subscription';
    return concrete(route.url).toLowerCase().startsWith(rgPath.toLowerCase()) ? 'resourceGroup' : 'subscription';
  }

  async function snapshot(): Promise<string> {
    const lists = [
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`,
      `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1/packetCaptures`,
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`,
      `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1/extensions`,
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`,
      `/subscriptions/${SUB}/providers/Microsoft.Insights/actionGroups`,
      `/subscriptions/${SUB}/providers/Netwatcher/alertCaptures`,
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments`,
      '/admin/v1/servicePrincipals',
      '/admin/v1/tokens',
    ];
    const answers = await Promise.all(
      lists.map(async (p) => `${p} ${(await s.admin('GET', `${p}?${av}`)).body.replace(/"lastSeen[^,}]*[,}]/g, '')}`),
    );
    return answers.join('\n');
  }

  test("each role at the right scope, the wrong scope and none: refused exactly where the role does not reach, with ARM's AuthorizationFailed; refusals change nothing", async () => {
    assert.ok(routes.length > 60, 'the route walk ran first');
    const refusals: Array<{ route: Route; token: string; who: string }> = [];
    const allowed: Array<{ route: Route; token: string; who: string }> = [];
    for (const route of routes) {
      if (route.access === null) continue; // public (the auth matrix covers them)
      for (const role of Object.keys(ROLES)) {
        for (const where of WHERE) {
          const who = `${role} @ ${where}`;
          const scopeKind = expectedScopeKind(route);
          const reaches =
            route.access.anyPrincipal === true ||
            (allowedBy(role, route) &&
              (where === 'subscription'
                ? scopeKind !== 'root'
                : where === 'resourceGroup'
                  ? scopeKind === 'resourceGroup'
                  : false));
          (reaches ? allowed : refusals).push({ route, token: secrets.get(who)!, who });
        }
      }
    }
    const before = await snapshot();
    let refused = 0;
    for (const { route, token, who } of refusals) {
      const path = concrete(route.url);
      const r = await s.call(route.method, `${path}?${av}`, token, bodyFor(route));
      const what = `${route.method} ${path} (${route.operationId}) as ${who}: ${r.status} ${r.body.slice(0, 300)}`;
      assert.equal(r.status, 403, what);
      assert.equal(r.json?.error?.code, 'AuthorizationFailed', what);
      const action = (route.access!.action ?? route.access!.dataAction)!.replace(
        '{resourceProviderNamespace}',
        'Microsoft.Network',
      );
      assert.ok(r.json.error.message.includes(`perform action '${action}' over scope '`), what);
      refused++;
    }
    assert.equal(await snapshot(), before, 'refused requests changed nothing');
    for (const { route, token, who } of allowed) {
      const path = concrete(route.url);
      const r = await s.call(route.method, `${path}?${av}`, token, bodyFor(route));
      assert.ok(
        r.status !== 403 && r.status !== 401,
        `${route.method} ${path} (${route.operationId}) as ${who} is allowed: ${r.status} ${r.body.slice(0, 300)}`,
      );
    }
    assert.ok(refused > 1000 && allowed.length > 300, `${refused} refused, ${allowed.length} allowed`);
  });
});
