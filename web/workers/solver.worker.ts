// Module worker that owns the wasm solvers. It loads pkg/ once, answers `ready` (with the solvers this
// build provides), then solves one cell per request: the whole trace or the samples [lo, hi) of it.
// Preprocessing (drift removal, band-pass) always runs on the whole trace, exactly as the Python side does,
// and is cached per cell and kernel, so a lambda change or a new window only re-solves. L1 runs the exact
// solver (`solve`, what native Python runs); given the whole-trace baseline it holds it fixed, so a window
// padded by a kernel length reproduces the whole-trace solution inside it. Arrays go back as transferables.

/// <reference lib="webworker" />
import init, * as wasm from '../../pkg/calab_solver.js';
import wasmUrl from '../../pkg/calab_solver_bg.wasm?url';
import type {
  CellStats,
  EstimateRequest,
  EstimateResponse,
  SolveFailure,
  SolveParams,
  SolveRequest,
  SolveResult,
  SolverKind,
  Spectrum,
  WorkerRequest,
  WorkerResponse,
} from '../shared/messages';
import { controlTaus, medianLambda, noiseLambda, parseKineticsEstimate } from '../shared/estimate';
import { median } from '../shared/metrics';
import { peakSnr } from '../shared/noise';
import { safeFree, solverErrorParts } from '../shared/solvererror';

declare const self: DedicatedWorkerGlobalScope;

let solver: wasm.Solver | null = null;

function post(msg: WorkerResponse | EstimateResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  try {
    await init({ module_or_path: wasmUrl });
    solver = new wasm.Solver();
    const solvers: SolverKind[] = ['l1', 'l0', 'convar'];
    post({ type: 'ready', solvers });
  } catch (e) {
    post({ type: 'init-error', message: `could not load the solver: ${e instanceof Error ? e.message : String(e)}` });
  }
}

// ------------------------------------------------------------------ preprocessing cache

const CACHE_ENTRIES = 16;
const cache = new Map<string, Float32Array>();

