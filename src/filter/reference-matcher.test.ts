// The oracle is checked on hand-worked cases, so the property test cannot pass by the oracle
// sharing a mistake with the compiler.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceFilterSet } from './reference-matcher.js';
import type { ReferencePacket } from './reference-matcher.js';

const tcp = (
  source: string,
  sourcePort: number,
  destination: string,
  destinationPort: number,
  family: 4 | 6 = 4,
): ReferencePacket => ({ kind: 'ip', family, protocol: 'TCP', source, destination, sourcePort, destinationPort });
const udp = (
  source: string,
  sourcePort: number,
  destination: string,
  destinationPort: number,
  family: 4 | 6 = 4,
): ReferencePacket => ({ kind: 'ip', family, protocol: 'UDP', source, destination, sourcePort, destinationPort });
const icmp = (source: string, destination: string, family: 4 | 6 = 4): ReferencePacket => ({
  kind: 'ip',
  family,
  protocol: 'ICMP',
  source,
  destination,
});

function keeps(input: unknown, packet: ReferencePacket): boolean {
  const verdict = referenceFilterSet(input);
  assert.ok(verdict.valid, JSON.stringify(input));
  return verdict.valid && verdict.keeps(packet);
}

describe('reference matcher', () => {
  const seed = [
    { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '20' },
    { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '80' },
    { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '443' },
    { protocol: 'UDP' },
  ];

  test("the seed's filters", () => {
    assert.equal(keeps(seed, tcp('10.0.0.3', 5, '1.1.1.1', 443)), true);
    assert.equal(keeps(seed, tcp('255.255.0.255', 80, '10.0.0.3', 5)), true);
    assert.equal(keeps(seed, tcp('255.255.1.0', 80, '10.0.0.3', 5)), false);
    assert.equal(keeps(seed, tcp('10.0.0.3', 5, '1.1.1.0', 443)), false);
    assert.equal(keeps(seed, tcp('10.0.0.3', 80, '8.8.8.8', 5)), false);
    assert.equal(keeps(seed, udp('::1', 1, '::2', 2, 6)), true);
    assert.equal(keeps(seed, icmp('10.0.0.3', '1.1.1.1')), false);
    assert.equal(keeps(seed, { kind: 'other' }), false);
  });

  test('empty lists and field-less filters keep everything', () => {
    assert.equal(keeps([], { kind: 'other' }), true);
    assert.equal(keeps(null, { kind: 'other' }), true);
    assert.equal(keeps([{ protocol: 'any' }], { kind: 'other' }), true);
    assert.equal(keeps([{ protocol: 'tcp' }], { kind: 'other' }), false);
  });

  test('inet_aton short forms', () => {
    assert.equal(keeps([{ localIPAddress: '10.1' }], icmp('10.0.0.1', '9.9.9.9')), true);
    assert.equal(keeps([{ localIPAddress: '167772163' }], icmp('9.9.9.9', '10.0.0.3')), true);
    assert.equal(keeps([{ localIPAddress: '1.2.258' }], icmp('1.2.1.2', '9.9.9.9')), true);
  });

  test('fields are bound to one reading', () => {
    const f = [{ localIPAddress: '10.0.0.1-10.0.0.2', remoteIPAddress: '10.0.0.2-10.0.0.3' }];
    assert.equal(keeps(f, icmp('10.0.0.2', '10.0.0.9')), false);
    assert.equal(keeps(f, icmp('10.0.0.3', '10.0.0.1')), true);
    const g = [{ localIPAddress: '10.0.0.1', localPort: '80' }];
    assert.equal(keeps(g, tcp('10.0.0.1', 5, '10.0.0.2', 80)), false);
    assert.equal(keeps(g, tcp('10.0.0.2', 5, '10.0.0.1', 80)), true);
  });

  test('families stay apart, IPv4-mapped included', () => {
    assert.equal(keeps([{ localIPAddress: '10.0.0.1' }], icmp('::ffff:10.0.0.1', '::1', 6)), false);
    assert.equal(keeps([{ localIPAddress: '::ffff:10.0.0.1' }], icmp('10.0.0.1', '10.0.0.2')), false);
    assert.equal(keeps([{ localIPAddress: '::ffff:10.0.0.1' }], icmp('::ffff:10.0.0.1', '::1', 6)), true);
  });

  test('ports: Any means TCP or UDP', () => {
    assert.equal(keeps([{ localPort: '0' }], udp('1.1.1.1', 0, '2.2.2.2', 7)), true);
    assert.equal(keeps([{ localPort: '0-65535' }], icmp('1.1.1.1', '2.2.2.2')), false);
    assert.equal(keeps([{ protocol: 'UDP', localPort: '7' }], tcp('1.1.1.1', 7, '2.2.2.2', 7)), false);
  });

  test('invalid input names the filter', () => {
    for (const [input, index] of [
      [[{}, { localPort: '80,443' }], 1],
      [[{ localIPAddress: '010.0.0.1' }], 0],
      [[{ localIPAddress: '10.0.0.2-10.0.0.1' }], 0],
      [[{ localIPAddress: '10.0.0.1', remoteIPAddress: '::1' }], 0],
      [[{ localIPAddress: 'fe80::1%eth0' }], 0],
      [[{ protocol: 'icmp' }], 0],
      [[{ remotePort: '65536' }], 0],
      [{ protocol: 'TCP' }, -1],
    ] as Array<[unknown, number]>) {
      const verdict = referenceFilterSet(input);
      assert.equal(verdict.valid, false, JSON.stringify(input));
      if (!verdict.valid) assert.equal(verdict.filterIndex, index, JSON.stringify(input));
    }
  });
});
