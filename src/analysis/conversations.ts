// Conversations and endpoints, counted as tshark's `-z conv,…` and `-z endpoints,…` count them:
// every frame's on-the-wire length, A = the source of a conversation's first frame, "A→B" the
// frames A sent, times relative to the first frame of the file.
import type { Conversation, Endpoint } from '../model/index.js';
import { BoundedMap, topTable } from './table.js';
import type { TopTable } from './table.js';
import { ipv4Text, ipv6TextFromKey } from './text.js';

/** Address of a side: an IPv4 number or the latin1 string of 16 IPv6 bytes. */
export type AddressKey = number | string;

/** One conversation being counted; `extra` carries per-conversation state of other analyses (TCP health). */
export interface ConversationRecord<X> {
  addressA: AddressKey;
  portA: number;
  addressB: AddressKey;
  portB: number;
  /** Side key of A (address and port), to tell directions apart. */
  sideA: AddressKey;
  packetsAToB: number;
  bytesAToB: number;
  packetsBToA: number;
  bytesBToA: number;
  firstRelative: number;
  lastRelative: number;
  extra: X;
}

/**
 * A conversation table (IPv4, IPv6, TCP or UDP), bounded to `maxKeys` conversations.
 * @example const t = new ConversationTable(1e5, () => null); const r = t.count(key, src, sp, dst, dp, srcSide, dstSide, 60, 0.5);
 */
export class ConversationTable<X> {
  private readonly table: BoundedMap<string, ConversationRecord<X>>;
  private readonly makeExtra: () => X;

  constructor(maxKeys: number, makeExtra: () => X) {
    this.table = new BoundedMap(maxKeys);
    this.makeExtra = makeExtra;
  }

  /**
   * Counts one frame from (source, sourcePort) to (destination, destinationPort); returns its
   * conversation (null when the table is full: the frame then counts as untracked).
   */
  count(
    source: AddressKey,
    sourcePort: number,
    destination: AddressKey,
    destinationPort: number,
    sourceSide: AddressKey,
    destinationSide: AddressKey,
    bytes: number,
    relative: number,
  ): ConversationRecord<X> | null {
    const rec = this.record(source, sourcePort, destination, destinationPort, sourceSide, destinationSide, relative);
    if (rec === null) {
      this.untracked(bytes);
      return null;
    }
    addToConversation(rec, sourceSide === rec.sideA, bytes, relative);
    return rec;
  }

  /** The conversation of a frame, created (A = this frame's source) while there is room; does not count the frame. */
  record(
    source: AddressKey,
    sourcePort: number,
    destination: AddressKey,
    destinationPort: number,
    sourceSide: AddressKey,
    destinationSide: AddressKey,
    relative: number,
  ): ConversationRecord<X> | null {
    const key = sourceSide < destinationSide ? `${sourceSide}|${destinationSide}` : `${destinationSide}|${sourceSide}`;
    return this.table.lookup(key, () => ({
      addressA: source,
      portA: sourcePort,
      addressB: destination,
      portB: destinationPort,
      sideA: sourceSide,
      packetsAToB: 0,
      bytesAToB: 0,
      packetsBToA: 0,
      bytesBToA: 0,
      firstRelative: relative,
      lastRelative: relative,
      extra: this.makeExtra(),
    }));
  }

  /** Counts a frame whose conversation could not be tracked. */
  untracked(bytes: number): void {
    this.table.untracked(bytes);
  }

  /** Whether keys were refused, and the packets and bytes of those. */
  overflow(): { overflowed: boolean; untrackedPackets: number; untrackedBytes: number } {
    return {
      overflowed: this.table.overflowed,
      untrackedPackets: this.table.untrackedPackets,
      untrackedBytes: this.table.untrackedBytes,
    };
  }

  /** Every tracked record. */
  records(): IterableIterator<ConversationRecord<X>> {
    return this.table.map.values();
  }

  /** The top rows, most bytes first. */
  result(top: number, withPorts: boolean): TopTable<Conversation> {
    const rows: Conversation[] = [];
    for (const r of this.table.map.values()) rows.push(conversationRow(r, withPorts));
    return topTable(
      rows,
      top,
      this.table.overflowed,
      this.table.untrackedPackets,
      this.table.untrackedBytes,
      (a, b) => a.relativeStartInSeconds - b.relativeStartInSeconds,
    );
  }
}

