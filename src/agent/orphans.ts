import { processIdentity, type ProcessIdentity } from '../lib/index.js';

/** Process identities (PID + start time) live in lib: the server's data-folder lock uses them too. */
export { processIdentity, type ProcessIdentity };

/**
 * Kills a process left behind by an earlier agent (its tcpdump keeps capturing, holding a kernel
 * buffer, until its next write finds the pipe gone — forever on a quiet filter) if, and only if,
 * it is still that same process. Returns true when it was killed.
 */
export function killLeftover(identity: ProcessIdentity): boolean {
  const now = processIdentity(identity.pid);
  if (!now || now.startTicks !== identity.startTicks || now.command !== identity.command) return false;
  try {
    process.kill(identity.pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
