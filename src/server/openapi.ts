/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas that validate requests
 * (src/model) and from the response schemas below, which the SDK tests check real answers
 * against. Served at `GET /openapi.json` and committed as docs/openapi.json (`npm run openapi`;
 * a test fails when the two drift apart).
 *
 * Request schemas come out of `z.toJSONSchema(…, { io: 'output' })`: the `ciObject` key mapping is
 * a preprocess, so the output side is the canonical spelling. `additionalProperties: false` is
 * dropped everywhere: ARM ignores unknown request properties and clients must tolerate new
 * response properties.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { API_ERROR_CODES } from '../lib/index.js';
import { ALERT_CAPTURE_PATH_PREFIX, ALERT_CAPTURE_PROVIDER } from '../alerts/index.js';
import { ANALYSIS_DEFAULT_TOP, ANALYSIS_MAX_TOP, ANALYSIS_SECTIONS, PACKET_LIST_MAX_LIMIT, analysisReportSchema, packetListPageSchema, actionGroupPutSchema, alertCapturePutSchema, metricAlertPutSchema, networkWatcherPutSchema, packetCaptureCreateSchema, storageAccountPutSchema, vmExtensionPutSchema, vmRegisterPutSchema } from '../model/index.js';
import { storageBackendConfigSchema } from '../storage/index.js';
import { AGENT_CA_PATH, AGENT_ENROLL_PATH, enrollRequestSchema } from './routes/agents.js';
import { ROTATE_ADMIN_TOKEN_PATH, TOKENS_PATH } from './routes/credentials.js';

/** Path of the served document. */
export const OPENAPI_PATH = '/openapi.json';

// ---- response schemas ---------------------------------------------------------------------------

const armId = z.string().describe('ARM resource id; compared case-insensitively');
const etag = z.string().describe('W/"…"; changes on every write (also the ETag header of a GET)');
const provisioningState = z.enum(['Succeeded', 'Creating', 'Updating', 'Deleting', 'Failed']);
const captureStatus = z.enum(['NotStarted', 'Running', 'Stopped', 'Error', 'Unknown']);
const captureError = z.enum(['InternalError', 'AgentStopped', 'CaptureFailed', 'LocalFileFailed', 'StorageFailed']);
const stopReason = z.string().describe('TimeExceeded, SizeExceeded, Manual, AgentStopped or Error');
const nullableString = z.string().nullable();
const count = z.number().int().min(0);

/** ErrorResponse: every refusal, with one of the stable codes of docs/api.md. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(API_ERROR_CODES) as [keyof typeof API_ERROR_CODES, ...Array<keyof typeof API_ERROR_CODES>]),
    message: z.string(),
    target: z.string().optional().describe('the offending field or parameter'),
  }),
});

/** A network watcher (NetworkWatcher). */
export const networkWatcherSchema = z.object({
  id: armId, name: z.string(), type: z.literal('Microsoft.Network/networkWatchers'), location: z.string(), etag,
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({ provisioningState, runningOperationIds: z.array(z.string()) }),
});

/** A filter as the server echoes it: normalized, every field present. */
export const packetCaptureFilterResultSchema = z.object({
  protocol: z.enum(['TCP', 'UDP', 'Any']), localIPAddress: z.string(), remoteIPAddress: z.string(), localPort: z.string(), remotePort: z.string(),
});

/** A packet capture (PacketCaptureResult): the request's fields with defaults filled in. */
export const packetCaptureResultSchema = z.object({
  id: armId, name: z.string(), etag, type: z.literal('Microsoft.Network/networkWatchers/packetCaptures'),
  properties: z.object({
    provisioningState,
    target: armId,
    targetType: z.enum(['AzureVM', 'AzureVMSS']),
    scope: z.object({ include: z.array(z.string()), exclude: z.array(z.string()) }),
    bytesToCapturePerPacket: count,
    totalBytesPerSession: count,
    timeLimitInSeconds: count,
    storageLocation: z.object({
      storageId: z.string().describe("'' when the file stays on the host"),
      storagePath: z.string().describe("the real URL of the capture's blob, '' without a storage account"),
      filePath: nullableString,
      localPath: nullableString.optional(),
    }),
    filters: z.array(packetCaptureFilterResultSchema),
    continuousCapture: z.boolean().nullable().optional(),
    captureSettings: z.object({ fileCount: count, fileSizeInBytes: count, sessionTimeLimitInSeconds: count }).optional().describe('continuous capture: the ring, with defaults filled in'),
  }),
});

/** One file of a continuous capture's ring in queryStatus (netwatcher's addition). */
const ringFileStatusSchema = z.object({
  name: z.string().describe('ring-000001.cap, …: as on the host and in storage'), sequence: count, instance: z.string().describe('the host (VM name)'),
  firstPacketTime: nullableString, lastPacketTime: nullableString, packetsCaptured: count, sizeInBytes: count, sha256: z.string(),
  stored: z.boolean().describe('true once the server read the blob back and it matched'),
  storagePath: z.string().describe("the file's blob URL, '' without a storage account"), localPath: nullableString.describe('the file on the host, null when it is only spooled for upload'),
});

