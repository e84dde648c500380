import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { StorageConfigError } from './errors.js';

/** Backend settings of one registered storage account, as the server keeps them (secrets included; never logged or returned by the API): what {@link storageBackendConfigSchema} makes of user input. */
export const storedBackendConfigSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('local'), rootDir: z.string() }),
  z.object({ type: z.literal('azureBlob'), connectionString: z.string() }),
  z.object({
    type: z.literal('s3'),
    endpoint: z.string(),
    region: z.string(),
    bucket: z.string(),
    accessKeyId: z.string(),
    secretAccessKey: z.string(),
    forcePathStyle: z.boolean(),
  }),
]);
/** Backend settings of one registered storage account (secrets included). */
export type StorageBackendConfig = z.output<typeof storedBackendConfigSchema>;

/** The parts of an Azure Storage connection string this folder uses. */
export interface AzureConnectionParts {
  accountName: string;
  accountKey: string;
  /** Blob service endpoint without a trailing slash, e.g. `https://acct.blob.core.windows.net` or `http://127.0.0.1:10000/devstoreaccount1`. */
  blobEndpoint: string;
}

// Azurite's documented well-known development account; `UseDevelopmentStorage=true` means it.
// https://learn.microsoft.com/azure/storage/common/storage-use-azurite#http-connection-strings
const developmentAccountName = 'devstoreaccount1';
const developmentAccountKey =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;
// https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
const azureAccountNamePattern = /^[a-z0-9]{3,24}$/;
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
const s3BucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses an Azure Storage connection string (key=value pairs separated by `;`) into the account
 * name, key and blob endpoint; throws {@link StorageConfigError} naming what is missing.
 * @example parseAzureConnectionString('AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net')
 */
export function parseAzureConnectionString(connectionString: string): AzureConnectionParts {
  const fields = new Map<string, string>();
  for (const pair of connectionString.split(';')) {
    const trimmed = pair.trim();
    if (trimmed === '') continue;
    const equals = trimmed.indexOf('=');
    if (equals <= 0) throw new StorageConfigError('connectionString: every part must be key=value');
    // Keys are case-insensitive in Azure's own parsers; the key's value may itself contain '='.
    fields.set(trimmed.slice(0, equals).toLowerCase(), trimmed.slice(equals + 1));
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    const proxy = fields.get('developmentstorageproxyuri');
    const host = proxy ? stripTrailingSlash(proxy) : 'http://127.0.0.1';
    return {
      accountName: developmentAccountName,
      accountKey: developmentAccountKey,
      blobEndpoint: `${host}:10000/${developmentAccountName}`,
    };
  }
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  if (!accountName) throw new StorageConfigError('connectionString: AccountName is missing');
  if (!accountKey) {
    // A SAS-only connection string cannot mint per-blob SAS tokens for agents.
    throw new StorageConfigError(
      'connectionString: AccountKey is missing (shared key access is required to sign uploads)',
    );
  }
  if (!base64Pattern.test(accountKey)) throw new StorageConfigError('connectionString: AccountKey is not base64');
  let blobEndpoint = fields.get('blobendpoint');
  if (!blobEndpoint) {
    const protocol = fields.get('defaultendpointsprotocol') ?? 'https';
    const suffix = fields.get('endpointsuffix') ?? 'core.windows.net';
    blobEndpoint = `${protocol}://${accountName}.blob.${suffix}`;
  }
  if (!isHttpUrl(blobEndpoint)) throw new StorageConfigError('connectionString: BlobEndpoint is not an http(s) URL');
  return { accountName, accountKey, blobEndpoint: stripTrailingSlash(blobEndpoint) };
}

/**
 * The one canonical connection string for an account: explicit endpoint, so nothing downstream
 * guesses. `DefaultEndpointsProtocol` is kept for tools that read it.
 */
