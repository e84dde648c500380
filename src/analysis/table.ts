// Bounded tables: at most `maxKeys` distinct keys are tracked, so memory stays bounded whatever
// the file holds; packets of keys beyond that still count in the exact totals ("other").

/** A row with the counters every table sorts and totals by. */
export interface Counted {
  packets: number;
  bytes: number;
}

/**
 * A Map that stops taking new keys at `maxKeys` and counts what it could not track.
 * @example const t = new BoundedMap<string, Row>(100000); const row = t.lookup(key, () => newRow()); if (!row) t.untracked(len);
 */
export class BoundedMap<K, V> {
  /** Tracked rows. */
  readonly map = new Map<K, V>();
  /** Packets of keys that were not tracked. */
  untrackedPackets = 0;
  /** Bytes of keys that were not tracked. */
  untrackedBytes = 0;
  /** True once a new key was refused. */
  overflowed = false;

  constructor(readonly maxKeys: number) {}

  /** The row of `key`, created by `make` while there is room; null once the table is full. */
  lookup(key: K, make: () => V): V | null {
    const found = this.map.get(key);
    if (found !== undefined) return found;
    if (this.map.size >= this.maxKeys) {
      this.overflowed = true;
      return null;
    }
    const made = make();
    this.map.set(key, made);
    return made;
  }

  /** Counts a packet whose key could not be tracked. */
  untracked(bytes: number): void {
    this.untrackedPackets++;
    this.untrackedBytes += bytes;
  }
}

/** The top rows of a table with exact totals (the tableOf shape of src/model/analysis.ts). */
export interface TopTable<R> {
  rows: R[];
  totalRows: number;
  truncated: boolean;
  totalRowsIsExact: boolean;
  otherPackets: number;
  otherBytes: number;
}

/**
 * Sorts every row (most bytes first, then most packets, then `tieBreak`; or by `order`) and keeps the first `top`.
 * @example topTable(rows, 10, false, 0, 0)
 */
export function topTable<R extends Counted>(
  rows: R[],
  top: number,
  overflowed: boolean,
  untrackedPackets: number,
  untrackedBytes: number,
  tieBreak?: (a: R, b: R) => number,
  order?: (a: R, b: R) => number,
): TopTable<R> {
  rows.sort(order ?? ((a, b) => b.bytes - a.bytes || b.packets - a.packets || (tieBreak ? tieBreak(a, b) : 0)));
  let otherPackets = untrackedPackets;
  let otherBytes = untrackedBytes;
  for (let i = top; i < rows.length; i++) {
    otherPackets += rows[i]!.packets;
    otherBytes += rows[i]!.bytes;
  }
  return {
    rows: rows.slice(0, top),
    totalRows: rows.length,
    truncated: rows.length > top || overflowed,
    totalRowsIsExact: !overflowed,
    otherPackets,
    otherBytes,
  };
}
