// Where does the engine's tcpdump differ from a bare one? Runs tcpdump invocations that differ
// from bare `tcpdump -w FILE -B 32768` in one thing each (the engine's argv, stdout instead of a
// named file, SIGUSR1 once a second, setpriv, -Z), interleaved under the same saturating load,
// and prints each one's share and CPU per packet ÷ the bare one's in the same round.
// With --together all chosen variants capture at once under one load: each is offered exactly the
// same packets at the same moment, which removes the offered load's variation between trials (at
// saturation on a shared machine the largest part of the spread), at the price of their competing
// with each other for the CPU (the order they start in is rotated per round).
// Usage: node --import tsx bench/capture-fidelity/variants.ts [--repeat N] [--duration S] [--snap 0] [--load tcp|udp] [--iperf 'ARGS'] [--variants a,b] [--together]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { isListeningLine, parseTcpdumpStats, startCapture } from '../../src/capture/index.js';
import { countPcapRecords } from './count-records.js';
import { processCpuSeconds } from './cpu.js';
import { createFidelityLab } from './lab.js';
import type { FidelityLab, Load } from './lab.js';

interface Variant {
  name: string;
  /** argv after tcpdump, given the interface, snap length and output file. */
  args(iface: string, snap: number, file: string): string[];
  /** Write to stdout (a file opened here) instead of -w FILE. */
  stdout?: boolean;
  /** Send SIGUSR1 this often while loaded. */
  usr1EveryMs?: number;
  /** Run under setpriv with these options first. */
  setpriv?: string[];
  /** Program and arguments that exec tcpdump (e.g. stdbuf). */
  wrapper?: string[];
  /** Not a command line: the engine itself (startCapture) in this process. */
  engine?: boolean;
  /** The engine's statsIntervalInMs. */
  statsIntervalInMs?: number;
  /** The engine's kernelBufferInKiB (tcpdump -B; default 32768). */
  kernelBufferInKiB?: number;
  /** The engine's outputBufferBytes (stdbuf -o; default 65536). */
  outputBufferBytes?: number;
  /** The engine's immediateMode (--immediate-mode; default off). */
  immediateMode?: boolean;
  /** Run tcpdump under `nice -n` this much. */
  nice?: number;
  /** Where -w writes: the disk (default, the bench's temporary directory), a tmpfs file, or /dev/null (records counted from tcpdump's own "captured"). */
  output?: 'disk' | 'tmpfs' | 'devnull';
  /** A writer process between tcpdump (`-w -`) and the file: its argv given the file; its CPU counts with tcpdump's. */
  writer?: (file: string) => string[];
  /** The capture program instead of tcpdump (same arguments). */
  program?: string;
}

