// uPlot wrappers shared by the apps: a trace chart per cell (raw / filtered / fit / activity / residual,
// optional ground truth) and a small kernel plot. Colours are Okabe-Ito (colour-blind safe) with a darker
// or lighter variant per theme. Long traces are min/max-decimated before drawing.

import uPlot from 'uplot';
import { bucketMax, minMaxDecimate } from './decimate';

export type Theme = 'light' | 'dark';

export function palette(theme: Theme) {
  const dark = theme === 'dark';
  return {
    raw: dark ? '#9a9a9a' : '#7a7a7a',
    filtered: dark ? '#F0E442' : '#8a7d00',
    fit: '#E69F00',
    activity: dark ? '#56B4E9' : '#0072B2',
    residual: '#D55E00',
    truth: '#009E73',
    pinned: '#CC79A7',
    axis: dark ? '#c8c8c8' : '#333333',
    grid: dark ? 'rgba(255,255,255,0.08)' : 'rgba(0,0,0,0.07)',
  };
}

/** Above this many samples a trace is decimated to about this many points. */
export const MAX_POINTS = 20000;

export interface TraceSeries {
  raw: Float32Array;
  filtered?: Float32Array;
  fit?: Float32Array;
  activity?: Float32Array;
  /** Fit pinned earlier for comparison. */
  pinnedFit?: Float32Array;
  truthCalcium?: Float32Array;
  truthSpikes?: Float32Array;
}

const axisOpts = (stroke: string, grid: string, extra: Partial<uPlot.Axis> = {}): uPlot.Axis => ({
  stroke, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 44, ...extra,
});

/** The chart of one cell. Series order: raw, filtered, fit, activity, residual, pinned fit, true calcium, true spikes. */
export class TraceChart {
  readonly plot: uPlot;
  private readonly dt: number;
  private readonly hasTruth: boolean;

  constructor(el: HTMLElement, opts: { width: number; height: number; fs: number; theme: Theme; hasTruth: boolean; showFiltered: boolean; showTruth: boolean; showPinned: boolean; syncKey: string }) {
    const c = palette(opts.theme);
    this.dt = 1 / opts.fs;
    this.hasTruth = opts.hasTruth;
    const series: uPlot.Series[] = [
      { label: 'time (s)', value: (_u, v) => (v == null ? '-' : v.toFixed(2)) },
      { label: 'raw', stroke: c.raw, width: 1, scale: 'y' },
      { label: 'filtered', stroke: c.filtered, width: 1, scale: 'y', show: opts.showFiltered },
      { label: 'fit', stroke: c.fit, width: 1.5, scale: 'y' },
      { label: 'activity', stroke: c.activity, width: 1, scale: 'act', fill: c.activity + '55' },
      { label: 'residual', stroke: c.residual, width: 1, scale: 'res', show: false },
      { label: 'pinned fit', stroke: c.pinned, width: 2, dash: [6, 4], scale: 'y', show: opts.showPinned },
    ];
    if (opts.hasTruth) {
      series.push({ label: 'true calcium', stroke: c.truth, width: 1, dash: [4, 3], scale: 'y', show: opts.showTruth });
      series.push({ label: 'true spikes', stroke: c.truth, width: 0, scale: 'spk', show: opts.showTruth, points: { show: true, size: 4, fill: c.truth }, paths: () => null });
    }
    const o: uPlot.Options = {
      width: opts.width,
      height: opts.height,
      series,
      cursor: { sync: { key: opts.syncKey, setSeries: false }, drag: { x: true, y: false } },
      legend: { show: true, live: false },
      scales: {
        x: { time: false },
        // The trace sits in the upper part and the activity in the lower third, so they do not overlap.
        y: { range: (_u, lo, hi) => { const r = hi - lo || 1; return [lo - 0.55 * r, hi + 0.05 * r]; } },
        act: { range: (_u, _lo, hi) => [0, (hi > 0 ? hi : 1) * 3] },
        spk: { range: (_u, _lo, hi) => [0, (hi > 0 ? hi : 1) * 2.2] },
        res: { range: (_u, lo, hi) => { const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1; return [-m, m * 4]; } },
      },
      axes: [axisOpts(c.axis, c.grid), axisOpts(c.axis, c.grid, { scale: 'y' })],
    };
    this.plot = new uPlot(o, this.emptyData(0), el);
  }

  private emptyData(n: number): uPlot.AlignedData {
    const cols = this.hasTruth ? 9 : 7;
    const x = new Float64Array(n);
    return [x, ...Array.from({ length: cols - 1 }, () => new Float64Array(n))] as unknown as uPlot.AlignedData;
  }

