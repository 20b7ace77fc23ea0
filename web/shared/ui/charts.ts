// uPlot wrappers shared by the apps: the two-panel trace chart of a cell (fluorescence above, activity
// below, each with its own titled axis; one time axis), the kernel plot and the power spectrum. Colours
// are Okabe-Ito (colour-blind safe) with a darker or lighter variant per theme. Long traces are
// min/max-decimated before drawing. uPlot draws axis titles on the canvas, so every chart also lists its
// titles in `data-axes` on its element (what the browser tests read).

import uPlot from 'uplot';
import { bucketMax, minMaxDecimate } from '../decimate';

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

const FONT = '11px system-ui, sans-serif';
// Titles in the same font as the tick values: switching the canvas font per axis costs a font parse each draw.
const TITLE_FONT = FONT;
/** Width of every y axis (tick values + title), so stacked panels line up. */
const Y_AXIS = 58;
const RIGHT_AXIS = 52;

export interface AxisSpec {
  title?: string | (() => string);
  size?: number | ((u: uPlot, values: string[], axisIdx: number, cycleNum: number) => number);
  scale?: string;
  side?: 0 | 1 | 2 | 3;
  values?: uPlot.Axis['values'];
  incrs?: uPlot.Axis['incrs'];
  splits?: uPlot.Axis['splits'];
  space?: number;
  grid?: boolean;
}

/** A uPlot axis in the app's style with an optional title. */
export function axis(theme: Theme, a: AxisSpec = {}): uPlot.Axis {
  const c = palette(theme);
  const title = a.title;
  return {
    stroke: c.axis,
    font: FONT,
    labelFont: TITLE_FONT,
    grid: { show: a.grid ?? true, stroke: c.grid, width: 1 },
    ticks: { stroke: c.grid, width: 1, size: 4 },
    size: a.size ?? 40,
    gap: 3,
    ...(title !== undefined
      ? { label: typeof title === 'function' ? () => title() : title, labelSize: 15, labelGap: 0 }
      : {}),
    ...(a.scale ? { scale: a.scale } : {}),
    ...(a.side !== undefined ? { side: a.side } : {}),
    ...(a.values ? { values: a.values } : {}),
    ...(a.incrs ? { incrs: a.incrs } : {}),
    ...(a.splits ? { splits: a.splits } : {}),
    ...(a.space ? { space: a.space } : {}),
  };
}

/** Tick values with at most `digits` significant digits and no float noise ("0.30000000000000004"). */
export const tickValues =
  (digits = 3) =>
  (_u: uPlot, v: number[]): string[] =>
    v.map((t) => (t == null ? '' : String(+t.toPrecision(digits))));

/** Integer ticks only (iterations, counts): splits that are not whole numbers are left blank. */
export const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
export const integerValues = (_u: uPlot, v: number[]): string[] =>
  v.map((t) => (t != null && Number.isInteger(t) ? String(t) : ''));

function recordAxes(el: HTMLElement, titles: string[]): void {
  el.dataset.axes = titles.filter(Boolean).join(' | ');
}

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

/** Series of the trace chart: which panel and axis each is on (the legend says so too). */
export const TRACE_SERIES = [
  { key: 'raw', label: 'raw', panel: 'upper' },
  { key: 'filtered', label: 'filtered', panel: 'upper' },
  { key: 'fit', label: 'fit', panel: 'upper' },
  { key: 'pinned', label: 'pinned fit', panel: 'upper' },
  { key: 'truthCalcium', label: 'true calcium', panel: 'upper' },
  { key: 'activity', label: 'activity', panel: 'lower' },
  { key: 'truthSpikes', label: 'true spikes', panel: 'lower' },
  { key: 'residual', label: 'residual', panel: 'lower' },
] as const;

export type SeriesLabel = (typeof TRACE_SERIES)[number]['label'];

export interface TraceChartOptions {
  width: number;
  /** Total height of both panels and the time axis. */
  height: number;
  fs: number;
  theme: Theme;
  hasTruth: boolean;
  /** Which series start visible (by label); the others start hidden. */
  shown: ReadonlySet<string>;
  syncKey: string;
  /** Unit of the traces, for the fluorescence and residual axis titles. */
  unit: string;
  /** Title of the activity axis. */
  activityTitle?: string;
  /** Draw a legend under the chart (apps with one chart; CaTune has one legend for all cards). */
  legend?: boolean;
}

