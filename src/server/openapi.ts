/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas that validate requests
 * and from the response schemas (both in src/model; the SDK tests check real answers against the
 * latter). Served at `GET /openapi.json` and committed as docs/openapi.json (`npm run openapi`;
 * a test fails when the two drift apart).
 *
 * Request schemas come out of `z.toJSONSchema(…, { io: 'output' })`: the `ciObject` key mapping is
 * a preprocess, so the output side is the canonical spelling. `additionalProperties: false` is
 * dropped everywhere: ARM ignores unknown request properties and clients must tolerate new
 * response properties.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ALERT_CAPTURE_PATH_PREFIX, ALERT_CAPTURE_PROVIDER } from '../alerts/index.js';
import {
  AGENT_CA_PATH,
  AGENT_ENROLL_PATH,
  AGENT_JOIN_PATH,
  ANALYSIS_DEFAULT_TOP,
  ANALYSIS_MAX_TOP,
  ANALYSIS_SECTIONS,
  PACKET_LIST_MAX_LIMIT,
  analysisReportSchema,
  packetListPageSchema,
  actionGroupPutSchema,
  alertCapturePutSchema,
  metricAlertPutSchema,
  roleAssignmentPutSchema,
  servicePrincipalCreateSchema,
  networkWatcherPutSchema,
  packetCaptureCreateSchema,
  storageAccountPutSchema,
  vmExtensionPutSchema,
  vmLookbackPutSchema,
  vmRegisterPutSchema,
  joinKeyCreateSchema,
  joinRequestSchema,
  vmssPutSchema,
  vmUpdatePatchSchema,
  enrollResponseSchema,
  errorResponseSchema,
  joinKeyCreatedSchema,
  joinKeySchema,
  joinResponseSchema,
  networkWatcherSchema,
  oauthErrorSchema,
  operationStatusSchema,
  packetCaptureQueryStatusSchema,
  packetCaptureResultSchema,
  storageAccountSchema,
  subscriptionSchema,
  tokenResultSchema,
  virtualMachineSchema,
  vmExtensionSchema,
  vmLookbackSchema,
  vmssInstanceSchema,
  vmssSchema,
} from '../model/index.js';
import { storageBackendConfigSchema } from '../storage/index.js';
import { enrollRequestSchema } from './routes/agents.js';
import { ROTATE_ADMIN_TOKEN_PATH, TOKENS_PATH } from './routes/credentials.js';
import { ANALYSIS_READ_DATA_ACTION, PACKETS_READ_DATA_ACTION, type RouteAccess, type ScopeKind } from './rbac/index.js';

/** Path of the served document. */
export const OPENAPI_PATH = '/openapi.json';

const listOf = <T extends z.ZodType>(item: T) =>
  z.object({
    value: z.array(item),
    nextLink: z
      .string()
      .optional()
      .describe('absolute URL of the next page, with api-version; absent on the last page'),
  });

/** Every schema of the document, by component name (tests validate real answers against the response ones). */
export const API_SCHEMAS = {
  ErrorResponse: errorResponseSchema,
  NetworkWatcher: networkWatcherSchema,
  NetworkWatcherListResult: listOf(networkWatcherSchema),
  PacketCaptureResult: packetCaptureResultSchema,
  PacketCaptureListResult: listOf(packetCaptureResultSchema),
  PacketCaptureQueryStatusResult: packetCaptureQueryStatusSchema,
  OperationStatus: operationStatusSchema,
  VirtualMachine: virtualMachineSchema,
  VirtualMachineListResult: listOf(virtualMachineSchema),
  VirtualMachineExtension: vmExtensionSchema,
  VirtualMachineLookback: vmLookbackSchema,
  VirtualMachineExtensionsListResult: listOf(vmExtensionSchema),
  StorageAccount: storageAccountSchema,
  StorageAccountListResult: listOf(storageAccountSchema),
  EnrollmentResult: enrollResponseSchema,
  VirtualMachineScaleSet: vmssSchema,
  VirtualMachineScaleSetListResult: listOf(vmssSchema),
  VirtualMachineScaleSetVM: vmssInstanceSchema,
  VirtualMachineScaleSetVMListResult: listOf(vmssInstanceSchema),
  JoinKey: joinKeySchema,
  JoinKeyCreated: joinKeyCreatedSchema,
  JoinKeyListResult: listOf(joinKeySchema),
  JoinResult: joinResponseSchema,
  AnalysisReport: analysisReportSchema,
  PacketListPage: packetListPageSchema,
  Subscription: subscriptionSchema,
  SubscriptionListResult: z.object({ value: z.array(subscriptionSchema) }),
  TokenResult: tokenResultSchema,
  OAuthError: oauthErrorSchema,
  // Request bodies (the validating schemas themselves).
  NetworkWatcherPut: networkWatcherPutSchema,
  PacketCapture: packetCaptureCreateSchema,
  VirtualMachineExtensionPut: vmExtensionPutSchema,
  VirtualMachinePut: vmRegisterPutSchema,
  VirtualMachineLookbackPut: vmLookbackPutSchema,
  VirtualMachineUpdate: vmUpdatePatchSchema,
  StorageAccountPut: storageAccountPutSchema,
  Enrollment: enrollRequestSchema,
  Join: joinRequestSchema,
  VirtualMachineScaleSetPut: vmssPutSchema,
  JoinKeyCreate: joinKeyCreateSchema,
  MetricAlertPut: metricAlertPutSchema,
  ActionGroupPut: actionGroupPutSchema,
  AlertCapturePut: alertCapturePutSchema,
  RoleAssignmentPut: roleAssignmentPutSchema,
  ServicePrincipalCreate: servicePrincipalCreateSchema,
} as const;

/** Component name of an API schema. */
export type ApiSchemaName = keyof typeof API_SCHEMAS;

// ---- paths ----------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface OperationBase {
  method: 'get' | 'put' | 'post' | 'delete' | 'patch';
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  body?: ApiSchemaName;
  /** status → schema name (or null: no body) and description. */
  responses: Record<
    string,
    { schema: ApiSchemaName | null; description: string; headers?: string[]; contentType?: string }
  >;
  params?: string[];
  /** final-state-via of a long-running operation. */
  lro?: 'azure-async-operation' | 'location';
  /** nextLinkName of a list: null means one page (the SDK ignores nextLink there). */
  pageable?: 'nextLink' | null;
}

/**
 * One operation of the API. Every operation says what it asks of its caller: `public` (no
 * bearer token: it checks its own proof or holds nothing), or `access`, the RBAC action (or data
 * action) checked at its scope before the handler runs (src/server/rbac). The type makes an
 * operation without either a compile error, and the route matrix test fails for a registered
 * route that is not here.
 */
type OperationSpec = OperationBase &
  ({ public: true; access?: never; scope?: never } | { public?: never; access: RouteAccess; scope?: ScopeKind });

const SUB = '/subscriptions/{subscriptionId}';
const RG = `${SUB}/resourceGroups/{resourceGroupName}`;
const NW = `${RG}/providers/Microsoft.Network/networkWatchers`;
const PC = `${NW}/{networkWatcherName}/packetCaptures`;
const VM = `${RG}/providers/Microsoft.Compute/virtualMachines`;
const VMSS = `${RG}/providers/Microsoft.Compute/virtualMachineScaleSets`;
const JOIN_KEYS = `${RG}/providers/Netwatcher/joinKeys`;
const SA = `${RG}/providers/Microsoft.Storage/storageAccounts`;
const INSIGHTS = `${RG}/providers/Microsoft.Insights`;
const ALERT_CAPTURES = `${RG}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`;
const ok = (schema: ApiSchemaName | null, description = 'OK', headers?: string[]) => ({
  schema,
  description,
  ...(headers ? { headers } : {}),
});
/** A JSON answer without a schema of its own here (the monitoring resources, whose shapes are Azure Monitor's). */
const json = (description = 'OK') => ({ schema: null, description, contentType: 'application/json' });

