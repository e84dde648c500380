import { z } from 'zod';
import { API_ERROR_CODES } from '../lib/index.js';
import {
  packetCaptureErrorCodeSchema,
  packetCaptureStatusSchema,
  packetCaptureStopReasonSchema,
} from './agent-protocol.js';
import { captureTargetTypeSchema, packetCaptureFilterResultSchema } from './packet-capture.js';
import {
  extensionBodySchema,
  hostStateSchema,
  operationStatusValueSchema,
  provisioningStateSchema,
  storageAccountBodySchema,
  storageBackendKindSchema,
  storedLookbackSchema,
  vmBodySchema,
  vmssBodySchema,
  watcherBodySchema,
} from './stored-bodies.js';

// The API's answers, one schema each, beside the request schemas: src/server/openapi.ts builds the
// document from them and the SDK tests check real answers against them. Resources answer their
// stored body (stored-bodies.ts) with id, name and etag added; keys starting with `_` never show.

const armId = z.string().describe('ARM resource id; compared case-insensitively');
const etag = z.string().describe('W/"…"; changes on every write (also the ETag header of a GET)');
const provisioningState = provisioningStateSchema;
const captureStatus = packetCaptureStatusSchema;
const captureError = packetCaptureErrorCodeSchema;
const stopReason = packetCaptureStopReasonSchema;
const nullableString = z.string().nullable();
const count = z.number().int().min(0);

/** ErrorResponse: every refusal, with one of the stable codes of docs/api.md. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.enum(
      Object.keys(API_ERROR_CODES) as [keyof typeof API_ERROR_CODES, ...Array<keyof typeof API_ERROR_CODES>],
    ),
    message: z.string(),
    target: z.string().optional().describe('the offending field or parameter'),
  }),
});

/** A network watcher (NetworkWatcher): its stored body with the record's id, name and etag. */
export const networkWatcherSchema = watcherBodySchema.extend({ id: armId, name: z.string(), etag });

/** A packet capture (PacketCaptureResult): the request's fields with defaults filled in. */
export const packetCaptureResultSchema = z.object({
  id: armId,
  name: z.string(),
  etag,
  type: z.literal('Microsoft.Network/networkWatchers/packetCaptures'),
  properties: z.object({
    provisioningState,
    target: armId,
    targetType: captureTargetTypeSchema,
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
    lookbackInSeconds: count
      .optional()
      .describe(
        "netwatcher's own: the file begins with the host's look-back buffer from this many seconds before creation",
      ),
    captureSettings: z
      .object({ fileCount: count, fileSizeInBytes: count, sessionTimeLimitInSeconds: count })
      .optional()
      .describe('continuous capture: the ring, with defaults filled in'),
  }),
});

/** One file of a continuous capture's ring in queryStatus (netwatcher's addition). */
const ringFileStatusSchema = z.object({
  name: z.string().describe('ring-000001.cap, …: as on the host and in storage'),
  sequence: count,
  instance: z.string().describe('the host (VM name)'),
  firstPacketTime: nullableString,
  lastPacketTime: nullableString,
  packetsCaptured: count,
  sizeInBytes: count,
  sha256: z.string(),
  stored: z.boolean().describe('true once the server read the blob back and it matched'),
  storagePath: z.string().describe("the file's blob URL, '' without a storage account"),
  localPath: nullableString.describe('the file on the host, null when it is only spooled for upload'),
});

const instanceStatusSchema = z.object({
  target: armId,
  instanceId: z.string().optional().describe('scale-set targets: the instance id ("0", "1", …)'),
  computerName: nullableString.optional().describe("scale-set targets: the instance's host name"),
  storagePath: z.string().optional().describe("scale-set targets with a storage account: this instance's own blob URL"),
  packetCaptureStatus: captureStatus,
  captureStartTime: nullableString,
  stopReason: stopReason.nullable(),
  packetCaptureError: z.array(captureError),
  errorMessage: nullableString,
  packetsCaptured: count,
  bytesCaptured: count,
  kernelPacketsDropped: count.nullable(),
  kernelPacketsReceived: count.nullable(),
  file: z.object({ sizeInBytes: count, sha256: z.string(), stored: z.boolean(), localPath: nullableString }).nullable(),
  lookbackStartTime: nullableString
    .optional()
    .describe(
      'with lookbackInSeconds: from when the file holds every buffered packet that passes the filters; null when the buffer gave nothing',
    ),
  lookbackPacketsCaptured: count.optional().describe('buffered packets before the live ones'),
  lookbackReason: nullableString.optional().describe('why the file reaches less far back than asked, or null'),
  filesDeleted: count.optional().describe('continuous capture: files the ring deleted (oldest first)'),
  files: z
    .array(ringFileStatusSchema)
    .optional()
    .describe('continuous capture: the ring files on this host, oldest first'),
});

