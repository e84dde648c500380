export * from './roles.js';
export * from './authorize.js';
export * from './route-check.js';
