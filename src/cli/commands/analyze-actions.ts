// The actions of `nw network watcher packet-capture analyze` and `nw pcap analyze|packets|filter`
// (declared in analyze.ts, which imports this file only when one of them runs).
import { createWriteStream } from 'node:fs';
import { access, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ANALYSIS_DEFAULT_TOP, analysisQuerySchema, packetListQuerySchema } from '../../model/index.js';
import type {
  AnalysisReport,
  AnalysisSection,
  Conversation,
  Endpoint,
  PacketListPage,
  ProtocolNode,
} from '../../model/index.js';
import {
  DisplayFilterError,
  IoIntervalTooSmallError,
  analyzeLocalFile,
  filteredCapture,
  listPackets,
  localFileSource,
  reportOf,
} from '../../analysis/index.js';
import { PcapFormatError } from '../../pcap/index.js';
import { packetCapturePath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { formatTable, parseOutputFormat, writeOutput } from '../output.js';
import type { TableColumn } from '../output.js';
import { watcherFor, type PacketCaptureNameOptions } from './packet-capture.js';
import type { AnalyzeOptions, PcapFilterOptions, PcapPacketsOptions } from './analyze.js';

function analysisQuery(options: AnalyzeOptions): {
  section?: AnalysisSection;
  top?: number;
  interval?: number;
  instance?: string;
} {
  const parsed = analysisQuerySchema.safeParse({
    section: options.section?.toLowerCase(),
    top: options.top,
    interval: options.interval,
    instance: options.instance,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`argument --${String(issue.path[0] ?? 'section')}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * `nw network watcher packet-capture analyze`: the server's analysis of a stored capture.
 * @example await packetCaptureAnalyze({ name: 'pc1', location: 'westus', section: 'conversations', output: 'table' }, ctx)
 */
export async function packetCaptureAnalyze(
  options: AnalyzeOptions & PacketCaptureNameOptions,
  ctx: CliContext,
): Promise<AnalysisReport> {
  const name = requireOption('--name/-n', options.name);
  const query = analysisQuery(options);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const response = await conn.client.request('GET', `${packetCapturePath(watcher.path, name)}/analysis`, {
    query: {
      section: query.section,
      top: query.top?.toString(),
      interval: query.interval?.toString(),
      instance: query.instance,
    },
  });
  const report = response.body as AnalysisReport;
  printReport(ctx, report, options.output);
  return report;
}

/**
 * `nw pcap analyze FILE`: the same analysis of a local pcap or pcapng file, in this process.
 * @example await pcapAnalyze('/tmp/x.pcapng', { section: 'tcp' }, ctx)
 */
export async function pcapAnalyze(file: string, options: AnalyzeOptions, ctx: CliContext): Promise<AnalysisReport> {
  const query = analysisQuery(options);
  await readable(file);
  try {
    const full = await analyzeLocalFile(file, {
      top: query.top ?? ANALYSIS_DEFAULT_TOP,
      ...(query.interval !== undefined ? { ioIntervalInSeconds: query.interval } : {}),
    });
    const report = reportOf(full, query.section);
    printReport(ctx, report, options.output);
    return report;
  } catch (error) {
    throw localError(file, error);
  }
}

/**
 * `nw pcap packets FILE`: decoded packets of a local file that match a display filter.
 * @example await pcapPackets('/tmp/x.pcap', { filter: 'dns', limit: '20', output: 'table' }, ctx)
 */
export async function pcapPackets(file: string, options: PcapPacketsOptions, ctx: CliContext): Promise<PacketListPage> {
  const parsed = packetListQuerySchema.safeParse({
    filter: options.filter,
    offset: options.offset,
    limit: options.limit,
  });
  if (!parsed.success)
    throw new UsageError(`argument --${String(parsed.error.issues[0]!.path[0])}: ${parsed.error.issues[0]!.message}`);
  await readable(file);
  try {
    const page = await listPackets(localFileSource(file), parsed.data);
    if (parseOutputFormat(options.output) === 'table') {
      ctx.out.write(
        formatTable(page.packets, [
          { header: 'No.', value: (p) => p.number },
          { header: 'Time', value: (p) => (p.relativeTimeInSeconds as number).toFixed(6) },
          { header: 'Source', value: (p) => p.source },
          { header: 'Destination', value: (p) => p.destination },
          { header: 'Protocol', value: (p) => p.protocol },
          { header: 'Length', value: (p) => p.originalLength },
          { header: 'Info', value: (p) => p.info },
        ]),
      );
      ctx.out.write(
        `${page.matchingPackets} of ${page.totalPackets} packets match${page.filter ? ` '${page.filter}'` : ''}\n`,
      );
    } else writeOutput(ctx.out, page, options.output);
    return page;
  } catch (error) {
    throw localError(file, error);
  }
}

/**
 * `nw pcap filter FILE --filter EXPR --write OUT`: writes the matching packets to a new file.
 * @example await pcapFilter('/tmp/x.pcap', { filter: 'tcp.port==80', write: '/tmp/web.pcap' }, ctx)
 */
export async function pcapFilter(file: string, options: PcapFilterOptions, ctx: CliContext): Promise<{ file: string }> {
  const target = requireOption('--write/-w', options.write);
  await readable(file);
  let chunks: AsyncGenerator<Buffer>;
  // A bad filter is refused before anything is written.
  try {
    chunks = filteredCapture(localFileSource(file), options.filter);
  } catch (error) {
    throw localError(file, error);
  }
  try {
    await pipeline(
      Readable.from(chunks),
      createWriteStream(target, { flags: options.force ? 'w' : 'wx', mode: 0o600 }),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new CliError(`the file ${target} already exists; pass --force to overwrite it`);
    // A file that turned out not to be a capture leaves no half-written output behind.
    await unlink(target).catch(() => undefined);
    throw localError(file, error);
  }
  const result = { file: target };
  writeOutput(ctx.out, result, options.output);
  return result;
}

async function readable(file: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new CliError(`cannot read ${file}: no such file`);
  }
}

function localError(file: string, error: unknown): unknown {
  if (error instanceof DisplayFilterError) return new UsageError(`argument --filter: ${error.message}`);
  if (error instanceof IoIntervalTooSmallError) return new UsageError(`argument --interval: ${error.message}`);
  if (error instanceof PcapFormatError) return new CliError(`${file} is not a pcap or pcapng file: ${error.message}`);
  return error;
}

// ---- -o table --------------------------------------------------------------------------------

const conversationColumns = (withPorts: boolean): TableColumn[] => [
  { header: 'Address A', value: (r) => r.addressA },
  ...(withPorts ? [{ header: 'Port A', value: (r: Record<string, unknown>) => r.portA }] : []),
  { header: 'Address B', value: (r) => r.addressB },
  ...(withPorts ? [{ header: 'Port B', value: (r: Record<string, unknown>) => r.portB }] : []),
  { header: 'Packets A→B', value: (r) => r.packetsAToB },
  { header: 'Bytes A→B', value: (r) => r.bytesAToB },
  { header: 'Packets B→A', value: (r) => r.packetsBToA },
  { header: 'Bytes B→A', value: (r) => r.bytesBToA },
  { header: 'Packets', value: (r) => r.packets },
  { header: 'Bytes', value: (r) => r.bytes },
  { header: 'Start', value: (r) => (r.relativeStartInSeconds as number).toFixed(6) },
  { header: 'Duration', value: (r) => (r.durationInSeconds as number).toFixed(6) },
];
const endpointColumns = (withPorts: boolean): TableColumn[] => [
  { header: 'Address', value: (r) => r.address },
  ...(withPorts ? [{ header: 'Port', value: (r: Record<string, unknown>) => r.port }] : []),
  { header: 'Packets', value: (r) => r.packets },
  { header: 'Bytes', value: (r) => r.bytes },
  { header: 'Tx Packets', value: (r) => r.txPackets },
  { header: 'Tx Bytes', value: (r) => r.txBytes },
  { header: 'Rx Packets', value: (r) => r.rxPackets },
  { header: 'Rx Bytes', value: (r) => r.rxBytes },
];

function printReport(ctx: CliContext, report: AnalysisReport, output: string | undefined): void {
  if (parseOutputFormat(output) !== 'table') {
    writeOutput(ctx.out, report, output);
    return;
  }
  const out: string[] = [];
  const table = <T>(
    title: string,
    t: { rows: T[]; totalRows: number; truncated: boolean; otherPackets: number; otherBytes: number },
    columns: TableColumn[],
  ): void => {
    if (t.totalRows === 0 && t.otherPackets === 0) return;
    out.push(
      `${title} (${t.totalRows}${t.truncated ? `, top ${t.rows.length} shown; others: ${t.otherPackets} packets, ${t.otherBytes} bytes` : ''})`,
    );
    out.push(formatTable(t.rows, columns));
  };
  const s = report.summary;
  if (s) {
    out.push('Summary');
    out.push(
      formatTable(
        [
          ['Packets', s.packets],
          ['Bytes', s.bytes],
          ['First packet', s.firstPacketTime ?? ''],
          ['Last packet', s.lastPacketTime ?? ''],
          ['Duration (s)', s.durationInSeconds],
          ['Average packets/s', s.averagePacketsPerSecond.toFixed(3)],
          ['Average bits/s', s.averageBitsPerSecond.toFixed(1)],
          ['Average packet size', s.averagePacketSizeInBytes.toFixed(2)],
          ['Link types', s.linkTypes.join(', ')],
          ['Snap length', s.snapLengthInBytes],
          ['Truncated packets', s.truncatedPackets],
          ['Kernel drops', s.kernelPacketsDropped ?? 'unknown'],
        ].map(([k, v]) => ({ Field: k, Value: v })),
        [
          { header: 'Field', value: (r) => r.Field },
          { header: 'Value', value: (r) => r.Value },
        ],
      ),
    );
  }
  if (report.protocols) {
    const rows: Array<{ protocol: string; packets: number; bytes: number }> = [];
    const walk = (n: ProtocolNode, depth: number): void => {
      rows.push({ protocol: `${'  '.repeat(depth)}${n.protocol}`, packets: n.packets, bytes: n.bytes });
      n.children.forEach((c) => walk(c, depth + 1));
    };
    report.protocols.roots.forEach((r) => walk(r, 0));
    out.push('Protocol hierarchy');
    out.push(
      formatTable(rows, [
        { header: 'Protocol', value: (r) => r.protocol },
        { header: 'Packets', value: (r) => r.packets },
        { header: 'Bytes', value: (r) => r.bytes },
      ]),
    );
  }
  const c = report.conversations;
  if (c) {
    table<Conversation>('IPv4 conversations', c.ipv4, conversationColumns(false));
    table<Conversation>('IPv6 conversations', c.ipv6, conversationColumns(false));
    table<Conversation>('TCP conversations', c.tcp, conversationColumns(true));
    table<Conversation>('UDP conversations', c.udp, conversationColumns(true));
  }
  const e = report.endpoints;
  if (e) {
    table<Endpoint>('IPv4 endpoints', e.ipv4, endpointColumns(false));
    table<Endpoint>('IPv6 endpoints', e.ipv6, endpointColumns(false));
    table<Endpoint>('TCP endpoints', e.tcp, endpointColumns(true));
    table<Endpoint>('UDP endpoints', e.udp, endpointColumns(true));
  }
  const t = report.tcp;
  if (t) {
    out.push(
      `TCP health: ${t.connections} connections, ${t.handshakes} handshakes, ${t.retransmissions} retransmissions, ${t.duplicateAcks} duplicate ACKs, ${t.zeroWindows} zero windows, ${t.resets} resets, ${t.outOfOrder} out of order`,
    );
    table('TCP connections', t.table, [
      { header: 'Address A', value: (r) => r.addressA },
      { header: 'Port A', value: (r) => r.portA },
      { header: 'Address B', value: (r) => r.addressB },
      { header: 'Port B', value: (r) => r.portB },
      { header: 'State', value: (r) => r.state },
      {
        header: 'RTT ms',
        value: (r) => (r.handshakeRttInMs === null ? '' : (r.handshakeRttInMs as number).toFixed(3)),
      },
      { header: 'Retrans', value: (r) => r.retransmissions },
      { header: 'Dup ACK', value: (r) => r.duplicateAcks },
      { header: 'Zero win', value: (r) => r.zeroWindows },
      { header: 'Resets', value: (r) => r.resets },
      { header: 'Out of order', value: (r) => r.outOfOrder },
      { header: 'Packets', value: (r) => r.packets },
      { header: 'Bytes', value: (r) => r.bytes },
    ]);
  }
  const dns = report.dns;
  if (dns) {
    out.push(
      `DNS: ${dns.queries} queries, ${dns.responses} responses, ${dns.unansweredQueries} unanswered; ${
        Object.entries(dns.responseCodes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'no responses'
      }${dns.responseTimeInMs ? `; response time ms min ${dns.responseTimeInMs.min.toFixed(3)} avg ${dns.responseTimeInMs.avg.toFixed(3)} max ${dns.responseTimeInMs.max.toFixed(3)}` : ''}`,
    );
    table('DNS names', dns.names, [
      { header: 'Name', value: (r) => r.name },
      { header: 'Type', value: (r) => r.queryType },
      { header: 'Queries', value: (r) => r.queries },
      { header: 'Responses', value: (r) => r.responses },
      {
        header: 'Codes',
        value: (r) =>
          Object.entries(r.responseCodes as Record<string, number>)
            .map(([k, v]) => `${k}:${v}`)
            .join(' '),
      },
      {
        header: 'Avg ms',
        value: (r) => (r.avgResponseTimeInMs === null ? '' : (r.avgResponseTimeInMs as number).toFixed(3)),
      },
    ]);
  }
  const tls = report.tls;
  if (tls) {
    out.push(`TLS: ${tls.clientHellos} ClientHellos, ${tls.clientHellosWithoutServerName} without a server name`);
    table('TLS server names', tls.serverNames, [
      { header: 'Server name', value: (r) => r.serverName },
      { header: 'ClientHellos', value: (r) => r.clientHellos },
      { header: 'Servers', value: (r) => (r.serverAddresses as string[]).join(' ') },
    ]);
  }
  const io = report.io;
  if (io) {
    out.push(`I/O every ${io.intervalInSeconds} s from ${io.startTime ?? '-'}`);
    out.push(
      formatTable(
        io.packets.map((p, i) => ({
          i,
          p,
          b: io.bytes[i] ?? 0,
          ...Object.fromEntries(io.series.map((s) => [s.protocol, s.packets[i] ?? 0])),
        })),
        [
          { header: 'Start (s)', value: (r) => Number(((r.i as number) * io.intervalInSeconds).toPrecision(12)) },
          { header: 'Packets', value: (r) => r.p },
          { header: 'Bytes', value: (r) => r.b },
          ...io.series.map((s) => ({
            header: s.protocol.toUpperCase(),
            value: (r: Record<string, unknown>) => r[s.protocol],
          })),
        ],
      ),
    );
  }
  ctx.out.write(out.join('\n'));
}