/**
 * The chart of one cell: the upper panel plots fluorescence (raw, filtered, fit, pinned fit, true calcium)
 * against its own axis in the data's unit; the lower panel plots the activity on its own axis, with the
 * true spikes as dots and the residual on a right-hand axis. Both share the time axis (zoom, cursor).
 */
export class TraceChart {
  readonly plot: uPlot;
  readonly lower: uPlot;
  private readonly dt: number;
  private readonly hasTruth: boolean;
  private shown: Set<string>;

  constructor(
    readonly el: HTMLElement,
    opts: TraceChartOptions,
  ) {
    const c = palette(opts.theme);
    const th = opts.theme;
    this.dt = 1 / opts.fs;
    this.hasTruth = opts.hasTruth;
    this.shown = new Set(opts.shown);
    const on = (label: string) => this.shown.has(label);
    const [hu, hl] = this.heights(opts.height);
    const cursor: uPlot.Cursor = { sync: { key: opts.syncKey, setSeries: false }, drag: { x: true, y: false } };
    const upperSeries: uPlot.Series[] = [
      {},
      { label: 'raw', stroke: c.raw, width: 1, show: on('raw') },
      { label: 'filtered', stroke: c.filtered, width: 1, show: on('filtered') },
      { label: 'fit', stroke: c.fit, width: 1.5, show: on('fit') },
      { label: 'pinned fit', stroke: c.pinned, width: 2, dash: [6, 4], show: on('pinned fit') },
    ];
    if (opts.hasTruth)
      upperSeries.push({ label: 'true calcium', stroke: c.truth, width: 1, dash: [4, 3], show: on('true calcium') });
    const fTitle = `F (${opts.unit})`;
    const actTitle = opts.activityTitle ?? 'activity';
    const resTitle = `residual (${opts.unit})`;
    const upperEl = document.createElement('div');
    const lowerEl = document.createElement('div');
    el.append(upperEl, lowerEl);
    this.plot = new uPlot(
      {
        width: opts.width,
        height: hu,
        series: upperSeries,
        cursor,
        legend: { show: false },
        scales: {
          x: { time: false },
          y: {
            range: (_u, lo, hi) => {
              const r = hi - lo || Math.abs(hi) || 1;
              return [lo - 0.05 * r, hi + 0.05 * r];
            },
          },
        },
        axes: [
          axis(th, { size: 6, values: (_u, v) => v.map(() => '') }),
          axis(th, { title: fTitle, size: Y_AXIS - 15, values: tickValues(3) }),
          axis(th, { side: 1, size: () => this.rightAxis(), values: (_u, v) => v.map(() => ''), grid: false }),
        ],
      },
      this.emptyData(upperSeries.length, 0),
      upperEl,
    );
    // The residual first, thin and translucent, so the activity stays readable on top of it.
    const lowerSeries: uPlot.Series[] = [
      { label: 'time (s)' },
      { label: 'residual', stroke: c.residual + '99', width: 0.75, scale: 'res', show: on('residual') },
      { label: 'activity', stroke: c.activity, width: 1, scale: 'act', fill: c.activity + '55', show: on('activity') },
    ];
    if (opts.hasTruth) {
      lowerSeries.push({
        label: 'true spikes',
        stroke: c.truth,
        width: 0,
        scale: 'spk',
        show: on('true spikes'),
        points: { show: true, size: 4, fill: c.truth },
        paths: () => null,
      });
    }
    this.lower = new uPlot(
      {
        width: opts.width,
        height: hl,
        series: lowerSeries,
        cursor,
        legend: { show: false },
        scales: {
          x: { time: false },
          act: { range: (_u, _lo, hi) => [0, (hi > 0 ? hi : 1) * 1.08] },
          res: {
            range: (_u, lo, hi) => {
              const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
              return [-m * 1.05, m * 1.05];
            },
          },
          spk: { range: (_u, _lo, hi) => [0, (hi > 0 ? hi : 1) * 1.25] },
        },
        axes: [
          axis(th, { title: 'Time (s)', size: 22, values: tickValues(4) }),
          axis(th, { title: actTitle, size: Y_AXIS - 15, scale: 'act', values: tickValues(2), space: 18 }),
          axis(th, {
            title: () => (this.shown.has('residual') ? resTitle : ''),
            side: 1,
            size: () => this.rightAxis() - 15,
            scale: 'res',
            grid: false,
            space: 18,
            values: (u, v) => (this.shown.has('residual') ? tickValues(2)(u, v) : v.map(() => '')),
          }),
        ],
      },
      this.emptyData(lowerSeries.length, 0),
      lowerEl,
    );
    recordAxes(el, ['Time (s)', fTitle, actTitle, resTitle]);
    if (opts.legend) el.append(this.legendEl(opts));
  }