const instanceStatusSchema = z.object({
  target: armId, packetCaptureStatus: captureStatus, captureStartTime: nullableString, stopReason: stopReason.nullable(), packetCaptureError: z.array(captureError),
  errorMessage: nullableString, packetsCaptured: count, bytesCaptured: count, kernelPacketsDropped: count.nullable(), kernelPacketsReceived: count.nullable(),
  file: z.object({ sizeInBytes: count, sha256: z.string(), stored: z.boolean(), localPath: nullableString }).nullable(),
  filesDeleted: count.optional().describe('continuous capture: files the ring deleted (oldest first)'),
  files: z.array(ringFileStatusSchema).optional().describe('continuous capture: the ring files on this host, oldest first'),
});

/** queryStatus answer (PacketCaptureQueryStatusResult): flat, as Azure's SDKs expect; counters, storagePath and instances are netwatcher's additions. */
export const packetCaptureQueryStatusSchema = z.object({
  name: z.string(), id: armId,
  captureStartTime: z.string().optional().describe('ISO 8601, once the capture really started on the host'),
  packetCaptureStatus: captureStatus,
  stopReason: stopReason.optional(),
  packetCaptureError: z.array(captureError),
  packetsCaptured: count, bytesCaptured: count, kernelPacketsDropped: count.nullable(),
  storagePath: z.string(),
  files: z.array(ringFileStatusSchema).optional().describe('continuous capture: every ring file kept, oldest first'),
  filesDeleted: count.optional(),
  instances: z.array(instanceStatusSchema),
});

/** A long-running operation's status document (AzureAsyncOperationResult). */
export const operationStatusSchema = z.object({
  id: z.string(), name: z.string(), status: z.enum(['InProgress', 'Succeeded', 'Failed', 'Canceled']),
  startTime: z.string(), endTime: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

const instanceViewStatusSchema = z.object({ code: z.string(), level: z.enum(['Info', 'Warning', 'Error']), displayStatus: z.string(), message: z.string().optional(), time: z.string().optional() });
/** An extension's instance view (VirtualMachineExtensionInstanceView). */
const instanceViewSchema = z.object({ name: z.string(), type: z.string().describe('publisher.type'), typeHandlerVersion: z.string(), statuses: z.array(instanceViewStatusSchema) });

/** The agent extension (VirtualMachineExtension); enrollmentToken and installCommand only in the PUT answer. */
export const vmExtensionSchema = z.object({
  id: armId, name: z.string(), type: z.literal('Microsoft.Compute/virtualMachines/extensions'), location: z.string(), etag,
  properties: z.object({
    publisher: z.string(), type: z.string(), typeHandlerVersion: z.string(), autoUpgradeMinorVersion: z.boolean(), provisioningState, settings: z.unknown(),
    enrollmentToken: z.string().optional().describe('one-time, 24 h; PUT answer only'),
    installCommand: z.string().optional().describe('the command to run on the host; PUT answer only'),
    instanceView: instanceViewSchema.optional().describe("with $expand=instanceView; while the host awaits enrolment, statuses[0].message holds the install command (callers who may write the extension only)"),
  }),
});

/** A host (VirtualMachine), with netwatcher's agent state under properties.netwatcher. */
export const virtualMachineSchema = z.object({
  id: armId, name: z.string(), type: z.literal('Microsoft.Compute/virtualMachines'), location: z.string(), etag,
  resources: z.array(vmExtensionSchema).optional().describe("the VM's extensions, on a GET of the VM (az vm extension list reads them here); not in lists"),
  properties: z.object({
    provisioningState, vmId: z.string(),
    netwatcher: z.object({ agentConnected: z.boolean(), agentVersion: nullableString, hostname: nullableString, enrolledAt: nullableString, lastSeenAt: nullableString }),
    instanceView: z.object({
      computerName: z.string().optional(),
      vmAgent: z.object({ vmAgentVersion: z.string(), statuses: z.array(instanceViewStatusSchema) }),
      extensions: z.array(instanceViewSchema),
      statuses: z.array(instanceViewStatusSchema),
    }).optional().describe('with $expand=instanceView (az vm extension set reads it)'),
  }),
});

/** A storage account; secrets are never returned. */
export const storageAccountSchema = z.object({
  id: armId, name: z.string(), type: z.literal('Microsoft.Storage/storageAccounts'), kind: z.string(), location: z.string(), etag,
  sku: z.object({ name: z.string(), tier: z.string() }),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    provisioningState,
    backend: z.object({ type: z.enum(['local', 'azureBlob', 's3']) }).catchall(z.unknown()).describe('the backend settings without secrets'),
    primaryEndpoints: z.object({ blob: z.string() }),
  }),
});

/** Answer of the agent enrolment. */
export const enrollResponseSchema = z.object({
  credential: z.string(), vmId: armId, vmName: z.string(), resourceGroup: z.string(), subscriptionId: z.string(), location: z.string(),
});

/** A subscription, as az reads it at login (Subscriptions_List). */
export const subscriptionSchema = z.object({ id: z.string(), subscriptionId: z.string(), tenantId: z.string(), displayName: z.string(), state: z.literal('Enabled'), managedByTenants: z.array(z.unknown()) });
/** The token endpoint's answer (OAuth 2.0 client credentials). */
export const tokenResultSchema = z.object({ token_type: z.literal('Bearer'), access_token: z.string().describe('signed by the server, bound to the credential it was traded for'), expires_in: z.number().int(), ext_expires_in: z.number().int() });
/** An OAuth error (RFC 6749 §5.2): az prints error_description. */
export const oauthErrorSchema = z.object({ error: z.enum(['invalid_request', 'unsupported_grant_type', 'invalid_client']), error_description: z.string() });

