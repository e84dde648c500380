import { z } from 'zod';
import { type AgentCaptureState, agentLookbackSettingsSchema, agentLookbackStateSchema } from './agent-protocol.js';
import { packetCaptureFilterResultSchema } from './packet-capture.js';

// The bodies the server stores for its resources, one schema each; the services' body types
// (WatcherBody, VmBody, CaptureBody, …) are derived from them, so a field is declared once.
// Keys starting with `_` are internal: resourceView drops them from every answer.

/** ARM provisioningState of every resource. */
export const provisioningStateSchema = z.enum(['Succeeded', 'Creating', 'Updating', 'Deleting', 'Failed']);
/** A resource's provisioningState. */
export type ProvisioningState = z.output<typeof provisioningStateSchema>;

/** Status of an ARM long-running operation (AzureAsyncOperationResult.status). */
export const operationStatusValueSchema = z.enum(['InProgress', 'Succeeded', 'Failed', 'Canceled']);
/** A long-running operation's status. */
export type OperationStatusValue = z.output<typeof operationStatusValueSchema>;

const tags = z.record(z.string(), z.string());

/** Stored body of a network watcher. */
export const watcherBodySchema = z.object({
  type: z.literal('Microsoft.Network/networkWatchers'),
  location: z.string(),
  tags: tags.optional(),
  properties: z.object({ provisioningState: provisioningStateSchema, runningOperationIds: z.array(z.string()) }),
});
/** Stored body of a network watcher. */
export type WatcherBody = z.output<typeof watcherBodySchema>;

/** A host's look-back setting as stored on its VM (`properties.netwatcher.lookback`); absent or null: off. */
export const storedLookbackSchema = z.object({
  settings: agentLookbackSettingsSchema,
  enabledAt: z.string(),
  /** What the host last said its buffer holds. */
  state: agentLookbackStateSchema.extend({ reportedAt: z.string() }).nullable(),
});
/** A host's stored look-back setting. */
export type StoredLookback = z.output<typeof storedLookbackSchema>;

/** netwatcher's own view of a host, under `properties.netwatcher` of the VM (additive to Azure's shape). */
export const hostStateSchema = z.object({
  agentConnected: z.boolean(),
  agentVersion: z.string().nullable(),
  hostname: z.string().nullable(),
  enrolledAt: z.string().nullable(),
  lastSeenAt: z.string().nullable(),
  lookback: storedLookbackSchema.nullable().optional(),
});
/** netwatcher's own view of a host. */
export type HostState = z.output<typeof hostStateSchema>;

/**
 * Stored body of a VM (a host). A scale-set instance (issue 14) is a VM too, with its `instanceId`
 * and its host's name in `osProfile.computerName`, as Azure shows scale-set VMs.
 */
export const vmBodySchema = z.object({
  type: z.string(),
  location: z.string(),
  instanceId: z.string().optional(),
  tags: tags.optional(),
  properties: z.object({
    provisioningState: provisioningStateSchema,
    vmId: z.string(),
    osProfile: z.object({ computerName: z.string() }).optional(),
    netwatcher: hostStateSchema,
  }),
});
/** Stored body of a VM. */
export type VmBody = z.output<typeof vmBodySchema>;

/** Stored body of a VM extension (the agent). */
export const extensionBodySchema = z.object({
  type: z.string(),
  location: z.string(),
  properties: z.object({
    publisher: z.string(),
    type: z.string(),
    typeHandlerVersion: z.string(),
    autoUpgradeMinorVersion: z.boolean(),
    provisioningState: provisioningStateSchema,
    settings: z.unknown(),
  }),
});
/** Stored body of the agent extension. */
export type ExtensionBody = z.output<typeof extensionBodySchema>;

