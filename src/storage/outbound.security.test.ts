import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundPolicy, type OutboundResolver } from '../lib/index.js';
import { UNREACHABLE_STORAGE } from './errors.js';
import { openBlobStore } from './open-blob-store.js';
import type { StorageBackendConfig } from './config.js';

// A registered storage endpoint is a URL an API user chose: the server's own calls to it
// (containers, verification, downloads, deletes) go through the outbound policy too.
let server: Server;
let port = 0;
let requests = 0;

before(async () => {
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(500).end());
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
const kinds = (host: string): Array<[string, StorageBackendConfig]> => [
  [
    's3',
    {
      type: 's3',
      endpoint: `http://${host}:${port}`,
      region: 'us-east-1',
      bucket: 'bkt',
      accessKeyId: 'a',
      secretAccessKey: 'b',
      forcePathStyle: true,
    },
  ],
  [
    'azureBlob',
    {
      type: 'azureBlob',
      connectionString: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};BlobEndpoint=http://${host}:${port}/acct;`,
    },
  ],
];

for (const kind of ['s3', 'azureBlob']) {
  test(`${kind}: an endpoint in a denied range is never connected to, and the error names no socket detail`, async () => {
    const config = kinds('127.0.0.1').find(([k]) => k === kind)![1];
    requests = 0;
    const denied = openBlobStore('acct', config, deps, {
      outboundPolicy: OutboundPolicy.fromSettings({ deny: ['127.0.0.0/8'] }),
    });
    const error = await denied.ensureContainer('network-watcher-logs').then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.ok(error, 'refused');
    assert.equal(requests, 0, 'nothing reached the endpoint');
    assert.match(error.message, new RegExp(`${UNREACHABLE_STORAGE}$`));
    assert.doesNotMatch(error.message, /ECONN|127\.0\.0\.1|refused by/);
    // A closed port reads the same as the policy's refusal.
    const closed = openBlobStore(
      'acct',
      config.type === 's3'
        ? { ...(config as Extract<StorageBackendConfig, { type: 's3' }>), endpoint: 'http://127.0.0.1:1' }
        : {
            type: 'azureBlob',
            connectionString: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};BlobEndpoint=http://127.0.0.1:1/acct;`,
          },
      deps,
    );
    const closedError = await closed.ensureContainer('network-watcher-logs').then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.equal(closedError?.message, error.message);
    // The verify's own signed GET (not the SDK's) is held by the same policy.
    await assert.rejects(
      denied.verify(
        { container: 'network-watcher-logs', blobPath: 'a.cap' },
        { sizeInBytes: 1, sha256: '0'.repeat(64) },
      ),
      (e: Error) =>
        new RegExp(`${UNREACHABLE_STORAGE}$`).test(e.message) && !/ECONN|127\.0\.0\.1|refused by/.test(e.message),
    );
    assert.equal(requests, 0, 'the verify reached nothing');
    // Allowed (the default policy allows loopback), the same store reaches the endpoint.
    const allowed = openBlobStore('acct', config, deps);
    const allowedError = await allowed.ensureContainer('network-watcher-logs').then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.doesNotMatch(
      allowedError?.message ?? '',
      new RegExp(UNREACHABLE_STORAGE),
      String((allowedError?.cause as Error | undefined)?.message),
    );
    assert.ok(requests > 0, 'the endpoint is reached when allowed');
  });
}

test('an endpoint name that resolves to the metadata service is refused (checked at connect time)', async () => {
  const resolver: OutboundResolver = (_h, _o, cb) => cb(null, [{ address: '169.254.169.254', family: 4 }]);
  const policy = OutboundPolicy.fromSettings({}, { resolver });
  for (const [kind, config] of kinds('storage.test')) {
    requests = 0;
    const store = openBlobStore('acct', config, deps, { outboundPolicy: policy });
    await assert.rejects(
      store.stat({ container: 'network-watcher-logs', blobPath: 'a.cap' }),
      new RegExp(UNREACHABLE_STORAGE),
      kind,
    );
    await assert.rejects(
      store.verify(
        { container: 'network-watcher-logs', blobPath: 'a.cap' },
        { sizeInBytes: 1, sha256: '0'.repeat(64) },
      ),
      new RegExp(UNREACHABLE_STORAGE),
      `${kind} verify`,
    );
    assert.equal(requests, 0);
  }
});
