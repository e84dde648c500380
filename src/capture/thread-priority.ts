// Idle priority for one thread. On Linux the nice value and the scheduling policy belong to a
// thread, not to the process (setpriority(2) "BUGS", sched(7)): a worker thread can lower its
// own without touching the event loop or tcpdump's launch.
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';

/** The lowest nice value: a thread at 19 gets ~1.5 % of a CPU against one at 0 (CFS weights 15 vs 1024). */
export const IDLE_NICE = 19;

/** A thread's priority. */
export interface ThreadPriority {
  /** The thread's id (its /proc/PID/task/TID). */
  threadId: number;
  /** Its nice value. */
  nice: number;
  /** Whether it runs under SCHED_IDLE (chrt found and accepted the change). */
  schedIdle: boolean;
}

/**
 * Lowers the calling thread to nice 19 and, where util-linux's chrt is on PATH, to SCHED_IDLE
 * (runs only when no other thread of its scheduling group wants the CPU, and a waking task
 * always preempts it), read back from /proc/thread-self/stat. Lowering needs no privilege. Node's os.setPriority(0, …) is
 * setpriority(PRIO_PROCESS, 0, …), which Linux applies to the calling thread only; chrt gets the
 * thread's id from /proc/thread-self.
 * @example const p = lowerThisThreadToIdle(); // { threadId: 4242, nice: 19, schedIdle: true }
 */
export function lowerThisThreadToIdle(): ThreadPriority {
  setPriority(0, IDLE_NICE);
  const chrt = findExecutable('chrt', process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH);
  if (chrt !== null)
    spawnSync(chrt, ['--idle', '--pid', '0', String(thisThreadId())], { stdio: 'ignore', timeout: 5000 });
  return thisThreadPriority();
}

/** The calling thread's id, nice value and whether it runs under SCHED_IDLE. */
export function thisThreadPriority(): ThreadPriority {
  return { threadId: thisThreadId(), nice: getPriority(0), schedIdle: threadPolicy() === SCHED_IDLE };
}

const thisThreadId = (): number => Number(readlinkSync('/proc/thread-self').split('/').pop());

// sched(7); the policy is field 41 of /proc/thread-self/stat (proc(5)).
const SCHED_IDLE = 5;

function threadPolicy(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[41 - 3]);
  } catch {
    return null;
  }
}
