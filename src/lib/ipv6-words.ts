/**
 * Where RFC 5952 puts `::` in an IPv6 address of eight 16-bit words: the longest run of two or
 * more zero words, the first one on a tie; start -1 when there is none. The one rule behind both
 * of netwatcher's IPv6 printers (libpcap filter text, and inet_ntop-exact text of packet bytes).
 * @example longestZeroRun([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0]) // { start: 5, length: 3 }
 */
export function longestZeroRun(words: readonly number[]): { start: number; length: number } {
  let start = -1;
  let length = 0;
  for (let i = 0; i < words.length;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < words.length && words[j] === 0) j++;
    if (j - i > length) {
      start = i;
      length = j - i;
    }
    i = j;
  }
  return length >= 2 ? { start, length } : { start: -1, length: 0 };
}

/** The eight 16-bit words of IPv6 text, or why the text is not one. */
export type Ipv6WordsResult = { ok: true; words: number[] } | { ok: false; reason: string };

/**
 * Reads IPv6 text as inet_pton does: eight groups of 1-4 hex digits, one `::` for a run of zero
 * groups, and an optional strict dotted-quad IPv4 tail (`::ffff:10.0.0.1`). No zone id, brackets
 * or prefix: callers strip or refuse those first. The one IPv6 parser behind filter text, the
 * outbound policy and packet building.
 * @example parseIpv6Words('2001:db8::1') // { ok: true, words: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] }
 */
export function parseIpv6Words(text: string): Ipv6WordsResult {
  const halves = text.split('::');
  if (halves.length > 2) return { ok: false, reason: 'an IPv6 address may contain "::" only once' };
  const groups: number[][] = [];
  for (const half of halves) {
    const words: number[] = [];
    if (half !== '') {
      const pieces = half.split(':');
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i] as string;
        const isLastOfAddress = i === pieces.length - 1 && half === halves[halves.length - 1];
        if (isLastOfAddress && piece.includes('.')) {
          const v4 = parseDottedQuadStrict(piece);
          if (v4 === null) return { ok: false, reason: `"${piece}" is not a dotted-quad IPv4 tail` };
          words.push(v4 >>> 16, v4 & 0xffff);
        } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
          words.push(parseInt(piece, 16));
        } else {
          return {
            ok: false,
            reason: piece === '' ? 'empty group in IPv6 address' : `"${piece}" is not an IPv6 group (1-4 hex digits)`,
          };
        }
      }
    }
    groups.push(words);
  }
  const head = groups[0] as number[];
  const tail = groups[1] ?? [];
  const given = head.length + tail.length;
  if (halves.length === 1 && given !== 8)
    return { ok: false, reason: `an IPv6 address has 8 groups, this one has ${given}` };
  if (halves.length === 2 && given > 7) return { ok: false, reason: 'too many groups around "::"' };
  return { ok: true, words: [...head, ...new Array<number>(8 - given).fill(0), ...tail] };
}

// The IPv4 tail of an IPv6 address is strict dotted quad (inet_pton), unlike inet_aton's forms.
function parseDottedQuadStrict(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    value = value * 256 + Number(p);
  }
  return value;
}
