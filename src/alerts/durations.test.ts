import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InvalidDurationError,
  isoDurationToSeconds,
  parseDurationToSeconds,
  secondsToIsoDuration,
} from './durations.js';

test('ISO 8601 durations both ways', () => {
  assert.equal(isoDurationToSeconds('PT5M'), 300);
  assert.equal(isoDurationToSeconds('pt1s'), 1);
  assert.equal(isoDurationToSeconds('P1DT1H'), 90000);
  assert.equal(isoDurationToSeconds('PT0.5S'), 0.5);
  assert.equal(secondsToIsoDuration(300), 'PT5M');
  assert.equal(secondsToIsoDuration(90), 'PT1M30S');
  assert.equal(secondsToIsoDuration(86400), 'P1D');
  assert.equal(secondsToIsoDuration(5), 'PT5S');
  for (const bad of ['', 'P', 'PT', '5m', 'PT5X', 'P1W'])
    assert.throws(() => isoDurationToSeconds(bad), InvalidDurationError, bad);
});

test("az's short periods and ISO", () => {
  assert.equal(parseDurationToSeconds('5m'), 300);
  assert.equal(parseDurationToSeconds('1s'), 1);
  assert.equal(parseDurationToSeconds('2h'), 7200);
  assert.equal(parseDurationToSeconds('1d'), 86400);
  assert.equal(parseDurationToSeconds('PT1M'), 60);
  for (const bad of ['0s', 'm', '5 minutes', '-1s'])
    assert.throws(() => parseDurationToSeconds(bad), InvalidDurationError, bad);
});
