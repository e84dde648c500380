/**
 * The analysis contract (issue 15 §1): the schemas of every analysis answer. They are the single
 * source of the TypeScript types (src/analysis builds these objects), of the OpenAPI document
 * (src/server/openapi.ts) and of the portal's client-side checks.
 *
 * Routes (netwatcher extensions under the capture resource; bearer-authenticated like every ARM
 * route; `{PC}` = `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/packetCaptures/{name}`):
 *
 * - `GET {PC}/analysis?[section=summary|protocols|conversations|endpoints|tcp|dns|tls|io][&instance=VM][&interval=SECONDS][&top=N]`
 *   → `AnalysisReport` (analysisReportSchema). Without `section` every section is present; with
 *   one, only `source` and that section's key. `instance` picks the host of a multi-host capture
 *   (default: the first, as `download`); `interval` is the I/O bucket width in seconds (default:
 *   chosen so the chart has at most 500 buckets); `top` caps every table (default 100, max 10000).
 * - `GET {PC}/packets?[offset=0][&limit=100][&filter=EXPR][&instance=VM]` → `PacketListPage`
 *   (packetListPageSchema): the decoded packets that match the display filter, paged
 *   (limit ≤ 1000). A bad filter is 400 InvalidFilter naming the position (target `filter`).
 * - `GET {PC}/packets/pcap?[filter=EXPR][&instance=VM]` → the packets that match, as a file of
 *   the stored file's format: a classic pcap (`application/vnd.tcpdump.pcap`, records copied byte
 *   for byte) or, for pcapng, pcapng (`application/x-pcapng`, every interface kept).
 *
 * Errors: 409 FileNotAvailable while the capture runs or has no file (as `download`), 400
 * InvalidParameter for bad query parameters, 400 InvalidFilter for a bad display filter.
 *
 * Conventions: counts are exact; `bytes` are on-the-wire lengths (pcap `orig_len`), as tshark's
 * conversation and hierarchy tables count them; times are ISO 8601 with microseconds (UTC), and
 * offsets/durations are seconds from the first packet of the file. Tables hold the top N rows
 * by bytes (`truncated` says some were left out) while `total*` fields cover every row.
 */
import { z } from 'zod';

const count = z.number().int().min(0);
const seconds = z.number().min(0);
const isoTime = z.string().describe('ISO 8601 UTC with microseconds');

/** Analysis sections a client may ask for. */
export const ANALYSIS_SECTIONS = [
  'summary',
  'protocols',
  'conversations',
  'endpoints',
  'tcp',
  'dns',
  'tls',
  'io',
] as const;
/** One analysis section. */
export type AnalysisSection = (typeof ANALYSIS_SECTIONS)[number];

/** Largest `top` a request may ask for. */
export const ANALYSIS_MAX_TOP = 10000;
/** Default rows per table. */
export const ANALYSIS_DEFAULT_TOP = 100;
/** Largest packet-list page. */
export const PACKET_LIST_MAX_LIMIT = 1000;

/** Query of GET …/analysis. */
export const analysisQuerySchema = z.object({
  section: z.enum(ANALYSIS_SECTIONS).optional(),
  instance: z.string().min(1).optional(),
  interval: z.coerce.number().positive().max(86400).optional().describe('I/O bucket width in seconds'),
  top: z.coerce.number().int().min(1).max(ANALYSIS_MAX_TOP).optional(),
});
/** A validated analysis query. */
export type AnalysisQuery = z.output<typeof analysisQuerySchema>;

/** Query of GET …/packets and …/packets/pcap. */
export const packetListQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).default(0).describe('matching packets to skip'),
  limit: z.coerce.number().int().min(1).max(PACKET_LIST_MAX_LIMIT).default(100),
  filter: z
    .string()
    .max(4096)
    .optional()
    .describe('display filter (docs/analysis.md), e.g. ip.addr==10.0.0.1 && tcp.port==80'),
  instance: z.string().min(1).optional(),
});
/** A validated packet-list query. */
export type PacketListQuery = z.output<typeof packetListQuerySchema>;

/** The file an answer was computed from. */
export const analysisSourceSchema = z.object({
  fileName: z.string(),
  sizeInBytes: count,
  sha256: z.string(),
  format: z.enum(['pcap', 'pcapng']),
  instance: z.string().nullable().describe('host (VM name) of a capture; null for a local file'),
});

/** One capture interface (pcapng IDB; a classic pcap has one). */
export const captureInterfaceSchema = z.object({
  id: count,
  linkType: count,
  linkTypeName: z.string(),
  snapLengthInBytes: count,
  name: z.string().nullable(),
  timestampResolution: z.enum(['us', 'ns', 'other']),
  packets: count,
});

