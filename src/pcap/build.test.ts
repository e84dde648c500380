import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildFrame, internetChecksum } from './build.js';
import type { FrameSpec } from './build.js';
import { encodePcapHeader, encodePcapRecord } from './format.js';

const execFileAsync = promisify(execFile);

const cases: Array<{ spec: FrameSpec; expect: RegExp }> = [
  {
    spec: {
      family: 4,
      protocol: 'TCP',
      sourceAddress: '10.0.0.1',
      destinationAddress: '192.168.1.2',
      sourcePort: 1234,
      destinationPort: 80,
      payloadBytes: 5,
    },
    expect:
      /proto TCP \(6\), length 45\)\s+10\.0\.0\.1\.1234 > 192\.168\.1\.2\.80: Flags \[P\.\], cksum 0x[0-9a-f]+ \(correct\)/,
  },
  {
    spec: {
      family: 4,
      protocol: 'UDP',
      sourceAddress: '0.0.0.0',
      destinationAddress: '255.255.255.255',
      sourcePort: 0,
      destinationPort: 65535,
      payloadBytes: 3,
    },
    expect: /proto UDP \(17\), length 31\)\s+0\.0\.0\.0\.0 > 255\.255\.255\.255\.65535: \[udp sum ok\] UDP, length 3/,
  },
  {
    spec: { family: 4, protocol: 'ICMP', sourceAddress: '10.0.0.1', destinationAddress: '10.0.0.2', payloadBytes: 7 },
    expect: /proto ICMP \(1\), length 35\)\s+10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request, id \d+, seq 1, length 15$/,
  },
  {
    spec: {
      family: 6,
      protocol: 'TCP',
      sourceAddress: '2001:db8::1',
      destinationAddress: '::ffff:1.2.3.4',
      sourcePort: 65535,
      destinationPort: 0,
      payloadBytes: 0,
    },
    expect:
      /next-header TCP \(6\) payload length: 20\) 2001:db8::1\.65535 > ::ffff:1\.2\.3\.4\.0: Flags \[P\.\], cksum 0x[0-9a-f]+ \(correct\)/,
  },
  {
    spec: {
      family: 6,
      protocol: 'UDP',
      sourceAddress: 'FE80:0:0:0:0:0:0:2',
      destinationAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      sourcePort: 5353,
      destinationPort: 9,
      payloadBytes: 1,
    },
    expect:
      /next-header UDP \(17\) payload length: 9\) fe80::2\.5353 > ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\.9: \[udp sum ok\]/,
  },
  {
    spec: { family: 6, protocol: 'ICMP', sourceAddress: '::', destinationAddress: 'ff02::1', payloadBytes: 4 },
    expect: /next-header ICMPv6 \(58\) payload length: 12\) :: > ff02::1: \[icmp6 sum ok\] ICMP6, echo request/,
  },
];

describe('buildFrame', () => {
  test('tcpdump decodes every frame as specified, with correct checksums', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nw-build-test-'));
    try {
      const path = join(dir, 'frames.pcap');
      const records = cases.map(({ spec }, i) => {
        const data = buildFrame(spec);
        return encodePcapRecord({
          timestampSeconds: i,
          timestampFraction: 0,
          capturedLength: data.length,
          originalLength: data.length,
          data,
        });
      });
      await writeFile(path, Buffer.concat([encodePcapHeader({ snapLength: 65535, linkType: 1 }), ...records]));
      const { stdout } = await execFileAsync('tcpdump', ['-r', path, '-nn', '-vv', '-tt'], { encoding: 'utf8' });
      // -vv prints one packet over one or two lines; each starts with its timestamp (= its index).
      const packets = stdout
        .split(/\n(?=\d+\.\d{6} )/)
        .map((p) => p.trim())
        .filter((p) => p !== '');
      assert.equal(packets.length, cases.length);
      packets.forEach((text, i) => {
        assert.match(text, new RegExp(`^${i}\\.000000 `));
        assert.match(text.replace(/\n/g, ' '), (cases[i] as { expect: RegExp }).expect, text);
        assert.doesNotMatch(text, /bad|wrong|incorrect|invalid cksum/i, text);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('IPv4 header checksum verifies and fields sit at their offsets', () => {
    const frame = buildFrame({
      family: 4,
      protocol: 'UDP',
      sourceAddress: '1.2.3.4',
      destinationAddress: '5.6.7.8',
      sourcePort: 1,
      destinationPort: 2,
      payloadBytes: 100,
    });
    assert.equal(frame.readUInt16BE(12), 0x0800);
    const ipHeader = frame.subarray(14, 34);
    assert.equal(internetChecksum(ipHeader), 0, 'a header including its checksum sums to 0xffff');
    assert.deepEqual([...frame.subarray(26, 30)], [1, 2, 3, 4]);
    assert.deepEqual([...frame.subarray(30, 34)], [5, 6, 7, 8]);
    assert.equal(frame.readUInt16BE(34), 1);
    assert.equal(frame.readUInt16BE(36), 2);
    assert.equal(frame.length, 14 + 20 + 8 + 100);
  });

  test('IPv6 addresses with :: and an IPv4 tail land in the right bytes', () => {
    const frame = buildFrame({
      family: 6,
      protocol: 'TCP',
      sourceAddress: '1:2::ffff:10.0.0.1',
      destinationAddress: '::1',
      sourcePort: 7,
      destinationPort: 8,
    });
    assert.equal(frame.readUInt16BE(12), 0x86dd);
    assert.equal(frame.subarray(22, 38).toString('hex'), '00010002000000000000ffff0a000001');
    assert.equal(frame.subarray(38, 54).toString('hex'), '00000000000000000000000000000001');
  });

  test('short frames are padded to 60 bytes', () => {
    const frame = buildFrame({ family: 4, protocol: 'ICMP', sourceAddress: '1.2.3.4', destinationAddress: '5.6.7.8' });
    assert.equal(frame.length, 60);
    assert.equal(frame.readUInt16BE(16), 28, 'IP total length still says 28');
  });

  test('refuses inconsistent specs', () => {
    assert.throws(
      () =>
        buildFrame({
          family: 4,
          protocol: 'TCP',
          sourceAddress: '::1',
          destinationAddress: '1.2.3.4',
          sourcePort: 1,
          destinationPort: 2,
        }),
      /sourceAddress/,
    );
    assert.throws(
      () =>
        buildFrame({
          family: 6,
          protocol: 'UDP',
          sourceAddress: '::1',
          destinationAddress: '1.2.3.4',
          sourcePort: 1,
          destinationPort: 2,
        }),
      /destinationAddress/,
    );
    assert.throws(
      () =>
        buildFrame({
          family: 4,
          protocol: 'TCP',
          sourceAddress: '1.2.3.4',
          destinationAddress: '1.2.3.4',
          destinationPort: 2,
        }),
      /sourcePort is required/,
    );
    assert.throws(
      () =>
        buildFrame({
          family: 4,
          protocol: 'UDP',
          sourceAddress: '1.2.3.4',
          destinationAddress: '1.2.3.4',
          sourcePort: 1,
          destinationPort: 65536,
        }),
      /destinationPort/,
    );
    assert.throws(
      () => buildFrame({ family: 6, protocol: 'ICMP', sourceAddress: 'fe80::1%eth0', destinationAddress: '::1' }),
      /sourceAddress/,
    );
  });
});
