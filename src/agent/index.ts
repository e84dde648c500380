export { startAgent, AgentStartError, type RunningAgent } from './agent.js';
export { AGENT_DEFAULTS, type AgentConfig } from './config.js';
export { DEFAULT_METRICS_INTERVAL_IN_MS, type AgentMetricsConfig } from './metrics.js';
