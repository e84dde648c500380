// The display filter: a small subset of Wireshark's language (docs/analysis.md has the grammar),
// compiled once into a predicate over a dissected packet. Errors name the column.
//
//   filter  := or
//   or      := and { ("||" | "or") and }
//   and     := unary { ("&&" | "and") unary }
//   unary   := ("!" | "not") unary | "(" or ")" | test
//   test    := FIELD [ OP VALUE ]          a bare field: the protocol is present / the flag is set / the field exists
//   OP      := "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | eq ne lt le gt ge
//   VALUE   := NUMBER | IPV4[/PREFIX] | IPV6[/PREFIX] | "STRING" | WORD
//
// Fields with two values (ip.addr, tcp.port …) match `==`, `<` … when either value does, and
// `!=` when neither does (`!=` is always the negation of `==`).
import { IpProtocol, TcpFlag, ipv6Bytes, parseDnsMessage, parseTlsClientHello } from '../pcap/index.js';
import type { PacketDissection } from '../pcap/index.js';
import { isIPv4, isIPv6 } from 'node:net';
import { appProtocolOf } from './app-protocol.js';
import type { AppProtocol } from './app-protocol.js';

/** A display filter that does not parse; `position` is the 1-based column of the problem. */
export class DisplayFilterError extends Error {
  override readonly name = 'DisplayFilterError';
  constructor(
    readonly reason: string,
    readonly position: number,
  ) {
    super(`display filter, column ${position}: ${reason}`);
  }
}

/** What a compiled filter looks at. */
export interface FilterContext {
  d: PacketDissection;
  data: Buffer;
  number: number;
  originalLength: number;
  capturedLength: number;
  interfaceId: number;
}

/** A compiled display filter. */
export type PacketPredicate = (c: FilterContext) => boolean;

type Kind = 'protocol' | 'number' | 'ipv4' | 'ipv6' | 'string' | 'flag';
type Values = Array<number | string | Buffer>;
interface FieldSpec {
  kind: Kind;
  get: (c: FilterContext) => Values;
}

const none: Values = [];
const num = (v: number): Values => (v < 0 ? none : [v]);
const tcp = (c: FilterContext): boolean =>
  c.d.ipProtocol === IpProtocol.TCP && c.d.sourcePort >= 0 && !c.d.laterFragment;
const udp = (c: FilterContext): boolean =>
  c.d.ipProtocol === IpProtocol.UDP && c.d.sourcePort >= 0 && !c.d.laterFragment;
const v4 = (c: FilterContext): boolean => c.d.network === 4;
const v6 = (c: FilterContext): boolean => c.d.network === 6;
const addr6 = (c: FilterContext, at: number): Buffer => c.data.subarray(at, at + 16);
const app = (c: FilterContext): AppProtocol => appProtocolOf(c.d, c.data);
const flag =
  (bit: number) =>
  (c: FilterContext): Values =>
    tcp(c) && c.d.tcpHeaderLength > 0 ? [(c.d.tcpFlags & bit) !== 0 ? 1 : 0] : none;
const dns = (c: FilterContext) => {
  const a = app(c);
  if (a !== 'dns') return null;
  const skip = c.d.ipProtocol === IpProtocol.TCP ? 2 : 0;
  return parseDnsMessage(c.data, c.d.payloadOffset + skip, c.d.payloadLength - skip);
};

const PROTOCOLS: Record<string, (c: FilterContext) => boolean> = {
  eth: (c) => c.d.link === 'eth',
  sll: (c) => c.d.link === 'sll' || c.d.link === 'sll2',
  vlan: (c) => c.d.vlanTags > 0,
  arp: (c) => c.d.network === 'arp',
  ip: v4,
  ipv6: v6,
  tcp,
  udp,
  icmp: (c) => c.d.ipProtocol === IpProtocol.ICMP && c.d.transportOffset >= 0,
  icmpv6: (c) => c.d.ipProtocol === IpProtocol.ICMPV6 && c.d.transportOffset >= 0,
  dns: (c) => app(c) === 'dns',
  tls: (c) => app(c) === 'tls',
  http: (c) => app(c) === 'http',
  data: (c) => app(c) === 'data',
};

