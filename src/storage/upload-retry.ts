import { setTimeout as sleep } from 'node:timers/promises';
import { redactSecretsInText } from './redact.js';

/**
 * Why one step of an upload failed. `retryNow`: the same request with the same grant may work
 * (network error, 5xx, throttling). `retryLater`: a later call, possibly with a new grant, may
 * work (everything but a problem with the local file or a grant that cannot fit it).
 */
export class UploadStepError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryNow: boolean,
    readonly retryLater: boolean = retryNow,
    options?: { cause?: unknown },
  ) {
    super(redactSecretsInText(message), options);
    this.name = 'UploadStepError';
  }
}

/** Shared state of one uploadFile call: when it last made progress, its budget and its grant's expiry. */
export interface UploadClock {
  /** How long the upload may go on failing without any step succeeding. */
  retryBudgetInMs: number;
  lastProgressAtInMs: number;
  grantExpiresAtInMs: number;
  signal: AbortSignal;
}

/** Records that a step succeeded: the retry budget starts again from now. */
export function markProgress(clock: UploadClock): void {
  clock.lastProgressAtInMs = Date.now();
}

const firstDelayInMs = 100;
// Capped low so that an upload resumes within a couple of seconds of storage coming back.
const maxDelayInMs = 2_000;

/** Backoff before retry number `attempt` (1-based): exponential from 100 ms, capped at 2 s, with jitter. */
export function backoffDelayInMs(attempt: number): number {
  const ceiling = Math.min(maxDelayInMs, firstDelayInMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Throws the abort as an UploadStepError if the caller's signal fired. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new UploadStepError('Aborted', 'the upload was aborted', false, true);
}

/** Converts anything thrown by a step into an UploadStepError (unknown errors are not retried). */
export function asStepError(error: unknown): UploadStepError {
  if (error instanceof UploadStepError) return error;
  if ((error as Error | null)?.name === 'AbortError')
    return new UploadStepError('Aborted', 'the upload was aborted', false, true);
  return new UploadStepError(
    'InternalError',
    `unexpected upload error: ${(error as Error)?.message ?? String(error)}`,
    false,
    false,
    { cause: error },
  );
}

/**
 * Runs `step` until it succeeds, retrying errors whose `retryNow` is set with backoff, for as
 * long as the clock's budget (counted from the last progress) and the grant's lifetime allow.
 * `step` gets the attempt number (0 first) so it can re-synchronize (ask what the server holds).
 */
export async function retrying<T>(clock: UploadClock, what: string, step: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    throwIfAborted(clock.signal);
    try {
      const result = await step(attempt);
      markProgress(clock);
      return result;
    } catch (thrown) {
      const error = asStepError(thrown);
      if (clock.signal.aborted) throw new UploadStepError('Aborted', 'the upload was aborted', false, true);
      if (!error.retryNow) throw error;
      const delayInMs = backoffDelayInMs(attempt + 1);
      const resumeAtInMs = Date.now() + delayInMs;
      if (resumeAtInMs >= clock.grantExpiresAtInMs) {
        throw new UploadStepError(
          'GrantExpired',
          `${what}: ${error.message}; the grant expires before a retry`,
          false,
          true,
          { cause: error },
        );
      }
      if (resumeAtInMs > clock.lastProgressAtInMs + clock.retryBudgetInMs) {
        throw new UploadStepError(
          'StorageUnavailable',
          `${what}: ${error.message}; no progress for ${clock.retryBudgetInMs} ms (retry budget spent)`,
          false,
          true,
          { cause: error },
        );
      }
      try {
        await sleep(delayInMs, undefined, { signal: clock.signal });
      } catch {
        throw new UploadStepError('Aborted', 'the upload was aborted', false, true);
      }
    }
  }
}

/**
 * Runs `task` for every item with at most `concurrency` at once. The first failure aborts the
 * others (through the signal handed to `task`) and is rethrown once all have stopped.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal,
  task: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const combined = AbortSignal.any([signal, stop.signal]);
  let next = 0;
  let firstError: unknown;
  async function worker(): Promise<void> {
    while (!combined.aborted && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item, combined);
      } catch (error) {
        if (firstError === undefined) firstError = error;
        stop.abort();
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, () => worker()));
  if (firstError !== undefined) throw firstError;
  throwIfAborted(signal);
}
