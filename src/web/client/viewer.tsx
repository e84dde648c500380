// The capture viewer: the capture's status and file, and every analysis of it (src/analysis via
// …/analysis): summary, I/O graph, protocol hierarchy, conversations and endpoints (sortable,
// filterable), TCP health, DNS, TLS, and the decoded packet list with a display filter and a
// filtered download.
import type {
  AnalysisReport,
  Conversation,
  Endpoint,
  PacketListPage,
  ProtocolNode,
  TcpConnectionHealth,
} from '../../model/analysis.js';
import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ApiFailure, api, apiUrl } from './api.js';
import { captureErrorText, formatBytes, formatCount, formatTime, stopReasonText } from './format.js';
import type { CaptureStatus } from './captures.js';
import { TimeChart } from './sparkline.js';
import { ErrorNote, Page, StatusBadge, useLoad } from './ui.js';

const TABS = [
  'Summary',
  'I/O graph',
  'Protocols',
  'Conversations',
  'Endpoints',
  'TCP health',
  'DNS',
  'TLS',
  'Packets',
] as const;
type Tab = (typeof TABS)[number];
const LAYERS = ['tcp', 'udp', 'ipv4', 'ipv6'] as const;
type Layer = (typeof LAYERS)[number];

/** A sortable, filterable table: columns with a key, a heading and how to show a value. */
interface Column<R> {
  key: string;
  label: string;
  value: (r: R) => string | number | null;
  num?: boolean;
  show?: (r: R) => ComponentChildren;
}

