import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_SUBSCRIPTION_ID } from '../config.js';
import { writeLine, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { defaultDataDir } from './server.js';
import { defineCommand, type Declaration, type OptionTable, type OptionValues } from '../command-declaration.js';

/** What the az recipe of a server needs. */
export interface AzRecipeInput {
  /** Base URL az reaches the server at (https: az refuses bearer tokens over plain http). */
  serverUrl: string;
  /** The admin token file (DATA_DIR/admin-token), read by the shell, never printed. */
  adminTokenPath: string;
  subscriptionId: string;
  /** The server's self-signed certificate, when it has one: az trusts it through REQUESTS_CA_BUNDLE. */
  caFile?: string;
}

/**
 * The exact commands that let the real Azure CLI use a netwatcher server (as measured with az
 * 2.45; test/az-api.test.ts replays what it sends): trust its certificate, register it as a
 * cloud, log in with the admin token as a service-principal secret. Pure, for `nw server az-recipe` and `nw up`.
 * @example azRecipeLines({ serverUrl: 'https://nw:8817', adminTokenPath: '/var/lib/netwatcher/admin-token', subscriptionId: SUB })
 */
export function azRecipeLines(input: AzRecipeInput): string[] {
  const url = input.serverUrl.replace(/\/+$/, '');
  return [
    ...(input.caFile ? [`export REQUESTS_CA_BUNDLE=${input.caFile}`] : []),
    `az cloud register --name netwatcher --endpoint-resource-manager ${url}/`,
    'az cloud set --name netwatcher',
    `az login --service-principal --username netwatcher --password "$(cat ${input.adminTokenPath})" --tenant ${input.subscriptionId}`,
  ];
}

/** The flags of `nw server az-recipe`. */
export const AZ_RECIPE_OPTIONS = {
  server: {
    flags: '--server <url>',
    description: "the server's https URL as az reaches it (default: the CLI config's)",
  },
  dataDir: {
    flags: '--data-dir <dir>',
    description: "the server's data folder (default ~/.netwatcher): admin token and self-signed certificate",
  },
  caFile: {
    flags: '--ca-file <file>',
    description: "the certificate az must trust (default: the CLI config's, or DATA_DIR/tls/cert.pem)",
  },
  subscription: { flags: '--subscription <id>', description: "the server's subscription id" },
} as const satisfies OptionTable;

/** Options of `nw server az-recipe`. */
export type AzRecipeOptions = OptionValues<typeof AZ_RECIPE_OPTIONS>;

/**
 * `nw server az-recipe`: prints the recipe for a server whose data folder is here. The URL comes
 * from --server or the CLI config; the certificate from --ca-file, the CLI config, or
 * DATA_DIR/tls/cert.pem (what `nw up --tls` and `nw server --tls-self-signed` make).
 */
export async function printAzRecipe(options: AzRecipeOptions, ctx: CliContext): Promise<void> {
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const serverUrl = options.server ?? ctx.config.server;
  if (!serverUrl)
    throw new UsageError(
      "usage error: --server URL is required (no server in the CLI config; run 'nw login' or pass --server)",
    );
  if (!/^https:\/\//i.test(serverUrl))
    throw new UsageError(
      `usage error: az sends its token only over https, and '${serverUrl}' is not; serve https (nw up --tls, nw server --tls-self-signed or --tls-cert) and pass its https URL`,
    );
  const selfSigned = join(dataDir, 'tls', 'cert.pem');
  const caFile = options.caFile
    ? resolve(options.caFile)
    : (ctx.config.caFile ?? (existsSync(selfSigned) ? selfSigned : undefined));
  const lines = azRecipeLines({
    serverUrl,
    adminTokenPath: join(dataDir, 'admin-token'),
    subscriptionId: options.subscription ?? (ctx.config.subscriptionId || DEFAULT_SUBSCRIPTION_ID),
    ...(caFile ? { caFile } : {}),
  });
  for (const line of lines) writeLine(ctx.out, line);
}

/** The commands of this file, in help order. */
export const AZ_RECIPE_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['server', 'az-recipe'],
    description:
      'print the commands that let the real Azure CLI (az) use this server: CA trust, cloud registration, login',
    examples: [
      'nw server az-recipe',
      'nw server az-recipe --server https://nw.example:8817 --data-dir /var/lib/netwatcher',
    ],
    commonOptions: false,
    options: AZ_RECIPE_OPTIONS,
    run: (o, { ctx }) => printAzRecipe(o, ctx),
  }),
];
