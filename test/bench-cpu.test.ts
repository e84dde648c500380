// bench/capture-fidelity/cpu.ts: a process's CPU includes the threads that have ended (the
// engine's finalisation runs on a worker thread that is gone when the bench reads the stop's CPU).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { processCpuSeconds } from '../bench/capture-fidelity/cpu.js';

const ownCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage(); // getrusage: every thread, ended ones included
  return (user + system) / 1e6;
};

test(
  'processCpuSeconds counts the CPU of a worker thread that has ended',
  { skip: process.platform !== 'linux' },
  async () => {
    const before = (await processCpuSeconds(process.pid))!;
    const ownBefore = ownCpuSeconds();
    const worker = new Worker('const end = Date.now() + 400; while (Date.now() < end);', { eval: true });
    await new Promise<void>((resolve, reject) => {
      worker.once('exit', () => resolve());
      worker.once('error', reject);
    });
    const own = ownCpuSeconds() - ownBefore;
    const counted = (await processCpuSeconds(process.pid))! - before;
    // On a busy machine the 0.4 s spin gets less CPU; getrusage says how much the process used.
    assert.ok(own > 0.1, `the worker spun only ${own.toFixed(3)} CPU-s`);
    assert.ok(
      Math.abs(counted - own) <= 0.05 + 0.1 * own,
      `counted ${counted.toFixed(3)} CPU-s, getrusage ${own.toFixed(3)}`,
    );
  },
);
