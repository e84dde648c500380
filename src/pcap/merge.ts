// Merging the capture files of many hosts into one time-ordered file (issue 14, merged download),
// streaming: each source is read a chunk at a time as its packets are needed, so memory holds one
// chunk and a few packets per host, never a whole file.
import { CaptureStreamParser } from './capture-reader.js';
import {
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_SHB_TYPE,
  PcapngBlockType,
  type CaptureInterface,
  type CapturePacket,
} from './pcapng.js';

/** One host's file to merge. */
export interface MergeSource {
  /** The host's name (pcapng: the interface's if_name, and in its comment). */
  name: string;
  /** More about the host for its interface's comment (e.g. "instance 0 of scale set web"). */
  comment?: string;
  /** The file's bytes (pcap or pcapng). */
  chunks: AsyncIterable<Buffer>;
}

/** Output format of a merge: pcapng keeps one interface per host; classic pcap needs one link type for all. */
export type MergeFormat = 'pcapng' | 'pcap';

const NANOSECOND_PCAP_MAGIC = 0xa1b23c4d;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_TSRESOL = 9;

/** A packet with its time in nanoseconds since the epoch and its copied bytes. */
interface TimedPacket {
  at: bigint;
  packet: CapturePacket;
  iface: CaptureInterface | undefined;
}

/** Pulls one source's packets in order, reading its chunks only when its queue is empty. */
class SourceCursor {
  private readonly queue: TimedPacket[] = [];
  private readonly interfaces = new Map<number, CaptureInterface>();
  private readonly parser: CaptureStreamParser;
  private readonly iterator: AsyncIterator<Buffer>;
  private ended = false;
  /** Link types of the interfaces seen, in order. */
  readonly linkTypes: number[] = [];

  constructor(readonly source: MergeSource) {
    this.iterator = source.chunks[Symbol.asyncIterator]();
    this.parser = new CaptureStreamParser({
      onInterface: (iface) => {
        this.interfaces.set(iface.id, iface);
        this.linkTypes.push(iface.linkType);
      },
      onPacket: (packet) => {
        const at = BigInt(packet.timestampSeconds) * 1_000_000_000n + BigInt(packet.timestampNanoseconds);
        // The parser hands out views of its buffer: copy what is kept past this chunk.
        this.queue.push({
          at,
          packet: { ...packet, data: Buffer.from(packet.data) },
          iface: this.interfaces.get(packet.interfaceId),
        });
      },
    });
  }

  /** The next packet without taking it, or null at the end. */
  async peek(): Promise<TimedPacket | null> {
    while (this.queue.length === 0 && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.parser.end();
        this.ended = true;
      } else this.parser.push(next.value);
    }
    return this.queue[0] ?? null;
  }

  take(): TimedPacket {
    return this.queue.shift()!;
  }
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

function pcapngOptions(list: Array<[number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of [...list, [0, Buffer.alloc(0)] as [number, Buffer]]) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(code, 0);
    head.writeUInt16LE(value.length, 2);
    parts.push(head, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

function pcapngBlock(type: number, body: Buffer): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const length = 12 + body.length + pad;
  return Buffer.concat([u32(type), u32(length), body, Buffer.alloc(pad), u32(length)]);
}

/** Option values are at most 65,535 bytes; comments are cut well below. */
const text = (s: string) => Buffer.from(s.slice(0, 4000), 'utf8');

/**
 * Merges hosts' capture files into one time-ordered stream. pcapng: a section whose comment is
 * `sectionComment`, one interface per host interface (if_name the host's name, its comment the
 * host and `source.comment`), nanosecond timestamps. pcap: nanosecond classic pcap; every host
 * must have the same link type (else an Error naming them). Ties keep source order.
 * @example for await (const chunk of mergeCaptures(sources, 'pcapng', 'capture pc1; filter: udp')) out.write(chunk);
 */
export async function* mergeCaptures(
  sources: MergeSource[],
  format: MergeFormat,
  sectionComment: string,
): AsyncGenerator<Buffer> {
  const cursors = sources.map((s) => new SourceCursor(s));
  // The first packet of each source, so every source's interfaces are known before the header goes out.
  for (const c of cursors) await c.peek();
  const outIds = new Map<SourceCursor, Map<number, number>>();
  if (format === 'pcap') {
    const types = new Set(cursors.flatMap((c) => c.linkTypes));
    if (types.size > 1)
      throw new Error(`the hosts' files have different link types (${[...types].join(', ')}): merge them as pcapng`);
    const header = Buffer.alloc(24);
    header.writeUInt32LE(NANOSECOND_PCAP_MAGIC, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(262144, 16);
    header.writeUInt32LE([...types][0] ?? 1, 20);
    yield header;
  } else {
    const shb = Buffer.concat([
      u32(PCAPNG_BYTE_ORDER_MAGIC),
      Buffer.from([1, 0, 0, 0]),
      Buffer.from('ffffffffffffffff', 'hex'),
      pcapngOptions([[OPT_COMMENT, text(sectionComment)]]),
    ]);
    yield pcapngBlock(PCAPNG_SHB_TYPE, shb);
  }
  let nextInterface = 0;
  const interfaceFor = (c: SourceCursor, p: TimedPacket): { id: number; header: Buffer | null } => {
    let ids = outIds.get(c);
    if (!ids) {
      ids = new Map();
      outIds.set(c, ids);
    }
    const known = ids.get(p.packet.interfaceId);
    if (known !== undefined) return { id: known, header: null };
    const id = nextInterface++;
    ids.set(p.packet.interfaceId, id);
    const head = Buffer.alloc(8);
    head.writeUInt16LE(p.packet.linkType, 0);
    head.writeUInt32LE((p.iface?.snapLength ?? 262144) >>> 0, 4);
    const ifaceName = p.iface?.name ? ` (interface ${p.iface.name})` : '';
    const comment = `host ${c.source.name}${ifaceName}${c.source.comment ? `; ${c.source.comment}` : ''}`;
    const idb = Buffer.concat([
      head,
      pcapngOptions([
        [IF_NAME, text(c.source.name)],
        [OPT_COMMENT, text(comment)],
        [IF_TSRESOL, Buffer.from([9])],
      ]),
    ]);
    return { id, header: pcapngBlock(PcapngBlockType.IDB, idb) };
  };
  for (;;) {
    let best: SourceCursor | null = null;
    let bestAt = 0n;
    for (const c of cursors) {
      const p = await c.peek();
      if (p && (best === null || p.at < bestAt)) {
        best = c;
        bestAt = p.at;
      }
    }
    if (!best) return;
    const p = best.take();
    if (format === 'pcap') {
      const rec = Buffer.alloc(16);
      rec.writeUInt32LE(Number(p.at / 1_000_000_000n), 0);
      rec.writeUInt32LE(Number(p.at % 1_000_000_000n), 4);
      rec.writeUInt32LE(p.packet.data.length, 8);
      rec.writeUInt32LE(p.packet.originalLength, 12);
      yield Buffer.concat([rec, p.packet.data]);
    } else {
      const { id, header } = interfaceFor(best, p);
      if (header) yield header;
      const epb = Buffer.concat([
        u32(id),
        u32(Number(p.at >> 32n)),
        u32(Number(p.at & 0xffffffffn)),
        u32(p.packet.data.length),
        u32(p.packet.originalLength),
        p.packet.data,
      ]);
      yield pcapngBlock(PcapngBlockType.EPB, epb);
    }
  }
}
