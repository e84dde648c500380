// Choosing the capture program: the real nw-capture of this build (dist/native, `npm run build`)
// and a real tcpdump; no stand-ins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chooseCaptureProgram,
  NATIVE_CAPTURE_PATH,
  parseCaptureProgramChoice,
  findNativeCapture,
  probeNativeCapture,
  probeNativeCaptureSync,
} from './capture-program.js';

test('parseCaptureProgramChoice takes auto, native and tcpdump and names them when refusing anything else', () => {
  assert.equal(parseCaptureProgramChoice('auto'), 'auto');
  assert.equal(parseCaptureProgramChoice('native'), 'native');
  assert.equal(parseCaptureProgramChoice(' TCPDUMP '), 'tcpdump');
  assert.throws(() => parseCaptureProgramChoice('fast'), /one of auto, native, tcpdump; got 'fast'/);
  assert.throws(() => parseCaptureProgramChoice(''), RangeError);
});

test('the built nw-capture is found beside the package and answers --version with its libpcap', async () => {
  assert.match(NATIVE_CAPTURE_PATH, /\/dist\/native\/nw-capture$/);
  const probe = await probeNativeCapture();
  assert.ok(probe.usable, `nw-capture not usable (run npm run build): ${probe.usable ? '' : probe.problem}`);
  assert.match(probe.version, /^nw-capture 1 \(libpcap version \d/);
  // Once per path: the same answer, not a second run.
  assert.equal(probeNativeCaptureSync(), probeNativeCaptureSync());
  assert.equal(await probeNativeCapture(), probeNativeCaptureSync());
  assert.equal(findNativeCapture(), NATIVE_CAPTURE_PATH);
  assert.equal(findNativeCapture('/bin/true'), null, 'a program that is not nw-capture');
});

test("'auto' picks nw-capture when built, tcpdump when an explicit tcpdump is given or when nw-capture is absent", async () => {
  const auto = await chooseCaptureProgram();
  assert.equal(auto.kind, 'native');
  assert.ok(auto.kind !== null && auto.path === NATIVE_CAPTURE_PATH);
  assert.deepEqual(await chooseCaptureProgram({ tcpdumpPath: '/usr/bin/tcpdump' }), {
    kind: 'tcpdump',
    path: '/usr/bin/tcpdump',
    reason: 'tcpdump program given (/usr/bin/tcpdump)',
  });
  const absent = await chooseCaptureProgram({ nativeCapturePath: '/nonexistent/nw-capture' });
  assert.equal(absent.kind, 'tcpdump');
  assert.match(absent.reason, /^fallback: nw-capture is not built \(no \/nonexistent\/nw-capture/);
  assert.equal((await chooseCaptureProgram({ choice: 'tcpdump' })).kind, 'tcpdump');
});

test("'native' when nw-capture cannot run: no program, and the reason says why", async () => {
  const absent = await chooseCaptureProgram({ choice: 'native', nativeCapturePath: '/nonexistent/nw-capture' });
  assert.equal(absent.kind, null);
  assert.match(absent.reason, /nw-capture asked for but unusable: nw-capture is not built/);
  // A binary that runs but is not nw-capture (here: one that fails as a missing libpcap would).
  const dir = await mkdtemp(join(tmpdir(), 'nw-program-'));
  try {
    const broken = join(dir, 'nw-capture');
    await writeFile(
      broken,
      '#!/bin/sh\necho "nw-capture: libpcap.so.0.8: cannot open shared object file" >&2\nexit 1\n',
    );
    await chmod(broken, 0o755);
    const probe = await probeNativeCapture(broken);
    assert.equal(probe.usable, false);
    assert.match(probe.usable ? '' : probe.problem, /--version failed: .*\(nw-capture: libpcap\.so\.0\.8: cannot open/);
    assert.equal((await chooseCaptureProgram({ nativeCapturePath: broken })).kind, 'tcpdump');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
