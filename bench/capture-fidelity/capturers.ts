// The contestants of a trial: bare `tcpdump -w FILE` (default kernel buffer, and with the
// engine's -B), the netwatcher capture engine, and no capture at all (the load's own loss). The
// whole product, server and agent driven by the CLI, is in product.ts.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_KERNEL_BUFFER_IN_KIB,
  isListeningLine,
  parseTcpdumpStats,
  startCapture,
  startLookbackBuffer,
} from '../../src/capture/index.js';
import type { LookbackBuffer } from '../../src/capture/index.js';
import { countPcapRecords } from './count-records.js';
import type { CaptureOutcome } from '../../src/capture/index.js';
import { findTcpdumpPid, processCpuSeconds } from './cpu.js';
import type { EngineChildRequest, RingStopReply } from './engine-child.js';
import type { FidelityLab, Load, LoadResult } from './lab.js';

/** Which program captured ('none': the load alone, for the load generator's own loss). */
export type Capturer =
  | 'none'
  | 'bare'
  | 'bare-B'
  | 'agent'
  | 'agent-immediate'
  | 'agent-tcpdump'
  | 'agent-previous'
  | 'agent-lookback'
  | 'ring-tcpdump'
  | 'ring-engine'
  | 'ring-native'
  | 'netwatcher'
  | 'agent+bare-B'
  | 'netwatcher+bare-B';

/** Every capturer the bench knows. */
export const CAPTURERS: Capturer[] = [
  'none',
  'bare',
  'bare-B',
  'agent',
  'agent-immediate',
  'agent-tcpdump',
  'agent-previous',
  'agent-lookback',
  'ring-tcpdump',
  'ring-engine',
  'ring-native',
  'netwatcher',
  'agent+bare-B',
  'netwatcher+bare-B',
];

/**
 * The ring of 'ring-tcpdump', 'ring-engine' and 'ring-native' (issues 13, 18): Azure's default file
 * size, where every writer works (tcpdump -C 104; nw-capture from 64 MiB), three files, so it
 * wraps under load as a ring does.
 */
export const BENCH_RING = { fileCount: 3, fileSizeInBytes: 104_857_600 } as const;

/** The look-back buffer of 'agent-lookback' (issue 13): the example, 120 s and 256 MiB at 128 bytes per packet. */
export const BENCH_LOOKBACK = { seconds: 120, maxSizeInBytes: 256 * 1024 * 1024, snapLengthInBytes: 128 } as const;

/** CPU seconds of one trial, split by process; null where not measured. */
export interface TrialCpu {
  /** tcpdump, while the load ran. */
  captureProcess: number | null;
  /** The Node process running the engine (this bench for 'agent', the agent for 'netwatcher'), while the load ran. */
  agent: number | null;
  /** The nw server, while the load ran. */
  server: number | null;
  /** Engine/agent CPU from the stop request to the complete file (the final cut and SHA-256 pass). */
  agentAfterStop: number | null;
  /**
   * What the engine's or agent's process uses with no capture at all (its rate over 1 s just
   * before the trial, times the load window): a Node process's timers and GC, the agent's
   * metrics and heartbeats. Paid whether or not a capture runs, so left out of the capture's cost.
   */
  agentIdle: number | null;
  /** 'netwatcher' with --product-storage: the agent's CPU from the complete file until the server has verified the stored copy (the upload). */
  agentStore?: number | null;
  /** The same for the nw server (receiving the upload, verifying the stored copy). */
  serverStore?: number | null;
  /** Seconds from the complete file to `stored`. */
  storeSeconds?: number;
  /** 'agent-lookback': the look-back buffer's tcpdump, while the load ran. */
  lookbackProcess?: number | null;
}

