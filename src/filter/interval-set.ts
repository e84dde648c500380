// Sets of unsigned integers (addresses, ports) as sorted, disjoint, non-adjacent closed intervals,
// and their minimal CIDR cover.

/** A closed interval [first, last] of unsigned integers. */
export interface Interval {
  /** Smallest member. */
  first: bigint;
  /** Largest member (≥ first). */
  last: bigint;
}

/** One CIDR block: `base/prefixLength`, with no bits set below the prefix. */
export interface CidrBlock {
  /** First address of the block. */
  base: bigint;
  /** Number of leading bits fixed (0 … width). */
  prefixLength: number;
}

/**
 * Sorts and coalesces overlapping or adjacent intervals into the canonical form.
 * @example normalizeIntervals([{ first: 5n, last: 9n }, { first: 1n, last: 4n }]) // [{ first: 1n, last: 9n }]
 */
export function normalizeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const prev = out[out.length - 1];
    if (prev !== undefined && iv.first <= prev.last + 1n) {
      if (iv.last > prev.last) prev.last = iv.last;
    } else {
      out.push({ first: iv.first, last: iv.last });
    }
  }
  return out;
}

/** Union of two canonical interval sets, canonical. */
export function unionIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  return normalizeIntervals([...a, ...b]);
}

/** Whether canonical set `inner` is contained in canonical set `outer`. */
export function isSubsetOfIntervals(inner: readonly Interval[], outer: readonly Interval[]): boolean {
  let j = 0;
  for (const iv of inner) {
    // Canonical sets are disjoint and non-adjacent, so one interval of `outer` must hold all of `iv`.
    while (j < outer.length && (outer[j] as Interval).last < iv.first) j++;
    const o = outer[j];
    if (o === undefined || o.first > iv.first || o.last < iv.last) return false;
  }
  return true;
}

/**
 * The fewest CIDR blocks whose union is exactly [first, last], in address order. Greedy from the
 * left: at each point take the largest block that is aligned there and does not pass `last`; that
 * is optimal because any cover must split at the same alignment boundaries.
 * @example cidrBlocks({ first: 0n, last: 255n }, 32) // [{ base: 0n, prefixLength: 24 }]
 */
export function cidrBlocks(interval: Interval, widthInBits: number): CidrBlock[] {
  const blocks: CidrBlock[] = [];
  let cursor = interval.first;
  const end = interval.last + 1n;
  while (cursor < end) {
    // Largest size allowed by the alignment of `cursor` (its lowest set bit; 2^width for 0).
    let sizeBits = cursor === 0n ? widthInBits : lowestSetBit(cursor);
    while (cursor + (1n << BigInt(sizeBits)) > end) sizeBits--;
    blocks.push({ base: cursor, prefixLength: widthInBits - sizeBits });
    cursor += 1n << BigInt(sizeBits);
  }
  return blocks;
}

function lowestSetBit(value: bigint): number {
  let bits = 0;
  while ((value & (1n << BigInt(bits))) === 0n) bits++;
  return bits;
}
