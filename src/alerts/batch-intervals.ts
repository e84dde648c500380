import type { ResourceRecord } from '../store/index.js';
import { scopeMatcher, type HostInfo } from './hosts.js';
import { toleratedBatchIntervalInSeconds, type MetricAlertBody } from './metric-alerts.js';

/** A rule that needs a shorter batch interval than the configured one: its scopes and that interval. */
interface FastRule {
  scopes: readonly string[];
  intervalInSeconds: number;
}

/**
 * The metric batch interval each host should use (issue 17): the shortest one tolerated by the
 * enabled metric alert rules whose scopes contain it ({@link toleratedBatchIntervalInSeconds}),
 * else the configured one (`maxInSeconds`, also the upper bound). Built from the rule list once
 * per change, so a reconnect storm's 10,000 hellos cost no database read: a host is matched
 * against the scopes of only the rules that ask for less than the configured interval (fastest
 * first, the first match decides), with the evaluator's own scope rule ({@link scopeMatcher},
 * each scope parsed once per change).
 * Nothing per host is kept: a VM created, deleted or re-tagged changes nothing here (a scope
 * names VMs by id, resource group and subscription, which a VM never changes).
 */
export class MetricBatchIntervals {
  private fast: Array<{ matches: Array<(host: HostInfo) => boolean>; intervalInSeconds: number }> = [];
  private signature = '[]';

  constructor(readonly maxInSeconds: number) {}

  /**
   * Takes the current rule list (every metric alert rule; disabled ones are skipped); true when
   * what it asks of hosts changed (hosts may have to be told a new interval).
   */
  setRules(rules: ReadonlyArray<ResourceRecord<MetricAlertBody>>): boolean {
    const fast = rules
      .filter((r) => r.body.properties.enabled)
      .map((r) => ({
        scopes: r.body.properties.scopes,
        intervalInSeconds: toleratedBatchIntervalInSeconds(r.body, this.maxInSeconds),
      }))
      .filter((r) => r.intervalInSeconds < this.maxInSeconds)
      .sort(
        (a, b) => a.intervalInSeconds - b.intervalInSeconds || a.scopes.join('\n').localeCompare(b.scopes.join('\n')),
      );
    const signature = JSON.stringify(fast);
    if (signature === this.signature) return false;
    this.fast = fast.map((r) => ({ matches: r.scopes.map(scopeMatcher), intervalInSeconds: r.intervalInSeconds }));
    this.signature = signature;
    return true;
  }

  /** The interval a host should use now. */
  intervalOf(host: HostInfo): number {
    for (const rule of this.fast) if (rule.matches.some((m) => m(host))) return rule.intervalInSeconds;
    return this.maxInSeconds;
  }
}
