// Test support: Linux network namespaces as throw-away test hosts, joined by veth pairs.
// Everything here shells out to iproute2 with argument arrays (never a shell) and needs root.
// Traffic inside a namespace cannot reach anything outside it unless a test wires it so.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Result of a command that ran to completion (a non-zero exit is a value, not an error). */
export interface ExecResult {
  /** Exit code, or null when killed by a signal. */
  exitCode: number | null;
  /** Signal that ended the process, if any. */
  signal: NodeJS.Signals | null;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** Thrown when an iproute2 command needed to build the lab fails. */
export class NamespaceCommandError extends Error {
  override readonly name = 'NamespaceCommandError';
  /** What was run. */
  readonly argv: string[];
  /** How it ended. */
  readonly result: ExecResult;

  constructor(argv: string[], result: ExecResult) {
    super(`${argv.join(' ')} failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim()}`);
    this.argv = argv;
    this.result = result;
  }
}

/** A network namespace created for a test. */
export interface TestNamespace {
  /** Name as `ip netns` knows it. */
  readonly name: string;
  /** Runs a command inside the namespace to completion. */
  exec(command: string, args: string[], opts?: { timeoutInMs?: number; input?: string }): Promise<ExecResult>;
  /** Starts a long-running command inside the namespace. */
  spawn(command: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Runs a Node.js script (source text) inside the namespace to completion, with argv after it. */
  runNode(script: string, args?: string[], opts?: { timeoutInMs?: number }): Promise<ExecResult>;
  /** Deletes the namespace (and every interface in it); safe to call twice. */
  destroy(): Promise<void>;
}

/** Both ends of a veth pair created between two namespaces. */
export interface VethPair {
  /** Interface name inside the first namespace. */
  interfaceA: string;
  /** Interface name inside the second namespace. */
  interfaceB: string;
}

/**
 * A name unique to this process and call, at most `maxLength` characters (15 is the kernel's
 * interface-name limit, IFNAMSIZ - 1).
 * @example uniqueName('nw') // 'nw4242a1b2c3'
 */
export function uniqueName(prefix: string, maxLength = 15): string {
  const name = `${prefix}${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
  return name.slice(0, maxLength);
}

/**
 * Runs a command to completion and returns how it ended; never rejects for a non-zero exit.
 * @example const { exitCode, stdout } = await run('ip', ['netns', 'list']);
 */
export function run(
  command: string,
  args: string[],
  opts: { timeoutInMs?: number; input?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: opts.timeoutInMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err !== null && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(err); // spawn failure (ENOENT …), not an exit status
          return;
        }
        resolve({
          exitCode: child.exitCode,
          signal: child.signalCode,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command that must succeed; throws NamespaceCommandError otherwise. */
async function mustRun(command: string, args: string[]): Promise<ExecResult> {
  const result = await run(command, args);
  if (result.exitCode !== 0) throw new NamespaceCommandError([command, ...args], result);
  return result;
}

/**
 * Runs a command inside namespace `name` to completion.
 * @example await execInNamespace('nwabc', 'ip', ['addr'])
 */
export function execInNamespace(
  name: string,
  command: string,
  args: string[],
  opts: { timeoutInMs?: number; input?: string } = {},
): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', name, command, ...args], opts);
}

/**
 * Starts a long-running command inside namespace `name`.
 * @example const server = spawnInNamespace('nwabc', 'iperf3', ['-s', '-1'])
 */
export function spawnInNamespace(name: string, command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/**
 * Creates a fresh namespace with loopback up. Call `destroy()` in an `after()` hook.
 * @example const ns = await createNamespace(); after(() => ns.destroy());
 */
export async function createNamespace(opts: { prefix?: string } = {}): Promise<TestNamespace> {
  const name = uniqueName(opts.prefix ?? 'nwtest', 32);
  await mustRun('ip', ['netns', 'add', name]);
  let destroyed = false;
  const ns: TestNamespace = {
    name,
    exec: (command, args, execOpts) => execInNamespace(name, command, args, execOpts),
    spawn: (command, args, spawnOpts) => spawnInNamespace(name, command, args, spawnOpts),
    runNode: (script, args = [], runOpts) =>
      execInNamespace(name, process.execPath, ['-e', script, '--', ...args], runOpts),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await destroyNamespace(name);
    },
  };
  try {
    const up = await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    if (up.exitCode !== 0) throw new NamespaceCommandError(['ip', 'link', 'set', 'lo', 'up'], up);
  } catch (err) {
    await ns.destroy();
    throw err;
  }
  return ns;
}

/** Deletes a namespace by name; a namespace that is already gone is not an error. */
export async function destroyNamespace(name: string): Promise<void> {
  const result = await run('ip', ['netns', 'del', name]);
  if (result.exitCode !== 0 && !/No such file|not found/i.test(result.stderr)) {
    throw new NamespaceCommandError(['ip', 'netns', 'del', name], result);
  }
}

/**
 * Joins two namespaces with a veth pair, brings both ends up and assigns addresses (CIDR
 * strings, IPv4 or IPv6; IPv6 ones skip duplicate-address detection so they work at once).
 * Deleting either namespace removes the pair.
 * @example await createVethPair(a, b, { addressesA: ['10.9.0.1/24', 'fd00::1/64'], addressesB: ['10.9.0.2/24', 'fd00::2/64'] })
 */
export async function createVethPair(
  a: TestNamespace,
  b: TestNamespace,
  opts: { addressesA?: string[]; addressesB?: string[]; mtu?: number } = {},
): Promise<VethPair> {
  const interfaceA = uniqueName('nva');
  const interfaceB = uniqueName('nvb');
  await mustRun('ip', [
    'link',
    'add',
    interfaceA,
    'netns',
    a.name,
    'type',
    'veth',
    'peer',
    'name',
    interfaceB,
    'netns',
    b.name,
  ]);
  const configure = async (ns: TestNamespace, ifname: string, addresses: string[]): Promise<void> => {
    for (const cidr of addresses) {
      const args = ['addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])];
      const r = await ns.exec('ip', args);
      if (r.exitCode !== 0) throw new NamespaceCommandError(['ip', ...args], r);
    }
    const linkArgs = ['link', 'set', ifname, 'up', ...(opts.mtu !== undefined ? ['mtu', String(opts.mtu)] : [])];
    const r = await ns.exec('ip', linkArgs);
    if (r.exitCode !== 0) throw new NamespaceCommandError(['ip', ...linkArgs], r);
  };
  await configure(a, interfaceA, opts.addressesA ?? []);
  await configure(b, interfaceB, opts.addressesB ?? []);
  return { interfaceA, interfaceB };
}
