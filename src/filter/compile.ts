// Filters → one libpcap expression. The expression must select exactly the packets the rules in
// docs/filters.md select: the property test in compile.property.test.ts runs it through real
// libpcap against an independent reference matcher.
import { ADDRESS_BITS, formatAddress } from './address-text.js';
import type { AddressFamily } from './address-text.js';
import { addressKey, isUniversal, portKey, toClause } from './clause.js';
import type { Clause, ProtocolSet } from './clause.js';
import { cidrBlocks } from './interval-set.js';
import type { Interval } from './interval-set.js';
import { parseFilter } from './parse-filter.js';
import type { AddressSet } from './parse-filter.js';
import { simplifyClauses } from './simplify.js';
import type { PacketCaptureFilter } from './types.js';

/**
 * Compile to one BPF expression for tcpdump/libpcap; '' keeps everything. Throws InvalidFilterError.
 * Every group is parenthesised: libpcap gives `and` and `or` the same precedence, left to right.
 * @example compileFilters([{ protocol: 'UDP', localIPAddress: '', remoteIPAddress: '', localPort: '', remotePort: '' }]) === '(udp)'
 */
export function compileFilters(filters: readonly PacketCaptureFilter[]): string {
  const clauses = simplifyClauses(filters.map((f, i) => toClause(parseFilter(f, i))));
  if (clauses.length === 0 || clauses.some(isUniversal)) return '';
  const parts: string[] = [];
  // Clauses with ports carry their protocol inside each port test (`tcp dst port 80`). Clauses
  // without ports share one protocol test per protocol: (tcp and (A or B)).
  const withoutPorts = new Map<ProtocolSet, Clause[]>();
  for (const c of clauses) {
    if (c.localPorts !== null || c.remotePorts !== null) parts.push(parenthesized(orientationExpression(c) as string));
    else withoutPorts.set(c.protocols, [...(withoutPorts.get(c.protocols) ?? []), c]);
  }
  for (const [protocols, group] of withoutPorts) {
    const protocol = protocolExpression(protocols);
    const orientations = group.map(orientationExpression);
    if (protocol === null) {
      parts.push(...orientations.map((o) => parenthesized(o as string)));
      continue;
    }
    const rest = orientations.filter((o): o is string => o !== null);
    // A clause with no field beyond its protocol makes the others of its group redundant.
    if (rest.length < orientations.length) parts.push(`(${protocol})`);
    else parts.push(`(${protocol} and ${rest.length === 1 ? (rest[0] as string) : `(${rest.join(' or ')})`})`);
  }
  return parts.join(' or ');
}

type Direction = 'src' | 'dst' | 'either';

// Wraps in parentheses unless the whole text already is one parenthesised group.
function parenthesized(text: string): string {
  if (text.startsWith('(')) {
    let depth = 0;
    for (let i = 0; i < text.length; i++) {
      depth += text[i] === '(' ? 1 : text[i] === ')' ? -1 : 0;
      if (depth === 0) {
        if (i === text.length - 1) return text;
        break;
      }
    }
  }
  return `(${text})`;
}

function protocolExpression(p: ProtocolSet): string | null {
  switch (p) {
    case 'all':
      return null;
    case 'tcp':
      return 'tcp';
    case 'udp':
      return 'udp';
    case 'tcp-udp':
      return '(tcp or udp)';
  }
}