/** queryStatus answer (PacketCaptureQueryStatusResult): flat, as Azure's SDKs expect; counters, storagePath and instances are netwatcher's additions. */
export const packetCaptureQueryStatusSchema = z.object({
  name: z.string(),
  id: armId,
  captureStartTime: z.string().optional().describe('ISO 8601, once the capture really started on the host'),
  packetCaptureStatus: captureStatus,
  stopReason: stopReason.optional(),
  packetCaptureError: z.array(captureError),
  packetsCaptured: count,
  bytesCaptured: count,
  kernelPacketsDropped: count.nullable(),
  storagePath: z.string(),
  lookbackInSeconds: count.optional(),
  lookbackRequestedStartTime: z.string().optional().describe('creation time minus lookbackInSeconds'),
  lookbackStartTime: nullableString
    .optional()
    .describe(
      'how far back the file really reaches (the latest of the hosts); later than requested when a buffer held less; null until known or when no buffer gave anything',
    ),
  lookbackReason: nullableString.optional(),
  files: z.array(ringFileStatusSchema).optional().describe('continuous capture: every ring file kept, oldest first'),
  filesDeleted: count.optional(),
  instances: z.array(instanceStatusSchema),
});

/** A host's look-back buffer (netwatcher's own singleton child of a VM). */
export const vmLookbackSchema = z.object({
  id: armId,
  name: z.literal('lookback'),
  type: z.literal('Microsoft.Compute/virtualMachines/lookback'),
  properties: z.object({
    enabled: z.boolean(),
    seconds: count.nullable(),
    maxSizeInBytes: count.nullable(),
    snapLengthInBytes: count.nullable(),
    enabledAt: nullableString,
    status: storedLookbackSchema.shape.state.describe('what the host last reported (every 5 s while connected)'),
  }),
});

/** A long-running operation's status document (AzureAsyncOperationResult). */
export const operationStatusSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: operationStatusValueSchema,
  startTime: z.string(),
  endTime: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

const instanceViewStatusSchema = z.object({
  code: z.string(),
  level: z.enum(['Info', 'Warning', 'Error']),
  displayStatus: z.string(),
  message: z.string().optional(),
  time: z.string().optional(),
});
/** An extension's instance view (VirtualMachineExtensionInstanceView). */
const instanceViewSchema = z.object({
  name: z.string(),
  type: z.string().describe('publisher.type'),
  typeHandlerVersion: z.string(),
  statuses: z.array(instanceViewStatusSchema),
});

/** The agent extension (VirtualMachineExtension); enrollmentToken and installCommand only in the PUT answer. */
export const vmExtensionSchema = extensionBodySchema.extend({
  id: armId,
  name: z.string(),
  type: z.literal('Microsoft.Compute/virtualMachines/extensions'),
  etag,
  properties: extensionBodySchema.shape.properties.extend({
    enrollmentToken: z.string().optional().describe('one-time, 24 h; PUT answer only'),
    installCommand: z.string().optional().describe('the command to run on the host; PUT answer only'),
    instanceView: instanceViewSchema
      .optional()
      .describe(
        'with $expand=instanceView; while the host awaits enrolment, statuses[0].message holds the install command (callers who may write the extension only)',
      ),
  }),
});

