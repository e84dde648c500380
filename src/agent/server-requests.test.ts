import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentToServer } from '../model/index.js';
import { ServerRequests } from './server-requests.js';

const request = (requestId: string): AgentToServer => ({
  type: 'upload.request',
  requestId,
  captureUid: 'u1',
  sizeInBytes: 24,
  sha256: 'a'.repeat(64),
});

test('an answer reaches the request of its id only, and a late or unknown answer is dropped', async () => {
  const sent: AgentToServer[] = [];
  const requests = new ServerRequests<string>((m) => {
    sent.push(m);
    return true;
  }, 1_000);
  const first = requests.ask('r1', request('r1'), 'none');
  const second = requests.ask('r2', request('r2'), 'none');
  requests.answer('r2', 'two');
  requests.answer('r3', 'nobody asked');
  requests.answer('r1', 'one');
  assert.deepEqual(await Promise.all([first, second]), ['one', 'two']);
  requests.answer('r1', 'again'); // already answered: nothing waits for it
  assert.equal(sent.length, 2);
});

test('no answer in time, or a request that cannot be sent, resolves with the unanswered value', async () => {
  const silent = new ServerRequests<string>(() => true, 30);
  assert.equal(await silent.ask('r1', request('r1'), 'timed out'), 'timed out');
  const offline = new ServerRequests<string>(() => false, 60_000);
  const started = Date.now();
  assert.equal(await offline.ask('r2', request('r2'), 'not sent'), 'not sent');
  assert.ok(Date.now() - started < 1_000, 'a request that could not be sent does not wait for the timeout');
});

test('a lost connection resolves every waiting request with its unanswered value at once; later answers are dropped', async () => {
  const requests = new ServerRequests<string>(() => true, 60_000);
  const started = Date.now();
  const waiting = [requests.ask('r1', request('r1'), 'lost 1'), requests.ask('r2', request('r2'), 'lost 2')];
  requests.abandonAll();
  assert.deepEqual(await Promise.all(waiting), ['lost 1', 'lost 2']);
  assert.ok(Date.now() - started < 1_000, 'not at the timeout');
  requests.answer('r1', 'too late'); // nothing waits for it any more: dropped, no throw
  const next = requests.ask('r3', request('r3'), 'none');
  requests.answer('r3', 'three');
  assert.equal(await next, 'three', 'requests on the next connection are answered as before');
});
