import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  OutboundAddressRefusedError,
  OutboundPolicy,
  OutboundPolicyConfigError,
  type OutboundResolver,
} from './outbound-policy.js';

test('the built-in denials: link-local and cloud metadata, in every spelling', () => {
  const policy = OutboundPolicy.fromSettings();
  for (const a of [
    '169.254.169.254',
    '169.254.0.1',
    'fe80::1',
    'fe80::1%eth0',
    'FEBF::ffff',
    'fd00:ec2::254',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '100.100.100.200',
  ]) {
    assert.equal(policy.decide(a).allowed, false, a);
  }
  for (const a of [
    '127.0.0.1',
    '10.1.2.3',
    '192.168.1.1',
    '::1',
    'fd00:ec2::253',
    '169.253.255.255',
    '169.255.0.0',
    '2001:db8::1',
  ]) {
    assert.equal(policy.decide(a).allowed, true, a);
  }
  assert.equal(policy.decide('not-an-address').allowed, false);
});

test("the operator's rules: the most specific range wins, a deny wins a tie", () => {
  const policy = OutboundPolicy.fromSettings({
    deny: ['127.0.0.0/8', '::1'],
    allow: ['127.0.0.2/32', '169.254.10.0/24', '10.0.0.0/8'],
  });
  assert.deepEqual(policy.decide('127.0.0.1'), { allowed: false, rule: 'deny 127.0.0.0/8' });
  assert.deepEqual(policy.decide('127.0.0.2'), { allowed: true, rule: 'allow 127.0.0.2/32' });
  assert.equal(policy.decide('::ffff:127.0.0.1').allowed, false, 'a mapped address is the IPv4 one');
  assert.equal(policy.decide('::1').allowed, false);
  assert.equal(policy.decide('169.254.10.7').allowed, true, 'allowed inside the built-in denial');
  assert.equal(policy.decide('169.254.169.254').allowed, false);
  const tie = OutboundPolicy.fromSettings({ deny: ['10.0.0.0/8'], allow: ['10.0.0.0/8'] });
  assert.equal(tie.decide('10.1.1.1').allowed, false);
});

test('a bad CIDR is a configuration error naming it', () => {
  for (const bad of ['10.0.0.0/33', 'fe80::/129', '10.0.0', 'host.example', '10.0.0.0/8/1', '1.2.3.4/x', '']) {
    assert.throws(
      () => OutboundPolicy.fromSettings({ deny: [bad] }),
      (e: unknown) => e instanceof OutboundPolicyConfigError && e.message.includes(`'${bad}'`),
      bad,
    );
  }
});

let server: Server;
let port = 0;
const hits: string[] = [];
let server2: Server;

before(async () => {
  const handler = (name: string) => (_req: unknown, res: { end(s: string): void }) => {
    hits.push(name);
    res.end('ok');
  };
  server = createServer(handler('127.0.0.1'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  // The same port on another loopback address: where a rebinding name pointed first.
  server2 = createServer(handler('127.0.0.2'));
  await new Promise<void>((r) => server2.listen(port, '127.0.0.2', r));
});
after(() => {
  server.close();
  server2.close();
});

function get(policy: OutboundPolicy, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent: policy.httpAgent() }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', reject);
    req.end();
  });
}

test('an IP literal the policy refuses is never connected to', async () => {
  hits.length = 0;
  const policy = OutboundPolicy.fromSettings({ deny: ['127.0.0.0/8'] });
  await assert.rejects(get(policy, '127.0.0.1'), (e: unknown) => e instanceof OutboundAddressRefusedError);
  await assert.rejects(get(policy, '[::ffff:127.0.0.1]'), (e: unknown) => e instanceof OutboundAddressRefusedError);
  assert.deepEqual(hits, []);
  assert.equal(await get(OutboundPolicy.fromSettings(), '127.0.0.1'), '200', 'allowed by default');
  assert.deepEqual(hits, ['127.0.0.1']);
});

test('names are checked on the resolved address: metadata.google.internal → 169.254.169.254 is refused', async () => {
  const resolver: OutboundResolver = (_h, _o, cb) => cb(null, [{ address: '169.254.169.254', family: 4 }]);
  const policy = OutboundPolicy.fromSettings({}, { resolver });
  await assert.rejects(
    get(policy, 'metadata.google.internal'),
    (e: unknown) => e instanceof OutboundAddressRefusedError && e.address === '169.254.169.254',
  );
  // Any refused address in the answer refuses the name (a client may try any of them).
  const mixed = OutboundPolicy.fromSettings(
    { deny: ['127.0.0.1/32'] },
    {
      resolver: (_h, _o, cb) =>
        cb(null, [
          { address: '127.0.0.2', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ]),
    },
  );
  await assert.rejects(get(mixed, 'two.test'), (e: unknown) => e instanceof OutboundAddressRefusedError);
});

test('DNS rebinding: the check runs on every connection, not once per name', async () => {
  hits.length = 0;
  let lookups = 0;
  // A rebinding DNS server: an allowed address first, the denied one afterwards.
  const resolver: OutboundResolver = (_h, _o, cb) => {
    lookups++;
    cb(null, [{ address: lookups === 1 ? '127.0.0.2' : '127.0.0.1', family: 4 }]);
  };
  const policy = OutboundPolicy.fromSettings({ deny: ['127.0.0.1/32'] }, { resolver });
  assert.equal(await get(policy, 'rebind.test'), '200');
  await assert.rejects(
    get(policy, 'rebind.test'),
    (e: unknown) => e instanceof OutboundAddressRefusedError && e.address === '127.0.0.1',
  );
  assert.equal(lookups, 2);
  assert.deepEqual(hits, ['127.0.0.2'], 'the denied address got nothing');
});
