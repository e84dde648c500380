import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { OutboundPolicy, createSelfSignedCertificate } from '../lib/index.js';
import { UnsupportedResponseError, getIntoSink, type HttpBodySink } from './http-client.js';

// getIntoSink: the server's verify GET, every socket read in one reused buffer. Its own HTTP/1.1
// response reading is checked here over plain HTTP and TLS, a body in odd pieces, and the answers
// it must not stream.
const body = randomBytes(3 * 1024 * 1024 + 17);
const bodySha256 = createHash('sha256').update(body).digest('hex');
const pair = createSelfSignedCertificate({ names: ['localhost', '127.0.0.1'] });
let answer: (req: IncomingMessage, res: ServerResponse) => void;
const handler = (req: IncomingMessage, res: ServerResponse): void => answer(req, res);
const plain = createHttpServer(handler);
const secure = createHttpsServer({ cert: pair.certPem, key: pair.keyPem }, handler);
const policy = OutboundPolicy.fromSettings();
const connectOptions = <O extends { host?: string | null }>(o: O): O => policy.connectOptions(o);

function hashingSink(): HttpBodySink & { sha256(): string; bytes: number; pieces: number } {
  const hash = createHash('sha256');
  const sink = {
    bytes: 0,
    pieces: 0,
    accept: () => true,
    write(chunk: Buffer) {
      hash.update(chunk);
      sink.bytes += chunk.length;
      sink.pieces += 1;
    },
    sha256: () => hash.digest('hex'),
  };
  return sink;
}

// The body in pieces of odd sizes, the head and the first bytes in one write.
function sendInPieces(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': String(body.length), 'x-test': 'a' });
  let at = 0;
  const next = (): void => {
    if (at >= body.length) return void res.end();
    const size = Math.min(body.length - at, 1 + ((at * 7919) % 200_000));
    const more = res.write(body.subarray(at, at + size));
    at += size;
    if (more) setImmediate(next);
    else res.once('drain', next);
  };
  next();
}

before(async () => {
  await Promise.all([plain, secure].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
});
after(() => {
  for (const s of [plain, secure]) {
    s.closeAllConnections();
    s.close();
  }
});

const origin = (server: Server, scheme: string): string =>
  `${scheme}://localhost:${(server.address() as AddressInfo).port}`;

for (const [scheme, server] of [
  ['http', plain],
  ['https', secure],
] as const) {
  test(`getIntoSink over ${scheme}: the whole body reaches the sink, in order, with the head's headers and the request's query`, async () => {
    let seenUrl = '';
    answer = (req, res) => {
      seenUrl = req.url ?? '';
      sendInPieces(res);
    };
    const sink = hashingSink();
    const response = await getIntoSink(`${origin(server, scheme)}/c/a%20b.cap?sv=1&sig=abc%2Fd`, {
      connectOptions,
      idleTimeoutInMs: 5_000,
      sink,
      readBufferBytes: 64 * 1024,
      ca: pair.certPem,
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-test'], 'a');
    assert.equal(seenUrl, '/c/a%20b.cap?sv=1&sig=abc%2Fd');
    assert.equal(sink.bytes, body.length);
    assert.equal(sink.sha256(), bodySha256);
    assert.ok(sink.pieces > 1);
  });
}

test('getIntoSink: an error status is returned with its body, not streamed; a refused size stops reading', async () => {
  answer = (_req, res) =>
    res.writeHead(403, { 'x-ms-error-code': 'AuthenticationFailed', 'content-length': '8' }).end('<Error/>');
  const sink = hashingSink();
  const refused = await getIntoSink(`${origin(plain, 'http')}/x`, { connectOptions, idleTimeoutInMs: 5_000, sink });
  assert.equal(refused.statusCode, 403);
  assert.equal(refused.body.toString(), '<Error/>');
  assert.equal(sink.bytes, 0);
  answer = (_req, res) => sendInPieces(res);
  const notWanted = await getIntoSink(`${origin(plain, 'http')}/x`, {
    connectOptions,
    idleTimeoutInMs: 5_000,
    sink: { accept: () => false, write: () => assert.fail('written after refusal') },
  });
  assert.equal(notWanted.statusCode, 200);
});

test('getIntoSink: a chunked answer is not read (the caller takes Node’s client), a short body is a network error', async () => {
  answer = (_req, res) => {
    res.writeHead(200);
    res.write('abc');
    res.end('def');
  };
  const sink = hashingSink();
  await assert.rejects(
    getIntoSink(`${origin(plain, 'http')}/x`, { connectOptions, idleTimeoutInMs: 5_000, sink }),
    UnsupportedResponseError,
  );
  assert.equal(sink.bytes, 0);
  answer = (_req, res) => {
    res.writeHead(404);
    res.end('<Error><Code>NoSuchKey</Code></Error>');
  };
  await assert.rejects(
    getIntoSink(`${origin(plain, 'http')}/x`, { connectOptions, idleTimeoutInMs: 5_000, sink }),
    UnsupportedResponseError,
  );
  answer = (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(10));
    setTimeout(() => res.socket?.destroy(), 20);
  };
  await assert.rejects(
    getIntoSink(`${origin(plain, 'http')}/x?sig=secret`, {
      connectOptions,
      idleTimeoutInMs: 5_000,
      sink: hashingSink(),
    }),
    (e: Error & { code?: string }) => e.code === 'NetworkError' && !e.message.includes('secret'),
  );
});
