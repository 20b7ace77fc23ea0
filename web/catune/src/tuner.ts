// The tuning screen: parameter controls with a live kernel plot, the grid of cell cards, and export.
// Every control change bumps the parameters, marks the shown cards stale and resubmits them to the pool,
// which keeps only the newest job per cell; visible cards go first. Results are applied only if current.

import type { SolveParams, SolveResult } from '../../shared/messages';
import { sameKernel } from '../../shared/messages';
import { buildExport, type CaTuneExport } from '../../shared/export';
import { kernelPlot, SpectrumChart, TraceChart, type Theme } from '../../shared/charts';
import { fitSnr, median, truthCorrelation } from '../../shared/metrics';
import { SolverPool } from '../../shared/pool';
import { parseCellList, randomCells, rankByActivity, row } from '../../shared/traces';
import type { Dataset } from './dataset';
import { fmt, h } from './dom';
import type { Calab } from './wasm';
import type uPlot from 'uplot';

export type CardStatus = 'stale' | 'solving' | 'fresh' | 'error';

interface ParamSpec {
  key: 'tauRise' | 'tauDecay' | 'lambda';
  id: string;
  label: string;
  /** Slider limits (the number input accepts anything valid). Sliders move on a log10 scale. */
  min: number;
  max: number;
}

const SLIDER_STEP = 0.005; // in log10 units: ~1.2 % per arrow-key press

const toSlider = (v: number, p: ParamSpec): number => Math.log10(Math.min(p.max, Math.max(p.min, v)));
/** Slider position to a value with 3 significant digits, so numbers stay readable. */
const fromSlider = (x: number): number => Number((10 ** x).toPrecision(3));

const PARAMS: ParamSpec[] = [
  { key: 'tauRise', id: 'param-tau-rise', label: 'Rise time τ_rise (s)', min: 0.001, max: 0.5 },
  { key: 'tauDecay', id: 'param-tau-decay', label: 'Decay time τ_decay (s)', min: 0.02, max: 5 },
  { key: 'lambda', id: 'param-lambda', label: 'Sparsity λ', min: 1e-4, max: 10 },
];

export const DEFAULT_PARAMS = { tauRise: 0.02, tauDecay: 0.4, lambda: 0.01 };

interface Card {
  cell: number;
  el: HTMLElement;
  chartEl: HTMLElement;
  chart: TraceChart | null;
  statusEl: HTMLElement;
  snrEl: HTMLElement;
  truthEl: HTMLElement;
  statsEl: HTMLElement;
  snr?: number;
  truthR?: number;
  errEl: HTMLElement;
  result?: SolveResult;
  resultParams?: SolveParams;
  visible: boolean;
}

export interface TunerOptions {
  root: HTMLElement;
  calab: Calab;
  dataset: Dataset;
  createWorker: () => Worker;
  poolSize: number;
  theme: () => Theme;
  /** Present in bridge mode: sends the export to Python. */
  sendToPython?: (doc: CaTuneExport) => Promise<void>;
}

export class Tuner {
  private params: SolveParams;
  private readonly pool: SolverPool;
  private cards = new Map<number, Card>();
  private shown: number[] = [];
  private readonly ranking: number[];
  private zoom: [number, number] | null = null;
  private syncing = false;
  private kernelChart: uPlot | null = null;
  private readonly io: IntersectionObserver;
  private readonly ro: ResizeObserver;
  private showTruth = false;
  /** Fits pinned for comparison, per cell, and the parameters they were made with. */
  private pinned: { fits: Map<number, Float32Array>; label: string } | null = null;
  /** The cell whose spectrum is shown. */
  private spectrumCell: number | null = null;
  private spectrumChart: SpectrumChart | null = null;
  private els!: {
    grid: HTMLElement; summary: HTMLElement; kernelInfo: HTMLElement; kernelEl: HTMLElement; paramErr: HTMLElement;
    inputs: Map<string, { range: HTMLInputElement; num: HTMLInputElement }>; cellCount: HTMLElement; cellErr: HTMLElement;
    metrics: HTMLElement; spectrumTitle: HTMLElement; spectrumEl: HTMLElement; pinInfo: HTMLElement; unpin: HTMLButtonElement;
  };

