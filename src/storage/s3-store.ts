import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BucketLocationConstraint } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertValidBlobLocation, encodeBlobPath, splitContainerPath, type BlobLocation } from './blob-path.js';
import type { BlobReadStream, BlobStore, GrantUploadOptions } from './blob-store.js';
import type { StorageBackendConfig } from './config.js';
import { BlobNotFoundError, StorageServiceError, UNREACHABLE_STORAGE } from './errors.js';
import { CAPTURE_CONTENT_TYPE, type S3MultipartUploadGrant, type S3SingleUploadGrant } from './grant.js';
import { OutboundPolicy } from '../lib/index.js';
import { outboundAgentsFor, outboundRouteFor, type StorageOutboundOptions } from './outbound.js';
import { parseS3ErrorCode } from './s3-xml.js';
import { verifyBySignedGet } from './signed-get-verify.js';

/** Settings of an S3 account. */
export type S3BackendConfig = Extract<StorageBackendConfig, { type: 's3' }>;

const mebibyte = 1024 * 1024;
/** Files up to this size go up in one presigned PUT; larger ones as a multipart upload. */
export const S3_SINGLE_PUT_MAX_BYTES = 8 * mebibyte;
// ListParts answers at most 1,000 parts per page and the agent reads one page, so parts grow
// past 8 MiB for files over ~8 GiB. (S3's own limits: 5 MiB ≤ part ≤ 5 GiB, 10,000 parts.)
const maxPartsPerUpload = 1_000;
// S3 refuses presigned URLs valid for more than seven days.
const maxPresignedLifetimeInSeconds = 604_800;
// The server's own presigned GET for verifying: checked when the request starts, so a few
// minutes cover a download of any length (and its retries).
const verifyUrlLifetimeInSeconds = 600;

