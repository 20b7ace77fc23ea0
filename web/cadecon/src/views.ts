// CaDecon's plots: the cells x time raster with the subsets on it (canvas), convergence and time constants
// over iterations, the kernels, and histograms of per-cell results. uPlot for line charts (as CaTune), plain
// canvas for the raster and histograms. Colours: Okabe-Ito (palette() in shared/ui/charts) and viridis.

import uPlot from 'uplot';
import {
  axis,
  INTEGER_INCRS,
  integerValues,
  kernelSupport,
  palette,
  tickValues,
  type Theme,
} from '../../shared/ui/charts';
import type { IndecaResult, IterationReport, SubsetReport } from '../../shared/indeca-protocol';

type Data = uPlot.AlignedData;
/** Log-axis ticks that fit their axis: 0.5, 0.01, 1e-4 (not "1e+0" clipped at the edge). */
const logValues = (_u: uPlot, v: number[]): string[] =>
  v.map((t) =>
    t == null ? '' : t >= 0.01 && t < 1e4 ? String(+t.toPrecision(2)) : t.toExponential(0).replace('e-', 'e−'),
  );
const sAxis = (_u: uPlot, v: number[]): string[] => v.map((t) => (t == null ? '' : String(+t.toPrecision(2))));
const recordAxes = (el: HTMLElement, titles: string[]): void => {
  el.dataset.axes = titles.join(' | ');
};
const f64 = (x: ArrayLike<number>): Float64Array => Float64Array.from(x, (v) => (Number.isFinite(v) ? v : NaN));

/** Viridis at 0..1 (coarse table, linear in between): readable in colour-blind vision and in grey. */
const VIRIDIS = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 74, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [181, 222, 43],
  [253, 231, 37],
];
function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i],
    b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** The raster: each row a cell, each column the max of its frames, scaled per cell (robust min..max). */
export class Raster {
  readonly canvas: HTMLCanvasElement;
  private image: ImageData | null = null;
  private subsets: SubsetReport[] = [];
  selected = -1;

  constructor(
    private readonly el: HTMLElement,
    private readonly data: Float32Array,
    private readonly nCells: number,
    private readonly nTime: number,
    private theme: Theme,
    private readonly onPick: (pick: { subset: number; cell: number; frame: number }) => void,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('data-testid', 'raster-canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute(
      'aria-label',
      `Raster of ${nCells} cells by ${nTime} frames with the kernel-estimation subsets outlined; click a subset to inspect it`,
    );
    el.append(this.canvas);
    this.canvas.addEventListener('click', (e) => {
      const r = this.canvas.getBoundingClientRect();
      const cell = Math.min(this.nCells - 1, Math.floor(((e.clientY - r.top) / r.height) * this.nCells));
      const frame = Math.min(this.nTime - 1, Math.floor(((e.clientX - r.left) / r.width) * this.nTime));
      let subset = -1;
      this.subsets.forEach((s, i) => {
        if (cell >= s.cell_start && cell < s.cell_end && frame >= s.t_start && frame < s.t_end) subset = i;
      });
      this.onPick({ subset, cell, frame });
    });
  }

  setTheme(t: Theme): void {
    this.theme = t;
    this.draw();
  }

  resize(width: number, height: number): void {
    this.canvas.width = Math.max(50, Math.floor(width));
    this.canvas.height = Math.max(20, Math.floor(height));
    this.canvas.style.width = `${this.canvas.width}px`;
    this.canvas.style.height = `${this.canvas.height}px`;
    this.image = null;
    this.draw();
  }

  setSubsets(s: SubsetReport[], selected = this.selected): void {
    this.subsets = s;
    this.selected = selected;
    this.el.dataset.subsets = String(s.length);
    this.draw();
  }

