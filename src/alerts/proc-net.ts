import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_METRICS } from './host-metrics.js';

/**
 * Reading Linux network counters. `/proc/net/*` is per network namespace: an agent in a
 * namespace (or container) sees that namespace's counters, which is what a test host is.
 */

/** `/proc/net/snmp` as group → field → value (`Tcp.OutSegs`). */
export type SnmpCounters = Record<string, Record<string, number>>;

/** Counters of one interface from `/proc/net/dev`. */
export interface InterfaceCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Everything read from /proc at one moment. */
export interface HostCounterSnapshot {
  snmp: SnmpCounters;
  /** `/proc/net/snmp6` field → value; empty when IPv6 is off. */
  snmp6: Record<string, number>;
  interfaces: Record<string, InterfaceCounters>;
}

/** /proc/net text that does not have the expected layout. */
export class ProcFormatError extends Error {
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'ProcFormatError';
  }
}

/**
 * Parses `/proc/net/snmp`: each group is a header line of field names followed by a line of values.
 * @example parseNetSnmp('Tcp: InSegs OutSegs\nTcp: 5 7\n').Tcp.OutSegs // 7
 */
export function parseNetSnmp(text: string): SnmpCounters {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const out: SnmpCounters = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [headGroup, ...names] = lines[i]!.trim().split(/\s+/);
    const [valueGroup, ...values] = lines[i + 1]!.trim().split(/\s+/);
    if (!headGroup?.endsWith(':') || headGroup !== valueGroup || names.length !== values.length) {
      throw new ProcFormatError('/proc/net/snmp', `lines ${i + 1}-${i + 2} are not a header and value pair`);
    }
    const group: Record<string, number> = {};
    names.forEach((n, j) => {
      group[n] = Number(values[j]);
    });
    out[headGroup.slice(0, -1)] = group;
  }
  return out;
}

/** Parses `/proc/net/snmp6` (one `Name value` per line). */
export function parseNetSnmp6(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Parses `/proc/net/dev`: two header lines, then `iface: rx(8 fields) tx(8 fields)`.
 * @example parseNetDev(text).eth0?.txBytes
 */
export function parseNetDev(text: string): Record<string, InterfaceCounters> {
  const out: Record<string, InterfaceCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (f.length < 16 || f.some((v) => !Number.isFinite(v)))
      throw new ProcFormatError('/proc/net/dev', `interface ${name} has ${f.length} fields, expected 16`);
    out[name] = { rxBytes: f[0]!, rxPackets: f[1]!, txBytes: f[8]!, txPackets: f[9]! };
  }
  return out;
}

/** Reads the counters of the current network namespace. `procRoot` is for tests. */
export async function readHostCounters(procRoot = '/proc'): Promise<HostCounterSnapshot> {
  // Synchronous on purpose: the agent samples these three small files every second, and /proc
  // generates them in memory (nothing to wait for). Three async readFile()s cost 190-560 µs of
  // CPU a sample here (each one open, fstat, read, close through the thread pool), readFileSync
  // 38-45 µs — at 1 Hz the difference alone is more than node_exporter's whole idle CPU (bench/agent-idle).
  const snmp = readFileSync(join(procRoot, 'net', 'snmp'), 'utf8');
  let snmp6 = '';
  try {
    snmp6 = readFileSync(join(procRoot, 'net', 'snmp6'), 'utf8');
  } catch {
    // IPv6 may be disabled, in which case the file is missing.
  }
  const dev = readFileSync(join(procRoot, 'net', 'dev'), 'utf8');
  return { snmp: parseNetSnmp(snmp), snmp6: parseNetSnmp6(snmp6), interfaces: parseNetDev(dev) };
}

/** Interfaces left out of the byte and packet totals: loopback traffic never leaves the host. */
const EXCLUDED_INTERFACES = new Set(['lo']);

function counterDelta(current: number | undefined, previous: number | undefined): number {
  // A counter that went down was reset (module reload, interface re-created): nothing is known about the gap.
  if (current === undefined || previous === undefined || current < previous) return 0;
  return current - previous;
}

/**
 * The host metrics between two snapshots: what happened in between, per metric name. Interfaces
 * that appeared in between count from the second snapshot on; counters that went backwards count 0.
 * @example hostMetricDeltas(before, after)['TCP Segments Sent'] // 120
 */
export function hostMetricDeltas(previous: HostCounterSnapshot, current: HostCounterSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const metric of HOST_METRICS) {
    const s = metric.source;
    if (s.file === 'snmp') {
      let v = counterDelta(current.snmp[s.group]?.[s.field], previous.snmp[s.group]?.[s.field]);
      if (s.also) v += counterDelta(current.snmp6[s.also.field], previous.snmp6[s.also.field]);
      out[metric.name] = v;
    } else {
      let v = 0;
      for (const [name, counters] of Object.entries(current.interfaces)) {
        if (EXCLUDED_INTERFACES.has(name)) continue;
        v += counterDelta(counters[s.field], previous.interfaces[name]?.[s.field]);
      }
      out[metric.name] = v;
    }
  }
  return out;
}
