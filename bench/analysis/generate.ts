// Writes a large, realistic capture quickly: concurrent bulk TCP transfers (1448-byte segments,
// an ACK every two segments, a retransmission now and then, duplicate ACKs before it, a few
// resets and zero windows), short request/response TCP connections, DNS over UDP with some
// NXDOMAIN/SERVFAIL and lost answers, a UDP media-like stream, ARP and ICMP. Frames come from
// src/pcap/build.ts templates; per packet only the sequence numbers and timestamps change, so
// TCP/UDP checksums are left as the template's (tshark does not check them by default).
import { closeSync, openSync, writeSync } from 'node:fs';
import { TcpFlag, buildFrame, encodePcapHeader } from '../../src/pcap/index.js';
import { SCENARIO_EPOCH_SECONDS, arpRequest, dnsMessage } from '../../src/analysis/testing/scenario.js';

const SEGMENT_BYTES = 1448;
const TCP_SEQ_OFFSET = 14 + 20 + 4;
const TCP_ACK_OFFSET = 14 + 20 + 8;
const TCP_WINDOW_OFFSET = 14 + 20 + 14;

interface Flow {
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  data: Buffer;
  ack: Buffer;
  clientSeq: number;
  serverSeq: number;
  sent: number;
  total: number;
}

/** What the generator wrote. */
export interface GeneratedCapture {
  path: string;
  sizeInBytes: number;
  packets: number;
  tcpConnections: number;
  retransmissions: number;
}

/**
 * Writes about `targetBytes` of capture to `path` (classic pcap, Ethernet, µs).
 * @example generateCapture('/tmp/big.pcap', 1 << 30)
 */
