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
