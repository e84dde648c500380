import { join } from 'node:path';
import { ApiError, armIdKey, parseArmId, storageAccountId } from '../../lib/index.js';
import type { StorageAccountBody } from '../../model/index.js';
import type { ResourceRecord, Store } from '../../store/index.js';
import {
  CAPTURE_CONTAINER,
  openBlobStore,
  redactBackendConfig,
  storageBackendConfigSchema,
  type BlobStore,
  type StorageBackendConfig,
} from '../../storage/index.js';
import { SERVER_DEFAULTS } from '../config.js';
import type { ServerContext } from './context.js';

/** Stored body of a storage account (model's storageAccountBodySchema). */
export type { StorageAccountBody };

/**
 * The storage accounts of a name (compared case-insensitively), in one subscription or, without
 * one, in every subscription. Names are unique per subscription; callers decide what none or
 * several mean for them.
 */
export async function storageAccountsNamed(
  store: Store,
  name: string,
  subscriptionId?: string,
): Promise<Array<ResourceRecord<StorageAccountBody>>> {
  const wanted = name.toLowerCase();
  const accounts = await store.listResources<StorageAccountBody>(
    'storageAccount',
    subscriptionId !== undefined ? { subscriptionId } : {},
  );
  return accounts.filter((a) => a.name.toLowerCase() === wanted);
}

/** Storage account names follow Azure's rule: 3–24 lower-case letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/** The folder of a local account, always inside the server's data folder (users cannot point the server at arbitrary paths). */
function localRoot(ctx: ServerContext, accountName: string): string {
  return join(ctx.config.dataDir, 'storage', accountName);
}

/** Creates or replaces a storage account. Secrets go to the secret column only. */
export async function putStorageAccount(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  input: { location?: string; kind?: string; tags?: Record<string, string>; backend?: unknown },
): Promise<{ record: ResourceRecord<StorageAccountBody>; created: boolean }> {
  if (!ACCOUNT_NAME.test(name))
    throw new ApiError(
      'InvalidParameter',
      `Storage account name '${name}' is invalid: use 3 to 24 lower-case letters and digits.`,
      { target: 'accountName' },
    );
  const others = (await storageAccountsNamed(ctx.store, name, sub)).filter(
    (a) => a.resourceGroup.toLowerCase() !== rg.toLowerCase(),
  );
  if (others.length > 0)
    throw new ApiError(
      'Conflict',
      `Storage account name '${name}' is already taken (resource group '${others[0]!.resourceGroup}').`,
      { target: 'accountName' },
    );
  const rawBackend = (input.backend ?? { type: 'local' }) as Record<string, unknown>;
  const withRoot =
    typeof rawBackend === 'object' && rawBackend !== null && String(rawBackend.type).toLowerCase() === 'local'
      ? { ...rawBackend, rootDir: localRoot(ctx, name) }
      : rawBackend;
  const parsed = storageBackendConfigSchema.safeParse(withRoot);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ApiError('InvalidParameter', `properties.backend.${issue.path.join('.')}: ${issue.message}`, {
      target: `properties.backend.${issue.path.join('.')}`,
    });
  }
  const backend: StorageBackendConfig = parsed.data;
  const id = storageAccountId(sub, rg, name);
  const existing = await ctx.store.getResource(armIdKey(id));
  const location = input.location ?? existing?.location ?? ctx.config.defaultLocation;
  const record = await ctx.store.putResource<StorageAccountBody>({
    key: armIdKey(id),
    type: 'storageAccount',
    parentKey: null,
    id,
    name,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    body: {
      type: 'Microsoft.Storage/storageAccounts',
      kind: input.kind ?? 'StorageV2',
      location,
      sku: { name: 'Standard_LRS', tier: 'Standard' },
      ...(input.tags ? { tags: input.tags } : {}),
      properties: { provisioningState: 'Succeeded', backend: redactBackendConfig(backend) },
    },
    secret: backend,
  });
  return { record, created: !existing };
}

/** Creates the default local account (`nwlocal` in NetworkWatcherRG) when the subscription has no account yet. */
export async function ensureDefaultStorageAccount(ctx: ServerContext): Promise<void> {
  const sub = ctx.config.subscriptionId;
  const existing = await ctx.store.listResources('storageAccount', { subscriptionId: sub });
  if (existing.length > 0) return;
  await putStorageAccount(ctx, sub, SERVER_DEFAULTS.defaultResourceGroup, SERVER_DEFAULTS.defaultStorageAccountName, {
    location: ctx.config.defaultLocation,
    backend: { type: 'local' },
  });
}

