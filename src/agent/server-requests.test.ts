import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentToServer } from '../model/index.js';
import { ServerRequests } from './server-requests.js';

const request = (requestId: string): AgentToServer => ({ type: 'upload.request', requestId, captureUid: 'u1', sizeInBytes: 24, sha256: 'a'.repeat(64) });

test('an answer reaches the request of its id only, and a late or unknown answer is dropped', async () => {
  const sent: AgentToServer[] = [];
  const requests = new ServerRequests<string>((m) => { sent.push(m); return true; }, 1_000);
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
