// Allocation-free dissection for hot loops (analysis of millions of packets): one reusable
// object is filled with numbers and offsets into the packet's bytes; text forms (addresses) are
// made only by whoever needs them. decode.ts is the friendly form of the same walk for a single
// packet; this one also keeps what analysis needs (TCP sequence numbers, flags, window, the
// payload's place and true length, ICMP type, ARP fields).
import { LinkType } from './format.js';

/** EtherTypes the dissector follows. */
export const EtherType = { IPV4: 0x0800, ARP: 0x0806, IPV6: 0x86dd } as const;
/** IP protocol numbers the dissector names. */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
/** TCP flag bits. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Link layers, as tshark names them. */
export type LinkLayerName = 'eth' | 'sll' | 'sll2' | 'raw' | 'null' | 'other';

const VLAN_ETHERTYPES = new Set([0x8100, 0x88a8, 0x9100]);
const AF_INET6_VALUES = new Set([10, 24, 28, 30]);

/**
 * The layers of one packet as numbers and offsets. Reuse one instance across packets:
 * `dissect` resets every field.
 * @example const d = new PacketDissection(); d.dissect(LinkType.ETHERNET, frame); if (d.ipProtocol === IpProtocol.TCP) use(d.sourcePort);
 */
export class PacketDissection {
  /** Link layer. */
  link: LinkLayerName = 'other';
  /** Offset of the Ethernet header (eth only), else -1. */
  ethernetOffset = -1;
  /** Number of 802.1Q/802.1ad tags skipped. */
  vlanTags = 0;
  /** First VLAN id, or -1. */
  vlanId = -1;
  /** EtherType / SLL protocol of the network layer, or -1 when unknown. */
  etherType = -1;
  /** Linux cooked capture packet type (0 host … 4 outgoing), or -1. */
  sllPacketType = -1;
  /** Network layer: 4, 6, 'arp' or null. */
  network: 4 | 6 | 'arp' | null = null;
  /** Offset of the network header. */
  networkOffset = -1;
  /** IPv4 addresses as unsigned 32-bit numbers (IPv4 only). */
  source4 = 0;
  /** IPv4 destination as an unsigned 32-bit number. */
  destination4 = 0;
  /** Offsets of the 16-byte IPv6 addresses (IPv6 only). */
  source6Offset = -1;
  /** Offset of the IPv6 destination. */
  destination6Offset = -1;
  /** IPv4 TTL / IPv6 hop limit. */
  ttl = -1;
  /** IP header length including IPv6 extension headers. */
  ipHeaderLength = 0;
  /** IP total length from the header (IPv6: 40 + payload length). */
  ipTotalLength = 0;
  /** IPv4 identification. */
  ipId = -1;
  /** True for a fragment other than the first (no transport header). */
  laterFragment = false;
  /** True when more fragments follow. */
  moreFragments = false;
  /** Upper-layer protocol number, or -1. */
  ipProtocol = -1;
  /** Offset of the transport header, or -1 when not present in the captured bytes. */
  transportOffset = -1;
  /** TCP/UDP ports, or -1. */
  sourcePort = -1;
  /** TCP/UDP destination port, or -1. */
  destinationPort = -1;
  /** TCP fields (valid when ipProtocol is TCP and tcpHeaderLength > 0). */
  tcpSequence = 0;
  /** TCP acknowledgement number. */
  tcpAcknowledgement = 0;
  /** TCP flags byte. */
  tcpFlags = 0;
  /** TCP raw window (unscaled). */
  tcpWindow = 0;
  /** TCP header length (data offset × 4), 0 when not captured. */
  tcpHeaderLength = 0;
  /** TCP window-scale shift from a SYN's option, or -1. */
  tcpWindowScale = -1;
  /** ICMP/ICMPv6 type and code, or -1. */
  icmpType = -1;
  /** ICMP code. */
  icmpCode = -1;
  /** Offset of the transport payload in the captured bytes, or -1. */
  payloadOffset = -1;
  /** True payload length from the IP lengths (may exceed what was captured). */
  payloadLength = 0;
  /** ARP opcode, or -1. */
  arpOperation = -1;

