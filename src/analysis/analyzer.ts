// One pass over a capture computes every section at once: a packet is dissected once (into a
// reused PacketDissection) and handed to each counter. Memory is bounded by the table limits,
// never by the file: nothing per packet is kept.
import type {
  AnalysisSummary,
  DnsAnalysis,
  IoAnalysis,
  ProtocolHierarchy,
  ProtocolNode,
  TcpHealth,
  TlsAnalysis,
  TcpConnectionHealth,
  Conversations,
  Endpoints,
} from '../model/index.js';
import {
  IpProtocol,
  PacketDissection,
  dnsRcodeName,
  dnsTypeName,
  parseDnsMessage,
  parseTlsClientHello,
} from '../pcap/index.js';
import type { CaptureInterface, CaptureInterfaceStatistics, CapturePacket } from '../pcap/index.js';
import { appProtocolOf } from './app-protocol.js';
import {
  ConversationTable,
  EndpointTable,
  addToConversation,
  addressText,
  conversationRow,
  round9,
} from './conversations.js';
import type { AddressKey, ConversationRecord, EndpointRecord } from './conversations.js';
import { FlowTable4 } from './flow-table.js';
import { BoundedMap, topTable } from './table.js';
import { connectionState, newTcpHealthState, observeTcpSegment } from './tcp-health.js';
import type { TcpHealthState } from './tcp-health.js';
import { isoTime, linkTypeName } from './text.js';

/** Limits of one analysis. */
export interface AnalyzerOptions {
  /** Distinct keys tracked per table (conversations, endpoints, DNS names …); beyond it rows go to "other". */
  maxTrackedKeys?: number;
  /** Rows kept per table in the result. */
  top?: number;
  /** Fixed I/O bucket width; absent: automatic, at most `maxIoBuckets` buckets. */
  ioIntervalInSeconds?: number;
  /** Most I/O buckets (automatic width), or the refusal limit (fixed width). */
  maxIoBuckets?: number;
}

/** Every section of an analysis, without the source. */
export interface AnalysisSections {
  summary: AnalysisSummary;
  protocols: ProtocolHierarchy;
  conversations: Conversations;
  endpoints: Endpoints;
  tcp: TcpHealth;
  dns: DnsAnalysis;
  tls: TlsAnalysis;
  io: IoAnalysis;
}

/** Thrown when a fixed I/O interval would need more buckets than allowed. */
export class IoIntervalTooSmallError extends Error {
  override readonly name = 'IoIntervalTooSmallError';
}

/** Default distinct keys per table: a few tens of MB at most. */
export const DEFAULT_MAX_TRACKED_KEYS = 100_000;
/** Default bucket count of an automatic I/O chart. */
export const DEFAULT_MAX_IO_BUCKETS = 500;
/** Most buckets a fixed I/O interval may produce. */
export const MAX_FIXED_IO_BUCKETS = 100_000;
const IO_PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6', 'arp', 'other'] as const;
const MAX_PENDING_DNS_QUERIES = 100_000;

/** What an IPv4 TCP/UDP flow points at (lower/upper: the flow table's canonical sides). */
interface Flow4 {
  conversation: ConversationRecord<TcpHealthState> | ConversationRecord<null> | null;
  ipConversation: ConversationRecord<null> | null;
  ipLower: EndpointRecord | null;
  ipUpper: EndpointRecord | null;
  portLower: EndpointRecord | null;
  portUpper: EndpointRecord | null;
}
interface MutableNode {
  protocol: string;
  packets: number;
  bytes: number;
  children: Map<string, MutableNode>;
}
interface DnsNameRecord {
  name: string;
  type: number;
  queries: number;
  responses: number;
  responseCodes: Map<number, number>;
  responseTimeSum: number;
  responseTimeCount: number;
  packets: number;
  bytes: number;
}
interface TlsNameRecord {
  serverName: string;
  packets: number;
  bytes: number;
  servers: Set<string>;
}

/**
 * Accumulates every analysis section over a stream of packets.
 * @example const a = new CaptureAnalyzer(); a.addInterface(iface); for (const p of packets) a.addPacket(p); const sections = a.finish();
 */