const listOf = <T extends z.ZodType>(item: T) => z.object({
  value: z.array(item),
  nextLink: z.string().optional().describe('absolute URL of the next page, with api-version; absent on the last page'),
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
  VirtualMachineExtensionsListResult: listOf(vmExtensionSchema),
  StorageAccount: storageAccountSchema,
  StorageAccountListResult: listOf(storageAccountSchema),
  EnrollmentResult: enrollResponseSchema,
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
  StorageAccountPut: storageAccountPutSchema,
  Enrollment: enrollRequestSchema,
  MetricAlertPut: metricAlertPutSchema,
  ActionGroupPut: actionGroupPutSchema,
  AlertCapturePut: alertCapturePutSchema,
} as const;

/** Component name of an API schema. */
export type ApiSchemaName = keyof typeof API_SCHEMAS;

// ---- paths ----------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface OperationSpec {
  method: 'get' | 'put' | 'post' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  body?: ApiSchemaName;
  /** status → schema name (or null: no body) and description. */
  responses: Record<string, { schema: ApiSchemaName | null; description: string; headers?: string[]; contentType?: string }>;
  params?: string[];
  /** final-state-via of a long-running operation. */
  lro?: 'azure-async-operation' | 'location';
  /** nextLinkName of a list: null means one page (the SDK ignores nextLink there). */
  pageable?: 'nextLink' | null;
  /** No bearer token needed. */
  public?: boolean;
}

const SUB = '/subscriptions/{subscriptionId}';
const RG = `${SUB}/resourceGroups/{resourceGroupName}`;
const NW = `${RG}/providers/Microsoft.Network/networkWatchers`;
const PC = `${NW}/{networkWatcherName}/packetCaptures`;
const VM = `${RG}/providers/Microsoft.Compute/virtualMachines`;
const SA = `${RG}/providers/Microsoft.Storage/storageAccounts`;
const INSIGHTS = `${RG}/providers/Microsoft.Insights`;
const ALERT_CAPTURES = `${RG}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`;
const ok = (schema: ApiSchemaName | null, description = 'OK', headers?: string[]) => ({ schema, description, ...(headers ? { headers } : {}) });
/** A JSON answer without a schema of its own here (the monitoring resources, whose shapes are Azure Monitor's). */
const json = (description = 'OK') => ({ schema: null, description, contentType: 'application/json' });