/** CPU seconds of `pid` per second over `ms` of idling (null if it is gone). */
export async function idleCpuRate(cpuSeconds: () => Promise<number | null>, ms = 1000): Promise<number | null> {
  const a = await cpuSeconds();
  const t = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = await cpuSeconds();
  return a === null || b === null ? null : (b - a) / ((Date.now() - t) / 1000);
}

/** One capturer under one load at one snap length. */
export interface TrialResult {
  /** Who captured. */
  capturer: Capturer;
  /** Load name. */
  load: string;
  /** Snap length asked for (0 = whole packet). */
  snapLengthInBytes: number;
  /** Which repetition (pair) of the same load this trial belongs to. */
  repetition: number;
  /** What iperf3 reported. */
  loadResult: LoadResult;
  /** tcpdump's "packets received by filter" (includes the dropped ones). */
  kernelReceived: number | null;
  /** tcpdump's "packets dropped by kernel". */
  kernelDropped: number | null;
  /** Whole records in the file. */
  captured: number;
  /** File size in bytes. */
  fileSizeInBytes: number;
  /** From the stop request until the file was complete. */
  stopInMs: number;
  /** CPU, split by process. */
  cpu: TrialCpu;
  /** Seconds of load (the same for every contestant of a round). */
  durationInSeconds: number;
  /**
   * The capture reached the round's byte budget (the engine or the product ended SizeExceeded,
   * bare tcpdump's file grew past it): its share is then over a shorter window than the others',
   * so run.ts repeats the round with a shorter load instead of comparing it.
   */
  capped: boolean;
  /** 'agent+bare-B', 'netwatcher+bare-B': bare tcpdump -B's trial, capturing beside it under the same load (withBareBeside). */
  beside?: Omit<TrialResult, 'repetition' | 'beside'>;
  /** 'ring-*': the most files the ring's folder held at any 5 ms sample during the load (its bound: BENCH_RING.fileCount). */
  ringMostFiles?: number;
  /** 'agent-lookback': what the buffer held at the end of the load (bytes on disk, packets, kernel drops, tcpdump's resident memory in KiB). */
  lookback?: { sizeInBytes: number; packetsCaptured: number; kernelPacketsDropped: number; residentKiB: number | null };
}

const NO_CPU: TrialCpu = { captureProcess: null, agent: null, server: null, agentAfterStop: null, agentIdle: null };

/**
 * CPU seconds the capture host paid while the load ran: the capture process and the agent (null
 * if the capture process was not measured). The server is left out: it is the control plane, on
 * this host only because the bench has one; its CPU is reported on its own.
 */
export function loadCpuSeconds(t: TrialResult): number | null {
  if (t.cpu.captureProcess === null) return null;
  return t.cpu.captureProcess + (t.cpu.agent ?? 0) + (t.cpu.lookbackProcess ?? 0);
}

/** The same without what the agent's process uses when idle: what the capture itself costs the host. */
export function captureCostCpuSeconds(t: TrialResult): number | null {
  if (t.cpu.captureProcess === null) return null;
  // The look-back buffer's tcpdump ('agent-lookback') is paid only because the buffer runs: a cost, not idle use.
  return t.cpu.captureProcess + Math.max(0, (t.cpu.agent ?? 0) - (t.cpu.agentIdle ?? 0)) + (t.cpu.lookbackProcess ?? 0);
}

/** Runs the load with no capture at all. */
export async function runNoCaptureTrial(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
): Promise<Omit<TrialResult, 'repetition'>> {
  const loadResult = await lab.runLoad(load, durationInSeconds);
  return {
    capturer: 'none',
    load: load.name,
    snapLengthInBytes,
    loadResult,
    kernelReceived: null,
    kernelDropped: null,
    captured: 0,
    fileSizeInBytes: 0,
    stopInMs: 0,
    cpu: NO_CPU,
    durationInSeconds,
    capped: false,
  };
}

/** Bare tcpdump started and listening; finish() stops it after the load and counts its file. */
interface BareCapture {
  finish(loadResult: LoadResult, durationInSeconds: number): Promise<Omit<TrialResult, 'repetition'>>;
}