/** Summary (capinfos' figures). */
export const analysisSummarySchema = z.object({
  packets: count,
  bytes: count.describe('sum of on-the-wire lengths (capinfos "Data size")'),
  capturedBytes: count.describe('sum of captured lengths'),
  truncatedPackets: count.describe('packets cut short by the snap length'),
  firstPacketTime: isoTime.nullable(),
  lastPacketTime: isoTime.nullable(),
  durationInSeconds: seconds,
  averagePacketsPerSecond: z.number().min(0),
  averageBitsPerSecond: z.number().min(0),
  averagePacketSizeInBytes: z.number().min(0),
  linkTypes: z.array(z.string()).describe('LINKTYPE names, e.g. ETHERNET, LINUX_SLL, LINUX_SLL2'),
  snapLengthInBytes: count.describe('the largest interface snap length (0 = unlimited)'),
  interfaces: z.array(captureInterfaceSchema),
  kernelPacketsDropped: count
    .nullable()
    .describe('drops the capture reported (agent status, or pcapng ISB ifdrop); null when unknown'),
  kernelPacketsReceived: count.nullable(),
  trailingBytesIgnored: count.describe('bytes of a partial last record (a writer cut off), ignored'),
});

/** A protocol hierarchy node (tshark -z io,phs): packets and bytes of frames that contain this protocol under its parents. */
export const protocolNodeSchema = z
  .object({
    protocol: z
      .string()
      .describe('tshark names: eth, sll, ip, ipv6, arp, tcp, udp, icmp, icmpv6, dns, tls, http, data'),
    packets: count,
    bytes: count,
    get children(): z.ZodArray<typeof protocolNodeSchema> {
      return z.array(protocolNodeSchema);
    },
  })
  .meta({ id: 'ProtocolNode' });
/** A protocol hierarchy node. */
export type ProtocolNode = z.output<typeof protocolNodeSchema>;

/** Protocol hierarchy section. */
export const protocolHierarchySchema = z.object({ packets: count, bytes: count, roots: z.array(protocolNodeSchema) });

/** One conversation (tshark -z conv,…): A is the source of its first packet. */
export const conversationSchema = z.object({
  addressA: z.string(),
  portA: count.nullable(),
  addressB: z.string(),
  portB: count.nullable(),
  packetsAToB: count,
  bytesAToB: count,
  packetsBToA: count,
  bytesBToA: count,
  packets: count,
  bytes: count,
  relativeStartInSeconds: seconds,
  durationInSeconds: seconds,
});
/** One conversation row. */
export type Conversation = z.output<typeof conversationSchema>;

/** A table truncated to its top rows, with exact totals over every row. */
const tableOf = <T extends z.ZodType>(row: T) =>
  z.object({
    rows: z.array(row),
    totalRows: count,
    truncated: z.boolean(),
    totalRowsIsExact: z
      .boolean()
      .describe('false when more distinct keys were seen than the analyser tracks; packets/bytes totals stay exact'),
    otherPackets: count.describe('packets of rows left out'),
    otherBytes: count,
  });

/** Summary section. */
export type AnalysisSummary = z.output<typeof analysisSummarySchema>;
/** Protocol hierarchy section. */
export type ProtocolHierarchy = z.output<typeof protocolHierarchySchema>;

/** Conversation tables per layer. */
export const conversationsSchema = z.object({
  ipv4: tableOf(conversationSchema),
  ipv6: tableOf(conversationSchema),
  tcp: tableOf(conversationSchema),
  udp: tableOf(conversationSchema),
});

/** One endpoint (tshark -z endpoints,…): Tx = as source, Rx = as destination. */
export const endpointSchema = z.object({
  address: z.string(),
  port: count.nullable(),
  packets: count,
  bytes: count,
  txPackets: count,
  txBytes: count,
  rxPackets: count,
  rxBytes: count,
});
/** One endpoint row. */
export type Endpoint = z.output<typeof endpointSchema>;

/** Endpoint tables per layer. */
export const endpointsSchema = z.object({
  ipv4: tableOf(endpointSchema),
  ipv6: tableOf(endpointSchema),
  tcp: tableOf(endpointSchema),
  udp: tableOf(endpointSchema),
});
/** Conversations section. */
export type Conversations = z.output<typeof conversationsSchema>;
/** Endpoints section. */
export type Endpoints = z.output<typeof endpointsSchema>;

/** TCP health of one connection (A = the side that sent the first packet, the SYN when seen). */
export const tcpConnectionHealthSchema = z.object({
  addressA: z.string(),
  portA: count,
  addressB: z.string(),
  portB: count,
  packets: count,
  bytes: count,
  relativeStartInSeconds: seconds,
  durationInSeconds: seconds,
  handshakeRttInMs: z
    .number()
    .min(0)
    .nullable()
    .describe(
      'SYN → the ACK completing the handshake (tshark tcp.analysis.initial_rtt); null without a full handshake',
    ),
  retransmissions: count,
  duplicateAcks: count,
  zeroWindows: count,
  resets: count,
  outOfOrder: count,
  state: z
    .enum(['handshake', 'established', 'closed', 'reset', 'unknown'])
    .describe('what the capture shows: SYN only, data, FIN both ways, RST, or started before the capture'),
});
/** TCP health of one connection. */
export type TcpConnectionHealth = z.output<typeof tcpConnectionHealthSchema>;