const OPERATIONS: OperationSpec[] = [
  { method: 'get', path: `${SUB}/providers/Microsoft.Network/networkWatchers`, operationId: 'NetworkWatchers_ListAll', summary: 'All network watchers of a subscription', tag: 'NetworkWatchers', responses: { 200: ok('NetworkWatcherListResult') }, pageable: null },
  { method: 'get', path: NW, operationId: 'NetworkWatchers_List', summary: 'Network watchers of a resource group', tag: 'NetworkWatchers', responses: { 200: ok('NetworkWatcherListResult') }, pageable: null },
  { method: 'get', path: `${NW}/{networkWatcherName}`, operationId: 'NetworkWatchers_Get', summary: 'A network watcher', tag: 'NetworkWatchers', responses: { 200: ok('NetworkWatcher', 'OK', ['ETag']) } },
  { method: 'put', path: `${NW}/{networkWatcherName}`, operationId: 'NetworkWatchers_CreateOrUpdate', summary: 'Creates or updates a network watcher (one per location; not long-running)', tag: 'NetworkWatchers', body: 'NetworkWatcherPut', responses: { 200: ok('NetworkWatcher', 'Updated'), 201: ok('NetworkWatcher', 'Created') } },
  { method: 'delete', path: `${NW}/{networkWatcherName}`, operationId: 'NetworkWatchers_Delete', summary: 'Deletes a network watcher that has no packet captures', tag: 'NetworkWatchers', responses: { 204: ok(null, 'Deleted, or there was none (the Python SDK accepts only 202 and 204)') } },

  { method: 'get', path: PC, operationId: 'PacketCaptures_List', summary: 'Packet captures of a watcher', tag: 'PacketCaptures', responses: { 200: ok('PacketCaptureListResult') }, pageable: null },
  { method: 'put', path: `${PC}/{packetCaptureName}`, operationId: 'PacketCaptures_Create', summary: 'Starts a packet capture; the operation succeeds when it runs on the host', tag: 'PacketCaptures', body: 'PacketCapture', responses: { 201: ok('PacketCaptureResult', 'Created (provisioningState Updating)', ['Azure-AsyncOperation']) }, lro: 'azure-async-operation' },
  { method: 'get', path: `${PC}/{packetCaptureName}`, operationId: 'PacketCaptures_Get', summary: 'A packet capture', tag: 'PacketCaptures', responses: { 200: ok('PacketCaptureResult', 'OK', ['ETag']) } },
  { method: 'delete', path: `${PC}/{packetCaptureName}`, operationId: 'PacketCaptures_Delete', summary: 'Stops and deletes a packet capture; its files are kept unless deleteFiles=true', tag: 'PacketCaptures', params: ['DeleteFiles'], responses: { 202: ok(null, 'Accepted', ['Azure-AsyncOperation', 'Location', 'Retry-After']), 204: ok(null, 'Deleted at once, or there was none (never 200: the Python SDK accepts only 202 and 204)') }, lro: 'location' },
  { method: 'post', path: `${PC}/{packetCaptureName}/stop`, operationId: 'PacketCaptures_Stop', summary: 'Stops a packet capture; succeeds when every host stopped', tag: 'PacketCaptures', responses: { 200: ok(null, 'Nothing left to stop'), 202: ok(null, 'Accepted', ['Azure-AsyncOperation', 'Location', 'Retry-After']) }, lro: 'location' },
  { method: 'post', path: `${PC}/{packetCaptureName}/queryStatus`, operationId: 'PacketCaptures_GetStatus', summary: 'Status of a packet capture (answered at once)', tag: 'PacketCaptures', responses: { 200: ok('PacketCaptureQueryStatusResult') }, lro: 'location' },
  { method: 'get', path: `${PC}/{packetCaptureName}/analysis`, operationId: 'PacketCaptures_Analyze', summary: "Analysis of the capture's file: summary, protocol hierarchy, conversations, endpoints, TCP health, DNS, TLS, I/O (netwatcher addition; docs/analysis.md)", tag: 'PacketCaptures', params: ['Section', 'Instance', 'Interval', 'Top'], responses: { 200: ok('AnalysisReport') } },
  { method: 'get', path: `${PC}/{packetCaptureName}/packets`, operationId: 'PacketCaptures_ListPackets', summary: 'Decoded packets of the capture that match a display filter, paged (netwatcher addition)', tag: 'PacketCaptures', params: ['Offset', 'Limit', 'DisplayFilter', 'Instance'], responses: { 200: ok('PacketListPage') } },
  { method: 'get', path: `${PC}/{packetCaptureName}/packets/pcap`, operationId: 'PacketCaptures_DownloadPackets', summary: 'The packets of the capture that match a display filter, as a pcap file (netwatcher addition)', tag: 'PacketCaptures', params: ['DisplayFilter', 'Instance'], responses: { 200: { schema: null, description: 'The matching packets in the format of the stored file: classic pcap (or application/x-pcapng for a pcapng file)', contentType: 'application/vnd.tcpdump.pcap' } } },
  { method: 'get', path: `${PC}/{packetCaptureName}/download`, operationId: 'PacketCaptures_Download', summary: "The capture's .cap file (netwatcher addition)", tag: 'PacketCaptures', params: ['Instance'], responses: { 200: { schema: null, description: 'The pcap file; x-nw-content-sha256 carries its SHA-256', contentType: 'application/vnd.tcpdump.pcap', headers: ['ContentSha256'] } } },

  { method: 'get', path: `${SUB}/providers/{resourceProviderNamespace}/locations/{location}/operations/{operationId}`, operationId: 'Operations_GetStatus', summary: 'Status of a long-running operation (kept in the database: answers after a restart)', tag: 'Operations', responses: { 200: ok('OperationStatus') } },
  { method: 'get', path: `${SUB}/providers/{resourceProviderNamespace}/locations/{location}/operationResults/{operationId}`, operationId: 'Operations_GetResult', summary: 'Result of a long-running operation: 202 while it runs, then 200 with the result (JSON null for stop and delete)', tag: 'Operations', responses: { 200: ok(null, 'Finished'), 202: ok(null, 'Still running', ['Azure-AsyncOperation', 'Location']) } },

  { method: 'get', path: `${SUB}/providers/Microsoft.Compute/virtualMachines`, operationId: 'VirtualMachines_ListAll', summary: 'Hosts of a subscription', tag: 'VirtualMachines', params: ['SkipToken'], responses: { 200: ok('VirtualMachineListResult') }, pageable: 'nextLink' },
  { method: 'get', path: VM, operationId: 'VirtualMachines_List', summary: 'Hosts of a resource group', tag: 'VirtualMachines', params: ['SkipToken'], responses: { 200: ok('VirtualMachineListResult') }, pageable: 'nextLink' },
  { method: 'get', path: `${VM}/{vmName}`, operationId: 'VirtualMachines_Get', summary: 'A host', tag: 'VirtualMachines', responses: { 200: ok('VirtualMachine', 'OK', ['ETag']) } },
  { method: 'delete', path: `${VM}/{vmName}`, operationId: 'VirtualMachines_Delete', summary: "Removes a host: revokes its credential, cuts its agent connection; 409 while captures run on it unless forceDeletion=true", tag: 'VirtualMachines', params: ['ForceDeletion'], responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },
  { method: 'put', path: `${VM}/{vmName}`, operationId: 'VirtualMachines_Register', summary: 'Registers a host without installing anything (az resource create), so plain az can run az vm extension set on it; only location (and tags) can be set', tag: 'VirtualMachines', body: 'VirtualMachinePut', responses: { 200: ok('VirtualMachine', 'Already registered'), 201: ok('VirtualMachine', 'Registered') } },
  { method: 'get', path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers`, operationId: 'VirtualMachineImages_ListPublishers', summary: 'Extension publishers (a bare JSON array): only the agent\'s', tag: 'VirtualMachineExtensionImages', responses: { 200: json() } },
  { method: 'get', path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types`, operationId: 'VirtualMachineExtensionImages_ListTypes', summary: 'Extension types of a publisher (a bare JSON array)', tag: 'VirtualMachineExtensionImages', responses: { 200: json() } },
  { method: 'get', path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types/{type}/versions`, operationId: 'VirtualMachineExtensionImages_ListVersions', summary: "Versions of the agent extension (a bare JSON array); az vm extension set without --version picks the latest", tag: 'VirtualMachineExtensionImages', responses: { 200: json() } },
  { method: 'get', path: `${SUB}/providers/Microsoft.Compute/locations/{location}/publishers/{publisherName}/artifacttypes/vmextension/types/{type}/versions/{version}`, operationId: 'VirtualMachineExtensionImages_Get', summary: 'One version of the agent extension', tag: 'VirtualMachineExtensionImages', responses: { 200: json() } },
  { method: 'get', path: `${VM}/{vmName}/extensions`, operationId: 'VirtualMachineExtensions_List', summary: 'Extensions of a host', tag: 'VirtualMachineExtensions', responses: { 200: ok('VirtualMachineExtensionsListResult') }, pageable: null },
  { method: 'get', path: `${VM}/{vmName}/extensions/{vmExtensionName}`, operationId: 'VirtualMachineExtensions_Get', summary: 'The agent extension (AzureNetworkWatcherExtension also finds it)', tag: 'VirtualMachineExtensions', responses: { 200: ok('VirtualMachineExtension', 'OK', ['ETag']) } },
  { method: 'put', path: `${VM}/{vmName}/extensions/{vmExtensionName}`, operationId: 'VirtualMachineExtensions_CreateOrUpdate', summary: 'Installs the agent: registers the host and returns a one-time install command', tag: 'VirtualMachineExtensions', body: 'VirtualMachineExtensionPut', responses: { 200: ok('VirtualMachineExtension', 'Updated', ['Azure-AsyncOperation']), 201: ok('VirtualMachineExtension', 'Created', ['Azure-AsyncOperation']) }, lro: 'azure-async-operation' },
  { method: 'delete', path: `${VM}/{vmName}/extensions/{vmExtensionName}`, operationId: 'VirtualMachineExtensions_Delete', summary: "Removes the agent extension and revokes the host's credential", tag: 'VirtualMachineExtensions', responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },

  { method: 'post', path: `${VM}/{vmName}/revokeAgentCredential`, operationId: 'VirtualMachines_RevokeAgentCredential', summary: "Revokes the host's agent credential and unused enrolment tokens and closes its live agent connection at once (netwatcher)", tag: 'VirtualMachines', responses: { 200: json('Revoked') } },
  { method: 'post', path: ROTATE_ADMIN_TOKEN_PATH, operationId: 'AdminToken_Rotate', summary: 'Replaces every admin token by a new one, answered once and written to DATA_DIR/admin-token; the old ones stop working at once', tag: 'Server', responses: { 200: json('The new token') } },
  { method: 'get', path: TOKENS_PATH, operationId: 'Tokens_List', summary: 'What every token row is for (kind, description, host, dates); never a token or its hash', tag: 'Server', responses: { 200: json() }, pageable: null },

  { method: 'get', path: `${SUB}/providers/Microsoft.Storage/storageAccounts`, operationId: 'StorageAccounts_List', summary: 'Storage accounts of a subscription', tag: 'StorageAccounts', responses: { 200: ok('StorageAccountListResult') }, pageable: null },
  { method: 'get', path: SA, operationId: 'StorageAccounts_ListByResourceGroup', summary: 'Storage accounts of a resource group', tag: 'StorageAccounts', responses: { 200: ok('StorageAccountListResult') }, pageable: null },
  { method: 'get', path: `${SA}/{accountName}`, operationId: 'StorageAccounts_GetProperties', summary: 'A storage account', tag: 'StorageAccounts', responses: { 200: ok('StorageAccount', 'OK', ['ETag']) } },
  { method: 'put', path: `${SA}/{accountName}`, operationId: 'StorageAccounts_Create', summary: 'Registers a storage account (local folder, Azure Blob or S3)', tag: 'StorageAccounts', body: 'StorageAccountPut', responses: { 200: ok('StorageAccount', 'Created or updated (never 201: the Python SDK accepts only 200 and 202)') } },
  { method: 'post', path: `${SA}/{accountName}/listKeys`, operationId: 'StorageAccounts_ListKeys', summary: 'Refused with 409 OperationNotSupported: account keys are never handed out (uploads use signed URLs)', tag: 'StorageAccounts', responses: { 409: ok('ErrorResponse', 'OperationNotSupported') } },
  { method: 'delete', path: `${SA}/{accountName}`, operationId: 'StorageAccounts_Delete', summary: 'Forgets a storage account (its blobs stay)', tag: 'StorageAccounts', responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },

  { method: 'get', path: `${SUB}/providers/Microsoft.Insights/metricAlerts`, operationId: 'MetricAlerts_ListBySubscription', summary: 'Metric alert rules of a subscription', tag: 'Monitoring', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${INSIGHTS}/metricAlerts`, operationId: 'MetricAlerts_ListByResourceGroup', summary: 'Metric alert rules of a resource group', tag: 'Monitoring', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${INSIGHTS}/metricAlerts/{ruleName}`, operationId: 'MetricAlerts_Get', summary: 'A metric alert rule on host metrics', tag: 'Monitoring', responses: { 200: json() } },
  { method: 'put', path: `${INSIGHTS}/metricAlerts/{ruleName}`, operationId: 'MetricAlerts_CreateOrUpdate', summary: 'Creates or updates a metric alert rule (not long-running)', tag: 'Monitoring', body: 'MetricAlertPut', responses: { 200: json('Created or updated (never 201: the 2018-03-01 spec and its SDK accept only 200)') } },
  { method: 'delete', path: `${INSIGHTS}/metricAlerts/{ruleName}`, operationId: 'MetricAlerts_Delete', summary: 'Deletes a metric alert rule', tag: 'Monitoring', responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },
  { method: 'get', path: `${SUB}/providers/Microsoft.Insights/actionGroups`, operationId: 'ActionGroups_ListBySubscriptionId', summary: 'Action groups of a subscription', tag: 'Monitoring', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${INSIGHTS}/actionGroups`, operationId: 'ActionGroups_ListByResourceGroup', summary: 'Action groups of a resource group', tag: 'Monitoring', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${INSIGHTS}/actionGroups/{actionGroupName}`, operationId: 'ActionGroups_Get', summary: 'An action group (webhook receivers)', tag: 'Monitoring', responses: { 200: json() } },
  { method: 'put', path: `${INSIGHTS}/actionGroups/{actionGroupName}`, operationId: 'ActionGroups_CreateOrUpdate', summary: 'Creates or updates an action group', tag: 'Monitoring', body: 'ActionGroupPut', responses: { 200: json('Updated'), 201: json('Created') } },
  { method: 'delete', path: `${INSIGHTS}/actionGroups/{actionGroupName}`, operationId: 'ActionGroups_Delete', summary: 'Deletes an action group', tag: 'Monitoring', responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },
  { method: 'get', path: `${SUB}/providers/Microsoft.AlertsManagement/alerts`, operationId: 'Alerts_GetAll', summary: 'Fired alerts (filters: alertRule, targetResource, monitorCondition, pageCount)', tag: 'Monitoring', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${SUB}/providers/Microsoft.AlertsManagement/alerts/{alertId}`, operationId: 'Alerts_GetById', summary: 'A fired alert', tag: 'Monitoring', responses: { 200: json() } },
  { method: 'get', path: `${VM}/{vmName}/providers/Microsoft.Insights/metrics`, operationId: 'Metrics_List', summary: "A host's metrics (Azure Monitor's query parameters: metricnames, timespan, interval, aggregation)", tag: 'Monitoring', responses: { 200: json() } },
  { method: 'get', path: `${VM}/{vmName}/providers/Microsoft.Insights/metricDefinitions`, operationId: 'MetricDefinitions_List', summary: 'The metrics a host reports', tag: 'Monitoring', responses: { 200: json() } },
  { method: 'get', path: `${SUB}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`, operationId: 'AlertCaptures_ListBySubscription', summary: 'Alert-triggered capture endpoints of a subscription (netwatcher)', tag: 'AlertCaptures', responses: { 200: json() }, pageable: null },
  { method: 'get', path: ALERT_CAPTURES, operationId: 'AlertCaptures_ListByResourceGroup', summary: 'Alert-triggered capture endpoints of a resource group', tag: 'AlertCaptures', responses: { 200: json() }, pageable: null },
  { method: 'get', path: `${ALERT_CAPTURES}/{alertCaptureName}`, operationId: 'AlertCaptures_Get', summary: 'An alert-triggered capture endpoint', tag: 'AlertCaptures', responses: { 200: json() } },
  { method: 'put', path: `${ALERT_CAPTURES}/{alertCaptureName}`, operationId: 'AlertCaptures_CreateOrUpdate', summary: 'Creates or updates an endpoint; a new one answers its keyed trigger URL once', tag: 'AlertCaptures', body: 'AlertCapturePut', responses: { 200: json('Updated'), 201: json('Created') } },
  { method: 'delete', path: `${ALERT_CAPTURES}/{alertCaptureName}`, operationId: 'AlertCaptures_Delete', summary: 'Deletes an endpoint', tag: 'AlertCaptures', responses: { 200: ok(null, 'Deleted'), 204: ok(null, 'There was none') } },
  { method: 'post', path: `${ALERT_CAPTURES}/{alertCaptureName}/regenerateKey`, operationId: 'AlertCaptures_RegenerateKey', summary: 'A new key: answers the new trigger URL once', tag: 'AlertCaptures', responses: { 200: json() } },
  { method: 'get', path: `${ALERT_CAPTURES}/{alertCaptureName}/runs`, operationId: 'AlertCaptures_ListRuns', summary: 'What the endpoint did with each alert', tag: 'AlertCaptures', responses: { 200: json() }, pageable: null },
  { method: 'post', path: `${ALERT_CAPTURE_PATH_PREFIX}/{subscriptionId}/{resourceGroupName}/{alertCaptureName}`, operationId: 'AlertCaptures_Trigger', summary: "The trigger an action group's webhook calls: Azure's three alert payloads and Alertmanager's; authenticated by its key (?code= or x-functions-key)", tag: 'AlertCaptures', params: ['Code'], responses: { 200: json('Handled'), 202: json('Accepted') }, public: true },
  { method: 'get', path: '/metrics', operationId: 'Prometheus_Get', summary: "The server's Prometheus metrics (admin token)", tag: 'Server', responses: { 200: { schema: null, description: 'Prometheus text format', contentType: 'text/plain' } } },

  { method: 'post', path: AGENT_ENROLL_PATH, operationId: 'Agent_Enroll', summary: "Trades a one-time enrolment token (in the body) for the host's credential", tag: 'Agent', body: 'Enrollment', responses: { 200: ok('EnrollmentResult') }, public: true },
  { method: 'get', path: AGENT_CA_PATH, operationId: 'Agent_GetCaCertificate', summary: "The server's self-signed CA certificate, for agents that pin its SHA-256 (404 when the server's certificate is not self-signed)", tag: 'Agent', responses: { 200: { schema: null, description: 'PEM', contentType: 'application/x-pem-file' } }, public: true },
  { method: 'get', path: '/metadata/endpoints', operationId: 'Metadata_GetEndpoints', summary: 'Cloud metadata for az cloud register (also at //metadata/endpoints): login endpoint BASE/adfs, audience BASE/', tag: 'Identity', responses: { 200: json() }, public: true },
  { method: 'get', path: '/adfs/.well-known/openid-configuration', operationId: 'Identity_GetOpenIdConfiguration', summary: 'OpenID discovery of the ADFS-style authority (MSAL needs authorization_endpoint and token_endpoint)', tag: 'Identity', responses: { 200: json() }, public: true },
  { method: 'post', path: '/adfs/oauth2/token', operationId: 'Identity_GetToken', summary: 'OAuth 2.0 client credentials (form-encoded): client_secret = a netwatcher credential (the admin token); answers an access token that expires and dies with its credential', tag: 'Identity', responses: { 200: ok('TokenResult'), 400: ok('OAuthError', 'invalid_request or unsupported_grant_type'), 401: ok('OAuthError', 'invalid_client') }, public: true },
  { method: 'get', path: '/subscriptions', operationId: 'Subscriptions_List', summary: "The server's subscription (az login reads it)", tag: 'Identity', responses: { 200: ok('SubscriptionListResult') } },
  { method: 'get', path: SUB, operationId: 'Subscriptions_Get', summary: "The server's subscription; 404 for any other id", tag: 'Identity', responses: { 200: ok('Subscription') } },
  { method: 'get', path: '/healthz', operationId: 'Health_Get', summary: 'Liveness: the server answers', tag: 'Server', responses: { 200: { schema: null, description: 'OK', contentType: 'application/json' } }, public: true },
  { method: 'get', path: OPENAPI_PATH, operationId: 'OpenApi_Get', summary: 'This document', tag: 'Server', responses: { 200: { schema: null, description: 'OpenAPI 3.1', contentType: 'application/json' } }, public: true },

  // The web portal (src/web, docs/portal.md): its page, its bundled assets and its cookie session.
  { method: 'get', path: '/', operationId: 'Portal_Page', summary: 'The web portal (a single page; sign in with the admin token)', tag: 'Portal', responses: { 200: { schema: null, description: 'HTML', contentType: 'text/html' } }, public: true },
  { method: 'get', path: '/portal/assets/{assetName}', operationId: 'Portal_Asset', summary: "The portal's bundled script and style", tag: 'Portal', responses: { 200: { schema: null, description: 'JavaScript or CSS', contentType: 'text/javascript' } }, public: true },
  { method: 'get', path: '/portal/api/session', operationId: 'Portal_GetSession', summary: 'Whether the session cookie is signed in, and its CSRF token', tag: 'Portal', responses: { 200: json() }, public: true },
  { method: 'post', path: '/portal/api/sign-in', operationId: 'Portal_SignIn', summary: 'Trades the admin token (JSON {"token"}) for an HttpOnly session cookie; answers the CSRF token', tag: 'Portal', responses: { 200: json() }, public: true },
  { method: 'post', path: '/portal/api/sign-out', operationId: 'Portal_SignOut', summary: 'Ends the session (needs the x-nw-csrf-token header)', tag: 'Portal', responses: { 204: ok(null, 'Signed out') }, public: true },
];