const FIELDS: Record<string, FieldSpec> = {
  'frame.number': { kind: 'number', get: (c) => [c.number] },
  'frame.len': { kind: 'number', get: (c) => [c.originalLength] },
  'frame.cap_len': { kind: 'number', get: (c) => [c.capturedLength] },
  'frame.interface_id': { kind: 'number', get: (c) => [c.interfaceId] },
  'eth.type': { kind: 'number', get: (c) => (c.d.link === 'eth' ? num(c.d.etherType) : none) },
  'vlan.id': { kind: 'number', get: (c) => num(c.d.vlanId) },
  'ip.src': { kind: 'ipv4', get: (c) => (v4(c) ? [c.d.source4] : none) },
  'ip.dst': { kind: 'ipv4', get: (c) => (v4(c) ? [c.d.destination4] : none) },
  'ip.addr': { kind: 'ipv4', get: (c) => (v4(c) ? [c.d.source4, c.d.destination4] : none) },
  'ip.proto': { kind: 'number', get: (c) => (v4(c) ? num(c.d.ipProtocol) : none) },
  'ip.ttl': { kind: 'number', get: (c) => (v4(c) ? num(c.d.ttl) : none) },
  'ip.len': { kind: 'number', get: (c) => (v4(c) ? [c.d.ipTotalLength] : none) },
  'ip.id': { kind: 'number', get: (c) => (v4(c) ? num(c.d.ipId) : none) },
  'ipv6.src': { kind: 'ipv6', get: (c) => (v6(c) ? [addr6(c, c.d.source6Offset)] : none) },
  'ipv6.dst': { kind: 'ipv6', get: (c) => (v6(c) ? [addr6(c, c.d.destination6Offset)] : none) },
  'ipv6.addr': {
    kind: 'ipv6',
    get: (c) => (v6(c) ? [addr6(c, c.d.source6Offset), addr6(c, c.d.destination6Offset)] : none),
  },
  'ipv6.nxt': { kind: 'number', get: (c) => (v6(c) ? num(c.d.ipProtocol) : none) },
  'ipv6.hlim': { kind: 'number', get: (c) => (v6(c) ? num(c.d.ttl) : none) },
  'tcp.srcport': { kind: 'number', get: (c) => (tcp(c) ? [c.d.sourcePort] : none) },
  'tcp.dstport': { kind: 'number', get: (c) => (tcp(c) ? [c.d.destinationPort] : none) },
  'tcp.port': { kind: 'number', get: (c) => (tcp(c) ? [c.d.sourcePort, c.d.destinationPort] : none) },
  'tcp.len': { kind: 'number', get: (c) => (tcp(c) && c.d.tcpHeaderLength > 0 ? [c.d.payloadLength] : none) },
  'tcp.seq': { kind: 'number', get: (c) => (tcp(c) && c.d.tcpHeaderLength > 0 ? [c.d.tcpSequence] : none) },
  'tcp.ack': { kind: 'number', get: (c) => (tcp(c) && c.d.tcpHeaderLength > 0 ? [c.d.tcpAcknowledgement] : none) },
  'tcp.window_size_value': { kind: 'number', get: (c) => (tcp(c) && c.d.tcpHeaderLength > 0 ? [c.d.tcpWindow] : none) },
  'tcp.flags': { kind: 'number', get: (c) => (tcp(c) && c.d.tcpHeaderLength > 0 ? [c.d.tcpFlags] : none) },
  'tcp.flags.syn': { kind: 'flag', get: flag(TcpFlag.SYN) },
  'tcp.flags.ack': { kind: 'flag', get: flag(TcpFlag.ACK) },
  'tcp.flags.fin': { kind: 'flag', get: flag(TcpFlag.FIN) },
  'tcp.flags.reset': { kind: 'flag', get: flag(TcpFlag.RST) },
  'tcp.flags.push': { kind: 'flag', get: flag(TcpFlag.PSH) },
  'tcp.flags.urg': { kind: 'flag', get: flag(TcpFlag.URG) },
  'udp.srcport': { kind: 'number', get: (c) => (udp(c) ? [c.d.sourcePort] : none) },
  'udp.dstport': { kind: 'number', get: (c) => (udp(c) ? [c.d.destinationPort] : none) },
  'udp.port': { kind: 'number', get: (c) => (udp(c) ? [c.d.sourcePort, c.d.destinationPort] : none) },
  'udp.length': { kind: 'number', get: (c) => (udp(c) ? [c.d.payloadLength + 8] : none) },
  'icmp.type': { kind: 'number', get: (c) => (c.d.ipProtocol === IpProtocol.ICMP ? num(c.d.icmpType) : none) },
  'icmp.code': { kind: 'number', get: (c) => (c.d.ipProtocol === IpProtocol.ICMP ? num(c.d.icmpCode) : none) },
  'icmpv6.type': { kind: 'number', get: (c) => (c.d.ipProtocol === IpProtocol.ICMPV6 ? num(c.d.icmpType) : none) },
  'icmpv6.code': { kind: 'number', get: (c) => (c.d.ipProtocol === IpProtocol.ICMPV6 ? num(c.d.icmpCode) : none) },
  'arp.opcode': { kind: 'number', get: (c) => num(c.d.arpOperation) },
  'dns.id': {
    kind: 'number',
    get: (c) => {
      const m = dns(c);
      return m ? [m.id] : none;
    },
  },
  'dns.flags.response': {
    kind: 'flag',
    get: (c) => {
      const m = dns(c);
      return m ? [m.response ? 1 : 0] : none;
    },
  },
  'dns.flags.rcode': {
    kind: 'number',
    get: (c) => {
      const m = dns(c);
      return m?.response ? [m.rcode] : none;
    },
  },
  'dns.qry.name': { kind: 'string', get: (c) => dns(c)?.questions.map((q) => q.name.toLowerCase()) ?? none },
  'dns.qry.type': { kind: 'number', get: (c) => dns(c)?.questions.map((q) => q.type) ?? none },
  'tls.handshake.extensions_server_name': {
    kind: 'string',
    get: (c) => {
      if (app(c) !== 'tls') return none;
      const hello = parseTlsClientHello(
        c.data,
        c.d.payloadOffset,
        Math.min(c.d.payloadLength, c.data.length - c.d.payloadOffset),
      );
      return hello?.serverName ? [hello.serverName.toLowerCase()] : none;
    },
  },
};

