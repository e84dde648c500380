import { z } from 'zod';
import { ciEnum, ciObject } from './case-insensitive.js';
import type {
  packetCaptureErrorCodeSchema,
  packetCaptureStatusSchema,
  packetCaptureStopReasonSchema,
} from './agent-protocol.js';

/** Azure's limits (PacketCaptureParameters, https://learn.microsoft.com/rest/api/network-watcher/packet-captures/create). */
export const PACKET_CAPTURE_LIMITS = {
  maxBytesToCapturePerPacket: 4294967295,
  maxTotalBytesPerSession: 4294967295,
  defaultTotalBytesPerSession: 1073741824,
  maxTimeLimitInSeconds: 18000,
  defaultTimeLimitInSeconds: 18000,
} as const;

const uint32 = (max: number) => z.number().int().min(0).max(max);

/** Azure's captureSettings defaults and limits for continuous capture (PacketCaptureSettings, https://learn.microsoft.com/rest/api/network-watcher/packet-captures/create). */
export const CAPTURE_SETTINGS_LIMITS = {
  defaultFileCount: 10,
  maxFileCount: 10000,
  defaultFileSizeInBytes: 104857600,
  maxFileSizeInBytes: 4294967295,
  defaultSessionTimeLimitInSeconds: 86400,
  maxSessionTimeLimitInSeconds: 604800,
} as const;

/**
 * captureSettings (PacketCaptureSettings, api-version 2024-05-01+): the ring of a continuous
 * capture. Ranges are Azure's (0 is in Azure's range: 0 files / bytes / seconds means the
 * default, as the service treats an unset value); the service checks what the engine can do on
 * top (each file at least the 24-byte pcap header plus one whole record, 16 + snap length bytes;
 * see docs/continuous.md).
 */
export const captureSettingsSchema = ciObject({
  fileCount: z
    .number()
    .int()
    .min(0)
    .max(CAPTURE_SETTINGS_LIMITS.maxFileCount)
    .optional()
    .meta({
      description: `Files in the ring (default ${CAPTURE_SETTINGS_LIMITS.defaultFileCount}); when a new file starts the oldest is deleted, on the host and in storage`,
      default: CAPTURE_SETTINGS_LIMITS.defaultFileCount,
    }),
  fileSizeInBytes: uint32(CAPTURE_SETTINGS_LIMITS.maxFileSizeInBytes).optional().meta({
    description:
      'Largest size of one file (default 100 MB); at least the 24-byte pcap header plus one whole record (16 + snap length): 262,184 bytes with whole packets',
    default: CAPTURE_SETTINGS_LIMITS.defaultFileSizeInBytes,
  }),
  sessionTimeLimitInSeconds: z
    .number()
    .int()
    .min(0)
    .max(CAPTURE_SETTINGS_LIMITS.maxSessionTimeLimitInSeconds)
    .optional()
    .meta({
      description: 'Length of the continuous session (default 1 day, at most 7 days); it then stops with TimeExceeded',
      default: CAPTURE_SETTINGS_LIMITS.defaultSessionTimeLimitInSeconds,
    }),
}).meta({ title: 'PacketCaptureSettings' });

/** Validated captureSettings. */
export type CaptureSettings = z.output<typeof captureSettingsSchema>;

/** The ring a continuous capture runs: captureSettings with Azure's defaults filled in (0 or absent = the default). */
export interface EffectiveCaptureSettings {
  fileCount: number;
  fileSizeInBytes: number;
  sessionTimeLimitInSeconds: number;
}

/**
 * Fills Azure's defaults into captureSettings.
 * @example effectiveCaptureSettings({ fileCount: 3 }) // { fileCount: 3, fileSizeInBytes: 104857600, sessionTimeLimitInSeconds: 86400 }
 */
export function effectiveCaptureSettings(s: CaptureSettings | undefined): EffectiveCaptureSettings {
  return {
    fileCount: s?.fileCount || CAPTURE_SETTINGS_LIMITS.defaultFileCount,
    fileSizeInBytes: s?.fileSizeInBytes || CAPTURE_SETTINGS_LIMITS.defaultFileSizeInBytes,
    sessionTimeLimitInSeconds: s?.sessionTimeLimitInSeconds || CAPTURE_SETTINGS_LIMITS.defaultSessionTimeLimitInSeconds,
  };
}

