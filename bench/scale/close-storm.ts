/**
 * The event-loop hold of a reconnect storm's cut, without netwatcher: a bare `ws` server with N
 * connections, all cut at once by their clients (`terminate()`, as bench/lib/agent-simulator.ts's
 * dropAll), and the server's event-loop delay (monitorEventLoopDelay, 10 ms resolution) and GC
 * pauses per 100 ms window around the cut. It holds the loop as long as `nw server` does in the
 * storm (bench/scale README, "The event loop's holds"): libuv's poll phase takes up to 48 rounds
 * of 1,024 ready sockets before it returns to the timers (uv__io_poll), so 10,000 sockets closing
 * together are handled in one turn of the loop, however little each close costs.
 *
 * Usage: node --import tsx bench/scale/close-storm.ts [--connections 10000] [--processes 4]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const role = args[0] === 'server' || args[0] === 'client' ? args[0] : 'main';
const self = fileURLToPath(import.meta.url);

interface Window {
  at: number;
  maxMs: number;
  open: number;
  gcMs: number;
}

if (role === 'server') {
  // A bare server: every message ignored, nothing done on a close.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', backlog: 1024 });
  let open = 0;
  let gcMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  }).observe({ entryTypes: ['gc'] });
  wss.on('connection', (ws) => {
    open++;
    ws.on('message', () => {});
    ws.on('error', () => {});
    ws.on('close', () => open--);
  });
  wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const windows: Window[] = [];
  setInterval(() => {
    windows.push({ at: Date.now(), maxMs: Math.round(delay.max / 1e6), open, gcMs: Math.round(gcMs) });
    delay.reset();
    gcMs = 0;
  }, 100);
  process.on('message', () => process.send!({ windows }));
} else if (role === 'client') {
  // Each connection from its own loopback address (127/8 is local), so no one address runs out of ports.
  const [port, from, count] = args.slice(1).map(Number) as [number, number, number];
  const sockets: WebSocket[] = [];
  const open = (a: number) =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, {
        localAddress: `127.${10 + (a >> 16)}.${(a >> 8) & 255}.${a & 255 || 1}`,
      });
      ws.on('open', () => {
        sockets.push(ws);
        resolve();
      });
      ws.on('error', () => resolve());
    });
  for (let i = 0; i < count; i += 200)
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => open(from + i + j)));
  process.send!({ opened: sockets.length });
  process.on('message', () => {
    for (const ws of sockets) ws.terminate();
  });
} else {
  const connections = Number(arg('--connections', '10000'));
  const processes = Number(arg('--processes', '4'));
  const server = fork(self, ['server']);
  const { port } = await new Promise<{ port: number }>((r) => server.once('message', (m) => r(m as { port: number })));
  const share = Math.ceil(connections / processes);
  const clients = Array.from({ length: processes }, (_, p) =>
    fork(self, ['client', String(port), String(p * share), String(Math.min(share, connections - p * share))]),
  );
  const opened = await Promise.all(
    clients.map((c) => new Promise<number>((r) => c.once('message', (m) => r((m as { opened: number }).opened)))),
  );
  await sleep(3000);
  const cutAt = Date.now();
  for (const c of clients) c.send('cut');
  await sleep(4000);
  server.send('report');
  const { windows } = await new Promise<{ windows: Window[] }>((r) =>
    server.once('message', (m) => r(m as { windows: Window[] })),
  );
  const near = windows.filter((w) => w.at > cutAt - 2000 && w.at < cutAt + 4000);
  for (const w of near.filter((x) => x.maxMs >= 50))
    console.log(
      `+${((w.at - cutAt) / 1000).toFixed(1)} s: event loop held ${w.maxMs} ms, GC ${w.gcMs} ms, ${w.open} open`,
    );
  const max = (ws: Window[]) => ws.reduce((m, w) => Math.max(m, w.maxMs), 0);
  console.log(
    JSON.stringify({
      connections: opened.reduce((a, b) => a + b, 0),
      eventLoopMaxBeforeCutMs: max(near.filter((w) => w.at < cutAt)),
      eventLoopMaxAfterCutMs: max(near.filter((w) => w.at >= cutAt)),
      load: (await import('node:os')).loadavg()[0],
    }),
  );
  for (const c of [...clients, server]) c.kill();
  process.exit(0);
}
