import type { Db } from './db.js';
import type { SecretBox } from './secrets.js';
import type { StoreCore } from './store-core.js';
import { SettingQueries } from './settings.js';
import { ResourceQueries, type NewResource, type ResourceRecord, type ResourceType } from './resources.js';
import { TokenQueries, type TokenInfo, type TokenKind, type TokenRow } from './tokens.js';
import { PrincipalQueries, type RoleAssignmentRecord, type ServicePrincipalRecord } from './principals.js';
import { JoinKeyQueries, type JoinKeyRefusal, type JoinKeyRow, type NewJoinKey } from './join-keys.js';
import { CaptureInstanceQueries, type CaptureInstanceRecord } from './capture-instances.js';
import { OperationQueries, type NewOperation, type OperationKind, type OperationRecord } from './operations.js';
import {
  MetricQueries,
  type MetricBucketRow,
  type MetricMinuteRow,
  type MetricRollUpOptions,
  type MetricSampleRow,
} from './metrics.js';
import {
  AlertQueries,
  type AlertCaptureRunRecord,
  type AlertFilter,
  type AlertRecord,
  type NewAlertCaptureRun,
} from './alerts.js';
import type { AlertCaptureRunState, MonitorCondition } from '../model/alerts.js';
import type { HostHelloFields } from '../model/stored-bodies.js';
import type { PacketCaptureStatus } from '../model/packet-capture.js';

export { newEtag, type NewResource, type ResourceRecord, type ResourceType } from './resources.js';
export { TOKEN_PREFIXES, hashToken, type TokenInfo, type TokenKind, type TokenRow } from './tokens.js';
export type { RoleAssignmentRecord, ServicePrincipalRecord } from './principals.js';
export { JOIN_KEY_PREFIX, type JoinKeyRefusal, type JoinKeyRow, type NewJoinKey } from './join-keys.js';
export type { CaptureInstanceRecord } from './capture-instances.js';
export type { NewOperation, OperationKind, OperationRecord } from './operations.js';
export {
  METRIC_PRUNE_BATCH,
  METRIC_ROWS_PER_STATEMENT,
  ROLL_UP_HOSTS_PER_PIECE,
  type MetricBucketRow,
  type MetricMinuteRow,
  type MetricRollUpOptions,
  type MetricSampleRow,
} from './metrics.js';
export type { AlertCaptureRunRecord, AlertFilter, AlertRecord, NewAlertCaptureRun } from './alerts.js';

/**
 * The server's data access: every SQL statement of the product lives behind this class, one file
 * per aggregate (resources.ts, tokens.ts, principals.ts, join-keys.ts, capture-instances.ts,
 * operations.ts, metrics.ts, alerts.ts, settings.ts); the methods here only hand over. With a
 * {@link SecretBox}, resource secrets (the `secret` column) and secret settings are sealed before
 * they reach the database and opened when read, in resources.ts and settings.ts and nowhere else.
 * Concurrent calls of the API's hot path share statements (batch.ts), except in a store bound to
 * a transaction.
 * @example
 *   const store = new Store(await openPglite(null));
 *   await migrate(store.db);
 *   const capture = await store.findCaptureByUid<CaptureBody>(uid);
 */
export class Store {
  private readonly settings: SettingQueries;
  private readonly resources: ResourceQueries;
  private readonly tokens: TokenQueries;
  private readonly principals: PrincipalQueries;
  private readonly joinKeys: JoinKeyQueries;
  private readonly captureInstances: CaptureInstanceQueries;
  private readonly operations: OperationQueries;
  private readonly metrics: MetricQueries;
  private readonly alerts: AlertQueries;

  constructor(
    readonly db: Db,
    private readonly secrets: SecretBox | null = null,
    options: { batch?: boolean } = {},
  ) {
    const core: StoreCore = {
      db,
      secrets,
      batch: options.batch !== false,
      transaction: (fn) => this.transaction(fn),
    };
    this.settings = new SettingQueries(core);
    this.resources = new ResourceQueries(core);
    this.tokens = new TokenQueries(core);
    this.principals = new PrincipalQueries(core);
    this.joinKeys = new JoinKeyQueries(core);
    this.captureInstances = new CaptureInstanceQueries(core);
    this.operations = new OperationQueries(core);
    this.metrics = new MetricQueries(core);
    this.alerts = new AlertQueries(core);
  }

