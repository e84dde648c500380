import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCondition } from './condition-expression.js';
import { UsageError } from './errors.js';

describe('compileCondition', () => {
  const capture = {
    provisioningState: 'Succeeded',
    timeLimitInSeconds: 60,
    filters: [{ protocol: 'TCP' }],
    storageLocation: { filePath: null },
  };

  test('equality on a field, with raw strings and JSON literals', () => {
    assert.equal(compileCondition("provisioningState=='Succeeded'")(capture), true);
    assert.equal(compileCondition("provisioningState=='Failed'")(capture), false);
    assert.equal(compileCondition('timeLimitInSeconds==`60`')(capture), true);
    assert.equal(compileCondition("provisioningState!='Failed'")(capture), true);
  });

  test('paths with dots and indexes, null for missing', () => {
    assert.equal(compileCondition("filters[0].protocol=='TCP'")(capture), true);
    assert.equal(compileCondition('storageLocation.filePath==`null`')(capture), true);
    assert.equal(compileCondition('nothing.here')(capture), false);
  });

  test('boolean operators, negation, parentheses, numeric comparison', () => {
    assert.equal(compileCondition("provisioningState=='Failed' || timeLimitInSeconds > `30`")(capture), true);
    assert.equal(compileCondition("!(provisioningState=='Succeeded') && filters")(capture), false);
    assert.equal(compileCondition('timeLimitInSeconds <= 59')(capture), false);
  });

  test('JMESPath truthiness: empty list and empty string are false', () => {
    assert.equal(compileCondition('filters')({ filters: [] }), false);
    assert.equal(compileCondition('name')({ name: '' }), false);
    assert.equal(compileCondition('name')({ name: 'x' }), true);
  });

  test('unsupported syntax is a usage error, not a silent false', () => {
    assert.throws(() => compileCondition('filters[?protocol==`TCP`]'), UsageError);
    assert.throws(() => compileCondition("name=='x"), UsageError);
    assert.throws(() => compileCondition('(name'), UsageError);
  });
});