  private render(): ImageData {
    const W = this.canvas.width,
      H = this.canvas.height;
    const img = new ImageData(W, H);
    const col = new Float32Array(W);
    for (let c = 0; c < this.nCells; c++) {
      const row = this.data.subarray(c * this.nTime, (c + 1) * this.nTime);
      col.fill(-Infinity);
      for (let t = 0; t < this.nTime; t++) {
        const x = Math.floor((t * W) / this.nTime);
        if (row[t] > col[x]) col[x] = row[t];
      }
      const sorted = Float32Array.from(row).sort();
      const lo = sorted[Math.floor(0.05 * (sorted.length - 1))],
        hi = sorted[Math.floor(0.995 * (sorted.length - 1))];
      const y0 = Math.floor((c * H) / this.nCells),
        y1 = Math.max(y0 + 1, Math.floor(((c + 1) * H) / this.nCells));
      for (let x = 0; x < W; x++) {
        const [r, g, b] = viridis(hi > lo ? (col[x] - lo) / (hi - lo) : 0);
        for (let y = y0; y < y1 && y < H; y++) {
          const p = 4 * (y * W + x);
          img.data[p] = r;
          img.data[p + 1] = g;
          img.data[p + 2] = b;
          img.data[p + 3] = 255;
        }
      }
    }
    return img;
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx || this.canvas.width === 0) return;
    this.image ??= this.render();
    ctx.putImageData(this.image, 0, 0);
    const sx = this.canvas.width / this.nTime,
      sy = this.canvas.height / this.nCells;
    const pal = palette(this.theme);
    this.subsets.forEach((s, i) => {
      const sel = i === this.selected;
      const x = s.t_start * sx,
        y = s.cell_start * sy,
        w = (s.t_end - s.t_start) * sx,
        h = (s.cell_end - s.cell_start) * sy;
      ctx.lineWidth = sel ? 3 : 1.5;
      ctx.strokeStyle = '#000';
      ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      ctx.strokeStyle = sel ? pal.residual : '#fff';
      ctx.setLineDash(sel ? [] : [5, 3]);
      ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      ctx.setLineDash([]);
      ctx.fillStyle = '#fff';
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillText(String(i + 1), x + 4, y + 12);
    });
  }
}

/** Kernel change and activity change (left, log) and kernel fit R² and median PVE (right, 0–1) against iteration. */
export class ConvergenceChart {
  readonly plot: uPlot;
  constructor(el: HTMLElement, theme: Theme, width: number, height: number) {
    const c = palette(theme);
    const titles = ['Iteration', 'change (log scale)', 'R², PVE'];
    recordAxes(el, titles);
    this.plot = new uPlot(
      {
        width,
        height,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: 'iteration' },
          {
            label: 'kernel change (left)',
            stroke: c.activity,
            width: 2,
            scale: 'chg',
            points: { show: true, size: 5 },
          },
          {
            label: 'activity change (left)',
            stroke: c.fit,
            width: 2,
            dash: [6, 3],
            scale: 'chg',
            points: { show: true, size: 5 },
          },
          { label: 'kernel R² (right)', stroke: c.truth, width: 2, scale: 'unit', points: { show: true, size: 5 } },
          {
            label: 'median PVE (right)',
            stroke: c.pinned,
            width: 2,
            dash: [2, 3],
            scale: 'unit',
            points: { show: true, size: 5 },
          },
        ],
        scales: {
          x: { time: false, range: (_u, lo, hi) => [Math.min(1, lo), Math.max(lo + 1, hi)] },
          chg: { distr: 3 },
          unit: { range: [0, 1] },
        },
        axes: [
          axis(theme, { title: titles[0], size: 22, incrs: INTEGER_INCRS, values: integerValues }),
          axis(theme, { title: titles[1], scale: 'chg', size: 40, values: logValues }),
          axis(theme, { title: titles[2], scale: 'unit', side: 1, size: 32, grid: false, values: tickValues(2) }),
        ],
      },
      [[], [], [], [], []] as unknown as Data,
      el,
    );
  }

  setData(reports: IterationReport[]): void {
    const pos = (v: number) => (v > 0 && Number.isFinite(v) ? v : NaN);
    this.plot.setData([
      f64(reports.map((r) => r.iteration)),
      f64(reports.map((r) => pos(r.kernel_change))),
      f64(reports.map((r) => pos(r.activity_change))),
      f64(reports.map((r) => r.kernel_r2)),
      f64(reports.map((r) => r.median_pve)),
    ] as unknown as Data);
  }

  destroy(): void {
    this.plot.destroy();
  }
}

