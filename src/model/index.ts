export * from './case-insensitive.js';
export * from './validate.js';
export * from './packet-capture.js';
export * from './resources.js';
export * from './agent-protocol.js';
export * from './alerts.js';
export * from './names.js';
export * from './json-input.js';