export class CaptureAnalyzer {
  private readonly maxKeys: number;
  private readonly top: number;
  private readonly fixedInterval: number | null;
  private readonly maxIoBuckets: number;
  private readonly d = new PacketDissection();
  private readonly interfaces: CaptureInterface[] = [];
  private readonly interfacePackets: number[] = [];
  private dropped: number | null = null;
  private received: number | null = null;

  // summary
  private packets = 0;
  private bytes = 0;
  private capturedBytes = 0;
  private truncated = 0;
  private firstSeconds = 0;
  private firstNanoseconds = 0;
  private minRelative = 0;
  private maxRelative = 0;

  // protocol hierarchy
  private readonly roots = new Map<string, MutableNode>();

  // conversations, endpoints, TCP health
  private readonly ipv4Conversations: ConversationTable<null>;
  private readonly ipv6Conversations: ConversationTable<null>;
  private readonly tcpConversations: ConversationTable<TcpHealthState>;
  private readonly udpConversations: ConversationTable<null>;
  private readonly ipv4Endpoints: EndpointTable;
  private readonly ipv6Endpoints: EndpointTable;
  private readonly tcpEndpoints: EndpointTable;
  private readonly udpEndpoints: EndpointTable;
  private readonly flowTable4: FlowTable4;
  private readonly flows4: Flow4[] = [];

  // DNS, TLS
  private dnsQueries = 0;
  private dnsResponses = 0;
  private dnsUnanswered = 0;
  private readonly dnsRcodes = new Map<number, number>();
  private readonly dnsPending = new Map<string, { time: number; nameKey: string }>();
  private readonly dnsNames: BoundedMap<string, DnsNameRecord>;
  private dnsTimeMin = Infinity;
  private dnsTimeMax = 0;
  private dnsTimeSum = 0;
  private dnsTimeCount = 0;
  private tlsHellos = 0;
  private tlsHellosWithoutName = 0;
  private readonly tlsNames: BoundedMap<string, TlsNameRecord>;

  // I/O
  private ioInterval: number;
  private ioPackets: number[] = [];
  private ioBytes: number[] = [];
  private readonly ioSeries = IO_PROTOCOLS.map(() => ({ packets: [] as number[], bytes: [] as number[] }));
  private ioStep = 0;

  constructor(options: AnalyzerOptions = {}) {
    this.maxKeys = options.maxTrackedKeys ?? DEFAULT_MAX_TRACKED_KEYS;
    this.top = options.top ?? 100;
    this.fixedInterval = options.ioIntervalInSeconds ?? null;
    this.maxIoBuckets =
      options.maxIoBuckets ?? (this.fixedInterval === null ? DEFAULT_MAX_IO_BUCKETS : MAX_FIXED_IO_BUCKETS);
    this.ioInterval = this.fixedInterval ?? 0.001;
    this.ipv4Conversations = new ConversationTable(this.maxKeys, () => null);
    this.ipv6Conversations = new ConversationTable(this.maxKeys, () => null);
    this.tcpConversations = new ConversationTable(this.maxKeys, newTcpHealthState);
    this.udpConversations = new ConversationTable(this.maxKeys, () => null);
    this.ipv4Endpoints = new EndpointTable(this.maxKeys);
    this.ipv6Endpoints = new EndpointTable(this.maxKeys);
    this.tcpEndpoints = new EndpointTable(this.maxKeys);
    this.udpEndpoints = new EndpointTable(this.maxKeys);
    this.flowTable4 = new FlowTable4(this.maxKeys);
    this.dnsNames = new BoundedMap(this.maxKeys);
    this.tlsNames = new BoundedMap(this.maxKeys);
  }

  /** Records a capture interface. */
  addInterface(iface: CaptureInterface): void {
    this.interfaces[iface.id] = iface;
    this.interfacePackets[iface.id] = 0;
  }

