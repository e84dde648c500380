// How the engine launches tcpdump: the programs that exec it in place (so its pid stays the
// child's and signals reach it), and as whom it runs.
//
// Why not tcpdump's own -Z: Debian's tcpdump switches to user "tcpdump" after opening the capture
// socket, and the kernel clears the parent-death signal on that change of credentials
// (commit_creds: a new euid/egid/fsuid/fsgid resets pdeath_signal), so a tcpdump outliving a
// killed agent would write its file past every limit. Measured here (tcpdump-launch.test.ts):
// `setpriv --pdeathsig TERM -- tcpdump` survives its parent's SIGKILL; with `-Z root` it ends but
// runs as root with every capability for the whole capture. Instead setpriv itself switches to the
// unprivileged user *before* arming the signal and exec'ing tcpdump, and hands it only
// CAP_NET_RAW as an ambient capability (what opening a packet socket needs; nothing else, and no
// way back: bounding set reduced, no_new_privs). tcpdump, no longer root, changes nothing, so the
// signal stays armed. The capture file is opened by the engine and passed as stdout, so the user
// needs no right on the capture directory.
import { readFileSync } from 'node:fs';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';

/** Who tcpdump runs as under setpriv. */
export interface UnprivilegedUser {
  /** User name or numeric uid for setpriv --reuid. */
  user: string;
  /** Group name or numeric gid for setpriv --regid. */
  group: string;
}

/** The user Debian's tcpdump package creates for it, else nobody/nogroup (65534), from /etc/passwd. */
export function defaultTcpdumpUser(passwdPath = '/etc/passwd'): UnprivilegedUser {
  let passwd = '';
  try {
    passwd = readFileSync(passwdPath, 'utf8');
  } catch {
    // no passwd file: numeric ids below
  }
  const line = passwd.split('\n').find((l) => l.startsWith('tcpdump:'));
  const fields = line?.split(':');
  if (fields !== undefined && /^\d+$/.test(fields[2] ?? '') && /^\d+$/.test(fields[3] ?? ''))
    return { user: fields[2]!, group: fields[3]! };
  return { user: '65534', group: '65534' };
}

/** Options of tcpdumpLaunchPrefix. */
export interface TcpdumpLaunchOptions {
  /** setpriv (util-linux), or null when it is not installed: then tcpdump does not end with its parent. */
  setprivPath: string | null;
  /** stdbuf (coreutils), or null: then tcpdump writes in 4 KiB stdio blocks. */
  stdbufPath: string | null;
  /** stdout buffer of tcpdump in bytes (stdbuf -o); 0 = tcpdump's own (4 KiB for a file). */
  outputBufferBytes: number;
  /** Switch to this user before tcpdump starts (needs root); null = run as this process's user. */
  runAs: UnprivilegedUser | null;
}

/**
 * The argv that goes before tcpdump's own path. `-Z root` is needed in tcpdump's own arguments
 * only when this prefix does not switch user (see keepsTcpdumpRoot).
 * @example tcpdumpLaunchPrefix({ setprivPath: '/usr/bin/setpriv', stdbufPath: null, outputBufferBytes: 0, runAs: { user: '109', group: '112' } })
 * // ['/usr/bin/setpriv', '--reuid', '109', '--regid', '112', '--clear-groups', '--inh-caps', '-all,+net_raw', …, '--pdeathsig', 'TERM', '--']
 */
export function tcpdumpLaunchPrefix(opts: TcpdumpLaunchOptions): string[] {
  const prefix: string[] = [];
  if (opts.setprivPath !== null) {
    prefix.push(opts.setprivPath);
    if (opts.runAs !== null) {
      prefix.push(
        '--reuid',
        opts.runAs.user,
        '--regid',
        opts.runAs.group,
        '--clear-groups',
        '--inh-caps',
        '-all,+net_raw',
        '--ambient-caps',
        '+net_raw',
        '--bounding-set',
        '-all,+net_raw',
        '--no-new-privs',
      );
    }
    prefix.push('--pdeathsig', 'TERM', '--');
  }
  // stdbuf sets tcpdump's stdout buffer (its `-w -` output) through an LD_PRELOADed setvbuf and
  // execs it: 64 KiB writes instead of 4 KiB cut tcpdump's CPU per packet by ~17 % at 0.5 Mpps of
  // small datagrams and cost nothing at full-size TCP (bench/capture-fidelity/variants.ts).
  if (opts.stdbufPath !== null && opts.outputBufferBytes > 0)
    prefix.push(opts.stdbufPath, '-o', String(opts.outputBufferBytes));
  return prefix;
}

/** True when tcpdump must be told `-Z root` to keep the parent-death signal (setpriv arms it but does not switch user). */
export function keepsTcpdumpRoot(opts: TcpdumpLaunchOptions): boolean {
  return opts.setprivPath !== null && opts.runAs === null;
}

/**
 * The whole argv before tcpdump's own arguments for a tcpdump that writes files of its own (the
 * ring and the look-back buffer: it creates them in a root-owned folder, so it keeps root), ended
 * with its parent by setpriv when installed; null when tcpdump is not found.
 * @example const argv = rootTcpdumpArgv('tcpdump', []); // ['/usr/bin/setpriv', '--pdeathsig', 'TERM', '--', '/usr/bin/tcpdump']
 */
export function rootTcpdumpArgv(tcpdumpPath: string, commandPrefix: readonly string[]): string[] | null {
  const path = process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH;
  const tcpdump = findExecutable(tcpdumpPath, path);
  if (tcpdump === null) return null;
  const prefix = tcpdumpLaunchPrefix({
    setprivPath: findExecutable('setpriv', path),
    stdbufPath: null,
    outputBufferBytes: 0,
    runAs: null,
  });
  return [...commandPrefix, ...prefix, tcpdump];
}
