import { readFileSync } from 'node:fs';

/**
 * A process named so that a reused PID is never mistaken for it: its PID plus its start time in
 * clock ticks since boot (field 22 of /proc/PID/stat), which a new process with the same PID
 * cannot share.
 */
export interface ProcessIdentity {
  pid: number;
  startTicks: string;
  command: string;
}

/** Reads a live process's identity; null when it does not exist. */
export function processIdentity(pid: number): ProcessIdentity | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const close = stat.lastIndexOf(')');
  const command = stat.slice(stat.indexOf('(') + 1, close);
  const fields = stat.slice(close + 2).split(' ');
  const startTicks = fields[19]; // field 22 overall; fields here start at field 3
  return startTicks === undefined ? null : { pid, startTicks, command };
}
