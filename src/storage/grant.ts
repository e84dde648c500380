import { z } from 'zod';

// A grant is everything an agent needs to upload exactly one blob, and nothing more: no account
// key ever leaves the server. It is plain JSON so it can cross the agent channel as is.
// Every URL in a grant except `blobUrl` carries a credential in its query: log it with redactUrl.

const common = {
  /** ISO 8601; every URL of the grant is refused after this. */
  expiresAt: z.iso.datetime({ offset: true }),
  sizeInBytes: z.number().int().nonnegative(),
  /** The blob's real URL, no credential (for logs and status). */
  blobUrl: z.url(),
};

/** Grant for the local kind: PUT chunks to `uploadUrl` (Content-Range), ask `statusUrl` (HEAD) how much the server holds. */
export const localUploadGrantSchema = z.object({
  kind: z.literal('local'),
  ...common,
  uploadUrl: z.url(),
  statusUrl: z.url(),
});
/** Grant for the local kind. */
export type LocalUploadGrant = z.output<typeof localUploadGrantSchema>;

/** Grant for Azure Blob: a blob SAS URL (create+write on this one blob) to stage blocks and commit the block list. */
export const azureBlobUploadGrantSchema = z.object({
  kind: z.literal('azureBlob'),
  ...common,
  sasUrl: z.url(),
  blockSizeInBytes: z.number().int().positive(),
});
/** Grant for Azure Blob. */
export type AzureBlobUploadGrant = z.output<typeof azureBlobUploadGrantSchema>;

/** Grant for S3, small files: one presigned PutObject. */
export const s3SingleUploadGrantSchema = z.object({
  kind: z.literal('s3'),
  mode: z.literal('single'),
  ...common,
  putUrl: z.url(),
});
/** Grant for S3, small files. */
export type S3SingleUploadGrant = z.output<typeof s3SingleUploadGrantSchema>;

/** Grant for S3, large files: a multipart upload the server created, one presigned UploadPart URL per part, presigned ListParts and CompleteMultipartUpload. */
export const s3MultipartUploadGrantSchema = z.object({
  kind: z.literal('s3'),
  mode: z.literal('multipart'),
  ...common,
  uploadId: z.string().min(1),
  partSizeInBytes: z.number().int().positive(),
  /** partUrls[i] uploads part number i + 1. */
  partUrls: z.array(z.url()).min(1),
  listPartsUrl: z.url(),
  completeUrl: z.url(),
});
/** Grant for S3, large files. */
export type S3MultipartUploadGrant = z.output<typeof s3MultipartUploadGrantSchema>;

/** zod schema for an {@link UploadGrant} received as JSON (the agent validates what the server sent). */
export const uploadGrantSchema = z.union([
  localUploadGrantSchema,
  azureBlobUploadGrantSchema,
  s3SingleUploadGrantSchema,
  s3MultipartUploadGrantSchema,
]);
/** Serializable grant the agent uses to upload exactly one blob. */
export type UploadGrant = z.output<typeof uploadGrantSchema>;

/** Content type of every capture blob (IANA's type for libpcap files); S3 single-PUT grants are signed with it, so the agent must send it. */
export const CAPTURE_CONTENT_TYPE = 'application/vnd.tcpdump.pcap';
