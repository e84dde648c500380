// Minimal packet dissection: link layer → IPv4/IPv6 → TCP/UDP/ICMP, enough to summarise
// conversations and to check what a capture holds. Truncated packets (small snap lengths)
// decode as far as their bytes go; missing fields are null rather than errors.
import { LinkType } from './format.js';
import { formatIPv4, formatIPv6 } from './ip-text.js';

/** What decodePacket found in one captured packet. */
export interface DecodedPacket {
  /** IP version, or null when the packet is not IP (ARP, LLDP …) or the link type is unknown. */
  family: 4 | 6 | null;
  /** Transport protocol; 'OTHER' for anything else, including non-IP packets. */
  protocol: 'TCP' | 'UDP' | 'ICMP' | 'ICMPv6' | 'OTHER';
  /** Source address in canonical text form (IPv6 compressed as node:net prints it). */
  sourceAddress: string | null;
  /** Destination address in canonical text form. */
  destinationAddress: string | null;
  /** TCP/UDP source port; null for other protocols, non-first fragments and truncated headers. */
  sourcePort: number | null;
  /** TCP/UDP destination port; null as for sourcePort. */
  destinationPort: number | null;
  /** Direction from the capturing host's view, known only for Linux cooked captures (SLL/SLL2). */
  direction?: 'in' | 'out' | 'unknown';
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
// 802.1Q, 802.1ad (QinQ) and the old pre-standard QinQ tag.
const VLAN_ETHERTYPES = new Set([0x8100, 0x88a8, 0x9100]);

const IPPROTO_HOPOPTS = 0;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_DSTOPTS = 60;

// Linux AF_INET6 differs between systems; a BSD NULL/LOOP header may carry any of these.
const AF_INET = 2;
const AF_INET6_VALUES = new Set([10, 24, 28, 30]);

// sll_pkttype values (linux/if_packet.h). HOST, BROADCAST, MULTICAST and OTHERHOST are all
// packets received on the wire; OUTGOING is one this host sent.
const PACKET_OUTGOING = 4;

/** A packet with no recognisable IP content. */
function notIp(direction: DecodedPacket['direction']): DecodedPacket {
  return {
    family: null,
    protocol: 'OTHER',
    sourceAddress: null,
    destinationAddress: null,
    sourcePort: null,
    destinationPort: null,
    direction,
  };
}

function directionFromPacketType(packetType: number): DecodedPacket['direction'] {
  if (packetType === PACKET_OUTGOING) return 'out';
  if (packetType >= 0 && packetType <= 3) return 'in';
  return 'unknown';
}

/**
 * Decodes the IP and transport headers of one captured packet.
 * @example decodePacket(LinkType.ETHERNET, record.data).destinationPort
 */
export function decodePacket(linkType: number, data: Buffer): DecodedPacket {
  switch (linkType) {
    case LinkType.ETHERNET:
      if (data.length < 14) return notIp('unknown');
      return decodeEthertype(data.readUInt16BE(12), data, 14, 'unknown');
    case LinkType.RAW:
      return decodeIpByVersion(data, 0, 'unknown');
    case LinkType.IPV4:
      return decodeIPv4(data, 0, 'unknown');
    case LinkType.IPV6:
      return decodeIPv6(data, 0, 'unknown');
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (data.length < 4) return notIp('unknown');
      // NULL uses the writer's byte order, LOOP network order; the value is small, so try both.
      const be = data.readUInt32BE(0);
      const family = be < 0x10000 ? be : data.readUInt32LE(0);
      if (family === AF_INET) return decodeIPv4(data, 4, 'unknown');
      if (AF_INET6_VALUES.has(family)) return decodeIPv6(data, 4, 'unknown');
      return notIp('unknown');
    }
    case LinkType.LINUX_SLL: {
      // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
      if (data.length < 16) return notIp(data.length >= 2 ? directionFromPacketType(data.readUInt16BE(0)) : 'unknown');
      return decodeEthertype(data.readUInt16BE(14), data, 16, directionFromPacketType(data.readUInt16BE(0)));
    }
    case LinkType.LINUX_SLL2: {
      // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      if (data.length < 20) return notIp(data.length >= 11 ? directionFromPacketType(data.readUInt8(10)) : 'unknown');
      return decodeEthertype(data.readUInt16BE(0), data, 20, directionFromPacketType(data.readUInt8(10)));
    }
    default:
      return notIp('unknown');
  }
}