  constructor(private readonly o: TunerOptions) {
    const d = o.dataset;
    this.params = { ...DEFAULT_PARAMS, fs: d.fs, filterEnabled: false, removeDrift: false };
    this.ranking = rankByActivity(d.matrix);
    this.pool = new SolverPool({
      size: o.poolSize,
      create: o.createWorker as unknown as () => import('../../shared/pool').WorkerLike,
      events: {
        onStart: (cell) => this.setStatus(cell, 'solving'),
        onResult: (r) => this.applyResult(r),
        onError: (cell, _job, code, message) => this.applyError(cell, code, message),
        onFatal: (message) => this.fatal(message),
      },
    });
    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const cell = Number((e.target as HTMLElement).dataset.cellIndex);
        const card = this.cards.get(cell);
        if (card) card.visible = e.isIntersecting;
        this.pool.setPriority(cell, this.priorityOf(cell));
      }
    });
    let raf = 0;
    this.ro = new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => this.resizeCharts());
    });
    this.render();
    this.selectCells();
  }

  dispose(): void {
    this.pool.dispose();
    this.io.disconnect();
    this.ro.disconnect();
    for (const c of this.cards.values()) c.chart?.destroy();
    this.kernelChart?.destroy();
    this.spectrumChart?.destroy();
  }

  get currentParams(): SolveParams {
    return { ...this.params };
  }

  // ---------------------------------------------------------------- layout

  private render(): void {
    const d = this.o.dataset;
    const inputs = new Map<string, { range: HTMLInputElement; num: HTMLInputElement }>();
    const paramErr = h('p', { class: 'error', role: 'alert', 'data-testid': 'param-error', hidden: true });
    const paramBlocks = PARAMS.map((p) => {
      const v = this.params[p.key];
      const range = h('input', {
        type: 'range', id: `${p.id}-range`, 'data-testid': `${p.id}-range`, min: Math.log10(p.min), max: Math.log10(p.max), step: SLIDER_STEP,
        value: toSlider(v, p), 'aria-label': `${p.label} (logarithmic slider)`, 'aria-valuetext': String(v),
      });
      const num = h('input', { type: 'number', id: p.id, 'data-testid': p.id, min: 0, step: 'any', value: v });
      inputs.set(p.key, { range, num });
      range.addEventListener('input', () => {
        const x = fromSlider(Number(range.value));
        num.value = String(x);
        range.setAttribute('aria-valuetext', String(x));
        this.onParamInput(p.key, x);
      });
      // Arrow keys scale the value by 2 % (20 % with Shift) rather than the browser's fixed step of 1.
      num.addEventListener('keydown', (e) => {
        if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
        e.preventDefault();
        const cur = Number(num.value) || p.min;
        const f = e.shiftKey ? 1.2 : 1.02;
        num.value = String(Number((e.key === 'ArrowUp' ? cur * f : cur / f).toPrecision(3)));
        num.dispatchEvent(new Event('input', { bubbles: true }));
      });
      num.addEventListener('input', () => {
        const x = Number(num.value);
        if (num.value !== '' && Number.isFinite(x) && x > 0) { range.value = String(toSlider(x, p)); range.setAttribute('aria-valuetext', String(x)); }
        this.onParamInput(p.key, num.value === '' ? NaN : x);
      });
      return h('div', { class: 'param' }, h('label', { for: p.id }, p.label), range, num);
    });

    const filter = h('input', { type: 'checkbox', id: 'filter-toggle', 'data-testid': 'filter-toggle' });
    filter.addEventListener('change', () => this.update({ filterEnabled: filter.checked }));
    const drift = h('input', { type: 'checkbox', id: 'drift-toggle', 'data-testid': 'drift-toggle' });
    drift.addEventListener('change', () => this.update({ removeDrift: drift.checked }));
    const truth = h('input', { type: 'checkbox', id: 'truth-toggle', 'data-testid': 'truth-toggle' });
    truth.addEventListener('change', () => {
      this.showTruth = truth.checked;
      for (const c of this.cards.values()) { c.chart?.setShown('true calcium', truth.checked); c.chart?.setShown('true spikes', truth.checked); }
    });

    const mode = h('select', { id: 'cell-mode', 'data-testid': 'cell-mode' },
      h('option', { value: 'top', text: 'Most active' }), h('option', { value: 'random', text: 'Random' }), h('option', { value: 'manual', text: 'Manual list' }));
    const count = h('input', { type: 'number', id: 'cell-count', 'data-testid': 'cell-count', min: 1, max: d.matrix.numCells, value: Math.min(8, d.matrix.numCells), style: 'width:64px' });
    const list = h('input', { type: 'text', id: 'cell-list', 'data-testid': 'cell-list', placeholder: 'e.g. 0, 3-5', hidden: true, style: 'width:120px' });
    const cols = h('select', { id: 'columns-select', 'data-testid': 'columns-select' }, ...[1, 2, 3].map((n) => h('option', { value: n, text: String(n), selected: n === 2 })));
    const cellErr = h('p', { class: 'error', role: 'alert', hidden: true });
    const reselect = () => { list.hidden = mode.value !== 'manual'; count.disabled = mode.value === 'manual'; this.selectCells(); };
    mode.addEventListener('change', reselect);
    count.addEventListener('input', reselect);
    list.addEventListener('change', reselect);
    const grid = h('div', { class: 'grid', 'data-testid': 'cell-grid' });
    cols.addEventListener('change', () => { grid.style.setProperty('--cols', cols.value); requestAnimationFrame(() => this.resizeCharts()); });

    const kernelInfo = h('p', { class: 'kernel-info', 'data-testid': 'kernel-info', 'aria-live': 'polite' });
    const kernelEl = h('div', { class: 'kernel-plot', 'aria-label': 'Kernel shape', role: 'img' });
    const summary = h('p', { class: 'muted', 'data-testid': 'solve-summary', 'aria-live': 'polite' });
    const resetZoom = h('button', { type: 'button', 'data-testid': 'reset-zoom' }, 'Reset zoom');
    resetZoom.addEventListener('click', () => this.setZoom(null));
    const cellCount = h('span', { class: 'muted', 'data-testid': 'cell-count-label' });
    const metrics = h('dl', { class: 'metrics', 'data-testid': 'metrics-panel', 'aria-live': 'polite' });
    const spectrumTitle = h('h2', {}, 'Spectrum');
    const spectrumEl = h('div', { role: 'img', 'aria-label': 'Power spectrum of the inspected cell with filter cutoffs' });
    const pin = h('button', { type: 'button', 'data-testid': 'pin-button' }, 'Pin current fits');
    const unpin = h('button', { type: 'button', 'data-testid': 'unpin-button', disabled: true }, 'Clear pin');
    const pinInfo = h('span', { class: 'muted', 'data-testid': 'pin-info' }, 'Pin fits to compare them with later parameters.');
    pin.addEventListener('click', () => this.pinFits());
    unpin.addEventListener('click', () => this.clearPin());

    const sidebar = h('aside', { class: 'sidebar' },
      h('section', { class: 'card-panel', 'aria-label': 'Parameters' }, h('h2', {}, 'Parameters'), ...paramBlocks, paramErr,
        h('p', { class: 'muted' }, `Sampling rate ${d.fs} Hz. Sliders are logarithmic; arrow keys step the focused control, or type exact values.`)),
      h('section', { class: 'card-panel', 'aria-label': 'Preprocessing and display' },
        h('div', { class: 'row' }, filter, h('label', { for: 'filter-toggle' }, 'Band-pass filter (kernel-derived)')),
        h('div', { class: 'row' }, drift, h('label', { for: 'drift-toggle' }, 'Remove slow drift')),
        d.truth ? h('div', { class: 'row' }, truth, h('label', { for: 'truth-toggle' }, 'Show ground truth')) : null,
        h('div', { class: 'row' }, resetZoom, h('span', { class: 'muted' }, 'Drag on a chart to zoom all.'))),
      h('section', { class: 'card-panel', 'aria-label': 'Kernel' }, h('h2', {}, 'Kernel'), kernelInfo, kernelEl),
      h('section', { class: 'card-panel', 'aria-label': 'Cells' }, h('h2', {}, 'Cells'),
        h('div', { class: 'row' }, h('label', { for: 'cell-mode' }, 'Show'), mode, count, list),
        h('div', { class: 'row' }, h('label', { for: 'columns-select' }, 'Columns'), cols, cellCount), cellErr, summary),
      h('section', { class: 'card-panel', 'aria-label': 'Metrics' }, h('h2', {}, 'Metrics'), metrics),
      h('section', { class: 'card-panel', 'aria-label': 'Compare' }, h('h2', {}, 'Compare'), h('div', { class: 'row' }, pin, unpin), pinInfo),
      h('section', { class: 'card-panel', 'aria-label': 'Spectrum', 'data-testid': 'spectrum-panel' }, spectrumTitle, spectrumEl,
        h('p', { class: 'muted' }, 'Of the fitted trace; dashed lines are the band-pass cutoffs. Choose the cell with its “Spectrum” button.')));
    this.o.root.replaceChildren(h('div', { class: 'tune' }, sidebar, h('section', { 'aria-label': 'Cell traces' }, grid)));
    this.ro.observe(grid);
    this.els = { grid, summary, kernelInfo, kernelEl, paramErr, inputs, cellCount, cellErr, metrics, spectrumTitle, spectrumEl, pinInfo, unpin };
    this.spectrumChart = new SpectrumChart(spectrumEl, this.o.theme());
    this.cellInputs = { mode, count, list };
    this.refreshKernel();
  }

  private cellInputs!: { mode: HTMLSelectElement; count: HTMLInputElement; list: HTMLInputElement };

  private selectCells(): void {
    const n = this.o.dataset.matrix.numCells;
    const { mode, count, list } = this.cellInputs;
    const k = Math.max(1, Math.min(n, Math.round(Number(count.value) || 1)));
    let cells: number[];
    this.els.cellErr.hidden = true;
    if (mode.value === 'manual') {
      const parsed = parseCellList(list.value, n);
      if (typeof parsed === 'string' || parsed.length === 0) {
        if (list.value.trim() !== '') { this.els.cellErr.textContent = typeof parsed === 'string' ? parsed : 'No cells listed.'; this.els.cellErr.hidden = false; }
        return;
      }
      cells = parsed;
    } else if (mode.value === 'random') {
      cells = randomCells(n, k, 7);
    } else {
      cells = this.ranking.slice(0, k);
    }
    this.showCells(cells);
  }

  private showCells(cells: number[]): void {
    const keep = new Set(cells);
    for (const [cell, card] of this.cards) {
      if (!keep.has(cell)) { this.io.unobserve(card.el); card.chart?.destroy(); card.el.remove(); this.cards.delete(cell); }
    }
    this.shown = cells;
    for (const cell of cells) if (!this.cards.has(cell)) this.cards.set(cell, this.makeCard(cell));
    this.els.grid.replaceChildren(...cells.map((c) => this.cards.get(c)!.el));
    for (const c of cells) this.ensureChart(this.cards.get(c)!);
    this.els.cellCount.textContent = `${cells.length} of ${this.o.dataset.matrix.numCells} cells`;
    if (this.spectrumCell === null || !keep.has(this.spectrumCell)) this.spectrumCell = cells[0] ?? null;
    for (const c of cells) {
      const card = this.cards.get(c)!;
      if (!card.resultParams || !paramsEqual(card.resultParams, this.params) || (c === this.spectrumCell && !card.result?.spectrum)) this.submit(c);
    }
    this.refreshSummary();
    this.refreshMetrics();
  }

  private makeCard(cell: number): Card {
    const id = this.o.dataset.cellIds?.[cell];
    const statusEl = h('span', { class: 'badge status', 'data-s': 'stale', 'data-testid': 'card-status' }, 'stale');
    const snrEl = h('span', { class: 'badge', 'data-testid': 'card-snr', title: 'Signal-to-noise: std of the fit over the noise level of the residual' }, 'SNR –');
    const truthEl = h('span', { class: 'badge', 'data-testid': 'card-truth-r', title: 'Correlation of activity with the true spikes (both smoothed, 100 ms)', hidden: !this.o.dataset.truth }, 'r –');
    const inspect = h('button', { type: 'button', class: 'small', 'data-testid': 'inspect-button', 'aria-label': `Show the spectrum of cell ${cell}` }, 'Spectrum');
    inspect.addEventListener('click', () => this.inspect(cell));
    const statsEl = h('span', { class: 'stats', 'data-testid': 'card-stats' });
    const errEl = h('p', { class: 'err-msg', role: 'alert', hidden: true });
    const chartEl = h('div', { class: 'chart', role: 'img', 'aria-label': `Trace, fit and activity of cell ${cell}; drag to zoom, double-click to reset` });
    const el = h('article', { class: 'cell-card', 'data-testid': 'cell-card', 'data-cell-index': cell, 'data-status': 'stale', 'aria-label': `Cell ${cell}` },
      h('header', {}, h('span', { class: 'title' }, `Cell ${cell}${id !== undefined && id !== cell ? ` (${id})` : ''}`), statusEl, snrEl, truthEl, inspect, statsEl), errEl, chartEl);
    this.io.observe(el);
    return { cell, el, chartEl, chart: null, statusEl, snrEl, truthEl, statsEl, errEl, visible: true };
  }

  private chartWidth(card: Card): number {
    return Math.max(200, Math.floor(card.el.clientWidth - 18) || 480);
  }

  private ensureChart(card: Card): void {
    if (card.chart) return;
    const d = this.o.dataset;
    card.chart = new TraceChart(card.chartEl, {
      width: this.chartWidth(card), height: 170, fs: d.fs, theme: this.o.theme(), hasTruth: !!d.truth,
      showFiltered: this.params.filterEnabled || this.params.removeDrift, showTruth: this.showTruth, showPinned: this.pinned !== null, syncKey: 'catune',
    });
    card.chart.plot.hooks.setScale = [(u: uPlot, key: string) => { if (key === 'x') this.onXScale(u); }];
    this.drawCard(card);
  }

  private drawCard(card: Card): void {
    if (!card.chart) return;
    const d = this.o.dataset;
    const r = card.result;
    this.syncing = true;
    try {
      card.chart.setData({
        raw: row(d.matrix, card.cell), filtered: r?.fitted, fit: r?.reconvolution, activity: r?.activity,
        truthCalcium: d.truth ? offset(d.truth.calcium[card.cell], r ? r.baseline : medianOf(row(d.matrix, card.cell))) : undefined,
        truthSpikes: d.truth?.spikes[card.cell],
        pinnedFit: this.pinned?.fits.get(card.cell),
      });
      if (this.zoom) card.chart.plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    } finally {
      this.syncing = false;
    }
  }

  private onXScale(u: uPlot): void {
    if (this.syncing) return;
    const { min, max } = u.scales.x;
    if (min == null || max == null) return;
    const end = (this.o.dataset.matrix.numTimepoints - 1) / this.o.dataset.fs;
    this.setZoom(min <= 0 && max >= end ? null : [min, max], u);
  }

  private setZoom(z: [number, number] | null, from?: uPlot): void {
    this.zoom = z;
    this.els.grid.dataset.zoom = z ? z.map((v) => v.toFixed(2)).join('-') : '';
    const end = (this.o.dataset.matrix.numTimepoints - 1) / this.o.dataset.fs;
    this.syncing = true;
    try {
      for (const c of this.cards.values()) {
        if (c.chart && c.chart.plot !== from) c.chart.plot.setScale('x', { min: z ? z[0] : 0, max: z ? z[1] : end });
      }
    } finally {
      this.syncing = false;
    }
  }

  private resizeCharts(): void {
    for (const c of this.cards.values()) c.chart?.resize(this.chartWidth(c), 170);
  }

  rebuildCharts(): void {
    for (const c of this.cards.values()) { c.chart?.destroy(); c.chart = null; c.chartEl.replaceChildren(); this.ensureChart(c); }
    this.refreshKernel();
    this.spectrumChart?.destroy();
    this.els.spectrumEl.replaceChildren();
    this.spectrumChart = new SpectrumChart(this.els.spectrumEl, this.o.theme());
    const card = this.spectrumCell === null ? undefined : this.cards.get(this.spectrumCell);
    if (card?.result) this.showSpectrum(card.result);
  }

  // ---------------------------------------------------------------- pin, spectrum, metrics

  private pinFits(): void {
    const fits = new Map<number, Float32Array>();
    for (const c of this.cards.values()) if (c.result) fits.set(c.cell, c.result.reconvolution.slice());
    if (fits.size === 0) return;
    const p = this.params;
    this.pinned = { fits, label: `τ_rise ${p.tauRise} s, τ_decay ${p.tauDecay} s, λ ${p.lambda}${p.filterEnabled ? ', filtered' : ''}` };
    this.els.pinInfo.textContent = `Pinned (dashed): ${this.pinned.label}`;
    this.els.unpin.disabled = false;
    for (const c of this.cards.values()) { this.drawCard(c); c.chart?.setShown('pinned fit', fits.has(c.cell)); }
  }

  private clearPin(): void {
    this.pinned = null;
    this.els.pinInfo.textContent = 'Pin fits to compare them with later parameters.';
    this.els.unpin.disabled = true;
    for (const c of this.cards.values()) { c.chart?.setShown('pinned fit', false); this.drawCard(c); }
  }

  private inspect(cell: number): void {
    this.spectrumCell = cell;
    const card = this.cards.get(cell);
    if (card?.result?.spectrum && card.resultParams && paramsEqual(card.resultParams, this.params)) this.showSpectrum(card.result);
    else this.submit(cell);
  }

  private showSpectrum(r: SolveResult): void {
    if (!r.spectrum || !this.spectrumChart) return;
    const filtered = this.params.filterEnabled;
    this.els.spectrumTitle.textContent = `Spectrum · cell ${r.cell}`;
    this.els.spectrumEl.dataset.cell = String(r.cell);
    this.spectrumChart.setData(r.spectrum.freqs, r.spectrum.power, Array.from(r.spectrum.cutoffs));
    this.els.spectrumEl.title = `Band-pass ${fmt(r.spectrum.cutoffs[0], 3)}–${fmt(r.spectrum.cutoffs[1], 3)} Hz${filtered ? ' (applied)' : ' (not applied)'}`;
  }

  private refreshMetrics(): void {
    const cards = this.shown.map((c) => this.cards.get(c)!).filter((c) => c.result && c.el.dataset.status === 'fresh');
    const rows: [string, string][] = [['Fresh cells', `${cards.length} / ${this.shown.length}`]];
    if (cards.length) {
      rows.push(['Median SNR', fmt(median(cards.map((c) => c.snr ?? NaN)), 2)]);
      if (this.o.dataset.truth) rows.push(['Median r vs truth', fmt(median(cards.map((c) => c.truthR ?? NaN)), 3)]);
      const nz = cards.reduce((a, c) => a + c.result!.activity.reduce((k, v) => k + (v > 0 ? 1 : 0), 0), 0);
      const total = cards.reduce((a, c) => a + c.result!.activity.length, 0);
      rows.push(['Nonzero activity', `${fmt((100 * nz) / total, 2)} % of frames`]);
      rows.push(['Converged', `${cards.filter((c) => c.result!.converged).length} / ${cards.length}`]);
      rows.push(['Mean solve time', `${fmt(cards.reduce((a, c) => a + c.result!.elapsedMs, 0) / cards.length, 1)} ms`]);
    }
    this.els.metrics.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // ---------------------------------------------------------------- parameters and solving

  private onParamInput(key: ParamSpec['key'], value: number): void {
    this.update({ [key]: value } as Partial<SolveParams>);
  }

  private validate(p: SolveParams): string | null {
    if (!(p.tauRise > 0)) return 'τ_rise must be a positive number of seconds.';
    if (!(p.tauDecay > 0)) return 'τ_decay must be a positive number of seconds.';
    if (!(p.tauRise < p.tauDecay)) return `τ_rise (${p.tauRise} s) must be smaller than τ_decay (${p.tauDecay} s).`;
    if (!(p.lambda >= 0) || !Number.isFinite(p.lambda)) return 'λ must be zero or a positive number.';
    try {
      this.o.calab.kernel_shape(p.tauRise, p.tauDecay, p.fs);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return null;
  }

  private update(change: Partial<SolveParams>): void {
    const next = { ...this.params, ...change };
    const err = this.validate(next);
    const { paramErr, inputs } = this.els;
    for (const p of PARAMS) inputs.get(p.key)!.num.classList.toggle('invalid', !!err && p.key in change);
    if (err) {
      paramErr.textContent = err;
      paramErr.hidden = false;
      return;
    }
    paramErr.hidden = true;
    if (paramsEqual(next, this.params)) return;
    const filterChanged = next.filterEnabled !== this.params.filterEnabled || next.removeDrift !== this.params.removeDrift;
    this.params = next;
    if (filterChanged) for (const c of this.cards.values()) c.chart?.setShown('filtered', next.filterEnabled || next.removeDrift);
    this.refreshKernel();
    for (const c of this.shown) this.submit(c);
    this.refreshSummary();
  }

  private priorityOf(cell: number): number {
    const card = this.cards.get(cell);
    const order = this.shown.indexOf(cell);
    return (card?.visible ? 0 : 1000) + (order < 0 ? 999 : order);
  }

  private submit(cell: number): void {
    const card = this.cards.get(cell);
    if (!card) return;
    this.setStatus(cell, 'stale');
    // Warm start only helps when the kernel (and preprocessing) is unchanged, i.e. only λ moved.
    const warm = card.result && card.resultParams && sameKernel(card.resultParams, this.params) ? card.result.state : undefined;
    this.pool.submit({
      cell, trace: row(this.o.dataset.matrix, cell), params: { ...this.params }, warmState: warm, priority: this.priorityOf(cell),
      wantSpectrum: cell === this.spectrumCell,
    });
  }

  private setStatus(cell: number, s: CardStatus): void {
    const card = this.cards.get(cell);
    if (!card) return;
    card.el.dataset.status = s;
    card.statusEl.dataset.s = s;
    card.statusEl.textContent = s;
    if (s !== 'error') card.errEl.hidden = true;
    this.refreshSummary();
  }

  private applyResult(r: SolveResult): void {
    const card = this.cards.get(r.cell);
    if (!card) return;
    card.result = r;
    card.resultParams = { ...this.params };
    const n = r.activity.length;
    let sum = 0;
    let events = 0;
    for (let i = 0; i < n; i++) { sum += r.activity[i]; if (r.activity[i] > 0) events++; }
    card.snr = fitSnr(r.fitted, r.reconvolution);
    card.snrEl.textContent = `SNR ${fmt(card.snr, 1)}`;
    const truth = this.o.dataset.truth;
    if (truth) {
      card.truthR = truthCorrelation(r.activity, truth.spikes[r.cell], this.o.dataset.fs);
      card.truthEl.textContent = `r ${fmt(card.truthR, 2)}`;
    }
    if (r.spectrum && r.cell === this.spectrumCell) this.showSpectrum(r);
    card.statsEl.textContent = `Σs ${fmt(sum, 3)} · ${events} nonzero · baseline ${fmt(r.baseline, 4)} · ${r.iterations} it · ${Math.round(r.elapsedMs)} ms`;
    card.el.dataset.tauRise = String(card.resultParams.tauRise);
    card.el.dataset.tauDecay = String(card.resultParams.tauDecay);
    card.el.dataset.lambda = String(card.resultParams.lambda);
    card.el.dataset.converged = String(r.converged);
    // Full-precision numbers for tests that compare the browser with native Python.
    card.el.dataset.activitySum = String(sum);
    card.el.dataset.baseline = String(r.baseline);
    this.drawCard(card);
    this.setStatus(r.cell, 'fresh');
    this.refreshMetrics();
  }

  private applyError(cell: number, code: string, message: string): void {
    const card = this.cards.get(cell);
    if (!card) return;
    card.errEl.textContent = `${code}: ${message}`;
    this.setStatus(cell, 'error');
    card.errEl.hidden = false;
  }

  private fatal(message: string): void {
    const banner = document.querySelector<HTMLElement>('[data-testid="app-error"]');
    if (banner) { banner.textContent = `The solver could not start: ${message}`; banner.hidden = false; }
  }

  private refreshSummary(): void {
    const counts: Record<CardStatus, number> = { stale: 0, solving: 0, fresh: 0, error: 0 };
    for (const c of this.shown) {
      const s = this.cards.get(c)?.el.dataset.status as CardStatus | undefined;
      if (s) counts[s]++;
    }
    this.els.summary.textContent = `${counts.fresh}/${this.shown.length} fresh · ${counts.solving} solving · ${counts.stale} queued${counts.error ? ` · ${counts.error} failed` : ''} · ${this.pool.size} worker${this.pool.size > 1 ? 's' : ''}`;
  }

  private refreshKernel(): void {
    const p = this.params;
    const c = this.o.calab;
    const [peak, fwhm] = c.kernel_shape(p.tauRise, p.tauDecay, p.fs);
    const kernel = c.build_kernel(p.tauRise, p.tauDecay, p.fs);
    this.els.kernelInfo.textContent = `Peak at ${fmt(peak, 3)} s · FWHM ${fmt(fwhm, 3)} s · ${kernel.length} samples`;
    this.kernelChart?.destroy();
    this.els.kernelEl.replaceChildren();
    this.kernelChart = kernelPlot(this.els.kernelEl, kernel, p.fs, this.o.theme(), 250, 110);
  }

  // ---------------------------------------------------------------- export

  exportDoc(): CaTuneExport {
    const p = this.params;
    const c = this.o.calab;
    const d = this.o.dataset;
    return buildExport({
      params: p,
      kernel: { ar2: c.tau_to_ar2(p.tauRise, p.tauDecay, p.fs), shape: c.kernel_shape(p.tauRise, p.tauDecay, p.fs), lengthSamples: c.build_kernel(p.tauRise, p.tauDecay, p.fs).length },
      appVersion: __APP_VERSION__,
      sourceFilename: d.sourceFilename,
      numCells: d.matrix.numCells,
      numTimepoints: d.matrix.numTimepoints,
      cellIndices: [...this.shown],
    });
  }
}

/** The simulator's clean calcium is ΔF; shift it onto the fitted baseline so it overlays the trace. */
function offset(x: Float32Array, by: number): Float32Array {
  return x.map((v) => v + by);
}

function medianOf(x: Float32Array): number {
  const s = Float32Array.from(x).sort();
  return s.length ? s[s.length >> 1] : 0;
}

function paramsEqual(a: SolveParams, b: SolveParams): boolean {
  return a.lambda === b.lambda && sameKernel(a, b);
}
