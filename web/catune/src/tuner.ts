// The tuning screen: solver choice and parameter controls with a live kernel plot, the grid of cell cards,
// and export. Each card has an overview strip of the whole recording and a zoomable, pannable detail view.
// Long recordings are solved around the shown window only (window.ts): a control change marks the shown
// cards stale and solves their windows first (visible cards first, stale jobs superseded, input events
// coalesced per frame), which is what makes a change feel instant. Such a window result is provisional
// for L1 (its baseline is the window's own); once the controls rest, the whole traces are solved in the
// background on all but one worker, and the cards switch to that exact solution (data-exact="true"), which
// also serves every later pan and zoom without solving. Metrics are computed on the samples shown.

import type { SolveParams, SolveResult, SolverKind } from '../../shared/messages';
import { paramsEqual, sameKernel } from '../../shared/messages';
import { buildExport, type CaTuneExport } from '../../shared/export';
import { kernelPlot, SpectrumChart, TraceChart, type Theme } from '../../shared/charts';
import { fitSnr, median, truthCorrelation } from '../../shared/metrics';
import { SolverPool } from '../../shared/pool';
import { parseCellList, randomCells, rankByActivity, row } from '../../shared/traces';
import type { Dataset } from '../../shared/dataset';
import { fmt, h } from '../../shared/dom';
import { Overview } from './overview';
import type { Calab } from '../../shared/wasm';
import { covers, defaultView, panTo, solveRange, SLACK, validRange, viewSamples, windowed, type Range } from './window';
import type uPlot from 'uplot';

export type CardStatus = 'stale' | 'solving' | 'fresh' | 'error';

type NumKey = 'tauRise' | 'tauDecay' | 'lambda' | 'l0Lambda' | 'convarLambda';

interface ParamSpec {
  key: NumKey;
  id: string;
  label: string;
  /** Slider limits (the number input accepts anything valid). Sliders move on a log10 scale. */
  min: number;
  max: number;
  /** Solvers that use this control. */
  solvers: SolverKind[];
}

const SLIDER_STEP = 0.005; // in log10 units: ~1.2 % per arrow-key press

const toSlider = (v: number, p: ParamSpec): number => Math.log10(Math.min(p.max, Math.max(p.min, v)));
/** Slider position to a value with 3 significant digits, so numbers stay readable. */
const fromSlider = (x: number): number => Number((10 ** x).toPrecision(3));

const PARAMS: ParamSpec[] = [
  { key: 'tauRise', id: 'param-tau-rise', label: 'Rise time τ_rise (s)', min: 0.001, max: 0.5, solvers: ['l1'] },
  { key: 'tauDecay', id: 'param-tau-decay', label: 'Decay time τ_decay (s)', min: 0.02, max: 5, solvers: ['l1', 'l0', 'convar'] },
  { key: 'lambda', id: 'param-lambda', label: 'Sparsity λ', min: 1e-4, max: 10, solvers: ['l1'] },
  { key: 'l0Lambda', id: 'param-l0-lambda', label: 'Penalty per spike λ₀ (trace units²)', min: 1e-5, max: 10, solvers: ['l0'] },
  { key: 'convarLambda', id: 'param-convar-lambda', label: 'Convar sparsity λ', min: 1e-5, max: 100, solvers: ['convar'] },
];

const SOLVER_LABELS: Record<SolverKind, string> = { l1: 'L1 (exact, double-exponential kernel)', l0: 'L0 (exact, AR(1))', convar: 'Convar (AR(1))' };

export const DEFAULT_PARAMS = { tauRise: 0.02, tauDecay: 0.4, lambda: 0.01, l0Lambda: 0.02, l0Positive: true, convarLambda: null as number | null };
/** Whole-trace solves start after the controls have rested this long. */
const BACKGROUND_DELAY_MS = 300;
const CHART_HEIGHT = 170;

/** A solution for one cell: which parameters and samples it is for, and which of them are trustworthy. */
interface Solution extends SolveResult {
  params: SolveParams;
  /** Samples that equal the whole-trace solution (all of `range` for a whole-trace solve). */
  valid: Range;
  /** Whether this is the whole-trace solution (exact), rather than a provisional window. */
  exact: boolean;
}

