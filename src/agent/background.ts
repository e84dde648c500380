import type { Logger } from '../lib/index.js';

/**
 * Lets `work` run on without waiting for it, and logs it if it fails: the agent's background jobs
 * (uploads, stops, a session's end) report their expected failures as states, so a rejection here
 * is a defect to see in the log, never an unhandled rejection that ends the agent process.
 */
export function inBackground(logger: Logger, what: string, work: Promise<unknown>): void {
  work.catch((error: unknown) => logger.error({ err: error }, `${what} failed unexpectedly`));
}
