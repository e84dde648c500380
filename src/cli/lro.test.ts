import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ArmClient } from './arm-client.js';
import { ApiResponseError, OperationFailedError, ServerUnreachableError } from './errors.js';
import { beginAndWait, OperationTimeoutError, retryAfterInMs } from './lro.js';
import { startCannedArmServer, type CannedArmServer } from './testing/canned-arm-server.js';

const POLL = { pollIntervalInMs: 5 };

describe('long-running operations against a canned ARM server', () => {
  let server: CannedArmServer;
  let other: CannedArmServer;
  let client: ArmClient;

  before(async () => {
    server = await startCannedArmServer();
    other = await startCannedArmServer();
    client = new ArmClient({ serverUrl: server.url, token: 'secret-token', fetch: globalThis.fetch });
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  test('PUT: 201 + Azure-AsyncOperation, InProgress twice, then the final GET of the resource', async () => {
    let polls = 0;
    server.on('PUT', '/r/put1', {
      status: 201,
      headers: { 'azure-asyncoperation': `${server.url}/ops/put1?api-version=2022-01-01` },
      body: { name: 'put1', properties: { provisioningState: 'Updating' } },
    });
    server.on('GET', '/ops/put1', () => ({ status: 200, body: { status: ++polls < 3 ? 'InProgress' : 'Succeeded' } }));
    server.on('GET', '/r/put1', {
      status: 200,
      body: { name: 'put1', properties: { provisioningState: 'Succeeded' } },
    });
    const outcome = await beginAndWait(client, 'PUT', '/r/put1', { body: { properties: {} } }, POLL);
    assert.equal(polls, 3);
    assert.deepEqual(outcome.result, { name: 'put1', properties: { provisioningState: 'Succeeded' } });
    const put = server.requests.find((r) => r.method === 'PUT' && r.path === '/r/put1')!;
    assert.equal(put.headers['authorization'], 'Bearer secret-token');
    assert.equal(put.query.get('api-version'), '2022-01-01');
    assert.equal(put.headers['content-type'], 'application/json');
    // The poll URL already had an api-version: it is not duplicated.
    const poll = server.requests.find((r) => r.path === '/ops/put1')!;
    assert.deepEqual(poll.query.getAll('api-version'), ['2022-01-01']);
  });

  test('POST queryStatus: 202 + both headers, poll the operation, then GET Location for the flat result', async () => {
    server.on('POST', '/r/pc/queryStatus', {
      status: 202,
      headers: { 'azure-asyncoperation': `${server.url}/ops/q1`, location: `${server.url}/opresults/q1` },
    });
    server.on('GET', '/ops/q1', { status: 200, body: { status: 'Succeeded' } });
    server.on('GET', '/opresults/q1', { status: 200, body: { name: 'pc', packetCaptureStatus: 'Running' } });
    const outcome = await beginAndWait(client, 'POST', '/r/pc/queryStatus', {}, POLL);
    assert.deepEqual(outcome.result, { name: 'pc', packetCaptureStatus: 'Running' });
    const post = server.requests.find((r) => r.path === '/r/pc/queryStatus')!;
    assert.equal(post.headers['content-length'], '0');
  });

  test('DELETE: 202 + headers, poll the operation, no final GET', async () => {
    server.on('DELETE', '/r/del1', {
      status: 202,
      headers: { 'azure-asyncoperation': `${server.url}/ops/d1`, location: `${server.url}/opresults/d1` },
    });
    server.on('GET', '/ops/d1', { status: 200, body: { status: 'Succeeded' } });
    const before = server.requests.length;
    const outcome = await beginAndWait(client, 'DELETE', '/r/del1', {}, POLL);
    assert.equal(outcome.result, null);
    assert.deepEqual(
      server.requests.slice(before).map((r) => `${r.method} ${r.path}`),
      ['DELETE /r/del1', 'GET /ops/d1'],
    );
  });

  test('Location only: GET it while 202, the first other answer is the result', async () => {
    let polls = 0;
    server.on('POST', '/r/loc/stop', { status: 202, headers: { location: '/opresults/loc1' } });
    server.on('GET', '/opresults/loc1', () => (++polls < 2 ? { status: 202 } : { status: 200, body: { done: true } }));
    const outcome = await beginAndWait(client, 'POST', '/r/loc/stop', {}, POLL);
    assert.deepEqual(outcome.result, { done: true });
    assert.equal(polls, 2);
  });

  test('no headers: 200/204 is done at once; a PUT body in Creating is polled until Succeeded', async () => {
    server.on('POST', '/r/sync/stop', { status: 200 });
    assert.equal((await beginAndWait(client, 'POST', '/r/sync/stop', {}, POLL)).result, null);
    let gets = 0;
    server.on('PUT', '/r/body1', { status: 201, body: { properties: { provisioningState: 'Creating' } } });
    server.on('GET', '/r/body1', () => ({
      status: 200,
      body: { properties: { provisioningState: ++gets < 2 ? 'Creating' : 'Succeeded' } },
    }));
    const outcome = await beginAndWait(client, 'PUT', '/r/body1', { body: {} }, POLL);
    assert.deepEqual(outcome.result, { properties: { provisioningState: 'Succeeded' } });
  });

  test('a Failed operation throws OperationFailedError with its code and message', async () => {
    server.on('PUT', '/r/fail1', {
      status: 201,
      headers: { 'azure-asyncoperation': `${server.url}/ops/f1` },
      body: {},
    });
    server.on('GET', '/ops/f1', {
      status: 200,
      body: { status: 'Failed', error: { code: 'AgentNotConnected', message: 'The agent of vm1 is not connected.' } },
    });
    await assert.rejects(beginAndWait(client, 'PUT', '/r/fail1', { body: {} }, POLL), (e: unknown) => {
      assert.ok(e instanceof OperationFailedError);
      assert.equal(e.code, 'AgentNotConnected');
      assert.equal(e.render().split('\n')[0], 'ERROR: (AgentNotConnected) The agent of vm1 is not connected.');
      return true;
    });
  });

  test('an ARM error body becomes ApiResponseError with status, code, message and target', async () => {
    server.on('PUT', '/r/bad', {
      status: 400,
      body: {
        error: { code: 'InvalidFilter', message: 'Filter 1: bad port', target: 'properties.filters[0].localPort' },
      },
    });
    await assert.rejects(beginAndWait(client, 'PUT', '/r/bad', { body: {} }, POLL), (e: unknown) => {
      assert.ok(e instanceof ApiResponseError);
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'InvalidFilter');
      assert.equal(e.target, 'properties.filters[0].localPort');
      assert.equal(e.exitCode, 1);
      assert.ok(e.render().startsWith('ERROR: (InvalidFilter) Filter 1: bad port\n'));
      return true;
    });
  });

  test('the bearer token is never sent to a poll URL on another origin', async () => {
    server.on('PUT', '/r/cross', { status: 201, headers: { 'azure-asyncoperation': `${other.url}/ops/x` }, body: {} });
    other.on('GET', '/ops/x', { status: 200, body: { status: 'Succeeded' } });
    server.on('GET', '/r/cross', { status: 200, body: { ok: 1 } });
    await beginAndWait(client, 'PUT', '/r/cross', { body: {} }, POLL);
    assert.equal(other.requests[0]!.headers['authorization'], undefined);
  });

  test('timeoutInMs bounds the wait', async () => {
    server.on('PUT', '/r/slow', {
      status: 201,
      headers: { 'azure-asyncoperation': `${server.url}/ops/slow` },
      body: {},
    });
    server.on('GET', '/ops/slow', { status: 200, body: { status: 'InProgress' } });
    await assert.rejects(
      beginAndWait(client, 'PUT', '/r/slow', { body: {} }, { pollIntervalInMs: 5, timeoutInMs: 50 }),
      OperationTimeoutError,
    );
  });

  test('an unreachable server is ServerUnreachableError', async () => {
    const dead = new ArmClient({ serverUrl: 'http://127.0.0.1:1', token: 't', fetch: globalThis.fetch });
    await assert.rejects(dead.request('GET', '/x'), ServerUnreachableError);
  });

  test('Retry-After: seconds or HTTP date, 0 ignored', () => {
    assert.equal(retryAfterInMs(new Headers({ 'retry-after': '2' })), 2000);
    assert.equal(retryAfterInMs(new Headers({ 'retry-after': '0' })), undefined);
    assert.equal(retryAfterInMs(new Headers()), undefined);
    const inFuture = retryAfterInMs(new Headers({ 'retry-after': new Date(Date.now() + 5000).toUTCString() }));
    assert.ok(inFuture !== undefined && inFuture > 3000 && inFuture <= 5000);
  });
});