  /** A static legend: each series that starts visible, with the panel and axis it is drawn on. */
  private legendEl(opts: TraceChartOptions): HTMLElement {
    const c = palette(opts.theme);
    const colors: Record<string, string> = {
      raw: c.raw,
      filtered: c.filtered,
      fit: c.fit,
      'pinned fit': c.pinned,
      'true calcium': c.truth,
      activity: c.activity,
      'true spikes': c.truth,
      residual: c.residual,
    };
    const where: Record<string, string> = { upper: 'upper panel', lower: 'lower panel' };
    const box = document.createElement('div');
    box.className = 'chart-legend';
    box.dataset.testid = 'trace-legend';
    for (const s of TRACE_SERIES) {
      if (!this.shown.has(s.label) || (!opts.hasTruth && s.label.startsWith('true'))) continue;
      const item = document.createElement('span');
      const sw = document.createElement('span');
      sw.className = `swatch${s.label === 'pinned fit' || s.label === 'true calcium' ? ' dash' : ''}`;
      sw.style.setProperty('--c', colors[s.label]);
      const axisNote = s.label === 'residual' ? ', right axis' : s.label === 'true spikes' ? ', dots' : '';
      item.append(sw, `${s.label} (${where[s.panel]}${axisNote})`);
      box.append(item);
    }
    return box;
  }

  /** Width of the right-hand axes: room for the residual's ticks only while it is shown. */
  private rightAxis(): number {
    return this.shown.has('residual') ? RIGHT_AXIS : 16;
  }

  /** Upper and lower heights: the fluorescence panel gets about 55 % of the plotting height. */
  private heights(total: number): [number, number] {
    const xAxis = 22 + 15;
    const plotting = Math.max(60, total - xAxis - 12);
    const upper = Math.round(plotting * 0.55) + 12;
    return [upper, total - upper];
  }

  private emptyData(cols: number, n: number): uPlot.AlignedData {
    return Array.from({ length: cols }, () => new Float64Array(n)) as unknown as uPlot.AlignedData;
  }

  /** Draws the series; `startIndex` is the sample number of their first element (a window of a recording). */
  setData(s: TraceSeries, startIndex = 0, maxPoints = MAX_POINTS): void {
    const n = s.raw.length;
    const zeros = new Float32Array(n);
    const fit = s.fit ?? zeros;
    const residual = new Float32Array(n);
    const base = s.filtered ?? s.raw;
    if (s.fit) for (let i = 0; i < n; i++) residual[i] = base[i] - fit[i];
    const cols: ArrayLike<number>[] = [
      s.raw,
      s.filtered ?? s.raw,
      fit,
      s.pinnedFit ?? zeros,
      s.activity ?? zeros,
      residual,
    ];
    if (this.hasTruth) cols.push(s.truthCalcium ?? zeros, s.truthSpikes ?? zeros);
    const d = minMaxDecimate(cols, this.dt, maxPoints);
    if (d.x.length < n) {
      d.ys[4] = bucketMax(s.activity ?? zeros, d.x, this.dt);
      if (this.hasTruth) d.ys[7] = bucketMax(s.truthSpikes ?? zeros, d.x, this.dt);
    }
    if (startIndex) for (let i = 0; i < d.x.length; i++) d.x[i] += startIndex * this.dt;
    // Missing series are blank, not zero lines that would stretch the axes.
    const blank = (present: unknown, y: Float64Array) => (present ? y : y.map(() => NaN));
    const upper: ArrayLike<number | null>[] = [
      d.x,
      d.ys[0],
      blank(s.filtered, d.ys[1]),
      blank(s.fit, d.ys[2]),
      blank(s.pinnedFit, d.ys[3]),
    ];
    if (this.hasTruth) upper.push(blank(s.truthCalcium, d.ys[6]));
    const lower: ArrayLike<number | null>[] = [d.x, blank(s.fit, d.ys[5]), blank(s.activity, d.ys[4])];
    // Spikes draw as dots only where there is one.
    if (this.hasTruth) lower.push(Array.from(d.ys[7], (v) => (v > 0 ? v : null)));
    this.plot.setData(upper as unknown as uPlot.AlignedData, true);
    this.lower.setData(lower as unknown as uPlot.AlignedData, true);
  }

