/**
 * What one run of a batched statement gives back: the result of each call, picked by its key and
 * its place among the calls of that key in the batch (0 for the first). Called once per call.
 */
export type BatchPick<R> = (key: string, nth: number) => R;

/** Options of a {@link StatementBatcher}. */
export interface StatementBatcherOptions {
  /** Most calls in one run (the statement gets their keys as one array parameter). */
  maxCallsPerRun: number;
  /** Most runs in flight at once; calls arriving meanwhile gather for the next run. */
  maxRunsInFlight: number;
  /**
   * For writes: when a run of several calls fails, each call is run again alone, so one bad row
   * fails only its own call (as one statement per call would). Reads fail together (the cause —
   * the database away — is everyone's).
   */
  retryAlone?: boolean;
  /**
   * For upserts and updates, whose calls of one key must apply in turn (one statement cannot
   * change a row twice): a run takes each key's first call; later calls of that key wait for the
   * next run, in their order.
   */
  oneCallPerKey?: boolean;
}

/**
 * Gathers concurrent calls of one statement into one run: calls made in the same turn of the
 * event loop, or while the most runs are in flight, share the next run, which takes all their
 * keys at once (`WHERE key = ANY($1)`, a multi-row `INSERT`). A run always starts after every one
 * of its calls was made, so each call sees every change committed before it — what one statement
 * per call gives. With 1,000 captures created at once (issue 17), each lookup of the create path
 * is a few dozen statements instead of 1,000: on the embedded database, which runs one statement
 * at a time on the server's own thread, the per-statement cost was most of the time; on
 * PostgreSQL, the round trips queued behind the pool's connections.
 * @example
 * const byKey = new StatementBatcher<Row | null>(async (keys) => {
 *   const rows = new Map((await db.query('SELECT * FROM resources WHERE key = ANY($1::text[])', [keys])).map((r) => [String(r.key), r]));
 *   return (key) => rows.get(key) ?? null;
 * }, { maxCallsPerRun: 500, maxRunsInFlight: 2 });
 * const row = await byKey.call('some-key');
 */
export class StatementBatcher<R, I = string> {
  private gathering: Array<{ key: string; input: I; resolve: (value: R) => void; reject: (error: unknown) => void }> =
    [];
  private runsInFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (keys: string[], inputs: I[]) => Promise<BatchPick<R>>,
    private readonly options: StatementBatcherOptions,
  ) {}

  /** Queues one call (`input` defaults to the key itself) and resolves with its own result. */
  call(key: string, input?: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.gathering.push({ key, input: input === undefined ? (key as unknown as I) : input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.gathering.length === 0 || this.runsInFlight >= this.options.maxRunsInFlight) return;
    this.scheduled = true;
    // setImmediate, not a microtask: the requests read in one poll of the event loop all join
    // (a microtask would run between two requests' callbacks and send each its own statement).
    setImmediate(() => {
      this.scheduled = false;
      while (this.gathering.length > 0 && this.runsInFlight < this.options.maxRunsInFlight) this.start(this.nextRun());
    });
  }

  private nextRun(): StatementBatcher<R, I>['gathering'] {
    if (!this.options.oneCallPerKey) return this.gathering.splice(0, this.options.maxCallsPerRun);
    const run: StatementBatcher<R, I>['gathering'] = [];
    const later: StatementBatcher<R, I>['gathering'] = [];
    const keys = new Set<string>();
    for (const c of this.gathering) {
      if (run.length < this.options.maxCallsPerRun && !keys.has(c.key)) {
        keys.add(c.key);
        run.push(c);
      } else later.push(c);
    }
    this.gathering = later;
    return run;
  }

  private start(calls: StatementBatcher<R, I>['gathering']): void {
    this.runsInFlight++;
    void this.settle(calls).finally(() => {
      this.runsInFlight--;
      this.schedule();
    });
  }

  private async settle(calls: StatementBatcher<R, I>['gathering']): Promise<void> {
    // Each key once in the statement (input of its first call); every call gets its own pick.
    const inputs = new Map<string, I>();
    for (const c of calls) if (!inputs.has(c.key)) inputs.set(c.key, c.input);
    let pick: BatchPick<R>;
    try {
      pick = await this.run([...inputs.keys()], [...inputs.values()]);
    } catch (error) {
      if (!this.options.retryAlone || calls.length === 1) {
        for (const c of calls) c.reject(error);
        return;
      }
      for (const c of calls) {
        try {
          c.resolve((await this.run([c.key], [c.input]))(c.key, 0));
        } catch (alone) {
          c.reject(alone);
        }
      }
      return;
    }
    const seen = new Map<string, number>();
    for (const c of calls) {
      const nth = seen.get(c.key) ?? 0;
      seen.set(c.key, nth + 1);
      try {
        c.resolve(pick(c.key, nth));
      } catch (error) {
        c.reject(error);
      }
    }
  }
}
