// Where does the engine's tcpdump differ from a bare one? Runs tcpdump invocations that differ
// from bare `tcpdump -w FILE -B 32768` in one thing each (the engine's argv, stdout instead of a
// named file, SIGUSR1 once a second, setpriv, -Z), interleaved under the same saturating load,
// and prints each one's share and CPU per packet ÷ the bare one's in the same round.
// Usage: node --import tsx bench/capture-fidelity/variants.ts [--repeat N] [--duration S] [--snap 0] [--load tcp|udp] [--variants a,b]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
}

const B = ['-B', '32768'];
// What the engine's setpriv does as root (tcpdump-launch.ts).
const UNPRIVILEGED = ['--reuid', 'tcpdump', '--regid', 'tcpdump', '--clear-groups', '--inh-caps', '-all,+net_raw', '--ambient-caps', '+net_raw', '--bounding-set', '-all,+net_raw', '--no-new-privs'];
const VARIANTS: Variant[] = [
  { name: 'bare-B', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B] },
  { name: 'bare-B -Z root', args: (i, s, f) => ['-i', i, '-w', f, '-s', String(s), ...B, '-Z', 'root'] },
  { name: 'stdout', args: (i, s) => ['-i', i, '-w', '-', '-s', String(s), ...B], stdout: true },
  { name: 'engine argv', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true },
  { name: 'engine argv+usr1', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, usr1EveryMs: 1000 },
  { name: 'engine argv+setpriv', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, setpriv: ['--pdeathsig', 'TERM', '--'] },
  { name: 'stdbuf 64K', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, setpriv: [], wrapper: ['stdbuf', '-o', '65536'] },
  { name: 'stdbuf 1M', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, wrapper: ['stdbuf', '-o', '1048576'] },
  { name: 'stdbuf 16K', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, wrapper: ['stdbuf', '-o', '16384'] },
  { name: 'unprivileged', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'], stdout: true, setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'] },
  { name: 'engine now', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'], stdout: true, setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'], wrapper: ['stdbuf', '-o', '65536'] },
  { name: 'engine 4K', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'], stdout: true, setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'] },
  { name: 'engine 16K', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'], stdout: true, setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'], wrapper: ['stdbuf', '-o', '16384'] },
  { name: 'engine 256K', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-'], stdout: true, setpriv: [...UNPRIVILEGED, '--pdeathsig', 'TERM', '--'], wrapper: ['stdbuf', '-o', '262144'] },
  { name: 'engine', args: () => [], engine: true },
  { name: 'engine no usr1', args: () => [], engine: true, statsIntervalInMs: 600_000 },
  { name: 'usr1 x10', args: (i, s) => ['-i', i, '-n', '-O', '-s', String(s === 0 ? 262144 : s), ...B, '-w', '-', '-Z', 'root'], stdout: true, usr1EveryMs: 100 },
];

async function trial(lab: FidelityLab, load: Load, v: Variant, snap: number, seconds: number, dir: string): Promise<{ share: number; cpuPerPacketInMicros: number; received: number }> {
  const path = join(dir, 'v.cap');
  if (v.engine === true) {
    const session = startCapture(
      { captureId: 'v', interfaceName: lab.serverInterface, bpfExpression: '', snapLengthInBytes: snap, totalBytesLimit: 4294967295, timeLimitInSeconds: 0, outputPath: path },
      { commandPrefix: ['ip', 'netns', 'exec', lab.server.name], ...(v.statsIntervalInMs !== undefined ? { statsIntervalInMs: v.statsIntervalInMs } : {}) },
    );
    await session.started;
    const cpu0 = (await processCpuSeconds(session.pid!)) ?? 0;
    await lab.runLoad(load, seconds);
    const cpu1 = (await processCpuSeconds(session.pid!)) ?? 0;
    const outcome = await session.stop();
    await rm(path, { force: true });
    return { share: outcome.packetsCaptured / (outcome.kernelPacketsReceived ?? NaN), cpuPerPacketInMicros: ((cpu1 - cpu0) / outcome.packetsCaptured) * 1e6, received: outcome.kernelPacketsReceived ?? 0 };
  }
  const handle = v.stdout === true ? await open(path, 'w+', 0o640) : null;
  const tcpdumpArgs = v.args(lab.serverInterface, snap, path);
  const argv = [...(v.setpriv !== undefined && v.setpriv.length > 0 ? ['setpriv', ...v.setpriv] : []), ...(v.wrapper ?? []), 'tcpdump', ...tcpdumpArgs];
  const child = spawn('ip', ['netns', 'exec', lab.server.name, ...argv], { stdio: ['ignore', handle?.fd ?? 'ignore', 'pipe'] });
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
  const cpu0 = (await processCpuSeconds(pid)) ?? 0;
  await lab.runLoad(load, seconds);
  const cpu1 = (await processCpuSeconds(pid)) ?? 0;
  if (usr1 !== null) clearInterval(usr1);
  child.kill('SIGTERM');
  await closed;
  await handle?.close();
  const stats = parseTcpdumpStats(stderr);
  const { records } = await countPcapRecords(path);
  await rm(path, { force: true });
  return { share: records / (stats.packetsReceivedByFilter ?? NaN), cpuPerPacketInMicros: ((cpu1 - cpu0) / records) * 1e6, received: stats.packetsReceivedByFilter ?? 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { repeat: { type: 'string', default: '4' }, duration: { type: 'string', default: '3' }, snap: { type: 'string', default: '0' }, load: { type: 'string', default: 'tcp' }, variants: { type: 'string' } } });
  const load: Load = values.load === 'udp' ? { name: 'udp', iperfArgs: ['-u', '-b', '0', '-l', '100'] } : { name: 'tcp', iperfArgs: ['-b', '0'] };
  const chosen = values.variants === undefined ? VARIANTS : VARIANTS.filter((v) => values.variants!.split(',').includes(v.name));
  const dir = await mkdtemp(join(tmpdir(), 'nw-variants-'));
  await chmod(dir, 0o777);
  const lab = await createFidelityLab();
  const ratios = new Map<string, { share: number[]; cpu: number[] }>();
  try {
    for (let round = 0; round < Number(values.repeat); round++) {
      const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]!);
      const got = new Map<string, { share: number; cpuPerPacketInMicros: number; received: number }>();
      for (const v of order) {
        const r = await trial(lab, load, v, Number(values.snap), Number(values.duration), dir);
        got.set(v.name, r);
        process.stdout.write(`${round} ${v.name.padEnd(22)} share ${r.share.toFixed(3)} cpu ${r.cpuPerPacketInMicros.toFixed(2)} µs/pkt received ${r.received}\n`);
        await new Promise((res) => setTimeout(res, 500));
      }
      const base = got.get('bare-B');
      for (const [name, r] of got) {
        if (base === undefined || name === 'bare-B') continue;
        const e = ratios.get(name) ?? { share: [], cpu: [] };
        e.share.push(r.share / base.share);
        e.cpu.push(r.cpuPerPacketInMicros / base.cpuPerPacketInMicros);
        ratios.set(name, e);
      }
    }
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
  const med = (v: number[]): string => {
    const s = [...v].sort((a, b) => a - b);
    return `${s[Math.floor(s.length / 2)]!.toFixed(3)} (${s[0]!.toFixed(3)}–${s[s.length - 1]!.toFixed(3)})`;
  };
  for (const [name, e] of ratios) process.stdout.write(`${name.padEnd(22)} share ÷ bare-B ${med(e.share)}  cpu/pkt ÷ bare-B ${med(e.cpu)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
