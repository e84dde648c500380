import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  findFreePort,
  resolvePlacement,
  spawnTracked,
  stopChild,
  waitForPort,
  type TestServerPlacement,
  type TrackedChild,
} from './processes.js';

/** A running Azurite blob service that can be stopped and started again on the same port and data. */
export interface AzuriteServer {
  port: number;
  /** Connection string for Azurite's well-known development account, at the advertised host. */
  connectionString: string;
  /** The same account at the probe host: what this test process uses to reach Azurite directly. */
  probeConnectionString: string;
  /** Stops the service (SIGTERM: Azurite saves its metadata); data stays in `dataDir`. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

// Azurite's documented well-known development account.
const accountName = 'devstoreaccount1';
const accountKey = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** The connection string of Azurite's development account at `host`:`port`. */
function connectionStringAt(host: string, port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=http://${host}:${port}/${accountName};`;
}

/**
 * Starts Azurite's blob service (npm `azurite`, a dev dependency), persisting to `dataDir`; on
 * 127.0.0.1 unless `placement` says otherwise (e.g. inside the lab's server namespace).
 */
export async function startAzurite(dataDir: string, placement: TestServerPlacement = {}): Promise<AzuriteServer> {
  const bin = realpathSync(fileURLToPath(new URL('../../../node_modules/.bin/azurite-blob', import.meta.url)));
  const where = resolvePlacement(placement);
  const port = await findFreePort();
  let running: TrackedChild | undefined;
  const start = async (): Promise<void> => {
    running = spawnTracked(
      process.execPath,
      [
        bin,
        '--blobHost',
        where.bindHost,
        '--blobPort',
        String(port),
        '--location',
        dataDir,
        '--skipApiVersionCheck',
        '--loose',
        '--silent',
        // Telemetry would send data off this machine.
        '--disableTelemetry',
      ],
      where.netns ? { netns: where.netns } : {},
    );
    const current = running;
    await waitForPort(port, 30_000, current.child, () => current.output(), where.probeHost);
  };
  await start();
  return {
    port,
    connectionString: connectionStringAt(where.advertisedHost, port),
    probeConnectionString: connectionStringAt(where.probeHost, port),
    async stop() {
      if (running) await stopChild(running.child);
      running = undefined;
    },
    start,
  };
}
