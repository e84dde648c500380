import type { Row } from './db.js';
import type { AlertCaptureRunState, MonitorCondition } from '../model/alerts.js';
import { asDate, asJson, type StoreCore } from './store-core.js';

/** Metric-alert schedules and states, fired alerts and alert-capture runs: the {@link Store}'s methods for them. */
export class AlertQueries {
  constructor(private readonly core: StoreCore) {}

  private readonly scheduleListeners: Array<() => void> = [];

  /** Calls `listener` after every schedule change made through this store (the evaluator looks at the schedule again at once). */
  onAlertScheduleChanged(listener: () => void): void {
    this.scheduleListeners.push(listener);
  }

  /** Schedules a metric alert rule (or changes its frequency), first evaluation at `firstAt`. */
  async scheduleAlertRule(ruleKey: string, frequencyInMs: number, firstAt: Date): Promise<void> {
    await this.core.db.query(
      `INSERT INTO alert_rule_schedule (rule_key, frequency_ms, next_evaluation_at) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key) DO UPDATE SET frequency_ms = EXCLUDED.frequency_ms, next_evaluation_at = EXCLUDED.next_evaluation_at`,
      [ruleKey.toLowerCase(), Math.round(frequencyInMs), firstAt],
    );
    for (const listener of this.scheduleListeners) listener();
  }

  /** Removes a rule's schedule and its per-target state (its alerts stay as history). */
  async unscheduleAlertRule(ruleKey: string): Promise<void> {
    await this.core.db.query('DELETE FROM alert_rule_schedule WHERE rule_key = $1', [ruleKey.toLowerCase()]);
    await this.core.db.query('DELETE FROM alert_targets WHERE rule_key = $1', [ruleKey.toLowerCase()]);
  }

  /**
   * Claims the rules due at `now` and moves each one's next evaluation a period on (keeping its
   * phase; after a pause it restarts from now instead of catching up). Replicas of the server
   * share one database: the UPDATE lets exactly one of them claim each evaluation.
   */
  async claimDueAlertRules(now: Date): Promise<string[]> {
    return (await this.claimDueAlertRulesWithNext(now)).due;
  }

  /**
   * As {@link claimDueAlertRules}, and in the same statement the earliest next evaluation of any
   * rule after it (null: no rule is scheduled), so an evaluator knows how long nothing is due.
   */
  async claimDueAlertRulesWithNext(now: Date): Promise<{ due: string[]; nextDueAt: Date | null }> {
    const rows = await this.core.db.query(
      `WITH claimed AS (
         UPDATE alert_rule_schedule
         SET next_evaluation_at = CASE WHEN next_evaluation_at + frequency_ms * interval '1 millisecond' > $1::timestamptz
                                       THEN next_evaluation_at + frequency_ms * interval '1 millisecond'
                                       ELSE $1::timestamptz + frequency_ms * interval '1 millisecond' END
         WHERE next_evaluation_at <= $1 RETURNING rule_key, next_evaluation_at)
       SELECT rule_key, NULL::timestamptz AS next_at FROM claimed
       UNION ALL
       -- The rows not claimed keep their time; the claimed ones have their new one (a statement's
       -- reads do not see its own UPDATE, hence both).
       SELECT NULL, least((SELECT min(next_evaluation_at) FROM claimed),
                          (SELECT min(next_evaluation_at) FROM alert_rule_schedule WHERE next_evaluation_at > $1))`,
      [now],
    );
    const due: string[] = [];
    let nextDueAt: Date | null = null;
    for (const r of rows) {
      if (r.rule_key !== null && r.rule_key !== undefined) due.push(String(r.rule_key));
      else if (r.next_at !== null && r.next_at !== undefined) nextDueAt = asDate(r.next_at);
    }
    return { due, nextDueAt };
  }

  /** Per-target evaluation state of a rule. */
  async getAlertTargetStates<S>(ruleKey: string): Promise<Map<string, S>> {
    const rows = await this.core.db.query('SELECT target_key, state FROM alert_targets WHERE rule_key = $1', [
      ruleKey.toLowerCase(),
    ]);
    return new Map(rows.map((r) => [String(r.target_key), asJson(r.state) as S]));
  }

