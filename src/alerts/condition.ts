import type { MetricAggregation, MetricAlertOperator } from '../model/index.js';

/** What a window of samples holds for one metric of one host. */
export interface WindowStats {
  total: number;
  count: number;
  minimum: number;
  maximum: number;
}

/**
 * A window's value under an aggregation, or null when the host sent nothing in it (Azure does not
 * evaluate a resource without data; such a window neither fires nor keeps an alert firing).
 * @example aggregateWindow('Total', { total: 120, count: 5, minimum: 0, maximum: 80 }) // 120
 */
export function aggregateWindow(aggregation: MetricAggregation, stats: WindowStats | undefined): number | null {
  if (!stats || stats.count === 0) return null;
  switch (aggregation) {
    case 'Total':
      return stats.total;
    case 'Count':
      return stats.count;
    case 'Average':
      return stats.total / stats.count;
    case 'Minimum':
      return stats.minimum;
    case 'Maximum':
      return stats.maximum;
  }
}

/**
 * Whether a value meets a static threshold; a missing value never does.
 * @example meetsThreshold('GreaterThan', 120, 100) // true
 */
export function meetsThreshold(operator: MetricAlertOperator, value: number | null, threshold: number): boolean {
  if (value === null) return false;
  switch (operator) {
    case 'GreaterThan':
      return value > threshold;
    case 'GreaterThanOrEqual':
      return value >= threshold;
    case 'LessThan':
      return value < threshold;
    case 'LessThanOrEqual':
      return value <= threshold;
    case 'Equals':
      return value === threshold;
  }
}
