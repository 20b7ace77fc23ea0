// The tuning screen. Left: the solver and its parameters (logarithmic sliders scaled to the data, typed
// values, keyboard steps, undo and reset) and the kernel plot. Right: a bar with the cell selection, the
// metrics, the legend and the pin, above the grid of cell cards. Each card has an overview strip of the
// whole recording, a two-panel chart (fluorescence above, activity below, each on its own titled axis)
// and, on demand, the power spectrum of its whole trace.
// Long recordings are solved around the shown window only (window.ts): a control change marks the shown
// cards stale and solves their windows first (visible cards first, stale jobs superseded, input events
// coalesced per frame), which is what makes a change feel instant. Such a window result is provisional
// for L1 (its baseline is the window's own); once the controls rest, the whole traces are solved in the
// background on all but one worker, and the cards switch to that exact solution (data-exact="true"), which
// also serves every later pan and zoom without solving. The noise level and SNR of a card are those of its
// whole trace (computed once per cell and preprocessing in the worker), so panning never changes them.
// What to solve, when and at which priority is decided by the pure scheduler (schedule.ts); this class
// carries its decisions out and draws.

import type {
  EstimateRequest,
  EstimateResponse,
  EstimateResult,
  SolveParams,
  SolveResult,
  SolverKind,
  WorkerResponse,
} from '../../shared/messages';
import { estimateCells, estimateSummary } from '../../shared/estimate';
import { paramsEqual, sameKernel } from '../../shared/messages';
import { buildExport, type CaTuneExport } from '../../shared/export';
import { kernelData, kernelPlot, palette, SpectrumChart, TraceChart, type Theme } from '../../shared/ui/charts';
import { gaussianSmooth, median, smoothedCorrelation } from '../../shared/metrics';
import { SolverPool } from '../../shared/pool';
import { noiseSigma, parseCellList, randomCells, rankByActivity, row } from '../../shared/traces';
import type { Dataset } from '../../shared/dataset';
import { fmt } from '../../shared/format';
import { h } from '../../shared/ui/dom';
import { helpToggle } from '../../shared/ui/help';
import { Overview } from './overview';
import type { Calab } from '../../shared/wasm';
import { covers, defaultView, panTo, SLACK, viewSamples, windowed, type Range } from './window';
import {
  acceptResult,
  backgroundCells,
  backgroundDue,
  backgroundPriority,
  type CellState,
  needsStats,
  planRefresh,
  type Scene,
  type Solution,
  solutionFor,
  spectrumCurrent,
  windowPriority,
  windowRange,
} from './schedule';
import {
  defaultParams,
  describeChange,
  fromSlider,
  History,
  keyStep,
  numberStep,
  PARAMS,
  sliderRanges,
  toSlider,
  type NumKey,
  type ParamSpec,
  type SliderRanges,
} from './params';
import { ActivityExport, EXPORT_KEY_SUFFIX } from './activity';
import type uPlot from 'uplot';

export { DEFAULT_PARAMS } from './params';

export type CardStatus = 'stale' | 'solving' | 'fresh' | 'error';

const SOLVER_LABELS: Record<SolverKind, string> = {
  l1: 'L1 · double-exp. kernel',
  l0: 'L0 · exact spikes, AR(1)',
  convar: 'Convar · wide-field pixels',
};

const SOLVER_NOTES: Record<SolverKind, string> = {
  l1: 'Minimises ½‖y − K s − b‖² + λ·G_dc·‖s‖₁ over activity s ≥ 0 and a baseline b; K is the kernel below. The method for cell traces.',
  l0: 'Exact L0: ½‖y − c‖² + λ₀·(number of spikes), calcium c_t = γ c_{t−1} + s_t with γ from τ_decay. It has no baseline term.',
  convar:
    'Convar (Stern et al. 2020) is made for wide-field (one-photon) pixel time series: it returns smooth non-negative rates, not spikes. On single-cell traces it gives dense, noisy activity and can take seconds per cell.',
};

/** Whole-trace solves start after the controls have rested this long. */
const BACKGROUND_DELAY_MS = 300;
const CHART_HEIGHT = 210;
const SPECTRUM_HEIGHT = 150;
/** Ctrl + wheel zooms by this factor per notch. */
const WHEEL_ZOOM = 1.25;

interface Card extends CellState {
  el: HTMLElement;
  chartEl: HTMLElement;
  chart: TraceChart | null;
  overview: Overview;
  statusEl: HTMLElement;
  exactEl: HTMLElement;
  snrEl: HTMLElement;
  noiseEl: HTMLElement;
  truthEl: HTMLElement;
  statsEl: HTMLElement;
  inspectBtn: HTMLButtonElement;
  spectrumBox: HTMLElement;
  spectrumChart: SpectrumChart | null;
  truthR?: number;
  /** The solution truthR was computed on (it covers the whole solution, so one per solution). */
  truthSol?: Solution;
  /** The true spikes smoothed once over the whole recording (simulated data). */
  smoothTruth?: Float64Array;
  /** Chart width in CSS pixels, measured when the grid resizes (reading layout per draw would force a reflow). */
  width: number;
  errEl: HTMLElement;
  /** The solution the card stands for (its numbers); drawn at once when the card is on screen. */
  current?: Solution;
  /** What the chart shows, and over which samples it was drawn. */
  drawn?: { sol: Solution; range: Range };
  /** A solution arrived while the card was off screen: draw it when it scrolls into view. */
  dirty?: boolean;
  visible: boolean;
}

export interface TunerOptions {
  root: HTMLElement;
  calab: Calab;
  dataset: Dataset;
  createWorker: () => Worker;
  poolSize: number;
  theme: () => Theme;
  /** Shows a short message about what a button did (the page's status line). */
  notify?: (text: string) => void;
}

interface ParamInputs {
  range: HTMLInputElement;
  num: HTMLInputElement;
  block: HTMLElement;
  rangeText: HTMLElement;
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
  /** Series shown on every card (by label). */
  private shownSeries = new Set<string>(['raw', 'fit', 'activity']);
  private available: SolverKind[] = ['l1', 'l0'];
  private bgTimer: ReturnType<typeof setTimeout> | null = null;
  /** Fits pinned for comparison, per cell (with the samples they cover), and the parameters they were made with. */
  private pinned: { fits: Map<number, { range: Range; fit: Float32Array }>; label: string } | null = null;
  /** The cell whose spectrum is open (at most one; its card shows it). */
  private spectrumCell: number | null = null;
  private readonly history = new History();
  private readonly ranges: SliderRanges;
  /** Typical noise sigma of the recording (first-difference estimate over the most active cells). */
  private readonly sigmaRef: number;
  private exporting: ActivityExport | null = null;
  /** The running "Estimate from data": its own worker (terminated when done or cancelled). */
  private estimating: {
    worker: Worker;
    req: EstimateRequest;
    started: number;
    stage: string;
    timer: ReturnType<typeof setInterval>;
  } | null = null;
  private estimateJobs = 0;
  /** r against the ground truth per solution (a card alternating between two solutions reuses both). */
  private readonly truthR = new WeakMap<Solution, number>();
  private els!: {
    grid: HTMLElement;
    summary: HTMLElement;
    kernelInfo: HTMLElement;
    kernelEl: HTMLElement;
    paramErr: HTMLElement;
    inputs: Map<NumKey, ParamInputs>;
    cellCount: HTMLElement;
    cellErr: HTMLElement;
    metrics: HTMLElement;
    pinInfo: HTMLElement;
    pin: HTMLButtonElement;
    unpin: HTMLButtonElement;
    resetZoom: HTMLButtonElement;
    solverSel: HTMLSelectElement;
    l0Positive: HTMLInputElement;
    l0Block: HTMLElement;
    convarAuto: HTMLInputElement;
    convarBlock: HTMLElement;
    solverNote: HTMLElement;
    solverWarn: HTMLElement;
    filter: HTMLInputElement;
    drift: HTMLInputElement;
    undo: HTMLButtonElement;
    reset: HTMLButtonElement;
    legend: HTMLElement;
    estimateSlot: HTMLElement;
    estimateBtn: HTMLButtonElement;
    estimateStatus: HTMLElement;
    estimateWarn: HTMLElement;
    estimateErr: HTMLElement;
  };
  private cellInputs!: {
    mode: HTMLSelectElement;
    count: HTMLInputElement;
    list: HTMLInputElement;
    cols: HTMLSelectElement;
  };
  private readonly onKey = (e: KeyboardEvent): void => this.globalKey(e);

