// Which application protocol a segment carries, by port and by content — the same answer for the
// protocol hierarchy, the packet list and the display filter.
import { IpProtocol, looksLikeTlsRecord } from '../pcap/index.js';
import type { PacketDissection } from '../pcap/index.js';

/** Application protocols the analysis names (tshark's names); 'data' is a payload nothing claimed. */
export type AppProtocol = 'dns' | 'tls' | 'http' | 'data' | null;

const DNS_PORT = 53;
// Ports tshark hands to its TLS dissector by default (https, imaps, pop3s, smtps, ldaps, https-alt).
const TLS_PORTS = new Set([443, 993, 995, 465, 636, 8443]);
const HTTP_PORTS = new Set([80, 8080, 8000, 3128]);
// First bytes of an HTTP/1.x request or response line.
const HTTP_STARTS = ['GET ', 'POST', 'PUT ', 'HEAD', 'DELE', 'OPTI', 'PATC', 'CONN', 'TRAC', 'HTTP'].map((s) =>
  Buffer.from(s, 'latin1').readUInt32BE(0),
);

/**
 * The application protocol of a dissected TCP/UDP packet.
 * @example appProtocolOf(dissection, packet.data) === 'dns'
 */
export function appProtocolOf(d: PacketDissection, data: Buffer): AppProtocol {
  if (d.payloadOffset < 0 || d.payloadLength === 0) return null;
  const sp = d.sourcePort;
  const dp = d.destinationPort;
  if (d.ipProtocol === IpProtocol.UDP) {
    if (sp === DNS_PORT || dp === DNS_PORT) return 'dns';
    return 'data';
  }
  if (d.ipProtocol !== IpProtocol.TCP) return null;
  if (sp === DNS_PORT || dp === DNS_PORT) return 'dns';
  const available = Math.min(d.payloadLength, data.length - d.payloadOffset);
  if (available >= 4) {
    const start = data.readUInt32BE(d.payloadOffset);
    if (HTTP_STARTS.includes(start)) return 'http';
  }
  if (TLS_PORTS.has(sp) || TLS_PORTS.has(dp) || looksLikeTlsRecord(data, d.payloadOffset, available)) return 'tls';
  if (HTTP_PORTS.has(sp) || HTTP_PORTS.has(dp)) return 'http';
  return 'data';
}
