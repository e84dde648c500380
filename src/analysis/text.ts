// Text forms shared by the analysis tables and the packet list.
import { LinkType, formatIPv6 } from '../pcap/index.js';

const LINK_TYPE_NAMES = new Map<number, string>(Object.entries(LinkType).map(([name, value]) => [value, name]));

/**
 * LINKTYPE_ name without the prefix (ETHERNET, LINUX_SLL …), or LINKTYPE_n.
 * @example linkTypeName(113) === 'LINUX_SLL'
 */
export function linkTypeName(linkType: number): string {
  return LINK_TYPE_NAMES.get(linkType) ?? `LINKTYPE_${linkType}`;
}

/**
 * Dotted quad of an unsigned 32-bit number.
 * @example ipv4Text(0x0a000001) === '10.0.0.1'
 */
export function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/**
 * IPv6 text of the 16 bytes of a latin1 key string (how the tables key IPv6 addresses).
 * @example ipv6TextFromKey(Buffer.alloc(16).toString('latin1')) === '::'
 */
export function ipv6TextFromKey(key: string): string {
  return formatIPv6(Buffer.from(key, 'latin1'), 0);
}

/**
 * ISO 8601 UTC text with microseconds of a split timestamp.
 * @example isoTime(0, 1500) === '1970-01-01T00:00:00.000001Z'
 */
export function isoTime(seconds: number, nanoseconds: number): string {
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return `${base}.${String(Math.floor(nanoseconds / 1000)).padStart(6, '0')}Z`;
}
