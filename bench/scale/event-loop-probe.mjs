// Preloaded into a benchmarked `nw server` (`node --import …/event-loop-probe.mjs`, bench/scale
// replica-set.ts) so any checkout's server, old or new, reports its event-loop delay: every
// 500 ms one JSON line {at, monoUs, maxMs, p99Ms, meanMs, gcMaxMs, gcMaxKind, gcTotalMs,
// hellosSinceMark} over the last 500 ms is
// appended to the file named by NW_BENCH_EVENT_LOOP_FILE. Plain JavaScript: it runs before tsx is
// registered.
//
// hellosSinceMark: hosts whose hello was recorded (the server's 'netwatcher:agent-hello-recorded'
// diagnostics channel, src/server/services/agent-channel.ts) at or after the time in ms written
// to the file NW_BENCH_EVENT_LOOP_FILE.mark (0 when there is none): the bench writes the storm's
// cut there, so it reads when every host of the storm was greeted, on the embedded database too
// (which no other process can open while the server runs). Stays 0 on a server that does not
// publish it (an older checkout).
import { appendFileSync, readFileSync } from 'node:fs';
import { subscribe } from 'node:diagnostics_channel';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.NW_BENCH_EVENT_LOOP_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  /** Each host's last recorded hello, ms since the epoch. */
  const recordedAt = new Map();
  subscribe('netwatcher:agent-hello-recorded', (message) => {
    recordedAt.set(message.vmKey, Date.now());
  });
  // The main thread's garbage-collection pauses in the window (a hold of the event loop that
  // is a collection shows here): the longest, its kind, and their sum.
  const GC_KINDS = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let gc = { maxMs: 0, kind: null, totalMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.totalMs += entry.duration;
      if (entry.duration > gc.maxMs)
        gc = { ...gc, maxMs: entry.duration, kind: GC_KINDS[entry.detail?.kind] ?? 'other' };
    }
  }).observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => {
    const ms = (ns) => Math.round(ns / 1e5) / 10;
    const line = {
      at: Date.now(),
      // The monotonic clock in µs, as V8's CPU profiles stamp their samples (--server-cpu-prof):
      // a hold found here is found in the profile.
      monoUs: Number(process.hrtime.bigint() / 1000n),
      maxMs: ms(histogram.max),
      p99Ms: ms(histogram.percentile(99)),
      meanMs: ms(histogram.mean),
    };
    histogram.reset();
    line.gcMaxMs = Math.round(gc.maxMs * 10) / 10;
    line.gcMaxKind = gc.kind;
    line.gcTotalMs = Math.round(gc.totalMs * 10) / 10;
    gc = { maxMs: 0, kind: null, totalMs: 0 };
    let mark = 0;
    try {
      mark = Number(readFileSync(`${file}.mark`, 'utf8')) || 0;
    } catch {
      // No mark: every host counts.
    }
    let since = 0;
    for (const at of recordedAt.values()) if (at >= mark) since++;
    line.hellosSinceMark = since;
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // A probe never takes the server down.
    }
  }, 500);
  timer.unref();
}
