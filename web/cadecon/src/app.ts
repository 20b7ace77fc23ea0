// The run screen: settings (locked while a run is going), run controls with a progress bar, and the views
// (raster with subsets, convergence, time constants, kernels, histograms, trace inspector), all of which
// can be scrubbed back to any iteration. The run itself is in the InDeCa worker behind RunController.

import type uPlot from 'uplot';
import { TraceChart, type Theme } from '../../shared/ui/charts';
import { row } from '../../shared/traces';
import type { Dataset } from '../../shared/dataset';
import { fmt } from '../../shared/format';
import { h } from '../../shared/ui/dom';
import { helpToggle } from '../../shared/ui/help';
import { buildConfig, CONFIG_SCHEMA, parseSetting, SETTINGS, type ConfigCheck, type SettingSpec } from './config';
import { RunController, type RunState, type WorkerLike } from './controller';
import { PHASE_LABEL, type IndecaResult, type IterationReport, type Phase } from '../../shared/indeca-protocol';
import { ConvergenceChart, drawHistogram, kernelChart, Raster, TauChart } from './views';

export interface ScreenOptions {
  root: HTMLElement;
  dataset: Dataset;
  theme: () => Theme;
  createWorker: () => WorkerLike;
  /** Workers a run may use (the `?workers=` page parameter); the worker's default when absent. */
  workers?: number;
  /** Config fields set outside the form (bridge session); the form shows and edits the ones it has. */
  initial?: Record<string, unknown>;
  /** The simulator's kernel for demo data: [tau_rise, tau_decay] in s. */
  trueTaus?: [number, number];
  trueKernel?: Float32Array;
  onState?(s: RunState, c: RunController): void;
  onProgress?(phase: Phase, fraction: number, message: string): void;
  onDone?(result: IndecaResult, activity: Float32Array, stopped: boolean): void;
}

const STATE_TEXT: Record<RunState, string> = {
  idle: 'Idle',
  running: 'Running',
  paused: 'Paused',
  complete: 'Complete',
  error: 'Error',
};