const B = ['-B', '32768'];
// What the engine's setpriv does as root (tcpdump-launch.ts).
const UNPRIVILEGED = [
  '--reuid',
  'tcpdump',
  '--regid',
  'tcpdump',
  '--clear-groups',
  '--inh-caps',
  '-all,+net_raw',
  '--ambient-caps',
  '+net_raw',
  '--bounding-set',
  '-all,+net_raw',
  '--no-new-privs',
];
const VARIANTS: Variant[] = [
  { name: 'bare-B', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B] },
  // tcpdump as typed, with libpcap's default 2 MiB buffer: the "default tcpdump -w" of issue 18.
  { name: 'bare', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s)] },
  { name: 'bare-B -Z root', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B, '-Z', 'root'] },
  { name: 'stdout', args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B], stdout: true },
  {
    name: 'engine argv',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
  },
  {
    name: 'engine argv+usr1',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    usr1EveryMs: 1000,
  },
  {
    name: 'engine argv+setpriv',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    setpriv: ['--pdeathsig', 'TERM', '--'],
  },
  {
    name: 'stdbuf 64K',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    setpriv: [],
    wrapper: ['stdbuf', '-o', '65536'],
  },
  {
    name: 'stdbuf 1M',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    wrapper: ['stdbuf', '-o', '1048576'],
  },
  {
    name: 'stdbuf 16K',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    wrapper: ['stdbuf', '-o', '16384'],
  },
  {
    name: 'unprivileged',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
  },
  {
    name: 'engine now',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
    wrapper: ['stdbuf', '-o', '65536'],
  },
  {
    name: 'engine 4K',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
  },
  {
    name: 'engine 16K',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
    wrapper: ['stdbuf', '-o', '16384'],
  },
  {
    name: 'engine 256K',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
    wrapper: ['stdbuf', '-o', '262144'],
  },
  { name: 'engine', args: () => [], engine: true },
  {
    name: 'engine now nice -5',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
    wrapper: ['stdbuf', '-o', '65536'],
    nice: -5,
  },
  { name: 'engine no usr1', args: () => [], engine: true, statsIntervalInMs: 600_000 },
  // Issue 18, "twice what default tcpdump keeps": the engine (startCapture) with one setting changed.
  // A larger kernel ring (-B is tcpdump's --buffer-size: the same option, not its write size).
  { name: 'engine -B 64M', args: () => [], engine: true, kernelBufferInKiB: 65536 },
  { name: 'engine -B 128M', args: () => [], engine: true, kernelBufferInKiB: 131072 },
  // tcpdump's stdout buffer (its write size) between the measured 64 KiB and 256 KiB.
  { name: 'engine 128K writes', args: () => [], engine: true, outputBufferBytes: 131072 },
  { name: 'engine immediate', args: () => [], engine: true, immediateMode: true },
  {
    // The engine's command line with nanosecond time stamps (libpcap then skips the ns → µs division; the file format changes).
    name: 'engine now ns',
    args: (i, s) => [
      '-i',
      i,
      '-n',
      '-O',
      '-s',
      String(s === 0 ? 262144 : s),
      ...B,
      '--time-stamp-precision=nano',
      '-w',
      '-',
    ],
    stdout: true,
    setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'],
    wrapper: ['stdbuf', '-o', '65536'],
  },
  // Issue 18's disk path: is the file write what stops tcpdump draining its ring at saturation?
  // The no-disk ceiling, a tmpfs file, and writers that decouple tcpdump from the disk.
  {
    name: 'native',
    program: process.env.NW_NATIVE ?? 'nw-capture',
    args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B],
  },
  { name: 'bare-B null', args: (i, s) => ['-i', i, '-w', '/dev/null', '-s', String(s), ...B], output: 'devnull' },
  { name: 'bare-B tmpfs', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B], output: 'tmpfs' },
  {
    // GNU dd clears O_DIRECT for the short final block (seen with strace: fcntl F_SETFL before the last write).
    name: 'dd direct 1M',
    args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B],
    writer: (f) => ['dd', `of=${f}`, 'bs=1M', 'iflag=fullblock', 'oflag=direct', 'status=none'],
  },
  {
    name: 'dd 1M',
    args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B],
    writer: (f) => ['dd', `of=${f}`, 'bs=1M', 'iflag=fullblock', 'status=none'],
  },
  {
    // Like `| cat > F`: each read written as it came (no full blocks).
    name: 'dd 128K',
    args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B],
    writer: (f) => ['dd', `of=${f}`, 'bs=128K', 'status=none'],
  },
  {
    // mbuffer writes its output with O_DIRECT unless --no-direct; 512 MiB of memory between tcpdump and the disk.
    name: 'mbuffer direct',
    args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B],
    writer: (f) => ['mbuffer', '-q', '-Q', '-m', '512M', '-s', '1M', '-o', f],
  },
  {
    name: 'mbuffer buffered',
    args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B],
    writer: (f) => ['mbuffer', '-q', '-Q', '--no-direct', '-m', '512M', '-s', '1M', '-o', f],
  },
  {
    name: 'usr1 x10',
    args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'],
    stdout: true,
    usr1EveryMs: 100,
  },
];

interface TrialResult {
  share: number;
  cpuPerPacketInMicros: number;
  received: number;
}

/** One variant capturing: started (listening), CPU counted from here; stop() ends it and counts its file. */
interface RunningTrial {
  stop(): Promise<TrialResult>;
}

