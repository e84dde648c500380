import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketDissection, LinkType, TcpFlag, buildFrame } from '../pcap/index.js';
import { DisplayFilterError, compileDisplayFilter } from './display-filter.js';
import type { FilterContext } from './display-filter.js';
import { dnsMessage } from './testing/scenario.js';

function ctx(frame: Buffer, number = 1): FilterContext {
  const d = new PacketDissection();
  d.dissect(LinkType.ETHERNET, frame);
  return { d, data: frame, number, originalLength: frame.length, capturedLength: frame.length, interfaceId: 0 };
}
const web = ctx(
  buildFrame({
    family: 4,
    protocol: 'TCP',
    sourceAddress: '10.0.0.1',
    destinationAddress: '192.168.1.20',
    sourcePort: 51000,
    destinationPort: 80,
    tcpFlags: TcpFlag.SYN,
  }),
);
const dns = ctx(
  buildFrame({
    family: 4,
    protocol: 'UDP',
    sourceAddress: '10.0.0.1',
    destinationAddress: '10.0.0.53',
    sourcePort: 33000,
    destinationPort: 53,
    payload: dnsMessage({ id: 1, name: 'Api.Example.com', type: 28 }),
  }),
);
const v6 = ctx(
  buildFrame({
    family: 6,
    protocol: 'UDP',
    sourceAddress: 'fd00::1',
    destinationAddress: '2001:db8::5',
    sourcePort: 5000,
    destinationPort: 6000,
  }),
);
const matches = (filter: string, c: FilterContext): boolean => compileDisplayFilter(filter)(c);

test('5-tuple fields, protocols and logic', () => {
  assert.ok(matches('ip.addr==10.0.0.1 && tcp.port==80', web));
  assert.ok(
    matches('ip.src == 10.0.0.1 and ip.dst == 192.168.1.0/24 and tcp.dstport eq 80 and tcp.srcport > 50000', web),
  );
  assert.ok(!matches('udp', web));
  assert.ok(matches('tcp && !udp', web));
  assert.ok(matches('not (udp or icmp)', web));
  // && binds tighter than ||.
  assert.ok(matches('udp && ip.addr == 1.2.3.4 || tcp', web));
  assert.ok(!matches('udp && (ip.addr == 1.2.3.4 || tcp)', web));
  assert.ok(matches('tcp.flags.syn', web));
  assert.ok(matches('tcp.flags.syn == 1 && tcp.flags.ack == 0', web));
  assert.ok(!matches('tcp.flags.reset', web));
  assert.ok(matches('ip.addr != 8.8.8.8', web));
  assert.ok(!matches('ip.addr != 10.0.0.1', web), '!= is the negation of == (neither side matches)');
});

test('IPv6 addresses and networks, DNS names, numbers in hex', () => {
  assert.ok(matches('ipv6.addr == 2001:db8::/32', v6));
  assert.ok(matches('ipv6.src == fd00::1 && udp.port == 6000', v6));
  assert.ok(!matches('ip', v6));
  assert.ok(matches('dns && dns.qry.name == "api.example.com" && dns.qry.type == 28', dns));
  assert.ok(matches('dns.qry.name contains "example"', dns));
  assert.ok(matches('dns.flags.response == 0', dns));
  assert.ok(matches('udp.dstport == 0x35', dns));
  assert.ok(matches('frame.len >= 60 && frame.number == 1', dns));
});

test('errors name the column and what is wrong', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['', 1, /empty filter/],
    ['ip.addr = 10.0.0.1', 9, /'=' is not an operator; use '=='/],
    ['ip.addr==10.0.0.1 && tcp.prot==80', 22, /unknown field or protocol 'tcp.prot' \(did you mean tcp, tcp\.srcport/],
    ['ip.addr == 10.0.0.300', 12, /'10.0.0.300' is not an IPv4 address/],
    ['ip.addr == fd00::1', 12, /not an IPv4 address \(an IPv6 address: use ipv6\.addr\)/],
    ['tcp.port == http', 13, /'tcp.port' takes a number, not 'http'/],
    ['(tcp || udp', 12, /expected '\)' to close the '\(' at column 1/],
    ['tcp udp', 5, /unexpected 'udp'; join tests with && or \|\|/],
    ['tcp == 1', 5, /'tcp' is a protocol; it cannot be compared/],
    ['ip.addr > 10.0.0.1', 9, /addresses compare with == or !=/],
    ['dns.qry.name > "a"', 14, /is text: use ==, != or contains/],
    ['ip.addr == 10.0.0.0/33', 12, /not a prefix length 0-32/],
    ['dns.qry.name == "open', 17, /unterminated string/],
    ['tcp.port ==', 12, /expected a value after '=='/],
    ['tcp &&', 7, /expected a field or protocol at the end/],
    ['tcp $ udp', 5, /unexpected character '\$'/],
  ];
  for (const [filter, position, message] of cases) {
    assert.throws(
      () => compileDisplayFilter(filter),
      (e: unknown) => {
        assert.ok(e instanceof DisplayFilterError, filter);
        assert.equal(e.position, position, `${filter}: ${e.message}`);
        assert.match(e.reason, message, filter);
        return true;
      },
    );
  }
});