  /** Records the evaluation state of one target of a rule. */
  async putAlertTargetState(ruleKey: string, targetKey: string, state: unknown): Promise<void> {
    await this.core.db.query(
      `INSERT INTO alert_targets (rule_key, target_key, state) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key, target_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [ruleKey.toLowerCase(), targetKey.toLowerCase(), JSON.stringify(state)],
    );
  }

  /** Records a fired alert. */
  async insertAlert<B>(alert: Omit<AlertRecord<B>, 'updatedAt' | 'notifications'>): Promise<void> {
    await this.core.db.query(
      'INSERT INTO alerts (id, subscription_id, rule_key, target_key, monitor_condition, fired_at, resolved_at, body) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
      [
        alert.id,
        alert.subscriptionId,
        alert.ruleKey.toLowerCase(),
        alert.targetKey.toLowerCase(),
        alert.monitorCondition,
        alert.firedAt,
        alert.resolvedAt,
        JSON.stringify(alert.body),
      ],
    );
  }

  /** Changes an alert's condition and body; returns the new record, or null if it is gone. */
  async updateAlert<B>(
    id: string,
    change: { monitorCondition: MonitorCondition; resolvedAt: Date | null; body: B },
  ): Promise<AlertRecord<B> | null> {
    const rows = await this.core.db.query(
      'UPDATE alerts SET monitor_condition = $2, resolved_at = $3, body = $4, updated_at = now() WHERE id = $1 RETURNING *',
      [id, change.monitorCondition, change.resolvedAt, JSON.stringify(change.body)],
    );
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Appends delivery records to an alert (atomically: deliveries of one alert finish in any order). */
  async appendAlertNotifications(id: string, entries: readonly unknown[]): Promise<void> {
    if (entries.length === 0) return;
    await this.core.db.query('UPDATE alerts SET notifications = notifications || $2::jsonb WHERE id = $1', [
      id,
      JSON.stringify(entries),
    ]);
  }

  /** One alert by id (case-insensitive). */
  async getAlert<B>(id: string): Promise<AlertRecord<B> | null> {
    const rows = await this.core.db.query('SELECT * FROM alerts WHERE lower(id) = lower($1)', [id]);
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Alerts of a subscription, newest first, optionally of one rule, one target or one condition. */
  async listAlerts<B>(filter: AlertFilter): Promise<AlertRecord<B>[]> {
    const where = ['lower(subscription_id) = $1'];
    const params: unknown[] = [filter.subscriptionId.toLowerCase()];
    if (filter.ruleKey) {
      params.push(filter.ruleKey.toLowerCase());
      where.push(`rule_key = $${params.length}`);
    }
    if (filter.targetKey) {
      params.push(filter.targetKey.toLowerCase());
      where.push(`target_key = $${params.length}`);
    }
    if (filter.monitorCondition) {
      params.push(filter.monitorCondition.toLowerCase());
      where.push(`lower(monitor_condition) = $${params.length}`);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.core.db.query(
      `SELECT * FROM alerts WHERE ${where.join(' AND ')} ORDER BY fired_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => toAlert<B>(r));
  }

  /**
   * Records a trigger of an alert-capture endpoint unless one with the same de-duplication key was
   * recorded (the same firing delivered twice). Returns false for such a duplicate.
   */
  async insertAlertCaptureRun(run: NewAlertCaptureRun): Promise<boolean> {
    const rows = await this.core.db.query(
      `INSERT INTO alert_capture_runs (id, config_key, dedupe_key, state, capture_key, detail) VALUES ($1,$2,$3,$4,$5,$6)
       ON CONFLICT (config_key, dedupe_key) DO NOTHING RETURNING id`,
      [
        run.id,
        run.configKey.toLowerCase(),
        run.dedupeKey,
        run.state,
        run.captureKey?.toLowerCase() ?? null,
        JSON.stringify(run.detail),
      ],
    );
    return rows.length > 0;
  }

