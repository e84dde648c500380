// Public surface of src/web: the portal's routes, its cookie sessions and their CSRF check.
export { registerPortalRoutes, isPortalPath, defaultPortalAssetsDir, PORTAL_PREFIX } from './routes.js';
export type { PortalOptions } from './routes.js';
export { SessionStore, SESSION_LIFETIME_IN_SECONDS, SESSION_IDLE_TIMEOUT_IN_SECONDS } from './sessions.js';
export type { PortalSession } from './sessions.js';
export { authenticateSession, sessionIdOf, CSRF_HEADER } from './portal-auth.js';
export { PORTAL_CSP, PORTAL_SECURITY_HEADERS } from './security-headers.js';
export { signInWithToken } from './sign-in.js';
