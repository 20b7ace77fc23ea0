// Module worker that runs one InDeCa job with IndecaRun from pkg/ (the Rust core, the same loop Python's
// calab.run_indeca runs), and says so in `ready`. One outer iteration per
// step() with each IterationReport posted; pause and stop are honoured between steps and between final-pass
// chunks; results and the activity matrix go back as transferables.

/// <reference lib="webworker" />
import init, * as wasm from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import type { IndecaRequest, IndecaResponse, IndecaRunCtor, IndecaRunLike, IterationReport, Phase, StartRequest } from '../cadecon/src/protocol';
import { safeFree, solverErrorParts } from '../shared/solvererror';

declare const self: DedicatedWorkerGlobalScope;

let Engine: IndecaRunCtor | null = null;
let run: IndecaRunLike | null = null;
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
    Engine = wasm.IndecaRun as unknown as IndecaRunCtor;
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
    await new Promise<void>((r) => { wake = r; });
    wake = null;
    if (!stopRequested) post({ type: 'resumed' });
  }
}

function progress(phase: Phase, fraction: number, message: string): void {
  post({ type: 'progress', phase, fraction: Math.min(1, Math.max(0, fraction)), message });
}

async function execute(req: StartRequest): Promise<void> {
  if (!(await ready) || !Engine) return;
  safeFree(run);
  run = null;
  paused = false;
  stopRequested = false;
  progress('loading', 0, 'Preparing traces');
  try {
    run = new Engine(req.traces, req.nCells, req.nTime, req.fs, req.configJson);
  } catch (e) {
    post({ type: 'error', ...errorParts(e) });
    return;
  }
  const r = run;
  try {
    while (r.iteration() < req.maxIterations && !r.isConverged()) {
      await checkpoint();
      if (stopRequested) break;
      const report = JSON.parse(r.step()) as IterationReport;
      post({ type: 'iteration', report });
      progress('iterating', r.iteration() / req.maxIterations, `Iteration ${r.iteration()} of at most ${req.maxIterations}`);
    }
    const chunk = Math.max(1, req.chunk);
    for (let a = 0; a < req.nCells && !stopRequested; a += chunk) {
      progress('final-pass', a / req.nCells, `Cells ${a}-${Math.min(req.nCells, a + chunk) - 1} of ${req.nCells}`);
      await checkpoint();
      if (stopRequested) break;
      r.finalPass(a, Math.min(req.nCells, a + chunk));
    }
    if (!stopRequested) progress('final-pass', 1, `All ${req.nCells} cells`);
    progress('collecting', 1, stopRequested ? 'Stopped early' : 'Done');
    const resultJson = r.resultJson();
    const activity = r.activity();
    post({ type: 'done', resultJson, activity, stopped: stopRequested }, [activity.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', ...errorParts(e) });
  }
}

function inspect(cell: number): void {
  if (!run) return;
  try {
    const trace = run.cellTrace(cell);
    const T = trace.length;
    const activity = run.activity().slice(cell * T, (cell + 1) * T);
    const fit = run.cellFit(cell);
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