/** A host (VirtualMachine), with netwatcher's agent state under properties.netwatcher. */
export const virtualMachineSchema = vmBodySchema.extend({
  id: armId,
  name: z.string(),
  type: z.literal('Microsoft.Compute/virtualMachines'),
  etag,
  tags: vmBodySchema.shape.tags.describe(
    'set with PATCH (nw vm update --set tags.K=V); capture target selectors match them',
  ),
  resources: z
    .array(vmExtensionSchema)
    .optional()
    .describe("the VM's extensions, on a GET of the VM (az vm extension list reads them here); not in lists"),
  properties: vmBodySchema.shape.properties.extend({
    netwatcher: hostStateSchema.extend({
      lookback: hostStateSchema.shape.lookback.describe(
        "the host's look-back buffer (GET …/lookback shows it in full); absent or null: off",
      ),
    }),
    instanceView: z
      .object({
        computerName: z.string().optional(),
        vmAgent: z.object({ vmAgentVersion: z.string(), statuses: z.array(instanceViewStatusSchema) }),
        extensions: z.array(instanceViewSchema),
        statuses: z.array(instanceViewStatusSchema),
      })
      .optional()
      .describe('with $expand=instanceView (az vm extension set reads it)'),
  }),
});

/** A storage account; secrets are never returned. */
export const storageAccountSchema = storageAccountBodySchema.extend({
  id: armId,
  name: z.string(),
  type: z.literal('Microsoft.Storage/storageAccounts'),
  etag,
  properties: storageAccountBodySchema.shape.properties.extend({
    backend: z
      .object({ type: storageBackendKindSchema })
      .catchall(z.unknown())
      .describe('the backend settings without secrets'),
    primaryEndpoints: z.object({ blob: z.string() }),
  }),
});

/** A scale set (issue 14): a group of enrolled hosts, its instances "0", "1", … in join order. */
export const vmssSchema = vmssBodySchema.extend({
  id: armId,
  name: z.string(),
  type: z.literal('Microsoft.Compute/virtualMachineScaleSets'),
  etag,
});

/** An instance of a scale set (a host that joined it). */
export const vmssInstanceSchema = vmBodySchema.extend({
  id: armId,
  name: z.string().describe('{scaleSet}_{instanceId}, as Azure names them'),
  type: z.literal('Microsoft.Compute/virtualMachineScaleSets/virtualMachines'),
  etag,
  instanceId: z.string(),
  properties: vmBodySchema.shape.properties.extend({
    osProfile: z.object({ computerName: z.string() }),
    netwatcher: hostStateSchema.omit({ lookback: true }),
  }),
});

/** A join key as listed: its rules and uses, never the key. */
export const joinKeySchema = z.object({
  id: z.string(),
  resourceGroup: z.string(),
  vmScaleSetName: nullableString,
  location: nullableString,
  description: nullableString,
  state: z.enum(['Active', 'Revoked', 'Expired', 'UsedUp']),
  maxUses: z.number().int().nullable(),
  uses: z.number().int(),
  createdAt: z.string(),
  expiresAt: nullableString,
  revokedAt: nullableString,
  lastUsedAt: nullableString,
});

/** The answer of a join-key create: the key and an install command, in this answer only. */
export const joinKeyCreatedSchema = joinKeySchema.extend({
  joinKey: z.string().describe('nwj_…: shown once; only its SHA-256 is stored'),
  installCommand: z.string().describe('nw agent --server … --join-key … --data-dir …, to run on each host'),
});

/** Answer of a join: as an enrolment's, with the instance id for a scale set. */
export const joinResponseSchema = z.object({
  credential: z.string(),
  vmId: armId,
  vmName: z.string(),
  resourceGroup: z.string(),
  subscriptionId: z.string(),
  location: z.string(),
  instanceId: z.string().optional(),
});

/** Answer of the agent enrolment. */
export const enrollResponseSchema = z.object({
  credential: z.string(),
  vmId: armId,
  vmName: z.string(),
  resourceGroup: z.string(),
  subscriptionId: z.string(),
  location: z.string(),
});

/** A subscription, as az reads it at login (Subscriptions_List). */
export const subscriptionSchema = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  tenantId: z.string(),
  displayName: z.string(),
  state: z.literal('Enabled'),
  managedByTenants: z.array(z.unknown()),
});
/** The token endpoint's answer (OAuth 2.0 client credentials). */
export const tokenResultSchema = z.object({
  token_type: z.literal('Bearer'),
  access_token: z.string().describe('signed by the server, bound to the credential it was traded for'),
  expires_in: z.number().int(),
  ext_expires_in: z.number().int(),
});
/** An OAuth error (RFC 6749 §5.2): az prints error_description. */
export const oauthErrorSchema = z.object({
  error: z.enum(['invalid_request', 'unsupported_grant_type', 'invalid_client']),
  error_description: z.string(),
});
