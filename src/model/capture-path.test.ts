import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../lib/index.js';
import { CAPTURE_ROOT, captureFilePathProblem, parseCaptureFilePath } from './capture-path.js';

const FIELD = 'properties.storageLocation.filePath';

test('a .cap under the capture root is accepted and comes back normalized', () => {
  assert.equal(parseCaptureFilePath('/var/captures/pc1.cap', FIELD), '/var/captures/pc1.cap');
  assert.equal(parseCaptureFilePath('/var/captures/a//b/pc1.cap', FIELD), '/var/captures/a/b/pc1.cap');
  assert.equal(captureFilePathProblem('/srv/caps', '/srv/caps/x.cap'), null, 'an agent root other than the default');
});

test('every path the agent would refuse is refused up front, as a 400 naming the field', () => {
  for (const [bad, why] of [
    ['/etc/x.cap', /under \/var\/captures\//],
    ['/var/captures2/x.cap', /under \/var\/captures\//],
    [CAPTURE_ROOT, /\.cap/],
    ['/var/captures/../etc/x.cap', /'\.' or '\.\.'/],
    ['/var/captures/./x.cap', /'\.' or '\.\.'/],
    ['var/captures/x.cap', /absolute/],
    ['/var/captures/x.pcapng', /\.cap/],
    ['/var/captures/x\u0000.cap', /control characters/],
    ['/var/captures/x\n.cap', /control characters/],
    [`/var/captures/${'a'.repeat(1100)}.cap`, /at most 1024 bytes/],
  ] as const) {
    assert.throws(
      () => parseCaptureFilePath(bad, FIELD),
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === 'InvalidFilePath' &&
        e.statusCode === 400 &&
        e.target === FIELD &&
        e.message.startsWith(FIELD) &&
        why.test(e.message),
      JSON.stringify(bad),
    );
  }
});

test('the root itself and paths beside it are not under it', () => {
  assert.match(captureFilePathProblem('/var/captures', '/var/captures.cap') ?? '', /under/);
  assert.notEqual(captureFilePathProblem('/var/captures/', '/var/captures/'), null);
});
