// What the host pays for a capture's finalisation (cut, SHA-256, fsync after tcpdump exits:
// ~0.7 CPU-s per GB). A saturating iperf3 load runs between the lab's two hosts; one second in,
// this process finalises a freshly written capture file of --size-mb (its pages still dirty, as
// after a capture) the way the engine does — at idle priority (its default: a worker thread at
// nice 19 / SCHED_IDLE), at normal priority (the same worker, not lowered), or not at all — and
// the load generator's own throughput and loss are compared between the three in the same round.
// Usage: node --import tsx bench/capture-fidelity/finalise.ts [--repeat 5] [--duration 8] [--size-mb 1024] [--load udp,tcp] [--modes none,idle,normal,idle-clean] [--own-session] [--json]
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { finaliseCaptureFile } from '../../src/capture/index.js';
import { createFidelityLab } from './lab.js';
import type { FidelityLab, Load, LoadResult } from './lab.js';
import { syntheticCaptureHeader, syntheticCaptureRecord } from './synthetic-capture.js';

// 'idle-clean': idle priority on a file already written back (fsynced before the load), so that
// only the cut and the hash remain: the write-back of a capture's dirty pages is the kernel's
// flusher work, owed by every capture (bare tcpdump's file too, within 30 s), and the finalisation's
// fsync only brings it forward.
type Mode = 'none' | 'idle' | 'normal' | 'idle-clean';
const ALL_MODES: Mode[] = ['none', 'idle', 'normal', 'idle-clean'];

interface Trial {
  load: LoadResult;
  /** Wall seconds of the finalisation, null for 'none'. */
  finaliseSeconds: number | null;
  /** CPU seconds of this process over the finalisation (all its threads; the event loop only waits). */
  finaliseCpuSeconds: number | null;
  /** Whether the finalisation ended before the load did. */
  endedInLoad: boolean | null;
}

// A capture file as tcpdump writes it at full-size TCP: 64 KiB records, written in 64 KiB blocks.
function writeCaptureFile(path: string, bytes: number, clean: boolean): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, syntheticCaptureHeader());
    const data = Buffer.alloc(65_000, 0x5a);
    let written = 24;
    for (let i = 0; written < bytes; i++) {
      const rec = syntheticCaptureRecord(i, data);
      writeSync(fd, rec);
      written += rec.length;
    }
    if (clean) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function trial(lab: FidelityLab, load: Load, mode: Mode, seconds: number, path: string): Promise<Trial> {
  const loadDone = lab.runLoad(load, seconds);
  let loadEnded = false;
  void loadDone.then(
    () => (loadEnded = true),
    () => (loadEnded = true),
  );
  if (mode === 'none')
    return { load: await loadDone, finaliseSeconds: null, finaliseCpuSeconds: null, endedInLoad: null };
  await new Promise((r) => setTimeout(r, 1000));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const handle = await open(path, 'r+');
  try {
    await finaliseCaptureFile(
      handle,
      { maxBytes: 0, stopAfterInMs: null },
      { priority: mode === 'normal' ? 'normal' : 'idle', workerMinBytes: 0 },
    );
  } finally {
    await handle.close();
  }
  const finaliseSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const endedInLoad = !loadEnded;
  return {
    load: await loadDone,
    finaliseSeconds,
    finaliseCpuSeconds: (cpu.user + cpu.system) / 1e6,
    endedInLoad,
  };
}

interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}
const stat = (v: number[]): Stat | null =>
  v.length === 0 ? null : { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (v: number[], digits = 3): string =>
  v.length === 0
    ? '—'
    : `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)}, ${v.length})`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeat: { type: 'string', default: '5' },
      duration: { type: 'string', default: '8' },
      'size-mb': { type: 'string', default: '1024' },
      load: { type: 'string', default: 'udp,tcp' },
      'udp-length': { type: 'string', default: '100' },
      'own-session': { type: 'boolean', default: false },
      modes: { type: 'string', default: 'none,idle,normal' },
      json: { type: 'boolean', default: false },
    },
  });
  // --json: only the summary, as JSON, on stdout (the CI smoke test reads it).
  const say = (text: string): void => {
    if (!values.json) process.stdout.write(text);
  };
  const summary: Array<{
    load: string;
    mode: Mode;
    deliveredVsNone: Stat | null;
    finaliseWallSeconds: Stat | null;
    finaliseCpuSeconds: Stat | null;
    lossPercent: Stat | null;
  }> = [];
  const MODES = values.modes.split(',').filter((m): m is Mode => (ALL_MODES as string[]).includes(m));
  if (!MODES.includes('none')) throw new Error('--modes must include none (the baseline)');
  const compared = MODES.filter((m) => m !== 'none');
  const loads: Load[] = values.load
    .split(',')
    .map((name) =>
      name === 'udp'
        ? { name: 'udp', iperfArgs: ['-u', '-b', '0', '-l', values['udp-length']] }
        : { name: 'tcp', iperfArgs: ['-b', '0'] },
    );
  const bytes = Number(values['size-mb']) * 1024 * 1024;
  const seconds = Number(values.duration);
  const dir = await mkdtemp(join('/var/tmp', 'nw-engine-finalise-'));
  const path = join(dir, 'capture.cap');
  const lab = await createFidelityLab({ ownSession: values['own-session'] });
  say(
    `finalisation of ${values['size-mb']} MiB under load, ${seconds} s trials, iperf3 in ${values['own-session'] ? 'a session (autogroup) of its own' : "the bench's session"}\n`,
  );
  try {
    for (const load of loads) {
      const empty = (): Record<Mode, number[]> => ({ none: [], idle: [], normal: [], 'idle-clean': [] });
      const ratios = empty();
      const lossPp = empty();
      const wall = empty();
      const cpu = empty();
      for (let r = 0; r < Number(values.repeat); r++) {
        const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
        const got = new Map<Mode, Trial>();
        for (const mode of order) {
          writeCaptureFile(path, bytes, mode === 'idle-clean'); // fresh pages each time, written before the load starts
          await new Promise((res) => setTimeout(res, 500));
          const t = await trial(lab, load, mode, seconds, path);
          got.set(mode, t);
          if (t.load.lostPercent !== null) lossPp[mode].push(t.load.lostPercent);
          if (t.finaliseSeconds !== null) wall[mode].push(t.finaliseSeconds);
          if (t.finaliseCpuSeconds !== null) cpu[mode].push(t.finaliseCpuSeconds);
          const rate =
            load.name === 'udp'
              ? `${((t.load.datagramsSent ?? 0) / seconds / 1000).toFixed(0)} k datagrams/s sent, loss ${t.load.lostPercent?.toFixed(1)} %`
              : `${(t.load.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`;
          say(
            `${load.name} round ${r} ${mode.padEnd(10)} ${rate}${t.finaliseSeconds === null ? '' : `; finalisation ${t.finaliseSeconds.toFixed(2)} s wall, ${t.finaliseCpuSeconds?.toFixed(2)} CPU-s${t.endedInLoad ? '' : ' (outlasted the load)'}`}\n`,
          );
        }
        const none = got.get('none')!;
        for (const mode of compared) {
          const t = got.get(mode)!;
          // UDP: datagrams the receiver got (sent × (1 − loss)); TCP: bits received.
          const delivered = (x: Trial): number =>
            x.load.datagramsSent === null
              ? x.load.bitsPerSecond
              : x.load.datagramsSent * (1 - (x.load.lostPercent ?? 0) / 100);
          ratios[mode].push(delivered(t) / delivered(none));
        }
      }
      const what = load.name === 'udp' ? 'datagrams received' : 'bits received';
      for (const mode of MODES)
        summary.push({
          load: load.name,
          mode,
          deliveredVsNone: stat(ratios[mode]),
          finaliseWallSeconds: stat(wall[mode]),
          finaliseCpuSeconds: stat(cpu[mode]),
          lossPercent: stat(lossPp[mode]),
        });
      say(`\n${load.name}: load generator's ${what} ÷ no capture's, same round, median (min–max, rounds)\n`);
      for (const mode of compared)
        say(
          `  ${mode.padEnd(10)} finalisation: ${fmt(ratios[mode])}; finalisation wall s ${fmt(wall[mode], 2)}, CPU-s ${fmt(cpu[mode], 2)}\n`,
        );
      if (load.name === 'udp')
        for (const mode of MODES) say(`  loss % with ${mode.padEnd(6)}: ${fmt(lossPp[mode], 1)}\n`);
      say('\n');
    }
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ results: summary }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
