// The run state machine between the page and the InDeCa worker, DOM-free so unit tests drive it with a fake
// worker. States (what `run-status` shows as data-state): idle -> running <-> paused -> complete | error.
// Pause and stop are requests the worker honours at its next checkpoint (it works in slices of a fraction of
// a second); the state changes when the worker confirms. A stop the worker has not confirmed within
// STOP_DEADLINE_MS ends anyway: the worker is terminated and the run completes with the last snapshot it
// sent (the results as of its last finished iteration or final-pass slice), exactly what it would have
// returned had it stopped there. Reset terminates a busy worker.

import type { IndecaRequest, IndecaResponse, IndecaResult, IterationReport, Phase } from '../../shared/indeca-protocol';

export type RunState = 'idle' | 'running' | 'paused' | 'complete' | 'error';

export interface WorkerLike {
  postMessage(msg: IndecaRequest, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<IndecaResponse>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
  terminate(): void;
}

export interface RunInput {
  traces: Float32Array;
  nCells: number;
  nTime: number;
  fs: number;
  config: Record<string, unknown>;
  /** Workers to spread the solves over; the worker's default (one per core) when absent. */
  workers?: number;
}

export interface RunEvents {
  state?(s: RunState, c: RunController): void;
  iteration?(r: IterationReport, c: RunController): void;
  progress?(phase: Phase, fraction: number, message: string): void;
  done?(result: IndecaResult, activity: Float32Array, stopped: boolean): void;
  error?(code: string, message: string): void;
  cell?(cell: number, data: { trace: Float32Array; fit: Float32Array; activity: Float32Array }): void;
  cellError?(cell: number, code: string, message: string): void;
}

/** How long a stop waits for the worker before it ends the run from the last snapshot. */
export const STOP_DEADLINE_MS = 800;

export class RunController {
  state: RunState = 'idle';
  /** Set while a pause or stop has been asked for and the worker has not answered yet. */
  pending: 'pause' | 'stop' | null = null;
  reports: IterationReport[] = [];
  result: IndecaResult | null = null;
  activity: Float32Array | null = null;
  stopped = false;
  engine: 'wasm' | null = null;
  /** How many workers solved the last completed run (null when a forced stop ended it). */
  workers: number | null = null;
  error: { code: string; message: string } | null = null;
  phase: Phase | null = null;
  fraction = 0;
  private worker: WorkerLike | null = null;
  /** The latest snapshot: results JSON so far and the activity rows received. */
  private snap: { resultJson: string; activity: Float32Array; nTime: number } | null = null;
  private stopTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly createWorker: () => WorkerLike,
    private readonly on: RunEvents = {},
    private readonly timers: {
      set: (f: () => void, ms: number) => ReturnType<typeof setTimeout>;
      clear: (t: ReturnType<typeof setTimeout>) => void;
    } = { set: (f, ms) => setTimeout(f, ms), clear: (t) => clearTimeout(t) },
  ) {}

