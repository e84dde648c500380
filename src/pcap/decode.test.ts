import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decode.js';
import { LinkType } from './format.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// IPv4 UDP 10.0.0.1:4660 → 10.0.0.2:80, no options.
const ipv4Udp = hex('4500 001c 0000 4000 4011 0000 0a000001 0a000002' + '1234 0050 0008 0000');
// IPv4 TCP with 4 bytes of options (IHL 6) 192.168.1.10:443 → 192.168.1.20:51000.
const ipv4TcpWithOptions = hex(
  '4600 002c 0000 4000 4006 0000 c0a8010a c0a80114 01010101' + '01bb c738 00000000 00000000 5000 0000 0000 0000',
);
// IPv6 UDP ::1:53 → ::1:5353.
const ipv6Udp = hex(
  '6000 0000 0008 1140' +
    '0000000000000000 0000000000000001' +
    '0000000000000000 0000000000000001' +
    '0035 14e9 0008 0000',
);

const ethernet = (ethertype: string, payload: Buffer): Buffer =>
  Buffer.concat([hex('ffffffffffff 020000000001' + ethertype), payload]);

test('Ethernet + IPv4 + UDP', () => {
  assert.deepEqual(decodePacket(LinkType.ETHERNET, ethernet('0800', ipv4Udp)), {
    family: 4,
    protocol: 'UDP',
    sourceAddress: '10.0.0.1',
    destinationAddress: '10.0.0.2',
    sourcePort: 0x1234,
    destinationPort: 80,
    direction: 'unknown',
  });
});

test('Ethernet with stacked 802.1ad + 802.1Q tags', () => {
  const tagged = Buffer.concat([hex('ffffffffffff 020000000001 88a8 0064 8100 00c8 0800'), ipv4Udp]);
  assert.equal(decodePacket(LinkType.ETHERNET, tagged).destinationPort, 80);
});

test('IPv4 header options are skipped using IHL', () => {
  const p = decodePacket(LinkType.RAW, ipv4TcpWithOptions);
  assert.equal(p.protocol, 'TCP');
  assert.equal(p.sourcePort, 443);
  assert.equal(p.destinationPort, 51000);
  assert.equal(p.sourceAddress, '192.168.1.10');
});

test('IPv4 non-first fragments have no ports, first fragments do', () => {
  const later = Buffer.from(ipv4Udp);
  later.writeUInt16BE(0x2000 | 185, 6); // MF + offset 185*8
  assert.deepEqual(
    [decodePacket(LinkType.RAW, later).sourcePort, decodePacket(LinkType.RAW, later).protocol],
    [null, 'UDP'],
  );
  const first = Buffer.from(ipv4Udp);
  first.writeUInt16BE(0x2000, 6); // MF, offset 0
  assert.equal(decodePacket(LinkType.RAW, first).sourcePort, 0x1234);
});

test('ICMP and unknown IP protocols', () => {
  const icmp = Buffer.from(ipv4Udp);
  icmp[9] = 1;
  assert.deepEqual(decodePacket(LinkType.RAW, icmp), {
    family: 4,
    protocol: 'ICMP',
    sourceAddress: '10.0.0.1',
    destinationAddress: '10.0.0.2',
    sourcePort: null,
    destinationPort: null,
    direction: 'unknown',
  });
  const gre = Buffer.from(ipv4Udp);
  gre[9] = 47;
  assert.equal(decodePacket(LinkType.RAW, gre).protocol, 'OTHER');
});

test('RAW IPv6 + UDP with compressed addresses', () => {
  assert.deepEqual(decodePacket(LinkType.RAW, ipv6Udp), {
    family: 6,
    protocol: 'UDP',
    sourceAddress: '::1',
    destinationAddress: '::1',
    sourcePort: 53,
    destinationPort: 5353,
    direction: 'unknown',
  });
  assert.equal(decodePacket(LinkType.IPV6, ipv6Udp).destinationPort, 5353);
});