export class DeconScreen {
  readonly controller: RunController;
  private changes: Record<string, unknown>;
  private check: ConfigCheck;
  private readonly inputs = new Map<string, HTMLInputElement>();
  private readonly els: Record<string, HTMLElement> = {};
  private shown = -1; // index into reports; -1 = follow the latest
  private subset = -1;
  private cell = 0;
  private raster: Raster | null = null;
  private conv: ConvergenceChart | null = null;
  private taus: TauChart | null = null;
  private kernel: uPlot | null = null;
  private trace: TraceChart | null = null;
  private lastCell: { cell: number; trace: Float32Array; fit: Float32Array; activity: Float32Array } | null = null;
  private readonly onResize = (): void => {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => this.rebuildCharts(), 150);
  };
  private resizeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: ScreenOptions) {
    this.changes = { ...(o.initial ?? {}) };
    this.check = buildConfig(this.changes, o.dataset.fs);
    this.controller = new RunController(o.createWorker, {
      state: (s, c) => {
        this.refreshControls();
        o.onState?.(s, c);
      },
      iteration: () => this.onIteration(),
      progress: (p, f, m) => {
        this.showProgress(p, f, m);
        o.onProgress?.(p, f, m);
      },
      done: (r, a, stopped) => {
        this.onDone(r);
        o.onDone?.(r, a, stopped);
      },
      error: (code, message) => {
        this.els.runError.textContent = `${code}: ${message}`;
        this.els.runError.hidden = false;
      },
      cell: (cell, d) => {
        this.lastCell = { cell, ...d };
        this.drawTrace();
      },
      cellError: (cell, code, message) => {
        this.els.traceInfo.textContent = `Cell ${cell}: ${code}: ${message}`;
      },
    });
    this.build();
    window.addEventListener('resize', this.onResize);
  }

  // ---------------------------------------------------------------- layout

  private build(): void {
    const { root, dataset } = this.o;
    root.replaceChildren();
    const settingsHelp = helpToggle(
      'settings',
      'settings',
      'InDeCa learns one kernel for the whole recording: each iteration draws a few random blocks of cells × time (subsets), deconvolves them with the current kernel, estimates a kernel from each block and takes the median. It stops when the kernel stops changing, then deconvolves every cell with the final kernel.',
      'The defaults suit most two-photon recordings. Settings lock while a run is going.',
    );
    const settings = h(
      'section',
      { class: 'card-panel', 'aria-label': 'Settings', 'data-testid': 'settings-panel' },
      h('h2', {}, 'Settings', settingsHelp.button),
      settingsHelp.text,
    );
    const advanced = h(
      'details',
      { class: 'advanced', 'data-testid': 'advanced-settings' },
      h('summary', {}, 'More settings (subsets, convergence, seed)'),
    );
    for (const spec of SETTINGS) (spec.advanced ? advanced : settings).append(this.settingRow(spec));
    this.els.settingsError = h('p', { class: 'error', role: 'alert', 'data-testid': 'settings-error', hidden: true });
    settings.append(advanced, this.els.settingsError);

    const btn = (id: string, text: string, onclick: () => void, cls = '', title = '') =>
      (this.els[id] = h('button', { type: 'button', class: cls, 'data-testid': id, onclick, title }, text));
    this.els.status = h(
      'span',
      {
        class: 'status-badge',
        'data-testid': 'run-status',
        'data-state': 'idle',
        role: 'status',
        'aria-live': 'polite',
      },
      'Idle',
    );
    this.els.progress = h('progress', { 'data-testid': 'progress', max: 1, value: 0, 'aria-label': 'Run progress' });
    this.els.progressLabel = h(
      'div',
      { class: 'muted', 'data-testid': 'progress-label', 'aria-live': 'polite' },
      'Not started',
    );
    this.els.runError = h('p', { class: 'error', role: 'alert', 'data-testid': 'run-error', hidden: true });
    const runHelp = helpToggle(
      'run',
      'run controls',
      'Start runs InDeCa in the background of this tab. Pause holds it (Resume continues exactly where it was); Stop ends it early with what is done so far: the kernel of the last finished iteration, and the cells the final pass has reached (the others are marked). Reset discards the run.',
    );
    const run = h(
      'section',
      { class: 'card-panel', 'aria-label': 'Run' },
      h('h2', {}, 'Run ', this.els.status, runHelp.button),
      runHelp.text,
      h(
        'div',
        { class: 'run-buttons' },
        btn('run-start', 'Start', () => this.start(), 'primary', 'Learn the kernel, then deconvolve every cell'),
        btn('run-pause', 'Pause', () => this.controller.pause()),
        btn('run-resume', 'Resume', () => this.controller.resume()),
        btn('run-stop', 'Stop', () => this.controller.stop(), '', 'End the run now and keep the results so far'),
        btn('run-reset', 'Reset', () => this.reset(), '', 'Discard the run'),
      ),
      h('div', { class: 'row' }, this.els.progress),
      this.els.progressLabel,
      this.els.runError,
    );

    this.els.scrubber = h('input', {
      type: 'range',
      id: 'scrubber',
      'data-testid': 'scrubber',
      min: 1,
      max: 1,
      step: 1,
      value: 1,
      disabled: true,
    });
    this.els.scrubber.addEventListener('input', () => {
      const v = Number((this.els.scrubber as HTMLInputElement).value);
      this.shown = v >= this.controller.reports.length ? -1 : v - 1;
      this.showIteration();
    });
    this.els.scrubLabel = h('span', { 'data-testid': 'scrubber-label' }, 'No iterations yet');
    this.els.summary = h('dl', { class: 'summary', 'data-testid': 'iteration-summary' });
    this.els.finalBox = h('dl', { class: 'summary final', 'data-testid': 'final-kernel', hidden: true });
    const resultHelp = helpToggle(
      'result',
      'result',
      'The kernel every cell was deconvolved with, exactly as the saved results and calab.run_indeca report it: its time constants are the medians over the last iterations. Fit quality says how well a bi-exponential describes the learned free-form kernel (good: R² ≥ 0.95; fair; poor: treat the kernel with care).',
      'Before the run completes this panel shows the iteration picked on the slider.',
    );
    const iter = h(
      'section',
      { class: 'card-panel', 'aria-label': 'Result' },
      h('h2', {}, 'Result', resultHelp.button),
      resultHelp.text,
      this.els.finalBox,
      h('label', { for: 'scrubber' }, this.els.scrubLabel),
      this.els.scrubber,
      this.els.summary,
    );

    // Views
    this.els.subsetSel = h(
      'select',
      { id: 'subset-select', 'data-testid': 'subset-select' },
      h('option', { value: -1 }, 'none'),
    );
    this.els.subsetSel.addEventListener('change', () =>
      this.selectSubset(Number((this.els.subsetSel as HTMLSelectElement).value)),
    );
    this.els.cellIn = h('input', {
      type: 'number',
      id: 'inspect-cell',
      'data-testid': 'inspect-cell',
      min: 0,
      max: dataset.matrix.numCells - 1,
      step: 1,
      value: 0,
      style: 'width:70px',
    });
    this.els.cellIn.addEventListener('change', () =>
      this.selectCell(Number((this.els.cellIn as HTMLInputElement).value)),
    );
    this.els.subsetInfo = h(
      'span',
      { class: 'muted', 'data-testid': 'subset-info' },
      'Click a subset (outlined) to inspect it, or a row to inspect that cell.',
    );
    this.els.rasterBox = h('div', { class: 'raster', 'data-testid': 'raster' });
    this.els.convBox = h('div', { 'data-testid': 'convergence-chart', 'data-points': 0 });
    this.els.tauBox = h('div', { 'data-testid': 'tau-chart' });
    this.els.kernelMode = h('span', { class: 'muted', 'data-testid': 'kernel-mode' });
    this.els.kernelBox = h(
      'div',
      { 'data-testid': 'kernel-chart' },
      h('p', { class: 'placeholder' }, 'Kernels appear after the first iteration.'),
    );
    const hist = (id: string, label: string) =>
      (this.els[id] = h('canvas', {
        'data-testid': id,
        width: 190,
        height: 130,
        role: 'img',
        'aria-label': `Histogram over cells of the ${label}`,
      }));
    this.els.hists = h(
      'div',
      { class: 'hists' },
      hist('hist-amplitude', 'amplitude'),
      hist('hist-pve', 'proportion of variance explained'),
      hist('hist-rate', 'event rate'),
    );
    this.els.histNote = h(
      'p',
      { class: 'placeholder', 'data-testid': 'hist-note' },
      'Per-cell amplitude, PVE and event rate appear after the final pass.',
    );
    this.els.traceBox = h('div', { 'data-testid': 'trace-chart' });
    this.els.traceInfo = h(
      'span',
      { class: 'muted', 'data-testid': 'trace-info' },
      'Raw trace; the fit and activity appear once the run has started.',
    );

    const view = (id: string, title: (Node | string)[], help: string[], body: HTMLElement[], cls = '') => {
      const hp = helpToggle(id, String(title[0]).trim(), ...help);
      return h(
        'section',
        { class: `view ${cls}`, 'data-testid': `view-${id}` },
        h('h2', {}, ...title, hp.button),
        hp.text,
        ...body,
      );
    };
    const views = h(
      'div',
      { class: 'views' },
      view(
        'raster',
        [
          'Cells × time ',
          h('label', { for: 'subset-select', class: 'muted' }, 'subset'),
          this.els.subsetSel,
          h('label', { for: 'inspect-cell', class: 'muted' }, 'cell'),
          this.els.cellIn,
          this.els.subsetInfo,
        ],
        [
          'Each row is a cell, time runs to the right, brighter is more fluorescence (scaled per cell). The outlined blocks are the subsets of the iteration shown; click one to see its kernel, or a row to show that cell below.',
        ],
        [this.els.rasterBox],
        'wide',
      ),
      view(
        'convergence',
        ['Convergence'],
        [
          'Per iteration (integer axis). Left axis, log scale: how much the kernel shape and the activity changed since the previous iteration; the run converges once the kernel change stays below the tolerance. Right axis, 0 to 1: the R² of the kernel fit and the median proportion of variance the model explains.',
        ],
        [this.els.convBox],
      ),
      view(
        'taus',
        ['Time constants ', h('span', { class: 'muted' }, 'line: merged; band: spread over subsets')],
        [
          'The rise and decay time constants of the merged kernel after each iteration (seconds, log scale); the shaded band spans the subsets’ own estimates. A narrow band that stops moving means the kernel is well determined.',
        ],
        [this.els.tauBox],
      ),
      view(
        'kernel',
        ['Kernel ', this.els.kernelMode],
        [
          'During the run: the free-form kernel of each subset (thin), their median (blue) and the bi-exponential with the merged time constants (dashed). After the run: the final kernel the cells were deconvolved with. Time runs from the spike; cropped where the kernel is below 1 % of its peak.',
        ],
        [this.els.kernelBox],
      ),
      view(
        'hists',
        ['Per cell'],
        [
          'Over all cells after the final pass: the amplitude (fluorescence per spike, in the data’s unit), the proportion of each trace’s variance the model explains (PVE), and the event rate (spikes per second). The dashed line is the median.',
        ],
        [this.els.hists, this.els.histNote],
      ),
      view(
        'trace',
        ['Trace ', this.els.traceInfo],
        [
          'Upper panel: the cell’s trace as the solver sees it and the model’s fit, in the data’s unit. Lower panel: the inferred spikes per frame (left axis) and the residual (right axis).',
        ],
        [this.els.traceBox],
        'wide',
      ),
    );
    root.append(h('div', { class: 'decon' }, h('aside', { class: 'sidebar' }, run, iter, settings), views));
    this.rebuildCharts();
    this.refreshSettings();
    this.refreshControls();
  }

  private settingRow(spec: SettingSpec): HTMLElement {
    const id = `setting-${spec.id}`;
    const v = this.check.config[spec.key];
    const input =
      spec.kind === 'bool'
        ? h('input', { type: 'checkbox', id, 'data-testid': id, checked: v === true, 'aria-describedby': `${id}-help` })
        : h('input', {
            type: 'number',
            id,
            'data-testid': id,
            step: spec.step ?? 'any',
            value: v === null || v === undefined ? '' : String(v),
            'aria-describedby': `${id}-help`,
            placeholder: spec.kind === 'optional-number' ? 'none' : '',
          });
    const p = CONFIG_SCHEMA.properties[spec.key];
    if (spec.kind !== 'bool' && p) {
      if (p.minimum !== undefined) input.min = String(p.minimum);
      if (p.maximum !== undefined) input.max = String(p.maximum);
    }
    input.addEventListener(spec.kind === 'bool' ? 'change' : 'input', () => {
      const parsed = parseSetting(spec, spec.kind === 'bool' ? input.checked : input.value);
      this.changes[spec.key] = parsed;
      this.refreshSettings();
    });
    this.inputs.set(spec.key, input);
    const help = h('span', { id: `${id}-help`, class: 'setting-help', 'data-testid': `${id}-help` }, spec.help);
    const label = h('label', { for: id }, spec.label);
    return spec.kind === 'bool'
      ? h('div', { class: 'setting bool' }, input, label, help)
      : h('div', { class: 'setting' }, label, input, help);
  }

  private refreshSettings(): void {
    this.check = buildConfig(this.changes, this.o.dataset.fs);
    const errs = this.check.errors;
    for (const [key, input] of this.inputs) input.classList.toggle('invalid', key in errs);
    const msgs = Object.values(errs);
    this.els.settingsError.textContent = msgs.join('\n');
    this.els.settingsError.hidden = msgs.length === 0;
    this.refreshControls();
  }

  rebuildCharts(): void {
    const theme = this.o.theme();
    const d = this.o.dataset;
    const width = Math.max(300, this.els.rasterBox.parentElement!.clientWidth - 20);
    const half = Math.max(260, Math.floor((width - 10) / 2) - 10);
    if (!this.raster) {
      this.raster = new Raster(
        this.els.rasterBox,
        d.matrix.data,
        d.matrix.numCells,
        d.matrix.numTimepoints,
        theme,
        (p) => {
          if (p.subset >= 0) this.selectSubset(p.subset);
          this.selectCell(p.cell);
        },
      );
    } else this.raster.setTheme(theme);
    this.raster.resize(width, Math.min(200, Math.max(90, d.matrix.numCells * 6)));
    this.conv?.destroy();
    this.els.convBox.replaceChildren();
    this.conv = new ConvergenceChart(this.els.convBox, theme, half, 190);
    this.taus?.destroy();
    this.els.tauBox.replaceChildren();
    this.taus = new TauChart(
      this.els.tauBox,
      theme,
      half,
      190,
      this.o.trueTaus ? { tauRise: this.o.trueTaus[0], tauDecay: this.o.trueTaus[1] } : undefined,
    );
    this.trace?.destroy();
    this.els.traceBox.replaceChildren();
    this.trace = new TraceChart(this.els.traceBox, {
      width,
      height: 220,
      fs: d.fs,
      theme,
      hasTruth: !!d.truth,
      syncKey: 'cadecon',
      unit: d.unit || 'a.u.',
      activityTitle: 'spikes / frame',
      legend: true,
      // The solver's view of the trace only differs from the raw one when a filter is on.
      shown: new Set([
        'fit',
        'activity',
        'true spikes',
        this.check.config.hp_filter_enabled || this.check.config.lp_filter_enabled ? 'filtered' : 'raw',
      ]),
    });
    this.showIteration();
    this.drawHistograms();
    this.drawTrace();
  }

  // ---------------------------------------------------------------- run control

  start(): void {
    if (this.controller.busy || Object.keys(this.check.errors).length) return;
    const m = this.o.dataset.matrix;
    this.shown = -1;
    this.lastCell = null;
    this.els.runError.hidden = true;
    this.controller.start(
      {
        traces: m.data,
        nCells: m.numCells,
        nTime: m.numTimepoints,
        fs: this.o.dataset.fs,
        config: this.check.config,
        workers: this.o.workers,
      },
      Number(this.check.config.max_iterations),
    );
    this.showIteration();
    this.drawHistograms();
  }

  reset(): void {
    this.controller.reset();
    this.shown = -1;
    this.lastCell = null;
    this.els.runError.hidden = true;
    this.showProgress(null, 0, 'Not started');
    this.showIteration();
    this.drawHistograms();
    this.drawTrace();
  }

  get state(): RunState {
    return this.controller.state;
  }

  private refreshControls(): void {
    const c = this.controller;
    const s = c.state;
    const set = (id: string, enabled: boolean) => ((this.els[id] as HTMLButtonElement).disabled = !enabled);
    const valid = Object.keys(this.check.errors).length === 0;
    set('run-start', !c.busy && valid);
    set('run-pause', s === 'running' && c.pending === null);
    set('run-resume', s === 'paused' || c.pending === 'pause');
    set('run-stop', c.busy && c.pending !== 'stop');
    set('run-reset', s !== 'idle');
    for (const input of this.inputs.values()) input.disabled = c.busy;
    const st = this.els.status;
    st.dataset.state = s;
    st.dataset.partial = String(s === 'complete' && !!c.result?.partial);
    let text = STATE_TEXT[s];
    if (c.pending === 'pause') text = 'Pausing…';
    if (c.pending === 'stop') text = 'Stopping…';
    if (s === 'complete' && c.result)
      text = c.result.partial
        ? 'Stopped (partial)'
        : c.result.converged
          ? `Complete · converged in ${c.result.iterations}`
          : `Complete · ${c.result.iterations} iterations, not converged`;
    st.textContent = text;
  }

  private showProgress(phase: Phase | null, fraction: number, message: string): void {
    const p = this.els.progress as HTMLProgressElement;
    p.value = fraction;
    p.dataset.phase = phase ?? '';
    p.setAttribute('aria-valuetext', `${phase ? PHASE_LABEL[phase] : 'Not started'} ${Math.round(100 * fraction)} %`);
    this.els.progressLabel.textContent = phase
      ? `${PHASE_LABEL[phase]} · ${message} (${Math.round(100 * fraction)} %)`
      : message;
  }

  // ---------------------------------------------------------------- views

  private currentReport(): IterationReport | null {
    const r = this.controller.reports;
    if (!r.length) return null;
    return r[this.shown < 0 ? r.length - 1 : Math.min(this.shown, r.length - 1)];
  }

  private onIteration(): void {
    this.showIteration();
    this.controller.inspect(this.cell);
  }

  private showIteration(): void {
    const reports = this.controller.reports;
    const sc = this.els.scrubber as HTMLInputElement;
    sc.max = String(Math.max(1, reports.length));
    sc.disabled = reports.length < 2;
    const rep = this.currentReport();
    sc.value = String(this.shown < 0 ? Math.max(1, reports.length) : this.shown + 1);
    this.conv?.setData(reports);
    this.els.convBox.dataset.points = String(reports.length);
    this.taus?.setData(reports);
    const sel = this.els.subsetSel as HTMLSelectElement;
    const subs = rep?.subsets ?? [];
    if (sel.options.length !== subs.length + 1) {
      sel.replaceChildren(
        h('option', { value: -1 }, 'none'),
        ...subs.map((_s, i) => h('option', { value: i }, String(i + 1))),
      );
    }
    if (this.subset >= subs.length) this.subset = -1;
    sel.value = String(this.subset);
    this.raster?.setSubsets(subs, this.subset);
    this.els.kernelBox.replaceChildren();
    this.kernel?.destroy();
    this.kernel = null;
    const result = this.controller.state === 'complete' ? this.controller.result : null;
    this.showFinal(result);
    // At the latest position of a finished run the kernel view shows the final kernel of the results.
    const final = result && this.shown < 0 ? result : null;
    const width = Math.max(260, Math.floor((this.els.rasterBox.parentElement!.clientWidth - 30) / 2));
    const trueK = this.o.trueKernel ? Float64Array.from(this.o.trueKernel) : undefined;
    this.els.kernelBox.dataset.final = String(!!final);
    this.els.kernelMode.textContent = final
      ? 'final, as in the results (move the iteration slider for earlier ones)'
      : rep
        ? `iteration ${rep.iteration}`
        : '';
    if (final)
      this.kernel = kernelChart(
        this.els.kernelBox,
        this.o.theme(),
        width,
        190,
        null,
        -1,
        trueK,
        1 / this.o.dataset.fs,
        final,
      );
    if (!rep) {
      this.els.scrubLabel.textContent = 'No iterations yet';
      this.els.summary.replaceChildren();
      if (!final)
        this.els.kernelBox.append(h('p', { class: 'placeholder' }, 'Kernels appear after the first iteration.'));
      return;
    }
    this.els.scrubLabel.textContent = `Iteration ${rep.iteration} of ${reports.length}${this.shown < 0 ? ' (latest)' : ''}`;
    this.els.kernelBox.dataset.iteration = String(rep.iteration);
    if (!final)
      this.kernel = kernelChart(
        this.els.kernelBox,
        this.o.theme(),
        width,
        190,
        rep,
        this.subset,
        trueK,
        1 / this.o.dataset.fs,
      );
    const rows: [string, string][] = [
      ['τ_rise here', `${fmt(rep.tau_rise, 4)} s`],
      ['τ_decay here', `${fmt(rep.tau_decay, 4)} s`],
      ['kernel change', fmt(rep.kernel_change, 4)],
      ['activity change', fmt(rep.activity_change, 4)],
      ['kernel R²', fmt(rep.kernel_r2, 4)],
      ['median PVE', fmt(rep.median_pve, 3)],
      ['converged', rep.converged ? 'yes' : 'no'],
    ];
    if (this.o.trueTaus) rows.push(['true τ', `${this.o.trueTaus[0]} / ${this.o.trueTaus[1]} s`]);
    this.els.summary.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    this.showSubsetInfo(rep);
  }

  /** The final kernel and its fit quality, as the results report them (saved results, CLI, Python). */
  private showFinal(r: IndecaResult | null): void {
    const box = this.els.finalBox;
    box.hidden = !r;
    if (!r) {
      box.replaceChildren();
      return;
    }
    const rows: [string, string | Node][] = [
      ['final τ_rise', `${fmt(r.tau_rise, 4)} s`],
      ['final τ_decay', `${fmt(r.tau_decay, 4)} s`],
      ['fit quality', h('span', { class: `quality q-${r.fit_quality}`, 'data-testid': 'fit-quality' }, r.fit_quality)],
      ['kernel R²', fmt(r.kernel_r2, 4)],
      ['amplitude β', fmt(r.beta, 4)],
    ];
    if (r.tau_rise_fast != null && r.tau_decay_fast != null)
      rows.push([
        'fast component',
        `τ ${fmt(r.tau_rise_fast, 3)} / ${fmt(r.tau_decay_fast, 3)} s, β ${fmt(r.beta_fast ?? NaN, 3)}`,
      ]);
    rows.push(['iterations', `${r.iterations}${r.converged ? ', converged' : ', not converged'}`]);
    if (r.partial)
      rows.push([
        'partial',
        `stopped early: ${r.alphas.filter((a) => a !== null).length} of ${r.num_cells} cells solved`,
      ]);
    if (this.o.trueTaus) rows.push(['true τ', `${this.o.trueTaus[0]} / ${this.o.trueTaus[1]} s`]);
    const warnings = r.warnings ?? [];
    if (warnings.length)
      rows.push([
        'warnings',
        h('ul', { class: 'kernel-warnings', 'data-testid': 'kernel-warnings' }, ...warnings.map((w) => h('li', {}, w))),
      ]);
    box.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    box.dataset.tauRise = String(r.tau_rise);
    box.dataset.tauDecay = String(r.tau_decay);
    box.dataset.quality = r.fit_quality;
  }

  private showSubsetInfo(rep: IterationReport | null): void {
    const s = rep?.subsets[this.subset];
    this.els.subsetInfo.textContent = s
      ? `Subset ${this.subset + 1}: cells ${s.cell_start}–${s.cell_end - 1}, frames ${s.t_start}–${s.t_end - 1}; τ_rise ${fmt(s.tau_rise, 3)} s, τ_decay ${fmt(s.tau_decay, 3)} s`
      : 'Click a subset (outlined) to inspect it, or a row to inspect that cell.';
  }

  private selectSubset(i: number): void {
    this.subset = i;
    this.showIteration();
  }

  private selectCell(cell: number): void {
    const n = this.o.dataset.matrix.numCells;
    if (!Number.isInteger(cell) || cell < 0 || cell >= n) return;
    this.cell = cell;
    (this.els.cellIn as HTMLInputElement).value = String(cell);
    this.els.traceBox.dataset.cell = String(cell);
    this.drawTrace();
    this.controller.inspect(cell);
  }

  private drawTrace(): void {
    if (!this.trace) return;
    const d = this.o.dataset;
    const cell = this.cell;
    const raw = row(d.matrix, cell);
    const got = this.lastCell && this.lastCell.cell === cell ? this.lastCell : null;
    const truth = d.truth;
    const r = this.controller.result;
    const base = r?.baselines[cell] ?? medianOf(raw);
    this.trace.setData({
      raw,
      filtered: got?.trace,
      fit: got?.fit,
      activity: got?.activity,
      truthCalcium: truth ? truth.calcium[cell].map((v) => v + base) : undefined,
      truthSpikes: truth?.spikes[cell],
    });
    this.els.traceBox.dataset.cell = String(cell);
    this.els.traceBox.dataset.hasFit = String(!!got);
    const err = r?.cell_errors.find((e) => e.cell === cell);
    this.els.traceInfo.textContent = err
      ? `Cell ${cell} failed: ${err.code}: ${err.message}`
      : `Cell ${cell}${r && r.alphas[cell] != null ? ` · amplitude ${fmt(r.alphas[cell]!, 3)} · PVE ${fmt(r.pves[cell] ?? NaN, 3)} · ${fmt(r.event_rates[cell] ?? NaN, 3)} events/s` : ''}${got ? '' : ' · raw only'}`;
  }

  private drawHistograms(): void {
    const r = this.controller.result;
    const theme = this.o.theme();
    this.els.histNote.hidden = !!r;
    drawHistogram(
      this.els['hist-amplitude'] as HTMLCanvasElement,
      r?.alphas ?? [],
      theme,
      'Amplitude',
      this.o.dataset.unit || 'a.u.',
    );
    drawHistogram(this.els['hist-pve'] as HTMLCanvasElement, r?.pves ?? [], theme, 'PVE');
    drawHistogram(this.els['hist-rate'] as HTMLCanvasElement, r?.event_rates ?? [], theme, 'Event rate', 'Hz');
  }

  private onDone(r: IndecaResult): void {
    this.showIteration();
    this.drawHistograms();
    this.controller.inspect(this.cell);
    if (r.cell_errors.length) {
      this.els.runError.textContent = `${r.cell_errors.length} cell(s) failed and have all-zero activity rows: ${r.cell_errors
        .slice(0, 5)
        .map((e) => `cell ${e.cell} (${e.code})`)
        .join(', ')}${r.cell_errors.length > 5 ? ', …' : ''}`;
      this.els.runError.hidden = false;
    }
  }

  dispose(): void {
    window.removeEventListener('resize', this.onResize);
    this.controller.dispose();
    this.conv?.destroy();
    this.taus?.destroy();
    this.kernel?.destroy();
    this.trace?.destroy();
  }
}

function medianOf(x: Float32Array): number {
  const s = Float32Array.from(x).sort();
  return s.length ? s[s.length >> 1] : 0;
}
