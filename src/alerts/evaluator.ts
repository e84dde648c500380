import { randomUUID } from 'node:crypto';
import type { MonitorCondition } from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import { aggregateWindow, meetsThreshold } from './condition.js';
import type { AlertsContext } from './context.js';
import type { NotificationDispatcher } from './dispatcher.js';
import { hostsInScopes, type HostInfo } from './hosts.js';
import { ruleTiming, toleratedBatchIntervalInSeconds, type MetricAlertBody } from './metric-alerts.js';
import type { AlertNotice, NoticeCriterion } from './payloads.js';

/**
 * Azure resolves a stateful metric alert once its condition has been false for three evaluations
 * in a row, so one quiet sample does not flap it.
 */
export const HEALTHY_EVALUATIONS_TO_RESOLVE = 3;

/** How often the evaluator may look for due rules (a rule's own period is its evaluationFrequency). */
export const EVALUATOR_TICK_IN_MS = 100;

/**
 * The longest the evaluator goes without looking at the schedule when nothing is due sooner: a
 * rule scheduled through another replica is seen within it (one scheduled through this one at
 * once). Between, ticks ask the database nothing — 10 statements a second for no rule was most of
 * an idle server's database traffic (bench/scale/idle.ts).
 */
export const EVALUATOR_IDLE_LOOK_IN_MS = 1_000;

/** Evaluation state of one target of a rule (written when it changes). */
export interface AlertTargetState {
  /** The open (Fired) alert, or null. */
  alertId: string | null;
  healthyEvaluations: number;
  /** The values and time of the evaluation that changed it. */
  lastValues: Array<number | null>;
  lastEvaluatedAt: string;
}

/** What is stored with a fired alert: enough to rebuild its payloads and show it. */
export interface StoredAlertBody {
  rule: AlertNotice['rule'];
  host: HostInfo;
  /** Criteria with the values that fired it. */
  criteria: NoticeCriterion[];
  /** Criteria with the values when it resolved. */
  resolvedCriteria: NoticeCriterion[] | null;
  windowStart: string;
  windowEnd: string;
  severity: number;
}

/**
 * Evaluates metric alert rules on their schedule: per target host, each criterion's aggregation
 * over the window ending now; all criteria met fires an alert (once), and an open alert resolves
 * after {@link HEALTHY_EVALUATIONS_TO_RESOLVE} evaluations without (when autoMitigate is on).
 * Fired and Resolved go to the rule's action groups through the dispatcher.
 */
export class MetricAlertEvaluator {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  /** Before this, no rule is due (the last claim said when the next one is): ticks skip the database. */
  private nextLookAtInMs = 0;
  /** Moves on every schedule change here: a claim that overlapped one does not set {@link nextLookAtInMs}. */
  private scheduleGeneration = 0;

  constructor(
    private readonly actx: AlertsContext,
    private readonly dispatcher: NotificationDispatcher,
    private readonly tickInMs = EVALUATOR_TICK_IN_MS,
    /**
     * The configured metric batch interval (`--agent-metrics-batch-seconds`, issue 17); 1 when
     * agents send every sample as it is taken. See {@link windowLagInMs}.
     */
    private readonly maxBatchIntervalInSeconds = 1,
  ) {
    // A rule created, enabled or rescheduled here is looked at on the next tick, not a second later.
    actx.store.onAlertScheduleChanged(() => {
      this.scheduleGeneration++;
      this.nextLookAtInMs = 0;
    });
  }

  /**
   * How long before the evaluation a rule's window ends: its tolerated batch interval less one
   * second ({@link toleratedBatchIntervalInSeconds}; a batch leaves as its last sample is taken,
   * so its oldest arrives that much late). Every host in the rule's scope is told to send at
   * least that often, so no sample still on its way is missed — 0 for a 1-second rule (alert →
   * capture under 3 s), at most 4 s of a PT1M rule's period at the default 5 s.
   */
  windowLagInMs(body: MetricAlertBody): number {
    return (toleratedBatchIntervalInSeconds(body, this.maxBatchIntervalInSeconds) - 1) * 1000;
  }