const PATH_PARAMETERS: Record<string, Json> = {
  subscriptionId: { description: 'Subscription id (any string; the seed uses the zero GUID)' },
  resourceGroupName: { description: 'Resource group (case-insensitive)' },
  networkWatcherName: { description: 'Network watcher, e.g. NetworkWatcher_westus2' },
  packetCaptureName: { description: 'Packet capture name' },
  assetName: { description: 'A file of the portal bundle, e.g. app.js' },
  vmName: { description: 'Host (virtual machine) name' },
  vmExtensionName: { description: 'Extension instance name, e.g. NetworkWatcherAgentLinux' },
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
};

const QUERY_PARAMETERS: Record<string, Json> = {
  ApiVersion: { name: 'api-version', in: 'query', required: false, description: 'Any api-version is accepted and echoed in the URLs the server builds (SDKs send 2025-05-01 for network, 2026-03-01 for compute)', schema: { type: 'string' } },
  SkipToken: { name: '$skiptoken', in: 'query', required: false, description: 'Continuation from a nextLink', schema: { type: 'string' } },
  ForceDeletion: { name: 'forceDeletion', in: 'query', required: false, description: 'true also deletes a host with running captures (they are recorded as stopped)', schema: { type: 'boolean', default: false } },
  DeleteFiles: { name: 'deleteFiles', in: 'query', required: false, description: "true also deletes the capture's files (Azure keeps them)", schema: { type: 'boolean', default: false } },
  Instance: { name: 'instance', in: 'query', required: false, description: 'Host name or VM id, for a capture of several hosts', schema: { type: 'string' } },
  Section: { name: 'section', in: 'query', required: false, description: 'One analysis section; all of them when absent', schema: { type: 'string', enum: [...ANALYSIS_SECTIONS] } },
  Interval: { name: 'interval', in: 'query', required: false, description: 'I/O bucket width in seconds (default: at most 500 buckets)', schema: { type: 'number', exclusiveMinimum: 0, maximum: 86400 } },
  Top: { name: 'top', in: 'query', required: false, description: `Rows per table (default ${ANALYSIS_DEFAULT_TOP}); totals cover every row`, schema: { type: 'integer', minimum: 1, maximum: ANALYSIS_MAX_TOP } },
  Offset: { name: 'offset', in: 'query', required: false, description: 'Matching packets to skip', schema: { type: 'integer', minimum: 0, default: 0 } },
  Limit: { name: 'limit', in: 'query', required: false, description: 'Packets per page', schema: { type: 'integer', minimum: 1, maximum: PACKET_LIST_MAX_LIMIT, default: 100 } },
  DisplayFilter: { name: 'filter', in: 'query', required: false, description: 'Display filter, e.g. `ip.addr==10.0.0.1 && tcp.port==80` (docs/analysis.md)', schema: { type: 'string' } },
  Code: { name: 'code', in: 'query', required: false, description: "The endpoint's key (or the x-functions-key header)", schema: { type: 'string' } },
};

