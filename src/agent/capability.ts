import { readFileSync } from 'node:fs';
import { findExecutable } from '../capture/index.js';

export { findExecutable };

/** Bit of CAP_NET_RAW in /proc/PID/status capability masks (linux/capability.h): opening a packet socket needs it. */
const CAP_NET_RAW_BIT = 13n;

/** Whether this process has CAP_NET_RAW in effect (read from /proc/self/status; false when unreadable). */
export function hasNetRawCapability(statusText?: string): boolean {
  let text = statusText;
  try {
    text ??= readFileSync('/proc/self/status', 'utf8');
  } catch {
    return false;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_NET_RAW_BIT) & 1n) === 1n;
}

/**
 * Why captures would fail on this host, said at start instead of at the first capture: no
 * tcpdump, or neither root nor CAP_NET_RAW (a packet socket needs one of them; tcpdump with file
 * capabilities of its own is the exception, hence a warning and not a refusal). Empty when ready.
 * @example for (const w of captureReadiness({ tcpdumpPath: 'tcpdump', pathVariable: process.env.PATH, uid: process.getuid?.() ?? 0 })) logger.warn(w);
 */
export function captureReadiness(probe: {
  tcpdumpPath: string;
  pathVariable: string | undefined;
  uid: number;
  statusText?: string;
}): string[] {
  const warnings: string[] = [];
  if (!findExecutable(probe.tcpdumpPath, probe.pathVariable)) {
    warnings.push(
      `cannot capture: tcpdump is not installed (no '${probe.tcpdumpPath}' on PATH); install it (Debian: apt-get install tcpdump)`,
    );
  }
  if (probe.uid !== 0 && !hasNetRawCapability(probe.statusText)) {
    warnings.push(
      'cannot capture: the agent runs neither as root nor with CAP_NET_RAW, so tcpdump cannot open a packet socket; run it as root (sudo), or give tcpdump the capability (setcap cap_net_raw,cap_net_admin+eip "$(command -v tcpdump)")',
    );
  }
  return warnings;
}
