import { resolve } from 'node:path';
import { vmPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import { saveCliConfig } from '../config.js';
import type { CliContext, CommonOptions } from '../context.js';
import { CliError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';
import { DATABASE_URL_OPTION } from './server.js';

/** The flags of `nw server rotate-admin-token`. */
export const ROTATE_ADMIN_TOKEN_OPTIONS = {
  dataDir: { flags: '--data-dir <dir>', description: 'data folder of the server or of nw up' },
  databaseUrl: DATABASE_URL_OPTION,
} as const satisfies OptionTable;

/** Options of `nw server rotate-admin-token`. */
export type RotateAdminTokenOptions = CommonOptions & OptionValues<typeof ROTATE_ADMIN_TOKEN_OPTIONS>;

/**
 * `nw server rotate-admin-token`: replaces every admin token by a new one; the old ones stop
 * working at once. With --data-dir and/or --database-url it works on the database itself (the
 * embedded one only while no server runs on it); without either it asks the logged-in server
 * (the API call POST /admin/v1/rotate-admin-token) and saves the new token in the CLI config.
 * The new token is printed once and written to DATA_DIR/admin-token (0600) where there is one.
 * @example await rotateAdminTokenCommand({ dataDir: '/var/lib/netwatcher' }, ctx);
 */
export async function rotateAdminTokenCommand(
  options: RotateAdminTokenOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  if (!options.dataDir && !options.databaseUrl) {
    const conn = connect(ctx, options);
    const r = await conn.client.request('POST', '/admin/v1/rotate-admin-token', { body: { confirm: true } });
    const body = r.body as { token: string; tokenFile: string | null };
    if (ctx.configPath) await saveCliConfig(ctx.configPath, { ...ctx.config, token: body.token });
    const result = { token: body.token, tokenFile: body.tokenFile, configFile: ctx.configPath ?? null };
    writeOutput(ctx.out, result, options.output);
    return result;
  }
  const dataDir = options.dataDir ? resolve(options.dataDir) : null;
  // Loaded on demand, as `nw server` loads the server: client commands never pay for the database.
  const [server, storeModule] = await Promise.all([import('../../server/index.js'), import('../../store/index.js')]);
  const db = options.databaseUrl
    ? await storeModule.openPostgres(options.databaseUrl)
    : await storeModule.openPglite(resolve(dataDir!, 'db'));
  try {
    await storeModule.migrate(db);
    const { token, file } = await server.rotateAdminToken(new storeModule.Store(db), dataDir);
    const result = { token, tokenFile: file };
    writeOutput(ctx.out, result, options.output);
    return result;
  } catch (error) {
    throw new CliError(`could not rotate the admin token: ${(error as Error).message}`);
  } finally {
    await db.close();
  }
}

/** The flags of `nw vm agent-credential revoke`. */
export const AGENT_CREDENTIAL_REVOKE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
} as const satisfies OptionTable;

/** Options of `nw vm agent-credential revoke`. */
export type AgentCredentialRevokeOptions = CommonOptions & OptionValues<typeof AGENT_CREDENTIAL_REVOKE_OPTIONS>;

/**
 * `nw vm agent-credential revoke`: revokes the host's agent credential (and unused enrolment
 * tokens) and closes its live connection at once. `nw vm extension set` then issues a new
 * enrolment token to install the agent again.
 * @example await agentCredentialRevoke({ resourceGroup: 'rg', vmName: 'web1' }, ctx);
 */
export async function agentCredentialRevoke(
  options: AgentCredentialRevokeOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const vmName = requireOption('--vm-name', options.vmName);
  const conn = connect(ctx, options);
  const r = await conn.client.request(
    'POST',
    `${vmPath(conn.subscriptionId, resourceGroup, vmName)}/revokeAgentCredential`,
  );
  const result = r.body as Record<string, unknown>;
  writeOutput(ctx.out, result, options.output);
  return result;
}

/** The commands of this file, in help order. */
export const ADMIN_TOKEN_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['server', 'rotate-admin-token'],
    description:
      'replace the admin token by a new one (printed once, written to DATA_DIR/admin-token); the old one stops working at once',
    examples: [
      'nw server rotate-admin-token --data-dir /var/lib/netwatcher     # the embedded database: stop the server first',
      'nw server rotate-admin-token --data-dir ~/.netwatcher             # the data folder of nw up',
      'NW_DATABASE_URL=postgres://nw@db/netwatcher nw server rotate-admin-token --data-dir /var/lib/netwatcher',
      'nw server rotate-admin-token                                      # through the API of the logged-in server; saves the new token in the CLI config',
    ],
    options: ROTATE_ADMIN_TOKEN_OPTIONS,
    run: (o, { ctx }) => rotateAdminTokenCommand(o, ctx),
  }),
];

/** The commands of this file, in help order. */
export const AGENT_CREDENTIAL_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['vm', 'agent-credential'], description: "a host's agent credential" }),
  defineCommand({
    path: ['vm', 'agent-credential', 'revoke'],
    description:
      "revoke a host's agent credential and close its live agent connection at once (re-install with 'nw vm extension set')",
    examples: ['nw vm agent-credential revoke -g myRG --vm-name web1'],
    options: AGENT_CREDENTIAL_REVOKE_OPTIONS,
    run: (o, { ctx }) => agentCredentialRevoke(o, ctx),
  }),
];