  /** Dissects `data` of link type `linkType` into this object. */
  dissect(linkType: number, data: Buffer): void {
    this.reset();
    const n = data.length;
    switch (linkType) {
      case LinkType.ETHERNET:
        this.link = 'eth';
        if (n < 14) return;
        this.ethernetOffset = 0;
        this.etherTypeAt(data.readUInt16BE(12), data, 14);
        return;
      case LinkType.LINUX_SLL:
        this.link = 'sll';
        if (n < 16) return;
        this.sllPacketType = data.readUInt16BE(0);
        this.etherTypeAt(data.readUInt16BE(14), data, 16);
        return;
      case LinkType.LINUX_SLL2:
        this.link = 'sll2';
        if (n < 20) return;
        this.sllPacketType = data[10] as number;
        this.etherTypeAt(data.readUInt16BE(0), data, 20);
        return;
      case LinkType.RAW:
      case LinkType.IPV4:
      case LinkType.IPV6:
        this.link = 'raw';
        if (n < 1) return;
        this.ipByVersion(data, 0);
        return;
      case LinkType.NULL:
      case LinkType.LOOP: {
        this.link = 'null';
        if (n < 4) return;
        const be = data.readUInt32BE(0);
        const family = be < 0x10000 ? be : data.readUInt32LE(0);
        if (family === 2) this.ipv4(data, 4);
        else if (AF_INET6_VALUES.has(family)) this.ipv6(data, 4);
        return;
      }
      default:
        this.link = 'other';
    }
  }

  private reset(): void {
    this.ethernetOffset = -1;
    this.vlanTags = 0;
    this.vlanId = -1;
    this.etherType = -1;
    this.sllPacketType = -1;
    this.network = null;
    this.networkOffset = -1;
    this.source4 = 0;
    this.destination4 = 0;
    this.source6Offset = -1;
    this.destination6Offset = -1;
    this.ttl = -1;
    this.ipHeaderLength = 0;
    this.ipTotalLength = 0;
    this.ipId = -1;
    this.laterFragment = false;
    this.moreFragments = false;
    this.ipProtocol = -1;
    this.transportOffset = -1;
    this.sourcePort = -1;
    this.destinationPort = -1;
    this.tcpSequence = 0;
    this.tcpAcknowledgement = 0;
    this.tcpFlags = 0;
    this.tcpWindow = 0;
    this.tcpHeaderLength = 0;
    this.tcpWindowScale = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.payloadOffset = -1;
    this.payloadLength = 0;
    this.arpOperation = -1;
  }

  private etherTypeAt(etherType: number, data: Buffer, offset: number): void {
    while (VLAN_ETHERTYPES.has(etherType)) {
      if (data.length < offset + 4) return;
      if (this.vlanId < 0) this.vlanId = data.readUInt16BE(offset) & 0x0fff;
      this.vlanTags++;
      etherType = data.readUInt16BE(offset + 2);
      offset += 4;
    }
    this.etherType = etherType;
    if (etherType === EtherType.IPV4) this.ipv4(data, offset);
    else if (etherType === EtherType.IPV6) this.ipv6(data, offset);
    else if (etherType === EtherType.ARP) {
      this.network = 'arp';
      this.networkOffset = offset;
      if (data.length >= offset + 8) this.arpOperation = data.readUInt16BE(offset + 6);
    }
  }

  private ipByVersion(data: Buffer, offset: number): void {
    const version = (data[offset] as number) >> 4;
    if (version === 4) this.ipv4(data, offset);
    else if (version === 6) this.ipv6(data, offset);
  }

  private ipv4(data: Buffer, offset: number): void {
    if (data.length < offset + 20 || (data[offset] as number) >> 4 !== 4) return;
    const headerLength = ((data[offset] as number) & 0x0f) * 4;
    if (headerLength < 20) return;
    this.network = 4;
    this.networkOffset = offset;
    this.ipHeaderLength = headerLength;
    this.ipTotalLength = data.readUInt16BE(offset + 2);
    this.ipId = data.readUInt16BE(offset + 4);
    const fragment = data.readUInt16BE(offset + 6);
    this.moreFragments = (fragment & 0x2000) !== 0;
    this.laterFragment = (fragment & 0x1fff) !== 0;
    this.ttl = data[offset + 8] as number;
    this.ipProtocol = data[offset + 9] as number;
    this.source4 = data.readUInt32BE(offset + 12);
    this.destination4 = data.readUInt32BE(offset + 16);
    if (this.laterFragment) return;
    // A TSO/GRO capture may carry 0 as total length; the captured bytes are the best bound then.
    const total = this.ipTotalLength >= headerLength ? this.ipTotalLength : data.length - offset;
    this.transport(data, offset + headerLength, total - headerLength);
  }

