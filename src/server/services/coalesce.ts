/** One key's run in progress, and the follow-up run that callers arriving meanwhile share. */
export interface Flight {
  running: Promise<void>;
  queued: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } | null;
}

/**
 * Runs `fn` for a key at most once at a time. A call while a run is in progress does not start a
 * second one: every such call shares one follow-up run, started when the current one ends (so it
 * sees every change made before the call). With 1,000 hosts of one capture reporting at once
 * (issue 14), the capture is re-evaluated a few times instead of 1,000 times over 1,000 rows,
 * and two evaluations never race on the same record.
 * @example await coalesce(flights, captureKey, () => evaluateOnce(ctx, captureKey));
 */
export function coalesce(flights: Flights, key: string, fn: () => Promise<void>): Promise<void> {
  const current = flights.get(key);
  if (current) {
    if (!current.queued) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((a, b) => {
        resolve = a;
        reject = b;
      });
      current.queued = { promise, resolve, reject };
    }
    return current.queued.promise;
  }
  const flight: Flight = { running: Promise.resolve(), queued: null };
  const start = (): void => {
    flight.running = fn().finally(() => {
      const next = flight.queued;
      if (!next) {
        flights.delete(key);
        return;
      }
      flight.queued = null;
      start();
      flight.running.then(next.resolve, next.reject);
    });
  };
  start();
  flights.set(key, flight);
  return flight.running;
}

/** The flights of one owner (a server's: ServerMemory.captureEvaluations), by key. */
export type Flights = Map<string, Flight>;
