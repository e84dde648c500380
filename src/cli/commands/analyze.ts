// `nw network watcher packet-capture analyze` (a stored capture, through the API) and
// `nw pcap analyze|packets|filter` (a local pcap/pcapng file from anywhere, analysed in-process):
// their declarations. The actions are in analyze-actions.ts, imported when one of them runs: the
// analysis and pcap modules (27) are not loaded by every other `nw` command, nor by `nw agent`
// at its start (startup-imports.test.ts).
import type { CommonOptions } from '../context.js';
import { CAPTURE_NAME_OPTIONS } from './packet-capture.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

const actions = (): Promise<typeof import('./analyze-actions.js')> => import('./analyze-actions.js');

/** The flags of `packet-capture analyze`. */
export const PACKET_CAPTURE_ANALYZE_OPTIONS = {
  ...CAPTURE_NAME_OPTIONS,
  section: {
    flags: '--section <section>',
    description: 'summary, protocols, conversations, endpoints, tcp, dns, tls or io (default: all)',
  },
  instance: { flags: '--instance <vm>', description: 'host whose file to analyse, for captures with several' },
  interval: { flags: '--interval <seconds>', description: 'I/O bucket width (default: at most 500 buckets)' },
  top: { flags: '--top <n>', description: 'rows per table (default 100)' },
} as const satisfies OptionTable;

/** Options of the analyses (`packet-capture analyze`, `pcap analyze`): the analysis flags of `packet-capture analyze`. */
export type AnalyzeOptions = CommonOptions &
  Pick<OptionValues<typeof PACKET_CAPTURE_ANALYZE_OPTIONS>, 'section' | 'top' | 'interval' | 'instance'>;
/** The flags of `nw pcap packets`. */
export const PCAP_PACKETS_OPTIONS = {
  filter: { flags: '--filter <expression>', description: 'display filter' },
  offset: { flags: '--offset <n>', description: 'matching packets to skip', default: '0' },
  limit: { flags: '--limit <n>', description: 'packets to show (max 1000)', default: '100' },
} as const satisfies OptionTable;

/** Options of `nw pcap packets`. */
export type PcapPacketsOptions = CommonOptions & OptionValues<typeof PCAP_PACKETS_OPTIONS>;

/** The flags of `nw pcap filter`. */
export const PCAP_FILTER_OPTIONS = {
  filter: { flags: '--filter <expression>', description: 'display filter', required: true },
  write: {
    flags: '-w, --write <file>',
    description: 'the file to write (same format as the input)',
    required: true,
  },
  force: { flags: '--force', description: 'overwrite an existing file' },
} as const satisfies OptionTable;

/** Options of `nw pcap filter`. */
export type PcapFilterOptions = CommonOptions & OptionValues<typeof PCAP_FILTER_OPTIONS>;

/** The commands of this file, in help order. */
export const PACKET_CAPTURE_ANALYZE_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'analyze'],
    description:
      "analyse a stored capture's file on the server: summary, protocols, conversations, endpoints, TCP health, DNS, TLS, I/O",
    examples: [
      'nw network watcher packet-capture analyze --name packetCaptureName --location westcentralus',
      'nw network watcher packet-capture analyze --name pc1 --location westcentralus --section conversations -o table',
    ],
    options: PACKET_CAPTURE_ANALYZE_OPTIONS,
    run: async (o, { ctx }) => (await actions()).packetCaptureAnalyze(o, ctx),
  }),
];

/** The commands of this file, in help order. */
export const PCAP_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['pcap'], description: 'analyse local pcap and pcapng files (no server needed)' }),
  defineCommand({
    path: ['pcap', 'analyze'],
    description: 'summary, protocol hierarchy, conversations, endpoints, TCP health, DNS, TLS and I/O of a local file',
    examples: ['nw pcap analyze capture.pcapng', 'nw pcap analyze capture.cap --section tcp -o table'],
    argument: { name: 'file', description: 'a pcap or pcapng file' },
    options: {
      section: {
        flags: '--section <section>',
        description: 'summary, protocols, conversations, endpoints, tcp, dns, tls or io (default: all)',
      },
      interval: { flags: '--interval <seconds>', description: 'I/O bucket width (default: at most 500 buckets)' },
      top: { flags: '--top <n>', description: 'rows per table (default 100)' },
    },
    run: async (o, { ctx }, [file]) => (await actions()).pcapAnalyze(file!, o, ctx),
  }),
  defineCommand({
    path: ['pcap', 'packets'],
    description: 'decoded packets of a local file, with a display filter (docs/analysis.md)',
    examples: [
      "nw pcap packets capture.pcap --filter 'ip.addr==10.0.0.1 && tcp.port==80' -o table",
      "nw pcap packets capture.pcapng --filter 'dns.flags.rcode==3' --limit 20",
    ],
    argument: { name: 'file', description: 'a pcap or pcapng file' },
    options: PCAP_PACKETS_OPTIONS,
    run: async (o, { ctx }, [file]) => (await actions()).pcapPackets(file!, o, ctx),
  }),
  defineCommand({
    path: ['pcap', 'filter'],
    description: 'write the packets of a local file that match a display filter to a new file',
    examples: ["nw pcap filter capture.pcap --filter 'tcp.flags.reset' --write resets.pcap"],
    argument: { name: 'file', description: 'a pcap or pcapng file' },
    options: PCAP_FILTER_OPTIONS,
    run: async (o, { ctx }, [file]) => (await actions()).pcapFilter(file!, o, ctx),
  }),
];
