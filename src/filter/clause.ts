// The compiler's view of one filter: sets of numbers plus the transport protocols it admits,
// and the exact set operations simplification relies on.
import { isSubsetOfIntervals, unionIntervals } from './interval-set.js';
import type { Interval } from './interval-set.js';
import type { AddressSet, ParsedFilter } from './parse-filter.js';

/** Which transport protocols a clause admits; 'all' also admits non-IP frames (ARP …). */
export type ProtocolSet = 'all' | 'tcp' | 'udp' | 'tcp-udp';

/** A filter as the compiler sees it: protocol Any with ports is already 'tcp-udp'. */
export interface Clause {
  /** Transport protocols admitted. */
  protocols: ProtocolSet;
  /** Host-side addresses; null = any packet, IP or not. */
  local: AddressSet | null;
  /** Far-side addresses; null = any. */
  remote: AddressSet | null;
  /** Host-side ports; null = any. */
  localPorts: Interval[] | null;
  /** Far-side ports; null = any. */
  remotePorts: Interval[] | null;
}

/** The clause of a parsed filter. */
export function toClause(f: ParsedFilter): Clause {
  const hasPorts = f.localPorts !== null || f.remotePorts !== null;
  // A port exists only in TCP and UDP headers (for us), so "Any" with ports means TCP or UDP.
  const protocols: ProtocolSet =
    f.protocol === 'TCP' ? 'tcp' : f.protocol === 'UDP' ? 'udp' : hasPorts ? 'tcp-udp' : 'all';
  return {
    protocols,
    local: f.localAddresses,
    remote: f.remoteAddresses,
    localPorts: f.localPorts,
    remotePorts: f.remotePorts,
  };
}

/** Whether the clause keeps every frame (protocol Any, no field). */
export function isUniversal(c: Clause): boolean {
  return (
    c.protocols === 'all' && c.local === null && c.remote === null && c.localPorts === null && c.remotePorts === null
  );
}

/** The same clause with local and remote exchanged: reading "one way round or the other" makes them equal. */
export function swapped(c: Clause): Clause {
  return {
    protocols: c.protocols,
    local: c.remote,
    remote: c.local,
    localPorts: c.remotePorts,
    remotePorts: c.localPorts,
  };
}

/** Whether every packet `inner` admits, `outer` admits. */
export function protocolSubset(inner: ProtocolSet, outer: ProtocolSet): boolean {
  return outer === 'all' || inner === outer || (outer === 'tcp-udp' && inner !== 'all');
}

/** The smallest protocol set admitting both. */
export function protocolUnion(a: ProtocolSet, b: ProtocolSet): ProtocolSet {
  if (protocolSubset(a, b)) return b;
  if (protocolSubset(b, a)) return a;
  return a === 'all' || b === 'all' ? 'all' : 'tcp-udp';
}

/** Whether address set `inner` ⊆ `outer` (null = field not given = every packet, including non-IP ones). */
export function addressSubset(inner: AddressSet | null, outer: AddressSet | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return isSubsetOfIntervals(inner.v4, outer.v4) && isSubsetOfIntervals(inner.v6, outer.v6);
}

/** Union of two address fields (null absorbs). */
export function addressUnion(a: AddressSet | null, b: AddressSet | null): AddressSet | null {
  if (a === null || b === null) return null;
  return { v4: unionIntervals(a.v4, b.v4), v6: unionIntervals(a.v6, b.v6) };
}

/** Whether port set `inner` ⊆ `outer` (null = any). */
export function portSubset(inner: Interval[] | null, outer: Interval[] | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return isSubsetOfIntervals(inner, outer);
}

/** Union of two port fields (null absorbs). */
export function portUnion(a: Interval[] | null, b: Interval[] | null): Interval[] | null {
  return a === null || b === null ? null : unionIntervals(a, b);
}

function intervalsKey(intervals: readonly Interval[]): string {
  return intervals.map((iv) => `${iv.first.toString(16)}-${iv.last.toString(16)}`).join(',');
}

/** A string equal for equal address fields. */
export function addressKey(a: AddressSet | null): string {
  return a === null ? '*' : `${intervalsKey(a.v4)}|${intervalsKey(a.v6)}`;
}

/** A string equal for equal port fields. */
export function portKey(p: Interval[] | null): string {
  return p === null ? '*' : intervalsKey(p);
}
