// Test support: small Node.js programs (as source text) that make traffic inside a namespace,
// so tests need no ping/nc/iperf. Run them with `TestNamespace.runNode(script, args)`.

/**
 * Sends UDP datagrams. argv: ADDRESS PORT COUNT SIZE_IN_BYTES. Each send waits for the previous
 * one to be handed to the kernel, so a large COUNT floods without overrunning the socket buffer.
 * Prints the number sent.
 * @example await ns.runNode(UDP_SEND_SCRIPT, ['127.0.0.1', '9999', '100', '1000'])
 */
export const UDP_SEND_SCRIPT = `
const dgram = require('node:dgram');
const net = require('node:net');
const [address, portText, countText, sizeText] = process.argv.slice(1);
const port = Number(portText), count = Number(countText), size = Number(sizeText);
const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
const payload = Buffer.alloc(size, 0x61);
let sent = 0;
socket.on('error', (err) => { console.error(err.message); process.exit(1); });
function next() {
  if (sent >= count) { socket.close(); console.log(sent); return; }
  socket.send(payload, port, address, (err) => {
    // ECONNREFUSED comes back from an ICMP port-unreachable for an earlier datagram: keep going.
    if (err && err.code !== 'ECONNREFUSED') { console.error(err.message); process.exit(1); }
    sent++;
    next();
  });
}
next();
`;

/**
 * Opens a TCP listener and connects to it in the same process, sends SIZE_IN_BYTES, waits for
 * the echo, and closes both sides. argv: ADDRESS PORT SIZE_IN_BYTES. Prints the bytes echoed.
 * @example await ns.runNode(TCP_ECHO_SCRIPT, ['::1', '8080', '5000'])
 */
export const TCP_ECHO_SCRIPT = `
const net = require('node:net');
const [address, portText, sizeText] = process.argv.slice(1);
const port = Number(portText), size = Number(sizeText);
const server = net.createServer((sock) => sock.pipe(sock));
server.listen(port, address, () => {
  const client = net.connect(port, address, () => client.end(Buffer.alloc(size, 0x62)));
  let echoed = 0;
  client.on('data', (d) => { echoed += d.length; });
  client.on('close', () => { server.close(); console.log(echoed); });
  client.on('error', (err) => { console.error(err.message); process.exit(1); });
});
`;

/**
 * Sends UDP datagrams as fast as possible for DURATION_IN_MS. argv: ADDRESS PORT SIZE_IN_BYTES
 * DURATION_IN_MS. Prints the number sent.
 * @example ns.runNode(UDP_FLOOD_SCRIPT, ['10.9.0.2', '9', '1200', '2000'])
 */
export const UDP_FLOOD_SCRIPT = `
const dgram = require('node:dgram');
const net = require('node:net');
const [address, portText, sizeText, durationText] = process.argv.slice(1);
const port = Number(portText), size = Number(sizeText), deadline = Date.now() + Number(durationText);
const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
const payload = Buffer.alloc(size, 0x63);
let sent = 0, inFlight = 0;
socket.on('error', () => {});
function pump() {
  while (inFlight < 64 && Date.now() < deadline) {
    inFlight++;
    socket.send(payload, port, address, () => { inFlight--; sent++; pump(); });
  }
  if (inFlight === 0 && Date.now() >= deadline) { socket.close(); console.log(sent); }
}
pump();
`;

/**
 * A TCP echo server that runs until killed. argv: ADDRESS PORT. Prints "listening" once ready.
 * @example const server = ns.spawn(process.execPath, ['-e', TCP_ECHO_SERVER_SCRIPT, '--', '10.9.0.2', '7000'])
 */
export const TCP_ECHO_SERVER_SCRIPT = `
const net = require('node:net');
const [address, portText] = process.argv.slice(1);
net.createServer((sock) => { sock.on('error', () => {}); sock.pipe(sock); })
  .listen(Number(portText), address, () => console.log('listening'));
`;

/**
 * Connects to a TCP echo server, sends SIZE_IN_BYTES, half-closes and waits for the echo.
 * argv: ADDRESS PORT SIZE_IN_BYTES. Prints the bytes echoed.
 * @example await ns.runNode(TCP_SEND_SCRIPT, ['10.9.0.2', '7000', '1000'])
 */
export const TCP_SEND_SCRIPT = `
const net = require('node:net');
const [address, portText, sizeText] = process.argv.slice(1);
const client = net.connect(Number(portText), address, () => client.end(Buffer.alloc(Number(sizeText), 0x64)));
let echoed = 0;
client.on('data', (d) => { echoed += d.length; });
client.on('close', () => console.log(echoed));
client.on('error', (err) => { console.error(err.message); process.exit(1); });
`;

/**
 * Sends one UDP datagram every INTERVAL_IN_MS for DURATION_IN_MS. argv: ADDRESS PORT
 * SIZE_IN_BYTES INTERVAL_IN_MS DURATION_IN_MS. Prints the number sent.
 * @example ns.spawn(process.execPath, ['-e', UDP_PACED_SCRIPT, '--', '10.9.0.2', '9', '100', '50', '4000'])
 */
export const UDP_PACED_SCRIPT = `
const dgram = require('node:dgram');
const net = require('node:net');
const [address, portText, sizeText, intervalText, durationText] = process.argv.slice(1);
const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
const payload = Buffer.alloc(Number(sizeText), 0x65);
const deadline = Date.now() + Number(durationText);
let sent = 0;
socket.on('error', () => {});
const timer = setInterval(() => {
  if (Date.now() >= deadline) { clearInterval(timer); socket.close(); console.log(sent); return; }
  socket.send(payload, Number(portText), address, () => { sent++; });
}, Number(intervalText));
`;