  /** Draws the series; `startIndex` is the sample number of their first element (a window of a recording). */
  setData(s: TraceSeries, startIndex = 0, maxPoints = MAX_POINTS): void {
    const n = s.raw.length;
    const zeros = new Float32Array(n);
    const fit = s.fit ?? zeros;
    const residual = new Float32Array(n);
    const base = s.filtered ?? s.raw;
    if (s.fit) for (let i = 0; i < n; i++) residual[i] = base[i] - fit[i];
    const cols: ArrayLike<number>[] = [s.raw, s.filtered ?? s.raw, fit, s.activity ?? zeros, residual, s.pinnedFit ?? zeros];
    if (this.hasTruth) cols.push(s.truthCalcium ?? zeros, s.truthSpikes ?? zeros);
    const d = minMaxDecimate(cols, this.dt, maxPoints);
    if (d.x.length < n) {
      d.ys[3] = bucketMax(s.activity ?? zeros, d.x, this.dt);
      if (this.hasTruth) d.ys[7] = bucketMax(s.truthSpikes ?? zeros, d.x, this.dt);
    }
    if (startIndex) for (let i = 0; i < d.x.length; i++) d.x[i] += startIndex * this.dt;
    const ys = d.ys.map((y, k) => {
      // Spikes draw as points only where there is one.
      if (k === 7) return Array.from(y, (v) => (v > 0 ? v : null));
      return y;
    });
    this.plot.setData([d.x, ...ys] as unknown as uPlot.AlignedData, true);
  }

  setShown(label: string, show: boolean): void {
    const i = this.plot.series.findIndex((s) => s.label === label);
    if (i > 0 && this.plot.series[i].show !== show) this.plot.setSeries(i, { show });
  }

  resize(width: number, height: number): void {
    this.plot.setSize({ width, height });
  }

  destroy(): void {
    this.plot.destroy();
  }
}

/** Small plot of the sampled kernel against time in seconds. */
export function kernelPlot(el: HTMLElement, kernel: Float32Array, fs: number, theme: Theme, width = 240, height = 110): uPlot {
  const c = palette(theme);
  const x = Float64Array.from(kernel, (_v, i) => i / fs);
  return new uPlot(
    {
      width, height, legend: { show: false }, cursor: { show: false },
      series: [{}, { stroke: c.fit, width: 2, fill: c.fit + '33' }],
      scales: { x: { time: false }, y: { range: [0, 1.05] } },
      axes: [axisOpts(c.axis, c.grid, { size: 28 }), axisOpts(c.axis, c.grid, { size: 40, values: (_u, v) => v.map((t) => t.toFixed(1)) })],
    },
    [x, Float64Array.from(kernel)] as unknown as uPlot.AlignedData,
    el,
  );
}

/** Power spectrum of the inspected cell (log power against Hz) with the band-pass cutoffs marked. */
export class SpectrumChart {
  readonly plot: uPlot;
  private cutoffs: number[] = [];

  constructor(el: HTMLElement, theme: Theme, width = 250, height = 130) {
    const c = palette(theme);
    this.plot = new uPlot(
      {
        width, height, legend: { show: false }, cursor: { show: false },
        series: [{}, { stroke: c.activity, width: 1 }],
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [axisOpts(c.axis, c.grid, { size: 28 }), axisOpts(c.axis, c.grid, { size: 52, values: (_u, v) => v.map((t) => (t == null ? '' : t.toExponential(0))) })],
        hooks: {
          draw: [(u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = c.fit;
            ctx.setLineDash([4, 3]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            for (const f of this.cutoffs) {
              const x = u.valToPos(f, 'x', true);
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          }],
        },
      },
      [new Float64Array(0), new Float64Array(0)] as unknown as uPlot.AlignedData,
      el,
    );
  }

  setData(freqs: Float32Array, power: Float32Array, cutoffs: number[]): void {
    this.cutoffs = cutoffs;
    // Log axes cannot show zeros; floor at 1e-12 of the peak. Skip DC, which only says where the mean is.
    let peak = 0;
    for (let i = 1; i < power.length; i++) if (power[i] > peak) peak = power[i];
    const floor = (peak || 1) * 1e-12;
    const p = Float64Array.from(power.subarray(1), (v) => Math.max(v, floor));
    const df = freqs.length > 1 ? freqs[1] - freqs[0] : 1;
    const d = minMaxDecimate([p], df, 2000);
    const x = Float64Array.from(d.x, (v) => v + df);
    this.plot.setData([x, d.ys[0]] as unknown as uPlot.AlignedData);
  }

  destroy(): void {
    this.plot.destroy();
  }
}
