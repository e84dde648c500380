// Synthetic Ethernet frames for tests and benchmarks: one packet described by its addresses,
// protocol and ports, encoded byte-for-byte as it would appear on the wire.
import { isIPv4, isIPv6 } from 'node:net';
import { parseIpv6Words } from '../lib/ipv6-words.js';

/** What buildFrame encodes. */
export interface FrameSpec {
  /** IP version. */
  family: 4 | 6;
  /** Transport: TCP, UDP, or ICMP (ICMPv6 for family 6); ICMP frames are echo requests. */
  protocol: 'TCP' | 'UDP' | 'ICMP';
  /** Source address text of the given family (dotted quad or RFC 4291 IPv6). */
  sourceAddress: string;
  /** Destination address text of the given family. */
  destinationAddress: string;
  /** TCP/UDP source port (0-65535); required for TCP and UDP, ignored for ICMP. */
  sourcePort?: number;
  /** TCP/UDP destination port (0-65535); required for TCP and UDP, ignored for ICMP. */
  destinationPort?: number;
  /** Payload bytes after the transport header (default 0); filled with a repeating 0x00-0xff pattern. */
  payloadBytes?: number;
  /** Exact payload bytes (instead of payloadBytes' pattern): a DNS message, a TLS record … */
  payload?: Buffer;
  /** TCP sequence number (default 1). */
  tcpSequence?: number;
  /** TCP acknowledgement number (default 1). */
  tcpAcknowledgement?: number;
  /** TCP flags byte (default ACK+PSH, 0x18). */
  tcpFlags?: number;
  /** TCP window (default 65535). */
  tcpWindow?: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IP_PROTOCOL = { TCP: 6, UDP: 17, ICMP: 1, ICMPV6: 58 } as const;
// Locally administered unicast MACs (the 0x02 bit): never a real vendor's address.
const MIN_FRAME_BYTES = 60;
const SOURCE_MAC = Buffer.from('020000000001', 'hex');
const DESTINATION_MAC = Buffer.from('020000000002', 'hex');

/**
 * A valid Ethernet II frame: IPv4 (header checksum correct, DF set, TTL 64) or IPv6 (hop limit 64,
 * no extension headers), then TCP (ACK+PSH), UDP or ICMP/ICMPv6 echo request, all with correct
 * checksums, so tcpdump -vv and Wireshark show no errors; padded with zeros to Ethernet's 60-byte minimum.
 * @example buildFrame({ family: 4, protocol: 'UDP', sourceAddress: '10.0.0.1', destinationAddress: '10.0.0.2', sourcePort: 5353, destinationPort: 53 })
 */
export function buildFrame(p: FrameSpec): Buffer {
  const source = addressBytes(p.sourceAddress, p.family, 'sourceAddress');
  const destination = addressBytes(p.destinationAddress, p.family, 'destinationAddress');
  const payloadBytes = p.payload?.length ?? p.payloadBytes ?? 0;
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > 9000) {
    throw new RangeError(`payloadBytes must be a whole number 0-9000, got ${payloadBytes}`);
  }
  let payload = p.payload;
  if (payload === undefined) {
    payload = Buffer.alloc(payloadBytes);
    for (let i = 0; i < payloadBytes; i++) payload[i] = i & 0xff;
  }

  const protocolNumber =
    p.protocol === 'TCP'
      ? IP_PROTOCOL.TCP
      : p.protocol === 'UDP'
        ? IP_PROTOCOL.UDP
        : p.family === 4
          ? IP_PROTOCOL.ICMP
          : IP_PROTOCOL.ICMPV6;
  const transport = transportSegment(p, payload);
  // TCP, UDP and ICMPv6 checksums cover a pseudo-header of the IP addresses; ICMPv4's does not.
  const pseudoHeader =
    protocolNumber === IP_PROTOCOL.ICMP
      ? Buffer.alloc(0)
      : makePseudoHeader(source, destination, protocolNumber, transport.length);
  let checksum = internetChecksum(Buffer.concat([pseudoHeader, transport]));
  // In UDP a zero checksum means "none" (and is illegal over IPv6), so a computed zero is sent as 0xffff.
  if (protocolNumber === IP_PROTOCOL.UDP && checksum === 0) checksum = 0xffff;
  transport.writeUInt16BE(checksum, checksumOffset(p.protocol));

