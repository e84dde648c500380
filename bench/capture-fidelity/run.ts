// Capture fidelity benchmark (DESIGN §11): under the same iperf3 load between two test hosts
// (saturation by default), does the netwatcher capture engine — and the whole product — keep at
// least the share of packets bare `tcpdump -w` with the same kernel buffer keeps, at no more than
// 1.5× its CPU per packet, at full and at header-only snap length?
// Usage: node --import tsx bench/capture-fidelity/run.ts [--short] [--check] [--json] [options]
// See README.md beside this file.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LOOKBACK_KERNEL_BUFFER_IN_KIB } from '../../src/capture/index.js';
import {
  CAPTURERS,
  BENCH_RING,
  captureCostCpuSeconds,
  closeEngineChild,
  loadCpuSeconds,
  runAgentTrial,
  runBareTrial,
  runNoCaptureTrial,
  runRingTrial,
  withBareBeside,
} from './capturers.js';
import { runProductTrial, startProduct, type Product } from './product.js';
import type { Capturer, TrialResult } from './capturers.js';
import { measureSha256Rate } from './cpu.js';
import { createFidelityLab } from './lab.js';
import type { FidelityLab, Load } from './lab.js';
import { PACKET_CAPTURE_LIMITS } from '../../src/model/packet-capture.js';

/**
 * Every contestant of a round gets the same byte budget: the product cannot capture more than
 * totalBytesPerSession's maximum (4 GiB), so the engine gets it as its size limit too, and the
 * load of each round is kept short enough for no contestant to reach it (at saturation on this
 * machine tcpdump writes 1.5 GB/s: a 5 s TCP trial would be 7.5 GB). A round in which one did
 * is repeated with a shorter load: a capped contestant is never compared with an uncapped one.
 */
const BYTE_BUDGET = PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession;
// Share of the budget the load is sized to fill at the rate measured without a capture.
const BUDGET_FILL = 0.6;
// Repeats of a round whose contestant reached the budget, each with a shorter load.
const MAX_ROUND_ATTEMPTS = 3;

/** Benchmark settings after parsing argv. */
interface Settings {
  durationInSeconds: number;
  snapLengths: number[];
  loads: Load[];
  capturers: Capturer[];
  repetitions: number;
  check: boolean;
  json: boolean;
  /** 'local': the product's captures also go to a local storage account (nw up's default kind): upload and verify are measured until the file is stored. */
  productStorage: 'local' | null;
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      short: { type: 'boolean', default: false },
      duration: { type: 'string' },
      snap: { type: 'string', default: '0,96' },
      'tcp-rate': { type: 'string', default: '0' },
      'udp-rate': { type: 'string', default: '0' },
      'udp-length': { type: 'string', default: '100' },
      // iperf3 -P for the TCP load: 4 parallel streams at full snap length are the one load found
      // on this 2-core VM where default tcpdump -w keeps less than half (issue 18); named 'tcp4'.
      'tcp-streams': { type: 'string', default: '1' },
      loads: { type: 'string', default: 'tcp,udp' },
      capturers: { type: 'string' },
      repeat: { type: 'string' },
      check: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'product-storage': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      'node --import tsx bench/capture-fidelity/run.ts [--short] [--duration S] [--snap 0,96] [--tcp-rate 0] [--udp-rate 0]\n' +
        `  [--udp-length 100] [--tcp-streams 1] [--loads tcp,udp] [--capturers ${CAPTURERS.join(',')}] [--repeat N] [--check] [--json]\n` +
        '  [--product-storage local]  (the product also stores each capture in a local storage account; its upload and verify CPU is reported)\n',
    );
    process.exit(0);
  }
  const short = values.short === true;
  const durationInSeconds = Number(values.duration ?? (short ? 1 : 5));
  if (!(durationInSeconds >= 1)) throw new Error('--duration must be ≥ 1');
  const snapLengths = String(values.snap).split(',').map(Number);
  if (snapLengths.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--snap takes a list of integers ≥ 0');
  const capturers = (
    values.capturers ?? (short ? 'bare-B,agent' : 'none,bare,bare-B,agent,netwatcher,agent+bare-B,netwatcher+bare-B')
  ).split(',');
  if (capturers.some((c) => !CAPTURERS.includes(c as Capturer)))
    throw new Error(`--capturers takes a list of ${CAPTURERS.join(', ')}`);
  // 5 pairs: at saturation on a shared machine single pairs spread ±50 % (side by side) and more (alternating).
  const repetitions = Number(values.repeat ?? (short ? 1 : 5));
  if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error('--repeat must be an integer ≥ 1');
  const tcpStreams = Number(values['tcp-streams']);
  if (!Number.isInteger(tcpStreams) || tcpStreams < 1) throw new Error('--tcp-streams must be an integer ≥ 1');
  const loadNames = String(values.loads).split(',');
  if (loadNames.length === 0 || loadNames.some((n) => n !== 'tcp' && n !== 'udp'))
    throw new Error('--loads takes a list of tcp, udp');
  const loads: Load[] = [
    // Saturation by default: iperf3 -b 0 sends as fast as it can. On a small machine the offered
    // load then depends on how much CPU the capture leaves to iperf3, so compare shares
    // (captured ÷ received), not counts.
    tcpStreams === 1
      ? { name: 'tcp', iperfArgs: ['-b', String(values['tcp-rate'])] }
      : { name: `tcp${tcpStreams}`, iperfArgs: ['-b', String(values['tcp-rate']), '-P', String(tcpStreams)] },
    // Small datagrams: the packet rate, not the byte rate, is what costs a capture.
    { name: 'udp', iperfArgs: ['-u', '-b', String(values['udp-rate']), '-l', String(values['udp-length'])] },
  ].filter((l) => loadNames.includes(l.name.startsWith('tcp') ? 'tcp' : 'udp'));
  return {
    durationInSeconds,
    snapLengths,
    loads,
    capturers: capturers as Capturer[],
    repetitions,
    check: values.check === true,
    json: values.json === true,
    productStorage: parseProductStorage(values['product-storage']),
  };
}