  /** Records interface statistics (pcapng ISB): the last block of each interface wins, summed over interfaces. */
  addStatistics(stats: CaptureInterfaceStatistics): void {
    if (stats.packetsDropped !== null)
      this.dropped = stats.packetsDropped + (this.dropped ?? 0) - (this.lastDropped.get(stats.interfaceId) ?? 0);
    if (stats.packetsDropped !== null) this.lastDropped.set(stats.interfaceId, stats.packetsDropped);
    if (stats.packetsReceived !== null)
      this.received = stats.packetsReceived + (this.received ?? 0) - (this.lastReceived.get(stats.interfaceId) ?? 0);
    if (stats.packetsReceived !== null) this.lastReceived.set(stats.interfaceId, stats.packetsReceived);
  }
  private readonly lastDropped = new Map<number, number>();
  private readonly lastReceived = new Map<number, number>();

  /** Counts one packet. */
  addPacket(p: CapturePacket): void {
    const bytes = p.originalLength;
    const data = p.data;
    if (this.packets === 0) {
      this.firstSeconds = p.timestampSeconds;
      this.firstNanoseconds = p.timestampNanoseconds;
    }
    const relative = p.timestampSeconds - this.firstSeconds + (p.timestampNanoseconds - this.firstNanoseconds) / 1e9;
    if (relative < this.minRelative) this.minRelative = relative;
    if (relative > this.maxRelative) this.maxRelative = relative;
    this.packets++;
    this.bytes += bytes;
    this.capturedBytes += p.capturedLength;
    if (p.capturedLength < bytes) this.truncated++;
    this.interfacePackets[p.interfaceId] = (this.interfacePackets[p.interfaceId] ?? 0) + 1;

    const d = this.d;
    d.dissect(p.linkType, data);
    const app = appProtocolOf(d, data);

    // Protocol hierarchy: the path of layers this frame holds.
    let node = this.child(this.roots, d.link === 'sll2' ? 'sll' : d.link === 'null' ? 'null' : d.link, bytes);
    let ioIndex = 5;
    if (d.network === 'arp') {
      this.child(node.children, 'arp', bytes);
      ioIndex = 4;
    } else if (d.network === 4 || d.network === 6) {
      node = this.child(node.children, d.network === 4 ? 'ip' : 'ipv6', bytes);
      const proto = d.ipProtocol;
      const transport =
        proto === IpProtocol.TCP
          ? 'tcp'
          : proto === IpProtocol.UDP
            ? 'udp'
            : proto === IpProtocol.ICMP
              ? 'icmp'
              : proto === IpProtocol.ICMPV6
                ? 'icmpv6'
                : null;
      if (transport !== null && !d.laterFragment && d.transportOffset >= 0) {
        node = this.child(node.children, transport, bytes);
        ioIndex = proto === IpProtocol.TCP ? 0 : proto === IpProtocol.UDP ? 1 : proto === IpProtocol.ICMP ? 2 : 3;
      } else if (d.laterFragment) ioIndex = proto === IpProtocol.TCP ? 0 : proto === IpProtocol.UDP ? 1 : 5;
      // tshark hands a retransmitted segment's bytes to no application dissector: it stops at tcp.
      const retransmitted = this.conversations(d, data, relative, bytes, app);
      if (app !== null && transport !== null && !retransmitted) this.child(node.children, app, bytes);
    }
    this.io(relative, bytes, ioIndex);
  }

  private child(map: Map<string, MutableNode>, protocol: string, bytes: number): MutableNode {
    let n = map.get(protocol);
    if (n === undefined) {
      n = { protocol, packets: 0, bytes: 0, children: new Map() };
      map.set(protocol, n);
    }
    n.packets++;
    n.bytes += bytes;
    return n;
  }

