import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseBooleanOption,
  parseFiltersOption,
  parseIntegerOption,
  parseListenOption,
  parseSecondsOption,
  parseSizeOption,
} from './option-values.js';
import { UsageError } from './errors.js';

describe('parseIntegerOption', () => {
  test('parses integers within range and leaves undefined alone', () => {
    assert.equal(parseIntegerOption('--time-limit', '60', 0, 18000), 60);
    assert.equal(parseIntegerOption('--time-limit', 0, 0, 18000), 0);
    assert.equal(parseIntegerOption('--time-limit', undefined, 0, 18000), undefined);
  });

  test('refuses text, fractions and out-of-range values', () => {
    assert.throws(() => parseIntegerOption('--time-limit', 'ten', 0, 18000), /invalid int value: 'ten'/);
    assert.throws(() => parseIntegerOption('--time-limit', '1.5', 0, 18000), UsageError);
    assert.throws(() => parseIntegerOption('--time-limit', '18001', 0, 18000), /between 0 and 18000/);
    assert.throws(() => parseIntegerOption('--capture-size', '-1', 0, 10), UsageError);
  });
});

describe('parseSecondsOption', () => {
  test('accepts fractions, refuses negatives and text', () => {
    assert.equal(parseSecondsOption('--interval', '0.5'), 0.5);
    assert.throws(() => parseSecondsOption('--interval', '-1'), UsageError);
    assert.throws(() => parseSecondsOption('--interval', 'x'), UsageError);
    assert.throws(() => parseSecondsOption('--interval', ''), UsageError);
  });
});

describe('parseBooleanOption', () => {
  test("az's three-state values", () => {
    assert.equal(parseBooleanOption('--enabled', 'true'), true);
    assert.equal(parseBooleanOption('--enabled', 'No'), false);
    assert.equal(parseBooleanOption('--enabled', undefined), undefined);
    assert.throws(() => parseBooleanOption('--enabled', 'maybe'), /invalid choice/);
  });
});

describe('parseFiltersOption', () => {
  test("takes the seed's --filters text and maps keys to the wire spelling", () => {
    const seed =
      '[{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"20"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"80"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"443"},{"protocol":"UDP"}]';
    const filters = parseFiltersOption(seed)!;
    assert.equal(filters.length, 4);
    assert.deepEqual(filters[0], {
      protocol: 'TCP',
      remoteIPAddress: '1.1.1.1-255.255.255',
      localIPAddress: '10.0.0.3',
      remotePort: '20',
    });
    assert.deepEqual(filters[3], { protocol: 'UDP' });
  });

  test('accepts any key casing, numeric ports and a single object', () => {
    assert.deepEqual(parseFiltersOption('{"LOCALIPADDRESS":"10.0.0.1","localPort":80}'), [
      { localIPAddress: '10.0.0.1', localPort: '80' },
    ]);
  });

  test('refuses invalid JSON, unknown fields and non-objects', () => {
    assert.throws(() => parseFiltersOption('[{'), /invalid JSON/);
    assert.throws(() => parseFiltersOption('[{"port":"80"}]'), /unknown field 'port'/);
    assert.throws(() => parseFiltersOption('[1]'), /not a JSON object/);
  });
});

describe('parseListenOption', () => {
  test('host:port, [v6]:port, :port', () => {
    assert.deepEqual(parseListenOption('127.0.0.1:8817'), { host: '127.0.0.1', port: 8817 });
    assert.deepEqual(parseListenOption('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenOption(':9000'), { host: '0.0.0.0', port: 9000 });
    assert.throws(() => parseListenOption('8817'), UsageError);
    assert.throws(() => parseListenOption('h:70000'), UsageError);
  });
});

test('parseSizeOption: bytes with binary and decimal units; anything else a usage error', () => {
  assert.equal(parseSizeOption('--max-size', '256MiB'), 268435456);
  assert.equal(parseSizeOption('--max-size', '1gib'), 1073741824);
  assert.equal(parseSizeOption('--max-size', '4000000'), 4000000);
  assert.equal(parseSizeOption('--max-size', '2MB'), 2000000);
  assert.equal(parseSizeOption('--max-size', '1.5KiB'), 1536);
  assert.equal(parseSizeOption('--max-size', undefined), undefined);
  assert.throws(() => parseSizeOption('--max-size', '256 parsecs'), /invalid size/);
  assert.throws(() => parseSizeOption('--max-size', '-1MiB'), /invalid size/);
});
