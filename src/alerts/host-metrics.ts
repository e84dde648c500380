import type { MetricAggregation } from '../model/index.js';

/**
 * The host metrics agents report, with Azure Monitor's names and units where Azure has the metric
 * (`Network In Total`, `Network Out Total`, and the guest `TCP Segments Sent` of seed 002), and
 * names in the same style for the rest. Every value an agent sends is the count during one report
 * interval (a delta of a kernel counter), so `Total` over a window is what happened in it.
 * docs/metrics.md lists them for users.
 */

/** Namespace of host metrics, as Azure's for virtual machines. */
export const HOST_METRIC_NAMESPACE = 'Microsoft.Compute/virtualMachines';

/** Where a host metric comes from on Linux. */
export type HostCounterSource =
  | { file: 'snmp'; group: 'Tcp' | 'Udp'; field: string; also?: { file: 'snmp6'; field: string } }
  | { file: 'dev'; field: 'rxBytes' | 'txBytes' | 'rxPackets' | 'txPackets' };

/** One host metric. */
export interface HostMetricDefinition {
  /** Azure-style name users write in conditions and queries. */
  name: string;
  unit: 'Count' | 'Bytes';
  description: string;
  /** Aggregation used when a query names none (Azure's "primary aggregation"). */
  primaryAggregation: MetricAggregation;
  source: HostCounterSource;
  /** Name on the server's Prometheus endpoint (a counter of what agents reported since the server started). */
  prometheusName: string;
}

/**
 * Every host metric, in the order docs and definitions list them. The order is also where each
 * metric's value sits in stored metric rows (src/store, metric_raw and metric_minutes): append new
 * metrics at the end, never reorder or remove one.
 */
export const HOST_METRICS: readonly HostMetricDefinition[] = [
  {
    name: 'TCP Segments Sent',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_tcp_segments_sent_total',
    description:
      'TCP segments sent, excluding those holding only retransmitted bytes (/proc/net/snmp Tcp OutSegs, IPv4 and IPv6).',
    source: { file: 'snmp', group: 'Tcp', field: 'OutSegs' },
  },
  {
    name: 'TCP Segments Received',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_tcp_segments_received_total',
    description: 'TCP segments received, including those in error (/proc/net/snmp Tcp InSegs, IPv4 and IPv6).',
    source: { file: 'snmp', group: 'Tcp', field: 'InSegs' },
  },
  {
    name: 'TCP Segments Retransmitted',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_tcp_segments_retransmitted_total',
    description: 'TCP segments retransmitted (/proc/net/snmp Tcp RetransSegs).',
    source: { file: 'snmp', group: 'Tcp', field: 'RetransSegs' },
  },
  {
    name: 'Network In Total',
    unit: 'Bytes',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_network_in_bytes_total',
    description: 'Bytes received on every interface but loopback (/proc/net/dev).',
    source: { file: 'dev', field: 'rxBytes' },
  },
  {
    name: 'Network Out Total',
    unit: 'Bytes',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_network_out_bytes_total',
    description: 'Bytes sent on every interface but loopback (/proc/net/dev).',
    source: { file: 'dev', field: 'txBytes' },
  },
  {
    name: 'Packets In Total',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_packets_in_total',
    description: 'Packets received on every interface but loopback (/proc/net/dev).',
    source: { file: 'dev', field: 'rxPackets' },
  },
  {
    name: 'Packets Out Total',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_packets_out_total',
    description: 'Packets sent on every interface but loopback (/proc/net/dev).',
    source: { file: 'dev', field: 'txPackets' },
  },
  {
    name: 'UDP Datagrams Received',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_udp_datagrams_received_total',
    description:
      'UDP datagrams delivered to sockets (/proc/net/snmp Udp InDatagrams + /proc/net/snmp6 Udp6InDatagrams).',
    source: { file: 'snmp', group: 'Udp', field: 'InDatagrams', also: { file: 'snmp6', field: 'Udp6InDatagrams' } },
  },
  {
    name: 'UDP Datagrams Sent',
    unit: 'Count',
    primaryAggregation: 'Total',
    prometheusName: 'nw_host_udp_datagrams_sent_total',
    description: 'UDP datagrams sent (/proc/net/snmp Udp OutDatagrams + /proc/net/snmp6 Udp6OutDatagrams).',
    source: { file: 'snmp', group: 'Udp', field: 'OutDatagrams', also: { file: 'snmp6', field: 'Udp6OutDatagrams' } },
  },
];

/**
 * The definition of a metric by name, compared case-insensitively (Azure does), or undefined.
 * @example findHostMetric('tcp segments sent')?.name // 'TCP Segments Sent'
 */
export function findHostMetric(name: string): HostMetricDefinition | undefined {
  const lower = name.trim().toLowerCase();
  return HOST_METRICS.find((m) => m.name.toLowerCase() === lower);
}