/** TCP health section: totals over every connection, and the connections with the most anomalies first. */
export const tcpHealthSchema = z.object({
  connections: count,
  handshakes: count,
  retransmissions: count,
  duplicateAcks: count,
  zeroWindows: count,
  resets: count,
  outOfOrder: count,
  handshakeRttInMs: z.object({ min: z.number(), avg: z.number(), max: z.number() }).nullable(),
  table: tableOf(tcpConnectionHealthSchema),
});

/** DNS names asked for, with their outcomes. */
export const dnsNameSchema = z.object({
  name: z.string(),
  queryType: z.string().describe('A, AAAA, PTR … or TYPEnnn'),
  queries: count,
  responses: count,
  responseCodes: z.record(z.string(), count).describe('response code name (NOERROR, NXDOMAIN, SERVFAIL …) → responses'),
  avgResponseTimeInMs: z.number().min(0).nullable(),
});

/** DNS section. */
export const dnsSchema = z.object({
  queries: count,
  responses: count,
  unansweredQueries: count,
  responseCodes: z.record(z.string(), count),
  responseTimeInMs: z.object({ min: z.number(), avg: z.number(), max: z.number(), matched: count }).nullable(),
  names: tableOf(dnsNameSchema),
});

/** TCP health section. */
export type TcpHealth = z.output<typeof tcpHealthSchema>;
/** DNS section. */
export type DnsAnalysis = z.output<typeof dnsSchema>;

/** TLS server names (SNI) from ClientHello. */
export const tlsServerNameSchema = z.object({
  serverName: z.string(),
  clientHellos: count,
  serverAddresses: z.array(z.string()).describe('up to 10'),
});

/** TLS section. */
export const tlsSchema = z.object({
  clientHellos: count,
  clientHellosWithoutServerName: count,
  serverNames: tableOf(tlsServerNameSchema),
});

/** TLS section. */
export type TlsAnalysis = z.output<typeof tlsSchema>;

/** I/O over time: equal buckets from the first packet. */
export const ioSchema = z.object({
  intervalInSeconds: z.number().positive(),
  startTime: isoTime.nullable(),
  packets: z.array(count),
  bytes: z.array(count),
  series: z.array(
    z.object({
      protocol: z.string().describe('tcp, udp, icmp, icmpv6, arp, other'),
      packets: z.array(count),
      bytes: z.array(count),
    }),
  ),
});

/** I/O section. */
export type IoAnalysis = z.output<typeof ioSchema>;
/** The file an answer came from. */
export type AnalysisSource = z.output<typeof analysisSourceSchema>;

/** GET …/analysis answer (AnalysisReport): `source` and the sections asked for. */
export const analysisReportSchema = z.object({
  source: analysisSourceSchema,
  summary: analysisSummarySchema.optional(),
  protocols: protocolHierarchySchema.optional(),
  conversations: conversationsSchema.optional(),
  endpoints: endpointsSchema.optional(),
  tcp: tcpHealthSchema.optional(),
  dns: dnsSchema.optional(),
  tls: tlsSchema.optional(),
  io: ioSchema.optional(),
});
/** An analysis answer. */
export type AnalysisReport = z.output<typeof analysisReportSchema>;

/** A decoded field value. */
const fieldValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One decoded layer of a packet; field names are the display-filter names (ip.src, tcp.flags …). */
export const packetLayerSchema = z.object({
  layer: z.string().describe('eth, sll, sll2, arp, ip, ipv6, icmp, icmpv6, tcp, udp, dns, tls'),
  summary: z.string(),
  fields: z.record(z.string(), fieldValue),
});
/** One decoded layer. */
export type PacketLayer = z.output<typeof packetLayerSchema>;

/** One packet of the list. */
export const packetRowSchema = z.object({
  number: z.number().int().min(1).describe('frame number in the file, from 1 (as Wireshark)'),
  time: isoTime,
  relativeTimeInSeconds: z.number(),
  interfaceId: count,
  capturedLength: count,
  originalLength: count,
  protocol: z.string().describe('the highest decoded protocol'),
  source: z.string().nullable(),
  destination: z.string().nullable(),
  info: z.string(),
  layers: z.array(packetLayerSchema),
});
/** One decoded packet. */
export type PacketRow = z.output<typeof packetRowSchema>;

/** GET …/packets answer (PacketListPage). */
export const packetListPageSchema = z.object({
  source: analysisSourceSchema,
  filter: z.string().nullable(),
  offset: count,
  limit: count,
  totalPackets: count.describe('packets in the file'),
  matchingPackets: count.describe('packets the filter matches (all of them without a filter)'),
  packets: z.array(packetRowSchema),
});
/** A page of decoded packets. */
export type PacketListPage = z.output<typeof packetListPageSchema>;
