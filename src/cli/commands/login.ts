import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ArmClient } from '../arm-client.js';
import { watcherListPath } from '../arm-paths.js';
import { createCaFetch } from '../ca-fetch.js';
import { DEFAULT_SUBSCRIPTION_ID, normalizeServerUrl, saveCliConfig, type CliConfig } from '../config.js';
import type { CliContext, CommonOptions, FetchFunction } from '../context.js';
import { ApiResponseError, CliError, UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { defineCommand, type Declaration, type OptionTable, type OptionValues } from '../command-declaration.js';

/** The flags of `nw login`. */
export const LOGIN_OPTIONS = {
  server: { flags: '--server <url>', description: 'server URL', required: true },
  token: { flags: '--token <token>', description: 'bearer token (the admin token)' },
  servicePrincipal: {
    flags: '--service-principal',
    description: 'log in as a service principal: -u APPID -p SECRET',
  },
  username: {
    flags: '-u, --username <appId>',
    description: 'app id of the service principal (with --service-principal)',
  },
  password: {
    flags: '-p, --password <secret>',
    description: 'secret of the service principal (with --service-principal)',
  },
  caFile: { flags: '--ca-file <file>', description: "CA certificate (PEM) of the server's private certificate" },
} as const satisfies OptionTable;

/** Options of `nw login`. */
export type LoginOptions = CommonOptions & OptionValues<typeof LOGIN_OPTIONS>;

/**
 * Trades the app id and secret at the server's token endpoint (as `az login --service-principal`
 * does), so a secret given with another app's id is refused here rather than used.
 */
async function checkServicePrincipal(
  server: string,
  appId: string,
  secret: string,
  fetchFn: FetchFunction,
): Promise<void> {
  const response = await fetchFn(`${server}/adfs/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: appId, client_secret: secret }).toString(),
  });
  if (response.ok) return;
  const body = (await response.json().catch(() => ({}))) as { error?: string; error_description?: string };
  throw new ApiResponseError(
    response.status,
    body.error ?? 'invalid_client',
    `the server at ${server} refused the service principal ${appId}: ${body.error_description ?? response.statusText}`,
  );
}

/**
 * `nw login`: checks the token with a GET, then saves server, token, subscription and CA file
 * to the config file (mode 0600). Prints what was saved, without the token.
 * @example await login({ server: 'https://nw.example:8817', token: 't0k3n' }, ctx);
 */
export async function login(options: LoginOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const server = normalizeServerUrl(requireOption('--server', options.server));
  if (options.servicePrincipal && options.token)
    throw new UsageError('usage error: --token TOKEN | --service-principal -u APPID -p SECRET (not both)');
  if (!options.servicePrincipal && (options.username || options.password))
    throw new UsageError('usage error: -u and -p go with --service-principal');
  const token = options.servicePrincipal
    ? requireOption('--password', options.password)
    : requireOption('--token', options.token);
  if (!/^https?:\/\//i.test(server))
    throw new UsageError(`argument --server: expected an http:// or https:// URL, got '${server}'`);
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

  if (options.servicePrincipal)
    await checkServicePrincipal(server, requireOption('--username', options.username), token, fetchFn);
  const client = new ArmClient({
    serverUrl: server,
    token,
    fetch: fetchFn,
    debug: options.debug ? ctx.err : undefined,
  });
  try {
    // A service principal may hold roles on one resource group only: its check is the subscription itself, which any principal may read.
    await client.request(
      'GET',
      options.servicePrincipal ? `/subscriptions/${subscriptionId}` : watcherListPath(subscriptionId),
    );
  } catch (error) {
    if (error instanceof ApiResponseError && (error.statusCode === 401 || error.statusCode === 403)) {
      throw new ApiResponseError(
        error.statusCode,
        error.code,
        `the server at ${server} refused the token: ${error.message}`,
      );
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

/** The commands of this file, in help order. */
export const LOGIN_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['login'],
    worksWithoutConfig: true,
    description:
      "save the server URL and token (or a service principal's secret) for the next commands (checks it first)",
    examples: [
      'nw login --server https://nw.example:8817 --token "$(cat /var/lib/netwatcher/admin-token)"',
      'nw login --server https://nw.example:8817 --token TOKEN --ca-file ca.pem',
      'nw login --server https://nw.example:8817 --service-principal -u APPID -p "$SECRET"   # as a service principal (docs/access.md)',
    ],
    options: LOGIN_OPTIONS,
    run: (o, { ctx }) => login(o, ctx),
  }),
];
