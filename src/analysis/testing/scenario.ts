// Captures with known contents for the analysis tests and the benchmark: TCP connections with
// chosen anomalies, DNS exchanges with chosen answers, TLS ClientHellos, ARP and ICMP — written as
// classic pcap or pcapng, every frame valid (checksums right) so tshark reads them as we do.
import {
  LinkType,
  TcpFlag,
  buildFrame,
  encodePcapHeader,
  encodePcapRecord,
  encodePcapngInterface,
  encodePcapngPacket,
  encodePcapngSectionHeader,
  withLinuxCookedHeader,
} from '../../pcap/index.js';
import type { FrameSpec } from '../../pcap/index.js';

/** One frame at a time in seconds (float) from the epoch. */
export interface TimedFrame {
  time: number;
  frame: Buffer;
  originalLength?: number;
}

/** Start of every generated capture: 2026-01-01T00:00:00Z. */
export const SCENARIO_EPOCH_SECONDS = 1767225600;

/**
 * Writes frames as a classic pcap (µs) or, with `pcapng`, as pcapng with one Ethernet interface (ns).
 * @example writeCapture(frames, { linkType: LinkType.ETHERNET })
 */
export function writeCapture(
  frames: TimedFrame[],
  options: { linkType?: number; pcapng?: boolean; snapLength?: number; nanosecond?: boolean } = {},
): Buffer {
  const linkType = options.linkType ?? LinkType.ETHERNET;
  const snapLength = options.snapLength ?? 262144;
  const parts: Buffer[] = [];
  if (options.pcapng) {
    parts.push(
      encodePcapngSectionHeader(true),
      encodePcapngInterface({ linkType, snapLength, timestampResolution: 9 }),
    );
    for (const f of frames) {
      const data = f.frame.subarray(0, Math.min(f.frame.length, snapLength));
      parts.push(
        encodePcapngPacket({
          interfaceId: 0,
          timestamp: BigInt(Math.round(f.time * 1e6)) * 1000n,
          data,
          originalLength: f.originalLength ?? f.frame.length,
        }),
      );
    }
    return Buffer.concat(parts);
  }
  const nano = options.nanosecond === true;
  parts.push(encodePcapHeader({ snapLength, linkType, nanosecond: nano }));
  for (const f of frames) {
    const micros = Math.round(f.time * 1e6);
    const seconds = Math.floor(micros / 1e6);
    const data = f.frame.subarray(0, Math.min(f.frame.length, snapLength));
    parts.push(
      encodePcapRecord({
        timestampSeconds: seconds,
        timestampFraction: nano ? (micros - seconds * 1e6) * 1000 : micros - seconds * 1e6,
        capturedLength: data.length,
        originalLength: f.originalLength ?? f.frame.length,
        data,
      }),
    );
  }
  return Buffer.concat(parts);
}

/** Rewrites Ethernet frames as Linux cooked v1/v2 frames (tcpdump -i any). */
export function cooked(frames: TimedFrame[], version: 1 | 2): TimedFrame[] {
  return frames.map((f) => ({ time: f.time, frame: withLinuxCookedHeader(f.frame, version, 0) }));
}

/** A TCP connection to generate, with its anomalies. */
export interface TcpScenario {
  family?: 4 | 6;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  /** Start, seconds after SCENARIO_EPOCH_SECONDS. */
  start: number;
  /** Handshake round trip in seconds (SYN→SYN/ACK and SYN/ACK→ACK split it in half). */
  rttSeconds?: number;
  /** Data segments client→server, each `segmentBytes` long and ACKed by the server. */
  segments?: number;
  segmentBytes?: number;
  /** Indexes of client segments sent twice (the copy 200 ms later): retransmissions. */
  retransmit?: number[];
  /** Duplicate ACKs the server sends after the last segment. */
  duplicateAcks?: number;
  /** The server advertises a zero window this many times. */
  zeroWindows?: number;
  /** End with a RST from the server instead of a FIN exchange. */
  reset?: boolean;
  /** Skip the handshake (a connection that started before the capture). */
  noHandshake?: boolean;
  /** Bytes of the first client segment replaced by this payload (a TLS ClientHello …). */
  firstPayload?: Buffer;
}

/** What a TcpScenario produces: the frames and the figures tshark should report. */
export interface TcpScenarioResult {
  frames: TimedFrame[];
  clientFrames: number;
  serverFrames: number;
  clientBytes: number;
  serverBytes: number;
}