/** Part size the agent will use for a file of this size (multipart uploads only). */
export function s3PartSizeFor(sizeInBytes: number): number {
  return Math.max(S3_SINGLE_PUT_MAX_BYTES, Math.ceil(sizeInBytes / maxPartsPerUpload / mebibyte) * mebibyte);
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function wrap(what: string, error: unknown): StorageServiceError {
  const e = error as { name?: string; message?: string };
  // No HTTP answer: one message whatever the socket said (see UNREACHABLE_STORAGE); the cause keeps it for the log.
  if (statusOf(error) === undefined)
    return new StorageServiceError(`s3 ${what} failed: ${UNREACHABLE_STORAGE}`, { cause: error });
  return new StorageServiceError(
    `s3 ${what} failed: ${statusOf(error) ?? ''} ${e.name ?? ''} ${e.message ?? ''}`.trim(),
    { cause: error },
  );
}

/**
 * The S3 key of a blob location: the container is the first segment of the key inside the
 * account's bucket, so Azure's layout (`network-watcher-logs/subscriptions/…`) is kept as is.
 */
export function s3KeyOf(loc: BlobLocation): string {
  assertValidBlobLocation(loc);
  return `${loc.container}/${loc.blobPath}`;
}

/** A {@link BlobStore} over one bucket of an S3-compatible service. */
export function openS3BlobStore(
  config: S3BackendConfig,
  outbound: StorageOutboundOptions = {},
): BlobStore & { readonly client: S3Client } {
  // Connections to the endpoint go through the outbound policy (checked on the resolved address),
  // the SDK's and the verify's plain GETs alike.
  const policy = outbound.outboundPolicy ?? OutboundPolicy.fromSettings();
  const agents = outboundAgentsFor(policy);
  const client = new S3Client({
    requestHandler: agents,
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    // Newer SDKs add CRC32 checksum parameters to every request, and to presigned URLs, which an
    // agent's plain PUT would then have to match; S3-compatible servers often reject them too.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const bucket = config.bucket;
  const endpoint = new URL(config.endpoint);
  const endpointPath = endpoint.pathname.replace(/\/+$/, '');
  const virtualHost = `${bucket}.${endpoint.host}`.toLowerCase();

  async function findOpenUpload(key: string): Promise<string | undefined> {
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    const uploads = (listing.Uploads ?? []).filter((upload) => upload.Key === key && upload.UploadId);
    uploads.sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
    return uploads[0]?.UploadId;
  }

  async function headSize(key: string): Promise<number | null> {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw wrap('head object', error);
    }
  }

  const blobUrl = (loc: BlobLocation): string => {
    const key = encodeBlobPath(s3KeyOf(loc));
    if (config.forcePathStyle) return `${endpoint.origin}${endpointPath}/${bucket}/${key}`;
    return `${endpoint.protocol}//${bucket}.${endpoint.host}${endpointPath}/${key}`;
  };

  return {
    type: 's3',
    client,

    blobUrl,

    parseContainerUrl(url) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return null;
      }
      let rest: string | undefined;
      if (parsed.protocol === 's3:') {
        if (parsed.hostname.toLowerCase() === bucket) rest = parsed.pathname.slice(1);
      } else if (parsed.origin.toLowerCase() === endpoint.origin.toLowerCase()) {
        const bucketPath = `${endpointPath}/${bucket}/`;
        if (parsed.pathname.startsWith(bucketPath)) rest = parsed.pathname.slice(bucketPath.length);
      } else if (parsed.host.toLowerCase() === virtualHost && parsed.protocol === endpoint.protocol) {
        if (parsed.pathname.startsWith(`${endpointPath}/`)) rest = parsed.pathname.slice(endpointPath.length + 1);
      }
      if (rest === undefined) return null;
      return splitContainerPath(rest);
    },

    async ensureContainer(container) {
      // The container is a key prefix; only the bucket has to exist.
      assertValidBlobLocation({ container, blobPath: 'placeholder' });
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        return;
      } catch (error) {
        if (statusOf(error) !== 404) throw wrap('head bucket', error);
      }
      try {
        await client.send(
          new CreateBucketCommand({
            Bucket: bucket,
            // The SDK's constraint is the closed list of regions it knew when it was built; S3-compatible stores name their own.
            ...(config.region === 'us-east-1'
              ? {}
              : { CreateBucketConfiguration: { LocationConstraint: config.region as BucketLocationConstraint } }),
          }),
        );
      } catch (error) {
        // Created by another replica meanwhile.
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw wrap('create bucket', error);
      }
    },

    async grantUpload(loc, opts: GrantUploadOptions): Promise<S3SingleUploadGrant | S3MultipartUploadGrant> {
      const key = s3KeyOf(loc);
      const expiresIn = Math.min(opts.expiresInSeconds, maxPresignedLifetimeInSeconds);
      const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString();
      if (opts.sizeInBytes <= S3_SINGLE_PUT_MAX_BYTES) {
        return {
          kind: 's3',
          mode: 'single',
          expiresAt,
          sizeInBytes: opts.sizeInBytes,
          blobUrl: blobUrl(loc),
          putUrl: await getSignedUrl(
            client,
            new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: CAPTURE_CONTENT_TYPE }),
            { expiresIn },
          ),
        };
      }
      let uploadId: string | undefined;
      try {
        // A new grant for the same blob continues the multipart upload an earlier grant began,
        // so parts that already landed are kept (the agent checks their ETags against its bytes).
        uploadId = await findOpenUpload(key);
        if (uploadId === undefined) {
          const created = await client.send(
            new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: CAPTURE_CONTENT_TYPE }),
          );
          uploadId = created.UploadId;
        }
      } catch (error) {
        throw wrap('create multipart upload', error);
      }
      if (!uploadId) throw new StorageServiceError('s3 create multipart upload returned no upload id');
      const partSize = s3PartSizeFor(opts.sizeInBytes);
      const partCount = Math.ceil(opts.sizeInBytes / partSize);
      const partUrls = await Promise.all(
        Array.from({ length: partCount }, (_, index) =>
          getSignedUrl(
            client,
            new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: index + 1 }),
            { expiresIn },
          ),
        ),
      );
      return {
        kind: 's3',
        mode: 'multipart',
        expiresAt,
        sizeInBytes: opts.sizeInBytes,
        blobUrl: blobUrl(loc),
        uploadId,
        partSizeInBytes: partSize,
        partUrls,
        listPartsUrl: await getSignedUrl(
          client,
          new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
          { expiresIn },
        ),
        completeUrl: await getSignedUrl(
          client,
          new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
          { expiresIn },
        ),
      };
    },

    async stat(loc) {
      const size = await headSize(s3KeyOf(loc));
      return size === null ? null : { sizeInBytes: size };
    },

    async verify(loc, expected) {
      // Held only for this call (never logged: errors from the GET carry the path at most).
      const getUrl = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: s3KeyOf(loc) }), {
        expiresIn: verifyUrlLifetimeInSeconds,
      });
      return verifyBySignedGet(getUrl, expected, {
        what: 's3 get object',
        ...outboundRouteFor(policy, agents),
        errorCodeOf: (response) => parseS3ErrorCode(response.body.toString('utf8')),
      });
    },

    async openRead(loc): Promise<BlobReadStream> {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: s3KeyOf(loc) }));
        return { stream: response.Body as NodeJS.ReadableStream, sizeInBytes: response.ContentLength ?? 0 };
      } catch (error) {
        if (statusOf(error) === 404) throw new BlobNotFoundError(loc.container, loc.blobPath);
        throw wrap('get object', error);
      }
    },

    async delete(loc) {
      const key = s3KeyOf(loc);
      const existed = (await headSize(key)) !== null;
      try {
        if (existed) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        // An unfinished multipart upload keeps its parts (and their cost) until aborted.
        for (let uploadId = await findOpenUpload(key); uploadId !== undefined; uploadId = await findOpenUpload(key)) {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
        }
      } catch (error) {
        throw wrap('delete', error);
      }
      return existed;
    },
  };
}
