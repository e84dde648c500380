// One packet of the packet list: its layers decoded into named fields (the display filter's
// names) and a one-line summary in the spirit of Wireshark's Info column.
import type { PacketLayer, PacketRow } from '../model/index.js';
import {
  EtherType,
  IpProtocol,
  TcpFlag,
  dnsRcodeName,
  dnsTypeName,
  formatIPv4,
  formatIPv6,
  parseDnsMessage,
  parseTlsClientHello,
} from '../pcap/index.js';
import type { CapturePacket, PacketDissection } from '../pcap/index.js';
import { appProtocolOf } from './app-protocol.js';
import { ipv4Text, isoTime } from './text.js';

const mac = (b: Buffer, at: number): string =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const hex4 = (v: number): string => `0x${v.toString(16).padStart(4, '0')}`;
const FLAG_NAMES: Array<[number, string]> = [
  [TcpFlag.SYN, 'SYN'],
  [TcpFlag.FIN, 'FIN'],
  [TcpFlag.RST, 'RST'],
  [TcpFlag.PSH, 'PSH'],
  [TcpFlag.ACK, 'ACK'],
  [TcpFlag.URG, 'URG'],
  [TcpFlag.ECE, 'ECE'],
  [TcpFlag.CWR, 'CWR'],
];
const ICMP_NAMES: Record<number, string> = {
  0: 'Echo (ping) reply',
  3: 'Destination unreachable',
  5: 'Redirect',
  8: 'Echo (ping) request',
  11: 'Time-to-live exceeded',
};
const ICMPV6_NAMES: Record<number, string> = {
  1: 'Destination Unreachable',
  3: 'Time Exceeded',
  128: 'Echo (ping) request',
  129: 'Echo (ping) reply',
  133: 'Router Solicitation',
  134: 'Router Advertisement',
  135: 'Neighbor Solicitation',
  136: 'Neighbor Advertisement',
};

/**
 * Decodes one packet (already dissected into `d`) into a packet-list row.
 * @example packetRow(packet, dissection, 1, 0)
 */
