import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyConfigText } from './haproxy.js';
import { addressListFor } from './replica-set.js';

const DOCS_CONFIG = readFileSync(fileURLToPath(new URL('../../docs/deploy/haproxy.cfg', import.meta.url)), 'utf8');

test('the bench runs the docs haproxy.cfg with only its port, its servers and a stats socket changed', () => {
  const text = haproxyConfigText(DOCS_CONFIG, 40001, [40011, 40012, 40013], '/tmp/x/haproxy.sock');
  const lines = (t: string) => t.split('\n').map((l) => l.trim());
  assert.deepEqual(
    lines(text).filter((l) => l.startsWith('server ')),
    ['server nw1 127.0.0.1:40011 check', 'server nw2 127.0.0.1:40012 check', 'server nw3 127.0.0.1:40013 check'],
  );
  assert.deepEqual(
    lines(text).filter((l) => l.startsWith('bind ')),
    ['bind 127.0.0.1:40001'],
  );
  assert.match(text, /^global\n {4}stats socket \/tmp\/x\/haproxy\.sock mode 600 level admin$/m);
  // Everything else as documented (tunnel timeout, redispatch, health checks that cut sessions).
  const kept = lines(DOCS_CONFIG).filter((l) => l && !l.startsWith('server ') && !l.startsWith('bind '));
  for (const line of kept) assert.ok(lines(text).includes(line), `kept: ${line}`);
  assert.equal(lines(text).length, lines(DOCS_CONFIG).length + 1);
});

test('two replicas give two server lines', () => {
  const text = haproxyConfigText(DOCS_CONFIG, 40001, [40011, 40012], '/tmp/s');
  assert.equal(text.split('\n').filter((l) => l.trim().startsWith('server ')).length, 2);
});

test('two balancers: every agent is given both addresses, half of the fleet starting at each', () => {
  const lbs = ['http://127.0.0.1:40001', 'http://127.0.0.1:40002'];
  assert.equal(addressListFor(lbs, 0), 'http://127.0.0.1:40001,http://127.0.0.1:40002');
  assert.equal(addressListFor(lbs, 1), 'http://127.0.0.1:40002,http://127.0.0.1:40001');
  const firsts = Array.from({ length: 10_000 }, (_, i) => addressListFor(lbs, i).split(',')[0]);
  assert.equal(firsts.filter((u) => u === lbs[0]).length, 5_000);
  // Each instance is the docs' configuration in front of every replica, on its own port.
  for (const [i, port] of [40001, 40002].entries()) {
    const text = haproxyConfigText(DOCS_CONFIG, port, [40011, 40012, 40013], `/tmp/x/haproxy-${i}.sock`);
    assert.equal(text.split('\n').filter((l) => l.trim().startsWith('server ')).length, 3);
    assert.match(text, new RegExp(`bind 127\\.0\\.0\\.1:${port}$`, 'm'));
  }
});
