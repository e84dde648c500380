import {
  BlobSASPermissions,
  BlobServiceClient,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  newPipeline,
} from '@azure/storage-blob';
import { assertValidBlobLocation, splitContainerPath, type BlobLocation } from './blob-path.js';
import type { BlobReadStream, BlobStore, GrantUploadOptions } from './blob-store.js';
import { parseAzureConnectionString } from './config.js';
import { BlobNotFoundError, StorageServiceError, UNREACHABLE_STORAGE } from './errors.js';
import type { AzureBlobUploadGrant } from './grant.js';
import { OutboundPolicy } from '../lib/index.js';
import { azureAgentPolicyFor, outboundAgentsFor, outboundRouteFor, type StorageOutboundOptions } from './outbound.js';
import { verifyBySignedGet } from './signed-get-verify.js';

const mebibyte = 1024 * 1024;
// 8 MiB blocks; Azure allows 50,000 blocks per blob, so grow the block for files over ~390 GiB.
const defaultBlockSizeInBytes = 8 * mebibyte;
const maxBlocksPerBlob = 50_000;
// SAS start time is set in the past so a host whose clock runs a little behind is not refused.
const clockSkewAllowanceInMs = 5 * 60_000;
// The server's own read SAS for verifying: Azure checks a SAS when a request starts, so a few
// minutes cover a download of any length (and its retries).
const verifySasLifetimeInMs = 10 * 60_000;

// Three tries, 200 ms then 400 ms apart (capped at 2 s): a blip is absorbed, an outage shows at once.
const serverRetryOptions = { maxTries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 };

/** Block size the agent will use for a file of this size. */
export function azureBlockSizeFor(sizeInBytes: number): number {
  const needed = Math.ceil(sizeInBytes / maxBlocksPerBlob / mebibyte) * mebibyte;
  return Math.max(defaultBlockSizeInBytes, needed);
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null)?.statusCode;
}

function wrap(what: string, error: unknown): StorageServiceError {
  const rest = error as { statusCode?: number; code?: string; message?: string };
  // No HTTP answer: one message whatever the socket said (see UNREACHABLE_STORAGE); the cause keeps it for the log.
  if (rest.statusCode === undefined)
    return new StorageServiceError(`azure blob ${what} failed: ${UNREACHABLE_STORAGE}`, { cause: error });
  return new StorageServiceError(
    `azure blob ${what} failed: ${rest.statusCode} ${rest.code ?? rest.message ?? ''}`.trim(),
    { cause: error },
  );
}

/** A {@link BlobStore} over an Azure Storage account (or Azurite) given by a connection string with an account key. */
export function openAzureBlobStore(connectionString: string, outbound: StorageOutboundOptions = {}): BlobStore {
  const parts = parseAzureConnectionString(connectionString);
  const credential = new StorageSharedKeyCredential(parts.accountName, parts.accountKey);
  // The SDK's default retries (4 tries, 4 s doubling) would hide an outage for ~30 s in every
  // server call (grant, verify); the agent has its own retry loop, so fail fast and let it retry.
  const pipeline = newPipeline(credential, { retryOptions: serverRetryOptions });
  // Connections to the endpoint go through the outbound policy (checked on the resolved address),
  // the SDK's and the verify's plain GETs alike.
  const policy = outbound.outboundPolicy ?? OutboundPolicy.fromSettings();
  const agents = outboundAgentsFor(policy);
  pipeline.factories.push(azureAgentPolicyFor(agents));
  const service = new BlobServiceClient(parts.blobEndpoint, pipeline);
  const endpoint = new URL(parts.blobEndpoint);
  const endpointPath = endpoint.pathname.replace(/\/+$/, '');

  const blobClient = (loc: BlobLocation) => {
    assertValidBlobLocation(loc);
    return service.getContainerClient(loc.container).getBlockBlobClient(loc.blobPath);
  };

  return {
    type: 'azureBlob',

    blobUrl(loc) {
      return blobClient(loc).url;
    },

    parseContainerUrl(url) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return null;
      }
      if (parsed.origin.toLowerCase() !== endpoint.origin.toLowerCase()) return null;
      if (!parsed.pathname.startsWith(`${endpointPath}/`)) return null;
      return splitContainerPath(parsed.pathname.slice(endpointPath.length + 1));
    },

    async ensureContainer(container) {
      assertValidBlobLocation({ container, blobPath: 'placeholder' });
      try {
        await service.getContainerClient(container).createIfNotExists();
      } catch (error) {
        throw wrap('create container', error);
      }
    },

    async grantUpload(loc, opts: GrantUploadOptions): Promise<AzureBlobUploadGrant> {
      const client = blobClient(loc);
      const now = Date.now();
      const expiresOn = new Date(now + opts.expiresInSeconds * 1000);
      // A service SAS scoped to this one blob, create+write only: enough for Put Block and
      // Put Block List, not enough to read, list or delete anything.
      const sas = generateBlobSASQueryParameters(
        {
          containerName: loc.container,
          blobName: loc.blobPath,
          permissions: BlobSASPermissions.parse('cw'),
          startsOn: new Date(now - clockSkewAllowanceInMs),
          expiresOn,
          protocol: endpoint.protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
        },
        credential,
      ).toString();
      return {
        kind: 'azureBlob',
        expiresAt: expiresOn.toISOString(),
        sizeInBytes: opts.sizeInBytes,
        blobUrl: client.url,
        sasUrl: `${client.url}?${sas}`,
        blockSizeInBytes: azureBlockSizeFor(opts.sizeInBytes),
      };
    },

    async stat(loc) {
      try {
        const properties = await blobClient(loc).getProperties();
        return { sizeInBytes: properties.contentLength ?? 0 };
      } catch (error) {
        if (statusOf(error) === 404) return null;
        throw wrap('get properties', error);
      }
    },

    async verify(loc, expected) {
      const client = blobClient(loc);
      const now = Date.now();
      // A service SAS for reading this one blob, held only for this call (never logged: errors
      // from the GET carry the path at most).
      const sas = generateBlobSASQueryParameters(
        {
          containerName: loc.container,
          blobName: loc.blobPath,
          permissions: BlobSASPermissions.parse('r'),
          startsOn: new Date(now - clockSkewAllowanceInMs),
          expiresOn: new Date(now + verifySasLifetimeInMs),
          protocol: endpoint.protocol === 'https:' ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
        },
        credential,
      ).toString();
      return verifyBySignedGet(`${client.url}?${sas}`, expected, {
        what: 'azure blob download',
        ...outboundRouteFor(policy, agents),
        errorCodeOf: (response) => [response.headers['x-ms-error-code']].flat()[0],
      });
    },

    async openRead(loc): Promise<BlobReadStream> {
      try {
        const response = await blobClient(loc).download();
        if (!response.readableStreamBody) throw new StorageServiceError('azure blob download returned no body');
        return { stream: response.readableStreamBody, sizeInBytes: response.contentLength ?? 0 };
      } catch (error) {
        if (statusOf(error) === 404) throw new BlobNotFoundError(loc.container, loc.blobPath);
        if (error instanceof StorageServiceError) throw error;
        throw wrap('download', error);
      }
    },

    async delete(loc) {
      try {
        const result = await blobClient(loc).deleteIfExists();
        return result.succeeded;
      } catch (error) {
        if (statusOf(error) === 404) return false; // the container itself does not exist
        throw wrap('delete', error);
      }
    },
  };
}
