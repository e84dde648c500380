/**
 * HAProxy in front of the benchmark's replicas, with the configuration docs/deploy.md gives
 * (docs/deploy/haproxy.cfg) — only its listen port and server lines replaced by the bench's, and a
 * stats socket added so the run can show HAProxy's own connection count and limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A running HAProxy. */
export interface LoadBalancer {
  url: string;
  pid: number;
  /**
   * Connections open now, HAProxy's process limit (`show info`) and the frontend's session limit
   * (`show stat`); requests the backend sent again (`wretr`: retried on the same replica,
   * `wredis`: sent to another replica) since the start.
   */
  connections(): Promise<{
    current: number;
    max: number;
    frontendMax: number;
    retries: number;
    redispatches: number;
    /** Times a replica was marked down by its health check, summed (`chkdown`). */
    replicasMarkedDown: number;
  }>;
  stop(): Promise<void>;
}

/** The docs' haproxy.cfg with `bind` on `frontendPort`, one `server` line per replica port, and a stats socket. */
export function haproxyConfigText(
  docsConfig: string,
  frontendPort: number,
  replicaPorts: number[],
  statsSocketPath: string,
): string {
  const servers = replicaPorts.map((port, i) => `    server nw${i + 1} 127.0.0.1:${port} check`).join('\n');
  return docsConfig
    .replace(/^global$/m, `global\n    stats socket ${statsSocketPath} mode 600 level admin`)
    .replace(/^\s*bind :8817$/m, `    bind 127.0.0.1:${frontendPort}`)
    .replace(/(^\s*server nw\d .*\n?)+/m, `${servers}\n`);
}

/** Asks the stats socket one command; resolves with its answer. */
function statsCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = connect(socketPath, () => s.end(`${command}\n`));
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

/**
 * Starts HAProxy in the foreground with the docs' configuration for these replicas. That
 * configuration sets no maxconn: HAProxy derives it from the open-file limit it inherits (each
 * agent holds two descriptors, client side and replica side), so the run reports the limit it got
 * ({@link LoadBalancer.connections}) — with 20,000 descriptors it is just under 10,000.
 */
export async function startHaproxy(options: {
  repoRoot: string;
  workDir: string;
  /** Names this instance's configuration and stats socket in `workDir` (several may run). */
  name: string;
  frontendPort: number;
  replicaPorts: number[];
}): Promise<LoadBalancer> {
  const socketPath = join(options.workDir, `${options.name}.sock`);
  const configPath = join(options.workDir, `${options.name}.cfg`);
  const docsConfig = readFileSync(join(options.repoRoot, 'docs', 'deploy', 'haproxy.cfg'), 'utf8');
  writeFileSync(configPath, haproxyConfigText(docsConfig, options.frontendPort, options.replicaPorts, socketPath));
  let log = '';
  const proc: ChildProcess = spawn('haproxy', ['-db', '-f', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${options.frontendPort}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited:\n${log}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error(`haproxy never answered /healthz:\n${log}`);
    await sleep(100);
  }
  return {
    url,
    pid: proc.pid!,
    async connections() {
      const info = await statsCommand(socketPath, 'show info');
      const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      const stat = (await statsCommand(socketPath, 'show stat')).split('\n');
      const columns = stat[0]!.replace(/^# /, '').split(',');
      const frontend = stat.find((line) => line.startsWith('netwatcher,FRONTEND,'))?.split(',') ?? [];
      const backend = stat.find((line) => line.startsWith('replicas,BACKEND,'))?.split(',') ?? [];
      return {
        current: field('CurrConns'),
        max: field('Maxconn'),
        frontendMax: Number(frontend[columns.indexOf('slim')] ?? NaN),
        retries: Number(backend[columns.indexOf('wretr')] ?? NaN),
        redispatches: Number(backend[columns.indexOf('wredis')] ?? NaN),
        replicasMarkedDown: stat
          .filter((line) => /^replicas,nw\d+,/.test(line))
          .reduce((sum, line) => sum + Number(line.split(',')[columns.indexOf('chkdown')] ?? 0), 0),
      };
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