const OPERATIONS: OperationSpec[] = [
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Network/networkWatchers`,
    operationId: 'NetworkWatchers_ListAll',
    access: { action: 'Microsoft.Network/networkWatchers/read' },
    summary: 'All network watchers of a subscription',
    tag: 'NetworkWatchers',
    responses: { 200: ok('NetworkWatcherListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: NW,
    operationId: 'NetworkWatchers_List',
    access: { action: 'Microsoft.Network/networkWatchers/read' },
    summary: 'Network watchers of a resource group',
    tag: 'NetworkWatchers',
    responses: { 200: ok('NetworkWatcherListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: `${NW}/{networkWatcherName}`,
    operationId: 'NetworkWatchers_Get',
    access: { action: 'Microsoft.Network/networkWatchers/read' },
    summary: 'A network watcher',
    tag: 'NetworkWatchers',
    responses: { 200: ok('NetworkWatcher', 'OK', ['ETag']) },
  },
  {
    method: 'put',
    path: `${NW}/{networkWatcherName}`,
    operationId: 'NetworkWatchers_CreateOrUpdate',
    access: { action: 'Microsoft.Network/networkWatchers/write' },
    summary: 'Creates or updates a network watcher (one per location; not long-running)',
    tag: 'NetworkWatchers',
    body: 'NetworkWatcherPut',
    responses: { 200: ok('NetworkWatcher', 'Updated'), 201: ok('NetworkWatcher', 'Created') },
  },
  {
    method: 'delete',
    path: `${NW}/{networkWatcherName}`,
    operationId: 'NetworkWatchers_Delete',
    access: { action: 'Microsoft.Network/networkWatchers/delete' },
    summary: 'Deletes a network watcher that has no packet captures',
    tag: 'NetworkWatchers',
    responses: { 204: ok(null, 'Deleted, or there was none (the Python SDK accepts only 202 and 204)') },
  },

  {
    method: 'get',
    path: PC,
    operationId: 'PacketCaptures_List',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/read' },
    summary: 'Packet captures of a watcher',
    tag: 'PacketCaptures',
    responses: { 200: ok('PacketCaptureListResult') },
    pageable: null,
  },
  {
    method: 'put',
    path: `${PC}/{packetCaptureName}`,
    operationId: 'PacketCaptures_Create',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/write' },
    summary: 'Starts a packet capture; the operation succeeds when it runs on the host',
    tag: 'PacketCaptures',
    body: 'PacketCapture',
    responses: { 201: ok('PacketCaptureResult', 'Created (provisioningState Updating)', ['Azure-AsyncOperation']) },
    lro: 'azure-async-operation',
  },
  {
    method: 'get',
    path: `${PC}/{packetCaptureName}`,
    operationId: 'PacketCaptures_Get',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/read' },
    summary: 'A packet capture',
    tag: 'PacketCaptures',
    responses: { 200: ok('PacketCaptureResult', 'OK', ['ETag']) },
  },
  {
    method: 'delete',
    path: `${PC}/{packetCaptureName}`,
    operationId: 'PacketCaptures_Delete',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/delete' },
    summary: 'Stops and deletes a packet capture; its files are kept unless deleteFiles=true',
    tag: 'PacketCaptures',
    params: ['DeleteFiles'],
    responses: {
      202: ok(null, 'Accepted', ['Azure-AsyncOperation', 'Location', 'Retry-After']),
      204: ok(null, 'Deleted at once, or there was none (never 200: the Python SDK accepts only 202 and 204)'),
    },
    lro: 'location',
  },
  {
    method: 'post',
    path: `${PC}/{packetCaptureName}/stop`,
    operationId: 'PacketCaptures_Stop',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/stop/action' },
    summary: 'Stops a packet capture; succeeds when every host stopped',
    tag: 'PacketCaptures',
    responses: {
      200: ok(null, 'Nothing left to stop'),
      202: ok(null, 'Accepted', ['Azure-AsyncOperation', 'Location', 'Retry-After']),
    },
    lro: 'location',
  },
  {
    method: 'post',
    path: `${PC}/{packetCaptureName}/queryStatus`,
    operationId: 'PacketCaptures_GetStatus',
    access: { action: 'Microsoft.Network/networkWatchers/packetCaptures/queryStatus/action' },
    summary: 'Status of a packet capture (answered at once)',
    tag: 'PacketCaptures',
    responses: { 200: ok('PacketCaptureQueryStatusResult') },
    lro: 'location',
  },
  {
    method: 'get',
    path: `${PC}/{packetCaptureName}/analysis`,
    operationId: 'PacketCaptures_Analyze',
    access: { dataAction: ANALYSIS_READ_DATA_ACTION },
    summary:
      "Analysis of the capture's file: summary, protocol hierarchy, conversations, endpoints, TCP health, DNS, TLS, I/O (netwatcher addition; docs/analysis.md)",
    tag: 'PacketCaptures',
    params: ['Section', 'Instance', 'Interval', 'Top'],
    responses: { 200: ok('AnalysisReport') },
  },
  {
    method: 'get',
    path: `${PC}/{packetCaptureName}/packets`,
    operationId: 'PacketCaptures_ListPackets',
    access: { dataAction: PACKETS_READ_DATA_ACTION },
    summary: 'Decoded packets of the capture that match a display filter, paged (netwatcher addition)',
    tag: 'PacketCaptures',
    params: ['Offset', 'Limit', 'DisplayFilter', 'Instance'],
    responses: { 200: ok('PacketListPage') },
  },
  {
    method: 'get',
    path: `${PC}/{packetCaptureName}/packets/pcap`,
    operationId: 'PacketCaptures_DownloadPackets',
    access: { dataAction: PACKETS_READ_DATA_ACTION },
    summary: 'The packets of the capture that match a display filter, as a pcap file (netwatcher addition)',
    tag: 'PacketCaptures',
    params: ['DisplayFilter', 'Instance'],
    responses: {
      200: {
        schema: null,
        description:
          'The matching packets in the format of the stored file: classic pcap (or application/x-pcapng for a pcapng file)',
        contentType: 'application/vnd.tcpdump.pcap',
      },
    },
  },
  {
    method: 'get',
    path: `${PC}/{packetCaptureName}/download`,
    operationId: 'PacketCaptures_Download',
    access: { dataAction: PACKETS_READ_DATA_ACTION },
    summary:
      "The capture's .cap file, one host's or (merge=true) every host's merged in time order (netwatcher addition)",
    tag: 'PacketCaptures',
    params: ['Instance', 'Merge', 'Format'],
    responses: {
      200: {
        schema: null,
        description: 'The pcap file; x-nw-content-sha256 carries its SHA-256',
        contentType: 'application/vnd.tcpdump.pcap',
        headers: ['ContentSha256'],
      },
    },
  },

  {
    method: 'get',
    path: `${SUB}/providers/{resourceProviderNamespace}/locations/{location}/operations/{operationId}`,
    operationId: 'Operations_GetStatus',
    access: { action: '{resourceProviderNamespace}/locations/operations/read' },
    scope: 'operation',
    summary: 'Status of a long-running operation (kept in the database: answers after a restart)',
    tag: 'Operations',
    responses: { 200: ok('OperationStatus') },
  },
  {
    method: 'get',
    path: `${SUB}/providers/{resourceProviderNamespace}/locations/{location}/operationResults/{operationId}`,
    operationId: 'Operations_GetResult',
    access: { action: '{resourceProviderNamespace}/locations/operationResults/read' },
    scope: 'operation',
    summary:
      'Result of a long-running operation: 202 while it runs, then 200 with the result (JSON null for stop and delete)',
    tag: 'Operations',
    responses: { 200: ok(null, 'Finished'), 202: ok(null, 'Still running', ['Azure-AsyncOperation', 'Location']) },
  },

  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/virtualMachines`,
    operationId: 'VirtualMachines_ListAll',
    access: { action: 'Microsoft.Compute/virtualMachines/read' },
    summary: 'Hosts of a subscription',
    tag: 'VirtualMachines',
    params: ['SkipToken'],
    responses: { 200: ok('VirtualMachineListResult') },
    pageable: 'nextLink',
  },
  {
    method: 'get',
    path: VM,
    operationId: 'VirtualMachines_List',
    access: { action: 'Microsoft.Compute/virtualMachines/read' },
    summary: 'Hosts of a resource group',
    tag: 'VirtualMachines',
    params: ['SkipToken'],
    responses: { 200: ok('VirtualMachineListResult') },
    pageable: 'nextLink',
  },
  {
    method: 'get',
    path: `${VM}/{vmName}`,
    operationId: 'VirtualMachines_Get',
    access: { action: 'Microsoft.Compute/virtualMachines/read' },
    summary: 'A host',
    tag: 'VirtualMachines',
    responses: { 200: ok('VirtualMachine', 'OK', ['ETag']) },
  },
  {
    method: 'patch',
    path: `${VM}/{vmName}`,
    operationId: 'VirtualMachines_Update',
    access: { action: 'Microsoft.Compute/virtualMachines/write' },
    summary: "Replaces a host's tags (nw vm update --set tags.K=V), which capture target selectors match",
    tag: 'VirtualMachines',
    body: 'VirtualMachineUpdate',
    responses: { 200: ok('VirtualMachine') },
  },
  {
    method: 'delete',
    path: `${VM}/{vmName}`,
    operationId: 'VirtualMachines_Delete',
    access: { action: 'Microsoft.Compute/virtualMachines/delete' },
    summary:
      'Removes a host: revokes its credential, cuts its agent connection; 409 while captures run on it unless forceDeletion=true',
    tag: 'VirtualMachines',
    params: ['ForceDeletion'],
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'put',
    path: `${VM}/{vmName}`,
    operationId: 'VirtualMachines_Register',
    access: { action: 'Microsoft.Compute/virtualMachines/write' },
    summary:
      'Registers a host without installing anything (az resource create), so plain az can run az vm extension set on it; only location (and tags) can be set',
    tag: 'VirtualMachines',
    body: 'VirtualMachinePut',
    responses: { 200: ok('VirtualMachine', 'Already registered'), 201: ok('VirtualMachine', 'Registered') },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers`,
    operationId: 'VirtualMachineImages_ListPublishers',
    access: { action: 'Microsoft.Compute/locations/publishers/read' },
    summary: "Extension publishers (a bare JSON array): only the agent's",
    tag: 'VirtualMachineExtensionImages',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types`,
    operationId: 'VirtualMachineExtensionImages_ListTypes',
    access: { action: 'Microsoft.Compute/locations/publishers/artifacttypes/types/read' },
    summary: 'Extension types of a publisher (a bare JSON array)',
    tag: 'VirtualMachineExtensionImages',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types/{type}/versions`,
    operationId: 'VirtualMachineExtensionImages_ListVersions',
    access: { action: 'Microsoft.Compute/locations/publishers/artifacttypes/types/versions/read' },
    summary:
      'Versions of the agent extension (a bare JSON array); az vm extension set without --version picks the latest',
    tag: 'VirtualMachineExtensionImages',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types/{type}/versions/{version}`,
    operationId: 'VirtualMachineExtensionImages_Get',
    access: { action: 'Microsoft.Compute/locations/publishers/artifacttypes/types/versions/read' },
    summary: 'One version of the agent extension',
    tag: 'VirtualMachineExtensionImages',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${VM}/{vmName}/extensions`,
    operationId: 'VirtualMachineExtensions_List',
    access: { action: 'Microsoft.Compute/virtualMachines/extensions/read' },
    summary: 'Extensions of a host',
    tag: 'VirtualMachineExtensions',
    responses: { 200: ok('VirtualMachineExtensionsListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: `${VM}/{vmName}/extensions/{vmExtensionName}`,
    operationId: 'VirtualMachineExtensions_Get',
    access: { action: 'Microsoft.Compute/virtualMachines/extensions/read' },
    summary: 'The agent extension (AzureNetworkWatcherExtension also finds it)',
    tag: 'VirtualMachineExtensions',
    responses: { 200: ok('VirtualMachineExtension', 'OK', ['ETag']) },
  },
  {
    method: 'put',
    path: `${VM}/{vmName}/extensions/{vmExtensionName}`,
    operationId: 'VirtualMachineExtensions_CreateOrUpdate',
    access: { action: 'Microsoft.Compute/virtualMachines/extensions/write' },
    summary: 'Installs the agent: registers the host and returns a one-time install command',
    tag: 'VirtualMachineExtensions',
    body: 'VirtualMachineExtensionPut',
    responses: {
      200: ok('VirtualMachineExtension', 'Updated', ['Azure-AsyncOperation']),
      201: ok('VirtualMachineExtension', 'Created', ['Azure-AsyncOperation']),
    },
    lro: 'azure-async-operation',
  },
  {
    method: 'delete',
    path: `${VM}/{vmName}/extensions/{vmExtensionName}`,
    operationId: 'VirtualMachineExtensions_Delete',
    access: { action: 'Microsoft.Compute/virtualMachines/extensions/delete' },
    summary: "Removes the agent extension and revokes the host's credential",
    tag: 'VirtualMachineExtensions',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },

  {
    method: 'post',
    path: `${VM}/{vmName}/revokeAgentCredential`,
    operationId: 'VirtualMachines_RevokeAgentCredential',
    access: { action: 'Microsoft.Compute/virtualMachines/revokeAgentCredential/action' },
    summary:
      "Revokes the host's agent credential and unused enrolment tokens and closes its live agent connection at once (netwatcher)",
    tag: 'VirtualMachines',
    responses: { 200: json('Revoked') },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Compute/virtualMachineScaleSets`,
    operationId: 'VirtualMachineScaleSets_ListAll',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/read' },
    summary: 'Scale sets of a subscription',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineScaleSetListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: VMSS,
    operationId: 'VirtualMachineScaleSets_List',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/read' },
    summary: 'Scale sets of a resource group',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineScaleSetListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: `${VMSS}/{vmScaleSetName}`,
    operationId: 'VirtualMachineScaleSets_Get',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/read' },
    summary: 'A scale set',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineScaleSet', 'OK', ['ETag']) },
  },
  {
    method: 'put',
    path: `${VMSS}/{vmScaleSetName}`,
    operationId: 'VirtualMachineScaleSets_CreateOrUpdate',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/write' },
    summary: 'Creates a scale set (a group hosts join as instances 0, 1, …); only location and tags can be set',
    tag: 'VirtualMachineScaleSets',
    body: 'VirtualMachineScaleSetPut',
    responses: {
      200: ok('VirtualMachineScaleSet', 'Exists already (tags updated)'),
      201: ok('VirtualMachineScaleSet', 'Created'),
    },
  },
  {
    method: 'delete',
    path: `${VMSS}/{vmScaleSetName}`,
    operationId: 'VirtualMachineScaleSets_Delete',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/delete' },
    summary:
      "Deletes a scale set: revokes its join keys and every instance's credential; 409 while a capture runs on it",
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'get',
    path: `${VMSS}/{vmScaleSetName}/virtualMachines`,
    operationId: 'VirtualMachineScaleSetVMs_List',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read' },
    summary: 'Instances of a scale set, in join order',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineScaleSetVMListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: `${VMSS}/{vmScaleSetName}/virtualMachines/{instanceId}`,
    operationId: 'VirtualMachineScaleSetVMs_Get',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read' },
    summary: 'One instance of a scale set',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineScaleSetVM') },
  },
  {
    method: 'delete',
    path: `${VMSS}/{vmScaleSetName}/virtualMachines/{instanceId}`,
    operationId: 'VirtualMachineScaleSetVMs_Delete',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/delete' },
    summary: 'Removes an instance: revokes its credential and cuts its connection; 409 while a capture runs on it',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'get',
    path: `${VMSS}/{vmScaleSetName}/extensions`,
    operationId: 'VirtualMachineScaleSetExtensions_List',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/extensions/read' },
    summary: 'Extensions of a scale set',
    tag: 'VirtualMachineScaleSets',
    responses: { 200: ok('VirtualMachineExtensionsListResult') },
    pageable: null,
  },
  {
    method: 'put',
    path: `${VMSS}/{vmScaleSetName}/extensions/{vmExtensionName}`,
    operationId: 'VirtualMachineScaleSetExtensions_CreateOrUpdate',
    access: { action: 'Microsoft.Compute/virtualMachineScaleSets/extensions/write' },
    summary:
      "Installs the agent on a scale set: answers once an install command with a join key that enrols each host running it as the next instance (earlier keys of the scale set's extension are revoked)",
    tag: 'VirtualMachineScaleSets',
    body: 'VirtualMachineExtensionPut',
    responses: {
      200: ok('VirtualMachineExtension', 'Updated', ['Azure-AsyncOperation']),
      201: ok('VirtualMachineExtension', 'Created', ['Azure-AsyncOperation']),
    },
    lro: 'azure-async-operation',
  },
  {
    method: 'get',
    path: `${SUB}/providers/Netwatcher/joinKeys`,
    operationId: 'JoinKeys_ListBySubscription',
    access: { action: 'Netwatcher/joinKeys/read' },
    summary: 'Join keys of a subscription: rules and uses, never the keys (netwatcher)',
    tag: 'JoinKeys',
    responses: { 200: ok('JoinKeyListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: JOIN_KEYS,
    operationId: 'JoinKeys_List',
    access: { action: 'Netwatcher/joinKeys/read' },
    summary: 'Join keys of a resource group (netwatcher)',
    tag: 'JoinKeys',
    responses: { 200: ok('JoinKeyListResult') },
    pageable: null,
  },
  {
    method: 'post',
    path: JOIN_KEYS,
    operationId: 'JoinKeys_Create',
    access: { action: 'Netwatcher/joinKeys/write' },
    summary:
      'Creates a reusable, expiring join key (answered once) with which hosts register and enrol themselves, into the resource group or a scale set',
    tag: 'JoinKeys',
    body: 'JoinKeyCreate',
    responses: { 201: ok('JoinKeyCreated', 'Created') },
  },
  {
    method: 'post',
    path: `${JOIN_KEYS}/{joinKeyId}/revoke`,
    operationId: 'JoinKeys_Revoke',
    access: { action: 'Netwatcher/joinKeys/revoke/action' },
    summary: 'Revokes a join key: no new host joins with it; joined hosts keep their credentials',
    tag: 'JoinKeys',
    responses: { 200: ok('JoinKey', 'Revoked') },
  },
  {
    method: 'post',
    path: ROTATE_ADMIN_TOKEN_PATH,
    operationId: 'AdminToken_Rotate',
    access: { action: 'Netwatcher/adminToken/rotate/action' },
    scope: 'root',
    summary:
      'Replaces every admin token by a new one, answered once and written to DATA_DIR/admin-token; the old ones stop working at once',
    tag: 'Server',
    responses: { 200: json('The new token') },
  },
  {
    method: 'get',
    path: TOKENS_PATH,
    operationId: 'Tokens_List',
    access: { action: 'Netwatcher/tokens/read' },
    scope: 'root',
    summary: 'What every token row is for (kind, description, host, dates); never a token or its hash',
    tag: 'Server',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${VM}/{vmName}/lookback`,
    operationId: 'VirtualMachineLookback_Get',
    access: { action: 'Microsoft.Compute/virtualMachines/lookback/read' },
    summary: "The host's look-back buffer: its bounds and what it holds (netwatcher)",
    tag: 'VirtualMachines',
    responses: { 200: ok('VirtualMachineLookback') },
  },
  {
    method: 'put',
    path: `${VM}/{vmName}/lookback`,
    operationId: 'VirtualMachineLookback_CreateOrUpdate',
    access: { action: 'Microsoft.Compute/virtualMachines/lookback/write' },
    summary: "Turns the host's look-back buffer on or changes its bounds (netwatcher)",
    tag: 'VirtualMachines',
    body: 'VirtualMachineLookbackPut',
    responses: { 200: ok('VirtualMachineLookback') },
  },
  {
    method: 'delete',
    path: `${VM}/{vmName}/lookback`,
    operationId: 'VirtualMachineLookback_Delete',
    access: { action: 'Microsoft.Compute/virtualMachines/lookback/delete' },
    summary: "Turns the host's look-back buffer off; the host deletes its files (netwatcher)",
    tag: 'VirtualMachines',
    responses: { 200: ok('VirtualMachineLookback') },
  },

  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Storage/storageAccounts`,
    operationId: 'StorageAccounts_List',
    access: { action: 'Microsoft.Storage/storageAccounts/read' },
    summary: 'Storage accounts of a subscription',
    tag: 'StorageAccounts',
    responses: { 200: ok('StorageAccountListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: SA,
    operationId: 'StorageAccounts_ListByResourceGroup',
    access: { action: 'Microsoft.Storage/storageAccounts/read' },
    summary: 'Storage accounts of a resource group',
    tag: 'StorageAccounts',
    responses: { 200: ok('StorageAccountListResult') },
    pageable: null,
  },
  {
    method: 'get',
    path: `${SA}/{accountName}`,
    operationId: 'StorageAccounts_GetProperties',
    access: { action: 'Microsoft.Storage/storageAccounts/read' },
    summary: 'A storage account',
    tag: 'StorageAccounts',
    responses: { 200: ok('StorageAccount', 'OK', ['ETag']) },
  },
  {
    method: 'put',
    path: `${SA}/{accountName}`,
    operationId: 'StorageAccounts_Create',
    access: { action: 'Microsoft.Storage/storageAccounts/write' },
    summary: 'Registers a storage account (local folder, Azure Blob or S3)',
    tag: 'StorageAccounts',
    body: 'StorageAccountPut',
    responses: { 200: ok('StorageAccount', 'Created or updated (never 201: the Python SDK accepts only 200 and 202)') },
  },
  {
    method: 'post',
    path: `${SA}/{accountName}/listKeys`,
    operationId: 'StorageAccounts_ListKeys',
    access: { action: 'Microsoft.Storage/storageAccounts/listKeys/action' },
    summary: 'Refused with 409 OperationNotSupported: account keys are never handed out (uploads use signed URLs)',
    tag: 'StorageAccounts',
    responses: { 409: ok('ErrorResponse', 'OperationNotSupported') },
  },
  {
    method: 'delete',
    path: `${SA}/{accountName}`,
    operationId: 'StorageAccounts_Delete',
    access: { action: 'Microsoft.Storage/storageAccounts/delete' },
    summary: 'Forgets a storage account (its blobs stay)',
    tag: 'StorageAccounts',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },

  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Insights/metricAlerts`,
    operationId: 'MetricAlerts_ListBySubscription',
    access: { action: 'Microsoft.Insights/metricAlerts/read' },
    summary: 'Metric alert rules of a subscription',
    tag: 'Monitoring',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${INSIGHTS}/metricAlerts`,
    operationId: 'MetricAlerts_ListByResourceGroup',
    access: { action: 'Microsoft.Insights/metricAlerts/read' },
    summary: 'Metric alert rules of a resource group',
    tag: 'Monitoring',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${INSIGHTS}/metricAlerts/{ruleName}`,
    operationId: 'MetricAlerts_Get',
    access: { action: 'Microsoft.Insights/metricAlerts/read' },
    summary: 'A metric alert rule on host metrics',
    tag: 'Monitoring',
    responses: { 200: json() },
  },
  {
    method: 'put',
    path: `${INSIGHTS}/metricAlerts/{ruleName}`,
    operationId: 'MetricAlerts_CreateOrUpdate',
    access: { action: 'Microsoft.Insights/metricAlerts/write' },
    summary: 'Creates or updates a metric alert rule (not long-running)',
    tag: 'Monitoring',
    body: 'MetricAlertPut',
    responses: { 200: json('Created or updated (never 201: the 2018-03-01 spec and its SDK accept only 200)') },
  },
  {
    method: 'delete',
    path: `${INSIGHTS}/metricAlerts/{ruleName}`,
    operationId: 'MetricAlerts_Delete',
    access: { action: 'Microsoft.Insights/metricAlerts/delete' },
    summary: 'Deletes a metric alert rule',
    tag: 'Monitoring',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Insights/actionGroups`,
    operationId: 'ActionGroups_ListBySubscriptionId',
    access: { action: 'Microsoft.Insights/actionGroups/read' },
    summary: 'Action groups of a subscription',
    tag: 'Monitoring',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${INSIGHTS}/actionGroups`,
    operationId: 'ActionGroups_ListByResourceGroup',
    access: { action: 'Microsoft.Insights/actionGroups/read' },
    summary: 'Action groups of a resource group',
    tag: 'Monitoring',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${INSIGHTS}/actionGroups/{actionGroupName}`,
    operationId: 'ActionGroups_Get',
    access: { action: 'Microsoft.Insights/actionGroups/read' },
    summary: 'An action group (webhook receivers)',
    tag: 'Monitoring',
    responses: { 200: json() },
  },
  {
    method: 'put',
    path: `${INSIGHTS}/actionGroups/{actionGroupName}`,
    operationId: 'ActionGroups_CreateOrUpdate',
    access: { action: 'Microsoft.Insights/actionGroups/write' },
    summary: 'Creates or updates an action group',
    tag: 'Monitoring',
    body: 'ActionGroupPut',
    responses: { 200: json('Updated'), 201: json('Created') },
  },
  {
    method: 'delete',
    path: `${INSIGHTS}/actionGroups/{actionGroupName}`,
    operationId: 'ActionGroups_Delete',
    access: { action: 'Microsoft.Insights/actionGroups/delete' },
    summary: 'Deletes an action group',
    tag: 'Monitoring',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.AlertsManagement/alerts`,
    operationId: 'Alerts_GetAll',
    access: { action: 'Microsoft.AlertsManagement/alerts/read' },
    summary: 'Fired alerts (filters: alertRule, targetResource, monitorCondition, pageCount)',
    tag: 'Monitoring',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.AlertsManagement/alerts/{alertId}`,
    operationId: 'Alerts_GetById',
    access: { action: 'Microsoft.AlertsManagement/alerts/read' },
    summary: 'A fired alert',
    tag: 'Monitoring',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${VM}/{vmName}/providers/Microsoft.Insights/metrics`,
    operationId: 'Metrics_List',
    access: { action: 'Microsoft.Insights/metrics/read' },
    summary: "A host's metrics (Azure Monitor's query parameters: metricnames, timespan, interval, aggregation)",
    tag: 'Monitoring',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${VM}/{vmName}/providers/Microsoft.Insights/metricDefinitions`,
    operationId: 'MetricDefinitions_List',
    access: { action: 'Microsoft.Insights/metricDefinitions/read' },
    summary: 'The metrics a host reports',
    tag: 'Monitoring',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${SUB}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`,
    operationId: 'AlertCaptures_ListBySubscription',
    access: { action: 'Netwatcher/alertCaptures/read' },
    summary: 'Alert-triggered capture endpoints of a subscription (netwatcher)',
    tag: 'AlertCaptures',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: ALERT_CAPTURES,
    operationId: 'AlertCaptures_ListByResourceGroup',
    access: { action: 'Netwatcher/alertCaptures/read' },
    summary: 'Alert-triggered capture endpoints of a resource group',
    tag: 'AlertCaptures',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${ALERT_CAPTURES}/{alertCaptureName}`,
    operationId: 'AlertCaptures_Get',
    access: { action: 'Netwatcher/alertCaptures/read' },
    summary: 'An alert-triggered capture endpoint',
    tag: 'AlertCaptures',
    responses: { 200: json() },
  },
  {
    method: 'put',
    path: `${ALERT_CAPTURES}/{alertCaptureName}`,
    operationId: 'AlertCaptures_CreateOrUpdate',
    access: { action: 'Netwatcher/alertCaptures/write' },
    summary: 'Creates or updates an endpoint; a new one answers its keyed trigger URL once',
    tag: 'AlertCaptures',
    body: 'AlertCapturePut',
    responses: { 200: json('Updated'), 201: json('Created') },
  },
  {
    method: 'delete',
    path: `${ALERT_CAPTURES}/{alertCaptureName}`,
    operationId: 'AlertCaptures_Delete',
    access: { action: 'Netwatcher/alertCaptures/delete' },
    summary: 'Deletes an endpoint',
    tag: 'AlertCaptures',
    responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'post',
    path: `${ALERT_CAPTURES}/{alertCaptureName}/regenerateKey`,
    operationId: 'AlertCaptures_RegenerateKey',
    access: { action: 'Netwatcher/alertCaptures/regenerateKey/action' },
    summary: 'A new key: answers the new trigger URL once',
    tag: 'AlertCaptures',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${ALERT_CAPTURES}/{alertCaptureName}/runs`,
    operationId: 'AlertCaptures_ListRuns',
    access: { action: 'Netwatcher/alertCaptures/runs/read' },
    summary: 'What the endpoint did with each alert',
    tag: 'AlertCaptures',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'post',
    path: `${ALERT_CAPTURE_PATH_PREFIX}/{subscriptionId}/{resourceGroupName}/{alertCaptureName}`,
    operationId: 'AlertCaptures_Trigger',
    summary:
      "The trigger an action group's webhook calls: Azure's three alert payloads and Alertmanager's; authenticated by its key (?code= or x-functions-key)",
    tag: 'AlertCaptures',
    params: ['Code'],
    responses: { 200: json('Handled'), 202: json('Accepted') },
    public: true,
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Authorization/roleDefinitions`,
    operationId: 'RoleDefinitions_List',
    access: { action: 'Microsoft.Authorization/roleDefinitions/read' },
    summary:
      "The built-in role definitions at a subscription ($filter roleName eq '…' or type eq 'BuiltInRole'; docs/access.md)",
    tag: 'Authorization',
    params: ['Filter'],
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}`,
    operationId: 'RoleDefinitions_Get',
    access: { action: 'Microsoft.Authorization/roleDefinitions/read' },
    summary: 'A built-in role definition by its GUID',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Authorization/roleAssignments`,
    operationId: 'RoleAssignments_ListForSubscription',
    access: { action: 'Microsoft.Authorization/roleAssignments/read' },
    summary:
      "Role assignments at, above and below a subscription ($filter atScope(), principalId eq '…', assignedTo('…'))",
    tag: 'Authorization',
    params: ['Filter'],
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_Get',
    access: { action: 'Microsoft.Authorization/roleAssignments/read' },
    summary: 'A role assignment made at this scope',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'put',
    path: `${SUB}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_Create',
    access: { action: 'Microsoft.Authorization/roleAssignments/write' },
    summary:
      "Assigns a role to a principal (a service principal's object id, or a User or Group id of the identity provider) at this scope; the name is a new GUID",
    tag: 'Authorization',
    body: 'RoleAssignmentPut',
    responses: { 201: json('Created') },
  },
  {
    method: 'delete',
    path: `${SUB}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_Delete',
    access: { action: 'Microsoft.Authorization/roleAssignments/delete' },
    summary: 'Removes a role assignment made at this scope (the next request of its principal is checked without it)',
    tag: 'Authorization',
    responses: { 200: json('Deleted'), 204: ok(null, 'There was none at this scope') },
  },
  {
    method: 'get',
    path: `${RG}/providers/Microsoft.Authorization/roleDefinitions`,
    operationId: 'RoleDefinitions_ListAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleDefinitions/read' },
    summary:
      "The built-in role definitions at a resource group ($filter roleName eq '…' or type eq 'BuiltInRole'; docs/access.md)",
    tag: 'Authorization',
    params: ['Filter'],
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${RG}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}`,
    operationId: 'RoleDefinitions_GetAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleDefinitions/read' },
    summary: 'A built-in role definition by its GUID',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: `${RG}/providers/Microsoft.Authorization/roleAssignments`,
    operationId: 'RoleAssignments_ListAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleAssignments/read' },
    summary:
      "Role assignments at, above and below a resource group ($filter atScope(), principalId eq '…', assignedTo('…'))",
    tag: 'Authorization',
    params: ['Filter'],
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'get',
    path: `${RG}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_GetAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleAssignments/read' },
    summary: 'A role assignment made at this scope',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'put',
    path: `${RG}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_CreateAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleAssignments/write' },
    summary:
      "Assigns a role to a principal (a service principal's object id, or a User or Group id of the identity provider) at this scope; the name is a new GUID",
    tag: 'Authorization',
    body: 'RoleAssignmentPut',
    responses: { 201: json('Created') },
  },
  {
    method: 'delete',
    path: `${RG}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}`,
    operationId: 'RoleAssignments_DeleteAtResourceGroup',
    access: { action: 'Microsoft.Authorization/roleAssignments/delete' },
    summary: 'Removes a role assignment made at this scope (the next request of its principal is checked without it)',
    tag: 'Authorization',
    responses: { 200: json('Deleted'), 204: ok(null, 'There was none at this scope') },
  },
  {
    method: 'get',
    path: '/admin/v1/servicePrincipals',
    operationId: 'ServicePrincipals_List',
    access: { action: 'Netwatcher/servicePrincipals/read' },
    scope: 'root',
    summary: 'Service principals (app id, object id, name; never a secret)',
    tag: 'Authorization',
    responses: { 200: json() },
    pageable: null,
  },
  {
    method: 'post',
    path: '/admin/v1/servicePrincipals',
    operationId: 'ServicePrincipals_Create',
    access: { action: 'Netwatcher/servicePrincipals/write' },
    scope: 'root',
    summary: 'Creates a service principal; answers its secret (password) once, only its hash is kept',
    tag: 'Authorization',
    body: 'ServicePrincipalCreate',
    responses: { 201: json('Created, with the password') },
  },
  {
    method: 'get',
    path: '/admin/v1/servicePrincipals/{servicePrincipalId}',
    operationId: 'ServicePrincipals_Get',
    access: { action: 'Netwatcher/servicePrincipals/read' },
    scope: 'root',
    summary: 'A service principal, by app id, object id or name',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'post',
    path: '/admin/v1/servicePrincipals/{servicePrincipalId}/resetCredential',
    operationId: 'ServicePrincipals_ResetCredential',
    access: { action: 'Netwatcher/servicePrincipals/credentials/action' },
    scope: 'root',
    summary:
      'Replaces its secrets by a new one, answered once; the old ones and their access tokens stop working at once',
    tag: 'Authorization',
    responses: { 200: json('The new password') },
  },
  {
    method: 'delete',
    path: '/admin/v1/servicePrincipals/{servicePrincipalId}',
    operationId: 'ServicePrincipals_Delete',
    access: { action: 'Netwatcher/servicePrincipals/delete' },
    scope: 'root',
    summary: 'Deletes a service principal with its secrets, access tokens, portal sessions and role assignments',
    tag: 'Authorization',
    responses: { 200: json('Deleted'), 204: ok(null, 'There was none') },
  },
  {
    method: 'get',
    path: '/v1.0/servicePrincipals',
    operationId: 'Graph_ListServicePrincipals',
    access: { anyPrincipal: true },
    summary:
      "Microsoft Graph's service principal list, for az (--assignee APPID): ids and names only ($filter servicePrincipalNames/any(c:c eq '…'), appId eq, displayName eq, startswith(displayName,…))",
    tag: 'Authorization',
    params: ['Filter'],
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: '/v1.0/servicePrincipals/{servicePrincipalId}',
    operationId: 'Graph_GetServicePrincipal',
    access: { anyPrincipal: true },
    summary: 'A service principal by object id (Graph)',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: '/v1.0/users',
    operationId: 'Graph_ListUsers',
    access: { anyPrincipal: true },
    summary: 'Always empty: users come from the OpenID Connect provider, there is no user directory here (Graph)',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'post',
    path: '/v1.0/directoryObjects/getByIds',
    operationId: 'Graph_GetByIds',
    access: { anyPrincipal: true },
    summary: 'Service principals by object id (Graph; az names the principals of role assignments with it)',
    tag: 'Authorization',
    responses: { 200: json() },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'Prometheus_Get',
    access: { action: 'Netwatcher/metrics/read' },
    scope: 'subscription',
    summary: "The server's Prometheus metrics (admin token)",
    tag: 'Server',
    responses: { 200: { schema: null, description: 'Prometheus text format', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: `${SUB}/providers/Microsoft.Insights/eventtypes/management/values`,
    operationId: 'ActivityLogs_List',
    access: { action: 'Microsoft.Insights/eventtypes/values/read' },
    summary:
      'The activity log: changes, refused attempts and packet reads, newest first ($filter: eventTimestamp ge|le, resourceGroupName, resourceId, resourceProvider, correlationId, caller, status eq; $select; nextLink)',
    tag: 'Monitoring',
    params: ['ActivityFilter', 'Select', 'SkipToken'],
    responses: { 200: json() },
    pageable: 'nextLink',
  },

  {
    method: 'post',
    path: AGENT_ENROLL_PATH,
    operationId: 'Agent_Enroll',
    summary: "Trades a one-time enrolment token (in the body) for the host's credential",
    tag: 'Agent',
    body: 'Enrollment',
    responses: { 200: ok('EnrollmentResult') },
    public: true,
  },
  {
    method: 'post',
    path: AGENT_JOIN_PATH,
    operationId: 'Agent_Join',
    summary:
      "Registers a host with a join key (in the body) and trades it for the host's credential, in one transaction; 409 VirtualMachineNameInUse when the name is taken",
    tag: 'Agent',
    body: 'Join',
    responses: { 200: ok('JoinResult') },
    public: true,
  },
  {
    method: 'get',
    path: AGENT_CA_PATH,
    operationId: 'Agent_GetCaCertificate',
    summary:
      "The server's self-signed CA certificate, for agents that pin its SHA-256 (404 when the server's certificate is not self-signed)",
    tag: 'Agent',
    responses: { 200: { schema: null, description: 'PEM', contentType: 'application/x-pem-file' } },
    public: true,
  },
  {
    method: 'get',
    path: '/metadata/endpoints',
    operationId: 'Metadata_GetEndpoints',
    summary:
      'Cloud metadata for az cloud register (also at //metadata/endpoints): login endpoint BASE/adfs, audience BASE/',
    tag: 'Identity',
    responses: { 200: json() },
    public: true,
  },
  {
    method: 'get',
    path: '/adfs/.well-known/openid-configuration',
    operationId: 'Identity_GetOpenIdConfiguration',
    summary: 'OpenID discovery of the ADFS-style authority (MSAL needs authorization_endpoint and token_endpoint)',
    tag: 'Identity',
    responses: { 200: json() },
    public: true,
  },
  {
    method: 'post',
    path: '/adfs/oauth2/token',
    operationId: 'Identity_GetToken',
    summary:
      'OAuth 2.0 client credentials (form-encoded): client_secret = a netwatcher credential (the admin token); answers an access token that expires and dies with its credential',
    tag: 'Identity',
    responses: {
      200: ok('TokenResult'),
      400: ok('OAuthError', 'invalid_request or unsupported_grant_type'),
      401: ok('OAuthError', 'invalid_client'),
    },
    public: true,
  },
  {
    method: 'get',
    path: '/subscriptions',
    operationId: 'Subscriptions_List',
    access: { anyPrincipal: true },
    summary: "The server's subscription (az login reads it)",
    tag: 'Identity',
    responses: { 200: ok('SubscriptionListResult') },
  },
  {
    method: 'get',
    path: SUB,
    operationId: 'Subscriptions_Get',
    access: { anyPrincipal: true },
    summary: "The server's subscription; 404 for any other id",
    tag: 'Identity',
    responses: { 200: ok('Subscription') },
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'Health_Get',
    summary: 'Liveness: the server answers',
    tag: 'Server',
    responses: { 200: { schema: null, description: 'OK', contentType: 'application/json' } },
    public: true,
  },
  {
    method: 'get',
    path: OPENAPI_PATH,
    operationId: 'OpenApi_Get',
    summary: 'This document',
    tag: 'Server',
    responses: { 200: { schema: null, description: 'OpenAPI 3.1', contentType: 'application/json' } },
    public: true,
  },

  // The web portal (src/web, docs/portal.md): its page, its bundled assets and its cookie session.
  {
    method: 'get',
    path: '/',
    operationId: 'Portal_Page',
    summary: 'The web portal (a single page; sign in with the admin token)',
    tag: 'Portal',
    responses: { 200: { schema: null, description: 'HTML', contentType: 'text/html' } },
    public: true,
  },
  {
    method: 'get',
    path: '/portal/assets/{assetName}',
    operationId: 'Portal_Asset',
    summary: "The portal's bundled script and style",
    tag: 'Portal',
    responses: { 200: { schema: null, description: 'JavaScript or CSS', contentType: 'text/javascript' } },
    public: true,
  },
  {
    method: 'get',
    path: '/portal/api/session',
    operationId: 'Portal_GetSession',
    summary: 'Whether the session cookie is signed in, and its CSRF token',
    tag: 'Portal',
    responses: { 200: json() },
    public: true,
  },
  {
    method: 'post',
    path: '/portal/api/sign-in',
    operationId: 'Portal_SignIn',
    summary: 'Trades the admin token (JSON {"token"}) for an HttpOnly session cookie; answers the CSRF token',
    tag: 'Portal',
    responses: { 200: json() },
    public: true,
  },
  {
    method: 'post',
    path: '/portal/api/sign-out',
    operationId: 'Portal_SignOut',
    summary: 'Ends the session (needs the x-nw-csrf-token header)',
    tag: 'Portal',
    responses: { 204: ok(null, 'Signed out') },
    public: true,
  },
];

const PATH_PARAMETERS: Record<string, Json> = {
  subscriptionId: { description: 'Subscription id (any string; the seed uses the zero GUID)' },
  resourceGroupName: { description: 'Resource group (case-insensitive)' },
  networkWatcherName: { description: 'Network watcher, e.g. NetworkWatcher_westus2' },
  packetCaptureName: { description: 'Packet capture name' },
  assetName: { description: 'A file of the portal bundle, e.g. app.js' },
  vmName: { description: 'Host (virtual machine) name' },
  vmExtensionName: { description: 'Extension instance name, e.g. NetworkWatcherAgentLinux' },
  vmScaleSetName: { description: 'Scale set name' },
  instanceId: { description: 'Instance id of a scale set ("0", "1", …)' },
  joinKeyId: { description: 'Id of a join key (not the key)' },
  accountName: { description: 'Storage account name: 3-24 lower-case letters and digits' },
  resourceProviderNamespace: { description: 'Provider of the operation URL (Microsoft.Network)' },
  location: { description: 'Location of the operation' },
  operationId: { description: 'Operation id' },
  ruleName: { description: 'Metric alert rule name' },
  actionGroupName: { description: 'Action group name' },
  alertId: { description: 'Fired alert id' },
  alertCaptureName: { description: 'Alert-triggered capture endpoint name' },
  publisherName: { description: 'Extension publisher (Microsoft.Azure.NetworkWatcher)' },
  type: { description: 'Extension type (NetworkWatcherAgentLinux)' },
  version: { description: 'Extension version, e.g. 1.4.0' },
  roleDefinitionId: { description: 'Role definition GUID, e.g. acdd72a7-3385-48ef-bd42-f606fba81ae7 (Reader)' },
  roleAssignmentName: { description: 'Role assignment name: a GUID' },
  servicePrincipalId: { description: 'App id, object id (or, in the admin API, the name) of a service principal' },
};

const QUERY_PARAMETERS: Record<string, Json> = {
  ApiVersion: {
    name: 'api-version',
    in: 'query',
    required: false,
    description:
      'Any api-version is accepted and echoed in the URLs the server builds (SDKs send 2025-05-01 for network, 2026-03-01 for compute)',
    schema: { type: 'string' },
  },
  SkipToken: {
    name: '$skiptoken',
    in: 'query',
    required: false,
    description: 'Continuation from a nextLink',
    schema: { type: 'string' },
  },
  ForceDeletion: {
    name: 'forceDeletion',
    in: 'query',
    required: false,
    description: 'true also deletes a host with running captures (they are recorded as stopped)',
    schema: { type: 'boolean', default: false },
  },
  DeleteFiles: {
    name: 'deleteFiles',
    in: 'query',
    required: false,
    description: "true also deletes the capture's files (Azure keeps them)",
    schema: { type: 'boolean', default: false },
  },
  Instance: {
    name: 'instance',
    in: 'query',
    required: false,
    description: 'Host name, VM id or scale-set instance id, for a capture of several hosts',
    schema: { type: 'string' },
  },
  Merge: {
    name: 'merge',
    in: 'query',
    required: false,
    description:
      "true: one time-ordered file of every host's packets, streamed (pcapng: one interface per host, named, with the filter in the comments)",
    schema: { type: 'string', enum: ['true', 'false'] },
  },
  Format: {
    name: 'format',
    in: 'query',
    required: false,
    description: 'With merge=true: pcapng (default) or pcap (one link type for all hosts, nanosecond timestamps)',
    schema: { type: 'string', enum: ['pcapng', 'pcap'] },
  },
  Section: {
    name: 'section',
    in: 'query',
    required: false,
    description: 'One analysis section; all of them when absent',
    schema: { type: 'string', enum: [...ANALYSIS_SECTIONS] },
  },
  Interval: {
    name: 'interval',
    in: 'query',
    required: false,
    description: 'I/O bucket width in seconds (default: at most 500 buckets)',
    schema: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
  },
  Top: {
    name: 'top',
    in: 'query',
    required: false,
    description: `Rows per table (default ${ANALYSIS_DEFAULT_TOP}); totals cover every row`,
    schema: { type: 'integer', minimum: 1, maximum: ANALYSIS_MAX_TOP },
  },
  Offset: {
    name: 'offset',
    in: 'query',
    required: false,
    description: 'Matching packets to skip',
    schema: { type: 'integer', minimum: 0, default: 0 },
  },
  Limit: {
    name: 'limit',
    in: 'query',
    required: false,
    description: 'Packets per page',
    schema: { type: 'integer', minimum: 1, maximum: PACKET_LIST_MAX_LIMIT, default: 100 },
  },
  DisplayFilter: {
    name: 'filter',
    in: 'query',
    required: false,
    description: 'Display filter, e.g. `ip.addr==10.0.0.1 && tcp.port==80` (docs/analysis.md)',
    schema: { type: 'string' },
  },
  Filter: {
    name: '$filter',
    in: 'query',
    required: false,
    description: 'OData filter (the forms az sends; others are a 400 naming $filter)',
    schema: { type: 'string' },
  },
  Code: {
    name: 'code',
    in: 'query',
    required: false,
    description: "The endpoint's key (or the x-functions-key header)",
    schema: { type: 'string' },
  },
  ActivityFilter: {
    name: '$filter',
    in: 'query',
    required: false,
    description:
      "OData conditions joined by `and`: eventTimestamp ge|le TIME, resourceGroupName, resourceId, resourceProvider, correlationId, caller or status eq 'VALUE'",
    schema: { type: 'string' },
  },
  Select: {
    name: '$select',
    in: 'query',
    required: false,
    description: 'Comma-separated top-level event fields to return',
    schema: { type: 'string' },
  },
};

const HEADERS: Record<string, Json> = {
  'Azure-AsyncOperation': {
    description: 'Absolute URL of the operation status document (built from the request Host)',
    schema: { type: 'string' },
  },
  Location: { description: "Absolute URL of the operation's result", schema: { type: 'string' } },
  ETag: { description: "The resource's etag", schema: { type: 'string' } },
  'Retry-After': {
    description:
      "Seconds to wait before polling (default 1; nw server --retry-after); sent only to az and Python SDKs (by User-Agent), whose azure-core waits 30 s without it; others poll at their caller's interval",
    schema: { type: 'integer' },
  },
  ContentSha256: { description: 'x-nw-content-sha256: SHA-256 of the file', schema: { type: 'string' } },
  'x-ms-request-id': { description: 'Id of this request in the server log', schema: { type: 'string' } },
  'x-ms-correlation-request-id': {
    description: "The caller's x-ms-correlation-request-id or x-ms-client-request-id, else the request id",
    schema: { type: 'string' },
  },
};

/** JSON Schema of a zod schema, without the noise OpenAPI does not want. */
function jsonSchemaOf(name: ApiSchemaName): Json {
  const schema = API_SCHEMAS[name] as z.ZodType;
  const raw = z.toJSONSchema(schema, { io: 'output' }) as Json;
  delete raw.$schema;
  let out = stripClosedObjects(hoistDefinitions(raw)) as Json;
  if (REQUEST_SCHEMAS.has(name)) out = withDefaultsOptional(out) as Json;
  if (name === 'StorageAccountPut') out = withBackendSchema(out);
  return out;
}

/** Recursive schemas (the protocol hierarchy) carry `$defs`; OpenAPI wants them as components, so they move there under their meta id. */
const HOISTED_DEFINITIONS: Json = {};
function hoistDefinitions(schema: Json): Json {
  const defs = schema.$defs as Json | undefined;
  if (!defs) return schema;
  delete schema.$defs;
  const text = JSON.stringify(schema).replace(/"#\/\$defs\/(\w+)"/g, '"#/components/schemas/$1"');
  for (const [id, def] of Object.entries(defs)) {
    HOISTED_DEFINITIONS[id] = stripClosedObjects(
      JSON.parse(JSON.stringify(def).replace(/"#\/\$defs\/(\w+)"/g, '"#/components/schemas/$1"')),
    );
  }
  return JSON.parse(text) as Json;
}

/** Request bodies: for them the output side marks defaulted fields required, but a caller may omit them. */
const REQUEST_SCHEMAS = new Set<ApiSchemaName>([
  'NetworkWatcherPut',
  'PacketCapture',
  'VirtualMachineExtensionPut',
  'VirtualMachinePut',
  'StorageAccountPut',
  'Enrollment',
  'MetricAlertPut',
  'ActionGroupPut',
  'AlertCapturePut',
  'RoleAssignmentPut',
  'ServicePrincipalCreate',
]);

function withDefaultsOptional(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withDefaultsOptional);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) out[k] = withDefaultsOptional(v);
  const props = out.properties as Record<string, Json> | undefined;
  if (Array.isArray(out.required) && props && typeof props === 'object') {
    out.required = (out.required as string[]).filter((r) => !(props[r] && 'default' in props[r]!));
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out;
}

/** Removes `additionalProperties: false` everywhere (see the file comment). */
function stripClosedObjects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripClosedObjects);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    if (k === 'additionalProperties' && v === false) continue;
    out[k] = stripClosedObjects(v);
  }
  return out;
}

/** properties.backend of a storage account PUT: src/storage's schema (input side), minus `rootDir`, which the server sets itself for a local account. */
function withBackendSchema(put: Json): Json {
  const backend = stripClosedObjects(z.toJSONSchema(storageBackendConfigSchema, { io: 'input' })) as Json & {
    oneOf?: Json[];
  };
  delete backend.$schema;
  for (const variant of backend.oneOf ?? []) {
    const props = variant.properties as Json | undefined;
    if ((props?.type as Json | undefined)?.const === 'local') {
      delete props!.rootDir;
      variant.required = (variant.required as string[]).filter((r) => r !== 'rootDir');
    }
  }
  const propertiesField = (put.properties as Json).properties as Json;
  (propertiesField.properties as Json).backend = {
    ...backend,
    description: 'Where the account keeps blobs; secrets are write-only',
  };
  return put;
}

function operationObject(op: OperationSpec): Json {
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
    name: m[1]!,
    in: 'path',
    required: true,
    schema: { type: 'string' },
    ...PATH_PARAMETERS[m[1]!],
  }));
  const isArm = op.path.startsWith('/subscriptions/');
  const parameters = [
    ...pathParams,
    ...(isArm ? [{ $ref: '#/components/parameters/ApiVersion' }] : []),
    ...(op.params ?? []).map((p) => ({ $ref: `#/components/parameters/${p}` })),
  ];
  const responses: Json = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const headers: Json = {
      'x-ms-request-id': { $ref: '#/components/headers/x-ms-request-id' },
      'x-ms-correlation-request-id': { $ref: '#/components/headers/x-ms-correlation-request-id' },
    };
    for (const h of r.headers ?? [])
      headers[h === 'ContentSha256' ? 'x-nw-content-sha256' : h] = { $ref: `#/components/headers/${h}` };
    const content = r.schema
      ? { 'application/json': { schema: { $ref: `#/components/schemas/${r.schema}` } } }
      : r.contentType
        ? {
            [r.contentType]: { schema: r.contentType === 'application/json' ? { type: 'object' } : { type: 'string' } },
          }
        : undefined;
    responses[status] = { description: r.description, headers, ...(content ? { content } : {}) };
  }
  responses.default = {
    description: 'Error (ARM ErrorResponse with a stable code)',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } },
  };
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    parameters,
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } },
          },
        }
      : {}),
    responses,
    ...(op.public ? { security: [] } : {}),
    ...(op.access ? { 'x-nw-authorization': { ...op.access, scope: op.scope ?? 'resource' } } : {}),
    ...(op.lro
      ? { 'x-ms-long-running-operation': true, 'x-ms-long-running-operation-options': { 'final-state-via': op.lro } }
      : {}),
    ...(op.pageable !== undefined ? { 'x-ms-pageable': { nextLinkName: op.pageable } } : {}),
  };
}