/** Names a display filter accepts: protocols and fields. */
export const DISPLAY_FILTER_NAMES = { protocols: Object.keys(PROTOCOLS), fields: Object.keys(FIELDS) };

type Op = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains';
const WORD_OPS: Record<string, Op> = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', contains: 'contains' };

interface Token {
  type: 'word' | 'string' | 'op' | '(' | ')' | '&&' | '||' | '!' | 'end';
  text: string;
  position: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const position = i + 1;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      tokens.push({ type: two, text: two, position });
      i += 2;
      continue;
    }
    if (two === '==' || two === '!=' || two === '<=' || two === '>=') {
      tokens.push({ type: 'op', text: two, position });
      i += 2;
      continue;
    }
    if (ch === '<' || ch === '>') {
      tokens.push({ type: 'op', text: ch, position });
      i++;
      continue;
    }
    if (ch === '!') {
      tokens.push({ type: '!', text: ch, position });
      i++;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ type: ch, text: ch, position });
      i++;
      continue;
    }
    if (ch === '=') throw new DisplayFilterError("'=' is not an operator; use '=='", position);
    if (ch === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new DisplayFilterError('unterminated string', position);
        const c = text[j]!;
        if (c === '\\' && j + 1 < text.length) {
          value += text[j + 1];
          j += 2;
          continue;
        }
        if (c === '"') break;
        value += c;
        j++;
      }
      tokens.push({ type: 'string', text: value, position });
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_.:/\-]+/.exec(text.slice(i));
    if (!m) throw new DisplayFilterError(`unexpected character '${ch}'`, position);
    const word = m[0];
    const lower = word.toLowerCase();
    if (lower === 'and') tokens.push({ type: '&&', text: word, position });
    else if (lower === 'or') tokens.push({ type: '||', text: word, position });
    else if (lower === 'not') tokens.push({ type: '!', text: word, position });
    else if (lower in WORD_OPS) tokens.push({ type: 'op', text: WORD_OPS[lower]!, position });
    else tokens.push({ type: 'word', text: word, position });
    i += word.length;
  }
  tokens.push({ type: 'end', text: '', position: text.length + 1 });
  return tokens;
}

