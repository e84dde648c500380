// TEST ORACLE, not used by the product. Decides which packets a filter list keeps, written directly
// from the rules in docs/filters.md and sharing no code with the compiler (normalize, parse-filter,
// field-grammar, address-text, compile): its own parsing, and Node's BlockList (libuv's address
// code) for range membership. The property test checks libpcap running the compiled expression
// against this.
import { BlockList, isIPv6 } from 'node:net';

/** A packet as the oracle sees it. */
export type ReferencePacket =
  | { kind: 'other' } // a non-IP frame such as ARP
  | {
      kind: 'ip';
      family: 4 | 6;
      protocol: 'TCP' | 'UDP' | 'ICMP';
      /** Dotted quad or IPv6 text. */
      source: string;
      destination: string;
      /** TCP/UDP only. */
      sourcePort?: number;
      destinationPort?: number;
    };

/** The oracle's reading of a filter list: which packets it keeps, or where it is invalid. */
export type ReferenceVerdict =
  | { valid: true; keeps: (packet: ReferencePacket) => boolean }
  | { valid: false; filterIndex: number; fields: string[] };

interface AddressRule {
  v4: BlockList | null; // null: no IPv4 item in the field
  v6: BlockList | null;
}
interface PortRule {
  ranges: Array<[number, number]>;
}
interface Rule {
  protocol: 'tcp' | 'udp' | 'any';
  local?: AddressRule;
  remote?: AddressRule;
  localPort?: PortRule;
  remotePort?: PortRule;
}

const FIELDS: Record<string, string> = {
  protocol: 'protocol',
  localipaddress: 'localIPAddress',
  remoteipaddress: 'remoteIPAddress',
  localport: 'localPort',
  remoteport: 'remotePort',
};

/**
 * Reads a filter list the way a user's request carries it and returns the oracle's verdict.
 * @example referenceFilterSet([{ protocol: 'udp' }]).valid === true
 */
export function referenceFilterSet(input: unknown): ReferenceVerdict {
  if (input === undefined || input === null) return { valid: true, keeps: () => true };
  if (!Array.isArray(input)) return { valid: false, filterIndex: -1, fields: [] };
  const rules: Rule[] = [];
  for (let index = 0; index < input.length; index++) {
    const result = readRule(input[index]);
    if ('bad' in result) return { valid: false, filterIndex: index, fields: result.bad };
    rules.push(result);
  }
  if (rules.length === 0) return { valid: true, keeps: () => true };
  return { valid: true, keeps: (packet) => rules.some((rule) => ruleKeeps(rule, packet)) };
}

function readRule(raw: unknown): Rule | { bad: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { bad: [] };
  const values = new Map<string, unknown>();
  for (const key of Object.keys(raw)) {
    const field = FIELDS[key.toLowerCase()];
    if (field === undefined) continue;
    if (values.has(field)) return { bad: [field] };
    values.set(field, (raw as Record<string, unknown>)[key]);
  }
  const bad: string[] = [];
  const rule: Rule = { protocol: 'any' };

  const protocol = values.get('protocol');
  if (protocol !== undefined && protocol !== null) {
    const word = typeof protocol === 'string' ? protocol.trim().toLowerCase() : '?';
    if (word === 'tcp' || word === 'udp' || word === 'any') rule.protocol = word;
    else if (word !== '') bad.push('protocol');
  }
  for (const [field, side] of [
    ['localIPAddress', 'local'],
    ['remoteIPAddress', 'remote'],
  ] as const) {
    const text = values.get(field);
    if (text === undefined || text === null || (typeof text === 'string' && text.trim() === '')) continue;
    const parsed = typeof text === 'string' ? readAddressList(text.trim()) : null;
    if (parsed === null) bad.push(field);
    else rule[side] = parsed;
  }
  for (const [field, side] of [
    ['localPort', 'localPort'],
    ['remotePort', 'remotePort'],
  ] as const) {
    const value = values.get(field);
    if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) continue;
    const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : value;
    const parsed = typeof text === 'string' ? readPortList(text.trim()) : null;
    if (parsed === null) bad.push(field);
    else rule[side] = parsed;
  }
  // A packet has one family: local and remote sharing none can never both hold.
  if (rule.local !== undefined && rule.remote !== undefined) {
    const shareV4 = rule.local.v4 !== null && rule.remote.v4 !== null;
    const shareV6 = rule.local.v6 !== null && rule.remote.v6 !== null;
    if (!shareV4 && !shareV6) bad.push('remoteIPAddress');
  }
  return bad.length > 0 ? { bad } : rule;
}

// Items separated by ';', at most one trailing ';', spaces around items and around '-'.
function listItems(text: string): string[] | null {
  if (text.includes(',')) return null;
  const items = text.split(';').map((s) => s.trim());
  if (items.length > 1 && items[items.length - 1] === '') items.pop();
  if (items.some((s) => s === '')) return null;
  return items;
}