export function packetRow(
  p: CapturePacket,
  d: PacketDissection,
  number: number,
  relativeTimeInSeconds: number,
): PacketRow {
  const data = p.data;
  const layers: PacketLayer[] = [];
  let protocol = d.link === 'other' ? `LINKTYPE_${p.linkType}` : d.link;
  let source: string | null = null;
  let destination: string | null = null;
  let info = '';

  if (d.link === 'eth' && data.length >= 14) {
    const fields: PacketLayer['fields'] = {
      'eth.src': mac(data, 6),
      'eth.dst': mac(data, 0),
      'eth.type': hex4(d.etherType < 0 ? data.readUInt16BE(12) : d.etherType),
    };
    if (d.vlanId >= 0) fields['vlan.id'] = d.vlanId;
    layers.push({ layer: 'eth', summary: `Ethernet II, Src: ${fields['eth.src']}, Dst: ${fields['eth.dst']}`, fields });
    source = fields['eth.src'] as string;
    destination = fields['eth.dst'] as string;
    protocol = 'eth';
  } else if ((d.link === 'sll' || d.link === 'sll2') && d.sllPacketType >= 0) {
    const v2 = d.link === 'sll2';
    const halen = v2 ? (data[11] as number) : data.readUInt16BE(4);
    const addrAt = v2 ? 12 : 6;
    const fields: PacketLayer['fields'] = {
      'sll.pkttype': d.sllPacketType,
      'sll.etype': hex4(d.etherType),
      'sll.src': halen === 6 ? mac(data, addrAt) : null,
    };
    if (v2) fields['sll.ifindex'] = data.readUInt32BE(4);
    layers.push({ layer: d.link, summary: `Linux cooked capture v${v2 ? 2 : 1}`, fields });
    protocol = 'sll';
  }

  if (d.network === 'arp' && data.length >= d.networkOffset + 28) {
    const o = d.networkOffset;
    const senderIp = formatIPv4(data, o + 14);
    const targetIp = formatIPv4(data, o + 24);
    const fields = {
      'arp.opcode': d.arpOperation,
      'arp.src.hw_mac': mac(data, o + 8),
      'arp.src.proto_ipv4': senderIp,
      'arp.dst.hw_mac': mac(data, o + 18),
      'arp.dst.proto_ipv4': targetIp,
    };
    info =
      d.arpOperation === 1
        ? `Who has ${targetIp}? Tell ${senderIp}`
        : d.arpOperation === 2
          ? `${senderIp} is at ${fields['arp.src.hw_mac']}`
          : `ARP opcode ${d.arpOperation}`;
    layers.push({
      layer: 'arp',
      summary: `Address Resolution Protocol (${d.arpOperation === 1 ? 'request' : d.arpOperation === 2 ? 'reply' : d.arpOperation})`,
      fields,
    });
    protocol = 'arp';
  } else if (d.network === 4) {
    source = ipv4Text(d.source4);
    destination = ipv4Text(d.destination4);
    const flags = data.readUInt16BE(d.networkOffset + 6);
    layers.push({
      layer: 'ip',
      summary: `Internet Protocol Version 4, Src: ${source}, Dst: ${destination}`,
      fields: {
        'ip.src': source,
        'ip.dst': destination,
        'ip.ttl': d.ttl,
        'ip.proto': d.ipProtocol,
        'ip.len': d.ipTotalLength,
        'ip.id': hex4(d.ipId),
        'ip.flags.df': (flags & 0x4000) !== 0,
        'ip.flags.mf': d.moreFragments,
        'ip.frag_offset': (flags & 0x1fff) * 8,
      },
    });
    protocol = 'ip';
  } else if (d.network === 6) {
    source = formatIPv6(data, d.source6Offset);
    destination = formatIPv6(data, d.destination6Offset);
    layers.push({
      layer: 'ipv6',
      summary: `Internet Protocol Version 6, Src: ${source}, Dst: ${destination}`,
      fields: {
        'ipv6.src': source,
        'ipv6.dst': destination,
        'ipv6.hlim': d.ttl,
        'ipv6.nxt': d.ipProtocol,
        'ipv6.plen': d.ipTotalLength - 40,
      },
    });
    protocol = 'ipv6';
  }

  if (d.network === 4 || d.network === 6) {
    if (d.laterFragment) {
      info = `Fragmented IP protocol (proto=${d.ipProtocol})`;
    } else if (d.ipProtocol === IpProtocol.TCP && d.tcpHeaderLength > 0) {
      const names = FLAG_NAMES.filter(([bit]) => (d.tcpFlags & bit) !== 0).map(([, n]) => n);
      layers.push({
        layer: 'tcp',
        summary: `Transmission Control Protocol, Src Port: ${d.sourcePort}, Dst Port: ${d.destinationPort}, Len: ${d.payloadLength}`,
        fields: {
          'tcp.srcport': d.sourcePort,
          'tcp.dstport': d.destinationPort,
          'tcp.seq': d.tcpSequence,
          'tcp.ack': d.tcpAcknowledgement,
          'tcp.flags': names.join(', '),
          'tcp.window_size_value': d.tcpWindow,
          'tcp.len': d.payloadLength,
          'tcp.hdr_len': d.tcpHeaderLength,
        },
      });
      protocol = 'tcp';
      info = `${d.sourcePort} → ${d.destinationPort} [${names.join(', ')}] Seq=${d.tcpSequence}${(d.tcpFlags & TcpFlag.ACK) !== 0 ? ` Ack=${d.tcpAcknowledgement}` : ''} Win=${d.tcpWindow} Len=${d.payloadLength}`;
    } else if (d.ipProtocol === IpProtocol.UDP && d.transportOffset >= 0) {
      layers.push({
        layer: 'udp',
        summary: `User Datagram Protocol, Src Port: ${d.sourcePort}, Dst Port: ${d.destinationPort}`,
        fields: { 'udp.srcport': d.sourcePort, 'udp.dstport': d.destinationPort, 'udp.length': d.payloadLength + 8 },
      });
      protocol = 'udp';
      info = `${d.sourcePort} → ${d.destinationPort} Len=${d.payloadLength}`;
    } else if ((d.ipProtocol === IpProtocol.ICMP || d.ipProtocol === IpProtocol.ICMPV6) && d.icmpType >= 0) {
      const v6 = d.ipProtocol === IpProtocol.ICMPV6;
      const name = (v6 ? ICMPV6_NAMES : ICMP_NAMES)[d.icmpType] ?? `type ${d.icmpType}`;
      layers.push({
        layer: v6 ? 'icmpv6' : 'icmp',
        summary: `${v6 ? 'Internet Control Message Protocol v6' : 'Internet Control Message Protocol'}: ${name}`,
        fields: { [`${v6 ? 'icmpv6' : 'icmp'}.type`]: d.icmpType, [`${v6 ? 'icmpv6' : 'icmp'}.code`]: d.icmpCode },
      });
      protocol = v6 ? 'icmpv6' : 'icmp';
      info = name;
    }
    const app = appProtocolOf(d, data);
    if (app === 'dns') {
      const skip = d.ipProtocol === IpProtocol.TCP ? 2 : 0;
      const m = parseDnsMessage(data, d.payloadOffset + skip, d.payloadLength - skip);
      if (m) {
        const q = m.questions[0];
        const fields: PacketLayer['fields'] = {
          'dns.id': hex4(m.id),
          'dns.flags.response': m.response,
          'dns.flags.rcode': m.response ? dnsRcodeName(m.rcode) : null,
          'dns.qry.name': q?.name ?? null,
          'dns.qry.type': q ? dnsTypeName(q.type) : null,
          'dns.count.answers': m.answerCount,
        };
        m.answers.slice(0, 8).forEach((a, i) => {
          fields[`dns.resp.${i}`] = `${a.name} ${dnsTypeName(a.type)} ${a.data ?? ''}`.trim();
        });
        const what = q ? ` ${dnsTypeName(q.type)} ${q.name}` : '';
        info = m.response
          ? `Standard query response ${hex4(m.id)}${m.rcode !== 0 ? ` ${dnsRcodeName(m.rcode)}` : ''}${what}${m.answers.map((a) => ` ${dnsTypeName(a.type)} ${a.data ?? ''}`).join('')}`
          : `Standard query ${hex4(m.id)}${what}`;
        layers.push({ layer: 'dns', summary: `Domain Name System (${m.response ? 'response' : 'query'})`, fields });
        protocol = 'dns';
      }
    } else if (app === 'tls') {
      const available = Math.min(d.payloadLength, data.length - d.payloadOffset);
      const hello = parseTlsClientHello(data, d.payloadOffset, available);
      const fields: PacketLayer['fields'] = {
        'tls.record.content_type': available > 0 ? (data[d.payloadOffset] as number) : null,
      };
      if (hello) fields['tls.handshake.extensions_server_name'] = hello.serverName;
      layers.push({
        layer: 'tls',
        summary: hello ? 'Transport Layer Security: Client Hello' : 'Transport Layer Security',
        fields,
      });
      protocol = 'tls';
      if (hello) info = `Client Hello${hello.serverName ? ` (SNI=${hello.serverName})` : ''}`;
    } else if (app === 'http') {
      const available = Math.min(d.payloadLength, data.length - d.payloadOffset);
      const text = data.toString('latin1', d.payloadOffset, d.payloadOffset + Math.min(available, 200));
      const line = text.split('\r\n')[0] ?? '';
      layers.push({ layer: 'http', summary: 'Hypertext Transfer Protocol', fields: { 'http.line': line } });
      protocol = 'http';
      if (/^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) |^HTTP\/1\./.test(line)) info = line;
    }
  }
  if (info === '' && d.etherType >= 0 && d.network === null) info = `Ethertype ${hex4(d.etherType)}`;
  if (d.etherType === EtherType.IPV4 && d.network === null) info = 'Malformed IPv4 header';

  return {
    number,
    time: isoTime(p.timestampSeconds, p.timestampNanoseconds),
    relativeTimeInSeconds: Math.round(relativeTimeInSeconds * 1e9) / 1e9,
    interfaceId: p.interfaceId,
    capturedLength: p.capturedLength,
    originalLength: p.originalLength,
    protocol,
    source,
    destination,
    info,
    layers,
  };
}
