import type { AgentMetricsConfig } from '../../agent/index.js';
import type { AgentCommandOptions } from './agent.js';
import { parseListenOption, parseSecondsOption } from '../option-values.js';
import { UsageError } from '../errors.js';
import { loadAgentStarter, type ServiceStarters } from '../services.js';

/** The host-metric options of `nw agent`. */
export type AgentMetricsOptions = Pick<AgentCommandOptions, 'metricsListen' | 'metricsInterval'>;

/**
 * The agent's metric settings from `nw agent`'s flags.
 * @example agentMetricsConfig({ metricsListen: '0.0.0.0:9100' }) // { metricsListen: { host: '0.0.0.0', port: 9100 } }
 */
export function agentMetricsConfig(options: AgentMetricsOptions): AgentMetricsConfig {
  const out: AgentMetricsConfig = {};
  if (options.metricsListen !== undefined) {
    try {
      out.metricsListen = parseListenOption(options.metricsListen);
    } catch {
      throw new UsageError(`argument --metrics-listen: expected HOST:PORT, got '${options.metricsListen}'`);
    }
  }
  const seconds = parseSecondsOption('--metrics-interval', options.metricsInterval);
  if (seconds !== undefined) {
    if (seconds < 0.1 || seconds > 3600)
      throw new UsageError('argument --metrics-interval: must be between 0.1 and 3600 seconds');
    out.metricsIntervalInMs = Math.round(seconds * 1000);
  }
  return out;
}

/**
 * The agent starter with the metric settings added to the configuration `nw agent` builds, so
 * `runAgent` needs no change to pass them on.
 */
export function withAgentMetrics(
  options: AgentMetricsOptions,
  starters?: Pick<ServiceStarters, 'startAgent'>,
): Pick<ServiceStarters, 'startAgent'> {
  const metrics = agentMetricsConfig(options);
  return {
    startAgent: async (config) => {
      const base = starters ?? (await loadAgentStarter());
      return base.startAgent({ ...config, ...metrics });
    },
  };
}
