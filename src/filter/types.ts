// The filter shapes the API receives and echoes (Azure's PacketCaptureFilter).
import type { z } from 'zod';
import type { FILTER_PROTOCOLS, packetCaptureFilterResultSchema } from '../model/packet-capture.js';

/** One Azure PacketCaptureFilter as received (any property-name casing, values as given). */
export type PacketCaptureFilterInput = Record<string, unknown>;

/** The protocol a filter selects (src/model FILTER_PROTOCOLS); `Any` is Azure's default. */
export type FilterProtocol = (typeof FILTER_PROTOCOLS)[number];

/**
 * Canonical normalized filter, as echoed back in API responses (src/model
 * packetCaptureFilterResultSchema): all five keys present, '' when not given; local fields are
 * the host's side, remote ones the far side.
 */
export type PacketCaptureFilter = z.output<typeof packetCaptureFilterResultSchema>;

/** The four address/port fields of a filter, in the order messages list them. */
export const FILTER_VALUE_FIELDS = ['localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort'] as const;

/** Name of one of the four address/port fields. */
export type FilterValueField = (typeof FILTER_VALUE_FIELDS)[number];
