// Module worker that runs one InDeCa job with IndecaRun from pkg/ (the Rust core, the same loop Python's
// calab.run_indeca runs). The worker handles pause, stop and inspect messages only between calls into the
// core, so it works in time slices: `step_partial` does an iteration a few segment solves at a time and the
// final pass goes one cell at a time, with a checkpoint (progress out, messages in) every SLICE_MS or so.
// After every iteration and every final-pass slice it posts a snapshot (the results so far and the new
// activity rows), so the page can end a stop without waiting for the unit in flight. Results and the
// activity go back as transferables.

/// <reference lib="webworker" />
import init, * as wasm from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import type { IndecaRequest, IndecaResponse, IterationReport, Phase, StartRequest } from '../shared/indeca-protocol';
import { safeFree, solverErrorParts } from '../shared/solvererror';

declare const self: DedicatedWorkerGlobalScope;

/** Work between two checkpoints, ms (one unit may run over it). */
const SLICE_MS = 150;

let run: wasm.IndecaRun | null = null;
let paused = false;
let stopRequested = false;
let wake: (() => void) | null = null;

function post(msg: IndecaResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function errorParts(e: unknown): { code: string; message: string } {
  const { code, message } = solverErrorParts(e);
  return { code, message };
}

const ready = (async (): Promise<boolean> => {
  try {
    await init({ module_or_path: wasmUrl });
    post({ type: 'ready', engine: 'wasm' });
    return true;
  } catch (e) {
    post({ type: 'init-error', message: `could not load the solver: ${errorParts(e).message}` });
    return false;
  }
})();

/** Lets queued messages (pause, stop, inspect) in, then waits while paused. */
async function checkpoint(): Promise<void> {
  await new Promise<void>((r) => setTimeout(r, 0));
  if (paused && !stopRequested) {
    post({ type: 'paused' });
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = null;
    if (!stopRequested) post({ type: 'resumed' });
  }
}

function progress(phase: Phase, fraction: number, message: string): void {
  post({ type: 'progress', phase, fraction: Math.min(1, Math.max(0, fraction)), message });
}

/** One slice of the current iteration: units until SLICE_MS have passed; the report when it completed. */
function iterationSlice(r: wasm.IndecaRun): IterationReport | null {
  const t0 = performance.now();
  do {
    const json = r.step_partial(1);
    if (json !== undefined) return JSON.parse(json) as IterationReport;
  } while (performance.now() - t0 < SLICE_MS);
  return null;
}

function snapshot(r: wasm.IndecaRun, cellStart: number, cellEnd: number, nTime: number): void {
  const rows = r.activity().slice(cellStart * nTime, cellEnd * nTime);
  post({ type: 'snapshot', resultJson: r.result_json(), cellStart, cellEnd, rows }, [rows.buffer as ArrayBuffer]);
}

async function execute(req: StartRequest): Promise<void> {
  if (!(await ready)) return;
  safeFree(run);
  run = null;
  paused = false;
  stopRequested = false;
  progress('loading', 0, 'Preparing the traces');
  try {
    run = new wasm.IndecaRun(req.traces, req.nCells, req.nTime, req.fs, req.configJson);
  } catch (e) {
    post({ type: 'error', ...errorParts(e) });
    return;
  }
  const r = run;
  const max = req.maxIterations;
  try {
    snapshot(r, 0, 0, req.nTime);
    while (r.iteration() < max && !r.is_converged()) {
      await checkpoint();
      if (stopRequested) break;
      const report = iterationSlice(r);
      const [done, total] = r.step_units();
      const k = r.iteration();
      if (report) {
        post({ type: 'iteration', report });
        snapshot(r, 0, 0, req.nTime);
        progress('iterating', k / max, `Iteration ${k} done (at most ${max})`);
      } else {
        progress(
          'iterating',
          (k + done / Math.max(1, total)) / max,
          `Iteration ${k + 1} of at most ${max}: ${done} of ${total} steps`,
        );
      }
    }
    let next = 0;
    while (next < req.nCells && !stopRequested) {
      progress('final-pass', next / req.nCells, `Final pass: ${next} of ${req.nCells} cells`);
      await checkpoint();
      if (stopRequested) break;
      const from = next;
      const t0 = performance.now();
      do {
        r.final_pass(next, next + 1);
        next++;
      } while (next < req.nCells && performance.now() - t0 < SLICE_MS);
      snapshot(r, from, next, req.nTime);
    }
    if (!stopRequested) progress('final-pass', 1, `Final pass: all ${req.nCells} cells`);
    progress('collecting', 1, stopRequested ? 'Stopped early' : 'Done');
    const resultJson = r.result_json();
    const activity = r.activity();
    post({ type: 'done', resultJson, activity, stopped: stopRequested }, [activity.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', ...errorParts(e) });
  }
}

function inspect(cell: number): void {
  if (!run) return;
  try {
    const trace = run.cell_trace(cell);
    const T = trace.length;
    const activity = run.activity().slice(cell * T, (cell + 1) * T);
    const fit = run.cell_fit(cell);
    post({ type: 'cell', cell, trace, fit, activity }, [trace.buffer, fit.buffer, activity.buffer] as Transferable[]);
  } catch (e) {
    post({ type: 'cell-error', cell, ...errorParts(e) });
  }
}

self.onmessage = (ev: MessageEvent<IndecaRequest>) => {
  const m = ev.data;
  switch (m.type) {
    case 'start':
      void execute(m);
      break;
    case 'pause':
      paused = true;
      break;
    case 'resume':
      paused = false;
      wake?.();
      break;
    case 'stop':
      stopRequested = true;
      wake?.();
      break;
    case 'inspect':
      inspect(m.cell);
      break;
  }
};