  /**
   * Runs `fn` with a store bound to one transaction. With `batch`, concurrent calls inside it share
   * statements as on the server's store (for a transaction that writes many rows of one kind at
   * once, such as a fan-out's creates); without, each call is its own statement.
   */
  transaction<T>(fn: (store: Store) => Promise<T>, options: { batch?: boolean } = {}): Promise<T> {
    return this.db.transaction((tx) => fn(new Store(tx, this.secrets, { batch: options.batch === true })));
  }

  // ---- settings and secrets at rest (settings.ts) --------------------------------------------

  /** A secret server-wide setting (sealed in the database when there is a key), created with `initial` the first time it is asked for. */
  getOrCreateSecretSetting(name: string, initial: () => string): Promise<string> {
    return this.settings.getOrCreateSecretSetting(name, initial);
  }

  /** A server-wide setting shared by every replica, created with `initial` the first time it is asked for. */
  getOrCreateSetting(name: string, initial: () => string): Promise<string> {
    return this.settings.getOrCreateSetting(name, initial);
  }

  /**
   * Seals every plaintext resource secret and secret setting (rows written before secrets were
   * encrypted, issue 9 point 6) and checks the key against the database's key check, storing one
   * on first use. Throws SecretKeyMismatchError when the key is not the database's. Returns how
   * many rows it sealed.
   */
  sealPlaintextSecrets(secretSettings: readonly string[]): Promise<number> {
    return this.settings.sealPlaintextSecrets(secretSettings);
  }

  // ---- resources (resources.ts) --------------------------------------------------------------

