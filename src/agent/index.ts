export { startAgent, AgentStartError, type RunningAgent } from './agent.js';
export { AGENT_DEFAULTS, type AgentConfig } from './config.js';