/**
 * Compiles a display filter; throws DisplayFilterError naming the column of the first problem.
 * @example const match = compileDisplayFilter('ip.addr==10.0.0.1 && tcp.port==80');
 */
export function compileDisplayFilter(text: string): PacketPredicate {
  const tokens = tokenize(text);
  let k = 0;
  const peek = (): Token => tokens[k]!;
  const next = (): Token => tokens[k++]!;

  const parseOr = (): PacketPredicate => {
    let left = parseAnd();
    while (peek().type === '||') {
      next();
      const l = left;
      const r = parseAnd();
      left = (c) => l(c) || r(c);
    }
    return left;
  };
  const parseAnd = (): PacketPredicate => {
    let left = parseUnary();
    while (peek().type === '&&') {
      next();
      const l = left;
      const r = parseUnary();
      left = (c) => l(c) && r(c);
    }
    return left;
  };
  const parseUnary = (): PacketPredicate => {
    const t = peek();
    if (t.type === '!') {
      next();
      const inner = parseUnary();
      return (c) => !inner(c);
    }
    if (t.type === '(') {
      next();
      const inner = parseOr();
      const close = next();
      if (close.type !== ')')
        throw new DisplayFilterError(`expected ')' to close the '(' at column ${t.position}`, close.position);
      return inner;
    }
    return parseTest();
  };
  const parseTest = (): PacketPredicate => {
    const t = next();
    if (t.type === 'end')
      throw new DisplayFilterError(
        t.position === 1 ? 'empty filter' : 'expected a field or protocol at the end',
        t.position,
      );
    if (t.type !== 'word') throw new DisplayFilterError(`expected a field or protocol, found '${t.text}'`, t.position);
    const name = t.text.toLowerCase();
    const protocol = PROTOCOLS[name];
    const field = FIELDS[name];
    if (!protocol && !field)
      throw new DisplayFilterError(`unknown field or protocol '${t.text}'${suggestion(name)}`, t.position);
    if (peek().type !== 'op') {
      if (protocol) return protocol;
      const f = field!;
      return f.kind === 'flag' ? (c) => f.get(c).some((v) => v === 1) : (c) => f.get(c).length > 0;
    }
    const opToken = next();
    const op = opToken.text as Op;
    if (protocol)
      throw new DisplayFilterError(
        `'${t.text}' is a protocol; it cannot be compared (write just '${t.text}')`,
        opToken.position,
      );
    const valueToken = next();
    if (valueToken.type !== 'word' && valueToken.type !== 'string')
      throw new DisplayFilterError(`expected a value after '${opToken.text}'`, valueToken.position);
    return comparison(t.text, field!, op, valueToken, opToken.position);
  };

  const predicate = parseOr();
  const rest = peek();
  if (rest.type !== 'end')
    throw new DisplayFilterError(`unexpected '${rest.text}'; join tests with && or ||`, rest.position);
  return predicate;
}

function suggestion(name: string): string {
  const all = [...Object.keys(PROTOCOLS), ...Object.keys(FIELDS)];
  const close = all.filter((n) => n.startsWith(name.split('.')[0]!) && n !== name).slice(0, 4);
  return close.length > 0 ? ` (did you mean ${close.join(', ')}?)` : '';
}

