/**
 * The built-in role definitions: Azure's four general ones with Azure's names, ids and meaning
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles), and netwatcher's
 * two for packet capture. As in Azure, `actions` govern the management plane and `dataActions`
 * the data: no management wildcard (`*`, `*∕read`) ever opens a packet. Reading packets (file
 * downloads, decoded packet lists, analysis, blobs of the local storage) is a data action that
 * only Packet Capture Data Reader holds (and the admin, who is Owner of everything).
 */

/** Permissions of a role, as ARM's RoleDefinition.permissions[0] says them. */
export interface RolePermissions {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

/** A role definition. */
export interface RoleDefinition {
  /** The role's GUID (Azure's own for Azure's roles). */
  id: string;
  roleName: string;
  description: string;
  /** BuiltInRole for Azure's, CustomRole for netwatcher's (az lists them apart that way). */
  roleType: 'BuiltInRole' | 'CustomRole';
  permissions: RolePermissions;
}

/** Data action: read a capture's packets (its .cap file, decoded packets, the filtered pcap). */
export const PACKETS_READ_DATA_ACTION = 'Microsoft.Network/networkWatchers/packetCaptures/packets/read';
/** Data action: read a capture's analysis (conversations, endpoints, DNS, TLS names: what the packets say). */
export const ANALYSIS_READ_DATA_ACTION = 'Microsoft.Network/networkWatchers/packetCaptures/analysis/read';
/** Data action: read a blob of a local storage account (Azure's own name). */
export const BLOB_READ_DATA_ACTION = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read';
/** queryStatus is a POST, so Azure's Reader (`*∕read`) would not see a capture's status; netwatcher's Reader does. */
const QUERY_STATUS_ACTION = 'Microsoft.Network/networkWatchers/packetCaptures/queryStatus/action';

const none = { notActions: [], dataActions: [], notDataActions: [] };

/** Owner: full access, including role assignments (Azure's id). */
export const OWNER_ROLE_ID = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
/** Contributor: everything but access management (Azure's id). */
export const CONTRIBUTOR_ROLE_ID = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
/** Reader: sees everything, changes nothing, reads no packets (Azure's id). */
export const READER_ROLE_ID = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
/** Network Contributor: manages networks, network watchers and packet captures (Azure's id). */
export const NETWORK_CONTRIBUTOR_ROLE_ID = '4d97b98b-1d4f-4787-a291-c67834d212e7';
/** Packet Capture Operator (netwatcher): starts, stops and deletes captures; no settings, no packets. */
export const PACKET_CAPTURE_OPERATOR_ROLE_ID = '6a7cbdd3-7be8-476a-9ff4-101887ea3b64';
/** Packet Capture Data Reader (netwatcher): downloads and analyses capture files; starts nothing. */
export const PACKET_CAPTURE_DATA_READER_ROLE_ID = '947f1704-05e9-42d8-b2ef-11829e221de3';

/** Every built-in role, in the order `az role definition list` shows them. */
export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  {
    id: OWNER_ROLE_ID,
    roleName: 'Owner',
    roleType: 'BuiltInRole',
    description: 'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    permissions: { actions: ['*'], ...none },
  },
  {
    id: CONTRIBUTOR_ROLE_ID,
    roleName: 'Contributor',
    roleType: 'BuiltInRole',
    description: 'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.',
    permissions: {
      actions: ['*'],
      notActions: [
        'Microsoft.Authorization/*/Delete',
        'Microsoft.Authorization/*/Write',
        'Microsoft.Authorization/elevateAccess/Action',
      ],
      dataActions: [],
      notDataActions: [],
    },
  },
  {
    id: READER_ROLE_ID,
    roleName: 'Reader',
    roleType: 'BuiltInRole',
    description:
      'View all resources, but does not allow you to make any changes. In netwatcher also the status of packet captures (queryStatus), never their packets.',
    permissions: { actions: ['*/read', QUERY_STATUS_ACTION], ...none },
  },
  {
    id: NETWORK_CONTRIBUTOR_ROLE_ID,
    roleName: 'Network Contributor',
    roleType: 'BuiltInRole',
    description: 'Lets you manage networks, but not access to them.',
    permissions: {
      actions: [
        'Microsoft.Authorization/*/read',
        'Microsoft.Insights/alertRules/*',
        'Microsoft.Network/*',
        'Microsoft.ResourceHealth/availabilityStatuses/read',
        'Microsoft.Resources/deployments/*',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        'Microsoft.Support/*',
      ],
      ...none,
    },
  },
  {
    id: PACKET_CAPTURE_OPERATOR_ROLE_ID,
    roleName: 'Packet Capture Operator',
    roleType: 'CustomRole',
    description:
      'Starts, stops and deletes packet captures on the hosts it can see; changes no settings (watchers, hosts, storage, alerts) and reads no packets.',
    permissions: {
      actions: [
        'Microsoft.Network/networkWatchers/read',
        'Microsoft.Network/networkWatchers/packetCaptures/*',
        'Microsoft.Network/locations/operations/read',
        'Microsoft.Network/locations/operationResults/read',
        'Microsoft.Compute/virtualMachines/read',
        'Microsoft.Compute/virtualMachines/extensions/read',
        'Microsoft.Storage/storageAccounts/read',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
      ],
      ...none,
    },
  },
  {
    id: PACKET_CAPTURE_DATA_READER_ROLE_ID,
    roleName: 'Packet Capture Data Reader',
    roleType: 'CustomRole',
    description:
      'Downloads and analyses the files of packet captures (their packets); starts, stops and deletes nothing.',
    permissions: {
      actions: [
        'Microsoft.Network/networkWatchers/read',
        'Microsoft.Network/networkWatchers/packetCaptures/read',
        QUERY_STATUS_ACTION,
        'Microsoft.Storage/storageAccounts/read',
      ],
      notActions: [],
      dataActions: [PACKETS_READ_DATA_ACTION, ANALYSIS_READ_DATA_ACTION, BLOB_READ_DATA_ACTION],
      notDataActions: [],
    },
  },
];

/** The built-in role with this GUID (case-insensitive), or undefined. */
export function roleById(id: string): RoleDefinition | undefined {
  return BUILT_IN_ROLES.find((r) => r.id === id.toLowerCase());
}

/** ARM's wildcard match of an action against a permission pattern: case-insensitive, `*` any run of characters (slashes too). */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  return re.test(action);
}

/** Whether a role grants an action (`data`: a data action, checked against dataActions only). */
export function roleGrants(role: RoleDefinition, action: string, data: boolean): boolean {
  const allow = data ? role.permissions.dataActions : role.permissions.actions;
  const deny = data ? role.permissions.notDataActions : role.permissions.notActions;
  return allow.some((p) => actionMatches(p, action)) && !deny.some((p) => actionMatches(p, action));
}
