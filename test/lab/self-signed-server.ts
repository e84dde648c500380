/**
 * `nw server --tls-self-signed` on loopback for the e2e tests that talk to it over https, started
 * the way a user starts it and read from what it prints.
 *
 * The banner is printed line by line after the server listens, so a reader that stops at the
 * "listening on" line may not have the certificate line yet (it did in CI once); this waits for
 * the banner's last line before reading anything from it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NW_BIN } from './lab.js';

/** The server process and what its banner said. */
export interface SelfSignedServer {
  process: ChildProcess;
  /** https://127.0.0.1:PORT, without a trailing slash. */
  url: string;
  /** The self-signed certificate the banner names (clients' --ca-file). */
  caPath: string;
  adminToken: string;
  /** Everything printed so far (it keeps growing). */
  output: () => string;
}

/** The banner's last line (src/cli/commands/server.ts prints it after every other line). */
const BANNER_END = /log in from a client with: /;

export async function startSelfSignedServer(dataDir: string, timeoutInMs = 30_000): Promise<SelfSignedServer> {
  const child = spawn(
    process.execPath,
    [NW_BIN, 'server', '--tls-self-signed', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + timeoutInMs;
  while (!BANNER_END.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`nw server did not print its banner within ${timeoutInMs} ms:\n${out}`);
    }
    await sleep(50);
  }
  const url = /listening on (https:\/\/\S+)/.exec(out)?.[1];
  const caPath = /TLS: self-signed certificate (\S+)/.exec(out)?.[1];
  if (!url || !caPath) {
    child.kill('SIGKILL');
    throw new Error(`nw server's banner lacks its https URL or certificate:\n${out}`);
  }
  return {
    process: child,
    url: url.replace(/\/+$/, ''),
    caPath,
    adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    output: () => out,
  };
}
