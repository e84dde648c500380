import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ArmClient } from '../arm-client.js';
import { watcherListPath } from '../arm-paths.js';
import { createCaFetch } from '../ca-fetch.js';
import { DEFAULT_SUBSCRIPTION_ID, normalizeServerUrl, saveCliConfig, type CliConfig } from '../config.js';
import type { CliContext, CommonOptions } from '../context.js';
import { ApiError, CliError, UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';

/** Options of `nw login`. */
export interface LoginOptions extends CommonOptions {
  /** Server base URL. */
  server?: string;
  /** Bearer token (the admin token `nw server` printed, or one issued later). */
  token?: string;
  /** PEM file of the CA that signed the server's certificate. */
  caFile?: string;
}

/**
 * `nw login`: checks the token with a GET, then saves server, token, subscription and CA file
 * to the config file (mode 0600). Prints what was saved, without the token.
 * @example await login({ server: 'https://nw.example:8817', token: 't0k3n' }, ctx);
 */
export async function login(options: LoginOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const server = normalizeServerUrl(requireOption('--server', options.server));
  const token = requireOption('--token', options.token);
  if (!/^https?:\/\//i.test(server)) throw new UsageError(`argument --server: expected an http:// or https:// URL, got '${server}'`);
  if (!ctx.configPath) throw new CliError('no configuration file path is known');
  const subscriptionId = options.subscription ?? DEFAULT_SUBSCRIPTION_ID;
  const caFile = options.caFile ? resolve(options.caFile) : undefined;
  let fetchFn = ctx.fetch;
  if (caFile) {
    let ca: Buffer;
    try {
      ca = await readFile(caFile);
    } catch (error) {
      throw new UsageError(`argument --ca-file: cannot read ${caFile}: ${(error as Error).message}`);
    }
    fetchFn = createCaFetch(ca);
  }

  const client = new ArmClient({ serverUrl: server, token, fetch: fetchFn, debug: options.debug ? ctx.err : undefined });
  try {
    await client.request('GET', watcherListPath(subscriptionId));
  } catch (error) {
    if (error instanceof ApiError && (error.statusCode === 401 || error.statusCode === 403)) {
      throw new ApiError(error.statusCode, error.code, `the server at ${server} refused the token: ${error.message}`);
    }
    throw error;
  }

  const config: CliConfig = { server, token, subscriptionId };
  if (caFile) config.caFile = caFile;
  await saveCliConfig(ctx.configPath, config);
  const result: Record<string, unknown> = { server, subscriptionId, configFile: ctx.configPath };
  if (caFile) result['caFile'] = caFile;
  writeOutput(ctx.out, result, options.output);
  return result;
}
