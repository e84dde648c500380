// Preloaded into a benchmarked `nw server` (`node --import …/event-loop-probe.mjs`, bench/scale
// replica-set.ts) so any checkout's server, old or new, reports its event-loop delay: every
// 500 ms one JSON line {at, maxMs, p99Ms, meanMs} over the last 500 ms is appended to the file
// named by NW_BENCH_EVENT_LOOP_FILE. Plain JavaScript: it runs before tsx is registered.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.NW_BENCH_EVENT_LOOP_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const timer = setInterval(() => {
    const ms = (ns) => Math.round(ns / 1e5) / 10;
    const line = {
      at: Date.now(),
      maxMs: ms(histogram.max),
      p99Ms: ms(histogram.percentile(99)),
      meanMs: ms(histogram.mean),
    };
    histogram.reset();
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // A probe never takes the server down.
    }
  }, 500);
  timer.unref();
}
