// Canonical text forms of IP addresses read from packet bytes.
import { longestZeroRun } from '../lib/ipv6-words.js';

/**
 * Dotted-quad text of the 4 bytes at `offset`.
 * @example formatIPv4(Buffer.from([127, 0, 0, 1]), 0) === '127.0.0.1'
 */
export function formatIPv4(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/**
 * Compressed text of the 16 bytes at `offset`, exactly as Node (libuv's inet_ntop) prints it:
 * lowercase, leading zeros dropped, the longest run of two or more zero groups as `::` (the first
 * on a tie), and IPv4-mapped (`::ffff:a.b.c.d`) / IPv4-compatible (`::a.b.c.d`) forms in dotted quad.
 * @example formatIPv6(Buffer.from('00000000000000000000000000000001', 'hex'), 0) === '::1'
 */
export function formatIPv6(buf: Buffer, offset: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(offset + i * 2));

  const { start: bestBase, length: bestLength } = longestZeroRun(words);

  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // Same rule as inet_ntop: a leading run of 6 zero words, or 5 then 0xffff, ends in dotted quad.
    if (i === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
      out += formatIPv4(buf, offset + 12);
      break;
    }
    out += (words[i] as number).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) out += ':';
  return out;
}
