import { z } from 'zod';

// A grant is everything an agent needs to upload exactly one blob, and nothing more: no account
// key ever leaves the server. It is plain JSON so it can cross the agent channel as is.
// Every URL in a grant except `blobUrl` carries a credential in its query: log it with redactUrl.

/** Grant for the local kind: PUT chunks to `uploadUrl` (Content-Range), ask `statusUrl` (HEAD) how much the server holds. */
export interface LocalUploadGrant {
  kind: 'local';
  /** ISO 8601; every URL of the grant is refused after this. */
  expiresAt: string;
  sizeInBytes: number;
  /** The blob's real URL, no credential (for logs and status). */
  blobUrl: string;
  uploadUrl: string;
  statusUrl: string;
}

/** Grant for Azure Blob: a blob SAS URL (create+write on this one blob) to stage blocks and commit the block list. */
export interface AzureBlobUploadGrant {
  kind: 'azureBlob';
  expiresAt: string;
  sizeInBytes: number;
  blobUrl: string;
  sasUrl: string;
  blockSizeInBytes: number;
}

/** Grant for S3, small files: one presigned PutObject. */
export interface S3SingleUploadGrant {
  kind: 's3';
  mode: 'single';
  expiresAt: string;
  sizeInBytes: number;
  blobUrl: string;
  putUrl: string;
}

/** Grant for S3, large files: a multipart upload the server created, one presigned UploadPart URL per part, presigned ListParts and CompleteMultipartUpload. */
export interface S3MultipartUploadGrant {
  kind: 's3';
  mode: 'multipart';
  expiresAt: string;
  sizeInBytes: number;
  blobUrl: string;
  uploadId: string;
  partSizeInBytes: number;
  /** partUrls[i] uploads part number i + 1. */
  partUrls: string[];
  listPartsUrl: string;
  completeUrl: string;
}

/** Serializable grant the agent uses to upload exactly one blob. */
export type UploadGrant = LocalUploadGrant | AzureBlobUploadGrant | S3SingleUploadGrant | S3MultipartUploadGrant;

const common = {
  expiresAt: z.iso.datetime({ offset: true }),
  sizeInBytes: z.number().int().nonnegative(),
  blobUrl: z.url(),
};

/** zod schema for an {@link UploadGrant} received as JSON (the agent validates what the server sent). */
export const uploadGrantSchema: z.ZodType<UploadGrant> = z.union([
  z.object({ kind: z.literal('local'), ...common, uploadUrl: z.url(), statusUrl: z.url() }),
  z.object({ kind: z.literal('azureBlob'), ...common, sasUrl: z.url(), blockSizeInBytes: z.number().int().positive() }),
  z.object({ kind: z.literal('s3'), mode: z.literal('single'), ...common, putUrl: z.url() }),
  z.object({
    kind: z.literal('s3'),
    mode: z.literal('multipart'),
    ...common,
    uploadId: z.string().min(1),
    partSizeInBytes: z.number().int().positive(),
    partUrls: z.array(z.url()).min(1),
    listPartsUrl: z.url(),
    completeUrl: z.url(),
  }),
]);

/** Content type of every capture blob (IANA's type for libpcap files); S3 single-PUT grants are signed with it, so the agent must send it. */
export const CAPTURE_CONTENT_TYPE = 'application/vnd.tcpdump.pcap';
