export * from './errors.js';
export * from './arm-id.js';
export * from './logger.js';
export * from './tls.js';
export * from './process-identity.js';
export * from './shell-quote.js';
export * from './data-dir-lock.js';
