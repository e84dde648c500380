import { storageAccountListPath, storageAccountPath } from '../arm-paths.js';
import { connect, type ConnectedClient } from '../client-factory.js';
import { confirmOperation, type CliContext, type CommonOptions } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { beginAndWait } from '../lro.js';
import { parseBooleanOption, requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { listValue, shapeStorageAccount } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Storage backends a storage account can register. */
export type StorageBackendType = 'local' | 'azureBlob' | 's3';

const BACKENDS: readonly StorageBackendType[] = ['local', 'azureBlob', 's3'];

/** The flags of `nw storage account list`. */
export const STORAGE_ACCOUNT_LIST_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
} as const satisfies OptionTable;

/** Options of `nw storage account list`. */
export type StorageAccountListOptions = CommonOptions & OptionValues<typeof STORAGE_ACCOUNT_LIST_OPTIONS>;

/** The flags of `nw storage account delete`. */
export const STORAGE_ACCOUNT_DELETE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'account name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default: found by name)' },
  yes: { flags: '-y, --yes', description: 'do not ask for confirmation' },
} as const satisfies OptionTable;

/** Options of `nw storage account show|delete`: delete's flags, the wider. */
export type StorageAccountNameOptions = CommonOptions & OptionValues<typeof STORAGE_ACCOUNT_DELETE_OPTIONS>;

/** The flags of `nw storage account create` (secrets may come from the environment, as az reads them: out of shell history). */
export const STORAGE_ACCOUNT_CREATE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'account name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
  location: { flags: '-l, --location <location>', description: 'location', default: 'local' },
  kind: {
    flags: '--kind <kind>',
    description: 'backend: local, azureBlob or s3 (az account kinds such as StorageV2 mean local)',
  },
  backend: { flags: '--backend <type>', description: 'same as --kind with a backend name' },
  connectionString: {
    flags: '--connection-string <text>',
    description: 'azureBlob: connection string',
    env: 'AZURE_STORAGE_CONNECTION_STRING',
  },
  accountName: {
    flags: '--account-name <name>',
    description: 'azureBlob: account name, with --account-key (instead of --connection-string)',
  },
  accountKey: { flags: '--account-key <key>', description: 'azureBlob: account key, with --account-name' },
  blobEndpoint: {
    flags: '--blob-endpoint <url>',
    description: 'azureBlob: blob endpoint (default https://ACCOUNT.blob.core.windows.net), with --account-name',
  },
  endpoint: { flags: '--endpoint <url>', description: 's3: endpoint URL' },
  region: { flags: '--region <region>', description: 's3: region' },
  bucket: { flags: '--bucket <bucket>', description: 's3: bucket' },
  accessKeyId: { flags: '--access-key-id <id>', description: 's3: access key id', env: 'AWS_ACCESS_KEY_ID' },
  secretAccessKey: {
    flags: '--secret-access-key <key>',
    description: 's3: secret access key',
    env: 'AWS_SECRET_ACCESS_KEY',
  },
  pathStyle: {
    flags: '--path-style <bool>',
    parsed: 'boolean',
    description: 's3: path-style addressing (true for most S3-compatible servers)',
  },
  sku: { flags: '--sku <sku>', description: 'accepted for az compatibility' },
} as const satisfies OptionTable;

/** Options of `nw storage account create`. */
export type StorageAccountCreateOptions = CommonOptions & OptionValues<typeof STORAGE_ACCOUNT_CREATE_OPTIONS>;

/** Resolves the backend type from --backend or --kind. */
export function storageBackendOf(options: Pick<StorageAccountCreateOptions, 'kind' | 'backend'>): StorageBackendType {
  const pick = (flag: string, value: string | undefined, strict: boolean): StorageBackendType | undefined => {
    if (value === undefined) return undefined;
    const found = BACKENDS.find((b) => b.toLowerCase() === value.toLowerCase());
    if (!found && strict)
      throw new UsageError(`argument ${flag}: invalid choice: '${value}' (choose from 'local', 'azureBlob', 's3')`);
    return found;
  };
  // --kind also takes az's account kinds (StorageV2, BlobStorage …) so az scripts keep working.
  return pick('--backend', options.backend, true) ?? pick('--kind', options.kind, false) ?? 'local';
}

/** The PUT body of `storage account create`, checked locally (secrets are never echoed back by the server). */
export function storageAccountBody(options: StorageAccountCreateOptions): Record<string, unknown> {
  const type = storageBackendOf(options);
  let backend: Record<string, unknown>;
  switch (type) {
    case 'local':
      backend = { type };
      break;
    case 'azureBlob':
      if (options.accountName !== undefined || options.accountKey !== undefined || options.blobEndpoint !== undefined) {
        if (options.connectionString !== undefined)
          throw new UsageError(
            'usage error: give --connection-string or --account-name/--account-key [--blob-endpoint], not both',
          );
        backend = {
          type,
          accountName: requireOption('--account-name', options.accountName),
          accountKey: requireOption('--account-key', options.accountKey),
        };
        if (options.blobEndpoint) backend['blobEndpoint'] = options.blobEndpoint;
      } else {
        backend = { type, connectionString: requireOption('--connection-string', options.connectionString) };
      }
      break;
    case 's3': {
      backend = {
        type,
        bucket: requireOption('--bucket', options.bucket),
        accessKeyId: requireOption('--access-key-id', options.accessKeyId),
        secretAccessKey: requireOption('--secret-access-key', options.secretAccessKey),
      };
      if (options.endpoint) backend['endpoint'] = options.endpoint;
      if (options.region) backend['region'] = options.region;
      const pathStyle = parseBooleanOption('--path-style', options.pathStyle);
      if (pathStyle !== undefined) backend['forcePathStyle'] = pathStyle;
      break;
    }
  }
  return { location: options.location ?? 'local', kind: 'StorageV2', properties: { backend } };
}

