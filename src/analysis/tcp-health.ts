// TCP health per connection, following Wireshark's tcp.analysis rules (epan/dissectors/packet-tcp.c,
// tcp_analyze_sequence_number) closely enough that the counts agree on ordinary captures:
// - retransmission: a segment carrying data (or SYN/FIN) that starts before the highest sequence
//   number already seen in its direction, and is neither a keep-alive nor out-of-order;
// - fast retransmission (counted as a retransmission too, as Wireshark flags both): such a segment
//   at the sequence number the peer has duplicate-ACKed at least twice, within 20 ms of that ACK;
// - out-of-order: such a segment within the out-of-order threshold (the handshake RTT, else 3 ms)
//   of the segment that set the highest sequence number, and not ending exactly there;
// - duplicate ACK: no data, no SYN/FIN/RST, same ACK number and same (non-zero) window as the
//   previous segment in that direction, at the next expected sequence number;
// - zero window: a window of 0 on a segment without SYN/FIN/RST; reset: a segment with RST;
// - handshake RTT: SYN to the ACK that completes the handshake (tcp.analysis.initial_rtt).
import { TcpFlag } from '../pcap/index.js';
import type { PacketDissection } from '../pcap/index.js';

/** Sequence-number comparison modulo 2^32 (RFC 1982). */
function seqLessThan(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** Per-direction state of one connection. */
interface DirectionState {
  nextSequence: number;
  hasNext: boolean;
  nextSequenceTime: number;
  lastAck: number;
  lastWindow: number;
  hasAck: boolean;
  lastAckTime: number;
  duplicateAckRun: number;
  sentData: boolean;
  sentFin: boolean;
}

/** Health counters of one connection. */
export interface TcpHealthState {
  directions: [DirectionState, DirectionState];
  synTime: number;
  synFromA: boolean | null;
  synAckTime: number;
  synAckSequence: number;
  handshakeRtt: number;
  retransmissions: number;
  duplicateAcks: number;
  zeroWindows: number;
  resets: number;
  outOfOrder: number;
}

const FAST_RETRANSMISSION_WINDOW_IN_SECONDS = 0.02;
const DEFAULT_OUT_OF_ORDER_THRESHOLD_IN_SECONDS = 0.003;

function direction(): DirectionState {
  return {
    nextSequence: 0,
    hasNext: false,
    nextSequenceTime: 0,
    lastAck: 0,
    lastWindow: 0,
    hasAck: false,
    lastAckTime: 0,
    duplicateAckRun: 0,
    sentData: false,
    sentFin: false,
  };
}

/** A fresh health state. */
export function newTcpHealthState(): TcpHealthState {
  return {
    directions: [direction(), direction()],
    synTime: -1,
    synFromA: null,
    synAckTime: -1,
    synAckSequence: 0,
    handshakeRtt: -1,
    retransmissions: 0,
    duplicateAcks: 0,
    zeroWindows: 0,
    resets: 0,
    outOfOrder: 0,
  };
}

/**
 * Updates a connection's health with one segment; returns what the segment was flagged as (`fromA`: sent by side A), at `time` seconds.
 * @example observeTcpSegment(state, dissection, true, 0.25)
 */
export function observeTcpSegment(
  state: TcpHealthState,
  d: PacketDissection,
  fromA: boolean,
  time: number,
): 'retransmission' | 'out-of-order' | null {
  if (d.tcpHeaderLength === 0) return null;
  const flags = d.tcpFlags;
  const syn = (flags & TcpFlag.SYN) !== 0;
  const fin = (flags & TcpFlag.FIN) !== 0;
  const rst = (flags & TcpFlag.RST) !== 0;
  const ack = (flags & TcpFlag.ACK) !== 0;
  const fwd = state.directions[fromA ? 0 : 1];
  const rev = state.directions[fromA ? 1 : 0];
  const seq = d.tcpSequence;
  const segmentLength = d.payloadLength + (syn ? 1 : 0) + (fin ? 1 : 0);
  const end = (seq + segmentLength) >>> 0;

  if (rst) state.resets++;
  if (d.tcpWindow === 0 && !syn && !fin && !rst) state.zeroWindows++;

  // Handshake.
  if (syn && !ack && state.synTime < 0) {
    state.synTime = time;
    state.synFromA = fromA;
  } else if (syn && ack && state.synTime >= 0 && state.synFromA !== fromA && state.synAckTime < 0) {
    state.synAckTime = time;
    state.synAckSequence = seq;
  } else if (
    !syn &&
    ack &&
    state.synAckTime >= 0 &&
    state.handshakeRtt < 0 &&
    state.synFromA === fromA &&
    d.tcpAcknowledgement === (state.synAckSequence + 1) >>> 0
  ) {
    state.handshakeRtt = time - state.synTime;
  }

  // Sequence analysis.
  let verdict: 'retransmission' | 'out-of-order' | null = null;
  const keepAlive = segmentLength <= 1 && !syn && !fin && !rst && fwd.hasNext && (seq + 1) >>> 0 === fwd.nextSequence;
  if (!keepAlive && segmentLength > 0 && fwd.hasNext && seqLessThan(seq, fwd.nextSequence)) {
    const threshold = state.handshakeRtt > 0 ? state.handshakeRtt : DEFAULT_OUT_OF_ORDER_THRESHOLD_IN_SECONDS;
    if (
      rev.duplicateAckRun >= 2 &&
      rev.lastAck === seq &&
      time - rev.lastAckTime < FAST_RETRANSMISSION_WINDOW_IN_SECONDS
    ) {
      state.retransmissions++;
      verdict = 'retransmission';
    } else if (time - fwd.nextSequenceTime < threshold && end !== fwd.nextSequence) {
      state.outOfOrder++;
      verdict = 'out-of-order';
    } else {
      state.retransmissions++;
      verdict = 'retransmission';
    }
  }
  // Only the largest next sequence number is kept (a retransmission may still extend it).
  if (!fwd.hasNext || seqLessThan(fwd.nextSequence, end)) {
    fwd.nextSequence = end;
    fwd.hasNext = true;
    fwd.nextSequenceTime = time;
  }
  if (d.payloadLength > 0) fwd.sentData = true;
  if (fin) fwd.sentFin = true;

  // Duplicate ACKs.
  if (ack) {
    const duplicate =
      fwd.hasAck &&
      segmentLength === 0 &&
      !syn &&
      !fin &&
      !rst &&
      d.tcpAcknowledgement === fwd.lastAck &&
      d.tcpWindow === fwd.lastWindow &&
      d.tcpWindow !== 0 &&
      seq === fwd.nextSequence;
    if (duplicate) {
      state.duplicateAcks++;
      fwd.duplicateAckRun++;
    } else if (d.tcpAcknowledgement !== fwd.lastAck || !fwd.hasAck) fwd.duplicateAckRun = 0;
    fwd.lastAck = d.tcpAcknowledgement;
    fwd.lastWindow = d.tcpWindow;
    fwd.hasAck = true;
    fwd.lastAckTime = time;
  }
  return verdict;
}

/** The state word of a connection (src/model/analysis.ts tcpConnectionHealthSchema.state). */
export function connectionState(s: TcpHealthState): 'handshake' | 'established' | 'closed' | 'reset' | 'unknown' {
  if (s.resets > 0) return 'reset';
  if (s.directions[0].sentFin && s.directions[1].sentFin) return 'closed';
  if (s.handshakeRtt >= 0 || (s.directions[0].sentData && s.directions[1].sentData)) return 'established';
  if (s.synTime >= 0) return 'handshake';
  return 'unknown';
}