export function generateCapture(path: string, targetBytes: number): GeneratedCapture {
  const fd = openSync(path, 'w', 0o600);
  const chunk = Buffer.alloc(16 * 1024 * 1024);
  let used = 0;
  let written = 0;
  let packets = 0;
  let retransmissions = 0;
  let tcpConnections = 0;
  let timeMicros = 0;
  const flush = (): void => {
    writeSync(fd, chunk, 0, used);
    written += used;
    used = 0;
  };
  const emit = (frame: Buffer, gapMicros: number): void => {
    timeMicros += gapMicros;
    if (used + 16 + frame.length > chunk.length) flush();
    const seconds = SCENARIO_EPOCH_SECONDS + Math.floor(timeMicros / 1e6);
    chunk.writeUInt32LE(seconds, used);
    chunk.writeUInt32LE(timeMicros % 1e6, used + 4);
    chunk.writeUInt32LE(frame.length, used + 8);
    chunk.writeUInt32LE(frame.length, used + 12);
    frame.copy(chunk, used + 16);
    used += 16 + frame.length;
    packets++;
  };
  const header = encodePcapHeader({ snapLength: 262144, linkType: 1 });
  header.copy(chunk, 0);
  used = header.length;

  const tcp = (f: Flow, fromClient: boolean, flags: number, payloadBytes: number): Buffer =>
    buildFrame({
      family: 4,
      protocol: 'TCP',
      sourceAddress: fromClient ? f.client : f.server,
      destinationAddress: fromClient ? f.server : f.client,
      sourcePort: fromClient ? f.clientPort : f.serverPort,
      destinationPort: fromClient ? f.serverPort : f.clientPort,
      tcpFlags: flags,
      tcpSequence: fromClient ? f.clientSeq : f.serverSeq,
      tcpAcknowledgement: fromClient ? f.serverSeq : f.clientSeq,
      payloadBytes,
    });
  const newFlow = (n: number): Flow => {
    tcpConnections++;
    const f: Flow = {
      client: `10.${(n >> 8) & 0xff}.${n & 0xff}.10`,
      clientPort: 20000 + (n % 40000),
      server: `172.16.${n % 8}.1`,
      serverPort: n % 5 === 0 ? 443 : 5001,
      data: Buffer.alloc(0),
      ack: Buffer.alloc(0),
      clientSeq: 1000,
      serverSeq: 9000,
      sent: 0,
      total: 2000 + (n % 7) * 3000,
    };
    emit(tcp(f, true, TcpFlag.SYN, 0), 50);
    emit(tcp({ ...f, serverSeq: f.serverSeq - 1 }, false, TcpFlag.SYN | TcpFlag.ACK, 0), 200);
    f.clientSeq += 1;
    emit(tcp(f, true, TcpFlag.ACK, 0), 200);
    f.data = tcp(f, true, TcpFlag.ACK | TcpFlag.PSH, SEGMENT_BYTES);
    f.ack = tcp(f, false, TcpFlag.ACK, 0);
    return f;
  };
  const dataSegment = (f: Flow): Buffer => {
    f.data.writeUInt32BE(f.clientSeq >>> 0, TCP_SEQ_OFFSET);
    return f.data;
  };
  const ackSegment = (f: Flow, window = 65535): Buffer => {
    f.ack.writeUInt32BE(f.clientSeq >>> 0, TCP_ACK_OFFSET);
    f.ack.writeUInt16BE(window, TCP_WINDOW_OFFSET);
    return f.ack;
  };

  const udpStream = buildFrame({
    family: 4,
    protocol: 'UDP',
    sourceAddress: '10.200.0.5',
    destinationAddress: '10.200.0.6',
    sourcePort: 16384,
    destinationPort: 16386,
    payloadBytes: 1200,
  });
  let flowNumber = 0;
  const flows: Flow[] = [];
  for (let i = 0; i < 24; i++) flows.push(newFlow(flowNumber++));
  let round = 0;
  let dnsId = 0;
  while (written + used < targetBytes) {
    round++;
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i]!;
      const segment = dataSegment(f);
      emit(segment, 10);
      // Every 700th segment is lost on the way: three duplicate ACKs, then the retransmission.
      if ((f.sent + i) % 700 === 699) {
        for (let k = 0; k < 3; k++) emit(ackSegment(f), 20);
        emit(segment, 40);
        retransmissions++;
      }
      f.clientSeq = (f.clientSeq + SEGMENT_BYTES) >>> 0;
      f.sent++;
      if (f.sent % 2 === 0) emit(ackSegment(f, f.sent % 5000 === 0 ? 0 : 65535), 5);
      if (f.sent >= f.total) {
        // Close: FIN both ways, or a reset now and then.
        if (flowNumber % 9 === 0) {
          emit(tcp(f, false, TcpFlag.RST | TcpFlag.ACK, 0), 10);
        } else {
          emit(tcp(f, true, TcpFlag.FIN | TcpFlag.ACK, 0), 10);
          emit(tcp({ ...f, clientSeq: f.clientSeq + 1 }, false, TcpFlag.FIN | TcpFlag.ACK, 0), 100);
          emit(tcp({ ...f, clientSeq: f.clientSeq + 1, serverSeq: f.serverSeq + 1 }, true, TcpFlag.ACK, 0), 100);
        }
        flows[i] = newFlow(flowNumber++);
      }
    }
    if (round % 4 === 0) emit(udpStream, 2);
    if (round % 50 === 0) {
      // A short request/response connection and a DNS lookup (some fail, some go unanswered).
      const f = newFlow(flowNumber++);
      emit(tcp(f, true, TcpFlag.ACK | TcpFlag.PSH, 300), 20);
      emit(tcp({ ...f, clientSeq: f.clientSeq + 300 }, false, TcpFlag.ACK | TcpFlag.PSH, 900), 200);
      emit(tcp({ ...f, clientSeq: f.clientSeq + 300 }, true, TcpFlag.FIN | TcpFlag.ACK, 0), 20);
      emit(
        tcp({ ...f, clientSeq: f.clientSeq + 301, serverSeq: f.serverSeq + 900 }, false, TcpFlag.FIN | TcpFlag.ACK, 0),
        20,
      );
      const id = dnsId++ & 0xffff;
      const name = `host${id % 977}.example.internal`;
      const port = 30000 + (id % 20000);
      emit(
        buildFrame({
          family: 4,
          protocol: 'UDP',
          sourceAddress: '10.0.0.10',
          destinationAddress: '10.0.0.53',
          sourcePort: port,
          destinationPort: 53,
          payload: dnsMessage({ id, name, type: 1 }),
        }),
        10,
      );
      if (id % 13 !== 0) {
        const rcode = id % 11 === 0 ? 3 : id % 17 === 0 ? 2 : 0;
        emit(
          buildFrame({
            family: 4,
            protocol: 'UDP',
            sourceAddress: '10.0.0.53',
            destinationAddress: '10.0.0.10',
            sourcePort: 53,
            destinationPort: port,
            payload: dnsMessage({ id, name, type: 1, response: true, rcode, answers: rcode === 0 ? ['10.1.2.3'] : [] }),
          }),
          800,
        );
      }
    }
    if (round % 5000 === 0) {
      emit(arpRequest('10.0.0.10', '10.0.0.1'), 5);
      emit(
        buildFrame({
          family: 4,
          protocol: 'ICMP',
          sourceAddress: '10.0.0.10',
          destinationAddress: '10.0.0.1',
          payloadBytes: 56,
        }),
        5,
      );
    }
  }
  flush();
  closeSync(fd);
  return { path, sizeInBytes: written, packets, tcpConnections, retransmissions };
}
