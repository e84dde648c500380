import { TCPDUMP_FILTER_OPTIONS } from '../filter/index.js';
import type { CaptureSpec } from './types.js';

/** Kernel capture buffer (tcpdump -B) used unless told otherwise: 32 MiB absorbs bursts at 10 Gbit/s header rates. */
export const DEFAULT_KERNEL_BUFFER_IN_KIB = 32768;

/** libpcap's largest snap length; tcpdump maps -s 0 to it and clamps larger values to it. */
export const MAX_SNAP_LENGTH_IN_BYTES = 262144;

/** Options of buildTcpdumpArgs. */
export interface TcpdumpArgsOptions {
  /** tcpdump -B value; defaults to DEFAULT_KERNEL_BUFFER_IN_KIB. */
  kernelBufferInKiB?: number;
  /**
   * Add --immediate-mode: every packet reaches tcpdump at once (libpcap falls back to a
   * TPACKET_V2 ring of fixed-size frames). Off by default: the TPACKET_V3 block ring holds far
   * more packets per MiB at full snap length; its up-to-1 s block delay is handled at stop time.
   */
  immediateMode?: boolean;
  /**
   * Add -U: tcpdump writes every packet to the pipe at once instead of in 4 KiB stdio blocks.
   * Off by default: measured on veth at ~400k packets/s (bench/capture-fidelity) it doubles the
   * CPU cost per packet (one write(2) per packet in tcpdump, one read event per packet here),
   * while the packets reach us no sooner than the ring's own block delay allows anyway. Limits
   * stay exact without it: records are cut by their own timestamps and sizes, and tcpdump flushes
   * its buffer when it exits on SIGTERM.
   */
  flushEachPacket?: boolean;
  /**
   * Add `-Z root`: Debian's tcpdump otherwise switches to user "tcpdump" after opening the
   * capture socket, and that change of user clears the parent-death signal the engine arms (see
   * session.ts), so a tcpdump outliving a killed agent would keep writing its file unbounded.
   * With `-w` tcpdump only copies bytes (no protocol dissectors run), which keeps this exposure small.
   */
  keepRootPrivileges?: boolean;
}

/**
 * Builds tcpdump's argv (without the program name) for a capture streamed as pcap on stdout.
 * The BPF expression is one argv element, last, after `--`, so nothing in it can be read as an
 * option; no shell is involved anywhere.
 * @example buildTcpdumpArgs({ ...spec, interfaceName: 'any', snapLengthInBytes: 0, bpfExpression: 'tcp port 443' })
 * // ['-i', 'any', '-n', '-O', '-s', '262144', '-B', '32768', '-w', '-', '--', 'tcp port 443']
 */
export function buildTcpdumpArgs(spec: CaptureSpec, opts: TcpdumpArgsOptions = {}): string[] {
  if (spec.interfaceName === '' || spec.interfaceName.includes('\0')) {
    throw new RangeError(`invalid interface name ${JSON.stringify(spec.interfaceName)}`);
  }
  if (spec.bpfExpression.includes('\0')) throw new RangeError('BPF expression contains a NUL byte');
  if (!Number.isInteger(spec.snapLengthInBytes) || spec.snapLengthInBytes < 0) {
    throw new RangeError(`invalid snap length ${spec.snapLengthInBytes}`);
  }
  const kernelBufferInKiB = opts.kernelBufferInKiB ?? DEFAULT_KERNEL_BUFFER_IN_KIB;
  if (!Number.isInteger(kernelBufferInKiB) || kernelBufferInKiB <= 0) {
    throw new RangeError(`invalid kernel buffer size ${kernelBufferInKiB} KiB`);
  }
  const snapLength =
    spec.snapLengthInBytes === 0 || spec.snapLengthInBytes > MAX_SNAP_LENGTH_IN_BYTES
      ? MAX_SNAP_LENGTH_IN_BYTES
      : spec.snapLengthInBytes;
  const args = [
    '-i',
    spec.interfaceName,
    '-n', // never resolve names: no DNS traffic of our own, no stalls
    // libpcap 1.10.3's optimizer miscompiles some filter sets the compiler produces (it drops
    // packets a filter keeps); src/filter proves its output unoptimized. See docs/filters.md.
    ...TCPDUMP_FILTER_OPTIONS,
    '-s',
    String(snapLength),
    '-B',
    String(kernelBufferInKiB),
    '-w',
    '-',
  ];
  if (opts.flushEachPacket === true) args.push('-U');
  if (opts.keepRootPrivileges === true) args.push('-Z', 'root');
  if (opts.immediateMode === true) args.push('--immediate-mode');
  const expression = spec.bpfExpression.trim();
  if (expression !== '') args.push('--', expression);
  return args;
}