function comparison(fieldName: string, field: FieldSpec, op: Op, value: Token, opPosition: number): PacketPredicate {
  const text = value.text;
  const get = field.get;
  if (field.kind === 'string') {
    if (op !== '==' && op !== '!=' && op !== 'contains')
      throw new DisplayFilterError(`'${fieldName}' is text: use ==, != or contains`, opPosition);
    const v = text.toLowerCase();
    if (op === 'contains') return (c) => get(c).some((x) => (x as string).includes(v));
    const eq: PacketPredicate = (c) => get(c).some((x) => x === v);
    return op === '==' ? eq : (c) => !eq(c);
  }
  if (op === 'contains')
    throw new DisplayFilterError(`'contains' works on text fields only, not on '${fieldName}'`, opPosition);
  if (field.kind === 'ipv4' || field.kind === 'ipv6') {
    if (op !== '==' && op !== '!=')
      throw new DisplayFilterError(`addresses compare with == or != (a network as a.b.c.d/nn)`, opPosition);
    const eq =
      field.kind === 'ipv4'
        ? ipv4Matcher(text, value.position, fieldName)
        : ipv6Matcher(text, value.position, fieldName);
    const any: PacketPredicate = (c) => get(c).some((x) => eq(x));
    return op === '==' ? any : (c) => !any(c);
  }
  const n = parseNumber(text);
  if (n === null) throw new DisplayFilterError(`'${fieldName}' takes a number, not '${text}'`, value.position);
  const test = (
    {
      '==': (x: number) => x === n,
      '!=': (x: number) => x === n,
      '<': (x: number) => x < n,
      '<=': (x: number) => x <= n,
      '>': (x: number) => x > n,
      '>=': (x: number) => x >= n,
    } as const
  )[op];
  if (op === '!=') return (c) => !get(c).some((x) => test(x as number));
  return (c) => get(c).some((x) => test(x as number));
}

function parseNumber(text: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text, 16);
  if (/^\d+$/.test(text)) return Number(text);
  if (text === 'true') return 1;
  if (text === 'false') return 0;
  return null;
}

function ipv4Matcher(text: string, position: number, fieldName: string): (x: number | string | Buffer) => boolean {
  const [address, prefixText] = text.split('/');
  if (!isIPv4(address ?? '')) {
    const hint = isIPv6(address ?? '') ? ` (an IPv6 address: use ${fieldName.replace(/^ip\./, 'ipv6.')})` : '';
    throw new DisplayFilterError(`'${text}' is not an IPv4 address${hint}`, position);
  }
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32 || (prefixText !== undefined && !/^\d+$/.test(prefixText)))
    throw new DisplayFilterError(`'/${prefixText}' is not a prefix length 0-32`, position);
  const value = address!.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const want = (value & mask) >>> 0;
  return (x) => ((x as number) & mask) >>> 0 === want;
}

function ipv6Matcher(text: string, position: number, fieldName: string): (x: number | string | Buffer) => boolean {
  const slash = text.lastIndexOf('/');
  const address = slash >= 0 ? text.slice(0, slash) : text;
  const prefixText = slash >= 0 ? text.slice(slash + 1) : undefined;
  if (!isIPv6(address)) {
    const hint = isIPv4(address) ? ` (an IPv4 address: use ${fieldName.replace(/^ipv6\./, 'ip.')})` : '';
    throw new DisplayFilterError(`'${text}' is not an IPv6 address${hint}`, position);
  }
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > 128 ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  )
    throw new DisplayFilterError(`'/${prefixText}' is not a prefix length 0-128`, position);
  const want = ipv6Bytes(address);
  return (x) => {
    const b = x as Buffer;
    let bits = prefix;
    for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if (((b[i] as number) & mask) !== ((want[i] as number) & mask)) return false;
    }
    return true;
  };
}
