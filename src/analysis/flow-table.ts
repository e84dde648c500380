// An open-addressing hash table from IPv4 5-tuples to small integers, on typed arrays: the hot
// path of the analysis does one probe per TCP/UDP packet here instead of building string keys
// for four Maps (which cost most of the time and most of the garbage). The key is the tuple in
// a canonical order (the lower (address, port) side first), so both directions find one entry.

const EMPTY = -1;

/**
 * IPv4 TCP/UDP flows → dense indexes 0, 1, 2 … (at most `maxFlows`; -1 once full).
 * @example const t = new FlowTable4(1000); const i = t.find(src, dst, 6, 1234, 80); if (t.lastFromLower) …
 */
export class FlowTable4 {
  private keys: Uint32Array;
  private slots: Int32Array;
  private mask: number;
  private count = 0;
  /** Set by `find`: whether the packet's source is the canonical lower side of the flow. */
  lastFromLower = true;
  /** Set by `find`: whether the last `find` created the entry. */
  lastCreated = false;

  constructor(
    private readonly maxFlows: number,
    initialCapacity = 1024,
  ) {
    const capacity = 1 << Math.ceil(Math.log2(Math.max(16, initialCapacity)));
    this.keys = new Uint32Array(capacity * 4);
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  /** The index of the flow of a packet, creating it while there is room; -1 when the table is full. */
  find(source: number, destination: number, protocol: number, sourcePort: number, destinationPort: number): number {
    const fromLower = source < destination || (source === destination && sourcePort <= destinationPort);
    this.lastFromLower = fromLower;
    const a = fromLower ? source : destination;
    const b = fromLower ? destination : source;
    const ports = fromLower
      ? ((sourcePort << 16) | destinationPort) >>> 0
      : ((destinationPort << 16) | sourcePort) >>> 0;
    let h =
      Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^
      Math.imul(b ^ 0xc2b2ae35, 0x27d4eb2f) ^
      Math.imul(ports ^ protocol, 0x165667b1);
    h ^= h >>> 15;
    let slot = h & this.mask;
    const keys = this.keys;
    for (;;) {
      const index = this.slots[slot]!;
      if (index === EMPTY) break;
      const k = index * 4;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === ports && keys[k + 3] === protocol) {
        this.lastCreated = false;
        return index;
      }
      slot = (slot + 1) & this.mask;
    }
    if (this.count >= this.maxFlows) {
      this.lastCreated = false;
      return -1;
    }
    const index = this.count++;
    if (index * 4 + 4 > keys.length) this.growKeys();
    this.keys[index * 4] = a;
    this.keys[index * 4 + 1] = b;
    this.keys[index * 4 + 2] = ports;
    this.keys[index * 4 + 3] = protocol;
    this.slots[slot] = index;
    this.lastCreated = true;
    // Keep the load under one half so probes stay short.
    if (this.count * 2 > this.slots.length) this.rehash();
    return index;
  }

  private growKeys(): void {
    const next = new Uint32Array(this.keys.length * 2);
    next.set(this.keys);
    this.keys = next;
  }

  private rehash(): void {
    const capacity = this.slots.length * 2;
    const slots = new Int32Array(capacity).fill(EMPTY);
    const mask = capacity - 1;
    const keys = this.keys;
    for (let index = 0; index < this.count; index++) {
      const k = index * 4;
      let h =
        Math.imul(keys[k]! ^ 0x9e3779b9, 0x85ebca6b) ^
        Math.imul(keys[k + 1]! ^ 0xc2b2ae35, 0x27d4eb2f) ^
        Math.imul(keys[k + 2]! ^ keys[k + 3]!, 0x165667b1);
      h ^= h >>> 15;
      let slot = h & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = index;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