/** Starts bare tcpdump as a user would type it (default options; `withEngineBuffer` adds the engine's -B) on the server side; resolves once it listens. */
async function startBareCapture(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  outputPath: string,
  withEngineBuffer: boolean,
  byteBudget: number,
): Promise<BareCapture> {
  const buffer = withEngineBuffer ? ['-B', String(DEFAULT_KERNEL_BUFFER_IN_KIB)] : [];
  const child = lab.server.spawn('tcpdump', [
    '-i',
    lab.serverInterface,
    '-w',
    outputPath,
    '-s',
    String(snapLengthInBytes),
    ...buffer,
  ]);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (t: string) => {
      stderr += t;
      if (isListeningLine(stderr)) resolve();
    });
    child.on('exit', () => reject(new Error(`tcpdump exited: ${stderr}`)));
  });
  const exited = once(child, 'close');
  await listening;
  // `ip netns exec` execs tcpdump in place, so the child's pid is tcpdump's.
  const cpuAtStart = child.pid === undefined ? null : await processCpuSeconds(child.pid);
  return {
    finish: async (loadResult, durationInSeconds) => {
      const cpuAtEnd = child.pid === undefined ? null : await processCpuSeconds(child.pid);
      const stopStarted = Date.now();
      child.kill('SIGTERM');
      await exited;
      const stopInMs = Date.now() - stopStarted;
      const stats = parseTcpdumpStats(stderr);
      const count = await countPcapRecords(outputPath);
      const fileSizeInBytes = (await stat(outputPath)).size;
      return {
        capturer: withEngineBuffer ? 'bare-B' : 'bare',
        load: load.name,
        snapLengthInBytes,
        loadResult,
        kernelReceived: stats.packetsReceivedByFilter,
        kernelDropped: stats.packetsDroppedByKernel,
        captured: count.records,
        fileSizeInBytes,
        stopInMs,
        cpu: { ...NO_CPU, captureProcess: cpuAtStart === null || cpuAtEnd === null ? null : cpuAtEnd - cpuAtStart },
        durationInSeconds,
        // Bare tcpdump has no byte limit of its own: past the budget it kept more than the product could.
        capped: fileSizeInBytes > byteBudget,
      };
    },
  };
}

/** Runs bare tcpdump as a user would type it (default options; `withEngineBuffer` adds the engine's -B) on the server side under `load`. */
export async function runBareTrial(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
  outputPath: string,
  withEngineBuffer: boolean,
  byteBudget: number,
): Promise<Omit<TrialResult, 'repetition'>> {
  const bare = await startBareCapture(lab, load, snapLengthInBytes, outputPath, withEngineBuffer, byteBudget);
  const loadResult = await lab.runLoad(load, durationInSeconds);
  return bare.finish(loadResult, durationInSeconds);
}

/**
 * The lab with bare `tcpdump -B` capturing beside whatever runs the load through it: started just
 * before each load, stopped just after, on the same interface, so that it is offered exactly the
 * packets the other contestant is, at the same moment ('agent+bare-B', 'netwatcher+bare-B'). At
 * saturation on a shared machine the offered load of two trials one after the other differs up to
 * 5× (TCP 2.7–13 Gbit/s in one round), and the share kept follows it; side by side it is the same.
 * `result()` is bare -B's trial after the load.
 */
export function withBareBeside(
  lab: FidelityLab,
  snapLengthInBytes: number,
  outputPath: string,
  byteBudget: number,
): { lab: FidelityLab; result(): Omit<TrialResult, 'repetition'> | null } {
  let result: Omit<TrialResult, 'repetition'> | null = null;
  return {
    lab: {
      ...lab,
      runLoad: async (load, durationInSeconds) => {
        const bare = await startBareCapture(lab, load, snapLengthInBytes, outputPath, true, byteBudget);
        const loadResult = await lab.runLoad(load, durationInSeconds);
        result = await bare.finish(loadResult, durationInSeconds);
        return loadResult;
      },
    },
    result: () => result,
  };
}

