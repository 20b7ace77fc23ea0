// Module worker that owns one wasm Solver. It loads pkg/ once, answers `ready`, then solves one cell per
// request with the exact solver (`solve`, the same method native Python runs), so numbers in the browser
// match calab.run_deconvolution. Arrays go back as transferables.

/// <reference lib="webworker" />
import init, { Solver } from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import type { SolveFailure, SolveResult, WorkerRequest, WorkerResponse } from '../shared/messages';

declare const self: DedicatedWorkerGlobalScope;

let solver: Solver | null = null;

function post(msg: WorkerResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  try {
    await init({ module_or_path: wasmUrl });
    solver = new Solver();
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'init-error', message: `could not load the solver: ${e instanceof Error ? e.message : String(e)}` });
  }
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.type !== 'solve' || !solver) return;
  const t0 = performance.now();
  try {
    const s = solver;
    const p = req.params;
    s.set_filter_enabled(p.filterEnabled);
    s.set_drift_removal(p.removeDrift);
    s.set_params(p.tauRise, p.tauDecay, p.lambda, p.fs);
    s.set_trace(req.trace);
    if (req.warmState && req.warmState.length > 0) {
      try {
        s.load_state(req.warmState);
      } catch {
        // A state from a different trace length is useless, not an error: solve cold.
      }
    }
    const converged = s.solve(req.maxIters);
    const result: SolveResult = {
      type: 'result', jobId: req.jobId, cell: req.cell,
      fitted: s.get_trace(), activity: s.get_solution(), reconvolution: s.get_reconvolution_with_baseline(),
      baseline: s.get_baseline(), iterations: s.iteration_count(), converged, state: s.export_state(),
      elapsedMs: performance.now() - t0,
    };
    const transfer: Transferable[] = [result.fitted.buffer, result.activity.buffer, result.reconvolution.buffer, result.state.buffer] as Transferable[];
    if (req.wantSpectrum) {
      result.spectrum = { freqs: s.get_spectrum_frequencies(), power: s.get_power_spectrum(), cutoffs: s.get_filter_cutoffs() };
      transfer.push(result.spectrum.freqs.buffer as ArrayBuffer, result.spectrum.power.buffer as ArrayBuffer, result.spectrum.cutoffs.buffer as ArrayBuffer);
    }
    post(result, transfer);
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const fail: SolveFailure = {
      type: 'error', jobId: req.jobId, cell: req.cell,
      code: typeof err?.code === 'string' ? err.code : 'SOLVER_ERROR',
      message: typeof err?.message === 'string' ? err.message : String(e),
    };
    post(fail);
  }
};

void start();
