// Admission of new captures into a watcher: the name check, the session-limit check and the writes
// of every create that arrives together for one watcher, in one transaction under its lock.
import { ApiError } from '../../lib/index.js';
import type { NewResource, OperationRecord, ResourceRecord } from '../../store/index.js';
import { SERVER_DEFAULTS } from '../config.js';
import type { CaptureBody, CaptureTarget } from './capture-types.js';
import { notStartedState } from './capture-types.js';
import type { ServerContext } from './context.js';
import type { WatcherBody } from './watchers.js';

/** One create as admitted: the record to insert and the targets that were offline when it started. */
export interface CaptureAdmission {
  record: NewResource<CaptureBody> & { location: string };
  /** Hosts whose agent was not connected: recorded as not started, in the same transaction. */
  offlineTargets: CaptureTarget[];
}

/** What an admitted create wrote. */
export interface AdmittedCapture {
  inserted: ResourceRecord<CaptureBody>;
  operation: OperationRecord;
}

interface Waiting {
  admission: CaptureAdmission;
  resolve(value: AdmittedCapture): void;
  reject(error: unknown): void;
}

/** The creates waiting for one watcher's next transaction (ServerMemory.captureAdmissions). */
export interface WatcherQueue {
  waiting: Waiting[];
  running: boolean;
}

/** Most creates in one transaction (a multi-row insert per statement; larger groups wait for the next). */
const MAX_CREATES_PER_TRANSACTION = 200;

/**
 * Admits one capture into `watcher`: refused with PacketCaptureNameInUse or SessionLimitReached
 * (nothing written), or inserted with its create operation and its offline hosts' states. Creates
 * that arrive while the watcher's previous transaction runs (a fan-out: 1,000 at once) gather and
 * share the next one — one lock, one count, multi-row inserts — and are judged in arrival order as
 * if they had run one after another: the limit stops exactly the ones one-by-one would stop.
 * Before, each create was its own transaction serialised on the watcher's row lock, and a
 * 1,000-host fan-out waited 1,000 lock hand-overs (issue 17: 1.0–2.3 s → 4.1–4.7 s).
 * `ctx` is the server's own, not a transaction's: the group runs its own transaction on `ctx.store`.
 * @example const { inserted, operation } = await admitCapture(ctx, watcher, { record, offlineTargets: [] });
 */
export function admitCapture(
  ctx: ServerContext,
  watcher: ResourceRecord<WatcherBody>,
  admission: CaptureAdmission,
): Promise<AdmittedCapture> {
  const queues = ctx.memory.captureAdmissions;
  let queue = queues.get(watcher.key);
  if (!queue) queues.set(watcher.key, (queue = { waiting: [], running: false }));
  const q = queue;
  return new Promise<AdmittedCapture>((resolve, reject) => {
    q.waiting.push({ admission, resolve, reject });
    if (!q.running) {
      q.running = true;
      // setImmediate: the requests read in one poll of the event loop join the same group.
      setImmediate(() => void drain(ctx, watcher, q, queues));
    }
  });
}

async function drain(
  ctx: ServerContext,
  watcher: ResourceRecord<WatcherBody>,
  queue: WatcherQueue,
  queues: Map<string, WatcherQueue>,
): Promise<void> {
  while (queue.waiting.length > 0) {
    const group = queue.waiting.splice(0, MAX_CREATES_PER_TRANSACTION);
    try {
      settle(group, await admitGroup(ctx, watcher, group));
    } catch (error) {
      if (group.length === 1) group[0]!.reject(error);
      // A failure of the whole transaction (the database, one row it refused): each create again
      // alone, so one bad create fails only itself, as it would have on its own.
      else
        for (const w of group) {
          try {
            settle([w], await admitGroup(ctx, watcher, [w]));
          } catch (alone) {
            w.reject(alone);
          }
        }
    }
  }
  queue.running = false;
  queues.delete(watcher.key);
}

function settle(group: Waiting[], outcomes: Array<AdmittedCapture | ApiError>): void {
  group.forEach((w, i) => {
    const outcome = outcomes[i]!;
    if (outcome instanceof ApiError) w.reject(outcome);
    else w.resolve(outcome);
  });
}

/** One transaction for `group`: each create's outcome, in order. Throws only when the transaction fails. */
async function admitGroup(
  ctx: ServerContext,
  watcher: ResourceRecord<WatcherBody>,
  group: Waiting[],
): Promise<Array<AdmittedCapture | ApiError>> {
  const limit = ctx.config.sessionLimitPerLocation ?? SERVER_DEFAULTS.sessionLimitPerLocation;
  return ctx.store.transaction(
    async (store) => {
      // Serialises creates under this watcher (one per location and subscription) against each
      // other, across replicas, and against the watcher's delete.
      await store.lockResource(watcher.key);
      const records = group.map((w) => w.admission.record);
      const existing = await Promise.all(records.map((r) => store.getResource(r.key)));
      const location = records[0]!.location;
      let active = await store.countActiveCaptures(records[0]!.subscriptionId, location);
      const taken = new Set<string>();
      const verdicts = records.map((r, i): ApiError | null => {
        const key = r.key.toLowerCase();
        if (existing[i] || taken.has(key)) return nameInUse(r.name, watcher.name);
        if (active >= limit)
          return new ApiError(
            'SessionLimitReached',
            `Location '${location}' already has ${active} running packet capture sessions, the limit for a subscription; stop or delete one first.`,
            { target: 'packetCaptureName' },
          );
        taken.add(key);
        active++;
        return null;
      });
      // The creates step through their writes together on a batching store, so each step is one
      // multi-row statement for the whole group (inserts, then operations, then offline states).
      return Promise.all(
        group.map(async (w, i): Promise<AdmittedCapture | ApiError> => {
          const refused = verdicts[i];
          if (refused) return refused;
          const inserted = await store.insertResource<CaptureBody>(w.admission.record);
          // Under the lock a name checked free stays free; kept for a database that disagrees.
          if (!inserted) return nameInUse(w.admission.record.name, watcher.name);
          const operation = await store.createOperation({
            subscriptionId: inserted.subscriptionId,
            location,
            kind: 'create',
            resourceKey: inserted.key,
          });
          // Offline when the capture starts (a scale-set instance): reported as such, never waited
          // for; it gets no order when it comes back (its state is final).
          for (const target of w.admission.offlineTargets)
            await store.upsertCaptureInstance({
              captureUid: inserted.body._internal.uid,
              vmKey: target.vmKey,
              captureKey: inserted.key,
              state: {
                ...notStartedState(inserted.body._internal.uid),
                status: 'Error',
                stopReason: 'AgentStopped',
                errors: ['AgentStopped'],
                errorMessage: `AgentNotConnected: the agent of ${target.instanceId !== undefined ? `instance ${target.instanceId}` : target.vmName} was not connected when the capture started; the capture does not run there.`,
              },
            });
          return { inserted, operation };
        }),
      );
    },
    { batch: true },
  );
}

function nameInUse(name: string, watcherName: string): ApiError {
  return new ApiError(
    'PacketCaptureNameInUse',
    `A packet capture named '${name}' already exists in network watcher '${watcherName}'. Delete it first or choose another name.`,
    { target: 'packetCaptureName' },
  );
}