  // Returns whether the frame was a TCP retransmission.
  private conversations(
    d: PacketDissection,
    data: Buffer,
    relative: number,
    bytes: number,
    app: ReturnType<typeof appProtocolOf>,
  ): boolean {
    const withPorts =
      d.sourcePort >= 0 && !d.laterFragment && (d.ipProtocol === IpProtocol.TCP || d.ipProtocol === IpProtocol.UDP);
    if (d.network === 4 && withPorts) return this.flow4(d, data, relative, bytes, app);
    let source: AddressKey;
    let destination: AddressKey;
    if (d.network === 4) {
      source = d.source4;
      destination = d.destination4;
      this.ipv4Conversations.count(source, 0, destination, 0, source, destination, bytes, relative);
      this.ipv4Endpoints.count(source, 0, destination, 0, source, destination, bytes);
    } else {
      source = data.toString('latin1', d.source6Offset, d.source6Offset + 16);
      destination = data.toString('latin1', d.destination6Offset, d.destination6Offset + 16);
      this.ipv6Conversations.count(source, 0, destination, 0, source, destination, bytes, relative);
      this.ipv6Endpoints.count(source, 0, destination, 0, source, destination, bytes);
    }
    if (!withPorts) return false;
    const sp = d.sourcePort;
    const dp = d.destinationPort;
    const sourceSide: AddressKey = `${source}${String.fromCharCode(sp)}`;
    const destinationSide: AddressKey = `${destination}${String.fromCharCode(dp)}`;
    if (d.ipProtocol === IpProtocol.TCP) {
      const rec = this.tcpConversations.count(
        source,
        sp,
        destination,
        dp,
        sourceSide,
        destinationSide,
        bytes,
        relative,
      );
      this.tcpEndpoints.count(source, sp, destination, dp, sourceSide, destinationSide, bytes);
      return this.tcpPayload(
        rec === null ? null : observeTcpSegment(rec.extra, d, sourceSide === rec.sideA, relative),
        d,
        data,
        relative,
        sourceSide,
        destinationSide,
        destination,
        app,
      );
    }
    this.udpConversations.count(source, sp, destination, dp, sourceSide, destinationSide, bytes, relative);
    this.udpEndpoints.count(source, sp, destination, dp, sourceSide, destinationSide, bytes);
    if (app === 'dns') this.dns(d, data, relative, sourceSide, destinationSide, 0);
    return false;
  }

  // The hot path: an IPv4 TCP/UDP packet finds its flow with one probe of the flow table, and the
  // flow holds its conversation and endpoint records, so no key is built for them.
  private flow4(
    d: PacketDissection,
    data: Buffer,
    relative: number,
    bytes: number,
    app: ReturnType<typeof appProtocolOf>,
  ): boolean {
    const source = d.source4;
    const destination = d.destination4;
    const sp = d.sourcePort;
    const dp = d.destinationPort;
    const tcp = d.ipProtocol === IpProtocol.TCP;
    const index = this.flowTable4.find(source, destination, d.ipProtocol, sp, dp);
    const fromLower = this.flowTable4.lastFromLower;
    // Side keys: address × 65536 + port, an exact number.
    const sourceSide = source * 65536 + sp;
    const destinationSide = destination * 65536 + dp;
    let flow: Flow4 | undefined = index >= 0 ? this.flows4[index] : undefined;
    if (flow === undefined) {
      const conversations = tcp ? this.tcpConversations : this.udpConversations;
      const endpoints = tcp ? this.tcpEndpoints : this.udpEndpoints;
      const lower = fromLower;
      flow = {
        conversation: conversations.record(source, sp, destination, dp, sourceSide, destinationSide, relative),
        ipConversation: this.ipv4Conversations.record(source, 0, destination, 0, source, destination, relative),
        ipLower: this.ipv4Endpoints.record(lower ? source : destination, 0, lower ? source : destination),
        ipUpper: this.ipv4Endpoints.record(lower ? destination : source, 0, lower ? destination : source),
        portLower: endpoints.record(
          lower ? source : destination,
          lower ? sp : dp,
          lower ? sourceSide : destinationSide,
        ),
        portUpper: endpoints.record(
          lower ? destination : source,
          lower ? dp : sp,
          lower ? destinationSide : sourceSide,
        ),
      };
      // A flow beyond the table's limit is looked up (and its records found) again each time.
      if (index >= 0) this.flows4[index] = flow;
    }
    const conversations = tcp ? this.tcpConversations : this.udpConversations;
    const endpoints = tcp ? this.tcpEndpoints : this.udpEndpoints;
    const rec = flow.conversation;
    if (rec === null) conversations.untracked(bytes);
    else addToConversation(rec, sourceSide === rec.sideA, bytes, relative);
    const ipRec = flow.ipConversation;
    if (ipRec === null) this.ipv4Conversations.untracked(bytes);
    else addToConversation(ipRec, source === ipRec.sideA, bytes, relative);
    this.ipv4Endpoints.sent(fromLower ? flow.ipLower : flow.ipUpper, bytes);
    this.ipv4Endpoints.received(fromLower ? flow.ipUpper : flow.ipLower, bytes);
    endpoints.sent(fromLower ? flow.portLower : flow.portUpper, bytes);
    endpoints.received(fromLower ? flow.portUpper : flow.portLower, bytes);
    if (tcp) {
      const tcpRec = rec as ConversationRecord<TcpHealthState> | null;
      return this.tcpPayload(
        tcpRec === null ? null : observeTcpSegment(tcpRec.extra, d, sourceSide === tcpRec.sideA, relative),
        d,
        data,
        relative,
        sourceSide,
        destinationSide,
        destination,
        app,
      );
    }
    if (app === 'dns') this.dns(d, data, relative, sourceSide, destinationSide, 0);
    return false;
  }

