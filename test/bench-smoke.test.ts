// CI smoke test of the capture benchmarks (issue 18): a short run of bench/capture-fidelity and
// of bench/agent-idle must produce their figures. It asserts that the figures exist and are
// sane, never their values: a shared CI machine is no place for timed assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function runBench(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited with ${code}: ${err}`)),
    );
  });
}

interface FidelityJson {
  results: Array<{
    capturer: string;
    load: string;
    captured: number;
    kernelReceived: number | null;
    cpu: { captureProcess: number | null; agent: number | null };
  }>;
  comparisons: Array<{
    capturer: string;
    shareVsBareB: { median: number } | null;
    cpuVsBareB: { median: number } | null;
    finishCpuSecondsPerGB: { median: number } | null;
  }>;
  hashRate: { gbPerCpuSecond: number; shaExtensions: boolean };
  failures: string[];
}

test('bench/capture-fidelity --short produces shares and CPU figures for the engine and bare tcpdump -B', async () => {
  const report = JSON.parse(
    await runBench('bench/capture-fidelity/run.ts', ['--short', '--json', '--snap', '96']),
  ) as FidelityJson;
  assert.deepEqual([...new Set(report.results.map((r) => r.capturer))].sort(), ['agent', 'bare-B']);
  assert.deepEqual([...new Set(report.results.map((r) => r.load))].sort(), ['tcp', 'udp']);
  for (const r of report.results) {
    assert.ok(
      r.captured > 0 && (r.kernelReceived ?? 0) >= r.captured,
      `${r.capturer} ${r.load}: ${r.captured} of ${r.kernelReceived}`,
    );
    assert.ok(r.cpu.captureProcess !== null && r.cpu.captureProcess >= 0);
    if (r.capturer === 'agent') assert.ok(r.cpu.agent !== null && r.cpu.agent >= 0);
  }
  assert.equal(report.comparisons.length, 2);
  for (const c of report.comparisons) {
    assert.ok(c.shareVsBareB !== null && c.shareVsBareB.median > 0);
    assert.ok(c.cpuVsBareB !== null && c.cpuVsBareB.median > 0);
    // The finalisation after the stop (cut + SHA-256) is reported apart from the capture-time CPU.
    assert.ok(c.finishCpuSecondsPerGB !== null && c.finishCpuSecondsPerGB.median > 0);
  }
  assert.ok(report.hashRate.gbPerCpuSecond > 0);
  assert.ok(Array.isArray(report.failures));
});

test('bench/agent-idle --short measures the idle agent beside node_exporter', async () => {
  const report = JSON.parse(await runBench('bench/agent-idle/run.ts', ['--short', '--json'])) as {
    figures: Array<{ name: string; cpuPercent: number | null; residentMiB: number | null }>;
  };
  assert.deepEqual(
    report.figures.map((f) => f.name),
    ['agent', 'node_exporter'],
  );
  for (const f of report.figures) {
    assert.ok(f.cpuPercent !== null && f.cpuPercent >= 0, `${f.name} cpu`);
    assert.ok(f.residentMiB !== null && f.residentMiB > 1, `${f.name} memory`);
  }
});

interface FinaliseJson {
  results: Array<{
    load: string;
    mode: string;
    deliveredVsNone: { median: number } | null;
    finaliseWallSeconds: { median: number } | null;
    finaliseCpuSeconds: { median: number } | null;
  }>;
}

test('bench/capture-fidelity/finalise.ts measures the load beside an idle-priority and a normal finalisation', async () => {
  const report = JSON.parse(
    await runBench('bench/capture-fidelity/finalise.ts', [
      ...['--json', '--repeat', '1', '--duration', '2', '--size-mb', '16', '--load', 'udp'],
    ]),
  ) as FinaliseJson;
  assert.deepEqual(report.results.map((r) => r.mode).sort(), ['idle', 'none', 'normal']);
  for (const r of report.results) {
    if (r.mode === 'none') {
      assert.equal(r.deliveredVsNone, null);
      continue;
    }
    assert.ok(r.deliveredVsNone !== null && r.deliveredVsNone.median > 0, `${r.mode}: no load ratio`);
    assert.ok(r.finaliseWallSeconds !== null && r.finaliseWallSeconds.median > 0);
    assert.ok(r.finaliseCpuSeconds !== null && r.finaliseCpuSeconds.median > 0);
  }
});