/** What a route asks of its caller, as the operation table says. */
export interface RouteAuthorization {
  operationId: string;
  path: string;
  access: RouteAccess | 'public';
  scope: ScopeKind;
}

/** A route's method and path pattern reduced to a lookup key: upper-case method, lower-case path, every parameter `{}` (`{name}` and `:name` alike), HEAD as GET. */
export function routeShape(method: string, path: string): string {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return `${m} ${path
    .toLowerCase()
    .replace(/\{\w+\}|:\w+/g, '{}')
    .replace(/\/{2,}/g, '/')
    .replace(/(.)\/+$/, '$1')}`;
}

let authorizationTable: Map<string, RouteAuthorization> | null = null;

/** The authorization of the route with this method and pattern (as Fastify registered it), or undefined when the operation table lacks it. */
export function routeAuthorization(method: string, pattern: string): RouteAuthorization | undefined {
  authorizationTable ??= new Map(
    OPERATIONS.map((op) => [
      routeShape(op.method, op.path),
      {
        operationId: op.operationId,
        path: op.path,
        access: op.public ? 'public' : op.access,
        scope: op.scope ?? 'resource',
      },
    ]),
  );
  return authorizationTable.get(routeShape(method, pattern));
}

/**
 * Builds the OpenAPI document. `serverUrl` adds a `servers` entry (the served copy names the
 * server it came from; the committed copy has none).
 * @example const doc = buildOpenApiDocument({ serverUrl: 'https://nw.example:8817' });
 */