/** Counts one frame on a conversation (`fromA`: sent by side A). */
export function addToConversation(
  rec: ConversationRecord<unknown>,
  fromA: boolean,
  bytes: number,
  relative: number,
): void {
  if (fromA) {
    rec.packetsAToB++;
    rec.bytesAToB += bytes;
  } else {
    rec.packetsBToA++;
    rec.bytesBToA += bytes;
  }
  // Files are nearly always in time order; max/min keep a reordered one right too.
  if (relative > rec.lastRelative) rec.lastRelative = relative;
  if (relative < rec.firstRelative) rec.firstRelative = relative;
}

/** The API row of a conversation record. */
export function conversationRow(r: ConversationRecord<unknown>, withPorts: boolean): Conversation {
  return {
    addressA: addressText(r.addressA),
    portA: withPorts ? r.portA : null,
    addressB: addressText(r.addressB),
    portB: withPorts ? r.portB : null,
    packetsAToB: r.packetsAToB,
    bytesAToB: r.bytesAToB,
    packetsBToA: r.packetsBToA,
    bytesBToA: r.bytesBToA,
    packets: r.packetsAToB + r.packetsBToA,
    bytes: r.bytesAToB + r.bytesBToA,
    relativeStartInSeconds: round9(Math.max(0, r.firstRelative)),
    durationInSeconds: round9(r.lastRelative - r.firstRelative),
  };
}

/** Text of an address key. */
export function addressText(key: AddressKey): string {
  return typeof key === 'number' ? ipv4Text(key) : ipv6TextFromKey(key);
}

/** Seconds rounded to nanoseconds, so float noise does not show. */
export function round9(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

/** One endpoint being counted. */
export interface EndpointRecord {
  address: AddressKey;
  port: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
}

/**
 * An endpoint table: each frame counts as Tx for its source and Rx for its destination.
 * @example const e = new EndpointTable(1e5); e.count(src, dst, 0, 0, src, dst, 60);
 */
export class EndpointTable {
  private readonly table: BoundedMap<AddressKey, EndpointRecord>;

  constructor(maxKeys: number) {
    this.table = new BoundedMap(maxKeys);
  }

  /** Counts one frame. `sourceKey`/`destinationKey` identify the endpoints (address, or address and port). */
  count(
    source: AddressKey,
    sourcePort: number,
    destination: AddressKey,
    destinationPort: number,
    sourceKey: AddressKey,
    destinationKey: AddressKey,
    bytes: number,
  ): void {
    this.sent(this.record(source, sourcePort, sourceKey), bytes);
    // A frame to itself counts once each way, as tshark counts it.
    this.received(this.record(destination, destinationPort, destinationKey), bytes);
  }

  /** The endpoint of `key`, created while there is room. */
  record(address: AddressKey, port: number, key: AddressKey): EndpointRecord | null {
    return this.table.lookup(key, () => ({ address, port, txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0 }));
  }

  /** Counts a frame sent by `rec` (untracked when null). */
  sent(rec: EndpointRecord | null, bytes: number): void {
    if (rec === null) this.table.untracked(bytes);
    else {
      rec.txPackets++;
      rec.txBytes += bytes;
    }
  }

  /** Counts a frame received by `rec` (untracked when null). */
  received(rec: EndpointRecord | null, bytes: number): void {
    if (rec === null) this.table.untracked(bytes);
    else {
      rec.rxPackets++;
      rec.rxBytes += bytes;
    }
  }

  /** The top rows, most bytes first. */
  result(top: number, withPorts: boolean): TopTable<Endpoint> {
    const rows: Endpoint[] = [];
    for (const r of this.table.map.values()) {
      rows.push({
        address: addressText(r.address),
        port: withPorts ? r.port : null,
        packets: r.txPackets + r.rxPackets,
        bytes: r.txBytes + r.rxBytes,
        txPackets: r.txPackets,
        txBytes: r.txBytes,
        rxPackets: r.rxPackets,
        rxBytes: r.rxBytes,
      });
    }
    return topTable(rows, top, this.table.overflowed, this.table.untrackedPackets, this.table.untrackedBytes);
  }
}
