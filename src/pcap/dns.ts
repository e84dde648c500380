// DNS messages (RFC 1035 §4): the header, the questions and the answers' common types, decoded as
// far as the captured bytes go. Names follow compression pointers, with a hop limit so a
// malicious loop cannot spin.
import { formatIPv6 } from './ip-text.js';

/** DNS record types by number (the common ones; others print as TYPEnnn). */
export const DNS_TYPES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  35: 'NAPTR',
  41: 'OPT',
  43: 'DS',
  46: 'RRSIG',
  47: 'NSEC',
  48: 'DNSKEY',
  64: 'SVCB',
  65: 'HTTPS',
  99: 'SPF',
  255: 'ANY',
  257: 'CAA',
};

/** DNS response codes by number (RFC 6895 §2.3). */
export const DNS_RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};

/** Name of a DNS type number. */
export function dnsTypeName(type: number): string {
  return DNS_TYPES[type] ?? `TYPE${type}`;
}

/** Name of a DNS response code. */
export function dnsRcodeName(rcode: number): string {
  return DNS_RCODES[rcode] ?? `RCODE${rcode}`;
}

/** One question. */
export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}
/** One answer record (data as text for A, AAAA, CNAME, PTR, NS; else null). */
export interface DnsAnswer {
  name: string;
  type: number;
  ttl: number;
  data: string | null;
}

/** A decoded DNS message. */
export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  rcode: number;
  authoritative: boolean;
  truncated: boolean;
  questionCount: number;
  answerCount: number;
  authorityCount: number;
  additionalCount: number;
  questions: DnsQuestion[];
  answers: DnsAnswer[];
}

const MAX_RECORDS_DECODED = 16;

/**
 * Decodes the DNS message in `buf[offset, offset+length)`; null when even the 12-byte header is missing.
 * @example parseDnsMessage(udpPayload, 0, udpPayload.length)?.questions[0]?.name
 */
export function parseDnsMessage(buf: Buffer, offset: number, length: number): DnsMessage | null {
  const end = Math.min(buf.length, offset + length);
  if (end - offset < 12) return null;
  const flags = buf.readUInt16BE(offset + 2);
  const message: DnsMessage = {
    id: buf.readUInt16BE(offset),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    questionCount: buf.readUInt16BE(offset + 4),
    answerCount: buf.readUInt16BE(offset + 6),
    authorityCount: buf.readUInt16BE(offset + 8),
    additionalCount: buf.readUInt16BE(offset + 10),
    questions: [],
    answers: [],
  };
  let cursor = offset + 12;
  for (let i = 0; i < Math.min(message.questionCount, MAX_RECORDS_DECODED); i++) {
    const name = readName(buf, offset, end, cursor);
    if (name === null || name.next + 4 > end) return message;
    message.questions.push({
      name: name.text,
      type: buf.readUInt16BE(name.next),
      class: buf.readUInt16BE(name.next + 2),
    });
    cursor = name.next + 4;
  }
  for (let i = 0; i < Math.min(message.answerCount, MAX_RECORDS_DECODED); i++) {
    const name = readName(buf, offset, end, cursor);
    if (name === null || name.next + 10 > end) return message;
    const type = buf.readUInt16BE(name.next);
    const ttl = buf.readUInt32BE(name.next + 4);
    const rdLength = buf.readUInt16BE(name.next + 8);
    const rdata = name.next + 10;
    if (rdata + rdLength > end) return message;
    let data: string | null = null;
    if (type === 1 && rdLength === 4) data = `${buf[rdata]}.${buf[rdata + 1]}.${buf[rdata + 2]}.${buf[rdata + 3]}`;
    else if (type === 28 && rdLength === 16) data = formatIPv6(buf, rdata);
    else if (type === 5 || type === 12 || type === 2) data = readName(buf, offset, end, rdata)?.text ?? null;
    message.answers.push({ name: name.text, type, ttl, data });
    cursor = rdata + rdLength;
  }
  return message;
}

/** Reads a possibly compressed name at `at`; `next` is where the record continues. */
function readName(buf: Buffer, message: number, end: number, at: number): { text: string; next: number } | null {
  const labels: string[] = [];
  let cursor = at;
  let next = -1;
  for (let hops = 0; hops < 64; hops++) {
    if (cursor >= end) return null;
    const len = buf[cursor] as number;
    if (len === 0) {
      if (next < 0) next = cursor + 1;
      return { text: labels.length === 0 ? '<Root>' : labels.join('.'), next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (cursor + 1 >= end) return null;
      if (next < 0) next = cursor + 2;
      cursor = message + (((len & 0x3f) << 8) | (buf[cursor + 1] as number));
      continue;
    }
    if (cursor + 1 + len > end) return null;
    labels.push(buf.toString('latin1', cursor + 1, cursor + 1 + len));
    cursor += 1 + len;
  }
  return null;
}
