import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// Children started by the test fixtures; killed if the test process exits without stopping
// them (a crashed test must not leave storage servers running on a shared machine).
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (the kernel picks it; the fixture binds it right after). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once something accepts TCP connections on `host`:`port` (default 127.0.0.1); rejects
 * after `timeoutInMs` or if `child` exits first.
 */
export async function waitForPort(
  port: number,
  timeoutInMs: number,
  child?: ChildProcess,
  describeFailure?: () => string,
  host = '127.0.0.1',
): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    if (child && child.exitCode !== null)
      throw new Error(
        `process exited (${child.exitCode}) before listening on ${port}${describeFailure ? `: ${describeFailure()}` : ''}`,
      );
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new Error(
        `nothing listened on ${host}:${port} within ${timeoutInMs} ms${describeFailure ? `: ${describeFailure()}` : ''}`,
      );
    await sleep(100);
  }
}

/** A child process with the tail of its output kept for error messages. */
export interface TrackedChild {
  child: ChildProcess;
  output(): string;
}

/**
 * Spawns `command` with an argument array (no shell), tracked for clean-up. With `netns` it runs
 * inside that network namespace (`ip netns exec` execs the command itself, so signals reach it).
 */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; netns?: string } = {},
): TrackedChild {
  const [file, argv] = options.netns
    ? ['ip', ['netns', 'exec', options.netns, command, ...args]]
    : [command, [...args]];
  const child = spawn(file, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => tail };
}

/**
 * Where a storage test server runs and how it is reached. Every field is optional: the default is
 * loopback of this process's namespace. For the end-to-end lab, run it inside the lab's server
 * namespace (`netns`), listening on every address there (`bindHost: '0.0.0.0'`), advertised to
 * the server and agents at the bridge address (`advertisedHost: '10.0.0.1'`, so SAS and presigned
 * URLs are signed for the host everyone uses) and probed by the test at the root link's address
 * (`probeHost`).
 */
export interface TestServerPlacement {
  /** Network namespace to run in (absent: this process's). */
  netns?: string;
  /** Address the server binds (default 127.0.0.1). */
  bindHost?: string;
  /** Host put in the endpoints and connection strings the fixture returns (default: bindHost, or 127.0.0.1 for 0.0.0.0). */
  advertisedHost?: string;
  /** Host this test process connects to, to wait for the server and to reach it directly (default: advertisedHost). */
  probeHost?: string;
}

/** The placement with its defaults filled in. */
export function resolvePlacement(
  placement: TestServerPlacement = {},
): Required<Omit<TestServerPlacement, 'netns'>> & { netns?: string } {
  const bindHost = placement.bindHost ?? '127.0.0.1';
  const advertisedHost = placement.advertisedHost ?? (bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost);
  return {
    ...(placement.netns ? { netns: placement.netns } : {}),
    bindHost,
    advertisedHost,
    probeHost: placement.probeHost ?? advertisedHost,
  };
}

/** SIGTERM, then SIGKILL after `graceInMs`; resolves when the process has exited. */
export async function stopChild(child: ChildProcess, graceInMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceInMs);
  await exited;
  clearTimeout(timer);
}
