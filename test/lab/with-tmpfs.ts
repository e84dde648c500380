/**
 * Runs a command with small tmpfs folders mounted over given paths, seen by that command alone:
 * start it under `unshare -m --propagation private`, so the mounts live in a mount namespace of
 * their own and vanish with its last process (nothing to unmount, nothing left on the machine).
 * Signals are passed on to the command; its exit status is this process's.
 *
 *   unshare -m --propagation private node --import tsx test/lab/with-tmpfs.ts DIR=SIZE [DIR=SIZE…] -- COMMAND ARGS…
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const separator = process.argv.indexOf('--');
if (separator < 0 || separator === process.argv.length - 1) {
  process.stderr.write('usage: with-tmpfs.ts DIR=SIZE… -- COMMAND ARGS…\n');
  process.exit(2);
}
for (const spec of process.argv.slice(2, separator)) {
  const [dir, size] = spec.split('=');
  if (!dir || !size) throw new Error(`bad mount spec ${spec}`);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'nw-test-tmpfs', dir], {
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(3);
}
const [command, ...args] = process.argv.slice(separator + 1);
const child = spawn(command!, args, { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