  private tcpPayload(
    verdict: ReturnType<typeof observeTcpSegment>,
    d: PacketDissection,
    data: Buffer,
    relative: number,
    sourceSide: AddressKey,
    destinationSide: AddressKey,
    destination: AddressKey,
    app: ReturnType<typeof appProtocolOf>,
  ): boolean {
    if (verdict === 'retransmission') return true;
    if (app === 'tls') this.tls(d, data, destination);
    else if (app === 'dns' && d.payloadLength >= 14) this.dns(d, data, relative, sourceSide, destinationSide, 2);
    return false;
  }

  private dns(
    d: PacketDissection,
    data: Buffer,
    relative: number,
    sourceSide: AddressKey,
    destinationSide: AddressKey,
    skip: number,
  ): void {
    // DNS over TCP prefixes each message with its 2-byte length (RFC 1035 §4.2.2).
    const message = parseDnsMessage(data, d.payloadOffset + skip, d.payloadLength - skip);
    if (message === null || message.opcode !== 0) return;
    const question = message.questions[0];
    const nameKey = question ? `${question.name.toLowerCase()}|${question.type}` : '|0';
    const row = this.dnsNames.lookup(nameKey, () => ({
      name: question?.name.toLowerCase() ?? '',
      type: question?.type ?? 0,
      queries: 0,
      responses: 0,
      responseCodes: new Map(),
      responseTimeSum: 0,
      responseTimeCount: 0,
      packets: 0,
      bytes: 0,
    }));
    if (row === null) this.dnsNames.untracked(0);
    else row.packets++;
    if (!message.response) {
      this.dnsQueries++;
      if (row) row.queries++;
      const key = `${sourceSide}|${destinationSide}|${message.id}`;
      if (!this.dnsPending.has(key)) {
        if (this.dnsPending.size >= MAX_PENDING_DNS_QUERIES) {
          // Forget the oldest query (Map keeps insertion order): it counts as unanswered.
          const oldest = this.dnsPending.keys().next().value as string;
          this.dnsPending.delete(oldest);
          this.dnsUnanswered++;
        }
        this.dnsPending.set(key, { time: relative, nameKey });
      } else {
        // The same query again (a client retry) is still one outstanding query.
        this.dnsUnanswered++;
      }
      return;
    }
    this.dnsResponses++;
    this.dnsRcodes.set(message.rcode, (this.dnsRcodes.get(message.rcode) ?? 0) + 1);
    if (row) {
      row.responses++;
      row.responseCodes.set(message.rcode, (row.responseCodes.get(message.rcode) ?? 0) + 1);
    }
    const key = `${destinationSide}|${sourceSide}|${message.id}`;
    const pending = this.dnsPending.get(key);
    if (pending) {
      this.dnsPending.delete(key);
      const ms = Math.max(0, relative - pending.time) * 1000;
      this.dnsTimeCount++;
      this.dnsTimeSum += ms;
      if (ms < this.dnsTimeMin) this.dnsTimeMin = ms;
      if (ms > this.dnsTimeMax) this.dnsTimeMax = ms;
      if (row) {
        row.responseTimeSum += ms;
        row.responseTimeCount++;
      }
    }
  }