function decodeEthertype(
  ethertype: number,
  data: Buffer,
  offset: number,
  direction: DecodedPacket['direction'],
): DecodedPacket {
  // Skip any number of VLAN tags (4 bytes each: TCI then the inner ethertype).
  while (VLAN_ETHERTYPES.has(ethertype)) {
    if (data.length < offset + 4) return notIp(direction);
    ethertype = data.readUInt16BE(offset + 2);
    offset += 4;
  }
  if (ethertype === ETHERTYPE_IPV4) return decodeIPv4(data, offset, direction);
  if (ethertype === ETHERTYPE_IPV6) return decodeIPv6(data, offset, direction);
  return notIp(direction);
}

function decodeIpByVersion(data: Buffer, offset: number, direction: DecodedPacket['direction']): DecodedPacket {
  if (data.length <= offset) return notIp(direction);
  const version = (data[offset] as number) >> 4;
  if (version === 4) return decodeIPv4(data, offset, direction);
  if (version === 6) return decodeIPv6(data, offset, direction);
  return notIp(direction);
}

function decodeIPv4(data: Buffer, offset: number, direction: DecodedPacket['direction']): DecodedPacket {
  if (data.length < offset + 20 || (data[offset] as number) >> 4 !== 4) return notIp(direction);
  const headerLength = ((data[offset] as number) & 0x0f) * 4;
  const protocolNumber = data[offset + 9] as number;
  const fragmentOffset = data.readUInt16BE(offset + 6) & 0x1fff;
  const packet: DecodedPacket = {
    family: 4,
    protocol: transportName(protocolNumber, 4),
    sourceAddress: formatIPv4(data, offset + 12),
    destinationAddress: formatIPv4(data, offset + 16),
    sourcePort: null,
    destinationPort: null,
    direction,
  };
  // Only the first fragment (offset 0) carries the transport header.
  if (headerLength >= 20 && fragmentOffset === 0) readPorts(packet, data, offset + headerLength);
  return packet;
}

function decodeIPv6(data: Buffer, offset: number, direction: DecodedPacket['direction']): DecodedPacket {
  if (data.length < offset + 40 || (data[offset] as number) >> 4 !== 6) return notIp(direction);
  const packet: DecodedPacket = {
    family: 6,
    protocol: 'OTHER',
    sourceAddress: formatIPv6(data, offset + 8),
    destinationAddress: formatIPv6(data, offset + 24),
    sourcePort: null,
    destinationPort: null,
    direction,
  };
  let nextHeader = data[offset + 6] as number;
  let cursor = offset + 40;
  let firstFragment = true;
  // Walk the extension-header chain to the upper-layer header (RFC 8200 §4).
  for (;;) {
    if (nextHeader === IPPROTO_HOPOPTS || nextHeader === IPPROTO_ROUTING || nextHeader === IPPROTO_DSTOPTS) {
      if (data.length < cursor + 2) return packet;
      const length = ((data[cursor + 1] as number) + 1) * 8;
      nextHeader = data[cursor] as number;
      cursor += length;
    } else if (nextHeader === IPPROTO_FRAGMENT) {
      if (data.length < cursor + 8) return packet;
      if (data.readUInt16BE(cursor + 2) >> 3 !== 0) firstFragment = false;
      nextHeader = data[cursor] as number;
      cursor += 8;
    } else if (nextHeader === IPPROTO_AH) {
      // AH counts its length in 4-byte units, minus 2 (RFC 4302 §2.2).
      if (data.length < cursor + 2) return packet;
      const length = ((data[cursor + 1] as number) + 2) * 4;
      nextHeader = data[cursor] as number;
      cursor += length;
    } else {
      break;
    }
  }
  packet.protocol = transportName(nextHeader, 6);
  if (firstFragment) readPorts(packet, data, cursor);
  return packet;
}

function transportName(protocolNumber: number, family: 4 | 6): DecodedPacket['protocol'] {
  if (protocolNumber === IPPROTO_TCP) return 'TCP';
  if (protocolNumber === IPPROTO_UDP) return 'UDP';
  if (protocolNumber === IPPROTO_ICMP && family === 4) return 'ICMP';
  if (protocolNumber === IPPROTO_ICMPV6 && family === 6) return 'ICMPv6';
  return 'OTHER';
}

function readPorts(packet: DecodedPacket, data: Buffer, offset: number): void {
  // TCP and UDP both start with source port then destination port.
  if ((packet.protocol === 'TCP' || packet.protocol === 'UDP') && data.length >= offset + 4) {
    packet.sourcePort = data.readUInt16BE(offset);
    packet.destinationPort = data.readUInt16BE(offset + 2);
  }
}