  /** Starts evaluating. */
  start(): void {
    this.timer = setInterval(() => {
      // One tick at a time: a slow database must not pile evaluations up.
      this.running = this.running.then(() => (this.closed ? undefined : this.tick()));
    }, this.tickInMs);
    this.timer.unref();
  }

  /**
   * Evaluates every rule due at `now`. Asks the database only when a rule may be due: at the
   * earliest next evaluation the last claim returned, and at least every
   * {@link EVALUATOR_IDLE_LOOK_IN_MS}.
   */
  async tick(now: Date = new Date()): Promise<void> {
    if (now.getTime() < this.nextLookAtInMs) return;
    let due: string[];
    try {
      const generation = this.scheduleGeneration;
      const claim = await this.actx.store.claimDueAlertRulesWithNext(now);
      due = claim.due;
      if (generation === this.scheduleGeneration)
        this.nextLookAtInMs = Math.min(
          claim.nextDueAt?.getTime() ?? Number.POSITIVE_INFINITY,
          now.getTime() + EVALUATOR_IDLE_LOOK_IN_MS,
        );
    } catch (error) {
      this.actx.logger.error({ err: error }, 'could not read the alert rule schedule');
      return;
    }
    for (const ruleKey of due) {
      try {
        await this.evaluateRule(ruleKey, now);
        this.actx.telemetry.evaluations.inc({ outcome: 'Succeeded' });
      } catch (error) {
        this.actx.telemetry.evaluations.inc({ outcome: 'Failed' });
        this.actx.logger.error({ err: error, rule: ruleKey }, 'evaluating a metric alert rule failed');
      }
    }
  }

  /** Evaluates one rule at `now`. */
  async evaluateRule(ruleKey: string, now: Date): Promise<void> {
    const rule = await this.actx.store.getResource<MetricAlertBody>(ruleKey);
    if (!rule || rule.type !== 'metricAlert') {
      await this.actx.store.unscheduleAlertRule(ruleKey);
      return;
    }
    const p = rule.body.properties;
    if (!p.enabled) return;
    const { windowSizeInSeconds } = ruleTiming(rule.body);
    const windowEnd = new Date(now.getTime() - this.windowLagInMs(rule.body));
    const windowStart = new Date(windowEnd.getTime() - windowSizeInSeconds * 1000);
    const targets = hostsInScopes(await this.actx.listHosts(), p.scopes);
    const keys = targets.map((t) => t.key);
    const stats = await Promise.all(
      p.criteria.allOf.map((c) => this.actx.store.aggregateMetricWindow(keys, c.metricName, windowStart, windowEnd)),
    );
    const states = await this.actx.store.getAlertTargetStates<AlertTargetState>(rule.key);

    for (const host of targets) {
      const values = p.criteria.allOf.map((c, i) => aggregateWindow(c.timeAggregation, stats[i]!.get(host.key)));
      const met = p.criteria.allOf.every((c, i) => meetsThreshold(c.operator, values[i]!, c.threshold));
      const previous = states.get(host.key) ?? {
        alertId: null,
        healthyEvaluations: 0,
        lastValues: [],
        lastEvaluatedAt: '',
      };
      const criteria: NoticeCriterion[] = p.criteria.allOf.map((c, i) => ({
        name: c.name,
        metricName: c.metricName,
        metricNamespace: c.metricNamespace,
        operator: c.operator,
        threshold: c.threshold,
        timeAggregation: c.timeAggregation,
        metricValue: values[i]!,
      }));
      let next: AlertTargetState = { ...previous, lastValues: values, lastEvaluatedAt: now.toISOString() };
      if (met && !previous.alertId) {
        next = {
          ...next,
          alertId: await this.fire(rule, host, criteria, windowStart, windowEnd, now, targets.length),
          healthyEvaluations: 0,
        };
      } else if (met) {
        next = { ...next, healthyEvaluations: 0 };
      } else if (previous.alertId) {
        const healthy = previous.healthyEvaluations + 1;
        if (p.autoMitigate && healthy >= HEALTHY_EVALUATIONS_TO_RESOLVE) {
          await this.resolve(rule, previous.alertId, criteria, now);
          next = { ...next, alertId: null, healthyEvaluations: 0 };
        } else {
          next = { ...next, healthyEvaluations: healthy };
        }
      }
      // Only changes are written: a rule every second on many hosts must not rewrite them all.
      if (next.alertId !== previous.alertId || next.healthyEvaluations !== previous.healthyEvaluations) {
        await this.actx.store.putAlertTargetState(rule.key, host.key, next);
      }
    }
  }

