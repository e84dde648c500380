/**
 * Traffic for end-to-end tests, made by Node scripts run inside lab hosts: a responder that
 * listens on TCP and UDP ports, and a client that plays a list of flows. Everything is sent to
 * lab addresses only.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabHost } from './lab.js';

/** One flow a client makes. */
export type Flow =
  | { proto: 'tcp'; host: string; port: number; localAddress?: string; localPort?: number }
  | { proto: 'udp'; host: string; port: number; localAddress?: string; localPort?: number; family?: 4 | 6 };

const RESPONDER = `
const net = require('net'); const dgram = require('dgram');
const spec = JSON.parse(process.argv[1]);
for (const port of spec.tcp) {
  const s = net.createServer((c) => { c.on('data', () => c.end('pong')); c.on('error', () => {}); });
  s.listen({ port, host: '::', ipv6Only: false });
}
for (const port of spec.udp) {
  for (const type of ['udp4', 'udp6']) {
    const u = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    u.on('message', (m, r) => u.send('pong', r.port, r.address));
    u.bind(port, type === 'udp4' ? '0.0.0.0' : '::');
  }
}
setTimeout(() => console.log('ready'), 200);
`;

const CLIENT = `
const net = require('net'); const dgram = require('dgram');
const flows = JSON.parse(process.argv[1]);
(async () => {
  for (const f of flows) {
    if (f.proto === 'tcp') {
      await new Promise((resolve) => {
        const c = net.connect({ host: f.host, port: f.port, localAddress: f.localAddress, localPort: f.localPort, timeout: 3000 });
        c.on('connect', () => c.write('ping'));
        c.on('data', () => c.end());
        c.on('close', resolve); c.on('error', resolve); c.on('timeout', () => c.destroy());
      });
    } else {
      await new Promise((resolve) => {
        const u = dgram.createSocket(f.host.includes(':') ? 'udp6' : 'udp4');
        const done = () => { try { u.close(); } catch {} resolve(); };
        u.on('message', done); u.on('error', done);
        const send = () => u.send('ping', f.port, f.host, (e) => { if (e) done(); });
        if (f.localPort || f.localAddress) u.bind({ port: f.localPort || 0, address: f.localAddress }, send); else send();
        setTimeout(done, 1000);
      });
    }
  }
  console.log('done');
})();
`;

/** Starts a responder on a host; resolves when it listens. Kill it when done. */
export async function startResponder(host: LabHost, ports: { tcp: number[]; udp: number[] }): Promise<ChildProcess> {
  const child = host.ns.spawn(process.execPath, ['-e', RESPONDER, JSON.stringify(ports)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`responder exited (${code}): ${out}`)));
  });
  return child;
}

/** Plays flows from a host, one after another; resolves when all are done. */
export async function runFlows(host: LabHost, flows: Flow[]): Promise<void> {
  const r = await host.ns.runNode(CLIENT, [JSON.stringify(flows)], { timeoutInMs: 60_000 });
  if (!r.stdout.includes('done')) throw new Error(`client failed: ${r.stderr}`);
}

/** Pings an address a few times from a host (ICMP / ICMPv6). */
export async function ping(host: LabHost, address: string, count = 2): Promise<void> {
  await host.ns.exec('ping', ['-c', String(count), '-i', '0.2', '-W', '1', address], { timeoutInMs: 10_000 });
  await sleep(50);
}

// Datagrams of 200 bytes: 'NWSEQ', a 32-bit sequence number, the 16-bit destination port; one
// every INTERVAL_IN_MS until DURATION_IN_MS; a refused send is retried with the same number, so
// the stream on the wire has no gap. Prints the last number sent.
const SEQUENCED_UDP = `
const dgram = require('node:dgram');
const [address, portText, intervalText, durationText] = process.argv.slice(1);
const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
socket.on('error', () => {});
const deadline = Date.now() + Number(durationText);
let seq = 0;
function tick() {
  if (Date.now() >= deadline) { socket.close(); console.log(seq - 1); return; }
  const payload = Buffer.alloc(200, 0x61);
  payload.write('NWSEQ', 0);
  payload.writeUInt32BE(seq, 5);
  payload.writeUInt16BE(Number(portText), 9);
  socket.send(payload, Number(portText), address, (err) => {
    if (!err || err.code === 'ECONNREFUSED') seq++;
    setTimeout(tick, Number(intervalText));
  });
}
tick();
`;

/**
 * Starts a sequence-numbered UDP stream from a host (see SEQUENCED_UDP); resolves with the last
 * number sent when it ends. `datagramsOf` reads such datagrams back from a pcap.
 */
export async function sequencedUdp(
  host: LabHost,
  address: string,
  port: number,
  intervalInMs: number,
  durationInMs: number,
): Promise<number> {
  const r = await host.ns.runNode(SEQUENCED_UDP, [address, String(port), String(intervalInMs), String(durationInMs)], {
    timeoutInMs: durationInMs + 30_000,
  });
  return Number(r.stdout.trim());
}

/** The sequenced datagrams of a pcap (records of anything else are left out): sequence number, port, time in ms. */
export function sequencedDatagramsOf(
  records: Array<{ data: Buffer; timestampSeconds: number; timestampFraction: number }>,
): Array<{ seq: number; port: number; timeInMs: number }> {
  const magic = Buffer.from('NWSEQ');
  const out: Array<{ seq: number; port: number; timeInMs: number }> = [];
  for (const r of records) {
    const at = r.data.indexOf(magic);
    if (at < 0 || r.data.length < at + 11) continue;
    out.push({
      seq: r.data.readUInt32BE(at + 5),
      port: r.data.readUInt16BE(at + 9),
      timeInMs: r.timestampSeconds * 1000 + r.timestampFraction / 1000,
    });
  }
  return out;
}

/** Starts the same sequence-numbered UDP stream as sequencedUdp in the background; stop it with stopProcess. */
export function startSequencedUdp(
  host: LabHost,
  address: string,
  port: number,
  intervalInMs: number,
  durationInMs: number,
): ChildProcess {
  return host.ns.spawn(
    process.execPath,
    ['-e', SEQUENCED_UDP, address, String(port), String(intervalInMs), String(durationInMs)],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
}
