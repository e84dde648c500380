export { startServer, ADMIN_TOKEN_FILE, type RunningServer } from './server.js';
export type { ServerConfig } from './config.js';
export { SERVER_DEFAULTS } from './config.js';
export {
  buildOpenApiDocument,
  openApiText,
  writeOpenApiFile,
  API_SCHEMAS,
  OPENAPI_PATH,
  type ApiSchemaName,
} from './openapi.js';
export {
  verifyCredential,
  tokenKindOfPrefix,
  rotateAdminToken,
  writeAdminTokenFile,
  type CredentialInfo,
} from './credentials.js';
