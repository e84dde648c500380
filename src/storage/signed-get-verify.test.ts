import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { UNREACHABLE_STORAGE } from './errors.js';
import { openBlobStore } from './open-blob-store.js';
import type { StorageBackendConfig } from './config.js';

// The server's verify fetches the blob with a signed URL (a read SAS, a presigned GET) made for
// that one call: whatever the endpoint answers, the URL's query (its signature) must never come
// back in an error (error messages reach capture status, the agent and the server's log).
let server: Server;
let port = 0;
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(500).end();
const seenUrls: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seenUrls.push(req.url ?? '');
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const deps = { publicBaseUrl: 'http://127.0.0.1:1', signingKey: randomBytes(32) };
const key = randomBytes(32).toString('base64');
// A function: the endpoint's port is known only once `before` ran.
const configs = (): Array<[string, StorageBackendConfig, RegExp]> => [
  [
    's3',
    {
      type: 's3',
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      bucket: 'bkt',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
      forcePathStyle: true,
    },
    /X-Amz-Signature=/,
  ],
  [
    'azureBlob',
    {
      type: 'azureBlob',
      connectionString: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};BlobEndpoint=http://127.0.0.1:${port}/acct;`,
    },
    /[?&]sig=/,
  ],
];

// Everything an error carries that could be logged: message, stack, causes, own properties.
function everythingIn(error: unknown): string {
  const parts: string[] = [inspect(error, { depth: 20, showHidden: true })];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(String(e), e.message, e.stack ?? '');
  return parts.join('\n');
}

const loc = { container: 'network-watcher-logs', blobPath: 'a/b/c.cap' };
const expected = { sizeInBytes: 1000, sha256: '0'.repeat(64) };
const answers: Array<[string, (req: IncomingMessage, res: ServerResponse) => void, RegExp]> = [
  [
    '403 with an error code',
    (_req, res) =>
      res
        .writeHead(403, { 'x-ms-error-code': 'AuthenticationFailed', 'content-type': 'application/xml' })
        .end('<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code></Error>'),
    /failed: 403 (AuthenticationFailed|SignatureDoesNotMatch)$/,
  ],
  ['503 on every try', (_req, res) => res.writeHead(503).end(), /failed: 503$/],
  [
    'the connection reset in the middle of the body',
    (_req, res) => {
      res.writeHead(200, { 'content-length': String(expected.sizeInBytes) });
      res.write(Buffer.alloc(100));
      setTimeout(() => res.socket?.destroy(), 20);
    },
    new RegExp(`failed: ${UNREACHABLE_STORAGE}$`),
  ],
];

for (const kind of ['s3', 'azureBlob']) {
  for (const [what, respond, message] of answers) {
    test(`${kind}: verify's signed URL is in no error when the endpoint answers ${what}`, async () => {
      const [, config, signature] = configs().find(([k]) => k === kind)!;
      answer = respond;
      seenUrls.length = 0;
      const store = openBlobStore('acct', config, deps);
      const error = await store.verify(loc, expected).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof Error, 'verify fails');
      assert.equal((error as Error & { code?: string }).code, 'StorageServiceError');
      assert.match(error.message, message);
      assert.ok(seenUrls.length >= 1);
      for (const url of seenUrls) {
        // The request was a signed GET of the blob …
        assert.match(url, signature);
        assert.ok(url.includes('/a/b/c.cap?'), url);
        const query = url.slice(url.indexOf('?') + 1);
        const text = everythingIn(error);
        // … and neither its query nor any part of it is in the error.
        assert.ok(!text.includes(query), 'the query is in the error');
        for (const param of new URLSearchParams(query).values())
          if (param.length >= 16) assert.ok(!text.includes(param), `a query parameter is in the error: ${param}`);
        assert.doesNotMatch(text, signature);
      }
    });
  }
}
