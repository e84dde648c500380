import { ArmClient } from './arm-client.js';
import type { CliContext, CommonOptions } from './context.js';
import { NotLoggedInError } from './errors.js';

/** The client and subscription a server command works with. */
export interface ConnectedClient {
  client: ArmClient;
  subscriptionId: string;
  pollIntervalInMs: number;
}

/** Default interval between polls of a long-running operation. */
export const DEFAULT_POLL_INTERVAL_IN_MS = 500;

/**
 * Builds the ARM client from the configuration and the common options (`--subscription`,
 * `--debug`); throws NotLoggedInError when no server or token is configured.
 */
export function connect(ctx: CliContext, options: CommonOptions): ConnectedClient {
  const { server, token } = ctx.config;
  if (!server || !token) throw new NotLoggedInError();
  const client = new ArmClient({
    serverUrl: server,
    token,
    fetch: ctx.fetch,
    debug: options.debug ? ctx.err : undefined,
  });
  return {
    client,
    subscriptionId: options.subscription ?? ctx.config.subscriptionId,
    pollIntervalInMs: ctx.pollIntervalInMs ?? DEFAULT_POLL_INTERVAL_IN_MS,
  };
}
