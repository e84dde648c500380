// The contestants of a trial: bare `tcpdump -w FILE` and the netwatcher capture engine (the whole
// product, server and agent driven by the CLI, is in product.ts).
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { isListeningLine, parseTcpdumpStats, startCapture } from '../../src/capture/index.js';
import { countPcapRecords } from './count-records.js';
import { findTcpdumpPid, ownCpuSeconds, processCpuSeconds } from './cpu.js';
import type { FidelityLab, Load, LoadResult } from './lab.js';

/** Which program captured. */
export type Capturer = 'bare' | 'agent' | 'agent-immediate' | 'netwatcher';

/** One capturer under one load at one snap length. */
export interface TrialResult {
  /** Who captured. */
  capturer: Capturer;
  /** Load name. */
  load: string;
  /** Snap length asked for (0 = whole packet). */
  snapLengthInBytes: number;
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
  /** CPU seconds the capture used while the load ran: tcpdump, plus this Node process for the engine. */
  cpuInSeconds: number | null;
}

/** Runs bare tcpdump (default options, as a user would) on the server side under `load`. */
export async function runBareTrial(lab: FidelityLab, load: Load, snapLengthInBytes: number, durationInSeconds: number, outputPath: string): Promise<TrialResult> {
  const child = lab.server.spawn('tcpdump', ['-i', lab.serverInterface, '-w', outputPath, '-s', String(snapLengthInBytes)]);
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
  const loadResult = await lab.runLoad(load, durationInSeconds);
  // `ip netns exec` execs tcpdump in place, so the child's pid is tcpdump's.
  const cpuInSeconds = child.pid === undefined ? null : await processCpuSeconds(child.pid);
  const stopStarted = Date.now();
  child.kill('SIGTERM');
  await exited;
  const stopInMs = Date.now() - stopStarted;
  const stats = parseTcpdumpStats(stderr);
  const count = await countPcapRecords(outputPath);
  return {
    capturer: 'bare',
    load: load.name,
    snapLengthInBytes,
    loadResult,
    kernelReceived: stats.packetsReceivedByFilter,
    kernelDropped: stats.packetsDroppedByKernel,
    captured: count.records,
    fileSizeInBytes: (await stat(outputPath)).size,
    stopInMs,
    cpuInSeconds,
  };
}

/** Runs the capture engine (as the agent does: no filter, no limits hit) on the server side under `load`. */
export async function runAgentTrial(
  lab: FidelityLab,
  load: Load,
  snapLengthInBytes: number,
  durationInSeconds: number,
  outputPath: string,
  immediateMode: boolean,
): Promise<TrialResult> {
  const session = startCapture(
    {
      captureId: `bench-${load.name}-${snapLengthInBytes}`,
      interfaceName: lab.serverInterface,
      bpfExpression: '',
      snapLengthInBytes,
      totalBytesLimit: 0,
      timeLimitInSeconds: 0,
      outputPath,
    },
    { commandPrefix: ['ip', 'netns', 'exec', lab.server.name], immediateMode },
  );
  await session.started;
  const tcpdumpPid = await findTcpdumpPid(lab.serverInterface);
  const ownCpuAtStart = ownCpuSeconds();
  const loadResult = await lab.runLoad(load, durationInSeconds);
  const tcpdumpCpu = tcpdumpPid === null ? null : await processCpuSeconds(tcpdumpPid);
  const cpuInSeconds = tcpdumpCpu === null ? null : tcpdumpCpu + ownCpuSeconds() - ownCpuAtStart;
  const stopStarted = Date.now();
  const outcome = await session.stop();
  const stopInMs = Date.now() - stopStarted;
  if (outcome.error !== null) throw new Error(`capture failed: ${outcome.error.code} ${outcome.error.message}`);
  const count = await countPcapRecords(outputPath);
  if (count.records !== outcome.packetsCaptured || count.trailingBytes !== 0) {
    throw new Error(`engine reported ${outcome.packetsCaptured} packets but the file holds ${count.records} (+${count.trailingBytes} stray bytes)`);
  }
  return {
    capturer: immediateMode ? 'agent-immediate' : 'agent',
    load: load.name,
    snapLengthInBytes,
    loadResult,
    kernelReceived: outcome.kernelPacketsReceived,
    kernelDropped: outcome.kernelPacketsDropped,
    captured: count.records,
    fileSizeInBytes: outcome.fileSizeInBytes,
    stopInMs,
    cpuInSeconds,
  };
}
