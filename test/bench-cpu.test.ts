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
    // Spins until its own thread has used 0.3 CPU-s (utime + stime of /proc/thread-self/stat, in
    // ticks of 10 ms), not for a wall time: on a loaded machine a wall-time spin gets little CPU.
    const worker = new Worker(
      `const { readFileSync } = require('node:fs');
       const cpu = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
       const end = Date.now() + 20000;
       while (cpu() < 0.3 && Date.now() < end);`,
      { eval: true },
    );
    await new Promise<void>((resolve, reject) => {
      worker.once('exit', () => resolve());
      worker.once('error', reject);
    });
    const own = ownCpuSeconds() - ownBefore;
    const counted = (await processCpuSeconds(process.pid))! - before;
    assert.ok(own > 0.1, `the worker spun only ${own.toFixed(3)} CPU-s`);
    assert.ok(
      Math.abs(counted - own) <= 0.05 + 0.1 * own,
      `counted ${counted.toFixed(3)} CPU-s, getrusage ${own.toFixed(3)}`,
    );
  },
);
