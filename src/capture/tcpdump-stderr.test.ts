import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isListeningLine, parseTcpdumpInfoLine, parseTcpdumpStats, tcpdumpErrorMessage } from './tcpdump-stderr.js';

// Recorded from tcpdump 4.99.3 / libpcap 1.10.3 (Debian 12).
const normalRun =
  'tcpdump: data link type LINUX_SLL2\n' +
  'tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes\n' +
  '6 packets captured\n12 packets received by filter\n0 packets dropped by kernel\n';
const badFilter = "tcpdump: can't parse filter expression: syntax error\n";
const badInterface = 'tcpdump: nosuchif0: No such device exists\n(No such device exists)\n';

test('isListeningLine sees the start line, even split across chunks only once complete', () => {
  assert.ok(isListeningLine(normalRun));
  assert.ok(!isListeningLine('tcpdump: data link type LINUX_SLL2\ntcpdump: listen'));
  assert.ok(!isListeningLine(badFilter));
});

test('parseTcpdumpStats reads the exit statistics', () => {
  assert.deepEqual(parseTcpdumpStats(normalRun), {
    packetsCaptured: 6,
    packetsReceivedByFilter: 12,
    packetsDroppedByKernel: 0,
  });
  assert.deepEqual(parseTcpdumpStats('1 packet captured\n1 packet received by filter\n7 packets dropped by kernel\n'), {
    packetsCaptured: 1,
    packetsReceivedByFilter: 1,
    packetsDroppedByKernel: 7,
  });
  assert.deepEqual(parseTcpdumpStats(badFilter), {
    packetsCaptured: null,
    packetsReceivedByFilter: null,
    packetsDroppedByKernel: null,
  });
});

test('tcpdumpErrorMessage keeps the error and drops the noise', () => {
  assert.equal(tcpdumpErrorMessage(badFilter), "can't parse filter expression: syntax error");
  assert.equal(tcpdumpErrorMessage(badInterface), 'nosuchif0: No such device exists; (No such device exists)');
  assert.equal(tcpdumpErrorMessage(normalRun), '');
  assert.equal(
    tcpdumpErrorMessage(normalRun.replace('6 packets', 'tcpdump: pcap_loop: The interface disappeared\n6 packets')),
    'pcap_loop: The interface disappeared',
  );
});

test('parseTcpdumpInfoLine reads the SIGUSR1 report and nothing else', () => {
  assert.deepEqual(
    parseTcpdumpInfoLine('tcpdump: 400 packets captured, 800 packets received by filter, 3 packets dropped by kernel'),
    {
      packetsCaptured: 400,
      packetsReceivedByFilter: 800,
      packetsDroppedByKernel: 3,
    },
  );
  assert.deepEqual(
    parseTcpdumpInfoLine('1 packet captured, 1 packet received by filter, 0 packets dropped by kernel\n'),
    {
      packetsCaptured: 1,
      packetsReceivedByFilter: 1,
      packetsDroppedByKernel: 0,
    },
  );
  assert.equal(parseTcpdumpInfoLine('400 packets captured'), null); // the exit statistics are separate lines
  assert.equal(parseTcpdumpInfoLine('tcpdump: listening on any, link-type LINUX_SLL2'), null);
});

test("nw-capture's lines read as tcpdump's: its 'nw-capture: ' prefix is tcpdump's 'tcpdump: '", () => {
  // As nw-capture writes them (src/capture/native/nw-capture.c, its contract in docs/capture.md).
  assert.ok(isListeningLine('listening on veth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n'));
  assert.ok(
    isListeningLine('nw-capture: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 64 bytes\n'),
  );
  assert.ok(!isListeningLine('nw-capture: nwnosuch0: No such device exists\n'));
  assert.equal(
    tcpdumpErrorMessage('nw-capture: nwnosuch0: No such device exists (SIOCGIFHWADDR: No such device)\n'),
    'nwnosuch0: No such device exists (SIOCGIFHWADDR: No such device)',
  );
  assert.equal(
    tcpdumpErrorMessage(
      'listening on v0, link-type EN10MB (Ethernet), snapshot length 9 bytes\nnw-capture: write: No space left on device\n3 packets captured\n',
    ),
    'write: No space left on device',
  );
  assert.deepEqual(
    parseTcpdumpInfoLine('nw-capture: 7 packets captured, 9 packets received by filter, 1 packet dropped by kernel'),
    { packetsCaptured: 7, packetsReceivedByFilter: 9, packetsDroppedByKernel: 1 },
  );
});
