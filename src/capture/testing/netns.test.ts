import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespace, createVethPair, run, uniqueName } from './netns.js';
import type { TestNamespace } from './netns.js';
import { TCP_ECHO_SCRIPT, TCP_ECHO_SERVER_SCRIPT, TCP_SEND_SCRIPT, UDP_SEND_SCRIPT } from './traffic.js';

test('uniqueName respects the interface-name limit and differs per call', () => {
  const a = uniqueName('nwveryverylongprefix');
  assert.ok(a.length <= 15);
  assert.notEqual(uniqueName('x'), uniqueName('x'));
});

describe('namespace lab', () => {
  let a: TestNamespace;
  let b: TestNamespace;
  before(async () => {
    a = await createNamespace();
    b = await createNamespace();
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
  });

  test('a veth pair carries IPv4 and IPv6 between two namespaces', async () => {
    await createVethPair(a, b, {
      addressesA: ['10.77.0.1/24', 'fd77::1/64'],
      addressesB: ['10.77.0.2/24', 'fd77::2/64'],
    });
    const local = await b.runNode(TCP_ECHO_SCRIPT, ['10.77.0.2', '7000', '3000']);
    assert.equal(local.stdout.trim(), '3000');
    const server = b.spawn(process.execPath, ['-e', TCP_ECHO_SERVER_SCRIPT, '--', '::', '7001']);
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('listening')) resolve();
        });
        server.on('exit', (code) => reject(new Error(`server exited ${code}`)));
      });
      for (const address of ['10.77.0.2', 'fd77::2']) {
        const r = await a.runNode(TCP_SEND_SCRIPT, [address, '7001', '2500'], { timeoutInMs: 10_000 });
        assert.equal(r.stdout.trim(), '2500', `over ${address}: ${r.stderr}`);
      }
    } finally {
      server.kill('SIGKILL');
    }
    const udp = await a.runNode(UDP_SEND_SCRIPT, ['fd77::2', '9', '3', '100']);
    assert.equal(udp.exitCode, 0, udp.stderr);
    assert.equal(udp.stdout.trim(), '3');
    const links = await a.exec('ip', ['-o', 'link']);
    assert.match(links.stdout, /nva/);
  });

  test('destroy removes the namespace and is idempotent', async () => {
    const c = await createNamespace();
    await c.destroy();
    await c.destroy();
    const list = await run('ip', ['netns', 'list']);
    assert.doesNotMatch(list.stdout, new RegExp(`^${c.name}\\b`, 'm'));
  });
});
