import { uploadFile, type UploadFileResult, type UploadGrant } from '../index.js';
import type { TestFile } from './files.js';

/** A storage server a test can stop and start again on the same port and data. */
export interface RestartableServer {
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Uploads `file` with `grant` and, once `stopAtBytes` have been sent, stops the storage server,
 * keeps it down for `downForMs` and starts it again — an outage in the middle of an upload.
 * `whileDown` runs right after the stop (to look at what the server held). Resolves when the
 * upload is over and the server is back; `sentAtStop` is 0 when the upload ended before the stop.
 */
export async function uploadThroughOutage(
  grant: UploadGrant,
  file: TestFile,
  server: RestartableServer,
  opts: { stopAtBytes: number; downForMs: number; retryBudgetInMs: number; whileDown?: () => Promise<void> },
): Promise<{ result: UploadFileResult; sentAtStop: number }> {
  let outage: Promise<void> | undefined;
  let sentAtStop = 0;
  const result = await uploadFile(grant, file.path, {
    sizeInBytes: file.sizeInBytes,
    sha256: file.sha256,
    retryBudgetInMs: opts.retryBudgetInMs,
    onProgress(sent) {
      if (outage !== undefined || sent < opts.stopAtBytes) return;
      sentAtStop = sent;
      outage = (async () => {
        await server.stop();
        await opts.whileDown?.();
        await new Promise((resolve) => setTimeout(resolve, opts.downForMs));
        await server.start();
      })();
    },
  });
  await outage;
  return { result, sentAtStop };
}
