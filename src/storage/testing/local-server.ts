import Fastify, { type FastifyInstance } from 'fastify';
import { registerLocalStorageRoutes } from '../local-routes.js';

/** A Fastify server with only the local storage routes, on loopback, that can be stopped and started again on the same port. */
export interface LocalStorageTestServer {
  port: number;
  publicBaseUrl: string;
  /** Bearer token `authorizeRead` accepts. */
  readToken: string;
  /** Closes the server and every open connection (an upload in flight is cut off). */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts the local routes for one account named `accountName` whose root is `rootDir`. */
export async function startLocalStorageServer(opts: {
  accountName: string;
  rootDir: string;
  signingKey: Buffer;
  port?: number;
}): Promise<LocalStorageTestServer> {
  const readToken = 'test-read-token';
  let app: FastifyInstance | undefined;
  let port = opts.port ?? 0;
  const start = async (): Promise<void> => {
    // forceCloseConnections: stop() must cut uploads in flight, as a crashed server would.
    const instance = Fastify({ forceCloseConnections: true });
    registerLocalStorageRoutes(instance, {
      resolveLocalRoot: async (name) => (name === opts.accountName ? opts.rootDir : null),
      signingKey: opts.signingKey,
      authorizeRead: async (request) => request.headers.authorization === `Bearer ${readToken}`,
    });
    await instance.listen({ host: '127.0.0.1', port });
    const address = instance.server.address();
    if (typeof address === 'object' && address !== null) port = address.port;
    app = instance;
  };
  await start();
  return {
    get port() {
      return port;
    },
    get publicBaseUrl() {
      return `http://127.0.0.1:${port}`;
    },
    readToken,
    async stop() {
      await app?.close();
      app = undefined;
    },
    start,
  };
}
