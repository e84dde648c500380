import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliverWebhook, isRetryableDelivery } from './webhook.js';

let server: Server;
let base = '';
const answers: number[] = [];
const received: Array<{ path: string; body: string; type: string | undefined }> = [];

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body, type: req.headers['content-type'] });
      const status = answers.shift() ?? 200;
      if (status === 0) return; // never answers
      res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('retries server errors and succeeds; the body is the JSON payload', async () => {
  received.length = 0;
  answers.push(500, 503);
  const r = await deliverWebhook(`${base}/hook?code=secret`, { a: 1 }, { retryDelaysInMs: [10, 10, 10] });
  assert.deepEqual(r, { outcome: 'Succeeded', attempts: 3, httpStatus: 200, error: null });
  assert.equal(received.length, 3);
  assert.deepEqual(JSON.parse(received[0]!.body), { a: 1 });
  assert.match(received[0]!.type ?? '', /application\/json/);
});

test('a client error is final; the result never holds the URL (it may carry a key)', async () => {
  received.length = 0;
  answers.push(400);
  const r = await deliverWebhook(`${base}/hook?code=secret`, {}, { retryDelaysInMs: [10, 10] });
  assert.equal(r.outcome, 'Failed');
  assert.equal(r.attempts, 1);
  assert.equal(r.httpStatus, 400);
  assert.doesNotMatch(JSON.stringify(r), /secret|hook/);
});

test('gives up after the retries; no answer within the timeout and refused connections are retried', async () => {
  answers.push(0, 500, 500);
  const r = await deliverWebhook(`${base}/slow`, {}, { retryDelaysInMs: [10, 10], attemptTimeoutInMs: 200 });
  assert.equal(r.outcome, 'Failed');
  assert.equal(r.attempts, 3);
  assert.equal(r.httpStatus, 500);
  const refused = await deliverWebhook('http://127.0.0.1:1/x?code=secret', {}, { retryDelaysInMs: [10] });
  assert.equal(refused.attempts, 2);
  assert.equal(refused.httpStatus, null);
  assert.match(refused.error ?? '', /cannot reach/);
  assert.doesNotMatch(refused.error ?? '', /secret/);
});

test('retryable statuses', () => {
  for (const s of [null, 500, 502, 408, 429]) assert.equal(isRetryableDelivery(s), true, String(s));
  for (const s of [400, 401, 404, 413]) assert.equal(isRetryableDelivery(s), false, String(s));
});