  private ipv6(data: Buffer, offset: number): void {
    if (data.length < offset + 40 || (data[offset] as number) >> 4 !== 6) return;
    this.network = 6;
    this.networkOffset = offset;
    this.source6Offset = offset + 8;
    this.destination6Offset = offset + 24;
    this.ttl = data[offset + 7] as number;
    const payloadLength = data.readUInt16BE(offset + 4);
    this.ipTotalLength = 40 + payloadLength;
    let next = data[offset + 6] as number;
    let cursor = offset + 40;
    // Extension headers (RFC 8200 §4): hop-by-hop, routing, destination options, fragment, AH.
    for (;;) {
      if (next === 0 || next === 43 || next === 60) {
        if (data.length < cursor + 2) {
          this.ipProtocol = next;
          return;
        }
        next = data[cursor] as number;
        cursor += ((data[cursor + 1] as number) + 1) * 8;
      } else if (next === 44) {
        if (data.length < cursor + 8) {
          this.ipProtocol = next;
          return;
        }
        const fragment = data.readUInt16BE(cursor + 2);
        this.laterFragment = fragment >> 3 !== 0;
        this.moreFragments = (fragment & 1) !== 0;
        next = data[cursor] as number;
        cursor += 8;
      } else if (next === 51) {
        if (data.length < cursor + 2) {
          this.ipProtocol = next;
          return;
        }
        next = data[cursor] as number;
        cursor += ((data[cursor + 1] as number) + 2) * 4;
      } else break;
    }
    this.ipProtocol = next;
    this.ipHeaderLength = cursor - offset;
    if (this.laterFragment) return;
    const upper = payloadLength > 0 ? this.ipTotalLength - this.ipHeaderLength : data.length - cursor;
    this.transport(data, cursor, upper);
  }

  private transport(data: Buffer, offset: number, length: number): void {
    const n = data.length;
    const proto = this.ipProtocol;
    if (proto === IpProtocol.TCP) {
      if (n < offset + 4) return;
      this.transportOffset = offset;
      this.sourcePort = data.readUInt16BE(offset);
      this.destinationPort = data.readUInt16BE(offset + 2);
      if (n < offset + 20) return;
      this.tcpSequence = data.readUInt32BE(offset + 4);
      this.tcpAcknowledgement = data.readUInt32BE(offset + 8);
      const headerLength = ((data[offset + 12] as number) >> 4) * 4;
      this.tcpFlags = data[offset + 13] as number;
      this.tcpWindow = data.readUInt16BE(offset + 14);
      if (headerLength < 20) return;
      this.tcpHeaderLength = headerLength;
      if ((this.tcpFlags & TcpFlag.SYN) !== 0)
        this.windowScaleOption(data, offset + 20, Math.min(n, offset + headerLength));
      this.payloadOffset = offset + headerLength;
      this.payloadLength = Math.max(0, length - headerLength);
    } else if (proto === IpProtocol.UDP) {
      if (n < offset + 4) return;
      this.transportOffset = offset;
      this.sourcePort = data.readUInt16BE(offset);
      this.destinationPort = data.readUInt16BE(offset + 2);
      this.payloadOffset = offset + 8;
      this.payloadLength = Math.max(0, length - 8);
    } else if (proto === IpProtocol.ICMP || proto === IpProtocol.ICMPV6) {
      if (n < offset + 2) return;
      this.transportOffset = offset;
      this.icmpType = data[offset] as number;
      this.icmpCode = data[offset + 1] as number;
      this.payloadOffset = offset + 4;
      this.payloadLength = Math.max(0, length - 4);
    }
  }

  private windowScaleOption(data: Buffer, start: number, end: number): void {
    let o = start;
    while (o < end) {
      const kind = data[o] as number;
      if (kind === 0) return;
      if (kind === 1) {
        o++;
        continue;
      }
      if (o + 1 >= end) return;
      const len = data[o + 1] as number;
      if (len < 2) return;
      if (kind === 3 && len === 3 && o + 2 < end) {
        this.tcpWindowScale = Math.min(14, data[o + 2] as number);
        return;
      }
      o += len;
    }
  }

  /** Bytes of the transport payload present in the capture. */
  capturedPayloadLength(data: Buffer): number {
    if (this.payloadOffset < 0) return 0;
    return Math.max(0, Math.min(this.payloadLength, data.length - this.payloadOffset));
  }
}
