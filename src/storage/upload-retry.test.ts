import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayInMs, retrying, runPool, UploadStepError, type UploadClock } from './upload-retry.js';

function clock(overrides: Partial<UploadClock> = {}): UploadClock {
  return {
    retryBudgetInMs: 1_000,
    lastProgressAtInMs: Date.now(),
    grantExpiresAtInMs: Date.now() + 60_000,
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('retrying', () => {
  test('retries retryNow errors until the step succeeds', async () => {
    let calls = 0;
    const result = await retrying(clock(), 'step', async (attempt) => {
      calls += 1;
      if (attempt < 2) throw new UploadStepError('NetworkError', 'refused', true);
      return 'done';
    });
    assert.equal(result, 'done');
    assert.equal(calls, 3);
  });

  test('does not retry errors without retryNow', async () => {
    let calls = 0;
    await assert.rejects(
      retrying(clock(), 'step', async () => {
        calls += 1;
        throw new UploadStepError('StorageRejected', 'bad request', false, false);
      }),
      { code: 'StorageRejected' },
    );
    assert.equal(calls, 1);
  });

  test('gives up with StorageUnavailable once the budget since the last progress is spent', async () => {
    const startedAt = Date.now();
    await assert.rejects(
      retrying(clock({ retryBudgetInMs: 300 }), 'step', async () => {
        throw new UploadStepError('NetworkError', 'refused', true);
      }),
      (error: UploadStepError) => error.code === 'StorageUnavailable' && error.retryLater && !error.retryNow,
    );
    assert.ok(Date.now() - startedAt < 1_000);
  });

  test('stops with GrantExpired when the grant would expire before the next try', async () => {
    await assert.rejects(
      retrying(clock({ grantExpiresAtInMs: Date.now() + 50, retryBudgetInMs: 10_000 }), 'step', async () => {
        throw new UploadStepError('NetworkError', 'refused', true);
      }),
      { code: 'GrantExpired' },
    );
  });

  test('backoff grows and is capped at 2 s', () => {
    assert.ok(backoffDelayInMs(1) <= 100);
    assert.ok(backoffDelayInMs(20) <= 2_000 && backoffDelayInMs(20) >= 1_000);
  });
});

describe('runPool', () => {
  test('runs everything with bounded concurrency, and the first failure stops the rest', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6], 2, new AbortController().signal, async (item) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      done.push(item);
      running -= 1;
    });
    assert.equal(peak, 2);
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6]);

    const started: number[] = [];
    await assert.rejects(
      runPool([1, 2, 3, 4, 5, 6], 1, new AbortController().signal, async (item) => {
        started.push(item);
        if (item === 2) throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(started, [1, 2]);
  });
});
