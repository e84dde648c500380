/**
 * Control-plane latency: from a client's create (PUT) to the capture really running on the host
 * (the create operation succeeds only when the agent reports tcpdump listening), over repeated
 * trials, against bare `tcpdump` started on the same host in the same run — the floor any capture
 * service pays. DESIGN §11 target: p50 under 250 ms, p99 under 1 s.
 *
 * Usage: node --import tsx bench/control-plane/run.ts [--trials N] [--check]
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../test/lab/lab.js';

const args = process.argv.slice(2);
const trials =
  Number(args[args.indexOf('--trials') + 1]) > 0 && args.includes('--trials')
    ? Number(args[args.indexOf('--trials') + 1])
    : 30;
const check = args.includes('--check');
const SUB = '00000000-0000-0000-0000-000000000000';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
function summary(values: number[]) {
  const sorted = [...values].sort((x, y) => x - y);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}
const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;

const lab = await Lab.create();
try {
  const host = await lab.addHost('a', ['10.0.0.3/24']);
  await lab.startServer(['--log-level', 'warn']);
  await lab.installAgent(host, 'benchrg', 'vma');

  // Baseline: bare tcpdump on the same host, from spawn to its "listening on" line.
  const bare: number[] = [];
  for (let i = 0; i < trials; i++) {
    const started = performance.now();
    const child = host.ns.spawn('tcpdump', ['-i', 'any', '-n', '-w', '/dev/null'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve) =>
      child.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening on')) resolve();
      }),
    );
    bare.push(performance.now() - started);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }

  const watcher = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus`;
  const vmId = `/subscriptions/${SUB}/resourceGroups/benchrg/providers/Microsoft.Compute/virtualMachines/vma`;
  const storageId = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;
  const createToRunning: number[] = [];
  for (let i = 0; i < trials; i++) {
    const path = `${watcher}/packetCaptures/bench${i}?api-version=2024-05-01`;
    const started = performance.now();
    const put = await lab.api('PUT', path, {
      properties: {
        target: vmId,
        storageLocation: { storageId },
        timeLimitInSeconds: 60,
        filters: [{ protocol: 'UDP', remotePort: '9' }],
      },
    });
    if (put.status !== 201) throw new Error(`create failed: ${put.status} ${JSON.stringify(put.body)}`);
    const opUrl = new URL(put.headers.get('azure-asyncoperation')!);
    for (;;) {
      const op = await lab.api('GET', `${opUrl.pathname}${opUrl.search}`);
      const status = (op.body as { status: string }).status;
      if (status === 'Succeeded') break;
      if (status !== 'InProgress') throw new Error(`create operation ${status}`);
      await sleep(5);
    }
    createToRunning.push(performance.now() - started);
    await lab.api('DELETE', path);
    for (let j = 0; j < 400 && (await lab.api('GET', path)).status !== 404; j++) await sleep(25);
  }

  const b = summary(bare);
  const c = summary(createToRunning);
  console.log(`control plane: create → capture running on the host, ${trials} trials each`);
  console.log(`                         p50       p90       p99       max`);
  console.log(`bare tcpdump start  ${fmt(b.p50)} ${fmt(b.p90)} ${fmt(b.p99)} ${fmt(b.max)}`);
  console.log(`nw create → Running ${fmt(c.p50)} ${fmt(c.p90)} ${fmt(c.p99)} ${fmt(c.max)}`);
  console.log(
    `ratio (nw ÷ bare)   ${(c.p50 / b.p50).toFixed(2).padStart(8)}  ${(c.p90 / b.p90).toFixed(2).padStart(8)}  ${(c.p99 / b.p99).toFixed(2).padStart(8)}  ${(c.max / b.max).toFixed(2).padStart(8)}`,
  );
  const met = c.p50 < 250 && c.p99 < 1000;
  console.log(`target (p50 < 250 ms, p99 < 1 s): ${met ? 'met' : 'NOT met'}`);
  if (check && !met) process.exitCode = 1;
} finally {
  await lab.destroy();
}
