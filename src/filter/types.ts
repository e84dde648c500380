// The filter shapes the API receives and echoes (Azure's PacketCaptureFilter).

/** One Azure PacketCaptureFilter as received (any property-name casing, values as given). */
export type PacketCaptureFilterInput = Record<string, unknown>;

/** The protocol a filter selects; `Any` is Azure's default. */
export type FilterProtocol = 'TCP' | 'UDP' | 'Any';

/** Canonical normalized filter, as echoed back in API responses: all five keys present, '' when not given, protocol 'TCP'|'UDP'|'Any'. */
export interface PacketCaptureFilter {
  /** TCP, UDP or Any (the default). */
  protocol: FilterProtocol;
  /** Addresses on the host side, as the user wrote them (trimmed); '' = any. */
  localIPAddress: string;
  /** Addresses on the far side, as the user wrote them (trimmed); '' = any. */
  remoteIPAddress: string;
  /** Ports on the host side, as the user wrote them (trimmed); '' = any. */
  localPort: string;
  /** Ports on the far side, as the user wrote them (trimmed); '' = any. */
  remotePort: string;
}

/** The four address/port fields of a filter, in the order messages list them. */
export const FILTER_VALUE_FIELDS = ['localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort'] as const;

/** Name of one of the four address/port fields. */
export type FilterValueField = (typeof FILTER_VALUE_FIELDS)[number];