/** Stored body of a scale set. */
export const vmssBodySchema = z.object({
  type: z.string(),
  location: z.string(),
  tags: tags.optional(),
  sku: z.object({
    name: z.string(),
    tier: z.string(),
    capacity: z.number().int().describe('how many instances it has'),
  }),
  properties: z.object({
    provisioningState: provisioningStateSchema,
    uniqueId: z.string(),
    netwatcher: z.object({ nextInstanceId: z.number().int().describe('the id the next host to join gets') }),
  }),
});
/** Stored body of a scale set. */
export type VmssBody = z.output<typeof vmssBodySchema>;

/** Kinds of storage backend (src/storage validates each kind's settings). */
export const storageBackendKindSchema = z.enum(['local', 'azureBlob', 's3']);
/** A kind of storage backend. */
export type StorageBackendKind = z.output<typeof storageBackendKindSchema>;

/** Stored body of a storage account (no secrets: those are in the record's secret column). */
export const storageAccountBodySchema = z.object({
  type: z.string(),
  kind: z.string(),
  location: z.string(),
  sku: z.object({ name: z.string(), tier: z.string() }),
  tags: tags.optional(),
  properties: z.object({
    provisioningState: provisioningStateSchema,
    /** The backend settings without secrets (src/storage redactBackendConfig). */
    backend: z.record(z.string(), z.unknown()),
  }),
});
/** Stored body of a storage account. */
export type StorageAccountBody = z.output<typeof storageAccountBodySchema>;

const verifiedBlob = z.object({ sizeInBytes: z.number().int().min(0), sha256: z.string() });

/**
 * One host a capture runs on. A scale-set instance (issue 14) has its `instanceId` and its own
 * blob in the capture's storage account (`blobPath`, verified on its own).
 */
export const captureTargetSchema = z.object({
  vmKey: z.string(),
  vmId: z.string(),
  vmName: z.string(),
  resourceGroup: z.string(),
  instanceId: z.string().optional(),
  computerName: z.string().optional(),
  blobPath: z.string().optional(),
  verified: verifiedBlob.optional(),
});
/** One host a capture runs on. */
export type CaptureTarget = z.output<typeof captureTargetSchema>;

/** Where a capture's file goes in a storage account. */
export const captureStorageTargetSchema = z.object({
  accountKey: z.string(),
  container: z.string(),
  blobPath: z.string(),
  /** Set once the server read the blob back and it matched the host's file: from then on no grant is given for it, so nothing overwrites it. */
  verified: verifiedBlob.optional(),
});
/** Where a capture's file goes in a storage account. */
export type CaptureStorageTarget = z.output<typeof captureStorageTargetSchema>;

/** Server-only state of a capture, kept in the stored body under `_internal` (never returned). */
export const captureInternalSchema = z.object({
  uid: z.string(),
  createdAt: z.string(),
  location: z.string(),
  bpfExpression: z.string(),
  targets: z.array(captureTargetSchema),
  storage: captureStorageTargetSchema.nullable(),
  localFilePath: z.string().nullable(),
  stopRequested: z.boolean(),
  deleting: z.object({ deleteFiles: z.boolean() }).nullable(),
  /** True while the capture holds a session (counts against the per-location limit). */
  active: z.boolean(),
  /** Continuous capture only: the ring the hosts run (captureSettings with defaults filled in). */
  ring: z
    .object({
      fileCount: z.number().int(),
      fileSizeInBytes: z.number().int(),
      sessionTimeLimitInSeconds: z.number().int(),
    })
    .optional(),
});
/** Server-only state of a capture. */
export type CaptureInternal = z.output<typeof captureInternalSchema>;

/** Stored body of a packet capture: the properties as answered (the request's with defaults filled in), and `_internal`. */
export const captureBodySchema = z.object({
  type: z.string(),
  properties: z.looseObject({
    provisioningState: provisioningStateSchema,
    storageLocation: z.record(z.string(), z.unknown()),
  }),
  _internal: captureInternalSchema,
});
/** Stored body of a packet capture. */
export type CaptureBody = z.output<typeof captureBodySchema>;