/** tau_rise and tau_decay per iteration, with the spread over subsets (min..max band). */
export class TauChart {
  readonly plot: uPlot;
  constructor(
    el: HTMLElement,
    theme: Theme,
    width: number,
    height: number,
    private truth?: { tauRise: number; tauDecay: number },
  ) {
    const c = palette(theme);
    recordAxes(el, ['Iteration', 'time constant (s, log scale)']);
    const series: uPlot.Series[] = [
      { label: 'iteration' },
      { label: 'τ_decay', stroke: c.activity, width: 2, scale: 's', points: { show: true, size: 5 } },
      { label: 'τ_decay subsets min', stroke: c.activity + '66', width: 1, scale: 's' },
      { label: 'τ_decay subsets max', stroke: c.activity + '66', width: 1, scale: 's' },
      { label: 'τ_rise', stroke: c.fit, width: 2, scale: 's', points: { show: true, size: 5 } },
      { label: 'τ_rise subsets min', stroke: c.fit + '66', width: 1, scale: 's' },
      { label: 'τ_rise subsets max', stroke: c.fit + '66', width: 1, scale: 's' },
    ];
    if (truth) {
      series.push({ label: 'true τ_decay', stroke: c.truth, width: 1, dash: [4, 4], scale: 's' });
      series.push({ label: 'true τ_rise', stroke: c.truth, width: 1, dash: [1, 3], scale: 's' });
    }
    this.plot = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        series,
        bands: [
          { series: [3, 2], fill: c.activity + '22' },
          { series: [6, 5], fill: c.fit + '22' },
        ],
        scales: { x: { time: false, range: (_u, lo, hi) => [Math.min(1, lo), Math.max(lo + 1, hi)] }, s: { distr: 3 } },
        axes: [
          axis(theme, { title: 'Iteration', size: 22, incrs: INTEGER_INCRS, values: integerValues }),
          axis(theme, { title: 'time constant (s, log scale)', scale: 's', size: 38, values: sAxis }),
        ],
      },
      (truth ? [[], [], [], [], [], [], [], [], []] : [[], [], [], [], [], [], []]) as unknown as Data,
      el,
    );
    // uPlot's legend would list the band edges as series of their own; this one says what is drawn.
    const item = (color: string, text: string, kind = '') => {
      const sw = document.createElement('span');
      sw.className = `swatch ${kind}`;
      sw.style.setProperty('--c', color);
      sw.style.background = kind === 'band' ? color : '';
      const span = document.createElement('span');
      span.append(sw, text);
      return span;
    };
    const legend = document.createElement('div');
    legend.className = 'chart-legend';
    legend.append(item(c.activity, 'τ_decay'), item(c.fit, 'τ_rise'), item(c.raw, 'subsets\u2019 range', 'band'));
    if (truth) legend.append(item(c.truth, 'true τ (simulation)', 'dash'));
    el.append(legend);
  }

  setData(reports: IterationReport[]): void {
    const spread = (r: IterationReport, k: 'tau_rise' | 'tau_decay', f: (...v: number[]) => number) =>
      r.subsets.length ? f(...r.subsets.map((s) => s[k])) : r[k];
    const cols: Float64Array[] = [
      f64(reports.map((r) => r.iteration)),
      f64(reports.map((r) => r.tau_decay)),
      f64(reports.map((r) => spread(r, 'tau_decay', Math.min))),
      f64(reports.map((r) => spread(r, 'tau_decay', Math.max))),
      f64(reports.map((r) => r.tau_rise)),
      f64(reports.map((r) => spread(r, 'tau_rise', Math.min))),
      f64(reports.map((r) => spread(r, 'tau_rise', Math.max))),
    ];
    if (this.truth) {
      const tr = this.truth;
      cols.push(f64(reports.map(() => tr.tauDecay)), f64(reports.map(() => tr.tauRise)));
    }
    this.plot.setData(cols as unknown as Data);
  }

  destroy(): void {
    this.plot.destroy();
  }
}