/**
 * Finds a storage account by ARM id; 400 StorageAccountNotFound when there is none. Storage
 * account names are unique (in Azure, globally; here, per subscription), and az builds the id of
 * `--storage-account NAME` from the command's own resource group, so an id whose resource group
 * holds no such account finds the account of that name wherever it lives; callers echo its real id.
 */
export async function getStorageAccountById(
  ctx: ServerContext,
  id: string,
): Promise<ResourceRecord<StorageAccountBody>> {
  let rec = await ctx.store.getResource<StorageAccountBody>(armIdKey(id));
  const ref = rec ? null : parseArmId(id);
  if (
    ref &&
    ref.provider.toLowerCase() === 'microsoft.storage' &&
    ref.types.length === 1 &&
    ref.types[0]!.toLowerCase() === 'storageaccounts'
  ) {
    const sameName = await storageAccountsNamed(ctx.store, ref.names[0]!, ref.subscriptionId);
    if (sameName.length === 1) rec = sameName[0]!;
  }
  if (!rec || rec.type !== 'storageAccount')
    throw new ApiError(
      'StorageAccountNotFound',
      `Storage account '${id}' was not found. List accounts with 'nw storage account list'.`,
      { target: 'properties.storageLocation.storageId' },
    );
  return rec;
}

/** Opens the blob store of an account. `baseUrl` is how the caller reaches this server (local accounts' URLs). */
export function blobStoreOf(
  ctx: ServerContext,
  account: ResourceRecord<StorageAccountBody>,
  baseUrl: string,
): BlobStore {
  return openBlobStore(
    account.name,
    account.secret as StorageBackendConfig,
    { publicBaseUrl: baseUrl, signingKey: ctx.signingKey },
    ctx.outboundPolicy ? { outboundPolicy: ctx.outboundPolicy } : {},
  );
}

/** The server's own store for files fetched from hosts (captures saved only on the host). */
export function hostFilesStore(ctx: ServerContext, baseUrl: string): BlobStore {
  return openBlobStore(
    '_hostfiles',
    { type: 'local', rootDir: join(ctx.config.dataDir, 'host-files') },
    { publicBaseUrl: baseUrl, signingKey: ctx.signingKey },
  );
}

/**
 * The account's blob endpoint as its store writes URLs (`https://acct.blob.core.windows.net/`,
 * `http://server/storage/acct/`, an S3 bucket's URL), ending in `/`: what precedes CONTAINER/BLOB.
 * @example blobEndpointOf(store) + 'network-watcher-logs/x.cap' === store.blobUrl({ container: 'network-watcher-logs', blobPath: 'x.cap' })
 */
export function blobEndpointOf(store: Pick<BlobStore, 'blobUrl'>): string {
  const sample = store.blobUrl({ container: CAPTURE_CONTAINER, blobPath: 'x' });
  return sample.slice(0, sample.length - `${CAPTURE_CONTAINER}/x`.length);
}

/** The API view of an account: adds primaryEndpoints (computed, since a local account's URL depends on how the server is reached). */
export function storageAccountView(
  ctx: ServerContext,
  account: ResourceRecord<StorageAccountBody>,
  baseUrl: string,
): Record<string, unknown> {
  const store = blobStoreOf(ctx, account, baseUrl);
  const blobEndpoint = blobEndpointOf(store);
  return {
    ...Object.fromEntries(Object.entries(account.body).filter(([k]) => !k.startsWith('_'))),
    id: account.id,
    name: account.name,
    etag: account.etag,
    // A local account's folder is a server path: not the caller's business.
    properties: {
      ...account.body.properties,
      backend: Object.fromEntries(Object.entries(account.body.properties.backend).filter(([k]) => k !== 'rootDir')),
      primaryEndpoints: { blob: blobEndpoint },
    },
  };
}

/** The storage accounts of a subscription, or of one of its resource groups. */
export async function listStorageAccounts(
  ctx: ServerContext,
  sub: string,
  rg?: string,
): Promise<ResourceRecord<StorageAccountBody>[]> {
  return ctx.store.listResources<StorageAccountBody>('storageAccount', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}

/** A storage account by its id parts; 404 ResourceNotFound when missing. */
export async function getStorageAccount(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<StorageAccountBody>> {
  const rec = await ctx.store.getResource<StorageAccountBody>(armIdKey(storageAccountId(sub, rg, name)));
  if (!rec)
    throw new ApiError('ResourceNotFound', `Storage account '${name}' was not found in resource group '${rg}'.`);
  return rec;
}

/** Deletes a storage account; true if it existed. */
export async function deleteStorageAccount(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
): Promise<boolean> {
  return ctx.store.deleteResource(armIdKey(storageAccountId(sub, rg, name)));
}
