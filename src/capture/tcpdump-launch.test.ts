import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTcpdumpUser, keepsTcpdumpRoot, tcpdumpLaunchPrefix } from './tcpdump-launch.js';

test('as root: setpriv switches to the user with CAP_NET_RAW only, arms the parent-death signal, then stdbuf execs tcpdump', () => {
  const opts = {
    setprivPath: '/usr/bin/setpriv',
    stdbufPath: '/usr/bin/stdbuf',
    outputBufferBytes: 65536,
    runAs: { user: '109', group: '112' },
  };
  assert.deepEqual(tcpdumpLaunchPrefix(opts), [
    '/usr/bin/setpriv',
    '--reuid',
    '109',
    '--regid',
    '112',
    '--clear-groups',
    '--inh-caps',
    '-all,+net_raw',
    '--ambient-caps',
    '+net_raw',
    '--bounding-set',
    '-all,+net_raw',
    '--no-new-privs',
    '--pdeathsig',
    'TERM',
    '--',
    '/usr/bin/stdbuf',
    '-o',
    '65536',
  ]);
  // tcpdump is not root, so it must not be told -Z (it would not switch anyway).
  assert.equal(keepsTcpdumpRoot(opts), false);
});

test('no user to switch to: only the parent-death signal, and tcpdump is told -Z root to keep it', () => {
  const opts = { setprivPath: '/usr/bin/setpriv', stdbufPath: null, outputBufferBytes: 65536, runAs: null };
  assert.deepEqual(tcpdumpLaunchPrefix(opts), ['/usr/bin/setpriv', '--pdeathsig', 'TERM', '--']);
  assert.equal(keepsTcpdumpRoot(opts), true);
});

test('no setpriv, no stdbuf or a zero buffer: nothing before tcpdump', () => {
  assert.deepEqual(
    tcpdumpLaunchPrefix({
      setprivPath: null,
      stdbufPath: null,
      outputBufferBytes: 65536,
      runAs: { user: '1', group: '1' },
    }),
    [],
  );
  assert.deepEqual(
    tcpdumpLaunchPrefix({ setprivPath: null, stdbufPath: '/usr/bin/stdbuf', outputBufferBytes: 0, runAs: null }),
    [],
  );
  assert.equal(keepsTcpdumpRoot({ setprivPath: null, stdbufPath: null, outputBufferBytes: 0, runAs: null }), false);
});

test('the tcpdump user of /etc/passwd by uid and gid, else nobody (65534)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-launch-'));
  try {
    const passwd = join(dir, 'passwd');
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\ntcpdump:x:109:112::/nonexistent:/usr/sbin/nologin\n');
    assert.deepEqual(defaultTcpdumpUser(passwd), { user: '109', group: '112' });
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\n');
    assert.deepEqual(defaultTcpdumpUser(passwd), { user: '65534', group: '65534' });
    assert.deepEqual(defaultTcpdumpUser(join(dir, 'missing')), { user: '65534', group: '65534' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
