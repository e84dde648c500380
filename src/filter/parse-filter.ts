// From a canonical filter (strings) to sets of numbers the compiler works with.
import { InvalidFilterError } from './errors.js';
import { parseAddressField, parsePortField } from './field-grammar.js';
import { normalizeIntervals } from './interval-set.js';
import type { Interval } from './interval-set.js';
import { FILTER_PROTOCOLS } from '../model/packet-capture.js';
import type { FilterProtocol, PacketCaptureFilter } from './types.js';

/** Addresses of one field, per family; a family with no intervals is not matched at all. */
export interface AddressSet {
  /** Canonical IPv4 intervals. */
  v4: Interval[];
  /** Canonical IPv6 intervals. */
  v6: Interval[];
}

/** A filter as sets; `null` = field not given (matches anything). */
export interface ParsedFilter {
  /** TCP, UDP or Any. */
  protocol: FilterProtocol;
  /** Host-side addresses. */
  localAddresses: AddressSet | null;
  /** Far-side addresses. */
  remoteAddresses: AddressSet | null;
  /** Host-side ports (canonical intervals). */
  localPorts: Interval[] | null;
  /** Far-side ports (canonical intervals). */
  remotePorts: Interval[] | null;
}

const PROTOCOLS: readonly FilterProtocol[] = FILTER_PROTOCOLS;

/**
 * Reads the protocol text case-insensitively; '' means Any. Returns null for anything else.
 * @example parseProtocol('tcp') === 'TCP'
 */
export function parseProtocol(text: string): FilterProtocol | null {
  if (text.trim() === '') return 'Any';
  return PROTOCOLS.find((p) => p.toLowerCase() === text.trim().toLowerCase()) ?? null;
}

/**
 * Parses and checks one canonical filter; throws InvalidFilterError naming `filterIndex`.
 * @example parseFilter({ protocol: 'TCP', localIPAddress: '', remoteIPAddress: '', localPort: '80', remotePort: '' }, 0)
 */
export function parseFilter(filter: PacketCaptureFilter, filterIndex: number): ParsedFilter {
  const protocol = parseProtocol(String(filter.protocol ?? ''));
  if (protocol === null) {
    throw new InvalidFilterError(
      filterIndex,
      'protocol',
      String(filter.protocol),
      'unknown protocol; use TCP, UDP or Any',
    );
  }
  const localAddresses = parseAddresses(filter.localIPAddress, filterIndex, 'localIPAddress');
  const remoteAddresses = parseAddresses(filter.remoteIPAddress, filterIndex, 'remoteIPAddress');
  if (localAddresses !== null && remoteAddresses !== null) {
    const sharesFamily =
      (localAddresses.v4.length > 0 && remoteAddresses.v4.length > 0) ||
      (localAddresses.v6.length > 0 && remoteAddresses.v6.length > 0);
    // A packet has one family, so such a filter could never match: almost surely a mistake.
    if (!sharesFamily) {
      throw new InvalidFilterError(
        filterIndex,
        'remoteIPAddress',
        filter.remoteIPAddress,
        'local and remote addresses are of different IP families, so this filter could never match a packet',
      );
    }
  }
  return {
    protocol,
    localAddresses,
    remoteAddresses,
    localPorts: parsePorts(filter.localPort, filterIndex, 'localPort'),
    remotePorts: parsePorts(filter.remotePort, filterIndex, 'remotePort'),
  };
}

function parseAddresses(text: string, filterIndex: number, field: string): AddressSet | null {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') return null;
  const parsed = parseAddressField(trimmed);
  if (!parsed.ok) throw new InvalidFilterError(filterIndex, field, parsed.text, parsed.reason);
  return {
    v4: normalizeIntervals(parsed.items.filter((i) => i.family === 4)),
    v6: normalizeIntervals(parsed.items.filter((i) => i.family === 6)),
  };
}

function parsePorts(text: string, filterIndex: number, field: string): Interval[] | null {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') return null;
  const parsed = parsePortField(trimmed);
  if (!parsed.ok) throw new InvalidFilterError(filterIndex, field, parsed.text, parsed.reason);
  return normalizeIntervals(parsed.items);
}