function rangeEnds(item: string): [string, string] | null {
  const ends = item.split('-').map((s) => s.trim());
  if (ends.length === 1) return [ends[0] as string, ends[0] as string];
  if (ends.length !== 2 || ends[0] === '' || ends[1] === '') return null;
  return [ends[0] as string, ends[1] as string];
}

function readAddressList(text: string): AddressRule | null {
  const items = listItems(text);
  if (items === null) return null;
  const rule: AddressRule = { v4: null, v6: null };
  for (const item of items) {
    const ends = rangeEnds(item);
    if (ends === null) return null;
    const a = readAddress(ends[0]);
    const b = readAddress(ends[1]);
    if (a === null || b === null || a.family !== b.family) return null;
    const list = a.family === 'ipv4' ? (rule.v4 ??= new BlockList()) : (rule.v6 ??= new BlockList());
    try {
      list.addRange(a.text, b.text, a.family); // throws when the start comes after the end
    } catch {
      return null;
    }
  }
  return rule;
}

function readAddress(text: string): { family: 'ipv4' | 'ipv6'; text: string } | null {
  if (text.includes(':')) {
    // inet_pton's IPv6 text only: no zone id, no brackets, no prefix length.
    if (text.includes('%') || !isIPv6(text)) return null;
    return { family: 'ipv6', text };
  }
  // inet_aton's forms a, a.b, a.b.c, a.b.c.d, decimal only, no leading zeros.
  if (!/^[0-9]+(\.[0-9]+){0,3}$/.test(text)) return null;
  const parts = text.split('.');
  if (parts.some((p) => p.length > 1 && p[0] === '0')) return null;
  const n = parts.map(Number);
  const limits = [[2 ** 32 - 1], [255, 2 ** 24 - 1], [255, 255, 2 ** 16 - 1], [255, 255, 255, 255]][
    n.length - 1
  ] as number[];
  if (n.some((v, i) => !(v <= (limits[i] as number)))) return null;
  let value = n[n.length - 1] as number;
  for (let i = 0; i < n.length - 1; i++) value += (n[i] as number) * 2 ** (8 * (3 - i));
  const octets = [
    Math.floor(value / 2 ** 24),
    Math.floor(value / 2 ** 16) % 256,
    Math.floor(value / 256) % 256,
    value % 256,
  ];
  return { family: 'ipv4', text: octets.join('.') };
}

function readPortList(text: string): PortRule | null {
  const items = listItems(text);
  if (items === null) return null;
  const ranges: Array<[number, number]> = [];
  for (const item of items) {
    const ends = rangeEnds(item);
    if (ends === null || !/^[0-9]+$/.test(ends[0]) || !/^[0-9]+$/.test(ends[1])) return null;
    const first = Number(ends[0]);
    const last = Number(ends[1]);
    if (first > 65535 || last > 65535 || first > last) return null;
    ranges.push([first, last]);
  }
  return { ranges };
}

function ruleKeeps(rule: Rule, packet: ReferencePacket): boolean {
  const namesPorts = rule.localPort !== undefined || rule.remotePort !== undefined;
  if (rule.protocol === 'tcp' && !(packet.kind === 'ip' && packet.protocol === 'TCP')) return false;
  if (rule.protocol === 'udp' && !(packet.kind === 'ip' && packet.protocol === 'UDP')) return false;
  if (namesPorts && !(packet.kind === 'ip' && packet.protocol !== 'ICMP')) return false;
  // Read one way round (source = local), or the other (destination = local).
  return readsAs(rule, packet, 'source') || readsAs(rule, packet, 'destination');
}

function readsAs(rule: Rule, packet: ReferencePacket, localEnd: 'source' | 'destination'): boolean {
  const remoteEnd = localEnd === 'source' ? 'destination' : 'source';
  return (
    addressHolds(rule.local, packet, localEnd) &&
    addressHolds(rule.remote, packet, remoteEnd) &&
    portHolds(rule.localPort, packet, localEnd) &&
    portHolds(rule.remotePort, packet, remoteEnd)
  );
}

function addressHolds(rule: AddressRule | undefined, packet: ReferencePacket, end: 'source' | 'destination'): boolean {
  if (rule === undefined) return true;
  if (packet.kind !== 'ip') return false;
  // One BlockList per family: BlockList itself would let an IPv4 rule match an IPv4-mapped IPv6 address.
  const list = packet.family === 4 ? rule.v4 : rule.v6;
  return list !== null && list.check(packet[end], packet.family === 4 ? 'ipv4' : 'ipv6');
}

function portHolds(rule: PortRule | undefined, packet: ReferencePacket, end: 'source' | 'destination'): boolean {
  if (rule === undefined) return true;
  if (packet.kind !== 'ip') return false;
  const port = end === 'source' ? packet.sourcePort : packet.destinationPort;
  return port !== undefined && rule.ranges.some(([first, last]) => port >= first && port <= last);
}
