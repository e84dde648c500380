import type { FastifyRequest } from 'fastify';
import { SERVER_DEFAULTS, type ServerConfig } from './config.js';

/**
 * Clients that wait for Retry-After: azure-core for Python (the Python SDK, `azsdk-python-…`),
 * the Azure CLI (`AZURECLI/…`, built on it) and msrest-based SDKs. Without the header they wait
 * 30 s between polls, and az has no switch for it (measured with az 2.45; test/az-api.test.ts).
 * Everyone else gets none: the JS SDK, `nw` and scripts poll at their caller's interval
 * (`updateIntervalInMs`, `--interval`), which a Retry-After would override.
 */
const RETRY_AFTER_USER_AGENTS = [/\bazsdk-python-/i, /\bAZURECLI\//i, /\bmsrest\//i];

/** The Retry-After (seconds) of a long-running answer, or null for none; 0 in the configuration turns it off. */
export function retryAfterFor(
  config: Pick<ServerConfig, 'retryAfterInSeconds'>,
  request: FastifyRequest,
): number | null {
  const seconds = config.retryAfterInSeconds ?? SERVER_DEFAULTS.retryAfterInSeconds;
  if (seconds <= 0) return null;
  const agent = request.headers['user-agent'];
  return typeof agent === 'string' && RETRY_AFTER_USER_AGENTS.some((re) => re.test(agent)) ? seconds : null;
}
