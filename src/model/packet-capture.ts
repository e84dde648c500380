import { z } from 'zod';
import { ciEnum, ciObject } from './case-insensitive.js';
import type { packetCaptureErrorCodeSchema, packetCaptureStatusSchema, packetCaptureStopReasonSchema } from './agent-protocol.js';

/** Azure's limits (reference/azure-packet-capture-api.md §2.2). */
export const PACKET_CAPTURE_LIMITS = {
  maxBytesToCapturePerPacket: 4294967295,
  maxTotalBytesPerSession: 4294967295,
  defaultTotalBytesPerSession: 1073741824,
  maxTimeLimitInSeconds: 18000,
  defaultTimeLimitInSeconds: 18000,
} as const;

const uint32 = (max: number) => z.number().int().min(0).max(max);

/** storageLocation of a capture. */
export const storageLocationSchema = ciObject({
  storageId: z.string().optional(),
  storagePath: z.string().optional(),
  filePath: z.string().optional(),
  localPath: z.string().optional(),
});

const addressText = { type: 'string', description: "A value, a range 'a-b', or a ';'-separated list of values and ranges; IPv4 (inet_aton forms) or IPv6" } as const;
const portText = { type: ['string', 'integer'], description: "A port, a range 'a-b', or a ';'-separated list of ports and ranges" } as const;

/**
 * One filter of a capture. src/filter validates and compiles filters (so its errors name the
 * filter and field); this schema accepts anything and carries their shape for the OpenAPI document.
 */
const packetCaptureFilterDocumented = z.unknown().meta({
  title: 'PacketCaptureFilter',
  description: 'A packet is kept if it matches any filter; within a filter every field given must match, the host being local (docs/filters.md).',
  type: 'object',
  properties: {
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'Any'], default: 'Any' },
    localIPAddress: addressText, remoteIPAddress: addressText, localPort: portText, remotePort: portText,
  },
});

/** The request body of PUT …/packetCaptures/{name} (PacketCapture). Filters are validated by src/filter. */
export const packetCaptureCreateSchema = ciObject({
  properties: ciObject({
    target: z.string().min(1),
    // netwatcher's addition (issue 14): with a selector, target is a scope (a resource group or subscription id).
    targetSelector: ciObject({
      tags: z.record(z.string().min(1).max(512), z.string().max(256)).optional(),
    }).optional().meta({ description: "netwatcher: capture on every VM in the scope that properties.target names (a resource group id, or the subscription id) with all these tags (none: every VM), in the watcher's location; resolved when the capture is created, so hosts added later are not included" }),
    targetType: ciEnum(['AzureVM', 'AzureVMSS'] as const).optional(),
    scope: ciObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
    bytesToCapturePerPacket: uint32(PACKET_CAPTURE_LIMITS.maxBytesToCapturePerPacket).optional(),
    totalBytesPerSession: uint32(PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession).optional(),
    timeLimitInSeconds: uint32(PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds).optional(),
    storageLocation: storageLocationSchema,
    filters: z.array(packetCaptureFilterDocumented).optional(),
    continuousCapture: z.boolean().nullable().optional(),
    /** netwatcher's own (Azure's clients ignore it): the file begins with the host's look-back buffer from this many seconds before creation. */
    lookbackInSeconds: z.number().int().min(1).max(3600).optional(),
    captureSettings: ciObject({
      fileCount: z.number().int().min(0).max(10000).optional(),
      fileSizeInBytes: uint32(4294967295).optional(),
      sessionTimeLimitInSeconds: z.number().int().min(0).max(604800).optional(),
    }).optional(),
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
