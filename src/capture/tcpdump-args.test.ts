import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTcpdumpArgs } from './tcpdump-args.js';
import type { CaptureSpec } from './types.js';

const spec: CaptureSpec = {
  captureId: 'c1',
  interfaceName: 'any',
  bpfExpression: '(tcp and src host 10.0.0.1) or (udp and dst portrange 1000-2000)',
  snapLengthInBytes: 0,
  totalBytesLimit: 1 << 30,
  timeLimitInSeconds: 60,
  outputPath: '/var/captures/c1.cap',
};

test('full argv: stream pcap to stdout, filter is one element, last, after --', () => {
  assert.deepEqual(buildTcpdumpArgs(spec), [
    '-i',
    'any',
    '-n',
    '-O',
    '-s',
    '262144',
    '-B',
    '32768',
    '-w',
    '-',
    '--',
    '(tcp and src host 10.0.0.1) or (udp and dst portrange 1000-2000)',
  ]);
});

test('an expression with shell metacharacters or a leading dash stays one inert argument', () => {
  const args = buildTcpdumpArgs({ ...spec, bpfExpression: '-w /etc/passwd; rm -rf / $(id) `x`' });
  assert.equal(args.at(-1), '-w /etc/passwd; rm -rf / $(id) `x`');
  assert.equal(args.at(-2), '--');
  assert.equal(args.filter((a) => a === '-w').length, 1);
});

test('empty expression keeps everything: no -- and no filter argument', () => {
  const args = buildTcpdumpArgs({ ...spec, bpfExpression: '  ' });
  assert.equal(args.at(-1), '-');
  assert.ok(!args.includes('--'));
});

test('snap length: 0 and oversize map to 262144, others pass through', () => {
  const snap = (n: number): string | undefined => {
    const a = buildTcpdumpArgs({ ...spec, snapLengthInBytes: n });
    return a[a.indexOf('-s') + 1];
  };
  assert.equal(snap(0), '262144');
  assert.equal(snap(4294967295), '262144');
  assert.equal(snap(64), '64');
  assert.throws(() => buildTcpdumpArgs({ ...spec, snapLengthInBytes: -1 }), RangeError);
  assert.throws(() => buildTcpdumpArgs({ ...spec, snapLengthInBytes: 1.5 }), RangeError);
});

test('kernel buffer, immediate mode and per-packet flush options', () => {
  const a = buildTcpdumpArgs(spec, { kernelBufferInKiB: 4096, immediateMode: true, flushEachPacket: true });
  assert.equal(a[a.indexOf('-B') + 1], '4096');
  assert.ok(a.indexOf('--immediate-mode') < a.indexOf('--'));
  assert.ok(a.includes('-U') && a.indexOf('-U') < a.indexOf('--'));
  assert.ok(!buildTcpdumpArgs(spec).includes('-U'));
  assert.throws(() => buildTcpdumpArgs(spec, { kernelBufferInKiB: 0 }), RangeError);
});

test('bad interface names and NUL bytes are refused', () => {
  assert.throws(() => buildTcpdumpArgs({ ...spec, interfaceName: '' }), RangeError);
  assert.throws(() => buildTcpdumpArgs({ ...spec, bpfExpression: 'tcp\0' }), RangeError);
});
