// The agent's surface of src/storage: the uploader and the grant it is given, without the
// server's side (openBlobStore and with it the Azure and S3 SDK clients, ~600 modules with their
// dependencies): an agent importing index.ts loaded all of them at start and held them idle
// (bench/agent-idle). Everything here is also exported by index.ts.
export { uploadGrantSchema, CAPTURE_CONTENT_TYPE } from './grant.js';
export type {
  UploadGrant,
  LocalUploadGrant,
  AzureBlobUploadGrant,
  S3SingleUploadGrant,
  S3MultipartUploadGrant,
} from './grant.js';
export { fileHasSha256, uploadFile } from './upload.js';
export type { UploadFileOptions, UploadFileResult } from './upload.js';