  get busy(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  private ensureWorker(): WorkerLike {
    if (this.worker) return this.worker;
    const w = this.createWorker();
    w.onmessage = (ev) => this.handle(ev.data);
    w.onerror = (ev) => {
      ev.preventDefault?.();
      this.fail('WORKER_ERROR', ev.message || 'the InDeCa worker failed');
    };
    this.worker = w;
    return w;
  }

  private setState(s: RunState): void {
    this.state = s;
    this.on.state?.(s, this);
  }

  private fail(code: string, message: string): void {
    this.clearStopTimer();
    this.error = { code, message };
    this.pending = null;
    this.setState('error');
    this.on.error?.(code, message);
  }

  start(input: RunInput, maxIterations: number): void {
    if (this.busy) throw new Error(`cannot start while ${this.state}`);
    this.clearStopTimer();
    this.snap = { resultJson: '', activity: new Float32Array(input.nCells * input.nTime), nTime: input.nTime };
    this.clearRun('loading');
    const w = this.ensureWorker();
    // A copy goes to the worker, so the page keeps its traces for plotting.
    const traces = input.traces.slice();
    w.postMessage(
      {
        type: 'start',
        traces,
        nCells: input.nCells,
        nTime: input.nTime,
        fs: input.fs,
        configJson: JSON.stringify(input.config),
        maxIterations,
        ...(input.workers ? { workers: input.workers } : {}),
      },
      [traces.buffer],
    );
    this.setState('running');
  }

  pause(): void {
    if (this.state !== 'running' || this.pending) return;
    this.pending = 'pause';
    this.worker?.postMessage({ type: 'pause' });
    this.on.state?.(this.state, this);
  }

  resume(): void {
    if (this.state !== 'paused' && this.pending !== 'pause') return;
    this.pending = null;
    this.worker?.postMessage({ type: 'resume' });
    if (this.state === 'paused') this.setState('running');
    else this.on.state?.(this.state, this);
  }

  /** Ends the run early; the worker replies with the partial results (partial: true). */
  stop(): void {
    if (!this.busy || this.pending === 'stop') return;
    this.pending = 'stop';
    this.worker?.postMessage({ type: 'stop' });
    this.on.state?.(this.state, this);
    this.stopTimer = this.timers.set(() => this.forceStop(), STOP_DEADLINE_MS);
  }

  private clearStopTimer(): void {
    if (this.stopTimer !== null) this.timers.clear(this.stopTimer);
    this.stopTimer = null;
  }

  /** The worker is still inside a unit of work: end the run now from the last snapshot. */
  private forceStop(): void {
    this.stopTimer = null;
    if (!this.busy || this.pending !== 'stop') return;
    const snap = this.snap;
    this.worker?.terminate();
    this.worker = null;
    if (!snap?.resultJson) {
      this.fail('STOPPED', 'the run was stopped before it had any result');
      return;
    }
    this.complete(snap.resultJson, snap.activity, true, null);
  }

  private complete(resultJson: string, activity: Float32Array, stopped: boolean, workers: number | null): void {
    this.clearStopTimer();
    let result: IndecaResult;
    try {
      result = JSON.parse(resultJson) as IndecaResult;
    } catch (e) {
      this.fail('BAD_RESULT', `the worker's result is not JSON: ${String(e)}`);
      return;
    }
    this.result = result;
    this.activity = activity;
    this.stopped = stopped;
    this.workers = workers;
    this.pending = null;
    this.phase = 'collecting';
    this.fraction = 1;
    this.snap = null;
    this.setState('complete');
    this.on.done?.(result, activity, stopped);
  }

  /** Back to idle; a busy worker is terminated (a step cannot be interrupted otherwise). */
  reset(): void {
    this.clearStopTimer();
    this.snap = null;
    if (this.busy && this.worker) {
      this.worker.terminate();
      this.worker = null;
    }
    this.clearRun(null);
    this.setState('idle');
  }

  /** Forgets the last run's reports, result, error and pending request; `phase` is the one to show. */
  private clearRun(phase: Phase | null): void {
    this.reports = [];
    this.result = null;
    this.activity = null;
    this.stopped = false;
    this.workers = null;
    this.error = null;
    this.pending = null;
    this.phase = phase;
    this.fraction = 0;
  }

  inspect(cell: number): void {
    if (this.state === 'idle' || !this.worker) return;
    this.worker.postMessage({ type: 'inspect', cell });
  }

  dispose(): void {
    this.clearStopTimer();
    this.worker?.terminate();
    this.worker = null;
  }

  private handle(m: IndecaResponse): void {
    switch (m.type) {
      case 'ready':
        this.engine = m.engine;
        break;
      case 'init-error':
        this.fail('INIT_ERROR', m.message);
        break;
      case 'iteration':
        if (!this.busy) return;
        this.reports.push(m.report);
        this.on.iteration?.(m.report, this);
        break;
      case 'progress':
        if (!this.busy) return;
        this.phase = m.phase;
        this.fraction = m.fraction;
        this.on.progress?.(m.phase, m.fraction, m.message);
        break;
      case 'paused':
        if (this.pending === 'pause') this.pending = null;
        if (this.state === 'running') this.setState('paused');
        break;
      case 'resumed':
        if (this.state === 'paused') this.setState('running');
        break;
      case 'done':
        if (!this.busy) return;
        this.complete(m.resultJson, m.activity, m.stopped, m.workers);
        break;
      case 'snapshot':
        if (!this.busy || !this.snap) return;
        this.snap.resultJson = m.resultJson;
        if (m.cellEnd > m.cellStart && m.rows.length === (m.cellEnd - m.cellStart) * this.snap.nTime)
          this.snap.activity.set(m.rows, m.cellStart * this.snap.nTime);
        break;
      case 'error':
        if (this.state === 'idle') return;
        this.fail(m.code, m.message);
        break;
      case 'cell':
        this.on.cell?.(m.cell, { trace: m.trace, fit: m.fit, activity: m.activity });
        break;
      case 'cell-error':
        this.on.cellError?.(m.cell, m.code, m.message);
        break;
    }
  }
}
