import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { activityLogFilter } from './monitor-activity-log.js';

const NOW = new Date('2026-12-01T12:00:00Z');

test("activity-log list builds az's $filter: a window from --offset or the times, then one scope, caller and status", () => {
  assert.equal(
    activityLogFilter({ resourceGroup: 'rg1' }, NOW),
    "eventTimestamp ge '2026-12-01T06:00:00.000Z' and eventTimestamp le '2026-12-01T12:00:00.000Z' and resourceGroupName eq 'rg1'",
  );
  assert.equal(
    activityLogFilter({ offset: '1h', caller: "o'brien", status: 'failed' }, NOW),
    "eventTimestamp ge '2026-12-01T11:00:00.000Z' and eventTimestamp le '2026-12-01T12:00:00.000Z' and caller eq 'o''brien' and status eq 'Failed'",
  );
  assert.equal(
    activityLogFilter({ startTime: '2026-12-01T00:00:00Z', offset: '2h', correlationId: 'c1' }, NOW),
    "eventTimestamp ge '2026-12-01T00:00:00.000Z' and eventTimestamp le '2026-12-01T02:00:00.000Z' and correlationId eq 'c1'",
  );
  assert.throws(() => activityLogFilter({ resourceGroup: 'a', correlationId: 'b' }, NOW), UsageError);
  assert.throws(() => activityLogFilter({ status: 'Maybe' }, NOW), /Succeeded/);
  assert.throws(() => activityLogFilter({ startTime: 'yesterday' }, NOW), /date and time/);
  assert.throws(
    () => activityLogFilter({ startTime: '2026-12-02T00:00:00Z', endTime: '2026-12-01T00:00:00Z' }, NOW),
    /before/,
  );
});