  /** Gets a resource by its lower-cased id key. */
  getResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    return this.resources.getResource<B>(key);
  }

  /** Creates or replaces a resource; returns the stored record (new etag). */
  putResource<B>(r: NewResource<B>): Promise<ResourceRecord<B>> {
    return this.resources.putResource<B>(r);
  }

  /** Inserts a resource only if no resource has its key; returns null when one exists. */
  insertResource<B>(r: NewResource<B>): Promise<ResourceRecord<B> | null> {
    return this.resources.insertResource<B>(r);
  }

  /**
   * Changes a resource's body under a row lock: `change` gets the body as it is now and returns
   * the new one (or null, or the same object, to write nothing). Two read-modify-writes of one
   * record — a delete and an agent's report, say — then never lose each other's changes.
   * @example await store.modifyResourceBody<CaptureBody>(key, (b) => ({ ...b, _internal: { ...b._internal, stopRequested: true } }));
   */
  modifyResourceBody<B>(key: string, change: (body: B) => B | null): Promise<ResourceRecord<B> | null> {
    return this.resources.modifyResourceBody<B>(key, change);
  }

  /** Replaces a resource's body (merging nothing); returns null if it is gone. */
  updateResourceBody<B>(key: string, body: B): Promise<ResourceRecord<B> | null> {
    return this.resources.updateResourceBody<B>(key, body);
  }

  /**
   * At most `limit` resources of a type in list order (creation time to the millisecond, then
   * key: the order of nextLink tokens), after `after` when given. The database reads one page, not
   * the whole list (10,000 VMs).
   */
  listResourcesPage<B = Record<string, unknown>>(
    type: ResourceType,
    filter: { subscriptionId?: string; resourceGroup?: string; topLevelOnly?: boolean },
    after: { createdAtInMs: number; key: string } | null,
    limit: number,
  ): Promise<ResourceRecord<B>[]> {
    return this.resources.listResourcesPage<B>(type, filter, after, limit);
  }

  /** Lists resources of a type in a subscription, optionally one resource group or one parent. */
  listResources<B = Record<string, unknown>>(
    type: ResourceType,
    filter?: { subscriptionId?: string; resourceGroup?: string; parentKey?: string; location?: string },
  ): Promise<ResourceRecord<B>[]> {
    return this.resources.listResources<B>(type, filter);
  }

  /** Deletes a resource and its children; true if it existed. */
  deleteResource(key: string): Promise<boolean> {
    return this.resources.deleteResource(key);
  }

  /** The packet capture whose internal uid is `uid` (agents name captures by uid, not by name). */
  findCaptureByUid<B = Record<string, unknown>>(uid: string): Promise<ResourceRecord<B> | null> {
    return this.resources.findCaptureByUid<B>(uid);
  }

  /** Captures of a subscription and location that hold a session (not yet finished). */
  countActiveCaptures(subscriptionId: string, location: string): Promise<number> {
    return this.resources.countActiveCaptures(subscriptionId, location);
  }

  /** Merges a hello's fields into a VM's host state in one statement (shared by concurrent hellos); null when there is no such VM. */
  mergeHostState<B = Record<string, unknown>>(
    vmKey: string,
    fields: HostHelloFields,
  ): Promise<ResourceRecord<B> | null> {
    return this.resources.mergeHostState<B>(vmKey, fields);
  }

  /** Captures that hold a session and target a host. */
  listActiveCapturesForVm<B = Record<string, unknown>>(vmKey: string): Promise<ResourceRecord<B>[]> {
    return this.resources.listActiveCapturesForVm<B>(vmKey);
  }

  /** Marks every host disconnected (at start: connections belong to a previous process). */
  markAllAgentsDisconnected(): Promise<void> {
    return this.resources.markAllAgentsDisconnected();
  }

  /** Locks a resource row until the end of the current transaction (FOR UPDATE) and returns it. */
  lockResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    return this.resources.lockResource<B>(key);
  }

  /** Holds a named lock until the end of the current transaction, for a rule over rows that may not exist yet. */
  lockName(name: string): Promise<void> {
    return this.resources.lockName(name);
  }

  // ---- tokens (tokens.ts) --------------------------------------------------------------------

  /** Issues a new random token and stores only its hash and what it is for; returns the token (shown once). */
  issueToken(
    kind: TokenKind,
    options?: { vmKey?: string; expiresAt?: Date; token?: string; description?: string; principalId?: string },
  ): Promise<{ id: string; token: string }> {
    return this.tokens.issueToken(kind, options);
  }

  /** Verifies a bearer token (not an enrolment token); null if unknown or expired. */
  verifyToken(token: string): Promise<TokenInfo | null> {
    return this.tokens.verifyToken(token);
  }

  /** The agent credentials in force, by stored hash, at most `limit` (a credential cache is primed with them). */
  liveAgentCredentials(limit: number): Promise<Array<{ tokenHash: string; info: TokenInfo }>> {
    return this.tokens.liveAgentCredentials(limit);
  }

  /** Of the given token ids, those that still exist and have not expired. */
  liveTokenIds(ids: readonly string[]): Promise<Set<string>> {
    return this.tokens.liveTokenIds(ids);
  }

  /** Every token row (no secrets: the table holds only hashes), oldest first; optionally one kind. */
  listTokens(kind?: TokenKind): Promise<TokenRow[]> {
    return this.tokens.listTokens(kind);
  }

  /** The credential with this id if it is still valid (not revoked, not expired, not an enrolment token); access tokens minted from it are checked against it. */
  tokenById(id: string): Promise<Pick<TokenInfo, 'id' | 'kind' | 'vmKey' | 'principalId'> | null> {
    return this.tokens.tokenById(id);
  }

  /** Trades a one-time enrolment token: marks it used and returns its VM, or null if unknown, used or expired. */
  consumeEnrollmentToken(token: string): Promise<{ vmKey: string } | null> {
    return this.tokens.consumeEnrollmentToken(token);
  }

  /** Revokes every token of a kind for a VM (a re-enrolment replaces the agent's credential); returns how many. */
  revokeTokens(kind: TokenKind, vmKey: string): Promise<number> {
    return this.tokens.revokeTokens(kind, vmKey);
  }

  /** Calls `listener` when this store revokes the tokens of a host (caches of credentials drop theirs). */
  onTokensRevoked(listener: (kind: TokenKind, vmKey: string) => void): void {
    return this.tokens.onTokensRevoked(listener);
  }

  /** Replaces every admin token by one new one in one transaction (the old ones stop working at once); returns the new token. */
  rotateAdminToken(description?: string): Promise<{ id: string; token: string }> {
    return this.tokens.rotateAdminToken(description);
  }

  /** True when at least one admin token exists. */
  hasAdminToken(): Promise<boolean> {
    return this.tokens.hasAdminToken();
  }

  // ---- service principals and role assignments (principals.ts) -------------------------------

  /**
   * Creates a service principal (object id and app id: new GUIDs) with one client secret, in one
   * transaction; the secret is returned once and only its hash is kept. 409 Conflict when the
   * display name is taken (names are how people pick a principal, so they are unique here).
   */
  createServicePrincipal(
    displayName: string,
  ): Promise<{ principal: ServicePrincipalRecord; secret: string; credentialId: string }> {
    return this.principals.createServicePrincipal(displayName);
  }

  /** Every service principal, oldest first. */
  listServicePrincipals(): Promise<ServicePrincipalRecord[]> {
    return this.principals.listServicePrincipals();
  }

  /** The service principal with this object id, app id or display name (case-insensitive), or null. */
  findServicePrincipal(idOrName: string): Promise<ServicePrincipalRecord | null> {
    return this.principals.findServicePrincipal(idOrName);
  }

  /** Replaces every client secret of a service principal by one new one (the old ones, and access tokens minted from them, stop working at once). */
  resetServicePrincipalSecret(objectId: string): Promise<{ secret: string; credentialId: string }> {
    return this.principals.resetServicePrincipalSecret(objectId);
  }

  /** Deletes a service principal, its secrets (so its access tokens die), its portal sessions and its role assignments; false when there was none. */
  deleteServicePrincipal(objectId: string): Promise<boolean> {
    return this.principals.deleteServicePrincipal(objectId);
  }

  /** Stores a role assignment; 409 Conflict when its name is taken by another, or the same principal already has the role at that scope (ARM's RoleAssignmentExists). */
  createRoleAssignment(a: Omit<RoleAssignmentRecord, 'createdAt'>): Promise<RoleAssignmentRecord> {
    return this.principals.createRoleAssignment(a);
  }

  /** Every role assignment, optionally only those of some principal ids (a principal and its groups), oldest first. */
  listRoleAssignments(principalIds?: readonly string[]): Promise<RoleAssignmentRecord[]> {
    return this.principals.listRoleAssignments(principalIds);
  }

  /** Deletes a role assignment by name; the deleted one, or null. */
  deleteRoleAssignment(id: string): Promise<RoleAssignmentRecord | null> {
    return this.principals.deleteRoleAssignment(id);
  }

  // ---- join keys (join-keys.ts) --------------------------------------------------------------

  /** Creates a join key; returns its id and the key itself (shown once: only its hash is kept). */
  createJoinKey(k: NewJoinKey): Promise<{ id: string; key: string; row: JoinKeyRow }> {
    return this.joinKeys.createJoinKey(k);
  }

  /** Join keys of a resource group (or every one of the subscription), oldest first; optionally only those of one scale set. */
  listJoinKeys(filter: { subscriptionId: string; resourceGroup?: string; vmssKey?: string }): Promise<JoinKeyRow[]> {
    return this.joinKeys.listJoinKeys(filter);
  }

  /** Revokes a join key (new joins stop; hosts that joined keep their own credentials); null when there is none with this id. */
  revokeJoinKey(id: string): Promise<JoinKeyRow | null> {
    return this.joinKeys.revokeJoinKey(id);
  }

  /** Revokes every live join key of a scale set (a new `vmss extension set`, or the scale set deleted); returns how many. */
  revokeJoinKeysOfScaleSet(vmssKey: string): Promise<number> {
    return this.joinKeys.revokeJoinKeysOfScaleSet(vmssKey);
  }

  /**
   * Uses a join key, atomically: in one transaction the key's row is locked, checked (not revoked,
   * not expired, uses below max), `join` runs with a store bound to the same transaction, and the
   * use is counted. Two hosts racing for the last use cannot both get it; a `join` that throws
   * (a name in use) counts nothing and changes nothing.
   */
  useJoinKey<T>(
    key: string,
    join: (tx: Store, row: JoinKeyRow) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; refusal: JoinKeyRefusal; row: JoinKeyRow | null }> {
    return this.joinKeys.useJoinKey<T>(key, join);
  }

  // ---- capture instances (capture-instances.ts) ----------------------------------------------

  /** Records a host's capture state unless a newer one (higher sequence) is already kept. Returns true if stored. */
  upsertCaptureInstance(r: {
    captureUid: string;
    vmKey: string;
    captureKey: string;
    state: { sequence: number } & Record<string, unknown>;
  }): Promise<boolean> {
    return this.captureInstances.upsertCaptureInstance(r);
  }

  /**
   * As {@link Store.upsertCaptureInstance}, but only while the capture `captureKey` still exists
   * (a primary-key probe, so the capture's large body is never read): the report path of a fleet
   * capture (issue 14). False when nothing was stored (the capture is gone, or a newer state is kept).
   */
  upsertCaptureInstanceIfCaptureExists(r: {
    captureUid: string;
    vmKey: string;
    captureKey: string;
    state: { sequence: number } & Record<string, unknown>;
  }): Promise<boolean> {
    return this.captureInstances.upsertCaptureInstanceIfCaptureExists(r);
  }

  /** Per-host states of one capture. */
  listCaptureInstances<S>(captureUid: string): Promise<CaptureInstanceRecord<S>[]> {
    return this.captureInstances.listCaptureInstances<S>(captureUid);
  }

  /** Removes the per-host states of a capture. */
  deleteCaptureInstances(captureUid: string): Promise<void> {
    return this.captureInstances.deleteCaptureInstances(captureUid);
  }

  /** Capture sessions per host state with their packet and kernel-drop sums (for the Prometheus endpoint). */
  captureInstanceTotals(): Promise<
    Array<{ status: PacketCaptureStatus; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>
  > {
    return this.captureInstances.captureInstanceTotals();
  }

  // ---- operations (operations.ts) ------------------------------------------------------------

  /** Creates an operation document. */
  createOperation(op: NewOperation): Promise<OperationRecord> {
    return this.operations.createOperation(op);
  }

  /** Gets an operation document. */
  getOperation(id: string): Promise<OperationRecord | null> {
    return this.operations.getOperation(id);
  }

  /** Finishes every in-progress operation of a kind on a resource. */
  finishOperations(
    resourceKey: string,
    kind: OperationKind,
    outcome: { status: 'Succeeded' | 'Failed'; error?: { code: string; message: string }; result?: unknown },
  ): Promise<number> {
    return this.operations.finishOperations(resourceKey, kind, outcome);
  }

  /** The newest operation of a kind on a resource, finished or not. */
  latestOperation(resourceKey: string, kind: OperationKind): Promise<OperationRecord | null> {
    return this.operations.latestOperation(resourceKey, kind);
  }

  /** In-progress operations of a kind on a resource. */
  pendingOperations(resourceKey: string, kind: OperationKind): Promise<OperationRecord[]> {
    return this.operations.pendingOperations(resourceKey, kind);
  }

  // ---- host metrics (metrics.ts) -------------------------------------------------------------

  /**
   * Stores host metric reports, one row each (metric_raw: the values in HOST_METRICS order).
   * However many there are, each statement carries at most {@link METRIC_ROWS_PER_STATEMENT} rows
   * in one JSON parameter: never near PostgreSQL's 65,535-parameter limit, and never one long hold
   * of the embedded database. Throws when a statement fails; rows of earlier statements stay.
   */
  insertMetricSamples(samples: readonly MetricSampleRow[]): Promise<void> {
    return this.metrics.insertMetricSamples(samples);
  }

  /** Stores per-host, per-minute aggregates (metric_minutes), in statements of at most {@link METRIC_ROWS_PER_STATEMENT} rows. */
  insertMetricMinutes(minutes: readonly MetricMinuteRow[]): Promise<void> {
    return this.metrics.insertMetricMinutes(minutes);
  }

  /** Drops the remembered metric ids of the hosts `keep` says no (a later row of such a host reads its id again). */
  forgetMetricHostIds(keep: (vmKey: string) => boolean): void {
    this.metrics.forgetMetricHostIds(keep);
  }

  /** Metric host ids remembered now. */
  metricHostIdsCached(): number {
    return this.metrics.metricHostIdsCached();
  }

  /**
   * One metric of one host aggregated per time grain over [from, to): bucket start (ms since the
   * epoch, a multiple of grainInMs), total, count, minimum and maximum. Buckets without samples are
   * absent. Where the per-report rows were pruned (before {@link advanceMetricRawSince}), the
   * per-minute rows answer, each in the grain its minute starts in.
   */
  aggregateMetricSamples(
    vmKey: string,
    metricName: string,
    from: Date,
    to: Date,
    grainInMs: number,
  ): Promise<MetricBucketRow[]> {
    return this.metrics.aggregateMetricSamples(vmKey, metricName, from, to, grainInMs);
  }

  /** One metric aggregated over (from, to] for each of several hosts; hosts without samples are absent. Pruned spans are answered by minute as in {@link aggregateMetricSamples}. */
  aggregateMetricWindow(
    vmKeys: readonly string[],
    metricName: string,
    from: Date,
    to: Date,
  ): Promise<Map<string, Omit<MetricBucketRow, 'bucketStartInMs'>>> {
    return this.metrics.aggregateMetricWindow(vmKeys, metricName, from, to);
  }

  /** Moves where queries switch from per-minute to per-report rows forward, rolling the span passed up into per-minute rows (see MetricQueries.advanceMetricRawSince). */
  advanceMetricRawSince(since: Date, options?: MetricRollUpOptions): Promise<number> {
    return this.metrics.advanceMetricRawSince(since, options);
  }

  /** Deletes at most `limit` per-report rows older than `before`; returns how many. */
  pruneMetricSamplesBatch(before: Date, limit?: number): Promise<number> {
    return this.metrics.pruneMetricSamplesBatch(before, limit);
  }

  /** Deletes at most `limit` per-minute rows older than `before`; returns how many. */
  pruneMetricMinutesBatch(before: Date, limit?: number): Promise<number> {
    return this.metrics.pruneMetricMinutesBatch(before, limit);
  }

  /**
   * Deletes per-report rows older than `before` in batches of {@link METRIC_PRUNE_BATCH}, pausing
   * `pauseInMs` between them so other work runs in between; returns how many.
   */
  pruneMetricSamples(before: Date, pauseInMs?: number): Promise<number> {
    return this.metrics.pruneMetricSamples(before, pauseInMs);
  }

  /** Deletes per-minute rows older than `before`, in batches as {@link pruneMetricSamples}. */
  pruneMetricMinutes(before: Date, pauseInMs?: number): Promise<number> {
    return this.metrics.pruneMetricMinutes(before, pauseInMs);
  }

  /** Bytes the host metric tables take on disk (rows and indexes), for sizing. */
  metricStorageInBytes(): Promise<{ raw: number; minutes: number; rawRows: number; minuteRows: number }> {
    return this.metrics.metricStorageInBytes();
  }

  // ---- metric alerts, fired alerts, alert-triggered captures (alerts.ts) ---------------------

  /** Schedules a metric alert rule (or changes its frequency), first evaluation at `firstAt`. */
  scheduleAlertRule(ruleKey: string, frequencyInMs: number, firstAt: Date): Promise<void> {
    return this.alerts.scheduleAlertRule(ruleKey, frequencyInMs, firstAt);
  }

  /** Removes a rule's schedule and its per-target state (its alerts stay as history). */
  unscheduleAlertRule(ruleKey: string): Promise<void> {
    return this.alerts.unscheduleAlertRule(ruleKey);
  }

  /**
   * Claims the rules due at `now` and moves each one's next evaluation a period on (keeping its
   * phase; after a pause it restarts from now instead of catching up). Replicas of the server
   * share one database: the UPDATE lets exactly one of them claim each evaluation.
   */
  claimDueAlertRules(now: Date): Promise<string[]> {
    return this.alerts.claimDueAlertRules(now);
  }

  /** As {@link claimDueAlertRules}, with the earliest next evaluation after it (null: no rule scheduled), in one statement. */
  claimDueAlertRulesWithNext(now: Date): Promise<{ due: string[]; nextDueAt: Date | null }> {
    return this.alerts.claimDueAlertRulesWithNext(now);
  }

  /** Calls `listener` after every rule scheduled through this store (not a transaction's copy). */
  onAlertScheduleChanged(listener: () => void): void {
    this.alerts.onAlertScheduleChanged(listener);
  }

  /** Per-target evaluation state of a rule. */
  getAlertTargetStates<S>(ruleKey: string): Promise<Map<string, S>> {
    return this.alerts.getAlertTargetStates<S>(ruleKey);
  }

  /** Records the evaluation state of one target of a rule. */
  putAlertTargetState(ruleKey: string, targetKey: string, state: unknown): Promise<void> {
    return this.alerts.putAlertTargetState(ruleKey, targetKey, state);
  }

  /** Records a fired alert. */
  insertAlert<B>(alert: Omit<AlertRecord<B>, 'updatedAt' | 'notifications'>): Promise<void> {
    return this.alerts.insertAlert<B>(alert);
  }

  /** Changes an alert's condition and body; returns the new record, or null if it is gone. */
  updateAlert<B>(
    id: string,
    change: { monitorCondition: MonitorCondition; resolvedAt: Date | null; body: B },
  ): Promise<AlertRecord<B> | null> {
    return this.alerts.updateAlert<B>(id, change);
  }

  /** Appends delivery records to an alert (atomically: deliveries of one alert finish in any order). */
  appendAlertNotifications(id: string, entries: readonly unknown[]): Promise<void> {
    return this.alerts.appendAlertNotifications(id, entries);
  }

  /** One alert by id (case-insensitive). */
  getAlert<B>(id: string): Promise<AlertRecord<B> | null> {
    return this.alerts.getAlert<B>(id);
  }

  /** Alerts of a subscription, newest first, optionally of one rule, one target or one condition. */
  listAlerts<B>(filter: AlertFilter): Promise<AlertRecord<B>[]> {
    return this.alerts.listAlerts<B>(filter);
  }

  /**
   * Records a trigger of an alert-capture endpoint unless one with the same de-duplication key was
   * recorded (the same firing delivered twice). Returns false for such a duplicate.
   */
  insertAlertCaptureRun(run: NewAlertCaptureRun): Promise<boolean> {
    return this.alerts.insertAlertCaptureRun(run);
  }

  /** Changes a run (a new dedupeKey releases the old one); with `fromState`, only if it is still in that state (a claim). Returns whether it changed. */
  updateAlertCaptureRun(
    id: string,
    change: { state: AlertCaptureRunState; captureKey?: string | null; dedupeKey?: string; detail: unknown },
    fromState?: AlertCaptureRunState,
  ): Promise<boolean> {
    return this.alerts.updateAlertCaptureRun(id, change, fromState);
  }

  /** Runs of an alert-capture endpoint (or every endpoint), newest first, optionally in one state. */
  listAlertCaptureRuns<D>(filter?: {
    configKey?: string;
    /** One state, or any of several. */
    state?: AlertCaptureRunState | readonly AlertCaptureRunState[];
    limit?: number;
  }): Promise<AlertCaptureRunRecord<D>[]> {
    return this.alerts.listAlertCaptureRuns<D>(filter);
  }

  /** Deletes finished runs last changed before `before` (history retention); returns how many. */
  pruneAlertCaptureRuns(before: Date, finishedStates: readonly AlertCaptureRunState[]): Promise<number> {
    return this.alerts.pruneAlertCaptureRuns(before, finishedStates);
  }
}
