/** Runs at most `limit` tasks at once, the others in the order they came. */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  /** Runs `task` when a slot is free; resolves or rejects with it. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finished task hands its slot straight to the next in line.
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // Handed on in a later turn of the event loop: a long line of database work never keeps
      // sockets (handshakes, API calls) from being served in between.
      const next = this.waiting.shift();
      if (next) setImmediate(next);
      else this.running--;
    }
  }

  /** Tasks waiting for a slot. */
  get waitingCount(): number {
    return this.waiting.length;
  }
}

/**
 * The database work of agents arriving and leaving, a few at a time (greetings and goodbyes share
 * one {@link ConcurrencyLimit}, so they also share statements), and which goodbyes are owed.
 *
 * A host is recorded away only if this process recorded it connected (its hello's work began
 * here) and no connection of it is open here when the goodbye's turn comes. So a connection that
 * closes before its hello — a handshake the agent had already given up on (its 10 s timeout)
 * that the server completed late — costs no database work; and in a reconnect storm a host whose
 * agent is back before its goodbye's turn is not recorded away and then back (the goodbye is
 * owed until that newer connection closes). On the embedded database, recording each abandoned
 * handshake's close (a read, a locked update, the active-capture look-up) held the server's one
 * thread so long that the kernel's accept queue (4,096 deep) took longer to drain than the
 * agents' timeout: every handshake arrived abandoned, and a storm of 5,000 or 10,000 agents never
 * came back (bench/scale).
 */
export class AgentGreetings {
  private readonly limit: ConcurrencyLimit;
  /** Hosts this process recorded connected (or began to) and has not recorded away since. */
  private readonly owed = new Set<string>();
  /** Each host's last queued task: one host's greetings, goodbyes and sweeps run one after another. */
  private readonly hostTails = new Map<string, Promise<unknown>>();
  /** Set by {@link stop}: hellos and goodbyes whose turn comes later are not run. */
  private stopping = false;
  /** Hosts whose goodbye was not recorded because the server was stopping (see {@link stop}). */
  private readonly unrecorded = new Set<string>();
  /** Ends of the graces being waited out (see {@link goodbye}). */
  private readonly graceEnds = new Set<() => void>();
  private gracesEnded = false;

  constructor(
    atOnce: number,
    private readonly isConnectedHere: (vmKey: string) => boolean,
  ) {
    this.limit = new ConcurrencyLimit(atOnce);
  }

  /** Runs a hello's work (lease, connected state, reconciliation) in turn; from its start on, the host's goodbye is owed. */
  hello(vmKey: string, work: () => Promise<void>): Promise<void> {
    return this.forHost(vmKey, async () => {
      // The connection is being closed by the stop: nothing to record it connected for.
      if (this.stopping) return;
      this.owed.add(vmKey.toLowerCase());
      await work();
    });
  }

  /**
   * Runs a goodbye's work (`work` records the host away) in turn, unless nothing was recorded
   * connected for the host, or a connection of it is open here again by then, or the server is
   * stopping (see {@link stop}). With `graceInMs`
   * (a connection cut without a close frame: a network failure, a server-side cut, a crashed
   * agent) the goodbye takes its turn only after that wait, so an agent back within it costs no
   * database work at all: in a reconnect storm of 10,000 agents every connection is cut at once,
   * and recording 10,000 hosts away (then back) held the embedded database's one thread so long
   * that the handshakes of the returning agents timed out. The price: such a host shows
   * disconnected that much later. Resolves with whether the work ran.
   */
  goodbye(vmKey: string, work: () => Promise<void>, graceInMs = 0): Promise<boolean> {
    const key = vmKey.toLowerCase();
    if (graceInMs > 0 && !this.gracesEnded) return this.grace(graceInMs).then(() => this.goodbye(key, work));
    return this.forHost(key, async () => {
      if (!this.owed.has(key) || this.isConnectedHere(key)) return false;
      if (this.stopping) {
        this.unrecorded.add(key);
        return false;
      }
      this.owed.delete(key);
      try {
        await work();
      } catch (error) {
        // Not recorded: still owed, so the host's next goodbye records it.
        this.owed.add(key);
        throw error;
      }
      return true;
    });
  }

  /**
   * Runs other work on one host (a dead replica's host recorded away, a host taken back) in the
   * same turns, after every greeting and goodbye of that host queued before it. So a sweep that
   * found a host's lease expired and then checks whether the host is connected anywhere sees
   * the outcome of a hello that was already under way (a sweep that ran beside it recorded hosts
   * away after their agents were back through a live replica: 833 of 10,000 in bench/scale's crash).
   */
  forHost<T>(vmKey: string, task: () => Promise<T>): Promise<T> {
    const key = vmKey.toLowerCase();
    const previous = this.hostTails.get(key) ?? Promise.resolve();
    const turn = previous.then(
      () => this.limit.run(task),
      () => this.limit.run(task),
    );
    const tail = turn.catch(() => undefined);
    this.hostTails.set(key, tail);
    void tail.then(() => {
      if (this.hostTails.get(key) === tail) this.hostTails.delete(key);
    });
    return turn;
  }

  /**
   * The server is stopping: hellos and goodbyes whose turn has not come are not run (those under
   * way finish). 10,000 agents that left just before a stop owe ~10,000 records, more than a stop
   * waits for; run after the database closed, each failed with its own error ("Cannot use a pool
   * after calling end on the pool", "PGlite is closed"). They need not be written here: the
   * host's lease stays with this replica, whose heartbeat the stop expires, so a live replica's
   * next sweep records the host away (if its agent is connected nowhere), or the database's next
   * start does (PostgreSQL: the first sweep takes every lease of a replica without a live
   * heartbeat; the embedded database: every host is recorded away at start). Sweeps
   * ({@link forHost}) still run: a lease they claimed is theirs to record.
   */
  stop(): void {
    this.stopping = true;
    this.endGraces();
  }

  /**
   * After {@link stop}: resolves once every queued turn is over (the skipped ones at once), at
   * most `timeoutInMs`, with the hosts whose goodbye was skipped.
   */
  async settled(timeoutInMs: number): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.hostTails.values()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutInMs);
      }),
    ]);
    clearTimeout(timer);
    return [...this.unrecorded];
  }

  /** Resolves after `ms`, or at once when {@link endGraces} is called (a server stopping). */
  private grace(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        this.graceEnds.delete(end);
        resolve();
      };
      // Not unref'd: the host's goodbye is owed; a stopping server ends it through endGraces.
      const timer = setTimeout(end, ms);
      this.graceEnds.add(end);
    });
  }

  /** Goodbyes waiting out their grace take their turn now, and later ones wait no more (called by {@link stop}). */
  endGraces(): void {
    this.gracesEnded = true;
    for (const end of [...this.graceEnds]) end();
  }

  /** Goodbyes waiting out their grace. */
  get inGraceCount(): number {
    return this.graceEnds.size;
  }

  /** Greetings and goodbyes waiting for their turn. */
  get waitingCount(): number {
    return this.limit.waitingCount;
  }

  /** Entries kept per host: goodbyes owed (hosts recorded connected here) and hosts with a turn queued or under way. */
  perHostEntries(): { owedGoodbyes: number; hostTurns: number } {
    return { owedGoodbyes: this.owed.size, hostTurns: this.hostTails.size };
  }
}