function SortableTable<R>({
  rows,
  columns,
  caption,
  initialSort,
  testId,
}: {
  rows: R[];
  columns: Array<Column<R>>;
  caption: string;
  initialSort: string;
  testId: string;
}) {
  const [sort, setSort] = useState<{ key: string; desc: boolean }>({ key: initialSort, desc: true });
  const [text, setText] = useState('');
  const shown = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key) ?? columns[0]!;
    const needle = text.trim().toLowerCase();
    const kept = needle
      ? rows.filter((r) =>
          columns.some((c) =>
            String(c.value(r) ?? '')
              .toLowerCase()
              .includes(needle),
          ),
        )
      : rows;
    return [...kept].sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      const cmp =
        typeof x === 'number' && typeof y === 'number'
          ? x - y
          : String(x ?? '').localeCompare(String(y ?? ''), undefined, { numeric: true });
      return sort.desc ? -cmp : cmp;
    });
  }, [rows, columns, sort, text]);
  return (
    <>
      <div class="toolbar">
        <label>
          Filter rows{' '}
          <input
            type="search"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            placeholder="address, port…"
            aria-controls={testId}
          />
        </label>
        <span class="muted small" role="status">
          {shown.length} of {rows.length} rows
        </span>
      </div>
      <table class="grid" id={testId} data-table={testId}>
        <caption class="muted small">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th
                key={c.key}
                scope="col"
                class={`sortable${c.num ? ' num' : ''}`}
                aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
              >
                <button
                  type="button"
                  onClick={() => setSort({ key: c.key, desc: sort.key === c.key ? !sort.desc : true })}
                >
                  {c.label}
                  {sort.key === c.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((r, i) => (
            <tr key={i}>
              {columns.map((c) => {
                const v = c.value(r);
                return (
                  <td
                    key={c.key}
                    class={c.num ? 'num' : undefined}
                    data-col={c.key}
                    data-value={v === null ? '' : String(v)}
                  >
                    {c.show ? c.show(r) : c.num && typeof v === 'number' ? formatCount(v) : (v ?? '–')}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function tableNote(t: { totalRows: number; truncated: boolean; otherPackets: number; otherBytes: number }): string {
  return t.truncated
    ? `Top ${t.totalRows} rows shown of more; ${formatCount(t.otherPackets)} packets (${formatBytes(t.otherBytes)}) in rows left out.`
    : `${t.totalRows} rows.`;
}

const endpointText = (address: string, port: number | null) =>
  port === null ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

function ConversationsTab({ report }: { report: AnalysisReport }) {
  const [layer, setLayer] = useState<Layer>('tcp');
  const table = report.conversations?.[layer];
  if (!table) return <p class="muted">No conversations.</p>;
  const ports = layer === 'tcp' || layer === 'udp';
  const columns: Array<Column<Conversation>> = [
    { key: 'addressA', label: 'Address A', value: (r) => r.addressA },
    ...(ports ? [{ key: 'portA', label: 'Port A', value: (r: Conversation) => r.portA, num: true }] : []),
    { key: 'addressB', label: 'Address B', value: (r) => r.addressB },
    ...(ports ? [{ key: 'portB', label: 'Port B', value: (r: Conversation) => r.portB, num: true }] : []),
    { key: 'packets', label: 'Packets', value: (r) => r.packets, num: true },
    { key: 'bytes', label: 'Bytes', value: (r) => r.bytes, num: true },
    { key: 'packetsAToB', label: 'Packets A→B', value: (r) => r.packetsAToB, num: true },
    { key: 'bytesAToB', label: 'Bytes A→B', value: (r) => r.bytesAToB, num: true },
    { key: 'packetsBToA', label: 'Packets B→A', value: (r) => r.packetsBToA, num: true },
    { key: 'bytesBToA', label: 'Bytes B→A', value: (r) => r.bytesBToA, num: true },
    {
      key: 'start',
      label: 'Start (s)',
      value: (r) => r.relativeStartInSeconds,
      num: true,
      show: (r) => r.relativeStartInSeconds.toFixed(6),
    },
    {
      key: 'duration',
      label: 'Duration (s)',
      value: (r) => r.durationInSeconds,
      num: true,
      show: (r) => r.durationInSeconds.toFixed(4),
    },
  ];
  return (
    <>
      <LayerPicker
        layer={layer}
        setLayer={setLayer}
        counts={Object.fromEntries(LAYERS.map((l) => [l, report.conversations?.[l].totalRows ?? 0]))}
      />
      <SortableTable
        key={layer}
        rows={table.rows}
        columns={columns}
        caption={tableNote(table)}
        initialSort="bytes"
        testId={`conversations-${layer}`}
      />
    </>
  );
}

function LayerPicker({
  layer,
  setLayer,
  counts,
}: {
  layer: Layer;
  setLayer: (l: Layer) => void;
  counts: Record<string, number>;
}) {
  return (
    <div class="toolbar" role="radiogroup" aria-label="Layer">
      {LAYERS.map((l) => (
        <label class="check" key={l}>
          <input type="radio" name="layer" checked={layer === l} onChange={() => setLayer(l)} /> {l.toUpperCase()} (
          {counts[l] ?? 0})
        </label>
      ))}
    </div>
  );
}

function EndpointsTab({ report }: { report: AnalysisReport }) {
  const [layer, setLayer] = useState<Layer>('ipv4');
  const table = report.endpoints?.[layer];
  if (!table) return <p class="muted">No endpoints.</p>;
  const columns: Array<Column<Endpoint>> = [
    { key: 'address', label: 'Address', value: (r) => r.address },
    ...(layer === 'tcp' || layer === 'udp'
      ? [{ key: 'port', label: 'Port', value: (r: Endpoint) => r.port, num: true }]
      : []),
    { key: 'packets', label: 'Packets', value: (r) => r.packets, num: true },
    { key: 'bytes', label: 'Bytes', value: (r) => r.bytes, num: true },
    { key: 'txPackets', label: 'Tx packets', value: (r) => r.txPackets, num: true },
    { key: 'txBytes', label: 'Tx bytes', value: (r) => r.txBytes, num: true },
    { key: 'rxPackets', label: 'Rx packets', value: (r) => r.rxPackets, num: true },
    { key: 'rxBytes', label: 'Rx bytes', value: (r) => r.rxBytes, num: true },
  ];
  return (
    <>
      <LayerPicker
        layer={layer}
        setLayer={setLayer}
        counts={Object.fromEntries(LAYERS.map((l) => [l, report.endpoints?.[l].totalRows ?? 0]))}
      />
      <SortableTable
        key={layer}
        rows={table.rows}
        columns={columns}
        caption={tableNote(table)}
        initialSort="bytes"
        testId={`endpoints-${layer}`}
      />
    </>
  );
}

function TcpTab({ report }: { report: AnalysisReport }) {
  const tcp = report.tcp;
  if (!tcp) return <p class="muted">No TCP.</p>;
  const columns: Array<Column<TcpConnectionHealth>> = [
    { key: 'a', label: 'A', value: (r) => endpointText(r.addressA, r.portA) },
    { key: 'b', label: 'B', value: (r) => endpointText(r.addressB, r.portB) },
    { key: 'state', label: 'State', value: (r) => r.state },
    {
      key: 'rtt',
      label: 'Handshake RTT (ms)',
      value: (r) => r.handshakeRttInMs,
      num: true,
      show: (r) => (r.handshakeRttInMs === null ? '–' : r.handshakeRttInMs.toFixed(3)),
    },
    { key: 'retransmissions', label: 'Retransmissions', value: (r) => r.retransmissions, num: true },
    { key: 'duplicateAcks', label: 'Dup ACKs', value: (r) => r.duplicateAcks, num: true },
    { key: 'zeroWindows', label: 'Zero windows', value: (r) => r.zeroWindows, num: true },
    { key: 'resets', label: 'Resets', value: (r) => r.resets, num: true },
    { key: 'outOfOrder', label: 'Out of order', value: (r) => r.outOfOrder, num: true },
    { key: 'packets', label: 'Packets', value: (r) => r.packets, num: true },
    { key: 'bytes', label: 'Bytes', value: (r) => r.bytes, num: true },
  ];
  const rtt = tcp.handshakeRttInMs;
  return (
    <>
      <dl class="summary-grid">
        <Fact label="Connections" value={formatCount(tcp.connections)} />
        <Fact label="Handshakes" value={formatCount(tcp.handshakes)} />
        <Fact
          label="Handshake RTT min / avg / max"
          value={rtt ? `${rtt.min.toFixed(2)} / ${rtt.avg.toFixed(2)} / ${rtt.max.toFixed(2)} ms` : '–'}
        />
        <Fact label="Retransmissions" value={formatCount(tcp.retransmissions)} />
        <Fact label="Duplicate ACKs" value={formatCount(tcp.duplicateAcks)} />
        <Fact label="Zero windows" value={formatCount(tcp.zeroWindows)} />
        <Fact label="Resets" value={formatCount(tcp.resets)} />
        <Fact label="Out of order" value={formatCount(tcp.outOfOrder)} />
      </dl>
      <SortableTable
        rows={tcp.table.rows}
        columns={columns}
        caption={`Connections with the most anomalies first. ${tableNote(tcp.table)}`}
        initialSort="retransmissions"
        testId="tcp-health"
      />
    </>
  );
}

function Fact({ label, value }: { label: string; value: ComponentChildren }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function SummaryTab({ report, status }: { report: AnalysisReport; status: CaptureStatus | undefined }) {
  const s = report.summary;
  if (!s) return null;
  return (
    <dl class="summary-grid">
      <Fact label="Packets" value={formatCount(s.packets)} />
      <Fact label="Bytes on the wire" value={formatBytes(s.bytes)} />
      <Fact label="Captured bytes" value={formatBytes(s.capturedBytes)} />
      <Fact label="First packet" value={formatTime(s.firstPacketTime)} />
      <Fact label="Last packet" value={formatTime(s.lastPacketTime)} />
      <Fact label="Duration" value={`${s.durationInSeconds.toFixed(3)} s`} />
      <Fact
        label="Average rate"
        value={`${formatCount(Math.round(s.averagePacketsPerSecond))} pkt/s · ${formatBytes(s.averageBitsPerSecond / 8)}/s`}
      />
      <Fact label="Average packet" value={`${s.averagePacketSizeInBytes.toFixed(1)} B`} />
      <Fact label="Link types" value={s.linkTypes.join(', ')} />
      <Fact label="Snap length" value={s.snapLengthInBytes === 0 ? 'whole packets' : `${s.snapLengthInBytes} B`} />
      <Fact label="Truncated packets" value={formatCount(s.truncatedPackets)} />
      <Fact
        label="Kernel drops"
        value={
          s.kernelPacketsDropped === null
            ? formatCount(status?.kernelPacketsDropped ?? null)
            : formatCount(s.kernelPacketsDropped)
        }
      />
      <Fact
        label="File"
        value={`${report.source.fileName} (${report.source.format}, ${formatBytes(report.source.sizeInBytes)})`}
      />
      <Fact label="SHA-256" value={<span class="mono small">{report.source.sha256.slice(0, 16)}…</span>} />
    </dl>
  );
}

const SERIES_COLOURS: Record<string, string> = {
  tcp: '#2563eb',
  udp: '#16a34a',
  icmp: '#dc2626',
  icmpv6: '#f97316',
  arp: '#9333ea',
  other: '#6b7280',
};

function IoTab({ report }: { report: AnalysisReport }) {
  const [what, setWhat] = useState<'packets' | 'bytes'>('packets');
  const io = report.io;
  const chart = useMemo(() => {
    if (!io || !io.startTime) return null;
    const start = Date.parse(io.startTime) / 1000;
    const times = io.packets.map((_, i) => start + i * io.intervalInSeconds);
    const series = [
      { name: 'all', values: io[what], stroke: '#111827' },
      ...io.series.map((s) => ({ name: s.protocol, values: s[what], stroke: SERIES_COLOURS[s.protocol] ?? '#6b7280' })),
    ];
    return { times, series };
  }, [io, what]);
  if (!io || !chart) return <p class="muted">No packets.</p>;
  return (
    <>
      <div class="toolbar" role="radiogroup" aria-label="Measure">
        <label class="check">
          <input type="radio" name="io" checked={what === 'packets'} onChange={() => setWhat('packets')} /> Packets
        </label>
        <label class="check">
          <input type="radio" name="io" checked={what === 'bytes'} onChange={() => setWhat('bytes')} /> Bytes
        </label>
        <span class="muted small">per {io.intervalInSeconds} s</span>
      </div>
      <TimeChart times={chart.times} series={chart.series} yLabel={`${what} / ${io.intervalInSeconds} s`} />
    </>
  );
}

/** The hierarchy as rows, each with its depth (tshark -z io,phs's indented table). */
function flatten(
  nodes: ProtocolNode[],
  depth = 0,
  out: Array<{ node: ProtocolNode; depth: number }> = [],
): Array<{ node: ProtocolNode; depth: number }> {
  for (const node of nodes) {
    out.push({ node, depth });
    flatten(node.children, depth + 1, out);
  }
  return out;
}

function ProtocolsTab({ report }: { report: AnalysisReport }) {
  const p = report.protocols;
  if (!p) return null;
  return (
    <table class="grid hierarchy" data-table="protocols">
      <caption class="muted small">
        Frames that contain each protocol under its parents, as tshark -z io,phs counts them.
      </caption>
      <thead>
        <tr>
          <th scope="col">Protocol</th>
          <th scope="col" class="num">
            Packets
          </th>
          <th scope="col" class="num">
            Bytes
          </th>
          <th scope="col" class="num">
            Share of bytes
          </th>
          <th scope="col">
            <span class="visually-hidden">Bar</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {flatten(p.roots).map(({ node, depth }, i) => {
          const share = p.bytes > 0 ? (node.bytes / p.bytes) * 100 : 0;
          return (
            <tr key={i}>
              <th scope="row">
                <span style={{ paddingLeft: `${depth * 18}px` }}>{node.protocol}</span>
              </th>
              <td class="num">{formatCount(node.packets)}</td>
              <td class="num">{formatCount(node.bytes)}</td>
              <td class="num">{share.toFixed(1)} %</td>
              <td class="bar-cell">
                <span class="hier-bar" style={{ width: `${share}%` }} aria-hidden="true" />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function DnsTab({ report }: { report: AnalysisReport }) {
  const d = report.dns;
  if (!d) return null;
  type Name = (typeof d.names.rows)[number];
  const columns: Array<Column<Name>> = [
    { key: 'name', label: 'Name', value: (r) => r.name },
    { key: 'type', label: 'Type', value: (r) => r.queryType },
    { key: 'queries', label: 'Queries', value: (r) => r.queries, num: true },
    { key: 'responses', label: 'Responses', value: (r) => r.responses, num: true },
    {
      key: 'codes',
      label: 'Response codes',
      value: (r) =>
        Object.entries(r.responseCodes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
    },
    {
      key: 'time',
      label: 'Avg response (ms)',
      value: (r) => r.avgResponseTimeInMs,
      num: true,
      show: (r) => (r.avgResponseTimeInMs === null ? '–' : r.avgResponseTimeInMs.toFixed(2)),
    },
  ];
  return (
    <>
      <dl class="summary-grid">
        <Fact label="Queries" value={formatCount(d.queries)} />
        <Fact label="Responses" value={formatCount(d.responses)} />
        <Fact label="Unanswered" value={formatCount(d.unansweredQueries)} />
        <Fact
          label="Response codes"
          value={
            Object.entries(d.responseCodes)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || '–'
          }
        />
        <Fact
          label="Response time min / avg / max"
          value={
            d.responseTimeInMs
              ? `${d.responseTimeInMs.min.toFixed(2)} / ${d.responseTimeInMs.avg.toFixed(2)} / ${d.responseTimeInMs.max.toFixed(2)} ms`
              : '–'
          }
        />
      </dl>
      <SortableTable
        rows={d.names.rows}
        columns={columns}
        caption={tableNote(d.names)}
        initialSort="queries"
        testId="dns-names"
      />
    </>
  );
}

function TlsTab({ report }: { report: AnalysisReport }) {
  const t = report.tls;
  if (!t) return null;
  type Row = (typeof t.serverNames.rows)[number];
  const columns: Array<Column<Row>> = [
    { key: 'name', label: 'Server name (SNI)', value: (r) => r.serverName },
    { key: 'hellos', label: 'ClientHellos', value: (r) => r.clientHellos, num: true },
    { key: 'servers', label: 'Server addresses', value: (r) => r.serverAddresses.join(', ') },
  ];
  return (
    <>
      <p>
        {formatCount(t.clientHellos)} ClientHellos, {formatCount(t.clientHellosWithoutServerName)} without a server
        name.
      </p>
      <SortableTable
        rows={t.serverNames.rows}
        columns={columns}
        caption={tableNote(t.serverNames)}
        initialSort="hellos"
        testId="tls-names"
      />
    </>
  );
}

const PAGE_SIZE = 100;

function PacketsTab({ capturePath }: { capturePath: string }) {
  const [draft, setDraft] = useState('');
  const [filter, setFilter] = useState('');
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const page = useLoad(
    () =>
      api<PacketListPage>('GET', `${capturePath}/packets`, undefined, {
        offset: String(offset),
        limit: String(PAGE_SIZE),
        ...(filter ? { filter } : {}),
      }),
    [capturePath, filter, offset],
  );
  const filterError = page.error instanceof ApiFailure && page.error.target === 'filter' ? page.error : null;
  const p = page.data;
  return (
    <>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setFilter(draft.trim());
        }}
      >
        <div class="field">
          <label for="display-filter">Display filter</label>
          <input
            id="display-filter"
            class="mono"
            size={50}
            value={draft}
            onInput={(e) => setDraft(e.currentTarget.value)}
            placeholder="ip.addr==10.0.0.3 && tcp.port==80"
            aria-invalid={filterError !== null}
            aria-describedby={filterError ? 'display-filter-error' : undefined}
          />
          {filterError && (
            <span class="field-error" id="display-filter-error" role="alert">
              {filterError.code}: {filterError.message}
            </span>
          )}
        </div>
        <button type="submit">Apply</button>
        <a class="button" href={apiUrl(`${capturePath}/packets/pcap`, filter ? { filter } : {})} download>
          Download {filter ? 'matching packets' : 'all packets'} (pcap)
        </a>
      </form>
      {!filterError && <ErrorNote error={page.error} />}
      {p && (
        <p class="muted small" role="status">
          {formatCount(p.matchingPackets)} of {formatCount(p.totalPackets)} packets match
          {p.filter ? ` “${p.filter}”` : ''}; showing{' '}
          {p.packets.length ? `${p.offset + 1}–${p.offset + p.packets.length}` : 'none'}.
        </p>
      )}
      <table class="grid compact" data-table="packets">
        <thead>
          <tr>
            <th scope="col" class="num">
              No.
            </th>
            <th scope="col" class="num">
              Time (s)
            </th>
            <th scope="col">Source</th>
            <th scope="col">Destination</th>
            <th scope="col">Protocol</th>
            <th scope="col" class="num">
              Length
            </th>
            <th scope="col">Info</th>
          </tr>
        </thead>
        <tbody>
          {(p?.packets ?? []).map((pkt) => [
            <tr key={pkt.number}>
              <td class="num">
                <button
                  type="button"
                  class="link"
                  aria-expanded={open === pkt.number}
                  onClick={() => setOpen(open === pkt.number ? null : pkt.number)}
                >
                  {pkt.number}
                </button>
              </td>
              <td class="num">{pkt.relativeTimeInSeconds.toFixed(6)}</td>
              <td class="mono">{pkt.source ?? ''}</td>
              <td class="mono">{pkt.destination ?? ''}</td>
              <td>{pkt.protocol}</td>
              <td class="num">{pkt.originalLength}</td>
              <td class="mono small">{pkt.info}</td>
            </tr>,
            open === pkt.number ? (
              <tr key={`${pkt.number}-layers`}>
                <td colSpan={7}>
                  {pkt.layers.map((l) => (
                    <details key={l.layer} open>
                      <summary>
                        <strong>{l.layer}</strong> {l.summary}
                      </summary>
                      <table class="grid compact">
                        <tbody>
                          {Object.entries(l.fields).map(([k, v]) => (
                            <tr key={k}>
                              <th scope="row" class="mono small">
                                {k}
                              </th>
                              <td class="mono small">{String(v)}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </details>
                  ))}
                </td>
              </tr>
            ) : null,
          ])}
        </tbody>
      </table>
      {p && (
        <div class="toolbar">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
            Previous
          </button>
          <button
            type="button"
            disabled={offset + PAGE_SIZE >= p.matchingPackets}
            onClick={() => setOffset(offset + PAGE_SIZE)}
          >
            Next
          </button>
        </div>
      )}
    </>
  );
}

/** The viewer page of one capture. */
export function ViewerPage({ sub, rg, watcher, name }: { sub: string; rg: string; watcher: string; name: string }) {
  const path = `/subscriptions/${sub}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.Network/networkWatchers/${encodeURIComponent(watcher)}/packetCaptures/${encodeURIComponent(name)}`;
  const [tab, setTab] = useState<Tab>('Summary');
  const status = useLoad(() => api<CaptureStatus>('POST', `${path}/queryStatus`), [path], 3_000);
  const state = status.data?.packetCaptureStatus;
  const finished = state === 'Stopped' || state === 'Error';
  // The analysis is of the stored file: asked for again until the file is there.
  const analysis = useLoad(
    () => api<AnalysisReport>('GET', `${path}/analysis`),
    [path, finished],
    finished ? undefined : 5_000,
  );
  const waiting = analysis.error instanceof ApiFailure && analysis.error.code === 'FileNotAvailable';
  return (
    <Page
      title={`Capture ${name}`}
      actions={
        <>
          <a class="button" href="#/captures">
            All captures
          </a>
          <a class="button primary" href={apiUrl(`${path}/download`)} download>
            Download file
          </a>
        </>
      }
    >
      <ErrorNote error={status.error} />
      {status.data && (
        <p>
          <StatusBadge status={status.data.packetCaptureStatus} /> {formatCount(status.data.packetsCaptured)} packets,{' '}
          {formatBytes(status.data.bytesCaptured)} · started {formatTime(status.data.captureStartTime)}{' '}
          {stopReasonText(status.data.stopReason)}
          {(status.data.packetCaptureError ?? []).map((c) => (
            <span class="error" key={c}>
              {' '}
              {captureErrorText(c)}
            </span>
          ))}
        </p>
      )}
      <div class="tabs" role="tablist" aria-label="Analyses">
        {TABS.map((t) => (
          <button
            type="button"
            role="tab"
            key={t}
            id={`tab-${t}`}
            aria-selected={tab === t}
            aria-controls="tab-panel"
            onClick={() => setTab(t)}
          >
            {t}
          </button>
        ))}
      </div>
      <div id="tab-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'Packets' ? analysis.data ? <PacketsTab capturePath={path} /> : null : null}
        {waiting && (
          <p class="muted" role="status">
            The capture file is not available yet ({analysis.error instanceof Error ? analysis.error.message : ''});
            this page updates by itself.
          </p>
        )}
        {!waiting && <ErrorNote error={analysis.error} />}
        {analysis.loading && !analysis.data && !analysis.error && <p class="muted">Analysing…</p>}
        {analysis.data && tab === 'Summary' && <SummaryTab report={analysis.data} status={status.data} />}
        {analysis.data && tab === 'I/O graph' && <IoTab report={analysis.data} />}
        {analysis.data && tab === 'Protocols' && <ProtocolsTab report={analysis.data} />}
        {analysis.data && tab === 'Conversations' && <ConversationsTab report={analysis.data} />}
        {analysis.data && tab === 'Endpoints' && <EndpointsTab report={analysis.data} />}
        {analysis.data && tab === 'TCP health' && <TcpTab report={analysis.data} />}
        {analysis.data && tab === 'DNS' && <DnsTab report={analysis.data} />}
        {analysis.data && tab === 'TLS' && <TlsTab report={analysis.data} />}
      </div>
    </Page>
  );
}
