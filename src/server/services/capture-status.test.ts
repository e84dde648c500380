import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateStatus, isSettled } from './capture-status.js';
import { notStartedState, type CaptureInternal, type InstanceState } from './capture-types.js';

const s = (over: Partial<InstanceState>): InstanceState => ({ ...notStartedState('u'), ...over });
const internal = (storage: boolean): CaptureInternal => ({
  uid: 'u',
  createdAt: '',
  location: 'l',
  bpfExpression: '',
  targets: [],
  storage: storage ? { accountKey: 'a', container: 'c', blobPath: 'b' } : null,
  localFilePath: null,
  stopRequested: false,
  deleting: null,
  active: true,
});

test('one host: its own status', () => {
  assert.equal(aggregateStatus([s({ status: 'Running', captureStartTime: 't' })]).packetCaptureStatus, 'Running');
  const stopped = aggregateStatus([s({ status: 'Stopped', stopReason: 'TimeExceeded', captureStartTime: 't' })]);
  assert.deepEqual(stopped, {
    packetCaptureStatus: 'Stopped',
    captureStartTime: 't',
    stopReason: 'TimeExceeded',
    packetCaptureError: [],
  });
});

test('many hosts: running while any runs, error only when all failed', () => {
  assert.equal(aggregateStatus([s({ status: 'Stopped' }), s({ status: 'Running' })]).packetCaptureStatus, 'Running');
  assert.equal(
    aggregateStatus([s({ status: 'Error', errors: ['CaptureFailed'] }), s({ status: 'Stopped' })]).packetCaptureStatus,
    'Stopped',
  );
  const failed = aggregateStatus([
    s({ status: 'Error', errors: ['CaptureFailed'], stopReason: 'Error' }),
    s({ status: 'Error', errors: ['AgentStopped'] }),
  ]);
  assert.equal(failed.packetCaptureStatus, 'Error');
  assert.deepEqual(failed.packetCaptureError, ['CaptureFailed', 'AgentStopped']);
  assert.equal(aggregateStatus([]).packetCaptureStatus, 'NotStarted');
});

test('settled waits for the file to be stored unless storing failed', () => {
  const file = { path: '/x', sizeInBytes: 1, sha256: 'h', stored: false };
  assert.equal(isSettled(s({ status: 'Stopped', file }), internal(true)), false);
  assert.equal(isSettled(s({ status: 'Stopped', file: { ...file, stored: true } }), internal(true)), true);
  assert.equal(isSettled(s({ status: 'Stopped', file, errors: ['StorageFailed'] }), internal(true)), true);
  assert.equal(isSettled(s({ status: 'Stopped', file }), internal(false)), true);
  assert.equal(isSettled(s({ status: 'Running' }), internal(false)), false);
});
