import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundPolicy, type OutboundResolver } from '../lib/index.js';
import { UNREACHABLE_RECEIVER, deliverWebhook } from './webhook.js';

// Webhooks are URLs users register: the server must not become their way into its own network.
let server: Server;
let silent: Server;
let base = '';
let silentBase = '';
const received: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  silent = createServer(() => {
    /* never answers */
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentBase = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
  silent.closeAllConnections();
  silent.close();
});

test('a webhook to a denied range is refused before connecting (deny 127.0.0.0/8)', async () => {
  received.length = 0;
  const policy = OutboundPolicy.fromSettings({ deny: ['127.0.0.0/8'] });
  const r = await deliverWebhook(`${base}/hook`, { a: 1 }, { outboundPolicy: policy, retryDelaysInMs: [1] });
  assert.equal(r.outcome, 'Failed');
  assert.equal(r.httpStatus, null);
  assert.deepEqual(received, [], 'nothing reached the receiver');
  const allowed = await deliverWebhook(
    `${base}/hook`,
    { a: 1 },
    { outboundPolicy: OutboundPolicy.fromSettings(), retryDelaysInMs: [] },
  );
  assert.equal(allowed.outcome, 'Succeeded', 'the same receiver is reached when the policy allows it');
});

test('the default delivery refuses the metadata service, by name too (resolved address)', async () => {
  const seen: string[] = [];
  const resolver: OutboundResolver = (h, _o, cb) => {
    seen.push(h);
    cb(null, [{ address: '169.254.169.254', family: 4 }]);
  };
  const r = await deliverWebhook(
    'http://metadata.google.internal/computeMetadata/v1/',
    {},
    { outboundPolicy: OutboundPolicy.fromSettings({}, { resolver }), retryDelaysInMs: [] },
  );
  assert.equal(r.outcome, 'Failed');
  assert.deepEqual(seen, ['metadata.google.internal']);
  const literal = await deliverWebhook('http://169.254.169.254/latest/meta-data/', {}, { retryDelaysInMs: [] });
  assert.equal(literal.outcome, 'Failed');
  assert.equal(literal.error, UNREACHABLE_RECEIVER);
});

test('DNS rebinding: an answer that changes to a denied address is refused on the next delivery', async () => {
  received.length = 0;
  let lookups = 0;
  const port = new URL(base).port;
  const resolver: OutboundResolver = (_h, _o, cb) => {
    lookups++;
    cb(null, [{ address: lookups === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }]);
  };
  const policy = OutboundPolicy.fromSettings({}, { resolver });
  const first = await deliverWebhook(
    `http://hooks.test:${port}/a`,
    {},
    { outboundPolicy: policy, retryDelaysInMs: [] },
  );
  assert.equal(first.outcome, 'Succeeded');
  const second = await deliverWebhook(
    `http://hooks.test:${port}/b`,
    {},
    { outboundPolicy: policy, retryDelaysInMs: [] },
  );
  assert.equal(second.outcome, 'Failed');
  assert.deepEqual(received, ['/a']);
});

test('errors do not make a port scanner: refused, timeout, TLS and policy failures read the same', async () => {
  const policy = OutboundPolicy.fromSettings({ deny: ['127.0.0.2/32'] });
  const details: string[] = [];
  const opts = {
    outboundPolicy: policy,
    retryDelaysInMs: [],
    attemptTimeoutInMs: 300,
    onUnreachable: (d: string) => {
      details.push(d);
    },
  };
  const results = await Promise.all([
    deliverWebhook('http://127.0.0.1:1/closed-port', {}, opts),
    deliverWebhook(`http://${silentBase}/never-answers`, {}, opts),
    deliverWebhook(`https://${new URL(base).host}/plain-http-spoken-to-with-tls`, {}, opts),
    deliverWebhook('http://127.0.0.2:80/denied', {}, opts),
  ]);
  for (const r of results)
    assert.deepEqual(r, { outcome: 'Failed', attempts: 1, httpStatus: null, error: UNREACHABLE_RECEIVER });
  // The operator's log still learns why (four different reasons).
  assert.equal(details.length, 4);
  assert.equal(new Set(details).size, 4, details.join(' | '));
});