export function formatAzureConnectionString(parts: AzureConnectionParts): string {
  const protocol = new URL(parts.blobEndpoint).protocol.replace(':', '');
  return `DefaultEndpointsProtocol=${protocol};AccountName=${parts.accountName};AccountKey=${parts.accountKey};BlobEndpoint=${parts.blobEndpoint};`;
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

const nonEmpty = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .trim()
    .min(1, { error: `${field} must not be empty` });

const localInputSchema = z.strictObject({
  type: z.literal('local'),
  rootDir: nonEmpty('rootDir').refine((value) => isAbsolute(value), { error: 'rootDir must be an absolute path' }),
});

const azureInputSchema = z
  .strictObject({
    type: z.literal('azureBlob'),
    connectionString: nonEmpty('connectionString').optional(),
    accountName: z
      .string()
      .regex(azureAccountNamePattern, { error: 'accountName must be 3-24 lower-case letters and digits' })
      .optional(),
    accountKey: nonEmpty('accountKey').regex(base64Pattern, { error: 'accountKey must be base64' }).optional(),
    blobEndpoint: nonEmpty('blobEndpoint')
      .refine(isHttpUrl, { error: 'blobEndpoint must be an http(s) URL' })
      .optional(),
  })
  .superRefine((value, ctx) => {
    const keyForm =
      value.accountName !== undefined || value.accountKey !== undefined || value.blobEndpoint !== undefined;
    if (value.connectionString !== undefined && keyForm) {
      ctx.addIssue({
        code: 'custom',
        path: ['connectionString'],
        message: 'give either connectionString or accountName+accountKey(+blobEndpoint), not both',
      });
      return;
    }
    if (value.connectionString !== undefined) {
      try {
        parseAzureConnectionString(value.connectionString);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['connectionString'],
          message: (error as Error).message.replace(/^connectionString: /, ''),
        });
      }
      return;
    }
    if (value.accountName === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['accountName'],
        message: 'accountName is required when connectionString is not given',
      });
    if (value.accountKey === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['accountKey'],
        message: 'accountKey is required when connectionString is not given',
      });
  });

const s3InputSchema = z.strictObject({
  type: z.literal('s3'),
  endpoint: nonEmpty('endpoint').refine(isHttpUrl, { error: 'endpoint must be an http(s) URL' }).optional(),
  region: nonEmpty('region').default('us-east-1'),
  bucket: z.string({ error: 'bucket is required' }).regex(s3BucketPattern, {
    error:
      'bucket must be 3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit',
  }),
  accessKeyId: nonEmpty('accessKeyId'),
  secretAccessKey: nonEmpty('secretAccessKey'),
  forcePathStyle: z.boolean({ error: 'forcePathStyle must be true or false' }).default(false),
});

/** zod schema that validates a storage account's backend settings from user input and normalizes them (Azure key form → connection string; S3 endpoint defaulted from the region). */
export const storageBackendConfigSchema: z.ZodType<StorageBackendConfig> = z
  .discriminatedUnion('type', [localInputSchema, azureInputSchema, s3InputSchema], {
    error: (issue) => (issue.code === 'invalid_union' ? 'type must be one of local, azureBlob, s3' : undefined),
  })
  .transform((input): StorageBackendConfig => {
    switch (input.type) {
      case 'local':
        return { type: 'local', rootDir: input.rootDir };
      case 'azureBlob': {
        const parts =
          input.connectionString !== undefined
            ? parseAzureConnectionString(input.connectionString)
            : {
                accountName: input.accountName as string,
                accountKey: input.accountKey as string,
                blobEndpoint: stripTrailingSlash(
                  input.blobEndpoint ?? `https://${input.accountName}.blob.core.windows.net`,
                ),
              };
        return { type: 'azureBlob', connectionString: formatAzureConnectionString(parts) };
      }
      case 's3':
        return {
          type: 's3',
          // AWS's own regional endpoint when none is given; S3-compatible servers always give one.
          endpoint: stripTrailingSlash(input.endpoint ?? `https://s3.${input.region}.amazonaws.com`),
          region: input.region,
          bucket: input.bucket,
          accessKeyId: input.accessKeyId,
          secretAccessKey: input.secretAccessKey,
          forcePathStyle: input.forcePathStyle,
        };
    }
  });

/**
 * Parses user input into a {@link StorageBackendConfig}; throws {@link StorageConfigError} whose
 * message names every bad field (`bucket: …; secretAccessKey: …`).
 */
export function parseStorageBackendConfig(input: unknown): StorageBackendConfig {
  const result = storageBackendConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const message = result.error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
  throw new StorageConfigError(message, { cause: result.error });
}

/** The same config with secrets removed (account key, secret access key), for API responses and logs. */
export function redactBackendConfig(config: StorageBackendConfig): Record<string, unknown> {
  switch (config.type) {
    case 'local':
      return { type: 'local', rootDir: config.rootDir };
    case 'azureBlob': {
      const parts = parseAzureConnectionString(config.connectionString);
      return { type: 'azureBlob', accountName: parts.accountName, blobEndpoint: parts.blobEndpoint };
    }
    case 's3':
      // The access key id names the key; only the secret access key is a secret.
      return {
        type: 's3',
        endpoint: config.endpoint,
        region: config.region,
        bucket: config.bucket,
        accessKeyId: config.accessKeyId,
        forcePathStyle: config.forcePathStyle,
      };
  }
}