  const ip =
    p.family === 4
      ? ipv4Header(source, destination, protocolNumber, transport.length)
      : ipv6Header(source, destination, protocolNumber, transport.length);
  const ethernet = Buffer.alloc(14);
  DESTINATION_MAC.copy(ethernet, 0);
  SOURCE_MAC.copy(ethernet, 6);
  ethernet.writeUInt16BE(p.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, 12);
  const frame = Buffer.concat([ethernet, ip, transport]);
  // 802.3 frames are at least 60 bytes before the FCS; the IP length fields tell receivers where the packet ends.
  return frame.length >= MIN_FRAME_BYTES ? frame : Buffer.concat([frame, Buffer.alloc(MIN_FRAME_BYTES - frame.length)]);
}

function transportSegment(p: FrameSpec, payload: Buffer): Buffer {
  if (p.protocol === 'ICMP') {
    const header = Buffer.alloc(8);
    header.writeUInt8(p.family === 4 ? 8 : 128, 0); // echo request (ICMP type 8, ICMPv6 type 128)
    header.writeUInt16BE(0x4e57, 4); // identifier
    header.writeUInt16BE(1, 6); // sequence
    return Buffer.concat([header, payload]);
  }
  const sourcePort = port(p.sourcePort, 'sourcePort', p.protocol);
  const destinationPort = port(p.destinationPort, 'destinationPort', p.protocol);
  if (p.protocol === 'UDP') {
    const header = Buffer.alloc(8);
    header.writeUInt16BE(sourcePort, 0);
    header.writeUInt16BE(destinationPort, 2);
    header.writeUInt16BE(8 + payload.length, 4);
    return Buffer.concat([header, payload]);
  }
  const header = Buffer.alloc(20);
  header.writeUInt16BE(sourcePort, 0);
  header.writeUInt16BE(destinationPort, 2);
  header.writeUInt32BE((p.tcpSequence ?? 1) >>> 0, 4);
  header.writeUInt32BE((p.tcpAcknowledgement ?? 1) >>> 0, 8);
  header.writeUInt8(5 << 4, 12); // data offset: 5 words, no options
  header.writeUInt8(p.tcpFlags ?? 0x18, 13); // default ACK + PSH
  header.writeUInt16BE(p.tcpWindow ?? 65535, 14);
  return Buffer.concat([header, payload]);
}

function checksumOffset(protocol: FrameSpec['protocol']): number {
  return protocol === 'TCP' ? 16 : protocol === 'UDP' ? 6 : 2;
}

function port(value: number | undefined, name: string, protocol: string): number {
  if (value === undefined) throw new RangeError(`${name} is required for ${protocol}`);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new RangeError(`${name} must be 0-65535, got ${value}`);
  return value;
}

function ipv4Header(source: Buffer, destination: Buffer, protocolNumber: number, transportLength: number): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt8(0x45, 0); // version 4, header length 5 words
  header.writeUInt16BE(20 + transportLength, 2);
  header.writeUInt16BE(0x4000, 6); // DF, fragment offset 0: a whole datagram whose ports BPF can read
  header.writeUInt8(64, 8);
  header.writeUInt8(protocolNumber, 9);
  source.copy(header, 12);
  destination.copy(header, 16);
  header.writeUInt16BE(internetChecksum(header), 10);
  return header;
}

