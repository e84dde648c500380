import type { FastifyRequest } from 'fastify';
import { SERVER_DEFAULTS, type ServerConfig } from './config.js';

/**
 * Clients whose pollers wait the caller's own interval (`updateIntervalInMs` of the JS SDK,
 * `nw`'s poll interval): a Retry-After would override it (core-lro obeys it), so they get none.
 */
const SELF_PACED_USER_AGENTS = [/\bazsdk-js-/i, /^netwatcher-cli\b/i];

/**
 * The Retry-After (seconds) of a long-running answer, or null for none. azure-core for Python
 * (so az and the Python SDK) waits 30 s between polls when an answer has none, and az has no
 * switch for it (reference/azure-cli-wire-notes.md §3.5); 0 in the configuration turns it off.
 */
export function retryAfterFor(config: Pick<ServerConfig, 'retryAfterInSeconds'>, request: FastifyRequest): number | null {
  const seconds = config.retryAfterInSeconds ?? SERVER_DEFAULTS.retryAfterInSeconds;
  if (seconds <= 0) return null;
  const agent = request.headers['user-agent'];
  if (typeof agent === 'string' && SELF_PACED_USER_AGENTS.some((re) => re.test(agent))) return null;
  return seconds;
}