  private tls(d: PacketDissection, data: Buffer, destination: AddressKey): void {
    const hello = parseTlsClientHello(data, d.payloadOffset, Math.min(d.payloadLength, data.length - d.payloadOffset));
    if (hello === null) return;
    this.tlsHellos++;
    if (hello.serverName === null) {
      this.tlsHellosWithoutName++;
      return;
    }
    const row = this.tlsNames.lookup(hello.serverName.toLowerCase(), () => ({
      serverName: hello.serverName!.toLowerCase(),
      packets: 0,
      bytes: 0,
      servers: new Set(),
    }));
    if (row === null) {
      this.tlsNames.untracked(0);
      return;
    }
    row.packets++;
    if (row.servers.size < 10) row.servers.add(addressText(destination));
  }

  private io(relative: number, bytes: number, series: number): void {
    if (this.ioStep < 0) return;
    let index = Math.floor(relative / this.ioInterval);
    if (index < 0) index = 0;
    while (index >= this.maxIoBuckets) {
      if (this.fixedInterval !== null) {
        this.ioStep = -1;
        return;
      }
      this.coarsen();
      index = Math.floor(relative / this.ioInterval);
    }
    this.ioPackets[index] = (this.ioPackets[index] ?? 0) + 1;
    this.ioBytes[index] = (this.ioBytes[index] ?? 0) + bytes;
    const s = this.ioSeries[series]!;
    s.packets[index] = (s.packets[index] ?? 0) + 1;
    s.bytes[index] = (s.bytes[index] ?? 0) + bytes;
  }

