export * from './db.js';
export { openPgliteWorker } from './pglite-worker.js';
export * from './migrations.js';
export * from './store.js';
export * from './secrets.js';
export * from './replica-store.js';
export { StatementBatcher, type BatchPick, type StatementBatcherOptions } from './batch.js';
