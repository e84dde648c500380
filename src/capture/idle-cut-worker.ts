// The worker thread of idle-cut.ts: lowers its own scheduling priority, then cuts, hashes and
// fsyncs the capture file through the descriptor it was given (the session's own, shared by every
// thread of the process: no path is opened here).
import { fsyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { cutCaptureFileSync } from './pcap-cut.js';
import { lowerThisThreadToIdle, thisThreadPriority } from './thread-priority.js';
import type { IdleCutRequest, IdleCutReply } from './idle-cut.js';

const request = workerData as IdleCutRequest;
let reply: IdleCutReply;
try {
  const priority = request.idle ? lowerThisThreadToIdle() : thisThreadPriority();
  let readDirect = false;
  const cut = cutCaptureFileSync(request.fd, request.rules, {
    tryDirect: request.tryDirect,
    onRead: (how) => {
      readDirect = how.direct;
    },
  });
  if (request.sync) fsyncSync(request.fd);
  reply = { ok: true, cut, priority, readDirect };
} catch (err) {
  reply = { ok: false, message: err instanceof Error ? err.message : String(err) };
}
parentPort?.postMessage(reply);