interface Card {
  cell: number;
  el: HTMLElement;
  chartEl: HTMLElement;
  chart: TraceChart | null;
  overview: Overview;
  statusEl: HTMLElement;
  exactEl: HTMLElement;
  snrEl: HTMLElement;
  truthEl: HTMLElement;
  statsEl: HTMLElement;
  snr?: number;
  truthR?: number;
  errEl: HTMLElement;
  /** Latest window solve and latest whole-trace solve (either may be for older parameters). */
  win?: Solution;
  full?: Solution;
  /** What the chart shows, and over which samples it was drawn. */
  drawn?: { sol: Solution; range: Range };
  spectrumParams?: SolveParams;
  /** The window job on its way, if any. */
  pending?: { params: SolveParams; range: Range };
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
  private readonly n: number;
  /** The shown time span, seconds, shared by every card. */
  private view: Range;
  private readonly homeWidth: number;
  private margin = 0;
  private syncing = false;
  private kernelChart: uPlot | null = null;
  private readonly io: IntersectionObserver;
  private readonly ro: ResizeObserver;
  private showTruth = false;
  private available: SolverKind[] = ['l1', 'l0'];
  private bgTimer: ReturnType<typeof setTimeout> | null = null;
  /** Fits pinned for comparison, per cell (with the samples they cover), and the parameters they were made with. */
  private pinned: { fits: Map<number, { range: Range; fit: Float32Array }>; label: string } | null = null;
  /** The cell whose spectrum is shown. */
  private spectrumCell: number | null = null;
  private spectrumChart: SpectrumChart | null = null;
  private els!: {
    grid: HTMLElement; summary: HTMLElement; kernelInfo: HTMLElement; kernelEl: HTMLElement; paramErr: HTMLElement;
    inputs: Map<string, { range: HTMLInputElement; num: HTMLInputElement; block: HTMLElement }>; cellCount: HTMLElement; cellErr: HTMLElement;
    metrics: HTMLElement; spectrumTitle: HTMLElement; spectrumEl: HTMLElement; pinInfo: HTMLElement; unpin: HTMLButtonElement;
    solverSel: HTMLSelectElement; l0Positive: HTMLInputElement; l0Block: HTMLElement; convarAuto: HTMLInputElement; convarBlock: HTMLElement;
    solverNote: HTMLElement; filter: HTMLInputElement; drift: HTMLInputElement;
  };

