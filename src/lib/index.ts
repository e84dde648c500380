export * from './errors.js';
export * from './arm-id.js';
export * from './logger.js';
export * from './tls.js';
export * from './outbound-policy.js';
export * from './outbound-fetch.js';
