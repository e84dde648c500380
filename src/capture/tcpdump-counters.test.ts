// The stop rule of tcpdump-counters.ts on recorded report sequences: tcpdump is ended once a report
// asked for after the stop shows every packet the kernel held at the stop handed over — never on
// the answer to a request sent before the stop, and at the cap when no report says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHandedOver, TcpdumpCounters } from './tcpdump-counters.js';

const report = (captured: number, received: number, dropped = 0) => ({
  packetsCaptured: captured,
  packetsReceivedByFilter: received,
  packetsDroppedByKernel: dropped,
});

test('handed over: captured reaches what the kernel accepted at the stop, less its drops', () => {
  assert.equal(isHandedOver(report(0, 5), report(4, 9)), false);
  assert.equal(isHandedOver(report(0, 5), report(5, 9)), true);
  assert.equal(isHandedOver(report(0, 8, 3), report(5, 8, 3)), true, 'dropped packets never reached the ring');
  assert.equal(isHandedOver(report(3, 3), report(3, 3)), true, 'an idle link: the first report');
});

test('one request in flight; the answer to a pre-stop request is not the stop reference; ends once', async () => {
  const signals: string[] = [];
  const counters = new TcpdumpCounters((s) => (signals.push(s), true), 1);
  counters.request();
  counters.request();
  assert.deepEqual(signals, ['SIGUSR1'], 'signals do not queue: one request at a time');
  let ended = 0;
  counters.whenHandedOver(10_000, () => ended++);
  // The pre-stop answer looks idle (captured = received) but is older than the stop.
  counters.onReport(report(2, 2));
  assert.equal(ended, 0);
  assert.deepEqual(signals, ['SIGUSR1', 'SIGUSR1'], 'a request after the stop follows');
  counters.onReport(report(2, 7)); // at the stop: 5 packets in an open block
  assert.equal(ended, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(signals.length, 3, 'polled again');
  counters.onReport(report(7, 8));
  assert.equal(ended, 1);
  counters.onReport(report(8, 8));
  assert.equal(ended, 1, 'once');
});

test('the cap ends a stop whose reports never show the hand-over (or never come)', async () => {
  const counters = new TcpdumpCounters(() => false);
  let ended = 0;
  counters.whenHandedOver(30, () => ended++);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(ended, 1);
});
