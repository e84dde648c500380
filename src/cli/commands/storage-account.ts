import { storageAccountListPath, storageAccountPath } from '../arm-paths.js';
import { connect, type ConnectedClient } from '../client-factory.js';
import { confirmOperation, type CliContext, type CommonOptions } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { beginAndWait } from '../lro.js';
import { parseBooleanOption, requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { listValue, shapeStorageAccount } from '../shape.js';

/** Storage backends a storage account can register. */
export type StorageBackendType = 'local' | 'azureBlob' | 's3';

const BACKENDS: readonly StorageBackendType[] = ['local', 'azureBlob', 's3'];

/** Options of `nw storage account list`. */
export interface StorageAccountListOptions extends CommonOptions {
  resourceGroup?: string;
}

/** Options of `nw storage account show|delete`. */
export interface StorageAccountNameOptions extends CommonOptions {
  name?: string;
  resourceGroup?: string;
  /** delete: do not ask for confirmation. */
  yes?: boolean;
}

/** Options of `nw storage account create`. */
export interface StorageAccountCreateOptions extends CommonOptions {
  name?: string;
  resourceGroup?: string;
  location?: string;
  /** Backend (local, azureBlob, s3). az's storage kinds (StorageV2 …) mean the default, local. */
  kind?: string;
  /** Same as --kind with a backend name; wins over it. */
  backend?: string;
  /** azureBlob: connection string (also read from AZURE_STORAGE_CONNECTION_STRING). */
  connectionString?: string;
  /** azureBlob: account name, with accountKey (instead of a connection string). */
  accountName?: string;
  /** azureBlob: account key (base64), with accountName. */
  accountKey?: string;
  /** azureBlob: blob endpoint (default https://{accountName}.blob.core.windows.net), with accountName. */
  blobEndpoint?: string;
  /** s3: endpoint URL (absent: AWS). */
  endpoint?: string;
  /** s3: region. */
  region?: string;
  /** s3: bucket. */
  bucket?: string;
  /** s3: access key id (also AWS_ACCESS_KEY_ID). */
  accessKeyId?: string;
  /** s3: secret access key (also AWS_SECRET_ACCESS_KEY). */
  secretAccessKey?: string;
  /** s3: path-style addressing (MinIO and most S3-compatible servers need it). */
  pathStyle?: string | boolean;
}

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
