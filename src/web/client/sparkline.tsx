// A host's traffic over the last hour as a small uPlot chart (bytes in and out per minute).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** A small line chart of one or two series over time (seconds since the epoch). */
export function Sparkline({
  times,
  series,
  label,
}: {
  times: number[];
  series: Array<{ name: string; values: Array<number | null>; stroke: string }>;
  label: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current || times.length === 0) return undefined;
    const plot = new uPlot(
      {
        width: 160,
        height: 36,
        pxAlign: false,
        cursor: { show: false },
        legend: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        scales: { x: { time: true } },
        axes: [{ show: false }, { show: false }],
        series: [{}, ...series.map((s) => ({ label: s.name, stroke: s.stroke, width: 1.25, points: { show: false } }))],
      },
      [times, ...series.map((s) => s.values)],
      ref.current,
    );
    return () => plot.destroy();
  }, [times, series]);
  if (times.length === 0) return <span class="muted">no data yet</span>;
  return <div class="sparkline" ref={ref} role="img" aria-label={label} />;
}

/** A full-width time chart (the viewer's I/O graph). */
export function TimeChart({
  times,
  series,
  height = 220,
  yLabel,
}: {
  times: number[];
  series: Array<{ name: string; values: Array<number | null>; stroke: string }>;
  height?: number;
  yLabel: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || times.length === 0) return undefined;
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 400),
        height,
        scales: { x: { time: true } },
        axes: [{}, { label: yLabel, size: 60 }],
        series: [{}, ...series.map((s) => ({ label: s.name, stroke: s.stroke, width: 1.5, points: { show: false } }))],
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    return () => plot.destroy();
  }, [times, series, height, yLabel]);
  return <div class="timechart" ref={ref} role="img" aria-label={`${yLabel} over time`} />;
}