function parseProductStorage(value: string | undefined): 'local' | null {
  if (value === undefined) return null;
  if (value !== 'local') throw new Error('--product-storage takes local');
  return value;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runTrial(
  lab: FidelityLab,
  dir: string,
  capturer: Capturer,
  load: Load,
  snap: number,
  durationInSeconds: number,
  product: Product | null,
): Promise<Omit<TrialResult, 'repetition'>> {
  const outputPath = join(dir, `${capturer}-${load.name}-${snap}.cap`);
  const besidePath = join(dir, `${capturer}-beside-${load.name}-${snap}.cap`);
  try {
    if (capturer === 'none') return await runNoCaptureTrial(lab, load, snap, durationInSeconds);
    if (capturer === 'bare' || capturer === 'bare-B')
      return await runBareTrial(lab, load, snap, durationInSeconds, outputPath, capturer === 'bare-B', BYTE_BUDGET);
    if (capturer === 'netwatcher')
      return await runProductTrial(product!, load, snap, durationInSeconds, lab, BYTE_BUDGET);
    if (capturer === 'ring-tcpdump' || capturer === 'ring-engine' || capturer === 'ring-native')
      return await runRingTrial(lab, load, snap, durationInSeconds, outputPath, capturer);
    if (capturer === 'agent+bare-B' || capturer === 'netwatcher+bare-B') {
      // The same packets to both at once: bare -B captures beside the engine or the product.
      const side = withBareBeside(lab, snap, besidePath, BYTE_BUDGET);
      const own =
        capturer === 'agent+bare-B'
          ? await runAgentTrial(side.lab, load, snap, durationInSeconds, outputPath, 'agent', BYTE_BUDGET)
          : await runProductTrial(product!, load, snap, durationInSeconds, side.lab, BYTE_BUDGET);
      const beside = side.result();
      return {
        ...own,
        capturer,
        ...(beside !== null ? { beside } : {}),
        capped: own.capped || (beside?.capped ?? false),
      };
    }
    return await runAgentTrial(lab, load, snap, durationInSeconds, outputPath, capturer, BYTE_BUDGET);
  } finally {
    // Full-snap files are large; keep the disk as we found it.
    await rm(outputPath, { force: true });
    await rm(besidePath, { force: true });
  }
}

/**
 * Bytes per second a full-snap capture file of `load` grows by at most, from a 1 s run without any
 * capture (the fastest the load goes: a capture only takes CPU from it), and the bytes of one
 * packet in the file at full snap length.
 */
async function measureFileRate(
  lab: FidelityLab,
  load: Load,
): Promise<{ fileBytesPerSecond: number; packetFileBytes: number }> {
  const r = await lab.runLoad(load, 1);
  // Headers (link 14, IP 20, UDP 8) plus the 16-byte record header per packet: for small UDP
  // datagrams (-l LEN) LEN + 58 bytes per LEN of payload; for TCP's 64 KiB segments and their
  // ACKs a few per cent.
  const lengthAt = load.iperfArgs.indexOf('-l');
  const datagramBytes = lengthAt >= 0 ? Number(load.iperfArgs[lengthAt + 1]) : null;
  if (load.iperfArgs.includes('-u') && datagramBytes !== null && datagramBytes > 0) {
    return {
      fileBytesPerSecond: (r.bitsPerSecond / 8) * ((datagramBytes + 58) / datagramBytes),
      packetFileBytes: datagramBytes + 58,
    };
  }
  return { fileBytesPerSecond: (r.bitsPerSecond / 8) * 1.05, packetFileBytes: 65_536 + 82 };
}

/** Seconds of load (1 … maxSeconds: iperf3 -t takes whole seconds) that fill at most BUDGET_FILL of the byte budget at snap length `snap`. */
function budgetedSeconds(
  rate: { fileBytesPerSecond: number; packetFileBytes: number },
  snap: number,
  maxSeconds: number,
): number {
  const perPacket = snap === 0 ? rate.packetFileBytes : Math.min(rate.packetFileBytes, snap + 16);
  const bytesPerSecond = rate.fileBytesPerSecond * (perPacket / rate.packetFileBytes);
  return Math.max(1, Math.min(maxSeconds, Math.floor((BYTE_BUDGET * BUDGET_FILL) / Math.max(1, bytesPerSecond))));
}

/** A contestant measured side by side with bare -B (withBareBeside). */
const isBeside = (c: Capturer): boolean => c === 'agent+bare-B' || c === 'netwatcher+bare-B';
const share = (t: TrialResult): number | null => (t.kernelReceived ? t.captured / t.kernelReceived : null);
/** What the capture process itself took from the kernel ring: received less dropped (= captured for bare tcpdump). */
const writtenShare = (t: TrialResult): number | null =>
  t.kernelReceived ? (t.kernelReceived - (t.kernelDropped ?? 0)) / t.kernelReceived : null;
const perPacketInMicros = (cpu: number | null, t: TrialResult): number | null =>
  cpu === null || t.captured === 0 ? null : (cpu / t.captured) * 1e6;
const fmt = (n: number | null, digits = 3): string => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function printTrial(t: TrialResult): void {
  printTrialRow(t);
  if (t.cpu.serverStore !== undefined)
    process.stdout.write(
      `      stored in ${fmt(t.cpu.storeSeconds ?? null, 1)} s: agent ${fmt(cpuSecondsPerGB(t.cpu.agentStore, t), 2)}, server ${fmt(cpuSecondsPerGB(t.cpu.serverStore, t), 2)} CPU-s per GB; finalisation ${fmt(cpuSecondsPerGB(t.cpu.agentAfterStop, t), 2)}; whole product ${fmt(storedWholeCpuSecondsPerGB(t), 2)} CPU-s per GB of ${(t.fileSizeInBytes / 1e9).toFixed(2)} GB\n`,
    );
  if (t.beside !== undefined)
    printTrialRow({ ...t.beside, capturer: 'bare-B', repetition: t.repetition }, '  (beside)');
}

function printTrialRow(t: TrialResult, note = ''): void {
  const rate =
    t.loadResult.datagramsSent !== null
      ? `${(t.loadResult.datagramsSent / t.durationInSeconds / 1e3).toFixed(0)} kdgr/s`
      : `${(t.loadResult.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`;
  process.stdout.write(
    [
      String(t.snapLengthInBytes).padStart(4),
      t.load.padEnd(4),
      String(t.repetition).padStart(3),
      t.capturer.padEnd(15),
      rate.padStart(12),
      fmt(t.loadResult.lostPercent, 1).padStart(6),
      String(t.kernelReceived ?? '-').padStart(10),
      String(t.captured).padStart(10),
      String(t.kernelDropped ?? '-').padStart(10),
      fmt(share(t)).padStart(8),
      String(t.stopInMs).padStart(7),
      fmt(perPacketInMicros(t.cpu.captureProcess, t), 2).padStart(8),
      fmt(perPacketInMicros(t.cpu.agent, t), 2).padStart(8),
      fmt(perPacketInMicros(t.cpu.server, t), 2).padStart(8),
      fmt(perPacketInMicros(t.cpu.agentAfterStop, t), 2).padStart(8),
      fmt(perPacketInMicros(t.cpu.agentIdle, t), 2).padStart(8),
      `${t.durationInSeconds} s${note}${t.capped ? ' CAPPED: reached the byte budget, round repeated with a shorter load' : ''}`,
    ].join('  ') +
      '\n' +
      (t.lookback
        ? `                 look-back buffer: tcpdump ${fmt(perPacketInMicros(t.cpu.lookbackProcess ?? null, t), 2)} µs/pkt, ${t.lookback.packetsCaptured} packets, ${(t.lookback.sizeInBytes / 1048576).toFixed(1)} MiB on disk, ${t.lookback.kernelPacketsDropped} kernel drops, tcpdump RSS ${t.lookback.residentKiB ?? '-'} KiB (+ its ${LOOKBACK_KERNEL_BUFFER_IN_KIB / 1024} MiB kernel ring)\n`
        : ''),
  );
}

/** Median and range of some numbers (nulls left out); null when there are none. */
interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}
function spread(values: Array<number | null>): Spread | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}
const fmtSpread = (s: Spread | null, digits = 3): string =>
  s === null
    ? '-'
    : s.n === 1
      ? fmt(s.median, digits)
      : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)}, ${s.n})`;

/**
 * The issue's "keep at least twice what a default `tcpdump -w` keeps when that one drops",
 * restated so that it can be met: where default tcpdump kept a share d < 1 of what it was offered,
 * keep at least min(2 × d, 1) of the offered packets (twice cannot exceed everything: a default
 * that keeps more than half leaves "all of it" as the bar), less TWICE_TOLERANCE of the offered
 * packets for the noise of trials taken one after the other.
 */
const TWICE_TOLERANCE = 0.01;
/** Default tcpdump "drops" in a pair when it kept less than this share (0.1 %, as the share criterion's tolerance). */
const DEFAULT_DROPS_BELOW = 0.999;

/** share − min(2 × default bare's share, 1) for one pair, or null when default bare did not drop. */
function twiceDefaultMargin(t: TrialResult, bare: TrialResult | undefined): number | null {
  const kept = share(t);
  const defaultKept = bare === undefined ? null : share(bare);
  if (kept === null || defaultKept === null || defaultKept >= DEFAULT_DROPS_BELOW) return null;
  return kept - Math.min(2 * defaultKept, 1);
}

/** CPU seconds per GB of the trial's file. */
function cpuSecondsPerGB(cpuSeconds: number | null | undefined, t: TrialResult): number | null {
  return cpuSeconds == null || t.fileSizeInBytes === 0 ? null : cpuSeconds / (t.fileSizeInBytes / 1e9);
}

/** A stored product trial's whole CPU per GB: tcpdump + agent while loaded, the finalisation, the upload, the server's receiving and verify. */
function storedWholeCpuSecondsPerGB(t: TrialResult): number | null {
  const parts = [t.cpu.captureProcess, t.cpu.agent, t.cpu.agentAfterStop, t.cpu.agentStore, t.cpu.serverStore];
  if (parts.some((x) => x == null)) return null;
  return cpuSecondsPerGB(
    parts.reduce<number>((sum, x) => sum + (x ?? 0), 0),
    t,
  );
}

/** One capture setting against bare tcpdump under one load and snap length, from the pairs of the same repetition. */
interface Comparison {
  snapLengthInBytes: number;
  load: string;
  capturer: Capturer;
  /** Its share of offered packets kept ÷ bare tcpdump -B's, per pair. */
  shareVsBareB: Spread | null;
  /** Its share ÷ default bare tcpdump's, per pair. */
  shareVsBare: Spread | null;
  /** Default bare tcpdump's own share (to read the "twice what default tcpdump keeps" rule). */
  bareShare: Spread | null;
  /** Per alternating pair where default bare dropped: this share − min(2 × default's share, 1) (twiceDefaultMargin); null when it never dropped. */
  twiceDefaultMargin: Spread | null;
  /** CPU per packet of the capture host (capture process + agent) while the load ran ÷ bare tcpdump -B's, per pair. */
  cpuVsBareB: Spread | null;
  /** The same including its CPU after the stop (final cut and hash), ÷ bare tcpdump -B's: the whole cost, printed so that nothing is hidden. */
  cpuWithFinishVsBareB: Spread | null;
  /** The finalisation after the stop (cut + SHA-256, off the capture's path) in CPU-s per GB of file kept. */
  finishCpuSecondsPerGB: Spread | null;
  /** CPU per packet the capture costs the host while loaded (capture process + the agent's CPU above its idle use) ÷ bare tcpdump -B's: the criterion. */
  captureCostVsBareB: Spread | null;
  /**
   * --product-storage: the whole product's CPU per GB kept — tcpdump, the agent while loaded,
   * its finalisation, its upload and the server's receiving and verify until stored — ÷ bare
   * tcpdump -B's CPU per GB of its file, per pair; and that CPU per GB itself.
   */
  storedWholeVsBareBPerGB?: Spread | null;
  storedWholeCpuSecondsPerGB?: Spread | null;
  /** The agent's and the server's CPU-s per GB from the complete file to stored. */
  storeAgentCpuSecondsPerGB?: Spread | null;
  storeServerCpuSecondsPerGB?: Spread | null;
  /** Packets kept ÷ bare tcpdump -B's in the same round (same load length): at saturation the share depends on the offered rate, which varies between trials; what the capture process could write does less. */
  keptVsBareB: Spread | null;
  /** The load generator's loss (UDP, %) with this capture, and with none. */
  loadLossPercent: Spread | null;
  loadLossWithoutCapturePercent: Spread | null;
  /** 'agent-lookback': its share ÷ the same capture's without the buffer ('agent'), per pair. */
  shareVsWithoutLookback?: Spread | null;
  /** 'agent-lookback': CPU per packet (capture + engine + buffer) ÷ the same capture's without the buffer, per pair. */
  cpuVsWithoutLookback?: Spread | null;
  /** 'ring-engine': its share ÷ tcpdump's own -C ring's ('ring-tcpdump'), per pair. */
  shareVsTcpdumpRing?: Spread | null;
  /** 'ring-engine': CPU per packet (tcpdump + engine, during the load) ÷ the -C ring's, per pair. */
  cpuVsTcpdumpRing?: Spread | null;
  /** 'ring-engine': the same with the CPU after the stop (the last files' finish) added. */
  cpuWithFinishVsTcpdumpRing?: Spread | null;
  /** 'ring-native': its share ÷ the engine-cut ring's ('ring-engine'), per pair. */
  shareVsEngineRing?: Spread | null;
  /** 'ring-native': CPU per packet while loaded (nw-capture + engine) ÷ the engine-cut ring's, per pair. */
  cpuVsEngineRing?: Spread | null;
  /** 'ring-native': the same with the CPU after the stop added. */
  cpuWithFinishVsEngineRing?: Spread | null;
  /** 'ring-*': the most files the ring's folder held in any trial (bound: BENCH_RING.fileCount). */
  ringMostFiles?: number | null;
  /**
   * 'ring-*': the share the capture process wrote ((kernel received − dropped) ÷ received) ÷ bare
   * -B's share, per pair. Above the handed-on share when the ring deleted files it could not
   * finish in time (nw-capture does not wait for the finish; the engine's cut stops reading instead).
   */
  writtenShareVsBareB?: Spread | null;
}

function compare(results: TrialResult[], settings: Settings): Comparison[] {
  const out: Comparison[] = [];
  for (const snap of settings.snapLengths) {
    for (const load of settings.loads) {
      const of = (c: Capturer): TrialResult[] =>
        results.filter((r) => r.capturer === c && r.load === load.name && r.snapLengthInBytes === snap);
      const at = (c: Capturer, rep: number): TrialResult | undefined => of(c).find((r) => r.repetition === rep);
      for (const capturer of settings.capturers.filter(
        (c) =>
          c === 'agent' ||
          c === 'netwatcher' ||
          c === 'agent-immediate' ||
          c === 'agent-tcpdump' ||
          c === 'agent-previous' ||
          c === 'agent-lookback' ||
          c === 'ring-tcpdump' ||
          c === 'ring-engine' ||
          c === 'ring-native' ||
          isBeside(c),
      )) {
        // Side by side ('agent+bare-B'): bare -B is the one that captured beside it in the same trial.
        const ratios = (baseline: Capturer, f: (t: TrialResult) => number | null): Array<number | null> =>
          of(capturer).map((t) => {
            const b = isBeside(capturer)
              ? baseline === 'bare-B' && t.beside !== undefined
                ? { ...t.beside, repetition: t.repetition }
                : undefined
              : at(baseline, t.repetition);
            if (b === undefined) return null;
            const x = f(t);
            const y = f(b);
            return x === null || y === null || y === 0 ? null : x / y;
          });
        const cpuLoad = (t: TrialResult): number | null => perPacketInMicros(loadCpuSeconds(t), t);
        const cpuAll = (t: TrialResult): number | null => {
          const c = loadCpuSeconds(t);
          return perPacketInMicros(c === null ? null : c + (t.cpu.agentAfterStop ?? 0), t);
        };
        out.push({
          snapLengthInBytes: snap,
          load: load.name,
          capturer,
          shareVsBareB: spread(ratios('bare-B', share)),
          shareVsBare: spread(ratios('bare', share)),
          bareShare: spread(of('bare').map(share)),
          // Alternating pairs only: default bare never captures beside a contestant.
          twiceDefaultMargin: isBeside(capturer)
            ? null
            : spread(of(capturer).map((t) => twiceDefaultMargin(t, at('bare', t.repetition)))),
          cpuVsBareB: spread(ratios('bare-B', cpuLoad)),
          cpuWithFinishVsBareB: spread(ratios('bare-B', cpuAll)),
          finishCpuSecondsPerGB: spread(
            of(capturer).map((t) =>
              t.cpu.agentAfterStop === null || t.fileSizeInBytes === 0
                ? null
                : t.cpu.agentAfterStop / (t.fileSizeInBytes / 1e9),
            ),
          ),
          captureCostVsBareB: spread(ratios('bare-B', (t) => perPacketInMicros(captureCostCpuSeconds(t), t))),
          keptVsBareB: spread(ratios('bare-B', (t) => t.captured)),
          ...(of(capturer).some((t) => t.cpu.serverStore !== undefined)
            ? {
                storedWholeVsBareBPerGB: spread(
                  of(capturer).map((t) => {
                    const b = at('bare-B', t.repetition);
                    const whole = storedWholeCpuSecondsPerGB(t);
                    const base = b === undefined ? null : cpuSecondsPerGB(b.cpu.captureProcess, b);
                    return whole === null || base === null || base === 0 ? null : whole / base;
                  }),
                ),
                storedWholeCpuSecondsPerGB: spread(of(capturer).map(storedWholeCpuSecondsPerGB)),
                storeAgentCpuSecondsPerGB: spread(of(capturer).map((t) => cpuSecondsPerGB(t.cpu.agentStore, t))),
                storeServerCpuSecondsPerGB: spread(of(capturer).map((t) => cpuSecondsPerGB(t.cpu.serverStore, t))),
              }
            : {}),
          loadLossPercent: spread(of(capturer).map((t) => t.loadResult.lostPercent)),
          loadLossWithoutCapturePercent: spread(of('none').map((t) => t.loadResult.lostPercent)),
          // The look-back row (issue 13): the same engine capture with the buffer on ÷ without it, same pair.
          ...(capturer === 'agent-lookback'
            ? {
                shareVsWithoutLookback: spread(ratios('agent', share)),
                cpuVsWithoutLookback: spread(ratios('agent', cpuLoad)),
              }
            : {}),
          // The engine-cut ring row (issue 13): against tcpdump's own -C ring at the same size, same pair.
          ...(capturer === 'ring-engine'
            ? {
                shareVsTcpdumpRing: spread(ratios('ring-tcpdump', share)),
                cpuVsTcpdumpRing: spread(ratios('ring-tcpdump', cpuLoad)),
                cpuWithFinishVsTcpdumpRing: spread(ratios('ring-tcpdump', cpuAll)),
              }
            : {}),
          // The native ring row (issue 18): against the engine-cut ring at the same size, same pair.
          ...(capturer === 'ring-native'
            ? {
                shareVsEngineRing: spread(ratios('ring-engine', share)),
                cpuVsEngineRing: spread(ratios('ring-engine', cpuLoad)),
                cpuWithFinishVsEngineRing: spread(ratios('ring-engine', cpuAll)),
              }
            : {}),
          ...(capturer.startsWith('ring-')
            ? {
                writtenShareVsBareB: spread(ratios('bare-B', writtenShare)),
                ringMostFiles: of(capturer).reduce<number | null>(
                  (most, t) => (t.ringMostFiles === undefined ? most : Math.max(most ?? 0, t.ringMostFiles)),
                  null,
                ),
              }
            : {}),
        });
      }
    }
  }
  return out;
}

/**
 * DESIGN §11 criteria for the engine and the product; returns the failures. The share is judged
 * on the side-by-side pairs ('agent+bare-B': bare -B capturing the same packets at the same
 * moment) where the run has them, else on the alternating ones; the CPU per packet on the
 * alternating ones (each contestant alone on the machine), at capture time, above the agent's
 * idle use; "twice what default tcpdump keeps when it drops" as kept ≥ min(2 × default's share,
 * all offered) − TWICE_TOLERANCE on the alternating pairs where default tcpdump dropped. The
 * finalisation after the stop (cut + SHA-256) is reported apart, not judged.
 */
function checkCriteria(comparisons: Comparison[]): string[] {
  const failures: string[] = [];
  for (const c of comparisons.filter((x) => x.capturer === 'agent' || x.capturer === 'netwatcher')) {
    const where = `snap ${c.snapLengthInBytes} ${c.load} ${c.capturer}`;
    const side = comparisons.find(
      (x) =>
        x.capturer === `${c.capturer}+bare-B` &&
        x.snapLengthInBytes === c.snapLengthInBytes &&
        x.load === c.load &&
        x.shareVsBareB !== null,
    );
    const shareRatio = side?.shareVsBareB ?? c.shareVsBareB;
    const how = side !== undefined ? 'side by side with' : 'alternating with';
    // Medians over pairs: a shared 2-core machine makes single trials noisy. 0.1 % tolerance.
    if (shareRatio === null) failures.push(`${where}: no share ratio against bare tcpdump -B`);
    else if (shareRatio.median < 0.999)
      failures.push(`${where}: kept ${fmt(shareRatio.median)} × the share of bare tcpdump -B ${how} it (< 1)`);
    if (c.twiceDefaultMargin !== null && c.twiceDefaultMargin.median < -TWICE_TOLERANCE)
      failures.push(
        `${where}: kept ${fmt(-c.twiceDefaultMargin.median)} of the offered packets less than min(2 × default tcpdump's share, all) (tolerance ${TWICE_TOLERANCE})`,
      );
    if (c.captureCostVsBareB !== null && c.captureCostVsBareB.median > 1.5)
      failures.push(
        `${where}: capture-time CPU per packet ${fmt(c.captureCostVsBareB.median, 2)} × bare tcpdump -B's (> 1.5)`,
      );
  }
  return failures;
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, tcpdump)');
  const dir = await mkdtemp(join(tmpdir(), 'nw-bench-fidelity-'));
  // Debian's tcpdump drops to user "tcpdump" before opening its -w file.
  await chmod(dir, 0o777);
  const lab = await createFidelityLab();
  let product: Product | null = null;
  const cleanup = async (): Promise<void> => {
    await product?.close().catch(() => {});
    await closeEngineChild().catch(() => {});
    await lab.destroy().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  const results: TrialResult[] = [];
  const hashRate = await measureSha256Rate();
  try {
    if (settings.capturers.includes('netwatcher'))
      product = await startProduct(lab, dir, { storage: settings.productStorage });
    if (!settings.json) {
      process.stdout.write(
        `capture fidelity: up to ${settings.durationInSeconds} s per trial, ${settings.repetitions} repetitions, veth ${lab.serverInterface}, loads ${settings.loads.map((l) => `${l.name}(${l.iperfArgs.join(' ')})`).join(', ')}\n`,
      );
      process.stdout.write(
        `SHA-256 here: ${hashRate.gbPerCpuSecond.toFixed(2)} GB per CPU-s (4 MiB updates; CPU ${hashRate.shaExtensions ? 'has' : 'lacks'} SHA extensions)\n`,
      );
      process.stdout.write(
        '                                                    load     kernel        file      kernel             stop   ---------- cpu µs per packet ----------\n' +
          ' snap  load  rep  capturer           load rate  loss %    received    captured     dropped  capt/rcv       ms   capture    agent   server  a.stop  a.idle\n',
      );
    }
    // Per load and snap length, the seconds that keep every contestant within the byte budget
    // (from the load's rate without a capture; shortened when a round still reaches it).
    const durations = new Map<string, number>();
    const key = (load: Load, snap: number): string => `${load.name} ${snap}`;
    if (settings.durationInSeconds > 1) {
      for (const load of settings.loads) {
        const rate = await measureFileRate(lab, load);
        for (const snap of settings.snapLengths) {
          const seconds = budgetedSeconds(rate, snap, settings.durationInSeconds);
          durations.set(key(load, snap), seconds);
          if (!settings.json && seconds < settings.durationInSeconds) {
            process.stdout.write(
              `  snap ${snap} ${load.name}: ${seconds} s per trial (${(rate.fileBytesPerSecond / 1e9).toFixed(2)} GB/s at full snap without a capture; every contestant's byte budget: ${BYTE_BUDGET})\n`,
            );
          }
        }
      }
    }
    for (const snap of settings.snapLengths) {
      for (const load of settings.loads) {
        for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
          // Baselines and engine interleaved, the order rotated per repetition, so that a change
          // in the machine's other load hits them alike.
          const order = settings.capturers.map(
            (_, i) => settings.capturers[(i + repetition - 1) % settings.capturers.length]!,
          );
          for (let attempt = 1; ; attempt++) {
            const durationInSeconds = durations.get(key(load, snap)) ?? settings.durationInSeconds;
            const round: TrialResult[] = [];
            for (const capturer of order) {
              const result = {
                ...(await runTrial(lab, dir, capturer, load, snap, durationInSeconds, product)),
                repetition,
              };
              round.push(result);
              if (!settings.json) printTrial(result);
              await pause(500); // let writeback and the CPUs settle between trials
            }
            if (!round.some((t) => t.capped)) {
              results.push(...round);
              break;
            }
            if (attempt >= MAX_ROUND_ATTEMPTS || durationInSeconds <= 1) {
              throw new Error(
                `snap ${snap} ${load.name}: a contestant reached the byte budget of ${BYTE_BUDGET} bytes even in ${durationInSeconds} s`,
              );
            }
            durations.set(key(load, snap), Math.max(1, Math.floor(durationInSeconds * 0.6)));
          }
        }
      }
    }
  } finally {
    await cleanup();
  }

  const comparisons = compare(results, settings);
  const failures = checkCriteria(comparisons);
  if (settings.json) {
    process.stdout.write(JSON.stringify({ settings, hashRate, results, comparisons, failures }, null, 2) + '\n');
  } else {
    process.stdout.write('\nratios per pair, median (min–max, pairs); share = captured ÷ kernel received:\n');
    for (const c of comparisons) {
      process.stdout.write(
        `  snap ${String(c.snapLengthInBytes).padStart(4)} ${c.load.padEnd(4)} ${c.capturer.padEnd(15)}\n` +
          `    share ÷ bare -B ${fmtSpread(c.shareVsBareB)}   share ÷ bare (default buffer) ${fmtSpread(c.shareVsBare)}   bare's own share ${fmtSpread(c.bareShare)}\n` +
          `    packets kept ÷ bare -B's ${fmtSpread(c.keptVsBareB)}\n` +
          (isBeside(c.capturer)
            ? ''
            : `    twice default tcpdump's: share − min(2 × default's share, 1) ${c.twiceDefaultMargin !== null ? fmtSpread(c.twiceDefaultMargin) : c.bareShare === null ? '- (no default tcpdump trials: add bare to --capturers)' : '- (default tcpdump did not drop)'} (criterion: median ≥ −${TWICE_TOLERANCE})\n`) +
          `    capture-time cpu/pkt (capture process + agent while loaded) ÷ bare -B: all ${fmtSpread(c.cpuVsBareB, 2)}, above the agent's idle use ${fmtSpread(c.captureCostVsBareB, 2)}${isBeside(c.capturer) ? '' : ' (the criterion)'}\n` +
          `    finalisation after the stop (cut + SHA-256): ${fmtSpread(c.finishCpuSecondsPerGB, 2)} CPU-s per GB kept; whole cost incl. it ÷ bare -B ${fmtSpread(c.cpuWithFinishVsBareB, 2)}\n` +
          (c.storedWholeVsBareBPerGB !== undefined
            ? `    stored (--product-storage): whole product CPU-s per GB ${fmtSpread(c.storedWholeCpuSecondsPerGB ?? null, 2)} ÷ bare -B's per GB ${fmtSpread(c.storedWholeVsBareBPerGB, 2)}; of it, from the complete file to stored: agent ${fmtSpread(c.storeAgentCpuSecondsPerGB ?? null, 2)}, server ${fmtSpread(c.storeServerCpuSecondsPerGB ?? null, 2)}\n`
            : '') +
          (c.loadLossPercent !== null
            ? `    load generator's loss % with this capture ${fmtSpread(c.loadLossPercent, 1)}, without any ${fmtSpread(c.loadLossWithoutCapturePercent, 1)}\n`
            : '') +
          (c.capturer === 'agent-lookback'
            ? `    look-back on ÷ off (same capture, same pair): packets kept ${fmtSpread(c.shareVsWithoutLookback ?? null)}   cpu/pkt incl. the buffer ${fmtSpread(c.cpuVsWithoutLookback ?? null, 2)}\n`
            : '') +
          (c.capturer === 'ring-engine'
            ? `    engine-cut ring ÷ tcpdump -C ring (same size, same pair): share ${fmtSpread(c.shareVsTcpdumpRing ?? null)}   cpu/pkt while loaded ${fmtSpread(c.cpuVsTcpdumpRing ?? null, 2)}, with the last files' finish ${fmtSpread(c.cpuWithFinishVsTcpdumpRing ?? null, 2)}\n`
            : '') +
          (c.capturer === 'ring-native'
            ? `    nw-capture ring ÷ engine-cut ring (same size, same pair): share ${fmtSpread(c.shareVsEngineRing ?? null)}   cpu/pkt while loaded ${fmtSpread(c.cpuVsEngineRing ?? null, 2)}, with the last files' finish ${fmtSpread(c.cpuWithFinishVsEngineRing ?? null, 2)}\n`
            : '') +
          (c.writtenShareVsBareB !== undefined
            ? `    written by the capture process ((received − dropped) ÷ received) ÷ bare -B's share ${fmtSpread(c.writtenShareVsBareB)}\n`
            : '') +
          (c.ringMostFiles !== undefined
            ? `    most files in the ring's folder at any 5 ms sample: ${c.ringMostFiles ?? '-'} (bound ${BENCH_RING.fileCount})\n`
            : ''),
      );
    }
    process.stdout.write(failures.length === 0 ? 'criteria: met\n' : `criteria: NOT met\n  ${failures.join('\n  ')}\n`);
  }
  if (settings.check && failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