/**
 * Free-form kernels per subset (thin), their merge and the bi-exponential fit of one iteration, or, once the
 * run is complete, the final kernel exactly as the results report it (kernel_slow, plus kernel_fast when a
 * fast component was fitted); (demo) the true kernel. Cropped to where the kernels are above 1 % of peak.
 */
export function kernelChart(
  el: HTMLElement,
  theme: Theme,
  width: number,
  height: number,
  r: IterationReport | null,
  selected: number,
  truth?: Float64Array,
  truthDt?: number,
  final?: IndecaResult | null,
): uPlot {
  const c = palette(theme);
  const dt = final ? final.kernel_dt : r!.kernel_dt;
  const curves: number[][] = final ? [final.kernel_slow, final.kernel_fast ?? []] : [r!.kernel_fit, r!.kernel_free];
  const full = Math.max(...curves.map((k) => k.length));
  const n = Math.max(4, Math.min(full, Math.max(...curves.filter((k) => k.length).map((k) => kernelSupport(k)))));
  const x = Float64Array.from({ length: n }, (_v, i) => i * dt);
  const series: uPlot.Series[] = [{ label: 't (s)' }];
  const cols: Float64Array[] = [x];
  const pad = (v: ArrayLike<number>) => Float64Array.from({ length: n }, (_z, i) => (i < v.length ? v[i] : NaN));
  let peak = 1;
  if (final) {
    series.push({
      label: `final kernel: τ_rise ${+final.tau_rise.toPrecision(3)} s, τ_decay ${+final.tau_decay.toPrecision(3)} s`,
      stroke: c.fit,
      width: 2.5,
    });
    cols.push(pad(final.kernel_slow));
    if (final.kernel_fast?.length) {
      series.push({ label: 'fast component', stroke: c.residual, width: 1.5, dash: [4, 3] });
      cols.push(pad(final.kernel_fast));
    }
    peak = Math.max(...final.kernel_slow.filter(Number.isFinite), 0) || 1;
  } else {
    const rep = r!;
    rep.subsets.forEach((sub, i) => {
      series.push({
        label: `subset ${i + 1}`,
        stroke: i === selected ? c.residual : c.raw + '99',
        width: i === selected ? 2 : 1,
        show: true,
      });
      cols.push(pad(sub.kernel));
    });
    series.push({ label: 'merged free-form', stroke: c.activity, width: 2 });
    cols.push(pad(rep.kernel_free));
    series.push({ label: 'bi-exp fit', stroke: c.fit, width: 2, dash: [6, 3] });
    cols.push(pad(rep.kernel_fit));
    peak = Math.max(...rep.kernel_fit.filter(Number.isFinite), 0) || 1;
  }
  if (truth && truthDt) {
    // The true kernel on this time axis, scaled to the shown kernel's peak (the simulator's amplitude is per cell).
    series.push({ label: 'true kernel', stroke: c.truth, width: 2, dash: [2, 3] });
    cols.push(
      Float64Array.from(x, (t) => {
        const k = Math.round(t / truthDt);
        return k < truth.length ? truth[k] * peak : NaN;
      }),
    );
  }
  const titles = ['Time after a spike (s)', 'kernel (peak 1)'];
  recordAxes(el, titles);
  return new uPlot(
    {
      width,
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      series,
      scales: { x: { time: false } },
      axes: [
        axis(theme, { title: titles[0], size: 22, values: tickValues(3) }),
        axis(theme, { title: titles[1], size: 36, values: tickValues(2) }),
      ],
    },
    cols as unknown as Data,
    el,
  );
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 4): number[] {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) out.push(+t.toPrecision(12));
  return out;
}