/** The whole fitted trace: the raw one, or drift-removed / band-passed (cached per cell and kernel). */
function fittedTrace(cell: number, raw: Float32Array, p: SolveParams): Float32Array {
  if (!p.filterEnabled && !p.removeDrift) return raw;
  const key = `${cell}|${raw.length}|${p.tauRise}|${p.tauDecay}|${p.fs}|${p.filterEnabled}|${p.removeDrift}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit); // most recently used last
    return hit;
  }
  const y = wasm.preprocess_trace(raw, p.tauRise, p.tauDecay, p.fs, p.removeDrift, p.filterEnabled);
  cache.set(key, y);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return y;
}

/** Which fitted trace a cell has: the raw one unless preprocessing is on, in which case it follows the kernel. */
function fittedKey(cell: number, n: number, p: SolveParams): string {
  return p.filterEnabled || p.removeDrift
    ? `${cell}|${n}|${p.tauRise}|${p.tauDecay}|${p.fs}|${p.filterEnabled}|${p.removeDrift}`
    : `${cell}|${n}|raw`;
}

/** Power spectrum of the last fitted trace asked for; the cutoffs are cheap and follow the kernel. */
let lastSpectrum: { key: string; freqs: Float32Array; power: Float32Array } | null = null;

function periodogram(cell: number, y: Float32Array, p: SolveParams): { freqs: Float32Array; power: Float32Array } {
  const key = fittedKey(cell, y.length, p);
  if (lastSpectrum?.key !== key) {
    const s = new wasm.Solver();
    try {
      s.set_params(p.tauRise, p.tauDecay, p.lambda, p.fs);
      s.set_trace(y);
      lastSpectrum = { key, freqs: s.get_spectrum_frequencies(), power: s.get_power_spectrum() };
    } finally {
      safeFree(s);
    }
  }
  return lastSpectrum;
}

function spectrumOf(cell: number, y: Float32Array, p: SolveParams): Spectrum {
  const { freqs, power } = periodogram(cell, y, p);
  return { freqs: freqs.slice(), power: power.slice(), cutoffs: wasm.filter_cutoffs(p.tauRise, p.tauDecay, p.fs) };
}

/** Noise (the core's estimate_noise) and SNR of each cell's whole fitted trace (cached: they change only with the preprocessing). */
const statsCache = new Map<string, CellStats>();

function statsOf(cell: number, y: Float32Array, p: SolveParams): CellStats {
  const key = fittedKey(cell, y.length, p);
  let st = statsCache.get(key);
  if (!st) {
    const noise = wasm.estimate_noise(y);
    st = { noise, snr: peakSnr(y, noise) };
    statsCache.set(key, st);
    if (statsCache.size > 4 * CACHE_ENTRIES) statsCache.delete(statsCache.keys().next().value as string);
  }
  return { ...st };
}

// ------------------------------------------------------------------ solvers

/** What a solver gives; the worker adds the request's identity, the fitted trace and the timings. */
type Solved = Pick<
  SolveResult,
  'activity' | 'reconvolution' | 'baseline' | 'baselineFixed' | 'iterations' | 'converged' | 'extra'
>;

function solveL1(s: wasm.Solver, y: Float32Array, req: SolveRequest): Solved {
  const p = req.params;
  s.set_params(p.tauRise, p.tauDecay, p.lambda, p.fs);
  s.set_trace(y);
  const fixed = req.fixedBaseline !== undefined && Number.isFinite(req.fixedBaseline);
  s.set_fixed_baseline(fixed ? req.fixedBaseline! : NaN);
  const converged = s.solve(req.maxIters);
  return {
    activity: s.get_solution(),
    reconvolution: s.get_reconvolution_with_baseline(),
    baseline: s.get_baseline(),
    baselineFixed: fixed,
    iterations: s.iteration_count(),
    converged,
  };
}

function solveL0(y: Float32Array, p: SolveParams): Solved {
  const gamma = wasm.l0_gamma_from_tau(p.tauDecay, p.fs);
  const sol = wasm.l0_solve(y, gamma, p.l0Lambda, p.l0Positive);
  try {
    return {
      activity: sol.spikes(),
      reconvolution: sol.calcium(),
      baseline: 0,
      baselineFixed: true,
      iterations: 0,
      converged: true,
      extra: { spikes: sol.num_spikes, cost: sol.cost, gamma },
    };
  } finally {
    safeFree(sol);
  }
}

/** calab.run_convar's default iteration cap (crates/solver/src/convar.rs DEFAULT_MAX_ITERS), so exports reproduce. */
const CONVAR_MAX_ITERS = 10_000;

function solveConvar(y: Float32Array, p: SolveParams): Solved {
  const gamma = wasm.l0_gamma_from_tau(p.tauDecay, p.fs);
  const r = wasm.convar_solve(y, gamma, p.convarLambda ?? NaN, CONVAR_MAX_ITERS);
  try {
    const rates = r.rates();
    const baseline = r.baseline;
    // The modelled calcium (without baseline) on the baseline is the fit.
    const fit = r.calcium();
    for (let t = 0; t < fit.length; t++) fit[t] += baseline;
    if (rates.length) rates[0] = 0; // the initial calcium, not activity
    return {
      activity: rates,
      reconvolution: fit,
      baseline,
      baselineFixed: false,
      iterations: r.iterations,
      converged: r.converged,
      extra: { lambda: r.lambda, gamma },
    };
  } finally {
    safeFree(r);
  }
}

// ------------------------------------------------------------------ estimate from data

/**
 * Kinetics of the sample (the core's estimate_kinetics with the default InDeCa config, on the raw traces,
 * as Python's automatic path), then each cell's noise-based lambda for that kernel on its fitted trace
 * (the current preprocessing), as run_deconvolution(..., lam=None) chooses it; the page gets the median.
 */
function estimate(req: EstimateRequest): void {
  const t0 = performance.now();
  try {
    post({
      type: 'estimate-progress',
      jobId: req.jobId,
      stage: `learning the kinetics from ${req.nCells} cell${req.nCells === 1 ? '' : 's'}`,
    });
    const est = parseKineticsEstimate(wasm.estimate_kinetics(req.traces, req.nCells, req.nTime, req.fs, '{}'));
    const { tauRise, tauDecay } = controlTaus(est);
    post({ type: 'estimate-progress', jobId: req.jobId, stage: 'choosing λ from each cell\u2019s noise' });
    const kernel = wasm.build_kernel(tauRise, tauDecay, req.fs);
    const dcGain = wasm.tau_to_ar2(tauRise, tauDecay, req.fs)[5];
    const p: SolveParams = {
      solver: 'l1',
      tauRise,
      tauDecay,
      lambda: 0,
      fs: req.fs,
      filterEnabled: req.filterEnabled,
      removeDrift: req.removeDrift,
      l0Lambda: 0,
      l0Positive: true,
      convarLambda: null,
    };
    const noises: number[] = [];
    const lambdas: number[] = [];
    for (let c = 0; c < req.nCells; c++) {
      const raw = req.traces.subarray(c * req.nTime, (c + 1) * req.nTime);
      // Keyed apart from the pool's cells: this worker is the estimate's own, but the cache is shared code.
      const y = fittedTrace(-1 - c, raw, p);
      const sigma = wasm.estimate_noise(y);
      noises.push(sigma);
      lambdas.push(noiseLambda(sigma, kernel, dcGain));
    }
    post({
      type: 'estimate-result',
      jobId: req.jobId,
      estimate: est,
      tauRise,
      tauDecay,
      lambda: medianLambda(lambdas),
      noise: median(noises),
      nCells: req.nCells,
      elapsedMs: performance.now() - t0,
    });
  } catch (e) {
    const { code, message } = solverErrorParts(e);
    post({ type: 'estimate-error', jobId: req.jobId, code, message });
  }
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.type === 'estimate') {
    if (!solver)
      post({
        type: 'estimate-error',
        jobId: req.jobId,
        code: 'NOT_READY',
        message: 'the solver module is not loaded yet',
      });
    else estimate(req);
    return;
  }
  if (req.type !== 'solve' || !solver) return;
  const t0 = performance.now();
  try {
    const p = req.params;
    const full = fittedTrace(req.cell, req.trace, p);
    const [lo, hi] = req.range ?? [0, full.length];
    const y = lo === 0 && hi === full.length ? full : full.subarray(lo, hi);
    const t1 = performance.now();
    const solved =
      p.solver === 'l0' ? solveL0(y, p) : p.solver === 'convar' ? solveConvar(y, p) : solveL1(solver, y, req);
    const solveMs = performance.now() - t1;
    if (req.activityOnly) {
      solved.reconvolution = new Float32Array(0);
    }
    const result: SolveResult = {
      type: 'result',
      jobId: req.jobId,
      cell: req.cell,
      params: p,
      range: [lo, hi],
      fitted: req.activityOnly ? new Float32Array(0) : y.slice(),
      ...solved,
      elapsedMs: 0,
      solveMs,
    };
    const transfer: Transferable[] = [
      result.fitted.buffer,
      result.activity.buffer,
      result.reconvolution.buffer,
    ] as Transferable[];
    if (req.wantSpectrum) {
      result.spectrum = spectrumOf(req.cell, full, p);
      transfer.push(
        result.spectrum.freqs.buffer as ArrayBuffer,
        result.spectrum.power.buffer as ArrayBuffer,
        result.spectrum.cutoffs.buffer as ArrayBuffer,
      );
    }
    if (req.wantStats || req.wantSpectrum) result.stats = statsOf(req.cell, full, p);
    result.elapsedMs = performance.now() - t0;
    post(result, transfer);
  } catch (e) {
    const { code, message, trapped } = solverErrorParts(e);
    if (trapped) {
      // The module trapped (a panic): the shared solver may be left borrowed; start a fresh one.
      safeFree(solver);
      solver = new wasm.Solver();
      cache.clear();
      lastSpectrum = null;
    }
    const fail: SolveFailure = { type: 'error', jobId: req.jobId, cell: req.cell, code, message };
    post(fail);
  }
};

void start();