async function listAccounts(conn: ConnectedClient): Promise<Array<Record<string, unknown>>> {
  const response = await conn.client.request('GET', storageAccountListPath(conn.subscriptionId));
  return listValue(response.body).map(shapeStorageAccount);
}

/**
 * Finds an account by name in the list of all accounts (names are unique per subscription in
 * practice; a resource group narrows it when given).
 */
export async function findStorageAccount(
  conn: ConnectedClient,
  name: string,
  resourceGroup?: string,
): Promise<Record<string, unknown> | undefined> {
  const matches = (await listAccounts(conn)).filter(
    (a) => String(a['name'] ?? '').toLowerCase() === name.toLowerCase(),
  );
  if (resourceGroup) {
    const inGroup = matches.find((a) => String(a['resourceGroup'] ?? '').toLowerCase() === resourceGroup.toLowerCase());
    if (inGroup) return inGroup;
  }
  return matches[0];
}

/**
 * `nw storage account list`: every registered storage account (optionally of one resource group).
 * @example await storageAccountList({}, ctx);
 */
export async function storageAccountList(
  options: StorageAccountListOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  let accounts = await listAccounts(conn);
  if (options.resourceGroup)
    accounts = accounts.filter(
      (a) => String(a['resourceGroup'] ?? '').toLowerCase() === options.resourceGroup!.toLowerCase(),
    );
  writeOutput(ctx.out, accounts, options.output);
  return accounts;
}

async function resolveGroup(conn: ConnectedClient, name: string, resourceGroup: string | undefined): Promise<string> {
  if (resourceGroup) return resourceGroup;
  const found = await findStorageAccount(conn, name);
  if (!found || typeof found['resourceGroup'] !== 'string')
    throw new CliError(`The storage account '${name}' was not found.`);
  return found['resourceGroup'];
}

/** `nw storage account show`: one account (`--resource-group` optional: found by name otherwise). */
export async function storageAccountShow(
  options: StorageAccountNameOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const resourceGroup = await resolveGroup(conn, name, options.resourceGroup);
  const response = await conn.client.request('GET', storageAccountPath(conn.subscriptionId, resourceGroup, name));
  const account = shapeStorageAccount(response.body);
  writeOutput(ctx.out, account, options.output);
  return account;
}

/** `nw storage account create`: registers a storage target (local folder, Azure Blob, or S3). */
export async function storageAccountCreate(
  options: StorageAccountCreateOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const body = storageAccountBody(options);
  const conn = connect(ctx, options);
  const { result } = await beginAndWait(
    conn.client,
    'PUT',
    storageAccountPath(conn.subscriptionId, resourceGroup, name),
    { body },
    { pollIntervalInMs: conn.pollIntervalInMs },
  );
  const account = shapeStorageAccount(result);
  writeOutput(ctx.out, account, options.output);
  return account;
}

/** `nw storage account delete`: unregisters an account (asks first unless --yes, like az). Prints nothing. */
export async function storageAccountDelete(options: StorageAccountNameOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  if (!(await confirmOperation(ctx, options.yes))) return;
  const conn = connect(ctx, options);
  const resourceGroup = await resolveGroup(conn, name, options.resourceGroup);
  await beginAndWait(
    conn.client,
    'DELETE',
    storageAccountPath(conn.subscriptionId, resourceGroup, name),
    {},
    { pollIntervalInMs: conn.pollIntervalInMs },
  );
}

/** The commands of this file, in help order. */
export const STORAGE_ACCOUNT_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['storage'], description: 'storage targets for capture files' }),
  defineGroup({
    path: ['storage', 'account'],
    description: 'storage accounts: a local folder of the server, Azure Blob, or S3',
  }),
  defineCommand({
    path: ['storage', 'account', 'list'],
    description: 'list the storage accounts',
    examples: ['nw storage account list', 'nw storage account list -o table'],
    options: STORAGE_ACCOUNT_LIST_OPTIONS,
    run: (o, { ctx }) => storageAccountList(o, ctx),
  }),
  defineCommand({
    path: ['storage', 'account', 'show'],
    description: 'show a storage account',
    examples: ['nw storage account show -n nwlocal'],
    options: {
      name: { flags: '-n, --name <name>', description: 'account name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default: found by name)' },
    },
    run: (o, { ctx }) => storageAccountShow(o, ctx),
  }),
  defineCommand({
    path: ['storage', 'account', 'create'],
    description: 'register a storage account',
    examples: [
      'nw storage account create -n captures -g storageRG --kind local',
      'AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=…" nw storage account create -n blobcaps -g storageRG --kind azureBlob',
      'nw storage account create -n s3caps -g storageRG --kind s3 --endpoint http://127.0.0.1:9000 --region us-east-1 --bucket captures --access-key-id AKIA… --secret-access-key … --path-style true',
    ],
    options: STORAGE_ACCOUNT_CREATE_OPTIONS,
    run: (o, { ctx }) => storageAccountCreate(o, ctx),
  }),
  defineCommand({
    path: ['storage', 'account', 'delete'],
    description: 'unregister a storage account (its files stay); prints nothing',
    examples: ['nw storage account delete -n captures -g storageRG --yes'],
    options: STORAGE_ACCOUNT_DELETE_OPTIONS,
    run: (o, { ctx }) => storageAccountDelete(o, ctx),
  }),
];
