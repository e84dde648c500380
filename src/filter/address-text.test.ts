import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseAddress } from './address-text.js';

function v4(text: string): string {
  const r = parseAddress(text);
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.reason}`);
  assert.equal(r.address.family, 4);
  return formatAddress(r.address);
}

function v6(text: string): string {
  const r = parseAddress(text);
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.reason}`);
  assert.equal(r.address.family, 6);
  return formatAddress(r.address);
}

function refused(text: string, reason: RegExp): void {
  const r = parseAddress(text);
  assert.equal(r.ok, false, `${text} should be refused`);
  if (!r.ok) assert.match(r.reason, reason);
}

describe('IPv4 text (inet_aton forms, decimal only)', () => {
  test('four parts', () => {
    assert.equal(v4('10.0.0.3'), '10.0.0.3');
    assert.equal(v4('0.0.0.0'), '0.0.0.0');
    assert.equal(v4('255.255.255.255'), '255.255.255.255');
  });
  test('three parts: the last fills 16 bits (the seed: 255.255.255 is 255.255.0.255)', () => {
    assert.equal(v4('255.255.255'), '255.255.0.255');
    assert.equal(v4('1.2.65535'), '1.2.255.255');
    assert.equal(v4('1.2.256'), '1.2.1.0');
  });
  test('two parts: the last fills 24 bits', () => {
    assert.equal(v4('10.1'), '10.0.0.1');
    assert.equal(v4('127.16777215'), '127.255.255.255');
  });
  test('one part: a 32-bit number', () => {
    assert.equal(v4('0'), '0.0.0.0');
    assert.equal(v4('167772163'), '10.0.0.3');
    assert.equal(v4('4294967295'), '255.255.255.255');
  });
  test('out-of-range parts', () => {
    refused('1.1.1.256', /256 is out of range \(0-255\)/);
    refused('256.1.1.1', /out of range/);
    refused('1.1.65536', /out of range \(0-65535 for the last of 3 parts\)/);
    refused('1.16777216', /out of range/);
    refused('4294967296', /out of range/);
    refused('99999999999999999999', /out of range/);
  });
  test('octal and hexadecimal forms are refused, not silently read as inet_aton would', () => {
    refused('010.0.0.1', /leading zero.*octal/);
    refused('10.0.0.01', /leading zero/);
    refused('0x0a.0.0.1', /hexadecimal/);
    refused('0X7f000001', /hexadecimal/);
  });
  test('malformed', () => {
    refused('1.2.3.4.5', /at most 4/);
    refused('1..2.3', /empty part/);
    refused('1.2.3.', /empty part/);
    refused('1.2.3.a', /not an IPv4 or IPv6 address/);
    refused('+1.2.3.4', /not an IPv4/);
    refused('', /empty/);
  });
});

describe('IPv6 text', () => {
  test('full, compressed and mixed-case forms', () => {
    assert.equal(v6('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(v6('2001:DB8::1'), '2001:db8::1');
    assert.equal(v6('::'), '::');
    assert.equal(v6('::1'), '::1');
    assert.equal(v6('1::'), '1::');
    assert.equal(v6('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
    assert.equal(v6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    assert.equal(v6('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
  });
  test('embedded IPv4 tail', () => {
    assert.equal(v6('::ffff:10.0.0.1'), '::ffff:a00:1');
    assert.equal(v6('64:ff9b::192.0.2.33'), '64:ff9b::c000:221');
    assert.equal(v6('1:2:3:4:5:6:1.2.3.4'), '1:2:3:4:5:6:102:304');
  });
  test('zone ids, brackets and prefixes are refused', () => {
    refused('fe80::1%eth0', /zone ids/);
    refused('[::1]', /brackets/);
    refused('2001:db8::/32', /CIDR/);
  });
  test('malformed', () => {
    refused('1::2::3', /only once/);
    refused('1:2:3:4:5:6:7', /8 groups, this one has 7/);
    refused('1:2:3:4:5:6:7:8:9', /8 groups/);
    refused('1:2:3:4::5:6:7:8', /too many groups/);
    refused('12345::', /not an IPv6 group/);
    refused(':1:2:3:4:5:6:7', /empty group/);
    refused('::g', /not an IPv6 group/);
    refused('::1.2.3', /dotted-quad/);
    refused('::01.2.3.4', /dotted-quad/);
    refused('::256.1.1.1', /dotted-quad/);
    refused('1.2.3.4::', /not an IPv6 group/);
  });
});