async function begin(
  lab: FidelityLab,
  v: Variant,
  snap: number,
  diskPath: string,
  tmpfsDir: string,
): Promise<RunningTrial> {
  const path = v.output === 'tmpfs' ? join(tmpfsDir, basename(diskPath)) : diskPath;
  if (v.engine === true) {
    const session = startCapture(
      {
        captureId: 'v',
        interfaceName: lab.serverInterface,
        bpfExpression: '',
        snapLengthInBytes: snap,
        totalBytesLimit: 4294967295,
        timeLimitInSeconds: 0,
        outputPath: path,
      },
      {
        commandPrefix: ['ip', 'netns', 'exec', lab.server.name],
        ...(v.statsIntervalInMs !== undefined ? { statsIntervalInMs: v.statsIntervalInMs } : {}),
        ...(v.kernelBufferInKiB !== undefined ? { kernelBufferInKiB: v.kernelBufferInKiB } : {}),
        ...(v.outputBufferBytes !== undefined ? { outputBufferBytes: v.outputBufferBytes } : {}),
        ...(v.immediateMode !== undefined ? { immediateMode: v.immediateMode } : {}),
      },
    );
    await session.started;
    const cpu0 = (await processCpuSeconds(session.pid!)) ?? 0;
    return {
      stop: async () => {
        const cpu1 = (await processCpuSeconds(session.pid!)) ?? 0;
        const outcome = await session.stop();
        await rm(path, { force: true });
        return {
          share: outcome.packetsCaptured / (outcome.kernelPacketsReceived ?? NaN),
          cpuPerPacketInMicros: ((cpu1 - cpu0) / outcome.packetsCaptured) * 1e6,
          received: outcome.kernelPacketsReceived ?? 0,
        };
      },
    };
  }
  const handle = v.stdout === true ? await open(path, 'w+', 0o640) : null;
  const tcpdumpArgs = v.args(lab.serverInterface, snap, path);
  const argv = [
    ...(v.nice !== undefined ? ['nice', '-n', String(v.nice)] : []),
    ...(v.setpriv !== undefined && v.setpriv.length > 0 ? ['setpriv', ...v.setpriv] : []),
    ...(v.wrapper ?? []),
    v.program ?? 'tcpdump',
    ...tcpdumpArgs,
  ];
  const child = spawn('ip', ['netns', 'exec', lab.server.name, ...argv], {
    stdio: ['ignore', handle?.fd ?? (v.writer !== undefined ? 'pipe' : 'ignore'), 'pipe'],
  });
  let writer: ReturnType<typeof spawn> | null = null;
  let writerClosed: Promise<unknown> = Promise.resolve();
  if (v.writer !== undefined) {
    const [cmd, ...rest] = v.writer(path);
    // The pipe's read end goes to the writer; this process keeps no reader on it.
    writer = spawn(cmd!, rest, { stdio: [child.stdout!, 'ignore', 'inherit'] });
    writerClosed = once(writer, 'close');
    child.stdout!.destroy();
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (t: string) => {
      stderr += t;
      if (isListeningLine(stderr)) resolve();
    });
    child.on('exit', () => reject(new Error(`tcpdump exited: ${stderr}`)));
  });
  const closed = once(child, 'close');
  await listening;
  const pid = child.pid!;
  const usr1 = v.usr1EveryMs !== undefined ? setInterval(() => child.kill('SIGUSR1'), v.usr1EveryMs) : null;
  const cpuNow = async (): Promise<number> =>
    ((await processCpuSeconds(pid)) ?? 0) + (writer !== null ? ((await processCpuSeconds(writer.pid!)) ?? 0) : 0);
  const cpu0 = await cpuNow();
  return {
    stop: async () => {
      const cpu1 = await cpuNow();
      if (usr1 !== null) clearInterval(usr1);
      child.kill('SIGTERM');
      await closed;
      await writerClosed;
      await handle?.close();
      const stats = parseTcpdumpStats(stderr);
      const records = v.output === 'devnull' ? (stats.packetsCaptured ?? NaN) : (await countPcapRecords(path)).records;
      await rm(path, { force: true });
      return {
        share: records / (stats.packetsReceivedByFilter ?? NaN),
        cpuPerPacketInMicros: ((cpu1 - cpu0) / records) * 1e6,
        received: stats.packetsReceivedByFilter ?? 0,
      };
    },
  };
}