  // Automatic widths run 1, 5, 10, 50 ms …: each step merges 5 or 2 buckets, so bucket edges stay aligned.
  private coarsen(): void {
    const factor = this.ioStep % 2 === 0 ? 5 : 2;
    this.ioStep++;
    this.ioInterval = roundInterval(this.ioInterval * factor);
    const merge = (values: number[]): number[] => {
      const out: number[] = [];
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== undefined) {
          const j = Math.floor(i / factor);
          out[j] = (out[j] ?? 0) + v;
        }
      }
      return out;
    };
    this.ioPackets = merge(this.ioPackets);
    this.ioBytes = merge(this.ioBytes);
    for (const s of this.ioSeries) {
      s.packets = merge(s.packets);
      s.bytes = merge(s.bytes);
    }
  }

  /** The sections; `kernel` overrides the drop counts with what the capture's status reported. */
  finish(kernel?: { packetsDropped: number | null; packetsReceived: number | null }): AnalysisSections {
    if (this.ioStep < 0)
      throw new IoIntervalTooSmallError(
        `an I/O interval of ${this.fixedInterval} s gives more than ${this.maxIoBuckets} buckets for this capture of ${round9(this.maxRelative - this.minRelative)} s; choose a larger interval`,
      );
    const top = this.top;
    const duration = this.packets === 0 ? 0 : round9(this.maxRelative - this.minRelative);
    const minTime = splitTime(this.firstSeconds, this.firstNanoseconds, this.minRelative);
    const maxTime = splitTime(this.firstSeconds, this.firstNanoseconds, this.maxRelative);
    const summary: AnalysisSummary = {
      packets: this.packets,
      bytes: this.bytes,
      capturedBytes: this.capturedBytes,
      truncatedPackets: this.truncated,
      firstPacketTime: this.packets === 0 ? null : isoTime(minTime[0], minTime[1]),
      lastPacketTime: this.packets === 0 ? null : isoTime(maxTime[0], maxTime[1]),
      durationInSeconds: duration,
      averagePacketsPerSecond: duration > 0 ? this.packets / duration : 0,
      averageBitsPerSecond: duration > 0 ? (this.bytes * 8) / duration : 0,
      averagePacketSizeInBytes: this.packets > 0 ? this.bytes / this.packets : 0,
      linkTypes: [...new Set(this.interfaces.filter(Boolean).map((i) => linkTypeName(i.linkType)))],
      snapLengthInBytes: Math.max(0, ...this.interfaces.filter(Boolean).map((i) => i.snapLength)),
      interfaces: this.interfaces.filter(Boolean).map((i) => ({
        id: i.id,
        linkType: i.linkType,
        linkTypeName: linkTypeName(i.linkType),
        snapLengthInBytes: i.snapLength,
        name: i.name,
        timestampResolution:
          i.unitsPerSecond === 1e6 ? ('us' as const) : i.unitsPerSecond === 1e9 ? ('ns' as const) : ('other' as const),
        packets: this.interfacePackets[i.id] ?? 0,
      })),
      kernelPacketsDropped: kernel?.packetsDropped ?? this.dropped,
      kernelPacketsReceived: kernel?.packetsReceived ?? this.received,
      trailingBytesIgnored: 0,
    };
    const tcpRows: TcpConnectionHealth[] = [];
    let handshakes = 0;
    let rttMin = Infinity;
    let rttMax = 0;
    let rttSum = 0;
    const totals = { retransmissions: 0, duplicateAcks: 0, zeroWindows: 0, resets: 0, outOfOrder: 0 };
    for (const rec of this.tcpConversations.records()) {
      const h = rec.extra;
      totals.retransmissions += h.retransmissions;
      totals.duplicateAcks += h.duplicateAcks;
      totals.zeroWindows += h.zeroWindows;
      totals.resets += h.resets;
      totals.outOfOrder += h.outOfOrder;
      if (h.handshakeRtt >= 0) {
        handshakes++;
        const ms = h.handshakeRtt * 1000;
        rttSum += ms;
        rttMin = Math.min(rttMin, ms);
        rttMax = Math.max(rttMax, ms);
      }
      tcpRows.push(tcpRow(rec));
    }
    // Most anomalies first, then most bytes: the connections an engineer opens first.
    const anomalies = (r: TcpConnectionHealth): number =>
      r.retransmissions + r.duplicateAcks + r.zeroWindows + r.resets + r.outOfOrder;
    const overflow = this.tcpConversations.overflow();
    const tcpTable = topTable(
      tcpRows,
      top,
      overflow.overflowed,
      overflow.untrackedPackets,
      overflow.untrackedBytes,
      undefined,
      (a, b) => anomalies(b) - anomalies(a) || b.bytes - a.bytes || a.relativeStartInSeconds - b.relativeStartInSeconds,
    );

    const rcodes = (m: Map<number, number>): Record<string, number> =>
      Object.fromEntries([...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => [dnsRcodeName(k), v]));
    const dnsRows = [...this.dnsNames.map.values()].map((r) => ({
      name: r.name,
      queryType: dnsTypeName(r.type),
      queries: r.queries,
      responses: r.responses,
      responseCodes: rcodes(r.responseCodes),
      avgResponseTimeInMs: r.responseTimeCount > 0 ? r.responseTimeSum / r.responseTimeCount : null,
      packets: r.packets,
      bytes: r.packets,
    }));
    const dnsTable = topTable(
      dnsRows,
      top,
      this.dnsNames.overflowed,
      this.dnsNames.untrackedPackets,
      this.dnsNames.untrackedBytes,
      (a, b) => a.name.localeCompare(b.name),
    );
    const tlsRows = [...this.tlsNames.map.values()].map((r) => ({
      serverName: r.serverName,
      clientHellos: r.packets,
      serverAddresses: [...r.servers],
      packets: r.packets,
      bytes: r.packets,
    }));
    const tlsTable = topTable(
      tlsRows,
      top,
      this.tlsNames.overflowed,
      this.tlsNames.untrackedPackets,
      this.tlsNames.untrackedBytes,
      (a, b) => a.serverName.localeCompare(b.serverName),
    );

    const buckets = this.packets === 0 ? 0 : Math.floor(this.maxRelative / this.ioInterval) + 1;
    const dense = (values: number[]): number[] => Array.from({ length: buckets }, (_, i) => values[i] ?? 0);
    return {
      summary,
      protocols: { packets: this.packets, bytes: this.bytes, roots: [...this.roots.values()].map(freeze) },
      conversations: {
        ipv4: this.ipv4Conversations.result(top, false),
        ipv6: this.ipv6Conversations.result(top, false),
        tcp: this.tcpConversations.result(top, true),
        udp: this.udpConversations.result(top, true),
      },
      endpoints: {
        ipv4: this.ipv4Endpoints.result(top, false),
        ipv6: this.ipv6Endpoints.result(top, false),
        tcp: this.tcpEndpoints.result(top, true),
        udp: this.udpEndpoints.result(top, true),
      },
      tcp: {
        connections: tcpRows.length,
        handshakes,
        ...totals,
        handshakeRttInMs: handshakes > 0 ? { min: rttMin, avg: rttSum / handshakes, max: rttMax } : null,
        table: tcpTable,
      },
      dns: {
        queries: this.dnsQueries,
        responses: this.dnsResponses,
        unansweredQueries: this.dnsUnanswered + this.dnsPending.size,
        responseCodes: rcodes(this.dnsRcodes),
        responseTimeInMs:
          this.dnsTimeCount > 0
            ? {
                min: this.dnsTimeMin,
                avg: this.dnsTimeSum / this.dnsTimeCount,
                max: this.dnsTimeMax,
                matched: this.dnsTimeCount,
              }
            : null,
        names: { ...dnsTable, rows: dnsTable.rows.map(({ packets: _p, bytes: _b, ...row }) => row) },
      },
      tls: {
        clientHellos: this.tlsHellos,
        clientHellosWithoutServerName: this.tlsHellosWithoutName,
        serverNames: { ...tlsTable, rows: tlsTable.rows.map(({ packets: _p, bytes: _b, ...row }) => row) },
      },
      io: {
        intervalInSeconds: this.ioInterval,
        startTime: this.packets === 0 ? null : isoTime(this.firstSeconds, this.firstNanoseconds),
        packets: dense(this.ioPackets),
        bytes: dense(this.ioBytes),
        series: IO_PROTOCOLS.map((protocol, i) => ({
          protocol,
          packets: dense(this.ioSeries[i]!.packets),
          bytes: dense(this.ioSeries[i]!.bytes),
        })).filter((s) => s.packets.some((v) => v > 0)),
      },
    };
  }
}