  constructor(private readonly o: TunerOptions) {
    const d = o.dataset;
    this.n = d.matrix.numTimepoints;
    this.params = defaultParams(d.fs);
    this.view = defaultView(this.n, d.fs);
    this.homeWidth = this.view[1] - this.view[0];
    this.ranking = rankByActivity(d.matrix);
    this.sigmaRef = median(
      this.ranking.slice(0, 20).map((c) => {
        const r = row(d.matrix, c);
        return noiseSigma(r.length > 8192 ? r.subarray(0, 8192) : r);
      }),
    );
    this.ranges = sliderRanges(this.sigmaRef);
    this.pool = new SolverPool({
      size: o.poolSize,
      prefetch: 2,
      create: o.createWorker as unknown as () => import('../../shared/pool').WorkerLike,
      events: {
        onStart: (cell, _job, key) => {
          if (!key.includes(':') && this.cards.get(cell)?.el.dataset.status === 'stale')
            this.setStatus(cell, 'solving');
        },
        onResult: (r, key) => {
          if (key.endsWith(EXPORT_KEY_SUFFIX)) this.exporting?.accept(r);
          else this.applyResult(r, key.endsWith(':full'));
        },
        onError: (cell, _job, code, message, key) => {
          if (key.endsWith(EXPORT_KEY_SUFFIX)) this.exporting?.fail(cell, code, message);
          else this.applyError(cell, code, message);
        },
        onReady: (solvers) => this.setAvailable(solvers),
        onFatal: (message) => this.fatal(message),
      },
    });
    // A margin, so cards about to scroll in are drawn before they appear.
    this.io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const cell = Number((e.target as HTMLElement).dataset.cellIndex);
          const card = this.cards.get(cell);
          if (card) {
            card.visible = e.isIntersecting;
            if (card.visible && card.dirty) this.drawCard(card);
          }
          this.pool.setPriority(cell, this.priorityOf(cell));
        }
      },
      { rootMargin: '150px 0px' },
    );
    let raf = 0;
    this.ro = new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => this.resizeCharts());
    });
    this.render();
    this.selectCells();
    document.addEventListener('keydown', this.onKey);
  }

  dispose(): void {
    if (this.bgTimer) clearTimeout(this.bgTimer);
    this.exporting?.cancel();
    this.stopEstimate();
    this.pool.dispose();
    this.io.disconnect();
    this.ro.disconnect();
    document.removeEventListener('keydown', this.onKey);
    for (const c of this.cards.values()) {
      c.chart?.destroy();
      c.spectrumChart?.destroy();
    }
    this.kernelChart?.destroy();
  }

  get currentParams(): SolveParams {
    return { ...this.params };
  }

  /** Where an "Estimate from data" control goes (under the parameters). */
  get estimateSlot(): HTMLElement {
    return this.els.estimateSlot;
  }

  private notify(text: string): void {
    this.o.notify?.(text);
  }

  private get unit(): string {
    return this.o.dataset.unit || 'a.u.';
  }

  // ---------------------------------------------------------------- layout

  private paramBlock(p: ParamSpec): HTMLElement {
    const r = this.ranges[p.key];
    const v = p.key === 'convarLambda' ? 0.1 : (this.params[p.key] as number);
    const unit = p.unit === 's' ? 's' : p.unit === 'unit²' ? `${this.unit}²` : p.key === 'lambda' ? this.unit : '';
    const range = h('input', {
      type: 'range',
      id: `${p.id}-range`,
      'data-testid': `${p.id}-range`,
      min: Math.log10(r[0]),
      max: Math.log10(r[1]),
      step: 0.001,
      value: toSlider(v, r),
      'aria-label': `${p.label} (logarithmic slider)`,
      'aria-valuetext': String(v),
    });
    const num = h('input', {
      type: 'number',
      id: p.id,
      'data-testid': p.id,
      min: 0,
      step: 'any',
      value: v,
      'aria-describedby': `${p.id}-help`,
    });
    const setBoth = (x: number) => {
      num.value = String(x);
      range.value = String(toSlider(x, r));
      range.setAttribute('aria-valuetext', String(x));
    };
    range.addEventListener('input', () => {
      const x = fromSlider(Number(range.value));
      num.value = String(x);
      range.setAttribute('aria-valuetext', String(x));
      this.update({ [p.key]: x } as Partial<SolveParams>, p.key);
    });
    // Keys step on the log scale: an arrow ~5 %, Shift + arrow or Page Up/Down ~58 %, Home/End the ends.
    range.addEventListener('keydown', (e) => {
      const next = keyStep(e.key, e.shiftKey, Number(range.value), r);
      if (next === null) return;
      e.preventDefault();
      const x = fromSlider(next);
      setBoth(x);
      this.update({ [p.key]: x } as Partial<SolveParams>, p.key);
    });
    num.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
      e.preventDefault();
      const cur = Number(num.value) || r[0];
      num.value = String(numberStep(cur, e.key === 'ArrowUp', e.shiftKey));
      num.dispatchEvent(new Event('input', { bubbles: true }));
    });
    num.addEventListener('input', () => {
      const x = Number(num.value);
      if (num.value !== '' && Number.isFinite(x) && x > 0) {
        range.value = String(toSlider(x, r));
        range.setAttribute('aria-valuetext', String(x));
      }
      this.update({ [p.key]: num.value === '' ? NaN : x } as Partial<SolveParams>, p.key);
    });
    const rangeText = h(
      'span',
      { class: 'range-ends muted', 'aria-hidden': 'true' },
      h('span', {}, fmt(r[0], 3)),
      h('span', {}, fmt(r[1], 3)),
    );
    const block = h(
      'div',
      { class: 'param', 'data-solvers': p.solvers.join(' ') },
      h('label', { for: p.id, title: p.help }, p.label, unit ? h('span', { class: 'unit' }, ` (${unit})`) : null),
      num,
      range,
      rangeText,
      h('span', { id: `${p.id}-help`, hidden: true }, p.help),
    );
    this.els.inputs.set(p.key, { range, num, block, rangeText });
    return block;
  }

  private render(): void {
    const d = this.o.dataset;
    this.els = { inputs: new Map() } as unknown as Tuner['els'];
    const paramErr = h('p', { class: 'error', role: 'alert', 'data-testid': 'param-error', hidden: true });
    this.els.paramErr = paramErr;
    const paramBlocks = PARAMS.map((p) => this.paramBlock(p));

    const solverSel = h(
      'select',
      { id: 'solver-select', 'data-testid': 'solver-select' },
      ...(['l1', 'l0', 'convar'] as SolverKind[]).map((k) =>
        h('option', { value: k, text: SOLVER_LABELS[k], disabled: !this.available.includes(k) }),
      ),
    );
    solverSel.addEventListener('change', () => this.chooseSolver(solverSel.value as SolverKind));
    const solverNote = h('p', { class: 'muted solver-note', 'data-testid': 'solver-note' });
    const solverWarn = h('p', {
      class: 'warn solver-warn',
      'data-testid': 'solver-warning',
      role: 'status',
      hidden: true,
    });
    const l0Positive = h('input', {
      type: 'checkbox',
      id: 'param-l0-positive',
      'data-testid': 'param-l0-positive',
      checked: this.params.l0Positive,
    });
    l0Positive.addEventListener('change', () => this.update({ l0Positive: l0Positive.checked }, 'l0Positive'));
    const l0Block = h(
      'div',
      { class: 'row', 'data-solvers': 'l0' },
      l0Positive,
      h('label', { for: 'param-l0-positive' }, 'Positive spikes only'),
    );
    const convarAuto = h('input', {
      type: 'checkbox',
      id: 'param-convar-auto',
      'data-testid': 'param-convar-auto',
      checked: true,
    });
    const convarBlock = h(
      'div',
      { class: 'row', 'data-solvers': 'convar' },
      convarAuto,
      h('label', { for: 'param-convar-auto' }, 'Let Convar choose λ'),
    );
    convarAuto.addEventListener('change', () => {
      const c = this.els.inputs.get('convarLambda')!;
      c.num.disabled = c.range.disabled = convarAuto.checked;
      this.update({ convarLambda: convarAuto.checked ? null : Number(c.num.value) }, 'convarAuto');
    });

    const filter = h('input', { type: 'checkbox', id: 'filter-toggle', 'data-testid': 'filter-toggle' });
    filter.addEventListener('change', () => this.update({ filterEnabled: filter.checked }, 'filter'));
    const drift = h('input', { type: 'checkbox', id: 'drift-toggle', 'data-testid': 'drift-toggle' });
    drift.addEventListener('change', () => this.update({ removeDrift: drift.checked }, 'drift'));

    const undo = h(
      'button',
      { type: 'button', 'data-testid': 'undo', disabled: true, title: 'Undo the last parameter change (Ctrl+Z)' },
      '↶ Undo',
    );
    undo.addEventListener('click', () => this.undo());
    const reset = h(
      'button',
      { type: 'button', 'data-testid': 'reset-params', title: 'Back to the default parameters (undoable)' },
      'Reset parameters',
    );
    reset.addEventListener('click', () => this.resetParams());
    const estimateBtn = h(
      'button',
      {
        type: 'button',
        'data-testid': 'estimate-kinetics',
        title: this.estimateTitle(),
      },
      'Estimate from data',
    );
    estimateBtn.addEventListener('click', () => (this.estimating ? this.cancelEstimate() : this.startEstimate()));
    const estimateStatus = h('p', {
      class: 'muted estimate-status',
      'data-testid': 'estimate-status',
      'aria-live': 'polite',
    });
    const estimateWarn = h('ul', { class: 'warn estimate-warnings', 'data-testid': 'estimate-warnings', hidden: true });
    const estimateErr = h('p', { class: 'error', role: 'alert', 'data-testid': 'estimate-error', hidden: true });
    const estimateSlot = h(
      'div',
      { class: 'estimate-slot', 'data-testid': 'estimate-slot' },
      h('div', { class: 'row' }, estimateBtn),
      estimateStatus,
      estimateWarn,
      estimateErr,
    );

    const mode = h(
      'select',
      { id: 'cell-mode', 'data-testid': 'cell-mode', 'aria-label': 'Which cells to show' },
      h('option', { value: 'top', text: 'Most active' }),
      h('option', { value: 'random', text: 'Random' }),
      h('option', { value: 'manual', text: 'Listed' }),
    );
    const count = h('input', {
      type: 'number',
      id: 'cell-count',
      'data-testid': 'cell-count',
      min: 1,
      max: d.matrix.numCells,
      value: Math.min(8, d.matrix.numCells),
      style: 'width:58px',
      'aria-label': 'Number of cells shown',
    });
    const list = h('input', {
      type: 'text',
      id: 'cell-list',
      'data-testid': 'cell-list',
      placeholder: 'e.g. 0, 3-5',
      hidden: true,
      style: 'width:110px',
      'aria-label': 'Cells to show',
    });
    const cols = h(
      'select',
      { id: 'columns-select', 'data-testid': 'columns-select', 'aria-label': 'Columns' },
      ...[1, 2, 3].map((k) => h('option', { value: k, text: `${k} col.`, selected: k === 2 })),
    );
    const cellErr = h('p', { class: 'error', role: 'alert', hidden: true });
    const reselect = () => {
      list.hidden = mode.value !== 'manual';
      count.disabled = mode.value === 'manual';
      this.selectCells();
    };
    mode.addEventListener('change', reselect);
    count.addEventListener('input', reselect);
    list.addEventListener('change', reselect);
    const grid = h('div', { class: 'grid', 'data-testid': 'cell-grid', 'data-zoom': '' });
    cols.addEventListener('change', () => {
      grid.style.setProperty('--cols', cols.value);
      requestAnimationFrame(() => this.resizeCharts());
    });

    const kernelInfo = h('p', { class: 'kernel-info', 'data-testid': 'kernel-info', 'aria-live': 'polite' });
    const kernelEl = h('div', {
      class: 'kernel-plot',
      'data-testid': 'kernel-plot',
      'aria-label': 'Kernel shape: response to one spike against time',
      role: 'img',
    });
    const summary = h('span', { class: 'muted', 'data-testid': 'solve-summary', 'aria-live': 'polite' });
    const resetZoom = h(
      'button',
      { type: 'button', 'data-testid': 'reset-zoom', disabled: true, title: 'Show the whole default time span again' },
      'Reset zoom',
    );
    resetZoom.addEventListener('click', () => {
      this.setView(this.homeView());
      this.notify('Zoom reset.');
    });
    const cellCount = h('span', { class: 'muted', 'data-testid': 'cell-count-label' });
    const metrics = h('dl', { class: 'metrics', 'data-testid': 'metrics-panel', 'aria-live': 'polite' });
    const pin = h(
      'button',
      {
        type: 'button',
        'data-testid': 'pin-button',
        title: 'Keep the current fits as dashed lines to compare with later parameters',
      },
      'Pin fits',
    );
    const unpin = h('button', { type: 'button', 'data-testid': 'unpin-button', disabled: true }, 'Clear pin');
    const pinInfo = h('span', { class: 'muted', 'data-testid': 'pin-info' });
    pin.addEventListener('click', () => this.pinFits());
    unpin.addEventListener('click', () => this.clearPin());
    const legend = h('div', {
      class: 'legend',
      'data-testid': 'legend',
      role: 'group',
      'aria-label': 'Series shown on every card',
    });

    const paramsHelp = helpToggle(
      'parameters',
      'parameters',
      'Pick the solver, then move τ_rise, τ_decay and the sparsity until the orange fit follows the grey trace through each event and the activity below is zero between events.',
      'Sliders are logarithmic; λ and λ₀ span a range scaled to this recording\u2019s noise. Arrow keys step about 5 % (Shift, Page Up/Down: about 58 %), or type an exact value. Ctrl+Z undoes the last change; Reset parameters goes back to the defaults. Estimate from data learns τ_rise and τ_decay from the most active cells (up to 64) and sets λ from their noise, as one undoable change.',
      'Band-pass filter: removes drift slower than the decay and noise faster than the rise (derived from the kernel). Remove slow drift: subtracts a rolling 10th percentile. Both run on the whole trace, as in Python.',
    );
    const kernelHelp = helpToggle(
      'kernel',
      'kernel',
      'The calcium response to one spike that the solver assumes, scaled to peak 1, against the time after the spike. A spike in frame n first shows in frame n + 1.',
      'The plot stops where the kernel has fallen below 1 % of its peak; the solver uses it until 1e-6. L0 and Convar use the AR(1) decay γ shown below.',
    );
    const cardsHelp = helpToggle(
      'cards',
      'cell cards',
      `Upper panel: fluorescence in the data\u2019s unit (${this.unit}): the trace (grey), the model\u2019s fit (orange) and, when on, the filtered trace the model was fitted to. Lower panel: the inferred activity on its own axis, in the same unit: each unit of activity adds a kernel of that peak height. The residual (trace − fit) uses the lower panel\u2019s right-hand axis.`,
      'Badges: SNR is the peak signal-to-noise ratio of the whole trace ((99th percentile − median) / noise); σ is its noise level, read off the power spectrum above a quarter of the sampling rate; r (simulated data) is the correlation with the true spikes. They do not change when you pan.',
      'Drag across a chart, or Ctrl + mouse wheel, to zoom every card; Shift + wheel or the strip above each chart to move; Reset zoom to go back. “≈” marks a window solved on its own, replaced by the whole-trace solution once the controls rest.',
    );
    const metricsHelp = helpToggle(
      'metrics',
      'metrics',
      'Over the cards shown: how many are fresh (solved for the current parameters) and exact (whole-trace solution), the median SNR and noise of their whole traces, the share of shown frames with nonzero activity, convergence, and the solver\u2019s time per card.',
    );

    const windowNote = windowed(this.n)
      ? `Cards show ${fmt(this.homeWidth, 0)} s of the ${fmt((this.n - 1) / d.fs, 0)} s recording; the strip above each chart is the whole of it.`
      : '';
    const sidebar = h(
      'aside',
      { class: 'sidebar' },
      h(
        'section',
        { class: 'card-panel', 'aria-label': 'Parameters', 'data-testid': 'parameters-panel' },
        h('h2', {}, 'Parameters', paramsHelp.button),
        paramsHelp.text,
        h('div', { class: 'solver-row' }, h('label', { for: 'solver-select' }, 'Solver'), solverSel),
        solverNote,
        solverWarn,
        ...paramBlocks,
        l0Block,
        convarBlock,
        paramErr,
        h(
          'div',
          { class: 'row checks' },
          filter,
          h(
            'label',
            { for: 'filter-toggle', title: 'Kernel-derived band-pass, on the whole trace' },
            'Band-pass filter',
          ),
          drift,
          h(
            'label',
            { for: 'drift-toggle', title: 'Subtract a rolling 10th percentile over max(15 τ_decay, 10 s)' },
            'Remove slow drift',
          ),
        ),
        h('div', { class: 'row' }, undo, reset),
        estimateSlot,
        h('p', { class: 'muted' }, `Sampling rate ${d.fs} Hz.`),
      ),
      h(
        'section',
        { class: 'card-panel', 'aria-label': 'Kernel', 'data-testid': 'kernel-panel' },
        h('h2', {}, 'Kernel', kernelHelp.button),
        kernelHelp.text,
        kernelEl,
        kernelInfo,
      ),
    );
    const bar = h(
      'section',
      { class: 'card-panel cellbar', 'aria-label': 'Cells and metrics', 'data-testid': 'cells-panel' },
      h(
        'div',
        { class: 'row' },
        h('h2', {}, 'Cells', cardsHelp.button),
        h('label', { for: 'cell-mode' }, 'Show'),
        mode,
        count,
        list,
        cols,
        cellCount,
        cellErr,
        h('span', { class: 'spacer' }),
        resetZoom,
        pin,
        unpin,
      ),
      cardsHelp.text,
      h(
        'div',
        { class: 'row' },
        h('span', { class: 'metrics-title' }, 'Metrics', metricsHelp.button),
        metrics,
        h('span', { class: 'spacer' }),
        summary,
      ),
      metricsHelp.text,
      h('div', { class: 'row' }, legend),
      h(
        'div',
        { class: 'row', hidden: !windowNote },
        pinInfo,
        windowNote ? h('span', { class: 'muted' }, windowNote) : null,
      ),
    );
    this.o.root.replaceChildren(
      h('div', { class: 'tune' }, sidebar, h('section', { class: 'main', 'aria-label': 'Cell traces' }, bar, grid)),
    );
    this.ro.observe(grid);
    Object.assign(this.els, {
      grid,
      summary,
      kernelInfo,
      kernelEl,
      cellCount,
      cellErr,
      metrics,
      pinInfo,
      pin,
      unpin,
      resetZoom,
      solverSel,
      l0Positive,
      l0Block,
      convarAuto,
      convarBlock,
      solverNote,
      solverWarn,
      filter,
      drift,
      undo,
      reset,
      legend,
      estimateSlot,
      estimateBtn,
      estimateStatus,
      estimateWarn,
      estimateErr,
    });
    const cv = this.els.inputs.get('convarLambda')!;
    cv.num.disabled = cv.range.disabled = true;
    this.cellInputs = { mode, count, list, cols };
    this.renderLegend();
    this.showSolverControls();
    this.refreshKernel();
  }

  /** The legend above the grid: one toggle per series, grouped by the panel and axis it is drawn on. */
  private renderLegend(): void {
    const c = palette(this.o.theme());
    const truth = !!this.o.dataset.truth;
    const pre = this.params.filterEnabled || this.params.removeDrift;
    const item = (label: string, color: string, dash: boolean, note: string, enabled = true) => {
      const on = this.shownSeries.has(label);
      const b = h(
        'button',
        {
          type: 'button',
          class: `legend-item${dash ? ' dash' : ''}`,
          'data-testid': `legend-${label.replace(/\s+/g, '-')}`,
          'aria-pressed': String(on),
          title: `${on ? 'Hide' : 'Show'} ${label} (${note})`,
          disabled: !enabled,
        },
        h('span', { class: 'swatch', style: `--c:${color}` }),
        label,
      );
      b.addEventListener('click', () => this.toggleSeries(label, !this.shownSeries.has(label)));
      return b;
    };
    this.els.legend.replaceChildren(
      ...[
        h('span', { class: 'legend-group' }, `Upper panel, F (${this.unit}):`),
        item('raw', c.raw, false, 'upper panel'),
        item('filtered', c.filtered, false, 'upper panel; when a filter is on', pre),
        item('fit', c.fit, false, 'upper panel'),
        this.pinned ? item('pinned fit', c.pinned, true, 'upper panel') : null,
        truth ? item('true calcium', c.truth, true, 'upper panel') : null,
        h('span', { class: 'legend-group' }, 'Lower panel:'),
        item('activity', c.activity, false, 'lower panel, left axis'),
        truth ? item('true spikes', c.truth, false, 'lower panel, dots') : null,
        item('residual', c.residual, false, 'lower panel, right axis'),
      ].filter((x): x is HTMLElement => x !== null),
    );
  }

  private toggleSeries(label: string, show: boolean): void {
    if (show) this.shownSeries.add(label);
    else this.shownSeries.delete(label);
    for (const c of this.cards.values()) c.chart?.setShown(label, show);
    this.renderLegend();
  }

  private setAvailable(solvers: SolverKind[]): void {
    this.available = solvers;
    for (const opt of this.els.solverSel.options) {
      const ok = solvers.includes(opt.value as SolverKind);
      opt.disabled = !ok;
      opt.title = ok ? '' : 'Not in this build of the solver module';
    }
    this.els.solverSel.dataset.available = solvers.join(' ');
  }

  /** Changes the solver and nothing else: every other setting stays as the user left it. */
  private chooseSolver(kind: SolverKind): void {
    this.update({ solver: kind }, 'solver');
    this.showSolverControls();
  }

  private showSolverControls(): void {
    const s = this.params.solver;
    for (const el of this.o.root.querySelectorAll<HTMLElement>('[data-solvers]'))
      el.hidden = !el.dataset.solvers!.split(' ').includes(s);
    this.els.solverNote.textContent = SOLVER_NOTES[s];
    this.els.solverSel.value = s;
    this.refreshSolverWarning();
  }

  /** L0 has no baseline term: on raw fluorescence it needs drift removal or the band-pass; say so, change nothing. */
  private refreshSolverWarning(): void {
    const p = this.params;
    const w = this.els.solverWarn;
    if (p.solver === 'l0' && !p.filterEnabled && !p.removeDrift) {
      w.textContent =
        'L0 fits no baseline: on raw fluorescence, tick “Remove slow drift” (or the band-pass filter), or the first frames will be explained by one large spike.';
      w.hidden = false;
    } else if (p.solver === 'convar' && this.n > 20_000) {
      w.textContent = `Convar on ${this.n} frames can take many seconds per card.`;
      w.hidden = false;
    } else w.hidden = true;
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
        if (list.value.trim() !== '') {
          this.els.cellErr.textContent = typeof parsed === 'string' ? parsed : 'No cells listed.';
          this.els.cellErr.hidden = false;
        }
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
        this.io.unobserve(card.el);
        card.chart?.destroy();
        card.spectrumChart?.destroy();
        card.el.remove();
        this.cards.delete(cell);
        this.pool.cancel(String(cell));
        this.pool.cancel(`${cell}:full`);
      }
    }
    this.shown = cells;
    for (const cell of cells) if (!this.cards.has(cell)) this.cards.set(cell, this.makeCard(cell));
    this.els.grid.replaceChildren(...cells.map((c) => this.cards.get(c)!.el));
    for (const c of cells) this.ensureChart(this.cards.get(c)!);
    this.els.cellCount.textContent = `${cells.length} of ${this.o.dataset.matrix.numCells} cells`;
    if (this.spectrumCell !== null && !keep.has(this.spectrumCell)) this.spectrumCell = null;
    this.refreshAll();
  }

  private makeCard(cell: number): Card {
    const id = this.o.dataset.cellIds?.[cell];
    const statusEl = h('span', { class: 'badge status', 'data-s': 'stale', 'data-testid': 'card-status' }, 'stale');
    const exactEl = h(
      'span',
      {
        class: 'badge approx',
        'data-testid': 'card-exact',
        title:
          'Window solved on its own (its own baseline); the whole-trace solution replaces it when the controls rest',
        hidden: true,
      },
      '≈',
    );
    const snrEl = h(
      'span',
      {
        class: 'badge',
        'data-testid': 'card-snr',
        title: 'Peak signal-to-noise ratio of the whole trace: (99th percentile − median) / noise σ',
      },
      'SNR –',
    );
    const noiseEl = h(
      'span',
      {
        class: 'badge',
        'data-testid': 'card-noise',
        title: `Noise level σ of the whole trace (${this.unit}), from its power spectrum`,
      },
      'σ –',
    );
    const truthEl = h(
      'span',
      {
        class: 'badge',
        'data-testid': 'card-truth-r',
        title:
          'Correlation of the activity with the true spikes (both smoothed, 100 ms), over the whole trace once it is solved',
        hidden: !this.o.dataset.truth,
      },
      'r –',
    );
    const inspectBtn = h(
      'button',
      {
        type: 'button',
        class: 'small',
        'data-testid': 'inspect-button',
        'aria-pressed': 'false',
        'aria-label': `Show the power spectrum of cell ${cell}`,
      },
      'Spectrum',
    );
    inspectBtn.addEventListener('click', () => this.inspect(cell));
    const statsEl = h('span', { class: 'stats', 'data-testid': 'card-stats' });
    const errEl = h('p', { class: 'err-msg', role: 'alert', hidden: true });
    const chartEl = h('div', {
      class: 'chart',
      role: 'img',
      'aria-label': `Fluorescence, fit and activity of cell ${cell}; drag or Ctrl + wheel to zoom`,
    });
    const spectrumBox = h('div', {
      class: 'spectrum',
      'data-testid': 'spectrum-panel',
      hidden: true,
      role: 'img',
      'aria-label': `Power spectrum of cell ${cell} with the band-pass cutoffs`,
    });
    const overview = new Overview({
      raw: row(this.o.dataset.matrix, cell),
      fs: this.o.dataset.fs,
      theme: this.o.theme(),
      label: `Cell ${cell}`,
      onPan: (t) => this.setView(panTo(this.view, t, this.n, this.o.dataset.fs)),
      onStep: (dir) => {
        const w = this.view[1] - this.view[0];
        this.setView(panTo(this.view, (this.view[0] + this.view[1]) / 2 + dir * w, this.n, this.o.dataset.fs));
      },
    });
    overview.setView(this.view, null);
    const el = h(
      'article',
      {
        class: 'cell-card',
        'data-testid': 'cell-card',
        'data-cell-index': cell,
        'data-status': 'stale',
        'data-exact': 'false',
        'aria-label': `Cell ${cell}`,
      },
      h(
        'header',
        {},
        h('span', { class: 'title' }, `Cell ${cell}${id !== undefined && id !== cell ? ` (${id})` : ''}`),
        statusEl,
        exactEl,
        snrEl,
        noiseEl,
        truthEl,
        inspectBtn,
        statsEl,
      ),
      errEl,
      overview.el,
      chartEl,
      spectrumBox,
    );
    chartEl.addEventListener('wheel', (e) => this.wheel(e, chartEl), { passive: false });
    this.io.observe(el);
    return {
      cell,
      el,
      chartEl,
      chart: null,
      overview,
      statusEl,
      exactEl,
      snrEl,
      noiseEl,
      truthEl,
      statsEl,
      errEl,
      inspectBtn,
      spectrumBox,
      spectrumChart: null,
      visible: true,
      width: 0,
    };
  }

  private chartWidth(card: Card): number {
    if (!card.width) card.width = Math.max(200, Math.floor(card.el.clientWidth - 18) || 480);
    return card.width;
  }

  private ensureChart(card: Card): void {
    if (card.chart) return;
    const d = this.o.dataset;
    const shown = new Set(this.shownSeries);
    if (!this.pinned?.fits.has(card.cell)) shown.delete('pinned fit');
    card.chart = new TraceChart(card.chartEl, {
      width: this.chartWidth(card),
      height: CHART_HEIGHT,
      fs: d.fs,
      theme: this.o.theme(),
      hasTruth: !!d.truth,
      shown,
      syncKey: 'catune',
      unit: this.unit,
      activityTitle: this.unit.length <= 6 ? `activity (${this.unit})` : 'activity',
    });
    card.chart.onXScale((u) => this.onXScale(u));
    card.overview.resize(this.chartWidth(card));
    card.drawn = undefined;
    this.drawCard(card);
  }

  /** Ctrl (or ⌘) + wheel zooms around the pointer; Shift + wheel, or a sideways swipe, pans. Plain wheel scrolls the page. */
  private wheel(e: WheelEvent, el: HTMLElement): void {
    const zoom = e.ctrlKey || e.metaKey;
    const pan = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (!zoom && !pan) return;
    e.preventDefault();
    const over = el.querySelector('.u-over') as HTMLElement | null;
    const r = (over ?? el).getBoundingClientRect();
    const [t0, t1] = this.view;
    const w = t1 - t0;
    const end = (this.n - 1) / this.o.dataset.fs;
    if (zoom) {
      const f = Math.min(1, Math.max(0, (e.clientX - r.left) / Math.max(1, r.width)));
      const at = t0 + f * w;
      const k = e.deltaY > 0 ? WHEEL_ZOOM : 1 / WHEEL_ZOOM;
      const nw = Math.min(end, Math.max(10 / this.o.dataset.fs, w * k));
      let a = at - f * nw;
      a = Math.max(0, Math.min(end - nw, a));
      this.setView([a, a + nw]);
    } else {
      const d = (Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY) > 0 ? 0.2 : -0.2;
      this.setView(panTo(this.view, (t0 + t1) / 2 + d * w, this.n, this.o.dataset.fs));
    }
  }

  // ---------------------------------------------------------------- what each card shows

  /** What the scheduler's decisions depend on (schedule.ts): parameters, samples shown, recording, margin. */
  private scene(): Scene {
    return {
      params: this.params,
      want: viewSamples(this.view, this.o.dataset.fs, this.n),
      n: this.n,
      margin: this.margin,
    };
  }

  private solutionFor(card: Card): Solution | null {
    return solutionFor(card, this.scene());
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
   * is already on its way (planRefresh). Bursts of input events coalesce in the pool: a newer job for a
   * card replaces its queued one, and results of superseded running jobs are dropped.
   */
  private refreshCard(card: Card): void {
    const plan = planRefresh(card, this.scene(), card.cell === this.spectrumCell);
    if (plan.cancelPending) {
      this.pool.cancel(String(card.cell));
      card.pending = undefined;
    }
    if (plan.draw) {
      this.drawCard(card);
      if (card.el.dataset.status !== 'fresh') this.setStatus(card.cell, 'fresh');
    }
    if (plan.stale) this.setStatus(card.cell, 'stale');
    if (plan.solve) this.submitWindow(card, plan.solve.wantSpectrum);
  }

  private submitWindow(card: Card, wantSpectrum: boolean): void {
    const sc = this.scene();
    const range = windowRange(sc);
    card.pending = { params: { ...this.params }, range };
    this.pool.submit({
      cell: card.cell,
      key: String(card.cell),
      trace: row(this.o.dataset.matrix, card.cell),
      range,
      params: { ...this.params },
      priority: this.priorityOf(card.cell),
      wantSpectrum,
      wantStats: needsStats(card, sc),
    });
  }

  /**
   * Once every shown card is fresh and the controls have rested, solve whole traces in the background
   * (exact numbers, the overview fit, any later pan for free). Waiting for the cards keeps the workers free
   * while someone is dragging a slider.
   */
  private scheduleBackground(): void {
    if (this.bgTimer) {
      clearTimeout(this.bgTimer);
      this.bgTimer = null;
    }
    if (
      !backgroundDue(
        this.shown.map((c) => this.cards.get(c)?.el.dataset.status ?? ''),
        this.n,
      )
    )
      return;
    this.bgTimer = setTimeout(() => {
      this.bgTimer = null;
      for (const c of backgroundCells(
        this.shown.map((c) => this.cards.get(c)!),
        this.scene(),
      )) {
        const card = this.cards.get(c)!;
        this.pool.submit({
          cell: c,
          key: `${c}:full`,
          trace: row(this.o.dataset.matrix, c),
          params: { ...this.params },
          priority: backgroundPriority(this.shown.indexOf(c), card.visible),
          background: true,
        });
      }
    }, BACKGROUND_DELAY_MS);
  }

  /**
   * Shows the card's solution for the current parameters and view. Cards off screen only take the numbers
   * (status, badges) and draw when they scroll into view, so a change redraws just what can be seen.
   */
  private drawCard(card: Card, force = false): void {
    if (!card.chart) return;
    const d = this.o.dataset;
    const sol = this.solutionFor(card) ?? undefined;
    card.current = sol;
    if (!card.visible && !force) {
      card.dirty = true;
      this.cardMetrics(card);
      return;
    }
    card.dirty = false;
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
      // One redraw per panel for the new data and the view, not one each.
      chart.batch(() => {
        chart.setData(
          {
            raw,
            filtered: cut(sol?.fitted, sol?.range ?? [0, 0]),
            fit: cut(sol?.reconvolution, sol?.range ?? [0, 0]),
            activity: cut(sol?.activity, sol?.range ?? [0, 0]),
            truthCalcium: d.truth
              ? offset(d.truth.calcium[card.cell].subarray(range[0], range[1]), sol ? sol.baseline : medianOf(raw))
              : undefined,
            truthSpikes: d.truth?.spikes[card.cell].subarray(range[0], range[1]),
            pinnedFit:
              pin && covers(pin.range, range)
                ? pin.fit.subarray(range[0] - pin.range[0], range[1] - pin.range[0])
                : undefined,
          },
          range[0],
          Math.max(600, 2 * this.chartWidth(card)),
        );
        chart.setView(this.view[0], this.view[1]);
      });
    } finally {
      this.syncing = false;
    }
    card.drawn = sol ? { sol, range } : undefined;
    // The strip shows the whole-trace fit of long recordings (short ones show it in full below anyway).
    if (windowed(this.n))
      card.overview.setFit(card.full && paramsEqual(card.full.params, this.params) ? card.full.reconvolution : null);
    card.overview.setView(this.view, sol && !sol.exact ? sol.range : null);
    this.cardMetrics(card);
  }

  private applyView(card: Card): void {
    if (!card.chart) return;
    this.syncing = true;
    try {
      card.chart.setView(this.view[0], this.view[1]);
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
    const zoomed = Math.abs(v[1] - v[0] - (home[1] - home[0])) > 1e-6;
    this.els.grid.dataset.zoom = zoomed ? v.map((x) => x.toFixed(2)).join('-') : '';
    this.els.grid.dataset.view = v.map((x) => x.toFixed(2)).join('-');
    this.els.resetZoom.disabled = !zoomed;
    for (const c of this.cards.values()) c.overview.setView(v, c.current && !c.current.exact ? c.current.range : null);
    this.refreshAll();
  }

  private resizeCharts(): void {
    for (const c of this.cards.values()) c.width = 0;
    for (const c of this.cards.values()) {
      c.chart?.resize(this.chartWidth(c), CHART_HEIGHT);
      c.spectrumChart?.resize(this.chartWidth(c), SPECTRUM_HEIGHT);
      c.overview.resize(this.chartWidth(c));
    }
  }

  rebuildCharts(): void {
    for (const c of this.cards.values()) {
      c.chart?.destroy();
      c.chart = null;
      this.ensureChart(c);
      if (c.spectrumChart) {
        c.spectrumChart.destroy();
        c.spectrumChart = null;
        c.spectrumBox.replaceChildren();
        this.openSpectrum(c);
      }
    }
    this.renderLegend();
    this.kernelChart?.destroy();
    this.kernelChart = null;
    this.refreshKernel();
  }

  // ---------------------------------------------------------------- pin, spectrum, metrics

  private pinFits(): void {
    const fits = new Map<number, { range: Range; fit: Float32Array }>();
    for (const c of this.cards.values())
      if (c.current) fits.set(c.cell, { range: c.current.range, fit: c.current.reconvolution.slice() });
    if (fits.size === 0) {
      this.notify('Nothing to pin yet: wait until the cards are solved.');
      return;
    }
    this.pinned = { fits, label: this.paramLabel() };
    this.els.pinInfo.textContent = `Pinned (dashed pink): ${this.pinned.label}`;
    (this.els.pinInfo.parentElement as HTMLElement).hidden = false;
    this.els.unpin.disabled = false;
    this.shownSeries.add('pinned fit');
    for (const c of this.cards.values()) {
      c.drawn = undefined;
      this.drawCard(c);
      c.chart?.setShown('pinned fit', fits.has(c.cell));
    }
    this.renderLegend();
    this.notify(`Pinned the fits of ${fits.size} cards.`);
  }

  private paramLabel(): string {
    const p = this.params;
    const f = p.filterEnabled ? ', filtered' : '';
    if (p.solver === 'l0')
      return `L0, τ_decay ${p.tauDecay} s, λ₀ ${p.l0Lambda}${p.l0Positive ? ', positive' : ''}${f}`;
    if (p.solver === 'convar') return `Convar, τ_decay ${p.tauDecay} s, λ ${p.convarLambda ?? 'auto'}${f}`;
    return `τ_rise ${p.tauRise} s, τ_decay ${p.tauDecay} s, λ ${p.lambda}${f}`;
  }

  private clearPin(): void {
    this.pinned = null;
    this.els.pinInfo.textContent = '';
    (this.els.pinInfo.parentElement as HTMLElement).hidden = !windowed(this.n);
    this.els.unpin.disabled = true;
    this.shownSeries.delete('pinned fit');
    for (const c of this.cards.values()) {
      c.chart?.setShown('pinned fit', false);
      c.drawn = undefined;
      this.drawCard(c);
    }
    this.renderLegend();
    this.notify('Pin cleared.');
  }

  /** Opens the spectrum of `cell` under its chart (closing any other), or closes it when it is open. */
  private inspect(cell: number): void {
    const card = this.cards.get(cell);
    if (!card) return;
    const closing = this.spectrumCell === cell;
    if (this.spectrumCell !== null) {
      const prev = this.cards.get(this.spectrumCell);
      if (prev) this.closeSpectrum(prev);
    }
    this.spectrumCell = closing ? null : cell;
    if (closing) return;
    this.openSpectrum(card);
    card.spectrumBox.scrollIntoView({ block: 'nearest' });
    const s = card.current;
    if (s?.spectrum && spectrumCurrent(card, this.scene())) this.showSpectrum(card, s);
    else this.submitWindow(card, true);
  }

  private openSpectrum(card: Card): void {
    card.spectrumBox.hidden = false;
    card.inspectBtn.setAttribute('aria-pressed', 'true');
    card.inspectBtn.textContent = 'Hide spectrum';
    if (!card.spectrumChart) {
      const help = helpToggle(
        `spectrum-${card.cell}`,
        'spectrum',
        'Power of the whole fitted trace against frequency (log axis), in dB relative to its strongest band. Calcium transients put their power at low frequencies; noise is the flat floor on the right (grey line: the noise level σ² used for the SNR).',
        'Dashed lines: the band-pass cutoffs the kernel implies (applied only with “Band-pass filter” on). A good kernel has the low-pass cutoff where the signal meets the noise floor.',
      );
      help.button.dataset.testid = 'help-spectrum';
      help.text.dataset.testid = 'help-spectrum-text';
      const title = h(
        'div',
        { class: 'spectrum-title', 'data-testid': 'spectrum-title' },
        `Spectrum of cell ${card.cell}`,
        help.button,
      );
      const plot = h('div', {});
      card.spectrumBox.replaceChildren(title, help.text, plot);
      card.spectrumChart = new SpectrumChart(plot, this.o.theme(), this.chartWidth(card), SPECTRUM_HEIGHT);
      if (card.current?.spectrum) this.showSpectrum(card, card.current);
    }
  }

  private closeSpectrum(card: Card): void {
    card.spectrumBox.hidden = true;
    card.inspectBtn.setAttribute('aria-pressed', 'false');
    card.inspectBtn.textContent = 'Spectrum';
    card.spectrumChart?.destroy();
    card.spectrumChart = null;
    card.spectrumBox.replaceChildren();
  }

  private showSpectrum(card: Card, r: SolveResult): void {
    if (!r.spectrum || !card.spectrumChart) return;
    const noise = card.stats?.stats.noise;
    card.spectrumChart.setData(
      r.spectrum.freqs,
      r.spectrum.power,
      Array.from(r.spectrum.cutoffs),
      noise ? noise * noise : undefined,
    );
    card.spectrumBox.dataset.cell = String(r.cell);
    card.spectrumBox.title = `Band-pass ${fmt(r.spectrum.cutoffs[0], 3)}–${fmt(r.spectrum.cutoffs[1], 3)} Hz${this.params.filterEnabled ? ' (applied)' : ' (not applied)'}`;
  }

  /**
   * Card numbers. SNR and noise are the whole trace's (from the worker); r against the truth covers the
   * whole solution (all of the trace once exact); the activity sums cover the samples shown.
   */
  private cardMetrics(card: Card): void {
    const sol = card.current;
    if (!sol) return;
    const [lo, hi] = viewSamples(this.view, this.o.dataset.fs, this.n);
    const a = Math.max(lo, sol.range[0]);
    const b = Math.min(hi, sol.range[1]);
    const act = sol.activity.subarray(a - sol.range[0], b - sol.range[0]);
    let sum = 0;
    let events = 0;
    for (let i = 0; i < act.length; i++) {
      sum += act[i];
      if (act[i] > 0) events++;
    }
    const st = card.stats?.stats;
    setText(card.snrEl, `SNR ${st ? fmt(st.snr, 1) : '–'}`);
    setText(card.noiseEl, `σ ${st ? fmt(st.noise, 3) : '–'}`);
    const truth = this.o.dataset.truth;
    if (truth && card.truthSol !== sol) {
      card.truthSol = sol;
      let r = this.truthR.get(sol);
      if (r === undefined) {
        const [va, vb] = sol.valid;
        card.smoothTruth ??= gaussianSmooth(truth.spikes[card.cell], 0.1 * this.o.dataset.fs);
        r = smoothedCorrelation(
          sol.activity.subarray(va - sol.range[0], vb - sol.range[0]),
          card.smoothTruth.subarray(va, vb),
          this.o.dataset.fs,
        );
        this.truthR.set(sol, r);
      }
      card.truthR = r;
      setText(card.truthEl, `r ${fmt(card.truthR, 2)}${sol.exact ? '' : ' ≈'}`);
    }
    const extra = sol.extra
      ? Object.entries(sol.extra)
          .filter(([k]) => k !== 'gamma')
          .map(([k, v]) => ` · ${k} ${fmt(v, 4)}`)
          .join('')
      : '';
    setText(
      card.statsEl,
      `shown: Σ activity ${fmt(sum, 3)} · ${events} nonzero frames · baseline ${fmt(sol.baseline, 4)}${extra} · ${sol.iterations} it · ${Math.round(sol.solveMs)} ms`,
    );
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
    ds.snr = st ? String(st.snr) : '';
    ds.noise = st ? String(st.noise) : '';
    card.exactEl.hidden = sol.exact;
  }

  private refreshMetricsNow(): void {
    const cards = this.shown.map((c) => this.cards.get(c)!).filter((c) => c.current && c.el.dataset.status === 'fresh');
    const rows: [string, string][] = [];
    if (cards.length) {
      if (windowed(this.n)) rows.push(['Exact', `${cards.filter((c) => c.current!.exact).length}/${cards.length}`]);
      rows.push(['Median SNR', fmt(median(cards.map((c) => c.stats?.stats.snr ?? NaN)), 2)]);
      rows.push(['Median σ', `${fmt(median(cards.map((c) => c.stats?.stats.noise ?? NaN)), 3)} ${this.unit}`]);
      if (this.o.dataset.truth) rows.push(['Median r vs truth', fmt(median(cards.map((c) => c.truthR ?? NaN)), 3)]);
      const [lo, hi] = viewSamples(this.view, this.o.dataset.fs, this.n);
      let nz = 0;
      let total = 0;
      for (const c of cards) {
        const s = c.current!;
        const a = s.activity.subarray(Math.max(lo, s.range[0]) - s.range[0], Math.min(hi, s.range[1]) - s.range[0]);
        for (const v of a) if (v > 0) nz++;
        total += a.length;
      }
      rows.push(['Active frames', `${fmt((100 * nz) / Math.max(1, total), 2)} % shown`]);
      rows.push(['Converged', `${cards.filter((c) => c.current!.converged).length}/${cards.length}`]);
      rows.push(['Solve', `${fmt(cards.reduce((a, c) => a + c.current!.solveMs, 0) / cards.length, 1)} ms/card`]);
    }
    this.els.metrics.replaceChildren(...rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  }

  // ---------------------------------------------------------------- parameters and solving

  private validate(p: SolveParams): string | null {
    if (!(p.tauRise > 0)) return 'τ_rise must be a positive number of seconds.';
    if (!(p.tauDecay > 0)) return 'τ_decay must be a positive number of seconds.';
    if (!(p.tauRise < p.tauDecay)) return `τ_rise (${p.tauRise} s) must be smaller than τ_decay (${p.tauDecay} s).`;
    if (!(p.lambda >= 0) || !Number.isFinite(p.lambda)) return 'λ must be zero or a positive number.';
    if (!(p.l0Lambda >= 0) || !Number.isFinite(p.l0Lambda)) return 'λ₀ must be zero or a positive number.';
    if (p.convarLambda !== null && (!(p.convarLambda >= 0) || !Number.isFinite(p.convarLambda)))
      return 'Convar λ must be zero or a positive number.';
    try {
      this.o.calab.kernel_shape(p.tauRise, p.tauDecay, p.fs);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return null;
  }

  /** Applies a change from control `key`; recorded for Undo (a drag of one control is one step). */
  private update(change: Partial<SolveParams>, key: string): void {
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
    this.history.record(this.params, key, performance.now());
    this.apply(next);
  }

  /** Makes `next` the current parameters and re-solves what they change. */
  private apply(next: SolveParams): void {
    const filterChanged =
      next.filterEnabled !== this.params.filterEnabled || next.removeDrift !== this.params.removeDrift;
    const kernelChanged = !sameKernel(next, this.params) || next.solver !== this.params.solver;
    this.params = next;
    if (filterChanged) {
      // The filtered trace appears with the preprocessing (and the legend says so); the user may hide it again.
      const pre = next.filterEnabled || next.removeDrift;
      if (pre) this.shownSeries.add('filtered');
      else this.shownSeries.delete('filtered');
      for (const c of this.cards.values()) c.chart?.setShown('filtered', pre);
      this.renderLegend();
    }
    // Whole-trace solves for older parameters are of no use now.
    for (const c of this.shown) this.pool.cancel(`${c}:full`);
    if (kernelChanged) this.margin = this.o.calab.build_kernel(next.tauRise, next.tauDecay, next.fs).length;
    // The workers get their jobs first; the kernel plot and the panels are drawn while they solve.
    this.refreshAll();
    if (kernelChanged) this.refreshKernel();
    this.refreshSolverWarning();
    this.els.undo.disabled = this.history.size === 0;
  }

  /** Puts every control back in line with the current parameters (after Undo or Reset). */
  private syncControls(): void {
    const p = this.params;
    for (const spec of PARAMS) {
      const inp = this.els.inputs.get(spec.key)!;
      const v = p[spec.key];
      if (v === null) continue;
      inp.num.value = String(v);
      inp.range.value = String(toSlider(v, this.ranges[spec.key]));
      inp.range.setAttribute('aria-valuetext', String(v));
      inp.num.classList.remove('invalid');
    }
    const cv = this.els.inputs.get('convarLambda')!;
    this.els.convarAuto.checked = p.convarLambda === null;
    cv.num.disabled = cv.range.disabled = p.convarLambda === null;
    this.els.l0Positive.checked = p.l0Positive;
    this.els.filter.checked = p.filterEnabled;
    this.els.drift.checked = p.removeDrift;
    this.els.paramErr.hidden = true;
    this.showSolverControls();
  }

  undo(): void {
    const prev = this.history.undo();
    if (!prev) {
      this.notify('Nothing to undo.');
      return;
    }
    const what = describeChange(this.params, prev);
    this.apply(prev);
    this.syncControls();
    this.notify(`Undone: ${what}.`);
  }

  private resetParams(): void {
    const next = defaultParams(this.params.fs, this.params.solver);
    if (paramsEqual(next, this.params)) {
      this.notify('The parameters are already the defaults.');
      return;
    }
    this.applyStep(next, 'reset', (what) => `Reset to the defaults (${what}); Undo goes back.`);
  }

  /** Applies `next` as one undoable step of its own (Reset, Estimate from data) and says what changed. */
  private applyStep(next: SolveParams, key: string, say: (what: string) => string): void {
    this.history.cut();
    this.history.record(this.params, key, performance.now());
    this.history.cut();
    const what = describeChange(this.params, next);
    this.apply(next);
    this.syncControls();
    this.notify(say(what));
  }

  // ---------------------------------------------------------------- estimate from data

  /**
   * "Estimate from data": learns the kinetics of the most active cells (at most ESTIMATE_MAX_CELLS) in a
   * worker of its own, so the cards keep solving, then sets τ_rise, τ_decay and λ (the median noise-based λ
   * of those cells) as one undoable change. Clicking again while it runs cancels it.
   */
  private startEstimate(): void {
    const d = this.o.dataset;
    const cells = estimateCells(this.ranking);
    const nTime = d.matrix.numTimepoints;
    const traces = new Float32Array(cells.length * nTime);
    cells.forEach((c, i) => traces.set(row(d.matrix, c), i * nTime));
    const jobId = ++this.estimateJobs;
    const req: EstimateRequest = {
      type: 'estimate',
      jobId,
      traces,
      nCells: cells.length,
      nTime,
      fs: d.fs,
      filterEnabled: this.params.filterEnabled,
      removeDrift: this.params.removeDrift,
    };
    let worker: Worker;
    try {
      worker = this.o.createWorker();
    } catch (e) {
      this.estimateFailed(`could not start a worker: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const started = performance.now();
    const timer = setInterval(() => this.showEstimateBusy(), 500);
    this.estimating = { worker, req, started, stage: 'starting the solver', timer };
    const { estimateBtn, estimateErr, estimateWarn } = this.els;
    estimateBtn.textContent = 'Cancel estimate';
    estimateBtn.setAttribute('aria-busy', 'true');
    estimateBtn.title = 'Stop the estimate; the parameters stay as they are';
    estimateErr.hidden = true;
    estimateWarn.hidden = true;
    for (const k of ['tauRise', 'tauDecay', 'lambda']) delete this.els.estimateStatus.dataset[k];
    this.showEstimateBusy();
    worker.onmessage = (ev: MessageEvent<WorkerResponse | EstimateResponse>) => {
      const msg = ev.data;
      if (this.estimating?.req.jobId !== jobId) return;
      if (msg.type === 'ready') worker.postMessage(req, [traces.buffer]);
      else if (msg.type === 'init-error') this.estimateFailed(msg.message);
      else if (msg.type === 'estimate-progress') {
        this.estimating.stage = msg.stage;
        this.showEstimateBusy();
      } else if (msg.type === 'estimate-error') this.estimateFailed(`${msg.message} (${msg.code})`);
      else if (msg.type === 'estimate-result') this.applyEstimate(msg);
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      if (this.estimating?.req.jobId === jobId)
        this.estimateFailed(`the worker stopped: ${ev.message || 'worker error'}`);
    };
  }

  private showEstimateBusy(): void {
    const e = this.estimating;
    if (!e) return;
    const s = (performance.now() - e.started) / 1000;
    setText(this.els.estimateStatus, `Estimating: ${e.stage}… ${s.toFixed(0)} s`);
  }

  /** Terminates the running estimate, if any, and puts the button back. */
  private stopEstimate(): void {
    const e = this.estimating;
    if (!e) return;
    this.estimating = null;
    clearInterval(e.timer);
    e.worker.onmessage = null;
    e.worker.onerror = null;
    e.worker.terminate();
    const b = this.els.estimateBtn;
    b.textContent = 'Estimate from data';
    b.removeAttribute('aria-busy');
    b.title = this.estimateTitle();
  }

  private estimateTitle(): string {
    const total = this.o.dataset.matrix.numCells;
    const k = estimateCells(this.ranking).length;
    const from = k < total ? `the ${k} most active of the ${total} cells` : `all ${total} cells`;
    return `Learn τ_rise and τ_decay from ${from} and choose λ from their noise (undoable)`;
  }

  private cancelEstimate(): void {
    this.stopEstimate();
    setText(this.els.estimateStatus, 'Estimate cancelled; the parameters are unchanged.');
  }

  private estimateFailed(message: string): void {
    this.stopEstimate();
    setText(this.els.estimateStatus, '');
    const err = this.els.estimateErr;
    err.textContent = `Estimate from data failed: ${message}`;
    err.hidden = false;
  }

  /** Sets the estimated τ_rise, τ_decay and λ as one undoable step, and says what was learned and any warnings. */
  private applyEstimate(r: EstimateResult): void {
    const req = this.estimating?.req;
    this.stopEstimate();
    // λ follows the noise of the preprocessed traces: say so when the preprocessing changed while it ran.
    const stalePre =
      !!req && (req.filterEnabled !== this.params.filterEnabled || req.removeDrift !== this.params.removeDrift);
    const next = { ...this.params, tauRise: r.tauRise, tauDecay: r.tauDecay, lambda: r.lambda };
    const err = this.validate(next);
    if (err) {
      this.estimateFailed(`the estimate is not usable: ${err}`);
      return;
    }
    const { estimateStatus, estimateWarn } = this.els;
    setText(
      estimateStatus,
      estimateSummary(r, this.o.dataset.matrix.numCells, this.unit) +
        (stalePre
          ? ` λ is for band-pass ${req!.filterEnabled ? 'on' : 'off'} and drift removal ${req!.removeDrift ? 'on' : 'off'}, as when the estimate started; estimate again for the current preprocessing.`
          : ''),
    );
    estimateStatus.dataset.tauRise = String(r.tauRise);
    estimateStatus.dataset.tauDecay = String(r.tauDecay);
    estimateStatus.dataset.lambda = String(r.lambda);
    estimateWarn.replaceChildren(...r.estimate.warnings.map((w) => h('li', {}, w)));
    estimateWarn.hidden = r.estimate.warnings.length === 0;
    if (paramsEqual(next, this.params)) {
      this.notify('The estimate equals the current parameters.');
      return;
    }
    this.applyStep(next, 'estimate', (what) => `Estimated from the data (${what}); Undo goes back.`);
  }

  /** Ctrl/⌘ + Z undoes a parameter change, unless a text field has the focus (it has its own undo). */
  private globalKey(e: KeyboardEvent): void {
    if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.key.toLowerCase() !== 'z') return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && (t as HTMLInputElement).type === 'text'))) return;
    e.preventDefault();
    this.undo();
  }

  private priorityOf(cell: number): number {
    return windowPriority(this.shown.indexOf(cell), this.cards.get(cell)?.visible ?? false);
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
    const { current } = acceptResult(card, r, this.scene(), background);
    if (r.spectrum && r.cell === this.spectrumCell) this.showSpectrum(card, r);
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
    if (banner) {
      banner.textContent = `The solver could not start: ${message}`;
      banner.hidden = false;
    }
  }

  private panelsQueued = false;

  /** Summary and metrics are redrawn at most once per frame, however many results arrive in it. */
  private queuePanels(): void {
    if (this.panelsQueued) return;
    this.panelsQueued = true;
    requestAnimationFrame(() => {
      this.panelsQueued = false;
      this.refreshSummaryNow();
      this.refreshMetricsNow();
    });
  }

  private refreshSummary(): void {
    this.queuePanels();
  }

  private refreshMetrics(): void {
    this.queuePanels();
  }

  private refreshSummaryNow(): void {
    const counts: Record<CardStatus, number> = { stale: 0, solving: 0, fresh: 0, error: 0 };
    for (const c of this.shown) {
      const s = this.cards.get(c)?.el.dataset.status as CardStatus | undefined;
      if (s) counts[s]++;
    }
    setText(
      this.els.summary,
      `${counts.fresh}/${this.shown.length} fresh · ${counts.solving} solving · ${counts.stale} queued${counts.error ? ` · ${counts.error} failed` : ''} · ${this.pool.size} worker${this.pool.size > 1 ? 's' : ''}`,
    );
  }

  private refreshKernel(): void {
    const p = this.params;
    const c = this.o.calab;
    const [peak, fwhm] = c.kernel_shape(p.tauRise, p.tauDecay, p.fs);
    const kernel = c.build_kernel(p.tauRise, p.tauDecay, p.fs);
    // One kernel length (decay to 1e-6 of the peak) on each side of a window makes its edges right.
    this.margin = kernel.length;
    if (p.solver === 'l1') {
      this.els.kernelInfo.textContent = `Peak at ${fmt(peak, 3)} s · FWHM ${fmt(fwhm, 3)} s · ${kernel.length} samples to 1e-6`;
    } else {
      const gamma = c.l0_gamma_from_tau(p.tauDecay, p.fs);
      this.els.kernelInfo.textContent = `AR(1) γ = ${fmt(gamma, 5)} (τ_decay ${p.tauDecay} s at ${p.fs} Hz) · Peak at ${fmt(peak, 3)} s · FWHM ${fmt(fwhm, 3)} s`;
    }
    if (this.kernelChart) {
      this.kernelChart.setData(kernelData(kernel, p.fs));
      return;
    }
    this.els.kernelEl.replaceChildren();
    const width = Math.max(200, this.els.kernelEl.clientWidth || 262);
    this.kernelChart = kernelPlot(this.els.kernelEl, kernel, p.fs, this.o.theme(), width, 120);
  }

  // ---------------------------------------------------------------- export

  exportDoc(params: SolveParams = this.params): CaTuneExport {
    const p = params;
    const c = this.o.calab;
    const d = this.o.dataset;
    return buildExport({
      params: p,
      kernel: {
        ar2: c.tau_to_ar2(p.tauRise, p.tauDecay, p.fs),
        shape: c.kernel_shape(p.tauRise, p.tauDecay, p.fs),
        lengthSamples: c.build_kernel(p.tauRise, p.tauDecay, p.fs).length,
      },
      gamma: c.l0_gamma_from_tau(p.tauDecay, p.fs),
      appVersion: __APP_VERSION__,
      sourceFilename: d.sourceFilename,
      numCells: d.matrix.numCells,
      numTimepoints: d.matrix.numTimepoints,
      cellIndices: [...this.shown],
    });
  }

  get exportBusy(): boolean {
    return this.exporting !== null;
  }

  /**
   * Solves every cell of the recording over its whole trace with the current parameters (reusing the cards'
   * whole-trace solutions) and resolves with the activity matrix and the export for exactly those parameters.
   */
  async exportActivity(
    onProgress: (done: number, total: number) => void,
  ): Promise<{ activity: Float32Array; doc: CaTuneExport }> {
    if (this.exporting) throw new Error('an activity export is already running');
    const params = { ...this.params };
    const run = new ActivityExport({
      pool: this.pool,
      matrix: this.o.dataset.matrix,
      params,
      onProgress,
      reuse: (cell) => {
        const f = this.cards.get(cell)?.full;
        return f && paramsEqual(f.params, params) ? f.activity : undefined;
      },
    });
    this.exporting = run;
    try {
      const activity = await run.done;
      return { activity, doc: this.exportDoc(params) };
    } finally {
      this.exporting = null;
    }
  }

  cancelExport(): void {
    this.exporting?.cancel();
  }
}

/** The simulator's clean calcium is ΔF; shift it onto the fitted baseline so it overlays the trace. */
function offset(x: Float32Array, by: number): Float32Array {
  return x.map((v) => v + by);
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

function medianOf(x: Float32Array): number {
  const s = Float32Array.from(x).sort();
  return s.length ? s[s.length >> 1] : 0;
}