const HEADERS: Record<string, Json> = {
  'Azure-AsyncOperation': { description: 'Absolute URL of the operation status document (built from the request Host)', schema: { type: 'string' } },
  Location: { description: "Absolute URL of the operation's result", schema: { type: 'string' } },
  ETag: { description: "The resource's etag", schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before polling (default 1; nw server --retry-after); sent only to az and Python SDKs (by User-Agent), whose azure-core waits 30 s without it; others poll at their caller\'s interval', schema: { type: 'integer' } },
  ContentSha256: { description: 'x-nw-content-sha256: SHA-256 of the file', schema: { type: 'string' } },
  'x-ms-request-id': { description: 'Id of this request in the server log', schema: { type: 'string' } },
  'x-ms-correlation-request-id': { description: 'The caller\'s x-ms-correlation-request-id or x-ms-client-request-id, else the request id', schema: { type: 'string' } },
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
    HOISTED_DEFINITIONS[id] = stripClosedObjects(JSON.parse(JSON.stringify(def).replace(/"#\/\$defs\/(\w+)"/g, '"#/components/schemas/$1"')));
  }
  return JSON.parse(text) as Json;
}

/** Request bodies: for them the output side marks defaulted fields required, but a caller may omit them. */
const REQUEST_SCHEMAS = new Set<ApiSchemaName>(['NetworkWatcherPut', 'PacketCapture', 'VirtualMachineExtensionPut', 'VirtualMachinePut', 'StorageAccountPut', 'Enrollment', 'MetricAlertPut', 'ActionGroupPut', 'AlertCapturePut']);

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
  const backend = stripClosedObjects(z.toJSONSchema(storageBackendConfigSchema, { io: 'input' })) as Json & { oneOf?: Json[] };
  delete backend.$schema;
  for (const variant of backend.oneOf ?? []) {
    const props = variant.properties as Json | undefined;
    if ((props?.type as Json | undefined)?.const === 'local') {
      delete props!.rootDir;
      variant.required = (variant.required as string[]).filter((r) => r !== 'rootDir');
    }
  }
  const propertiesField = (put.properties as Json).properties as Json;
  (propertiesField.properties as Json).backend = { ...backend, description: 'Where the account keeps blobs; secrets are write-only' };
  return put;
}

