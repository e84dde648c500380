import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { coalesce } from './coalesce.js';

test('calls during a run share one follow-up run that starts after it; runs never overlap', async () => {
  const flights = new Map();
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  const fn = async () => {
    runs++;
    active++;
    maxActive = Math.max(maxActive, active);
    await sleep(20);
    active--;
  };
  const first = coalesce(flights, 'k', fn);
  const later = Array.from({ length: 50 }, () => coalesce(flights, 'k', fn));
  await Promise.all([first, ...later]);
  assert.equal(runs, 2, 'one run, then one follow-up for all 50 callers');
  assert.equal(maxActive, 1);
  assert.equal(flights.size, 0, 'nothing kept once idle');
  await coalesce(flights, 'k', fn);
  assert.equal(runs, 3, 'a call when idle runs again');
});

test('a failure reaches the callers of that run only', async () => {
  const flights = new Map();
  let n = 0;
  const fn = async () => {
    n++;
    await sleep(5);
    if (n === 1) throw new Error('first fails');
  };
  const first = coalesce(flights, 'k', fn);
  const second = coalesce(flights, 'k', fn);
  await assert.rejects(first, /first fails/);
  await second;
  assert.equal(n, 2);
});
