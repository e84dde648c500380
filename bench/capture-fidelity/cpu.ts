// CPU time of processes, from /proc: capture cost is compared per packet, which survives the
// noise of a shared machine better than drop counts alone.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';

// USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every Linux architecture Node runs on.
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds used so far by process `pid` (all its threads, ended ones included), or null if it
 * is gone. Live threads from /proc/PID/task/TID/schedstat (nanoseconds): /proc/PID/stat counts
 * 10 ms ticks, too coarse for a tcpdump that uses a few ms per trial at header-only snap length.
 * Threads that have ended are no longer under /proc/PID/task: the engine's finalisation runs on a
 * worker thread that is gone when the stop's CPU is read (without this the product's finalisation
 * measured 0.05 CPU-s per GB instead of ~1.3). Their time is what the process's own tick count
 * (utime + stime: every thread's run time, ended ones included, floored to ticks) holds beyond the
 * live threads' schedstat; it is kept per process and raised only when it grows by more than the
 * ticks' rounding and the reads' race (ENDED_THREADS_MARGIN), so that between two thread ends the
 * figure stays schedstat's, to the nanosecond.
 */
export async function processCpuSeconds(pid: number): Promise<number | null> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return tickCpuSeconds(pid);
  }
  let nanoseconds = 0;
  for (const tid of tids) {
    try {
      nanoseconds += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
    } catch {
      // the thread ended while we looked (its time is then in the process's ticks below)
    }
  }
  const processTickSeconds = await tickCpuSeconds(pid);
  if (processTickSeconds === null) return null;
  const ended = processTickSeconds - nanoseconds / 1e9;
  const known = endedThreadsSeconds.get(pid) ?? 0;
  if (ended > known + ENDED_THREADS_MARGIN_IN_SECONDS) endedThreadsSeconds.set(pid, ended);
  return nanoseconds / 1e9 + (endedThreadsSeconds.get(pid) ?? 0);
}

// utime and stime are each floored to 10 ms ticks, and the live threads run on while they are read.
const ENDED_THREADS_MARGIN_IN_SECONDS = 0.03;
// Per pid: the CPU seconds of its threads that have ended, as last raised by processCpuSeconds.
const endedThreadsSeconds = new Map<number, number>();

/**
 * utime + stime of the process (all its threads, ended ones included) or, with `tid`, of one
 * thread (`String(pid)`: its main thread); null when it is gone. In 10 ms ticks.
 */
export async function tickCpuSeconds(pid: number, tid?: string): Promise<number | null> {
  try {
    const stat = await readFile(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Pid of the running tcpdump whose argv contains `-i INTERFACE`, or null. */
export async function findTcpdumpPid(interfaceName: string): Promise<number | null> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      // tcpdump, or nw-capture (the engine's own writer: the same -i).
      if (
        /(^|\/)(tcpdump|nw-capture)$/.test(argv[0] ?? '') &&
        argv.some((a, i) => a === '-i' && argv[i + 1] === interfaceName)
      )
        return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return null;
}

/** This process's own user + system CPU seconds so far. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** SHA-256 throughput of this process's crypto, and whether the CPU has the SHA extensions OpenSSL uses. */
export interface HashRate {
  /** GB hashed per CPU-second (4 MiB updates from memory, as the final cut feeds it). */
  gbPerCpuSecond: number;
  /** The CPU flags list `sha_ni` (x86) or `sha2` (arm64). */
  shaExtensions: boolean;
}

/**
 * Measures SHA-256 over 256 MiB in 4 MiB updates (the final cut's read size): what the
 * finalisation's hashing part costs per GB, apart from its reads and record walk.
 * @example const { gbPerCpuSecond } = await measureSha256Rate(); // ≈ 2 on a core with SHA-NI
 */
export async function measureSha256Rate(): Promise<HashRate> {
  const chunk = Buffer.alloc(4 * 1024 * 1024, 0x5a);
  const rounds = 64;
  const hash = createHash('sha256');
  const before = ownCpuSeconds();
  for (let i = 0; i < rounds; i++) hash.update(chunk);
  hash.digest();
  const cpuSeconds = Math.max(1e-6, ownCpuSeconds() - before);
  let flags = '';
  try {
    flags = await readFile('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: unknown
  }
  return { gbPerCpuSecond: (chunk.length * rounds) / 1e9 / cpuSeconds, shaExtensions: /\b(sha_ni|sha2)\b/.test(flags) };
}
