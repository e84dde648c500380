import { UsageError } from '../errors.js';

/**
 * az's metric alert condition (`--condition "total TCP Segments Sent > 100"`):
 * `AGGREGATION ["NAMESPACE".]METRIC OPERATOR THRESHOLD [with skipmetricvalidation]`, aggregation
 * one of avg, min, max, total, count; operator one of > >= < <= =. Metric names may hold spaces,
 * as in az ("avg Percentage CPU > 90"). Dimension (`where …`) and dynamic conditions are refused:
 * host metrics have no dimensions, and only static thresholds are evaluated.
 */

/** A parsed condition: one static criterion of a metric alert. */
export interface MetricAlertCondition {
  timeAggregation: 'Average' | 'Minimum' | 'Maximum' | 'Total' | 'Count';
  metricName: string;
  metricNamespace?: string;
  operator: 'GreaterThan' | 'GreaterThanOrEqual' | 'LessThan' | 'LessThanOrEqual' | 'Equals';
  threshold: number;
  skipMetricValidation: boolean;
}

const AGGREGATIONS: Record<string, MetricAlertCondition['timeAggregation']> = {
  avg: 'Average',
  average: 'Average',
  min: 'Minimum',
  minimum: 'Minimum',
  max: 'Maximum',
  maximum: 'Maximum',
  total: 'Total',
  count: 'Count',
};
const OPERATORS: Record<string, MetricAlertCondition['operator']> = {
  '>': 'GreaterThan',
  '>=': 'GreaterThanOrEqual',
  '<': 'LessThan',
  '<=': 'LessThanOrEqual',
  '=': 'Equals',
  '==': 'Equals',
};

const USAGE =
  'usage error: --condition "{avg,min,max,total,count} METRIC {>,>=,<,<=,=} THRESHOLD", e.g. "total TCP Segments Sent > 100"';

/**
 * Parses one `--condition`.
 * @example parseMetricAlertCondition('total TCP Segments Sent > 100').threshold // 100
 */
export function parseMetricAlertCondition(text: string): MetricAlertCondition {
  let rest = text.trim();
  let skipMetricValidation = false;
  const skip = /\s+with\s+skipmetricvalidation\s*$/i.exec(rest);
  if (skip) {
    skipMetricValidation = true;
    rest = rest.slice(0, skip.index);
  }
  if (/\s+where\s+/i.test(rest))
    throw new UsageError(`${USAGE}; 'where' dimension filters are not supported: host metrics have no dimensions`);
  if (/^dynamic\s/i.test(rest)) throw new UsageError(`${USAGE}; dynamic thresholds are not supported`);
  const m = /^(\S+)\s+(.+?)\s*(>=|<=|==|!=|>|<|=)\s*(\S+)$/.exec(rest);
  if (!m) throw new UsageError(`${USAGE} (got '${text}')`);
  const [, aggText, metricText, opText, thresholdText] = m;
  const timeAggregation = AGGREGATIONS[aggText!.toLowerCase()];
  if (!timeAggregation) throw new UsageError(`${USAGE}; '${aggText}' is not an aggregation`);
  const operator = OPERATORS[opText!];
  if (!operator) throw new UsageError(`${USAGE}; operator '${opText}' is not supported`);
  const threshold = Number(thresholdText);
  if (!Number.isFinite(threshold)) throw new UsageError(`${USAGE}; threshold '${thresholdText}' is not a number`);
  let metricName = metricText!.trim();
  let metricNamespace: string | undefined;
  const ns = /^"([^"]+)"\.(.+)$/.exec(metricName);
  if (ns) {
    metricNamespace = ns[1]!;
    metricName = ns[2]!.trim();
  }
  metricName = metricName.replace(/^"(.*)"$/, '$1');
  if (!metricName) throw new UsageError(`${USAGE}; the metric name is missing`);
  return {
    timeAggregation,
    metricName,
    ...(metricNamespace ? { metricNamespace } : {}),
    operator,
    threshold,
    skipMetricValidation,
  };
}