  /** Changes a run (a new dedupeKey releases the old one); with `fromState`, only if it is still in that state (a claim). Returns whether it changed. */
  async updateAlertCaptureRun(
    id: string,
    change: { state: AlertCaptureRunState; captureKey?: string | null; dedupeKey?: string; detail: unknown },
    fromState?: AlertCaptureRunState,
  ): Promise<boolean> {
    const params: unknown[] = [id, change.state, JSON.stringify(change.detail)];
    let sets = 'state = $2, detail = $3, updated_at = now()';
    if (change.captureKey !== undefined) {
      params.push(change.captureKey?.toLowerCase() ?? null);
      sets += `, capture_key = $${params.length}`;
    }
    if (change.dedupeKey !== undefined) {
      params.push(change.dedupeKey);
      sets += `, dedupe_key = $${params.length}`;
    }
    let where = 'id = $1';
    if (fromState !== undefined) {
      params.push(fromState);
      where += ` AND state = $${params.length}`;
    }
    return (
      (await this.core.db.query(`UPDATE alert_capture_runs SET ${sets} WHERE ${where} RETURNING id`, params)).length > 0
    );
  }

  /** Runs of an alert-capture endpoint (or every endpoint), newest first, optionally in one state. */
  async listAlertCaptureRuns<D>(
    filter: { configKey?: string; state?: AlertCaptureRunState | readonly AlertCaptureRunState[]; limit?: number } = {},
  ): Promise<AlertCaptureRunRecord<D>[]> {
    const where: string[] = ['true'];
    const params: unknown[] = [];
    if (filter.configKey) {
      params.push(filter.configKey.toLowerCase());
      where.push(`config_key = $${params.length}`);
    }
    if (filter.state) {
      params.push(typeof filter.state === 'string' ? [filter.state] : [...filter.state]);
      where.push(`state = ANY($${params.length}::text[])`);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.core.db.query(
      `SELECT * FROM alert_capture_runs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      configKey: String(r.config_key),
      dedupeKey: String(r.dedupe_key),
      state: r.state as AlertCaptureRunState,
      captureKey: (r.capture_key as string | null) ?? null,
      detail: asJson(r.detail) as D,
      createdAt: asDate(r.created_at),
      updatedAt: asDate(r.updated_at),
    }));
  }

  /** Deletes finished runs last changed before `before` (history retention); returns how many. */
  async pruneAlertCaptureRuns(before: Date, finishedStates: readonly AlertCaptureRunState[]): Promise<number> {
    return (
      await this.core.db.query(
        'DELETE FROM alert_capture_runs WHERE updated_at < $1 AND state = ANY($2::text[]) RETURNING 1',
        [before, [...finishedStates]],
      )
    ).length;
  }
}

/** A fired (and maybe resolved) metric alert. */
export interface AlertRecord<B = Record<string, unknown>> {
  id: string;
  subscriptionId: string;
  ruleKey: string;
  targetKey: string;
  monitorCondition: MonitorCondition;
  firedAt: Date;
  resolvedAt: Date | null;
  body: B;
  /** Webhook deliveries of its notifications, oldest first. */
  notifications: unknown[];
  updatedAt: Date;
}

/** One trigger of an alert-capture endpoint and what came of it. */
export interface AlertCaptureRunRecord<D = Record<string, unknown>> {
  id: string;
  configKey: string;
  dedupeKey: string;
  state: AlertCaptureRunState;
  captureKey: string | null;
  detail: D;
  createdAt: Date;
  updatedAt: Date;
}

/** Which alerts to list: a subscription's, optionally of one rule, one target or one condition (any case), at most `limit` (1,000). */
export interface AlertFilter {
  subscriptionId: string;
  ruleKey?: string;
  targetKey?: string;
  monitorCondition?: string;
  limit?: number;
}

/** A new trigger of an alert-capture endpoint. */
export type NewAlertCaptureRun = Omit<AlertCaptureRunRecord<unknown>, 'createdAt' | 'updatedAt'>;

function toAlert<B>(r: Row): AlertRecord<B> {
  return {
    id: String(r.id),
    subscriptionId: String(r.subscription_id),
    ruleKey: String(r.rule_key),
    targetKey: String(r.target_key),
    monitorCondition: r.monitor_condition as MonitorCondition,
    firedAt: asDate(r.fired_at),
    resolvedAt: r.resolved_at ? asDate(r.resolved_at) : null,
    body: asJson(r.body) as B,
    notifications: (asJson(r.notifications) as unknown[] | null) ?? [],
    updatedAt: asDate(r.updated_at),
  };
}