/** The variants one after another (each under its own load), or all at once under one load (`together`: the same packets offered to each). */
async function round(
  lab: FidelityLab,
  load: Load,
  order: Variant[],
  snap: number,
  seconds: number,
  dir: string,
  tmpfsDir: string,
  together: boolean,
  report: (v: Variant, r: TrialResult) => void,
): Promise<void> {
  if (!together) {
    for (const v of order) {
      const running = await begin(lab, v, snap, join(dir, 'v.cap'), tmpfsDir);
      await lab.runLoad(load, seconds);
      report(v, await running.stop());
      await new Promise((res) => setTimeout(res, 500));
    }
    return;
  }
  const running: RunningTrial[] = [];
  for (const [i, v] of order.entries()) running.push(await begin(lab, v, snap, join(dir, `v${i}.cap`), tmpfsDir));
  await lab.runLoad(load, seconds);
  // All stopped at once (the engine drains its ring for up to 1.2 s first, as it does in production).
  const stops = running.map((r) => r.stop());
  for (const [i, v] of order.entries()) report(v, await stops[i]!);
  await new Promise((res) => setTimeout(res, 500));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeat: { type: 'string', default: '4' },
      duration: { type: 'string', default: '3' },
      snap: { type: 'string', default: '0' },
      load: { type: 'string', default: 'tcp' },
      variants: { type: 'string' },
      together: { type: 'boolean', default: false },
      // iperf3 client arguments instead of --load's, e.g. '-u -b 0 -l 1400 -P 4'.
      iperf: { type: 'string' },
    },
  });
  const load: Load =
    values.iperf !== undefined
      ? { name: 'custom', iperfArgs: values.iperf.split(' ').filter((a) => a !== '') }
      : values.load === 'udp'
        ? { name: 'udp', iperfArgs: ['-u', '-b', '0', '-l', '100'] }
        : { name: 'tcp', iperfArgs: ['-b', '0'] };
  const chosen =
    values.variants === undefined ? VARIANTS : VARIANTS.filter((v) => values.variants!.split(',').includes(v.name));
  const dir = await mkdtemp(join(tmpdir(), 'nw-variants-'));
  await chmod(dir, 0o777);
  // tmpfs for the 'tmpfs' output (the bench's temporary directory is on the disk here).
  const tmpfsDir = await mkdtemp(join('/dev/shm', 'nw-variants-'));
  await chmod(tmpfsDir, 0o777);
  const lab = await createFidelityLab();
  const ratios = new Map<string, { share: number[]; cpu: number[] }>();
  try {
    for (let r = 0; r < Number(values.repeat); r++) {
      const order = chosen.map((_, i) => chosen[(i + r) % chosen.length]!);
      process.stdout.write(`round ${r} loadavg ${(await readFile('/proc/loadavg', 'utf8')).trim()}\n`);
      const got = new Map<string, TrialResult>();
      await round(
        lab,
        load,
        order,
        Number(values.snap),
        Number(values.duration),
        dir,
        tmpfsDir,
        values.together === true,
        (v, t) => {
          got.set(v.name, t);
          process.stdout.write(
            `${r} ${v.name.padEnd(22)} share ${t.share.toFixed(3)} cpu ${t.cpuPerPacketInMicros.toFixed(2)} µs/pkt received ${t.received}\n`,
          );
        },
      );
      // Against bare -B (the criteria's baseline) and, when it ran, default bare tcpdump.
      for (const baseName of ['bare-B', 'bare']) {
        const base = got.get(baseName);
        for (const [name, r] of got) {
          if (base === undefined || name === baseName) continue;
          const key = baseName === 'bare-B' ? name : `${name} ÷ bare`;
          const e = ratios.get(key) ?? { share: [], cpu: [] };
          e.share.push(r.share / base.share);
          e.cpu.push(r.cpuPerPacketInMicros / base.cpuPerPacketInMicros);
          ratios.set(key, e);
        }
      }
    }
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
    await rm(tmpfsDir, { recursive: true, force: true });
  }
  const med = (v: number[]): string => {
    const s = [...v].sort((a, b) => a - b);
    return `${s[Math.floor(s.length / 2)]!.toFixed(3)} (${s[0]!.toFixed(3)}–${s[s.length - 1]!.toFixed(3)})`;
  };
  for (const [name, e] of ratios)
    process.stdout.write(
      name.endsWith(' ÷ bare')
        ? `${name.padEnd(22)} share ${med(e.share)}  cpu/pkt ${med(e.cpu)}\n`
        : `${name.padEnd(22)} share ÷ bare-B ${med(e.share)}  cpu/pkt ÷ bare-B ${med(e.cpu)}\n`,
    );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