test('IPv6 extension headers are walked: hop-by-hop, routing, destination options, fragment', () => {
  const fixed = hex('6000 0000 0000 0040' + '20010db8000000000000000000000001' + 'fe800000000000000000000000000002');
  fixed[6] = 0; // hop-by-hop first
  const hopByHop = hex('2b00 0000 0000 0000'); // next routing(43), len 0 → 8 bytes
  const routing = hex('3c01 0000 0000 0000 0000 0000 0000 0000'); // next dstopts(60), len 1 → 16 bytes
  const dstOpts = hex('2c00 0000 0000 0000'); // next fragment(44)
  const fragment = hex('0600 0001 1234 5678'); // next TCP, offset 0, M=1
  const tcp = hex('0016 d431 00000000 00000000 5000 0000 0000 0000');
  const packet = Buffer.concat([fixed, hopByHop, routing, dstOpts, fragment, tcp]);
  assert.deepEqual(decodePacket(LinkType.RAW, packet), {
    family: 6,
    protocol: 'TCP',
    sourceAddress: '2001:db8::1',
    destinationAddress: 'fe80::2',
    sourcePort: 22,
    destinationPort: 54321,
    direction: 'unknown',
  });
  const laterFragment = Buffer.from(packet);
  laterFragment.writeUInt16BE(100 << 3, 40 + 8 + 16 + 8 + 2);
  const later = decodePacket(LinkType.RAW, laterFragment);
  assert.equal(later.protocol, 'TCP');
  assert.equal(later.sourcePort, null);
});

test('ICMPv6 is named; ICMP number 1 inside IPv6 is not ICMP', () => {
  const icmpv6 = Buffer.from(ipv6Udp);
  icmpv6[6] = 58;
  assert.equal(decodePacket(LinkType.RAW, icmpv6).protocol, 'ICMPv6');
  icmpv6[6] = 1;
  assert.equal(decodePacket(LinkType.RAW, icmpv6).protocol, 'OTHER');
});

test('LINUX_SLL: packet type gives direction', () => {
  const sll = (pkttype: number): Buffer =>
    Buffer.concat([hex(`000${pkttype} 0001 0006 020000000001 0000 0800`), ipv4Udp]);
  assert.equal(decodePacket(LinkType.LINUX_SLL, sll(0)).direction, 'in');
  assert.equal(decodePacket(LinkType.LINUX_SLL, sll(4)).direction, 'out');
  assert.equal(decodePacket(LinkType.LINUX_SLL, sll(4)).destinationPort, 80);
});

test('LINUX_SLL2: protocol first, packet type at byte 10', () => {
  const sll2 = (pkttype: number): Buffer =>
    Buffer.concat([hex(`86dd 0000 00000002 0001 0${pkttype} 06 0200000000010000`), ipv6Udp]);
  const out = decodePacket(LinkType.LINUX_SLL2, sll2(4));
  assert.deepEqual([out.family, out.protocol, out.direction, out.sourcePort], [6, 'UDP', 'out', 53]);
  assert.equal(decodePacket(LinkType.LINUX_SLL2, sll2(0)).direction, 'in');
  assert.equal(decodePacket(LinkType.LINUX_SLL2, sll2(1)).direction, 'in');
});

test('NULL loopback header in either byte order', () => {
  assert.equal(decodePacket(LinkType.NULL, Buffer.concat([hex('02000000'), ipv4Udp])).family, 4);
  assert.equal(decodePacket(LinkType.LOOP, Buffer.concat([hex('00000002'), ipv4Udp])).family, 4);
  assert.equal(decodePacket(LinkType.NULL, Buffer.concat([hex('1e000000'), ipv6Udp])).family, 6);
});

test('non-IP and truncated packets decode without throwing', () => {
  const arp = decodePacket(LinkType.ETHERNET, ethernet('0806', Buffer.alloc(28)));
  assert.deepEqual([arp.family, arp.protocol, arp.sourceAddress], [null, 'OTHER', null]);
  assert.equal(decodePacket(LinkType.ETHERNET, Buffer.alloc(5)).family, null);
  assert.equal(decodePacket(1234, ipv4Udp).family, null);
  // Snap length cut inside the UDP header: addresses known, ports not.
  const cut = decodePacket(LinkType.RAW, ipv4Udp.subarray(0, 22));
  assert.deepEqual([cut.sourceAddress, cut.protocol, cut.sourcePort], ['10.0.0.1', 'UDP', null]);
  assert.equal(decodePacket(LinkType.RAW, ipv4Udp.subarray(0, 19)).family, null);
  // Every prefix of every sample decodes.
  for (const sample of [ipv4Udp, ipv4TcpWithOptions, ipv6Udp]) {
    for (let i = 0; i <= sample.length; i++) decodePacket(LinkType.RAW, sample.subarray(0, i));
  }
});