// (src∈L ∧ dst∈R ∧ sport∈LP ∧ dport∈RP) ∨ (dst∈L ∧ src∈R ∧ dport∈LP ∧ sport∈RP). Fields must stay
// bound to one reading: `host L and host R` would also accept src∈L∩R with any destination.
function orientationExpression(c: Clause): string | null {
  const given = [c.local, c.remote, c.localPorts, c.remotePorts].filter((x) => x !== null).length;
  if (given === 0) return null;
  if (given === 1) {
    // One field: "source or destination" is exactly what libpcap's undirected primitives test.
    if (c.local !== null || c.remote !== null) return addressExpression((c.local ?? c.remote) as AddressSet, 'either');
    return portExpression((c.localPorts ?? c.remotePorts) as Interval[], c.protocols, 'either');
  }
  const forward = oneReading(c, 'src', 'dst');
  const reverse = oneReading(c, 'dst', 'src');
  // When local and remote are the same sets both readings are the same test.
  const symmetric = addressKey(c.local) === addressKey(c.remote) && portKey(c.localPorts) === portKey(c.remotePorts);
  return symmetric ? forward : `(${forward} or ${reverse})`;
}

function oneReading(c: Clause, localDirection: Direction, remoteDirection: Direction): string {
  const terms: Array<{ text: string; tests: number }> = [];
  if (c.local !== null) terms.push(addressTerm(c.local, localDirection));
  if (c.remote !== null) terms.push(addressTerm(c.remote, remoteDirection));
  if (c.localPorts !== null) terms.push(portTerm(c.localPorts, c.protocols, localDirection));
  if (c.remotePorts !== null) terms.push(portTerm(c.remotePorts, c.protocols, remoteDirection));
  // libpcap evaluates `and` left to right: the shortest test first rejects most packets soonest.
  terms.sort((a, b) => a.tests - b.tests);
  return terms.length === 1 ? (terms[0] as { text: string }).text : `(${terms.map((t) => t.text).join(' and ')})`;
}

function addressExpression(set: AddressSet, direction: Direction): string {
  return addressTerm(set, direction).text;
}

function addressTerm(set: AddressSet, direction: Direction): { text: string; tests: number } {
  // `ip`/`ip6` qualifiers: a bare `host`/`net` would also match ARP and RARP payload addresses.
  const terms = [...familyTerms(set.v4, 4, direction), ...familyTerms(set.v6, 6, direction)];
  return { text: terms.length === 1 ? (terms[0] as string) : `(${terms.join(' or ')})`, tests: terms.length };
}

function familyTerms(intervals: readonly Interval[], family: AddressFamily, direction: Direction): string[] {
  const bits = ADDRESS_BITS[family];
  const qualifier = `${family === 4 ? 'ip' : 'ip6'}${direction === 'either' ? '' : ` ${direction}`}`;
  return intervals.flatMap((iv) =>
    cidrBlocks(iv, bits).map((b) => {
      const text = formatAddress({ family, value: b.base });
      return b.prefixLength === bits ? `${qualifier} host ${text}` : `${qualifier} net ${text}/${b.prefixLength}`;
    }),
  );
}

function portExpression(ports: readonly Interval[], protocols: ProtocolSet, direction: Direction): string {
  return portTerm(ports, protocols, direction).text;
}

// Port tests name their protocol: unqualified `port 80` also accepts SCTP, and without libpcap's
// optimizer (see check-bpf.ts) it costs 39 instructions against 17 for `tcp port 80`. Under
// 'tcp-udp', (tcp sport∈P or udp sport∈P) and (tcp dport∈Q or udp dport∈Q) is exact, because no
// packet is both TCP and UDP.
function portTerm(
  ports: readonly Interval[],
  protocols: ProtocolSet,
  direction: Direction,
): { text: string; tests: number } {
  const qualifier = direction === 'either' ? '' : `${direction} `;
  const names = protocols === 'tcp' ? ['tcp'] : protocols === 'udp' ? ['udp'] : ['tcp', 'udp'];
  const terms = names.flatMap((name) =>
    ports.map((iv) =>
      iv.first === iv.last
        ? `${name} ${qualifier}port ${iv.first}`
        : `${name} ${qualifier}portrange ${iv.first}-${iv.last}`,
    ),
  );
  return { text: terms.length === 1 ? (terms[0] as string) : `(${terms.join(' or ')})`, tests: terms.length };
}