/**
 * Frames of one TCP connection.
 * @example tcpConnection({ client: '10.0.0.1', clientPort: 40000, server: '10.0.0.2', serverPort: 9000, start: 0, segments: 5, retransmit: [2] })
 */
export function tcpConnection(s: TcpScenario): TcpScenarioResult {
  const family = s.family ?? 4;
  const rtt = s.rttSeconds ?? 0.01;
  const segmentBytes = s.segmentBytes ?? 100;
  const frames: TimedFrame[] = [];
  let clientFrames = 0;
  let serverFrames = 0;
  let clientBytes = 0;
  let serverBytes = 0;
  const base = SCENARIO_EPOCH_SECONDS + s.start;
  let t = 0;
  const send = (fromClient: boolean, at: number, spec: Partial<FrameSpec>): void => {
    const frame = buildFrame({
      family,
      protocol: 'TCP',
      sourceAddress: fromClient ? s.client : s.server,
      destinationAddress: fromClient ? s.server : s.client,
      sourcePort: fromClient ? s.clientPort : s.serverPort,
      destinationPort: fromClient ? s.serverPort : s.clientPort,
      ...spec,
    });
    frames.push({ time: base + at, frame });
    if (fromClient) {
      clientFrames++;
      clientBytes += frame.length;
    } else {
      serverFrames++;
      serverBytes += frame.length;
    }
  };
  const clientIsn = 1000;
  const serverIsn = 5000;
  let clientSeq = clientIsn + 1;
  const serverSeq = serverIsn + 1;
  if (!s.noHandshake) {
    send(true, t, { tcpFlags: TcpFlag.SYN, tcpSequence: clientIsn, tcpAcknowledgement: 0 });
    t += rtt / 2;
    send(false, t, { tcpFlags: TcpFlag.SYN | TcpFlag.ACK, tcpSequence: serverIsn, tcpAcknowledgement: clientIsn + 1 });
    t += rtt / 2;
    send(true, t, { tcpFlags: TcpFlag.ACK, tcpSequence: clientSeq, tcpAcknowledgement: serverSeq });
  }
  const retransmit = new Set(s.retransmit ?? []);
  const segments = s.segments ?? 0;
  for (let i = 0; i < segments; i++) {
    t += 0.001;
    const payload = i === 0 && s.firstPayload ? s.firstPayload : undefined;
    const length = payload?.length ?? segmentBytes;
    const spec: Partial<FrameSpec> = {
      tcpFlags: TcpFlag.ACK | TcpFlag.PSH,
      tcpSequence: clientSeq,
      tcpAcknowledgement: serverSeq,
      ...(payload ? { payload } : { payloadBytes: length }),
    };
    send(true, t, spec);
    if (retransmit.has(i)) {
      t += 0.2;
      send(true, t, spec);
    }
    clientSeq += length;
    t += rtt / 2;
    send(false, t, { tcpFlags: TcpFlag.ACK, tcpSequence: serverSeq, tcpAcknowledgement: clientSeq });
  }
  for (let i = 0; i < (s.duplicateAcks ?? 0); i++) {
    t += 0.0005;
    send(false, t, { tcpFlags: TcpFlag.ACK, tcpSequence: serverSeq, tcpAcknowledgement: clientSeq });
  }
  for (let i = 0; i < (s.zeroWindows ?? 0); i++) {
    t += 0.001;
    send(false, t, { tcpFlags: TcpFlag.ACK, tcpSequence: serverSeq, tcpAcknowledgement: clientSeq, tcpWindow: 0 });
  }
  t += 0.001;
  if (s.reset) {
    send(false, t, { tcpFlags: TcpFlag.RST | TcpFlag.ACK, tcpSequence: serverSeq, tcpAcknowledgement: clientSeq });
  } else {
    send(true, t, { tcpFlags: TcpFlag.FIN | TcpFlag.ACK, tcpSequence: clientSeq, tcpAcknowledgement: serverSeq });
    t += rtt / 2;
    send(false, t, { tcpFlags: TcpFlag.FIN | TcpFlag.ACK, tcpSequence: serverSeq, tcpAcknowledgement: clientSeq + 1 });
    t += rtt / 2;
    send(true, t, { tcpFlags: TcpFlag.ACK, tcpSequence: clientSeq + 1, tcpAcknowledgement: serverSeq + 1 });
  }
  return { frames, clientFrames, serverFrames, clientBytes, serverBytes };
}

/**
 * A DNS message: a query for `name`, or with `rcode`/`answers` its response.
 * @example dnsMessage({ id: 1, name: 'example.com', type: 1 })
 */