  constructor(private readonly o: TunerOptions) {
    const d = o.dataset;
    this.n = d.matrix.numTimepoints;
    this.params = { solver: 'l1', ...DEFAULT_PARAMS, fs: d.fs, filterEnabled: false, removeDrift: false };
    this.view = defaultView(this.n, d.fs);
    this.homeWidth = this.view[1] - this.view[0];
    this.ranking = rankByActivity(d.matrix);
    this.pool = new SolverPool({
      size: o.poolSize,
      create: o.createWorker as unknown as () => import('../../shared/pool').WorkerLike,
      events: {
        onStart: (cell, _job, key) => { if (!key.endsWith(':full') && this.cards.get(cell)?.el.dataset.status === 'stale') this.setStatus(cell, 'solving'); },
        onResult: (r, key) => this.applyResult(r, key.endsWith(':full')),
        onError: (cell, _job, code, message) => this.applyError(cell, code, message),
        onReady: (solvers) => this.setAvailable(solvers),
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
    if (this.bgTimer) clearTimeout(this.bgTimer);
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
    const inputs = new Map<string, { range: HTMLInputElement; num: HTMLInputElement; block: HTMLElement }>();
    const paramErr = h('p', { class: 'error', role: 'alert', 'data-testid': 'param-error', hidden: true });
    const paramBlock = (p: ParamSpec, v: number) => {
      const range = h('input', {
        type: 'range', id: `${p.id}-range`, 'data-testid': `${p.id}-range`, min: Math.log10(p.min), max: Math.log10(p.max), step: SLIDER_STEP,
        value: toSlider(v, p), 'aria-label': `${p.label} (logarithmic slider)`, 'aria-valuetext': String(v),
      });
      const num = h('input', { type: 'number', id: p.id, 'data-testid': p.id, min: 0, step: 'any', value: v });
      range.addEventListener('input', () => {
        const x = fromSlider(Number(range.value));
        num.value = String(x);
        range.setAttribute('aria-valuetext', String(x));
        this.update({ [p.key]: x } as Partial<SolveParams>);
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
        this.update({ [p.key]: num.value === '' ? NaN : x } as Partial<SolveParams>);
      });
      const block = h('div', { class: 'param', 'data-solvers': p.solvers.join(' ') }, h('label', { for: p.id }, p.label), range, num);
      inputs.set(p.key, { range, num, block });
      return block;
    };
    const paramBlocks = PARAMS.map((p) => paramBlock(p, p.key === 'convarLambda' ? 0.1 : (this.params[p.key] as number)));

    const solverSel = h('select', { id: 'solver-select', 'data-testid': 'solver-select' },
      ...(['l1', 'l0', 'convar'] as SolverKind[]).map((k) => h('option', { value: k, text: SOLVER_LABELS[k], disabled: !this.available.includes(k) })));
    solverSel.addEventListener('change', () => this.chooseSolver(solverSel.value as SolverKind));
    const solverNote = h('p', { class: 'muted', 'data-testid': 'solver-note' });
    const l0Positive = h('input', { type: 'checkbox', id: 'param-l0-positive', 'data-testid': 'param-l0-positive', checked: this.params.l0Positive });
    l0Positive.addEventListener('change', () => this.update({ l0Positive: l0Positive.checked }));
    const l0Block = h('div', { class: 'row', 'data-solvers': 'l0' }, l0Positive, h('label', { for: 'param-l0-positive' }, 'Positive spikes only'));
    const convarAuto = h('input', { type: 'checkbox', id: 'param-convar-auto', 'data-testid': 'param-convar-auto', checked: true });
    const convarBlock = h('div', { class: 'row', 'data-solvers': 'convar' }, convarAuto, h('label', { for: 'param-convar-auto' }, 'Let Convar choose λ'));
    convarAuto.addEventListener('change', () => {
      const c = inputs.get('convarLambda')!;
      c.num.disabled = c.range.disabled = convarAuto.checked;
      this.update({ convarLambda: convarAuto.checked ? null : Number(c.num.value) });
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
    const grid = h('div', { class: 'grid', 'data-testid': 'cell-grid', 'data-zoom': '' });
    cols.addEventListener('change', () => { grid.style.setProperty('--cols', cols.value); requestAnimationFrame(() => this.resizeCharts()); });

    const kernelInfo = h('p', { class: 'kernel-info', 'data-testid': 'kernel-info', 'aria-live': 'polite' });
    const kernelEl = h('div', { class: 'kernel-plot', 'aria-label': 'Kernel shape', role: 'img' });
    const summary = h('p', { class: 'muted', 'data-testid': 'solve-summary', 'aria-live': 'polite' });
    const resetZoom = h('button', { type: 'button', 'data-testid': 'reset-zoom' }, 'Reset zoom');
    resetZoom.addEventListener('click', () => this.setView(this.homeView()));
    const cellCount = h('span', { class: 'muted', 'data-testid': 'cell-count-label' });
    const metrics = h('dl', { class: 'metrics', 'data-testid': 'metrics-panel', 'aria-live': 'polite' });
    const spectrumTitle = h('h2', {}, 'Spectrum');
    const spectrumEl = h('div', { role: 'img', 'aria-label': 'Power spectrum of the inspected cell with filter cutoffs' });
    const pin = h('button', { type: 'button', 'data-testid': 'pin-button' }, 'Pin current fits');
    const unpin = h('button', { type: 'button', 'data-testid': 'unpin-button', disabled: true }, 'Clear pin');
    const pinInfo = h('span', { class: 'muted', 'data-testid': 'pin-info' }, 'Pin fits to compare them with later parameters.');
    pin.addEventListener('click', () => this.pinFits());
    unpin.addEventListener('click', () => this.clearPin());

    const windowNote = windowed(this.n)
      ? `Cards show a ${fmt(this.homeWidth, 0)} s window, solved with a margin of one kernel length; “≈” marks a window solved on its own, replaced by the whole-trace solution once the controls rest. Drag on a chart to zoom, click the strip above it to move.`
      : 'Drag on a chart to zoom all.';
    const sidebar = h('aside', { class: 'sidebar' },
      h('section', { class: 'card-panel', 'aria-label': 'Parameters' }, h('h2', {}, 'Parameters'),
        h('div', { class: 'row' }, h('label', { for: 'solver-select' }, 'Solver'), solverSel), solverNote,
        ...paramBlocks, l0Block, convarBlock, paramErr,
        h('p', { class: 'muted' }, `Sampling rate ${d.fs} Hz. Sliders are logarithmic; arrow keys step the focused control, or type exact values.`)),
      h('section', { class: 'card-panel', 'aria-label': 'Preprocessing and display' },
        h('div', { class: 'row' }, filter, h('label', { for: 'filter-toggle' }, 'Band-pass filter (kernel-derived)')),
        h('div', { class: 'row' }, drift, h('label', { for: 'drift-toggle' }, 'Remove slow drift')),
        d.truth ? h('div', { class: 'row' }, truth, h('label', { for: 'truth-toggle' }, 'Show ground truth')) : null,
        h('div', { class: 'row' }, resetZoom), h('p', { class: 'muted' }, windowNote)),
      h('section', { class: 'card-panel', 'aria-label': 'Kernel' }, h('h2', {}, 'Kernel'), kernelInfo, kernelEl),
      h('section', { class: 'card-panel', 'aria-label': 'Cells' }, h('h2', {}, 'Cells'),
        h('div', { class: 'row' }, h('label', { for: 'cell-mode' }, 'Show'), mode, count, list),
        h('div', { class: 'row' }, h('label', { for: 'columns-select' }, 'Columns'), cols, cellCount), cellErr, summary),
      h('section', { class: 'card-panel', 'aria-label': 'Metrics' }, h('h2', {}, 'Metrics'), metrics),
      h('section', { class: 'card-panel', 'aria-label': 'Compare' }, h('h2', {}, 'Compare'), h('div', { class: 'row' }, pin, unpin), pinInfo),
      h('section', { class: 'card-panel', 'aria-label': 'Spectrum', 'data-testid': 'spectrum-panel' }, spectrumTitle, spectrumEl,
        h('p', { class: 'muted' }, 'Of the whole fitted trace; dashed lines are the band-pass cutoffs. Choose the cell with its “Spectrum” button.')));
    this.o.root.replaceChildren(h('div', { class: 'tune' }, sidebar, h('section', { 'aria-label': 'Cell traces' }, grid)));
    this.ro.observe(grid);
    this.els = {
      grid, summary, kernelInfo, kernelEl, paramErr, inputs, cellCount, cellErr, metrics, spectrumTitle, spectrumEl, pinInfo, unpin,
      solverSel, l0Positive, l0Block, convarAuto, convarBlock, solverNote, filter, drift,
    };
    inputs.get('convarLambda')!.num.disabled = inputs.get('convarLambda')!.range.disabled = true;
    this.spectrumChart = new SpectrumChart(spectrumEl, this.o.theme());
    this.cellInputs = { mode, count, list };
    this.showSolverControls();
    this.refreshKernel();
  }

  private cellInputs!: { mode: HTMLSelectElement; count: HTMLInputElement; list: HTMLInputElement };

  private setAvailable(solvers: SolverKind[]): void {
    this.available = solvers;
    for (const opt of this.els.solverSel.options) {
      const ok = solvers.includes(opt.value as SolverKind);
      opt.disabled = !ok;
      opt.title = ok ? '' : 'Not in this build of the solver module';
    }
    this.els.solverSel.dataset.available = solvers.join(' ');
  }

  private chooseSolver(kind: SolverKind): void {
    const change: Partial<SolveParams> = { solver: kind };
    // L0 has no baseline term: on raw fluorescence it needs the baseline taken out first.
    if (kind === 'l0' && !this.params.filterEnabled && !this.params.removeDrift) {
      change.removeDrift = true;
      this.els.drift.checked = true;
    }
    this.update(change);
    this.showSolverControls();
  }

  private showSolverControls(): void {
    const s = this.params.solver;
    for (const el of this.o.root.querySelectorAll<HTMLElement>('[data-solvers]')) el.hidden = !el.dataset.solvers!.split(' ').includes(s);
    this.els.solverNote.textContent = s === 'l1'
      ? 'minimise ½‖y − K s − b‖² + λ·G_dc·‖s‖₁ over s ≥ 0 and the baseline b.'
      : s === 'l0'
        ? 'minimise ½‖y − c‖² + λ₀·(number of spikes), c_t = γ c_{t−1} + s_t, γ = exp(−1/(τ_decay·fs)). No baseline term: drift removal or the band-pass filter takes it out.'
        : 'Convar: AR(1) deconvolution with a baseline, γ from τ_decay; λ is searched unless you set it.';
  }

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
      if (!keep.has(cell)) {
        this.io.unobserve(card.el); card.chart?.destroy(); card.el.remove(); this.cards.delete(cell);
        this.pool.cancel(String(cell)); this.pool.cancel(`${cell}:full`);
      }
    }
    this.shown = cells;
    for (const cell of cells) if (!this.cards.has(cell)) this.cards.set(cell, this.makeCard(cell));
    this.els.grid.replaceChildren(...cells.map((c) => this.cards.get(c)!.el));
    for (const c of cells) this.ensureChart(this.cards.get(c)!);
    this.els.cellCount.textContent = `${cells.length} of ${this.o.dataset.matrix.numCells} cells`;
    if (this.spectrumCell === null || !keep.has(this.spectrumCell)) this.spectrumCell = cells[0] ?? null;
    this.refreshAll();
  }

  private makeCard(cell: number): Card {
    const id = this.o.dataset.cellIds?.[cell];
    const statusEl = h('span', { class: 'badge status', 'data-s': 'stale', 'data-testid': 'card-status' }, 'stale');
    const exactEl = h('span', { class: 'badge approx', 'data-testid': 'card-exact', title: 'Window solved on its own (its own baseline); the whole-trace solution replaces it when the controls rest', hidden: true }, '≈');
    const snrEl = h('span', { class: 'badge', 'data-testid': 'card-snr', title: 'Signal-to-noise over the shown samples: std of the fit over the noise level of the residual' }, 'SNR –');
    const truthEl = h('span', { class: 'badge', 'data-testid': 'card-truth-r', title: 'Correlation of activity with the true spikes over the shown samples (both smoothed, 100 ms)', hidden: !this.o.dataset.truth }, 'r –');
    const inspect = h('button', { type: 'button', class: 'small', 'data-testid': 'inspect-button', 'aria-label': `Show the spectrum of cell ${cell}` }, 'Spectrum');
    inspect.addEventListener('click', () => this.inspect(cell));
    const statsEl = h('span', { class: 'stats', 'data-testid': 'card-stats' });
    const errEl = h('p', { class: 'err-msg', role: 'alert', hidden: true });
    const chartEl = h('div', { class: 'chart', role: 'img', 'aria-label': `Trace, fit and activity of cell ${cell}; drag to zoom` });
    const overview = new Overview({
      raw: row(this.o.dataset.matrix, cell), fs: this.o.dataset.fs, theme: this.o.theme(), label: `Cell ${cell}`,
      onPan: (t) => this.setView(panTo(this.view, t, this.n, this.o.dataset.fs)),
      onStep: (dir) => { const w = this.view[1] - this.view[0]; this.setView(panTo(this.view, (this.view[0] + this.view[1]) / 2 + dir * w, this.n, this.o.dataset.fs)); },
    });
    overview.setView(this.view, null);
    const el = h('article', { class: 'cell-card', 'data-testid': 'cell-card', 'data-cell-index': cell, 'data-status': 'stale', 'data-exact': 'false', 'aria-label': `Cell ${cell}` },
      h('header', {}, h('span', { class: 'title' }, `Cell ${cell}${id !== undefined && id !== cell ? ` (${id})` : ''}`), statusEl, exactEl, snrEl, truthEl, inspect, statsEl),
      errEl, overview.el, chartEl);
    this.io.observe(el);
    return { cell, el, chartEl, chart: null, overview, statusEl, exactEl, snrEl, truthEl, statsEl, errEl, visible: true };
  }

  private chartWidth(card: Card): number {
    return Math.max(200, Math.floor(card.el.clientWidth - 18) || 480);
  }

  private ensureChart(card: Card): void {
    if (card.chart) return;
    const d = this.o.dataset;
    card.chart = new TraceChart(card.chartEl, {
      width: this.chartWidth(card), height: CHART_HEIGHT, fs: d.fs, theme: this.o.theme(), hasTruth: !!d.truth,
      showFiltered: this.params.filterEnabled || this.params.removeDrift, showTruth: this.showTruth, showPinned: this.pinned !== null, syncKey: 'catune',
    });
    card.chart.plot.hooks.setScale = [(u: uPlot, key: string) => { if (key === 'x') this.onXScale(u); }];
    card.overview.resize(this.chartWidth(card));
    card.drawn = undefined;
    this.drawCard(card);
  }

  // ---------------------------------------------------------------- what each card shows

  /** The solution at the current parameters that covers the view, preferring the whole-trace one. */
  private solutionFor(card: Card): Solution | null {
    const want = viewSamples(this.view, this.o.dataset.fs, this.n);
    if (card.full && paramsEqual(card.full.params, this.params)) return card.full;
    if (card.win && paramsEqual(card.win.params, this.params) && covers(card.win.valid, want)) return card.win;
    return null;
  }

  /** Brings every shown card up to date: draw what is there, solve what is missing. */
  private refreshAll(): void {
    for (const c of this.shown) this.refreshCard(this.cards.get(c)!);
    this.refreshSummary();
    this.refreshMetrics();
    this.scheduleBackground();
  }

  /**
   * Draws the card if a solution covers the view, else solves its window, unless a job that will cover it
   * is already on its way. Bursts of input events coalesce in the pool: a newer job for a card replaces
   * its queued one, and results of superseded running jobs are dropped.
   */
  private refreshCard(card: Card): void {
    const sol = this.solutionFor(card);
    const needSpectrum = card.cell === this.spectrumCell && !(card.spectrumParams && sameKernel(card.spectrumParams, this.params));
    if (sol) {
      // Back at parameters already solved: a job still on its way for others is of no use.
      if (card.pending && !this.pendingCovers(card)) { this.pool.cancel(String(card.cell)); card.pending = undefined; }
      this.drawCard(card);
      if (card.el.dataset.status !== 'fresh') this.setStatus(card.cell, 'fresh');
      if (needSpectrum) this.submitWindow(card, true);
    } else if (!this.pendingCovers(card)) {
      this.setStatus(card.cell, 'stale');
      this.submitWindow(card, card.cell === this.spectrumCell);
    }
  }

  private pendingCovers(card: Card): boolean {
    const p = card.pending;
    return !!p && paramsEqual(p.params, this.params) && covers(validRange(p.range, this.n, this.margin), viewSamples(this.view, this.o.dataset.fs, this.n));
  }

  private submitWindow(card: Card, wantSpectrum: boolean): void {
    const fs = this.o.dataset.fs;
    const range = solveRange(viewSamples(this.view, fs, this.n), this.n, this.margin);
    card.pending = { params: { ...this.params }, range };
    this.pool.submit({
      cell: card.cell, key: String(card.cell), trace: row(this.o.dataset.matrix, card.cell), range, params: { ...this.params },
      priority: this.priorityOf(card.cell), wantSpectrum,
    });
  }

  /**
   * Once every shown card is fresh and the controls have rested, solve whole traces in the background
   * (exact numbers, the overview fit, any later pan for free). Waiting for the cards keeps the workers free
   * while someone is dragging a slider.
   */
  private scheduleBackground(): void {
    if (this.bgTimer) { clearTimeout(this.bgTimer); this.bgTimer = null; }
    if (!windowed(this.n)) return;
    if (this.shown.some((c) => this.cards.get(c)?.el.dataset.status !== 'fresh')) return;
    this.bgTimer = setTimeout(() => {
      this.bgTimer = null;
      for (const c of this.shown) {
        const card = this.cards.get(c)!;
        if (card.full && paramsEqual(card.full.params, this.params)) continue;
        this.pool.submit({
          cell: c, key: `${c}:full`, trace: row(this.o.dataset.matrix, c), params: { ...this.params },
          priority: 10_000 + this.priorityOf(c), background: true,
        });
      }
    }, BACKGROUND_DELAY_MS);
  }

  private drawCard(card: Card): void {
    if (!card.chart) return;
    const d = this.o.dataset;
    const sol = this.solutionFor(card) ?? undefined;
    const want = viewSamples(this.view, d.fs, this.n);
    // Draw the view plus some slack (so small pans need no redraw), within what the solution covers.
    const slack = Math.ceil((want[1] - want[0]) * SLACK);
    let range: Range = [Math.max(0, want[0] - slack), Math.min(this.n, want[1] + slack)];
    if (sol) range = [Math.max(range[0], sol.range[0]), Math.min(range[1], sol.range[1])];
    if (card.drawn && sol && card.drawn.sol === sol && covers(card.drawn.range, want)) {
      this.applyView(card);
      this.cardMetrics(card);
      return;
    }
    const raw = row(d.matrix, card.cell).subarray(range[0], range[1]);
    const cut = (a: Float32Array | undefined, from: Range) => a?.subarray(range[0] - from[0], range[1] - from[0]);
    const pin = this.pinned?.fits.get(card.cell);
    this.syncing = true;
    const chart = card.chart;
    try {
      // One redraw for the new data and the view, not one each.
      chart.plot.batch(() => {
      chart.setData({
        raw, filtered: cut(sol?.fitted, sol?.range ?? [0, 0]), fit: cut(sol?.reconvolution, sol?.range ?? [0, 0]), activity: cut(sol?.activity, sol?.range ?? [0, 0]),
        truthCalcium: d.truth ? offset(d.truth.calcium[card.cell].subarray(range[0], range[1]), sol ? sol.baseline : medianOf(raw)) : undefined,
        truthSpikes: d.truth?.spikes[card.cell].subarray(range[0], range[1]),
        pinnedFit: pin && covers(pin.range, range) ? pin.fit.subarray(range[0] - pin.range[0], range[1] - pin.range[0]) : undefined,
      }, range[0], Math.max(2000, 4 * this.chartWidth(card)));
      chart.plot.setScale('x', { min: this.view[0], max: this.view[1] });
      });
    } finally {
      this.syncing = false;
    }
    card.drawn = sol ? { sol, range } : undefined;
    card.overview.setFit(card.full && paramsEqual(card.full.params, this.params) ? card.full.reconvolution : null);
    card.overview.setView(this.view, sol && !sol.exact ? sol.range : null);
    this.cardMetrics(card);
  }

  private applyView(card: Card): void {
    if (!card.chart) return;
    this.syncing = true;
    try {
      card.chart.plot.setScale('x', { min: this.view[0], max: this.view[1] });
    } finally {
      this.syncing = false;
    }
  }

  private onXScale(u: uPlot): void {
    if (this.syncing) return;
    const { min, max } = u.scales.x;
    if (min == null || max == null || !(max > min)) return;
    this.setView([Math.max(0, min), Math.min((this.n - 1) / this.o.dataset.fs, max)]);
  }

  private homeView(): Range {
    const end = (this.n - 1) / this.o.dataset.fs;
    if (!windowed(this.n)) return [0, end];
    const t0 = Math.min(this.view[0], Math.max(0, end - this.homeWidth));
    return [t0, t0 + this.homeWidth];
  }

  private setView(v: Range): void {
    if (v[0] === this.view[0] && v[1] === this.view[1]) return;
    this.view = v;
    const home = this.homeView();
    const zoomed = Math.abs((v[1] - v[0]) - (home[1] - home[0])) > 1e-6;
    this.els.grid.dataset.zoom = zoomed ? v.map((x) => x.toFixed(2)).join('-') : '';
    this.els.grid.dataset.view = v.map((x) => x.toFixed(2)).join('-');
    for (const c of this.cards.values()) c.overview.setView(v, c.drawn && !c.drawn.sol.exact ? c.drawn.sol.range : null);
    this.refreshAll();
  }

  private resizeCharts(): void {
    for (const c of this.cards.values()) { c.chart?.resize(this.chartWidth(c), CHART_HEIGHT); c.overview.resize(this.chartWidth(c)); }
  }

  rebuildCharts(): void {
    for (const c of this.cards.values()) { c.chart?.destroy(); c.chart = null; c.chartEl.replaceChildren(); this.ensureChart(c); }
    this.refreshKernel();
    this.spectrumChart?.destroy();
    this.els.spectrumEl.replaceChildren();
    this.spectrumChart = new SpectrumChart(this.els.spectrumEl, this.o.theme());
    const card = this.spectrumCell === null ? undefined : this.cards.get(this.spectrumCell);
    const s = card?.drawn?.sol;
    if (s?.spectrum) this.showSpectrum(s);
  }

  // ---------------------------------------------------------------- pin, spectrum, metrics

  private pinFits(): void {
    const fits = new Map<number, { range: Range; fit: Float32Array }>();
    for (const c of this.cards.values()) if (c.drawn) fits.set(c.cell, { range: c.drawn.sol.range, fit: c.drawn.sol.reconvolution.slice() });
    if (fits.size === 0) return;
    this.pinned = { fits, label: this.paramLabel() };
    this.els.pinInfo.textContent = `Pinned (dashed): ${this.pinned.label}`;
    this.els.unpin.disabled = false;
    for (const c of this.cards.values()) { c.drawn = undefined; this.drawCard(c); c.chart?.setShown('pinned fit', fits.has(c.cell)); }
  }

  private paramLabel(): string {
    const p = this.params;
    const f = p.filterEnabled ? ', filtered' : '';
    if (p.solver === 'l0') return `L0, τ_decay ${p.tauDecay} s, λ₀ ${p.l0Lambda}${p.l0Positive ? ', positive' : ''}${f}`;
    if (p.solver === 'convar') return `Convar, τ_decay ${p.tauDecay} s, λ ${p.convarLambda ?? 'auto'}${f}`;
    return `τ_rise ${p.tauRise} s, τ_decay ${p.tauDecay} s, λ ${p.lambda}${f}`;
  }

  private clearPin(): void {
    this.pinned = null;
    this.els.pinInfo.textContent = 'Pin fits to compare them with later parameters.';
    this.els.unpin.disabled = true;
    for (const c of this.cards.values()) { c.chart?.setShown('pinned fit', false); c.drawn = undefined; this.drawCard(c); }
  }

  private inspect(cell: number): void {
    this.spectrumCell = cell;
    const card = this.cards.get(cell);
    if (!card) return;
    const s = card.drawn?.sol;
    if (s?.spectrum && card.spectrumParams && sameKernel(card.spectrumParams, this.params)) this.showSpectrum(s);
    else this.submitWindow(card, true);
  }

  private showSpectrum(r: SolveResult): void {
    if (!r.spectrum || !this.spectrumChart) return;
    const filtered = this.params.filterEnabled;
    this.els.spectrumTitle.textContent = `Spectrum · cell ${r.cell}`;
    this.els.spectrumEl.dataset.cell = String(r.cell);
    this.spectrumChart.setData(r.spectrum.freqs, r.spectrum.power, Array.from(r.spectrum.cutoffs));
    this.els.spectrumEl.title = `Band-pass ${fmt(r.spectrum.cutoffs[0], 3)}–${fmt(r.spectrum.cutoffs[1], 3)} Hz${filtered ? ' (applied)' : ' (not applied)'}`;
  }

  /** Card numbers on the samples shown (the fit covers them), so provisional and exact results compare alike. */
  private cardMetrics(card: Card): void {
    const sol = card.drawn?.sol;
    if (!sol) return;
    const [lo, hi] = viewSamples(this.view, this.o.dataset.fs, this.n);
    const a = Math.max(lo, sol.range[0]);
    const b = Math.min(hi, sol.range[1]);
    const act = sol.activity.subarray(a - sol.range[0], b - sol.range[0]);
    let sum = 0;
    let events = 0;
    for (let i = 0; i < act.length; i++) { sum += act[i]; if (act[i] > 0) events++; }
    card.snr = fitSnr(sol.fitted.subarray(a - sol.range[0], b - sol.range[0]), sol.reconvolution.subarray(a - sol.range[0], b - sol.range[0]));
    card.snrEl.textContent = `SNR ${fmt(card.snr, 1)}`;
    const truth = this.o.dataset.truth;
    if (truth) {
      card.truthR = truthCorrelation(act, truth.spikes[card.cell].subarray(a, b), this.o.dataset.fs);
      card.truthEl.textContent = `r ${fmt(card.truthR, 2)}`;
    }
    const extra = sol.extra ? Object.entries(sol.extra).filter(([k]) => k !== 'gamma').map(([k, v]) => ` · ${k} ${fmt(v, 4)}`).join('') : '';
    card.statsEl.textContent = `Σs ${fmt(sum, 3)} · ${events} nonzero · baseline ${fmt(sol.baseline, 4)}${extra} · ${sol.iterations} it · ${Math.round(sol.solveMs)} ms`;
    const ds = card.el.dataset;
    const p = sol.params;
    ds.solver = p.solver;
    ds.tauRise = String(p.tauRise);
    ds.tauDecay = String(p.tauDecay);
    ds.lambda = String(p.lambda);
    ds.l0Lambda = String(p.l0Lambda);
    ds.converged = String(sol.converged);
    ds.exact = String(sol.exact);
    // Full-precision numbers for tests that compare the browser with native Python, and the samples they cover.
    ds.activitySum = String(sum);
    ds.baseline = String(sol.baseline);
    ds.samples = `${a}-${b}`;
    ds.solveMs = String(sol.solveMs);
    card.exactEl.hidden = sol.exact;
  }

  private refreshMetrics(): void {
    const cards = this.shown.map((c) => this.cards.get(c)!).filter((c) => c.drawn && c.el.dataset.status === 'fresh');
    const rows: [string, string][] = [['Fresh cells', `${cards.length} / ${this.shown.length}`]];
    if (cards.length) {
      rows.push(['Exact (whole trace)', `${cards.filter((c) => c.drawn!.sol.exact).length} / ${cards.length}`]);
      rows.push(['Median SNR', fmt(median(cards.map((c) => c.snr ?? NaN)), 2)]);
      if (this.o.dataset.truth) rows.push(['Median r vs truth', fmt(median(cards.map((c) => c.truthR ?? NaN)), 3)]);
      const [lo, hi] = viewSamples(this.view, this.o.dataset.fs, this.n);
      let nz = 0;
      let total = 0;
      for (const c of cards) {
        const s = c.drawn!.sol;
        const a = s.activity.subarray(Math.max(lo, s.range[0]) - s.range[0], Math.min(hi, s.range[1]) - s.range[0]);
        for (const v of a) if (v > 0) nz++;
        total += a.length;
      }
      rows.push(['Nonzero activity', `${fmt((100 * nz) / Math.max(1, total), 2)} % of shown frames`]);
      rows.push(['Converged', `${cards.filter((c) => c.drawn!.sol.converged).length} / ${cards.length}`]);
      rows.push(['Mean solve time', `${fmt(cards.reduce((a, c) => a + c.drawn!.sol.solveMs, 0) / cards.length, 1)} ms`]);
    }
    this.els.metrics.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // ---------------------------------------------------------------- parameters and solving

  private validate(p: SolveParams): string | null {
    if (!(p.tauRise > 0)) return 'τ_rise must be a positive number of seconds.';
    if (!(p.tauDecay > 0)) return 'τ_decay must be a positive number of seconds.';
    if (!(p.tauRise < p.tauDecay)) return `τ_rise (${p.tauRise} s) must be smaller than τ_decay (${p.tauDecay} s).`;
    if (!(p.lambda >= 0) || !Number.isFinite(p.lambda)) return 'λ must be zero or a positive number.';
    if (!(p.l0Lambda >= 0) || !Number.isFinite(p.l0Lambda)) return 'λ₀ must be zero or a positive number.';
    if (p.convarLambda !== null && (!(p.convarLambda >= 0) || !Number.isFinite(p.convarLambda))) return 'Convar λ must be zero or a positive number.';
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
    const kernelChanged = !sameKernel(next, this.params) || next.solver !== this.params.solver;
    this.params = next;
    if (filterChanged) for (const c of this.cards.values()) c.chart?.setShown('filtered', next.filterEnabled || next.removeDrift);
    if (kernelChanged) this.refreshKernel();
    // Whole-trace solves for older parameters are of no use now.
    for (const c of this.shown) this.pool.cancel(`${c}:full`);
    this.refreshAll();
  }

  private priorityOf(cell: number): number {
    const card = this.cards.get(cell);
    const order = this.shown.indexOf(cell);
    return (card?.visible ? 0 : 1000) + (order < 0 ? 999 : order);
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

  private applyResult(r: SolveResult, background: boolean): void {
    const card = this.cards.get(r.cell);
    if (!card) return;
    const params = r.params;
    const whole = r.range[0] === 0 && r.range[1] === this.n;
    const sol: Solution = { ...r, params, exact: whole, valid: whole ? [0, this.n] : validRange(r.range, this.n, this.margin) };
    const current = paramsEqual(params, this.params);
    // Keep what matches the current parameters over a late result for others.
    if (whole && (current || !card.full || !paramsEqual(card.full.params, this.params))) card.full = sol;
    if (!background) {
      card.pending = undefined;
      if (current || !card.win || !paramsEqual(card.win.params, this.params)) card.win = sol;
    }
    if (r.spectrum) {
      card.spectrumParams = params;
      if (r.cell === this.spectrumCell) this.showSpectrum(r);
    }
    if (!current) return; // superseded meanwhile; a newer job is on its way
    this.drawCard(card);
    if (this.solutionFor(card)) this.setStatus(r.cell, 'fresh');
    this.refreshMetrics();
    if (!background) this.scheduleBackground();
  }

  private applyError(cell: number, code: string, message: string): void {
    const card = this.cards.get(cell);
    if (!card) return;
    card.pending = undefined;
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
    // One kernel length (decay to 1e-6 of the peak) on each side of a window makes its edges right.
    this.margin = kernel.length;
    if (p.solver === 'l1') {
      this.els.kernelInfo.textContent = `Peak at ${fmt(peak, 3)} s · FWHM ${fmt(fwhm, 3)} s · ${kernel.length} samples`;
    } else {
      const gamma = c.l0_gamma_from_tau(p.tauDecay, p.fs);
      this.els.kernelInfo.textContent = `AR(1) γ = ${fmt(gamma, 5)} (τ_decay ${p.tauDecay} s at ${p.fs} Hz) · Peak at ${fmt(peak, 3)} s · FWHM ${fmt(fwhm, 3)} s`;
    }
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
      gamma: c.l0_gamma_from_tau(p.tauDecay, p.fs),
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
