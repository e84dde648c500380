// Idle agent benchmark (issue 18): what an agent with no capture running costs its host — CPU and
// resident memory — measured beside Prometheus node_exporter (a reference host agent) in the
// same run, on the same machine, over the same window.
// Usage: node --import tsx bench/agent-idle/run.ts [--seconds 60] [--short] [--json]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { processCpuSeconds } from '../capture-fidelity/cpu.js';
import { createFidelityLab } from '../capture-fidelity/lab.js';
import { startProduct } from '../capture-fidelity/product.js';

const NODE_EXPORTER_ADDRESS = '127.0.0.1:19100';
// Scraped at Prometheus's default interval, as a node_exporter usually is (the agent samples its
// host metrics every second and reports them to the server on its own).
const SCRAPE_INTERVAL_IN_MS = 15_000;

/** Resident memory of `pid` in bytes (VmRSS), or null if it is gone. */
async function residentBytes(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

interface IdleFigures {
  name: string;
  cpuPercent: number | null;
  residentMiB: number | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      short: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds ?? (values.short === true ? 6 : 60));
  if (!(seconds >= 1)) throw new Error('--seconds must be ≥ 1');
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  const dir = await mkdtemp(join(tmpdir(), 'nw-bench-idle-'));
  const lab = await createFidelityLab();
  let product: Awaited<ReturnType<typeof startProduct>> | null = null;
  let exporter: ChildProcess | null = null;
  try {
    product = await startProduct(lab, dir);
    exporter = lab.server.spawn('prometheus-node-exporter', [`--web.listen-address=${NODE_EXPORTER_ADDRESS}`], {
      stdio: 'ignore',
    });
    const scrape = async (): Promise<void> => {
      await lab.server
        .exec('curl', ['-sf', '-o', '/dev/null', `http://${NODE_EXPORTER_ADDRESS}/metrics`])
        .catch(() => undefined);
    };
    // Let both finish starting (JIT, first reports, first scrape) before the window opens.
    await sleep(5000);
    await scrape();
    const pids = { agent: product.agentPid, node_exporter: exporter.pid ?? null } as const;
    const before = await Promise.all(
      Object.values(pids).map((p) => (p === null ? Promise.resolve(null) : processCpuSeconds(p))),
    );
    const startedAt = Date.now();
    const scraper = setInterval(() => void scrape(), SCRAPE_INTERVAL_IN_MS);
    await sleep(seconds * 1000);
    clearInterval(scraper);
    const elapsed = (Date.now() - startedAt) / 1000;
    const after = await Promise.all(
      Object.values(pids).map((p) => (p === null ? Promise.resolve(null) : processCpuSeconds(p))),
    );
    const rss = await Promise.all(
      Object.values(pids).map((p) => (p === null ? Promise.resolve(null) : residentBytes(p))),
    );
    const figures: IdleFigures[] = Object.keys(pids).map((name, i) => ({
      name,
      cpuPercent: before[i] == null || after[i] == null ? null : ((after[i]! - before[i]!) / elapsed) * 100,
      residentMiB: rss[i] == null ? null : rss[i]! / 1024 / 1024,
    }));
    const [agent, reference] = figures as [IdleFigures, IdleFigures];
    const ratio = (a: number | null, b: number | null): number | null =>
      a === null || b === null || b === 0 ? null : a / b;
    const ratios = {
      cpu: ratio(agent.cpuPercent, reference.cpuPercent),
      memory: ratio(agent.residentMiB, reference.residentMiB),
    };
    if (values.json === true) {
      process.stdout.write(JSON.stringify({ seconds: elapsed, figures, ratios }, null, 2) + '\n');
    } else {
      process.stdout.write(
        `idle host agents over ${elapsed.toFixed(1)} s (node_exporter scraped every ${SCRAPE_INTERVAL_IN_MS / 1000} s):\n`,
      );
      for (const f of figures)
        process.stdout.write(
          `  ${f.name.padEnd(14)} cpu ${f.cpuPercent?.toFixed(3) ?? '-'} %   rss ${f.residentMiB?.toFixed(1) ?? '-'} MiB\n`,
        );
      process.stdout.write(
        `  agent ÷ node_exporter: cpu ${ratios.cpu?.toFixed(2) ?? '-'}, memory ${ratios.memory?.toFixed(2) ?? '-'}\n`,
      );
    }
  } finally {
    if (exporter !== null && exporter.exitCode === null) exporter.kill('SIGTERM');
    await product?.close().catch(() => {});
    await lab.destroy().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