function operationObject(op: OperationSpec): Json {
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1]!, in: 'path', required: true, schema: { type: 'string' }, ...PATH_PARAMETERS[m[1]!] }));
  const isArm = op.path.startsWith('/subscriptions/');
  const parameters = [...pathParams, ...(isArm ? [{ $ref: '#/components/parameters/ApiVersion' }] : []), ...(op.params ?? []).map((p) => ({ $ref: `#/components/parameters/${p}` }))];
  const responses: Json = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const headers: Json = {
      'x-ms-request-id': { $ref: '#/components/headers/x-ms-request-id' },
      'x-ms-correlation-request-id': { $ref: '#/components/headers/x-ms-correlation-request-id' },
    };
    for (const h of r.headers ?? []) headers[h === 'ContentSha256' ? 'x-nw-content-sha256' : h] = { $ref: `#/components/headers/${h}` };
    const content = r.schema
      ? { 'application/json': { schema: { $ref: `#/components/schemas/${r.schema}` } } }
      : r.contentType ? { [r.contentType]: { schema: r.contentType === 'application/json' ? { type: 'object' } : { type: 'string' } } } : undefined;
    responses[status] = { description: r.description, headers, ...(content ? { content } : {}) };
  }
  responses.default = { description: 'Error (ARM ErrorResponse with a stable code)', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } } };
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    parameters,
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } } } } : {}),
    responses,
    ...(op.public ? { security: [] } : {}),
    ...(op.lro ? { 'x-ms-long-running-operation': true, 'x-ms-long-running-operation-options': { 'final-state-via': op.lro } } : {}),
    ...(op.pageable !== undefined ? { 'x-ms-pageable': { nextLinkName: op.pageable } } : {}),
  };
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
    tags: ['NetworkWatchers', 'PacketCaptures', 'Operations', 'VirtualMachines', 'VirtualMachineExtensions', 'StorageAccounts', 'Monitoring', 'AlertCaptures', 'Agent', 'Server'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The admin token (DATA_DIR/admin-token), as `Authorization: Bearer TOKEN`' } },
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