export function dnsMessage(m: {
  id: number;
  name: string;
  type: number;
  response?: boolean;
  rcode?: number;
  answers?: string[];
}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(m.id, 0);
  header.writeUInt16BE(m.response ? 0x8180 | (m.rcode ?? 0) : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(m.answers?.length ?? 0, 6);
  const name = Buffer.concat([
    ...m.name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
  const question = Buffer.concat([name, Buffer.from([0, m.type, 0, 1])]);
  const answers = (m.answers ?? []).map((a) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(300, 6);
    rr.writeUInt16BE(4, 10);
    a.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...answers]);
}

/** One DNS exchange to generate. */
export interface DnsScenario {
  client: string;
  clientPort: number;
  server: string;
  id: number;
  name: string;
  type?: number;
  start: number;
  responseAfterSeconds?: number | null;
  rcode?: number;
  answers?: string[];
}

/**
 * Frames of a DNS query and (unless `responseAfterSeconds` is null) its response.
 * @example dnsExchange({ client: '10.0.0.1', clientPort: 33000, server: '10.0.0.53', id: 7, name: 'nx.example', start: 1, rcode: 3 })
 */
export function dnsExchange(s: DnsScenario): TimedFrame[] {
  const type = s.type ?? 1;
  const base = SCENARIO_EPOCH_SECONDS + s.start;
  const frames: TimedFrame[] = [
    {
      time: base,
      frame: buildFrame({
        family: 4,
        protocol: 'UDP',
        sourceAddress: s.client,
        destinationAddress: s.server,
        sourcePort: s.clientPort,
        destinationPort: 53,
        payload: dnsMessage({ id: s.id, name: s.name, type }),
      }),
    },
  ];
  if (s.responseAfterSeconds !== null) {
    frames.push({
      time: base + (s.responseAfterSeconds ?? 0.005),
      frame: buildFrame({
        family: 4,
        protocol: 'UDP',
        sourceAddress: s.server,
        destinationAddress: s.client,
        sourcePort: 53,
        destinationPort: s.clientPort,
        payload: dnsMessage({
          id: s.id,
          name: s.name,
          type,
          response: true,
          rcode: s.rcode ?? 0,
          answers: s.answers ?? [],
        }),
      }),
    });
  }
  return frames;
}

/**
 * A TLS 1.2-style ClientHello record with a server_name extension.
 * @example tlsClientHello('example.com')
 */
export function tlsClientHello(serverName: string): Buffer {
  const name = Buffer.from(serverName, 'latin1');
  const sni = Buffer.alloc(9 + name.length);
  sni.writeUInt16BE(0, 0);
  sni.writeUInt16BE(5 + name.length, 2);
  sni.writeUInt16BE(3 + name.length, 4);
  sni.writeUInt8(0, 6);
  sni.writeUInt16BE(name.length, 7);
  name.copy(sni, 9);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]), // version, random, empty session id
    Buffer.from([0, 2, 0x13, 0x01]),
    Buffer.from([1, 0]), // one cipher suite, null compression
    Buffer.from([(sni.length >> 8) & 0xff, sni.length & 0xff]),
    sni,
  ]);
  const handshake = Buffer.concat([
    Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  return Buffer.concat([Buffer.from([22, 3, 1, (handshake.length >> 8) & 0xff, handshake.length & 0xff]), handshake]);
}

/**
 * An ARP request frame (who has `target`? tell `sender`).
 * @example arpRequest('10.0.0.1', '10.0.0.2')
 */
export function arpRequest(sender: string, target: string): Buffer {
  const frame = Buffer.alloc(60);
  Buffer.from('ffffffffffff020000000001', 'hex').copy(frame, 0);
  frame.writeUInt16BE(0x0806, 12);
  frame.writeUInt16BE(1, 14);
  frame.writeUInt16BE(0x0800, 16);
  frame.writeUInt8(6, 18);
  frame.writeUInt8(4, 19);
  frame.writeUInt16BE(1, 20);
  Buffer.from('020000000001', 'hex').copy(frame, 22);
  sender.split('.').forEach((o, i) => frame.writeUInt8(Number(o), 28 + i));
  target.split('.').forEach((o, i) => frame.writeUInt8(Number(o), 38 + i));
  return frame;
}

/** Sorts frames by time (stable), as a capture holds them. */
export function inTimeOrder(frames: TimedFrame[]): TimedFrame[] {
  return frames
    .map((f, i) => ({ f, i }))
    .sort((a, b) => a.f.time - b.f.time || a.i - b.i)
    .map(({ f }) => f);
}
