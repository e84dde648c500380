// The finalisation of a capture file (cut at the last whole record, SHA-256 of what remains,
// fsync) at idle priority. SHA-256 alone costs ~0.54 CPU-s per GB here (OpenSSL with SHA-NI:
// there is no faster hash), more than tcpdump spends capturing that GB; run at normal priority
// right after a capture under load, it takes that CPU from the host's own work. In a worker
// thread that lowers itself to nice 19 / SCHED_IDLE (thread-priority.ts) it only gets CPU no
// other thread of its scheduling group wants (bench/capture-fidelity `finalise.ts` measures what
// the host pays). The worker reads, truncates and fsyncs through the caller's descriptor, never
// by path, so a file opened through a held folder stays confined.
import { Worker } from 'node:worker_threads';
import type { FileHandle } from 'node:fs/promises';
import { cutCaptureFile } from './pcap-cut.js';
import type { CaptureFileCutRules, CutCaptureFile } from './pcap-cut.js';
import { IDLE_NICE } from './thread-priority.js';
import type { ThreadPriority } from './thread-priority.js';

/** What the worker is asked (workerData). */
export interface IdleCutRequest {
  fd: number;
  rules: CaptureFileCutRules;
  /** fsync the file after the cut. */
  sync: boolean;
  /** Lower the worker's priority first (false: normal priority, the bench's comparison). */
  idle: boolean;
  /** Try O_DIRECT reads (FinaliseOptions.tryDirect). */
  tryDirect: boolean;
}

/** What the worker answers. */
export type IdleCutReply =
  { ok: true; cut: CutCaptureFile; priority: ThreadPriority; readDirect: boolean } | { ok: false; message: string };

/** Options of finaliseCaptureFile. */
export interface FinaliseOptions {
  /** fsync after the cut. Default true. */
  sync?: boolean;
  /** 'idle' (default): a worker thread at nice 19 / SCHED_IDLE; 'normal': the same worker at the process's priority; 'inline': on the event loop (no worker). */
  priority?: 'idle' | 'normal' | 'inline';
  /** Files smaller than this are cut on the event loop whatever the priority. Default DEFAULT_WORKER_MIN_BYTES. */
  workerMinBytes?: number;
  /** false: read the file through the page cache only, never O_DIRECT (the benches' baseline). Default true. */
  tryDirect?: boolean;
}

/** A finalised file and where its work ran. */
export interface FinalisedCaptureFile extends CutCaptureFile {
  /** The worker thread's priority as it ran the cut, or null when the cut ran on the event loop (inline, or no worker could start). */
  priority: ThreadPriority | null;
  /** True when the cut read the file with O_DIRECT (lib/direct-read.ts), false when through the page cache. */
  readDirect: boolean;
}

/**
 * Default for FinaliseOptions.workerMinBytes. Starting the worker costs ~65–75 ms of CPU (a V8
 * isolate, this module's imports, chrt; measured from dist/ on this 2-core VM) and 0.1–0.5 s of
 * wall time; the cut and hash of 128 MiB cost about as much. Below that the cut runs on the event
 * loop: the worker would cost more than the work it moves.
 */
export const DEFAULT_WORKER_MIN_BYTES = 128 * 1024 * 1024;

// The worker's own file, beside this one: .js once built, .ts when run from source (tests and
// benches under tsx: a worker does not get tsx's loader from the --import it inherits in Node 20,
// so the bootstrap registers it first).
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './idle-cut-worker.ts' : './idle-cut-worker.js', import.meta.url);
const TSX_API = FROM_SOURCE ? import.meta.resolve('tsx/esm/api') : null;

// A script (not a module) so that the thread lowers its nice value before it loads anything:
// the imports are then paid at idle priority too.
const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.idle) require('node:os').setPriority(0, ${IDLE_NICE});
const load = () => import(${JSON.stringify(WORKER_URL.href)});
${TSX_API === null ? 'load();' : `import(${JSON.stringify(TSX_API)}).then(({ register }) => { register(); return load(); });`}
`;

/**
 * Cuts the capture file open as `handle` after its last whole record the rules keep, hashes it
 * and fsyncs it (cutCaptureFile's guarantees, byte for byte the same result) on a worker thread
 * at idle priority (files under workerMinBytes on the event loop). Rejects as cutCaptureFile does when the cut fails; when no worker can start,
 * cuts on the event loop instead (the guarantees before the priority).
 * @example const cut = await finaliseCaptureFile(handle, { maxBytes: 1 << 30, stopAfterInMs: null }); // { sizeInBytes, sha256, …, priority: { nice: 19, schedIdle: true } }
 */
export async function finaliseCaptureFile(
  handle: FileHandle,
  rules: CaptureFileCutRules,
  opts: FinaliseOptions = {},
): Promise<FinalisedCaptureFile> {
  const sync = opts.sync ?? true;
  const priority = opts.priority ?? 'idle';
  const workerMinBytes = opts.workerMinBytes ?? DEFAULT_WORKER_MIN_BYTES;
  const tryDirect = opts.tryDirect ?? true;
  if (priority !== 'inline' && (workerMinBytes <= 0 || (await handle.stat()).size >= workerMinBytes)) {
    const reply = await runWorker({ fd: handle.fd, rules, sync, idle: priority === 'idle', tryDirect });
    if (reply !== null) {
      if (!reply.ok) throw new Error(reply.message);
      return { ...reply.cut, priority: reply.priority, readDirect: reply.readDirect };
    }
  }
  let readDirect = false;
  const cut = await cutCaptureFile(handle, rules, {
    tryDirect,
    onRead: (how) => {
      readDirect = how.direct;
    },
  });
  if (sync) await handle.sync();
  return { ...cut, priority: null, readDirect };
}

// null: the worker never ran (it could not start, or died before answering).
function runWorker(request: IdleCutRequest): Promise<IdleCutReply | null> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: request, stdout: false, stderr: false });
    } catch {
      resolve(null);
      return;
    }
    let reply: IdleCutReply | null = null;
    worker.once('message', (m: IdleCutReply) => {
      reply = m;
    });
    worker.once('error', () => {});
    worker.once('exit', () => resolve(reply));
  });
}
