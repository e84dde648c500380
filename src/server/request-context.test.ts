import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseUrlOf, handoffBaseUrlOf, type BaseUrlPolicy } from './request-context.js';

const plain: BaseUrlPolicy = { tls: false, listenHost: '127.0.0.1', port: () => 8817 };
const hostile = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };

test('without --public-url or --trust-proxy, Host and X-Forwarded-* never shape a URL', () => {
  assert.equal(baseUrlOf(hostile, false, plain), 'http://127.0.0.1:8817');
  assert.equal(
    baseUrlOf({ host: '127.0.0.1:8817', 'x-forwarded-host': 'evil.example' }, false, plain),
    'http://127.0.0.1:8817',
  );
  assert.equal(handoffBaseUrlOf(hostile, false, plain), 'http://127.0.0.1:8817');
  // A loopback name at the server's own port is kept (it cannot point off this machine); at another port it is not.
  assert.equal(baseUrlOf({ host: 'localhost:8817' }, false, plain), 'http://localhost:8817');
  assert.equal(baseUrlOf({ host: 'localhost:9999' }, false, plain), 'http://127.0.0.1:8817');
  assert.equal(baseUrlOf({ host: '[::1]:8817' }, false, { ...plain, tls: true }), 'https://[::1]:8817');
});

test('--public-url names the server for everything when no proxy is trusted', () => {
  const policy = { ...plain, listenHost: '0.0.0.0', publicUrl: 'https://nw.example:8817/' };
  assert.equal(baseUrlOf(hostile, false, policy), 'https://nw.example:8817');
  assert.equal(handoffBaseUrlOf(hostile, false, policy), 'https://nw.example:8817');
  // A local client (nw up's CLI config names 127.0.0.1) gets links it can follow with its token; install commands still name the public URL.
  assert.equal(baseUrlOf({ host: '127.0.0.1:8817' }, true, { ...policy, tls: true }), 'https://127.0.0.1:8817');
  assert.equal(handoffBaseUrlOf({ host: '127.0.0.1:8817' }, true, { ...policy, tls: true }), 'https://nw.example:8817');
});

test('--trust-proxy: the first X-Forwarded-Host/-Proto, else Host; a header that is not a host name is ignored', () => {
  const policy = { ...plain, trustProxy: true };
  assert.equal(
    baseUrlOf(
      { host: 'inner:1', 'x-forwarded-host': 'nw.example, proxy2', 'x-forwarded-proto': 'https' },
      false,
      policy,
    ),
    'https://nw.example',
  );
  assert.equal(baseUrlOf({ host: 'nw.example:8817' }, false, policy), 'http://nw.example:8817');
  assert.equal(
    baseUrlOf({ host: 'nw.example', 'x-forwarded-proto': 'javascript' }, true, policy),
    'https://nw.example',
  );
  for (const bad of ['evil.example/$(id)', "a';b", 'a b', 'user@evil.example', 'evil.example:8817/path']) {
    assert.equal(baseUrlOf({ host: bad }, false, policy), 'http://127.0.0.1:8817', bad);
  }
  // Install commands still go to --public-url when one is given.
  assert.equal(
    handoffBaseUrlOf({ host: 'nw.example' }, false, { ...policy, publicUrl: 'https://agents.example:8817' }),
    'https://agents.example:8817',
  );
});
