// The bench's two test hosts: namespaces joined by a veth pair, an iperf3 server on one side.
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createNamespace, createVethPair } from '../../src/capture/testing/index.js';
import type { TestNamespace } from '../../src/capture/testing/index.js';

/** A load iperf3 generates from the client to the server. */
export interface Load {
  /** Short name for the report. */
  name: string;
  /** Extra iperf3 client arguments. */
  iperfArgs: string[];
}

/** What the iperf3 client reported. */
export interface LoadResult {
  /** Bits per second the receiver saw (TCP) or the sender offered (UDP). */
  bitsPerSecond: number;
  /** UDP datagrams sent, or null for TCP. */
  datagramsSent: number | null;
  /** UDP: share of the datagrams the receiving iperf3 lost (0–100; its own loss, capture or not); null for TCP. */
  lostPercent: number | null;
}

/** Two namespaces joined by a veth pair; the capture side runs the iperf3 server. */
export interface FidelityLab {
  /** Namespace of the iperf3 server, where captures run. */
  server: TestNamespace;
  /** Namespace of the iperf3 client. */
  client: TestNamespace;
  /** The veth end inside the server namespace: the capture interface. */
  serverInterface: string;
  /** Runs one iperf3 client for `durationInSeconds` and returns its summary. */
  runLoad(load: Load, durationInSeconds: number): Promise<LoadResult>;
  /** Stops iperf3 and removes both namespaces. */
  destroy(): Promise<void>;
}

const SERVER_ADDRESS = '10.79.0.1';
const CLIENT_ADDRESS = '10.79.0.2';
const IPERF_PORT = '5201';

/** Options of createFidelityLab. */
export interface FidelityLabOptions {
  /**
   * Run both iperf3 processes in a session of their own (`setsid`): with the kernel's autogroup
   * scheduling (/proc/sys/kernel/sched_autogroup_enabled) each session is its own scheduling
   * group, as another service's processes on a real host are, and nice values then only rank
   * threads within a group. Default false: the bench's own session.
   */
  ownSession?: boolean;
}

/** Builds the lab and starts the iperf3 server. */
export async function createFidelityLab(opts: FidelityLabOptions = {}): Promise<FidelityLab> {
  // setsid execs iperf3 in place (the bench's children are no group leaders): signals still reach it.
  const iperf: [string, string[]] = opts.ownSession === true ? ['setsid', ['iperf3']] : ['iperf3', []];
  const server = await createNamespace({ prefix: 'nwbenchs' });
  const client = await createNamespace({ prefix: 'nwbenchc' }).catch(async (err: unknown) => {
    await server.destroy();
    throw err;
  });
  let iperfServer: ChildProcess | null = null;
  const destroy = async (): Promise<void> => {
    if (iperfServer !== null && iperfServer.exitCode === null && iperfServer.signalCode === null) {
      const exited = once(iperfServer, 'exit');
      iperfServer.kill('SIGTERM');
      await exited;
    }
    await server.destroy();
    await client.destroy();
  };
  try {
    const { interfaceA } = await createVethPair(server, client, {
      addressesA: [`${SERVER_ADDRESS}/24`],
      addressesB: [`${CLIENT_ADDRESS}/24`],
    });
    // --forceflush: iperf3 block-buffers its stdout on a pipe, hiding the 'Server listening' line.
    const spawned = server.spawn(iperf[0], [...iperf[1], '-s', '-B', SERVER_ADDRESS, '-p', IPERF_PORT, '--forceflush']);
    iperfServer = spawned;
    await waitForOutput(spawned, /Server listening/, 5000);
    return {
      server,
      client,
      serverInterface: interfaceA,
      destroy,
      runLoad: async (load, durationInSeconds) => {
        const r = await client.exec(
          iperf[0],
          [
            ...iperf[1],
            '-c',
            SERVER_ADDRESS,
            '-p',
            IPERF_PORT,
            '-t',
            String(durationInSeconds),
            '-J',
            ...load.iperfArgs,
          ],
          { timeoutInMs: (durationInSeconds + 20) * 1000 },
        );
        if (r.exitCode !== 0)
          throw new Error(`iperf3 client failed (${r.exitCode}): ${r.stderr || r.stdout.slice(0, 500)}`);
        const report = JSON.parse(r.stdout) as {
          end: {
            sum_received?: { bits_per_second: number };
            sum?: { bits_per_second: number; packets?: number; lost_percent?: number };
          };
        };
        const isUdp = load.iperfArgs.includes('-u');
        return {
          bitsPerSecond: (isUdp ? report.end.sum?.bits_per_second : report.end.sum_received?.bits_per_second) ?? 0,
          datagramsSent: isUdp ? (report.end.sum?.packets ?? null) : null,
          lostPercent: isUdp ? (report.end.sum?.lost_percent ?? null) : null,
        };
      },
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutInMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutInMs} ms: ${seen}`)), timeoutInMs);
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}: ${seen}`));
    });
  });
}