// The engine runs in a child Node process of its own (engine-child.ts) so that its CPU is its own.
const ENGINE_CHILD = fileURLToPath(new URL('./engine-child.ts', import.meta.url));

/** The engine child's own CPU seconds so far (user + system), as it measures them. */
async function engineChildCpuSeconds(child: ChildProcess): Promise<number> {
  const reply = nextMessage<{ cpuSeconds: number }>(child, 'cpu');
  child.send({ type: 'cpu' } satisfies EngineChildRequest);
  return (await reply).cpuSeconds;
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string; message?: string }): void => {
      if (m.type === 'failed') {
        cleanup();
        reject(new Error(`capture failed to start: ${m.message}`));
      } else if (m.type === type) {
        cleanup();
        resolve(m as T);
      }
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`the engine process exited before '${type}'`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Runs the capture engine (as the agent does: no filter, a size limit that is not hit) on the server side under `load`. */
export async function runAgentTrial(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
  outputPath: string,
  variant: 'agent' | 'agent-immediate' | 'agent-tcpdump' | 'agent-previous' | 'agent-lookback',
  byteBudget: number,
): Promise<Omit<TrialResult, 'repetition'>> {
  const immediateMode = variant === 'agent-immediate';
  const child = await engineChild();
  const ownCpu = (): Promise<number> => engineChildCpuSeconds(child);
  // 'agent-lookback': the same capture with the host's look-back buffer running beside it on the same interface.
  let buffer: LookbackBuffer | null = null;
  let bufferDir: string | null = null;
  try {
    if (variant === 'agent-lookback') {
      bufferDir = await mkdtemp(join(dirname(outputPath), 'lookback-'));
      buffer = startLookbackBuffer(
        { interfaceName: lab.serverInterface, ...BENCH_LOOKBACK, dir: bufferDir },
        { commandPrefix: ['ip', 'netns', 'exec', lab.server.name] },
      );
      await buffer.started;
    }
    // The engine's process alone (the buffer's tcpdump is measured apart): its idle rate is the same with or without the buffer.
    const idleRate = await idleCpuRate(ownCpu);
    const request: EngineChildRequest = {
      type: 'start',
      spec: {
        captureId: `bench-${load.name}-${snapLengthInBytes}`,
        interfaceName: lab.serverInterface,
        bpfExpression: '',
        snapLengthInBytes,
        // Like every agent capture, one with a size limit (the round's byte budget, which run.ts
        // sizes the load not to reach), so that the engine's size watch runs as in production.
        totalBytesLimit: byteBudget,
        timeLimitInSeconds: 0,
        outputPath,
      },
      options: {
        commandPrefix: ['ip', 'netns', 'exec', lab.server.name],
        immediateMode,
        // 'agent-tcpdump': the engine as before nw-capture, for before/after figures in the same run.
        ...(variant === 'agent-tcpdump' ? { captureProgram: 'tcpdump' as const } : {}),
      },
      previousEngine: variant === 'agent-previous',
    };
    const started = nextMessage<{ pid: number | null }>(child, 'started');
    child.send(request);
    const { pid } = await started;
    const tcpdumpPid = pid ?? (await findTcpdumpPid(lab.serverInterface));
    const tcpdumpAtStart = tcpdumpPid === null ? null : await processCpuSeconds(tcpdumpPid);
    const ownAtStart = await ownCpu();
    // `ip netns exec` and setpriv exec in place: the buffer's pid is its tcpdump's.
    const bufferAtStart = buffer?.pid ? await processCpuSeconds(buffer.pid) : null;
    const windowStarted = Date.now();
    const loadResult = await lab.runLoad(load, durationInSeconds);
    const tcpdumpAtEnd = tcpdumpPid === null ? null : await processCpuSeconds(tcpdumpPid);
    const ownAtEnd = await ownCpu();
    const bufferAtEnd = buffer?.pid ? await processCpuSeconds(buffer.pid) : null;
    const windowInSeconds = (Date.now() - windowStarted) / 1000;
    const bufferStatus = buffer?.status() ?? null;
    const residentKiB = buffer?.pid ? await residentKiBOf(buffer.pid) : null;
    const stopStarted = Date.now();
    const stopped = nextMessage<{ outcome: CaptureOutcome; cpuAfterStopSeconds: number }>(child, 'stopped');
    child.send({ type: 'stop' } satisfies EngineChildRequest);
    const { outcome, cpuAfterStopSeconds } = await stopped;
    const stopInMs = Date.now() - stopStarted;
    if (outcome.error !== null) throw new Error(`capture failed: ${outcome.error.code} ${outcome.error.message}`);
    if (outcome.stopReason !== 'Manual' && outcome.stopReason !== 'SizeExceeded')
      throw new Error(`capture ended ${outcome.stopReason}`);
    const count = await countPcapRecords(outputPath);
    if (count.records !== outcome.packetsCaptured || count.trailingBytes !== 0) {
      throw new Error(
        `engine reported ${outcome.packetsCaptured} packets but the file holds ${count.records} (+${count.trailingBytes} stray bytes)`,
      );
    }
    return {
      capturer: variant,
      load: load.name,
      snapLengthInBytes,
      loadResult,
      kernelReceived: outcome.kernelPacketsReceived,
      kernelDropped: outcome.kernelPacketsDropped,
      captured: count.records,
      fileSizeInBytes: outcome.fileSizeInBytes,
      stopInMs,
      cpu: {
        captureProcess: tcpdumpAtStart === null || tcpdumpAtEnd === null ? null : tcpdumpAtEnd - tcpdumpAtStart,
        agent: ownAtEnd - ownAtStart,
        server: null,
        agentAfterStop: cpuAfterStopSeconds,
        agentIdle: idleRate === null ? null : idleRate * windowInSeconds,
        ...(buffer !== null
          ? { lookbackProcess: bufferAtStart === null || bufferAtEnd === null ? null : bufferAtEnd - bufferAtStart }
          : {}),
      },
      durationInSeconds,
      capped: outcome.stopReason === 'SizeExceeded',
      ...(bufferStatus !== null
        ? {
            lookback: {
              sizeInBytes: bufferStatus.sizeInBytes,
              packetsCaptured: bufferStatus.packetsCaptured,
              kernelPacketsDropped: bufferStatus.kernelPacketsDropped,
              residentKiB,
            },
          }
        : {}),
    };
  } finally {
    await buffer?.stop();
    if (bufferDir !== null) await rm(bufferDir, { recursive: true, force: true });
  }
}

/**
 * Runs a continuous ring (BENCH_RING) in the engine's process under `load`: 'ring-tcpdump' lets
 * tcpdump rotate its own files (-C), 'ring-engine' forces the engine's cut of `-w -` at the same
 * size, 'ring-native' lets nw-capture rotate them (--file-size-bytes). Captured = the packets of
 * every file the ring closed, deleted ones included.
 */
export async function runRingTrial(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
  outputPath: string,
  variant: 'ring-tcpdump' | 'ring-engine' | 'ring-native',
): Promise<Omit<TrialResult, 'repetition'>> {
  const child = await engineChild();
  const ownCpu = (): Promise<number> => engineChildCpuSeconds(child);
  const dir = await mkdtemp(join(dirname(outputPath), `${variant}-`));
  try {
    const idleRate = await idleCpuRate(ownCpu);
    const started = nextMessage<{ pid: number | null }>(child, 'started');
    child.send({
      type: 'start-ring',
      spec: {
        captureId: `bench-${variant}`,
        interfaceName: lab.serverInterface,
        bpfExpression: '',
        snapLengthInBytes,
        ...BENCH_RING,
        sessionTimeLimitInSeconds: 0,
        outputPath: join(dir, 'ring.cap'),
      },
      options: {
        commandPrefix: ['ip', 'netns', 'exec', lab.server.name],
        writer: variant === 'ring-engine' ? 'engine' : variant === 'ring-native' ? 'native' : 'tcpdump',
      },
    } satisfies EngineChildRequest);
    await started;
    const tcpdumpPid = await findTcpdumpPid(lab.serverInterface);
    const tcpdumpAtStart = tcpdumpPid === null ? null : await processCpuSeconds(tcpdumpPid);
    const ownAtStart = await ownCpu();
    const windowStarted = Date.now();
    // The fileCount bound as the host sees it: every entry of the folder (hidden parts included).
    let mostFiles = 0;
    const sampler = setInterval(() => {
      readdir(dir).then(
        (names) => (mostFiles = Math.max(mostFiles, names.length)),
        () => undefined,
      );
    }, 5);
    const loadResult = await lab.runLoad(load, durationInSeconds).finally(() => clearInterval(sampler));
    const tcpdumpAtEnd = tcpdumpPid === null ? null : await processCpuSeconds(tcpdumpPid);
    const ownAtEnd = await ownCpu();
    const windowInSeconds = (Date.now() - windowStarted) / 1000;
    const stopStarted = Date.now();
    const stopped = nextMessage<RingStopReply>(child, 'ring-stopped');
    child.send({ type: 'stop' } satisfies EngineChildRequest);
    const { outcome, packetsInAllFiles, cpuAfterStopSeconds } = await stopped;
    const stopInMs = Date.now() - stopStarted;
    if (outcome.error !== null) throw new Error(`ring failed: ${outcome.error.code} ${outcome.error.message}`);
    let kept = 0;
    for (const f of outcome.files) {
      const count = await countPcapRecords(f.path);
      if (
        count.records !== f.packetsCaptured ||
        count.trailingBytes !== 0 ||
        f.sizeInBytes > BENCH_RING.fileSizeInBytes
      )
        throw new Error(
          `${f.name}: reported ${f.packetsCaptured} packets, holds ${count.records} (+${count.trailingBytes} stray bytes), ${f.sizeInBytes} bytes`,
        );
      kept += f.sizeInBytes;
    }
    return {
      capturer: variant,
      load: load.name,
      snapLengthInBytes,
      loadResult,
      kernelReceived: outcome.kernelPacketsReceived,
      kernelDropped: outcome.kernelPacketsDropped,
      captured: packetsInAllFiles,
      fileSizeInBytes: kept,
      stopInMs,
      ringMostFiles: mostFiles,
      cpu: {
        captureProcess: tcpdumpAtStart === null || tcpdumpAtEnd === null ? null : tcpdumpAtEnd - tcpdumpAtStart,
        agent: ownAtEnd - ownAtStart,
        server: null,
        agentAfterStop: cpuAfterStopSeconds,
        agentIdle: idleRate === null ? null : idleRate * windowInSeconds,
      },
      durationInSeconds,
      capped: false,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** VmRSS of a process in KiB, or null. */
async function residentKiBOf(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let engineProcess: ChildProcess | null = null;

async function engineChild(): Promise<ChildProcess> {
  if (engineProcess !== null && engineProcess.exitCode === null && engineProcess.signalCode === null)
    return engineProcess;
  engineProcess = fork(ENGINE_CHILD, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await once(engineProcess, 'spawn');
  // Let its start-up JIT and GC settle before its CPU is measured.
  await new Promise((r) => setTimeout(r, 3000));
  return engineProcess;
}

/** Ends the engine's process (at the end of a run). */
export async function closeEngineChild(): Promise<void> {
  const child = engineProcess;
  engineProcess = null;
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
