import type { PacketCaptureErrorCode } from '../../model/index.js';
import type { AggregateStatus, CaptureInternal, InstanceState } from './capture-types.js';

/** True once a host's capture has ended (stopped or failed). */
export function isTerminal(s: InstanceState): boolean {
  return s.status === 'Stopped' || s.status === 'Error';
}

/**
 * True once nothing more will happen to a host's capture: ended, and its file stored when it has
 * to be (or storing failed and was reported, the file kept on the host).
 */
export function isSettled(s: InstanceState, internal: CaptureInternal): boolean {
  if (!isTerminal(s)) return false;
  if (!internal.storage || !s.file || s.file.stored) return true;
  return s.errors.includes('StorageFailed');
}

/**
 * Folds per-host states into one status, as a VM target has one host and a scale set many:
 * Running while any host runs; Error only when every host failed; otherwise Stopped with the
 * first host's reason. Errors are the union.
 */
export function aggregateStatus(states: InstanceState[]): AggregateStatus {
  if (states.length === 0)
    return { packetCaptureStatus: 'NotStarted', captureStartTime: null, stopReason: null, packetCaptureError: [] };
  const errors = [...new Set(states.flatMap((s) => s.errors))] as PacketCaptureErrorCode[];
  const starts = states
    .map((s) => s.captureStartTime)
    .filter((t): t is string => t !== null)
    .sort();
  let status: AggregateStatus['packetCaptureStatus'];
  if (states.some((s) => s.status === 'Running')) status = 'Running';
  else if (states.some((s) => s.status === 'Unknown'))
    status = 'Unknown'; // a host that cannot be reached, none known to run
  else if (states.every((s) => s.status === 'NotStarted')) status = 'NotStarted';
  else if (states.every((s) => isTerminal(s))) status = states.every((s) => s.status === 'Error') ? 'Error' : 'Stopped';
  else status = 'Running'; // some started and ended, others not yet started: the session is still on
  const stopped = states.find((s) => s.stopReason !== null);
  return {
    packetCaptureStatus: status,
    captureStartTime: starts[0] ?? null,
    stopReason: status === 'Stopped' || status === 'Error' ? (stopped?.stopReason ?? null) : null,
    packetCaptureError: errors,
  };
}