  /** Shows the time span [min, max] s in both panels. */
  setView(min: number, max: number): void {
    this.plot.setScale('x', { min, max });
    this.lower.setScale('x', { min, max });
  }

  /** Runs `f` with both panels' redraws batched into one each. */
  batch(f: () => void): void {
    this.plot.batch(() => this.lower.batch(f));
  }

  /** Called when the user zooms either panel (drag, wheel). */
  onXScale(f: (u: uPlot) => void): void {
    for (const p of [this.plot, this.lower])
      p.hooks.setScale = [
        (u: uPlot, key: string) => {
          if (key === 'x') f(u);
        },
      ];
  }

  setShown(label: string, show: boolean): void {
    if (show) this.shown.add(label);
    else this.shown.delete(label);
    for (const p of [this.plot, this.lower]) {
      const i = p.series.findIndex((s) => s.label === label);
      if (i > 0 && p.series[i].show !== show) p.setSeries(i, { show });
    }
    // The right-hand axes change width with the residual: both panels re-layout so they stay aligned.
    if (label === 'residual') for (const p of [this.plot, this.lower]) p.setSize({ width: p.width, height: p.height });
  }

  resize(width: number, height: number): void {
    const [hu, hl] = this.heights(height);
    this.plot.setSize({ width, height: hu });
    this.lower.setSize({ width, height: hl });
  }

  destroy(): void {
    this.plot.destroy();
    this.lower.destroy();
    this.el.replaceChildren();
  }
}

/** Where a kernel has decayed for good: the last sample at or above `frac` of its peak, plus a little. */
export function kernelSupport(kernel: ArrayLike<number>, frac = 0.01): number {
  let peak = 0;
  for (let i = 0; i < kernel.length; i++) peak = Math.max(peak, kernel[i]);
  let last = 0;
  for (let i = 0; i < kernel.length; i++) if (kernel[i] >= frac * peak) last = i;
  return Math.min(kernel.length, Math.max(4, Math.ceil(last * 1.15) + 2));
}

/** The kernel's samples to plot: time in seconds and values, cropped to where it is above 1 % of its peak. */
export function kernelData(kernel: Float32Array, fs: number): uPlot.AlignedData {
  const n = kernelSupport(kernel);
  return [
    Float64Array.from({ length: n }, (_v, i) => i / fs),
    Float64Array.from(kernel.subarray(0, n)),
  ] as unknown as uPlot.AlignedData;
}

/** The sampled kernel against time in seconds, cropped to where it is above 1 % of its peak (update with kernelData). */
export function kernelPlot(
  el: HTMLElement,
  kernel: Float32Array,
  fs: number,
  theme: Theme,
  width = 240,
  height = 110,
): uPlot {
  const c = palette(theme);
  const titles = ['Time after a spike (s)', 'kernel (peak 1)'];
  recordAxes(el, titles);
  return new uPlot(
    {
      width,
      height,
      legend: { show: false },
      cursor: { show: false },
      series: [
        {},
        {
          stroke: c.fit,
          width: 2,
          fill: c.fit + '33',
          points: { show: (u) => (u.data[0]?.length ?? 0) <= 40, size: 4 },
        },
      ],
      scales: { x: { time: false }, y: { range: [0, 1.05] } },
      axes: [
        axis(theme, { title: titles[0], size: 20, values: tickValues(3) }),
        axis(theme, { title: titles[1], size: 26, values: tickValues(2), space: 20 }),
      ],
    },
    kernelData(kernel, fs),
    el,
  );
}

/**
 * Power spectrum of a cell's whole fitted trace: power in dB relative to its peak against frequency in Hz
 * (log axis), averaged in log-spaced bands so it reads as a curve, with the band-pass cutoffs marked.
 */
export class SpectrumChart {
  readonly plot: uPlot;
  private cutoffs: number[] = [];
  private noiseDb: number | null = null;

