// Reading and writing IP address text for filters. Addresses are bigints so IPv4 (32 bits) and
// IPv6 (128 bits) share the range and CIDR code.
import { longestZeroRun, parseIpv6Words } from '../lib/ipv6-words.js';

/** An address family, by IP version. */
export type AddressFamily = 4 | 6;

/** A parsed address. */
export interface ParsedAddress {
  /** 4 or 6. */
  family: AddressFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

/** The outcome of reading address text: the address, or why it is not one. */
export type AddressParseResult = { ok: true; address: ParsedAddress } | { ok: false; reason: string };

/** Bits in an address of each family. */
export const ADDRESS_BITS: Record<AddressFamily, number> = { 4: 32, 6: 128 };

/**
 * Reads IPv4 (inet_aton's dotted forms, decimal parts only) or IPv6 (RFC 4291 text, embedded
 * dotted IPv4 allowed) address text. Any ':' means IPv6.
 * @example parseAddress('1.1.1.1') // { ok: true, address: { family: 4, value: 16843009n } }
 */
export function parseAddress(text: string): AddressParseResult {
  if (text === '') return { ok: false, reason: 'empty address' };
  return text.includes(':') || text.includes('%') || text.includes('[') ? parseIPv6(text) : parseIPv4(text);
}

// Largest value of the last part of an inet_aton form with 1, 2, 3 or 4 parts: the last part fills
// all the bytes the earlier parts leave (a = 32 bits, a.b = 8.24, a.b.c = 8.8.16, a.b.c.d = 8.8.8.8).
const LAST_PART_MAX = [0xffffffff, 0xffffff, 0xffff, 0xff] as const;

/**
 * Reads IPv4 text as inet_aton does, with 1 to 4 parts (`10` = 0.0.0.10, `10.1` = 10.0.0.1,
 * `1.1.1.1-255.255.255` in the seed ends at 255.255.0.255), but only in decimal: inet_aton reads
 * `010` as octal 8 and `0x10` as 16, which users rarely mean, so those are refused rather than
 * silently capturing a different host.
 */
export function parseIPv4(text: string): AddressParseResult {
  const parts = text.split('.');
  if (parts.length > 4) return { ok: false, reason: 'an IPv4 address has at most 4 dot-separated parts' };
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '') return { ok: false, reason: 'empty part in IPv4 address' };
    if (/^0[xX]/.test(part)) {
      return { ok: false, reason: `hexadecimal part "${part}" is not accepted; write IPv4 addresses in decimal` };
    }
    if (!/^[0-9]+$/.test(part)) return { ok: false, reason: 'not an IPv4 or IPv6 address' };
    if (part.length > 1 && part.startsWith('0')) {
      return {
        ok: false,
        reason: `part "${part}" has a leading zero, which inet_aton reads as octal; write it in decimal without leading zeros`,
      };
    }
    const isLast = i === parts.length - 1;
    const max = isLast ? (LAST_PART_MAX[parts.length - 1] as number) : 0xff;
    // Compare as digits first so a 40-digit part cannot lose precision.
    if (part.length > 10 || Number(part) > max) {
      return {
        ok: false,
        reason: `part ${part} is out of range (0-${max}${isLast && parts.length < 4 ? ` for the last of ${parts.length} parts` : ''})`,
      };
    }
  }
  return { ok: true, address: { family: 4, value: joinInetAtonParts(parts.map((p) => BigInt(p))) } };
}

// inet_aton: the first n-1 parts are bytes from the top, the last part fills the remaining low bytes.
function joinInetAtonParts(parts: bigint[]): bigint {
  let value = 0n;
  for (let i = 0; i < parts.length - 1; i++) value |= (parts[i] as bigint) << BigInt(8 * (3 - i));
  return value | (parts[parts.length - 1] as bigint);
}

/**
 * Reads IPv6 text as inet_pton does: eight groups of 1-4 hex digits, one `::` for a run of zero
 * groups, and an optional dotted-quad IPv4 tail (`::ffff:10.0.0.1`). Zone ids (`fe80::1%eth0`)
 * are refused: BPF sees addresses, not interfaces.
 */
export function parseIPv6(text: string): AddressParseResult {
  if (text.includes('%')) return { ok: false, reason: 'IPv6 zone ids (%...) are not accepted; give the address alone' };
  if (text.includes('[') || text.includes(']')) return { ok: false, reason: 'write IPv6 addresses without brackets' };
  if (text.includes('/')) return { ok: false, reason: 'CIDR notation is not accepted; write a range first-last' };
  const parsed = parseIpv6Words(text);
  if (!parsed.ok) return parsed;
  let value = 0n;
  for (const w of parsed.words) value = (value << 16n) | BigInt(w);
  return { ok: true, address: { family: 6, value } };
}

/**
 * Canonical text for libpcap: dotted quad, or RFC 5952 compressed IPv6 in hex groups only.
 * @example formatAddress({ family: 6, value: 1n }) === '::1'
 */
export function formatAddress(address: ParsedAddress): string {
  if (address.family === 4) {
    const v = Number(address.value);
    return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
  }
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((address.value >> BigInt(16 * i)) & 0xffffn));
  const { start: bestStart, length: bestLength } = longestZeroRun(words);
  const hex = words.map((w) => w.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