function roundInterval(v: number): number {
  return Number(v.toPrecision(6));
}

function splitTime(seconds: number, nanoseconds: number, relative: number): [number, number] {
  const totalNs = nanoseconds + Math.round(relative * 1e9);
  const carry = Math.floor(totalNs / 1e9);
  return [seconds + carry, totalNs - carry * 1e9];
}

function freeze(n: MutableNode): ProtocolNode {
  return {
    protocol: n.protocol,
    packets: n.packets,
    bytes: n.bytes,
    children: [...n.children.values()].sort((a, b) => b.packets - a.packets).map(freeze),
  };
}

function tcpRow(rec: ConversationRecord<TcpHealthState>): TcpConnectionHealth {
  const c = conversationRow(rec, true);
  const h = rec.extra;
  return {
    addressA: c.addressA,
    portA: rec.portA,
    addressB: c.addressB,
    portB: rec.portB,
    packets: c.packets,
    bytes: c.bytes,
    relativeStartInSeconds: c.relativeStartInSeconds,
    durationInSeconds: c.durationInSeconds,
    handshakeRttInMs: h.handshakeRtt >= 0 ? round9(h.handshakeRtt * 1000) : null,
    retransmissions: h.retransmissions,
    duplicateAcks: h.duplicateAcks,
    zeroWindows: h.zeroWindows,
    resets: h.resets,
    outOfOrder: h.outOfOrder,
    state: connectionState(h),
  };
}
