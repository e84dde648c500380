import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findFreePort, spawnTracked, stopChild, waitForPort, type TrackedChild } from './processes.js';

/** A running Azurite blob service on loopback that can be stopped and started again on the same port and data. */
export interface AzuriteServer {
  port: number;
  /** Connection string for Azurite's well-known development account. */
  connectionString: string;
  /** Stops the service (SIGTERM: Azurite saves its metadata); data stays in `dataDir`. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

// Azurite's documented well-known development account.
const accountName = 'devstoreaccount1';
const accountKey = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Starts Azurite's blob service (npm `azurite`, a dev dependency) on 127.0.0.1, persisting to `dataDir`. */
export async function startAzurite(dataDir: string): Promise<AzuriteServer> {
  const bin = realpathSync(fileURLToPath(new URL('../../../node_modules/.bin/azurite-blob', import.meta.url)));
  const port = await findFreePort();
  let running: TrackedChild | undefined;
  const start = async (): Promise<void> => {
    running = spawnTracked(process.execPath, [
      bin,
      '--blobHost', '127.0.0.1',
      '--blobPort', String(port),
      '--location', dataDir,
      '--skipApiVersionCheck',
      '--loose',
      '--silent',
      // Telemetry would send data off this machine.
      '--disableTelemetry',
    ]);
    const current = running;
    await waitForPort(port, 30_000, current.child, () => current.output());
  };
  await start();
  return {
    port,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=http://127.0.0.1:${port}/${accountName};`,
    async stop() {
      if (running) await stopChild(running.child);
      running = undefined;
    },
    start,
  };
}