export function buildOpenApiDocument(options: { serverUrl?: string } = {}): Json {
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operationObject(op);
  const schemas: Json = {};
  for (const name of Object.keys(API_SCHEMAS).sort() as ApiSchemaName[]) schemas[name] = jsonSchemaOf(name);
  for (const id of Object.keys(HOISTED_DEFINITIONS).sort()) schemas[id] = HOISTED_DEFINITIONS[id];
  return {
    openapi: '3.1.0',
    info: {
      title: 'netwatcher',
      version: '1',
      description: [
        "Azure Network Watcher's packet-capture API (Azure Resource Manager shape), self-hosted. Azure's SDKs and az-style tools work with only the endpoint changed; see docs/api.md and docs/sdk.md.",
        'Paths, property names and enum values are case-insensitive on input; unknown properties are ignored; any api-version is accepted.',
        'Long-running operations answer Azure-AsyncOperation (and Location for POST and DELETE) with absolute URLs built from the request Host; Retry-After (1 s by default) goes only to clients that wait for it (az, the Python SDK), not to the JS SDK, nw or scripts.',
        'Not described here: the agent WebSocket (/agent/v1/connect) and the signed local-storage URLs under /storage/.',
      ].join('\n\n'),
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    security: [{ bearer: [] }],
    tags: [
      'NetworkWatchers',
      'PacketCaptures',
      'Operations',
      'VirtualMachines',
      'VirtualMachineExtensions',
      'StorageAccounts',
      'Monitoring',
      'AlertCaptures',
      'Authorization',
      'Agent',
      'Server',
    ].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            "The admin token (DATA_DIR/admin-token), a service principal's secret, or an access token from /adfs/oauth2/token, as `Authorization: Bearer TOKEN`; each operation's x-nw-authorization names the RBAC action it checks (docs/access.md)",
        },
      },
      parameters: QUERY_PARAMETERS,
      headers: HEADERS,
      schemas,
    },
  };
}

/** The document as committed in docs/openapi.json: 2-space JSON and a final newline. */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}

/** Writes the committed copy (`npm run openapi`). */
export function writeOpenApiFile(path: string): void {
  writeFileSync(path, openApiText());
}