  private notice(
    rule: ResourceRecord<MetricAlertBody>,
    alertId: string,
    body: StoredAlertBody,
    condition: MonitorCondition,
    firedAt: Date,
    resolvedAt: Date | null,
    criteria: NoticeCriterion[],
    windowStart: Date,
    windowEnd: Date,
  ): AlertNotice {
    return {
      alertId,
      subscriptionId: rule.subscriptionId,
      rule: body.rule,
      criteria,
      host: body.host,
      monitorCondition: condition,
      firedAt,
      resolvedAt,
      windowStart,
      windowEnd,
      customProperties: null,
      baseUrl: this.actx.baseUrl(),
    };
  }

  private async fire(
    rule: ResourceRecord<MetricAlertBody>,
    host: HostInfo,
    criteria: NoticeCriterion[],
    windowStart: Date,
    windowEnd: Date,
    now: Date,
    scopeCount: number,
  ): Promise<string> {
    const alertId = randomUUID();
    const p = rule.body.properties;
    const body: StoredAlertBody = {
      rule: {
        id: rule.id,
        name: rule.name,
        resourceGroup: rule.resourceGroup,
        description: p.description,
        severity: p.severity,
        windowSizeInSeconds: ruleTiming(rule.body).windowSizeInSeconds,
        scopeCount,
      },
      host,
      criteria,
      resolvedCriteria: null,
      windowStart: windowStart.toISOString(),
      windowEnd: windowEnd.toISOString(),
      severity: p.severity,
    };
    await this.actx.store.insertAlert<StoredAlertBody>({
      id: alertId,
      subscriptionId: rule.subscriptionId,
      ruleKey: rule.key,
      targetKey: host.key,
      monitorCondition: 'Fired',
      firedAt: now,
      resolvedAt: null,
      body,
    });
    this.actx.telemetry.transitions.inc({ monitor_condition: 'Fired' });
    this.actx.logger.info(
      { rule: rule.id, target: host.id, alert: alertId, values: criteria.map((c) => c.metricValue) },
      'metric alert fired',
    );
    this.dispatcher.dispatch(
      rule.body,
      this.notice(rule, alertId, body, 'Fired', now, null, criteria, windowStart, windowEnd),
    );
    return alertId;
  }

  private async resolve(
    rule: ResourceRecord<MetricAlertBody>,
    alertId: string,
    criteria: NoticeCriterion[],
    now: Date,
  ): Promise<void> {
    const alert = await this.actx.store.getAlert<StoredAlertBody>(alertId);
    if (!alert) return;
    const body = { ...alert.body, resolvedCriteria: criteria };
    await this.actx.store.updateAlert<StoredAlertBody>(alertId, {
      monitorCondition: 'Resolved',
      resolvedAt: now,
      body,
    });
    this.actx.telemetry.transitions.inc({ monitor_condition: 'Resolved' });
    this.actx.logger.info({ rule: rule.id, alert: alertId }, 'metric alert resolved');
    const windowEnd = new Date(now.getTime() - this.windowLagInMs(rule.body));
    const windowStart = new Date(windowEnd.getTime() - body.rule.windowSizeInSeconds * 1000);
    this.dispatcher.dispatch(
      rule.body,
      this.notice(rule, alertId, body, 'Resolved', alert.firedAt, now, criteria, windowStart, windowEnd),
    );
  }

  /** Stops the schedule and waits for the evaluation under way. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