/** What a capture's target is: a VM or a scale set (Azure's PacketCaptureTargetType). */
export const CAPTURE_TARGET_TYPES = ['AzureVM', 'AzureVMSS'] as const;
/** A capture's target type, as answered. */
export const captureTargetTypeSchema = z.enum(CAPTURE_TARGET_TYPES);
/** A capture's target type. */
export type CaptureTargetType = z.output<typeof captureTargetTypeSchema>;

/** storageLocation of a capture. */
export const storageLocationSchema = ciObject({
  storageId: z.string().optional(),
  storagePath: z.string().optional(),
  filePath: z.string().optional(),
  localPath: z.string().optional(),
});

/** The protocols a filter selects; `Any` is Azure's default. */
export const FILTER_PROTOCOLS = ['TCP', 'UDP', 'Any'] as const;

/**
 * A filter as the server stores and echoes it (src/filter normalizeFilters): all five keys
 * present, values as the user wrote them (trimmed), '' when not given.
 */
export const packetCaptureFilterResultSchema = z.object({
  protocol: z.enum(FILTER_PROTOCOLS),
  localIPAddress: z.string(),
  remoteIPAddress: z.string(),
  localPort: z.string(),
  remotePort: z.string(),
});

const addressText = {
  type: 'string',
  description: "A value, a range 'a-b', or a ';'-separated list of values and ranges; IPv4 (inet_aton forms) or IPv6",
} as const;
const portText = {
  type: ['string', 'integer'],
  description: "A port, a range 'a-b', or a ';'-separated list of ports and ranges",
} as const;

/**
 * One filter of a capture. src/filter validates and compiles filters (so its errors name the
 * filter and field); this schema accepts anything and carries their shape for the OpenAPI document.
 */
const packetCaptureFilterDocumented = z.unknown().meta({
  title: 'PacketCaptureFilter',
  description:
    'A packet is kept if it matches any filter; within a filter every field given must match, the host being local (docs/filters.md).',
  type: 'object',
  properties: {
    protocol: { type: 'string', enum: [...FILTER_PROTOCOLS], default: 'Any' },
    localIPAddress: addressText,
    remoteIPAddress: addressText,
    localPort: portText,
    remotePort: portText,
  },
});

/** The request body of PUT …/packetCaptures/{name} (PacketCapture). Filters are validated by src/filter. */
export const packetCaptureCreateSchema = ciObject({
  properties: ciObject({
    target: z.string().min(1),
    // netwatcher's addition (issue 14): with a selector, target is a scope (a resource group or subscription id).
    targetSelector: ciObject({
      tags: z.record(z.string().min(1).max(512), z.string().max(256)).optional(),
    })
      .optional()
      .meta({
        description:
          "netwatcher: capture on every VM in the scope that properties.target names (a resource group id, or the subscription id) with all these tags (none: every VM), in the watcher's location; resolved when the capture is created, so hosts added later are not included",
      }),
    targetType: ciEnum(CAPTURE_TARGET_TYPES).optional(),
    scope: ciObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
    bytesToCapturePerPacket: uint32(PACKET_CAPTURE_LIMITS.maxBytesToCapturePerPacket).optional(),
    totalBytesPerSession: uint32(PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession).optional(),
    timeLimitInSeconds: uint32(PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds).optional(),
    storageLocation: storageLocationSchema,
    filters: z.array(packetCaptureFilterDocumented).optional(),
    /** true: a ring of files (captureSettings); true or false: the host path is storageLocation.localPath, and filePath is invalid (Azure). */
    continuousCapture: z.boolean().nullable().optional(),
    /** netwatcher's own (Azure's clients ignore it): the file begins with the host's look-back buffer from this many seconds before creation. */
    lookbackInSeconds: z.number().int().min(1).max(3600).optional(),
    captureSettings: captureSettingsSchema.optional(),
  }),
});

/** A validated create request. */
export type PacketCaptureCreateRequest = z.output<typeof packetCaptureCreateSchema>;

/** Capture status values of queryStatus (packetCaptureStatus). */
export type PacketCaptureStatus = z.infer<typeof packetCaptureStatusSchema>;
/** Azure's packetCaptureError values. */
export type PacketCaptureErrorCode = z.infer<typeof packetCaptureErrorCodeSchema>;
/** stopReason values netwatcher reports. */
export type PacketCaptureStopReason = z.infer<typeof packetCaptureStopReasonSchema>;