  constructor(el: HTMLElement, theme: Theme, width = 250, height = 130) {
    const c = palette(theme);
    const titles = ['Frequency (Hz)', 'power (dB re peak)'];
    recordAxes(el, titles);
    this.plot = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { show: false },
        series: [{}, { stroke: c.activity, width: 1.5 }],
        scales: {
          x: { time: false, distr: 3, range: (_u, lo, hi) => [lo, hi] },
          y: { range: (_u, lo) => [Math.max(-90, Math.floor(Math.min(lo, -10) / 10) * 10), 3] },
        },
        axes: [
          axis(theme, { title: titles[0], size: 22, values: tickValues(2) }),
          axis(theme, { title: titles[1], size: 34, values: tickValues(3), space: 22 }),
        ],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              const dpr = devicePixelRatio || 1;
              ctx.save();
              ctx.font = `${10 * dpr}px system-ui, sans-serif`;
              ctx.fillStyle = c.axis;
              ctx.strokeStyle = c.fit;
              ctx.setLineDash([4 * dpr, 3 * dpr]);
              ctx.lineWidth = 1.5 * dpr;
              this.cutoffs.forEach((f, i) => {
                const x = u.valToPos(f, 'x', true);
                if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) return;
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top);
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                ctx.fillText(i === 0 ? 'high-pass' : 'low-pass', x + 3 * dpr, u.bbox.top + 11 * dpr);
              });
              if (this.noiseDb !== null) {
                const y = u.valToPos(this.noiseDb, 'y', true);
                if (y >= u.bbox.top && y <= u.bbox.top + u.bbox.height) {
                  ctx.strokeStyle = c.raw;
                  ctx.beginPath();
                  ctx.moveTo(u.bbox.left, y);
                  ctx.lineTo(u.bbox.left + u.bbox.width, y);
                  ctx.stroke();
                  const label = 'noise level';
                  ctx.fillText(label, u.bbox.left + u.bbox.width - ctx.measureText(label).width - 4 * dpr, y - 3 * dpr);
                }
              }
              ctx.restore();
            },
          ],
        },
      },
      [new Float64Array(0), new Float64Array(0)] as unknown as uPlot.AlignedData,
      el,
    );
  }

  /** `noisePower`: the white-noise level of the same spectrum (sigma^2 in its normalisation), drawn as a line. */
  setData(freqs: Float32Array, power: Float32Array, cutoffs: number[], noisePower?: number): void {
    this.cutoffs = cutoffs;
    const { x, db, peak } = logBands(freqs, power, 160);
    this.noiseDb = noisePower && noisePower > 0 && peak > 0 ? 10 * Math.log10(noisePower / peak) : null;
    this.plot.setData([x, db] as unknown as uPlot.AlignedData);
  }

  resize(width: number, height: number): void {
    this.plot.setSize({ width, height });
  }

  destroy(): void {
    this.plot.destroy();
  }
}

/** Mean power in `bands` log-spaced frequency bands (DC skipped), in dB relative to the largest band. */
export function logBands(
  freqs: ArrayLike<number>,
  power: ArrayLike<number>,
  bands: number,
): { x: Float64Array; db: Float64Array; peak: number } {
  const n = Math.min(freqs.length, power.length);
  if (n < 3) return { x: new Float64Array(0), db: new Float64Array(0), peak: 0 };
  const f0 = freqs[1];
  const f1 = freqs[n - 1];
  const ratio = Math.log(f1 / f0) / bands;
  const sums = new Float64Array(bands);
  const fsum = new Float64Array(bands);
  const counts = new Uint32Array(bands);
  for (let i = 1; i < n; i++) {
    const b = Math.min(bands - 1, Math.floor(Math.log(freqs[i] / f0) / ratio));
    sums[b] += power[i];
    fsum[b] += freqs[i];
    counts[b]++;
  }
  const xs: number[] = [];
  const ps: number[] = [];
  for (let b = 0; b < bands; b++)
    if (counts[b]) {
      xs.push(fsum[b] / counts[b]);
      ps.push(sums[b] / counts[b]);
    }
  let peak = 0;
  for (const p of ps) peak = Math.max(peak, p);
  const floor = (peak || 1) * 1e-9;
  return {
    x: Float64Array.from(xs),
    db: Float64Array.from(ps, (p) => 10 * Math.log10(Math.max(p, floor) / (peak || 1))),
    peak,
  };
}