// The fields inside stored bodies that the store's SQL reads, named here beside their schemas and
// checked against the types: a renamed field is one edit here (and a compile error until then).
// A field that became a column (the capture's uid and active flag, migration 12 of src/store/
// migrations.ts) needs a new migration when its path changes; store.test.ts checks they agree.

/** Where a capture's uid is in its stored body (agents name captures by uid). */
export const CAPTURE_UID_PATH = ['_internal', 'uid'] as const satisfies readonly [
  keyof CaptureBody,
  keyof CaptureInternal,
];
/** Where a capture's "holds a session" flag is in its stored body. */
export const CAPTURE_ACTIVE_PATH = ['_internal', 'active'] as const satisfies readonly [
  keyof CaptureBody,
  keyof CaptureInternal,
];
/** Where a capture's hosts are in its stored body (matched by containment: `[{ vmKey }]`). */
export const CAPTURE_TARGETS_PATH = ['_internal', 'targets'] as const satisfies readonly [
  keyof CaptureBody,
  keyof CaptureInternal,
];
/** The field of a capture target that names its host. */
export const CAPTURE_TARGET_VM_KEY = 'vmKey' satisfies keyof CaptureTarget;
/** Where netwatcher's own view of a host (its {@link HostState}) is in its VM's stored body. */
export const HOST_STATE_PATH = ['properties', 'netwatcher'] as const satisfies readonly [
  keyof VmBody,
  keyof VmBody['properties'],
];
/** The fields of a host's state that its agent's hello sets (the others are kept as they are). */
export type HostHelloFields = Pick<HostState, 'agentConnected' | 'lastSeenAt'> &
  Partial<Pick<HostState, 'agentVersion' | 'hostname'>>;
/** Where a host's "agent connected" flag is in its VM's stored body. */
export const HOST_AGENT_CONNECTED_PATH = ['properties', 'netwatcher', 'agentConnected'] as const satisfies readonly [
  keyof VmBody,
  keyof VmBody['properties'],
  keyof HostState,
];
/** Where the time a host's agent was last connected or seen is in its VM's stored body. */
export const HOST_LAST_SEEN_PATH = ['properties', 'netwatcher', 'lastSeenAt'] as const satisfies readonly [
  keyof VmBody,
  keyof VmBody['properties'],
  keyof HostState,
];
/** The fields of a per-host capture state the store reads in SQL (the ordering guard, the Prometheus totals). */
export const INSTANCE_STATE_FIELDS = {
  sequence: 'sequence',
  status: 'status',
  packetsCaptured: 'packetsCaptured',
  kernelPacketsDropped: 'kernelPacketsDropped',
} as const satisfies Record<string, keyof AgentCaptureState>;

/** Stored body of an alert-capture endpoint. */
export const alertCaptureBodySchema = z.object({
  type: z.string(),
  tags: tags.optional(),
  properties: z.object({
    enabled: z.boolean(),
    captureName: z.string(),
    timeLimitInSeconds: z.number().int(),
    /** Look-back of each capture (null: none); a host without a buffer is captured from the alert on, and the run says so. */
    lookbackInSeconds: z.number().int().nullable().optional(),
    bytesToCapturePerPacket: z.number().int(),
    totalBytesPerSession: z.number().int().nullable(),
    sessionLimit: z.number().int(),
    storageLocation: z.object({
      storageId: z.string(),
      storagePath: z.string().optional(),
      filePath: z.string().optional(),
    }),
    filters: z.array(packetCaptureFilterResultSchema),
    notificationWebhooks: z.array(z.object({ serviceUri: z.string() })),
    hostLabel: z.string().nullable(),
    /** Resource groups whose hosts this endpoint may capture on (null: every host of its own subscription). */
    resourceGroups: z.array(z.string()).nullable(),
    /** The URL without its key. */
    endpoint: z.string(),
    provisioningState: provisioningStateSchema,
  }),
});
/** Stored body of an alert-capture endpoint. */
export type AlertCaptureBody = z.output<typeof alertCaptureBodySchema>;
