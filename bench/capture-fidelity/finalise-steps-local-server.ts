// The local kind's storage routes in a process of their own, for finalise-steps.ts: so that the
// server's receiving CPU is measured apart from the agent's sending. Prints its port.
import { startLocalStorageServer } from '../../src/storage/testing/index.js';

const server = await startLocalStorageServer({
  accountName: 'benchacct',
  rootDir: process.argv[2] ?? '/nonexistent',
  signingKey: Buffer.from(process.env['NW_BENCH_KEY'] ?? '', 'hex'),
});
process.stdout.write(`${server.port}\n`);