/**
 * A histogram of a per-cell result on a canvas with titled axes: `title` (and unit) along x with round
 * ticks, the number of cells up the y axis, and the median marked. `values` skips nulls (failed cells).
 */
export function drawHistogram(
  canvas: HTMLCanvasElement,
  values: (number | null)[],
  theme: Theme,
  title: string,
  unit = '',
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const c = palette(theme);
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const W = canvas.width,
    H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = c.axis;
  ctx.font = '11px system-ui, sans-serif';
  const xTitle = `${title}${unit ? ` (${unit.trim()})` : ''}`;
  canvas.dataset.count = String(v.length);
  canvas.dataset.axes = `${xTitle} | cells`;
  const x0 = 34,
    y0 = 16,
    w = W - x0 - 8,
    h = H - y0 - 34;
  ctx.fillText(`n = ${v.length}`, x0, 11);
  ctx.save();
  ctx.font = '600 10px system-ui, sans-serif';
  ctx.fillText(xTitle, x0 + (w - ctx.measureText(xTitle).width) / 2, H - 3);
  ctx.translate(10, y0 + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('cells', -ctx.measureText('cells').width / 2, 0);
  ctx.restore();
  if (!v.length) return;
  let lo = Math.min(...v),
    hi = Math.max(...v);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const ticks = niceTicks(lo, hi, 4);
  lo = Math.min(lo, ticks[0]);
  hi = Math.max(hi, ticks[ticks.length - 1]);
  const bins = Math.max(5, Math.min(30, Math.ceil(Math.sqrt(v.length)) + 3));
  const counts = new Array<number>(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]++;
  const top = Math.max(...counts);
  const px = (x: number) => x0 + ((x - lo) / (hi - lo)) * w;
  ctx.fillStyle = c.activity;
  counts.forEach((k, i) => {
    const bh = (k / top) * h;
    ctx.fillRect(x0 + (i * w) / bins + 0.5, y0 + h - bh, Math.max(1, w / bins - 1), bh);
  });
  ctx.strokeStyle = c.axis;
  ctx.fillStyle = c.axis;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x0, y0 + h + 0.5);
  ctx.lineTo(x0 + w, y0 + h + 0.5);
  ctx.moveTo(x0 - 0.5, y0);
  ctx.lineTo(x0 - 0.5, y0 + h);
  ctx.stroke();
  for (const t of ticks) {
    const x = px(t);
    ctx.beginPath();
    ctx.moveTo(x, y0 + h);
    ctx.lineTo(x, y0 + h + 3);
    ctx.stroke();
    const label = String(+t.toPrecision(3));
    ctx.fillText(
      label,
      Math.min(W - ctx.measureText(label).width, Math.max(0, x - ctx.measureText(label).width / 2)),
      y0 + h + 13,
    );
  }
  for (const k of [0, top]) {
    const y = y0 + h - (k / top) * h;
    ctx.fillText(String(k), x0 - 4 - ctx.measureText(String(k)).width, y + 4);
  }
  const sorted = [...v].sort((a, b) => a - b);
  const med = sorted[sorted.length >> 1];
  ctx.strokeStyle = c.fit;
  ctx.setLineDash([3, 2]);
  ctx.beginPath();
  ctx.moveTo(px(med), y0);
  ctx.lineTo(px(med), y0 + h);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = c.fit;
  const mt = `median ${+med.toPrecision(3)}`;
  ctx.fillText(mt, Math.min(W - ctx.measureText(mt).width - 2, px(med) + 3), y0 + 9);
  canvas.dataset.median = String(med);
}