function ipv6Header(source: Buffer, destination: Buffer, nextHeader: number, transportLength: number): Buffer {
  const header = Buffer.alloc(40);
  header.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  header.writeUInt16BE(transportLength, 4);
  header.writeUInt8(nextHeader, 6);
  header.writeUInt8(64, 7);
  source.copy(header, 8);
  destination.copy(header, 24);
  return header;
}

function makePseudoHeader(source: Buffer, destination: Buffer, protocolNumber: number, length: number): Buffer {
  if (source.length === 4) {
    const tail = Buffer.alloc(4);
    tail.writeUInt8(protocolNumber, 1);
    tail.writeUInt16BE(length, 2);
    return Buffer.concat([source, destination, tail]);
  }
  const tail = Buffer.alloc(8);
  tail.writeUInt32BE(length, 0);
  tail.writeUInt8(protocolNumber, 7);
  return Buffer.concat([source, destination, tail]);
}

/**
 * An Ethernet frame turned into a Linux cooked capture (what `tcpdump -i any` writes): SLL v1's
 * 16-byte header or SLL2's 20-byte one in place of the Ethernet header, `packetType` 0 (to us) or
 * 4 (sent by us).
 * @example withLinuxCookedHeader(buildFrame(spec), 2, 4)
 */
export function withLinuxCookedHeader(
  ethernetFrame: Buffer,
  version: 1 | 2,
  packetType = 0,
  interfaceIndex = 1,
): Buffer {
  const etherType = ethernetFrame.readUInt16BE(12);
  const sourceMac = ethernetFrame.subarray(6, 12);
  // The IP length says where the packet ends; Ethernet's minimum-size padding is not carried over.
  const ipLength =
    etherType === ETHERTYPE_IPV4
      ? ethernetFrame.readUInt16BE(16)
      : etherType === ETHERTYPE_IPV6
        ? 40 + ethernetFrame.readUInt16BE(18)
        : ethernetFrame.length - 14;
  const body = ethernetFrame.subarray(14, 14 + ipLength);
  const header = Buffer.alloc(version === 1 ? 16 : 20);
  if (version === 1) {
    header.writeUInt16BE(packetType, 0);
    header.writeUInt16BE(1, 2); // ARPHRD_ETHER
    header.writeUInt16BE(6, 4);
    sourceMac.copy(header, 6);
    header.writeUInt16BE(etherType, 14);
  } else {
    header.writeUInt16BE(etherType, 0);
    header.writeUInt32BE(interfaceIndex, 4);
    header.writeUInt16BE(1, 8); // ARPHRD_ETHER
    header.writeUInt8(packetType, 10);
    header.writeUInt8(6, 11);
    sourceMac.copy(header, 12);
  }
  return Buffer.concat([header, body]);
}

/**
 * RFC 1071 Internet checksum: one's complement of the one's-complement sum of 16-bit words.
 * @example internetChecksum(Buffer.from([0, 1])) === 0xfffe
 */
export function internetChecksum(data: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += data.readUInt16BE(i);
  if (data.length % 2 === 1) sum += (data[data.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function addressBytes(text: string, family: 4 | 6, name: string): Buffer {
  if (family === 4) {
    if (!isIPv4(text)) throw new RangeError(`${name} ${JSON.stringify(text)} is not a dotted-quad IPv4 address`);
    return Buffer.from(text.split('.').map(Number));
  }
  if (!isIPv6(text) || text.includes('%'))
    throw new RangeError(`${name} ${JSON.stringify(text)} is not an IPv6 address`);
  return ipv6Bytes(text);
}

/**
 * The 16 bytes of an IPv6 address text (inet_pton's rules; RangeError otherwise).
 * @example ipv6Bytes('::1')[15] === 1
 */
export function ipv6Bytes(text: string): Buffer {
  const parsed = parseIpv6Words(text);
  if (!parsed.ok) throw new RangeError(`${JSON.stringify(text)} is not an IPv6 address: ${parsed.reason}`);
  const out = Buffer.alloc(16);
  parsed.words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}
