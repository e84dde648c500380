// SHA-256 of a local file on a worker thread: hashing a large capture costs about as much as
// analysing it, so the CLI does both at once on two cores instead of one after the other. The
// worker reads the file itself (the page cache serves both readers), so no bytes are copied
// between threads.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createReadStream } = require('node:fs');
const { createHash } = require('node:crypto');
const hash = createHash('sha256');
createReadStream(workerData, { highWaterMark: 4 * 1024 * 1024 })
  .on('data', (chunk) => hash.update(chunk))
  .on('error', (error) => parentPort.postMessage({ error: error.message }))
  .on('end', () => parentPort.postMessage({ sha256: hash.digest('hex') }));
`;

/**
 * The hex SHA-256 of the file at `path`, computed on a worker thread.
 * @example const sha256 = await sha256OfFileInWorker('/tmp/x.pcap');
 */
export function sha256OfFileInWorker(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: path });
    worker.once('message', (m: { sha256?: string; error?: string }) => {
      void worker.terminate();
      if (m.sha256 !== undefined) resolve(m.sha256);
      else reject(new Error(`cannot hash ${path}: ${m.error ?? 'unknown error'}`));
    });
    worker.once('error', reject);
  });
}
