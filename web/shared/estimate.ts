// "Estimate from data" without a browser or the wasm module: which cells the estimate is learned from,
// the noise-based sparsity of the automatic path, the checks on the core's JSON answer, and the line the
// page shows. The worker (workers/solver.worker.ts) runs the wasm side; CaTune's tuner applies the result.

import type { KineticsEstimate } from './messages';
import { median } from './metrics';

/** At most this many cells go into an estimate (the most active ones), as Python's Dask path takes 64 rows. */
export const ESTIMATE_MAX_CELLS = 64;

/**
 * Detection threshold of the automatic sparsity in noise standard deviations of the matched filter:
 * NOISE_LAMBDA_SIGMAS in crates/solver/src/auto.rs (the wasm module does not export it; the e2e test
 * checks the browser's lambda against Python's `run_deconvolution(..., lam=None)`).
 */
export const NOISE_LAMBDA_SIGMAS = 2;

/**
 * The cells an estimate uses: the first `max` of the activity ranking (all cells when there are fewer), in
 * recording order, so that with up to `max` cells the estimate is Python's `calab.estimate_kinetics(traces, fs)`.
 */
export function estimateCells(ranking: readonly number[], max = ESTIMATE_MAX_CELLS): number[] {
  return ranking.slice(0, Math.max(1, max)).sort((a, b) => a - b);
}

/**
 * lambda_from_noise of the core: NOISE_LAMBDA_SIGMAS * sigma * ||h||_2 / G, with h the peak-normalised
 * kernel (`build_kernel`) and G its DC gain (`tau_to_ar2(...)[5]`). In min 1/2 ||y - K s - b||^2 +
 * lambda G ||s||_1 activity stays zero where the matched filter is below lambda G, so this is a detection
 * threshold of two noise standard deviations whatever the unit of the trace.
 */
export function noiseLambda(sigma: number, kernel: ArrayLike<number>, dcGain: number): number {
  if (!(sigma >= 0) || !Number.isFinite(sigma))
    throw estimateError('INVALID_PARAMETER', `noise sigma ${sigma} must be a finite number >= 0`);
  if (!(dcGain > 0) || !Number.isFinite(dcGain) || kernel.length === 0)
    throw estimateError('INVALID_PARAMETER', 'the kernel is empty or has no positive DC gain');
  let ss = 0;
  for (let i = 0; i < kernel.length; i++) ss += kernel[i] * kernel[i];
  return (NOISE_LAMBDA_SIGMAS * sigma * Math.sqrt(ss)) / dcGain;
}

/** The value the controls get: 3 significant digits, as the sliders give. */
export function roundSig(v: number, digits = 3): number {
  return Number(v.toPrecision(digits));
}

/** The lambda CaTune sets: the median of the per-cell lambdas (non-finite ones left out); an error when none is usable. */
export function medianLambda(lambdas: number[]): number {
  const m = median(lambdas);
  if (!Number.isFinite(m)) throw estimateError('NO_DATA', 'no cell gave a finite noise level, so no λ could be chosen');
  return roundSig(m);
}

function estimateError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** Checks the core's JSON answer: every field present, taus finite and positive with rise < decay. */
export function parseKineticsEstimate(json: string): KineticsEstimate {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch (e) {
    throw estimateError(
      'INVALID_STATE',
      `the kinetics estimate is not JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const r = o as Record<string, unknown>;
  const num = (k: string): number => {
    const v = r?.[k];
    if (typeof v !== 'number') throw estimateError('INVALID_STATE', `the kinetics estimate has no number "${k}"`);
    return v;
  };
  const est: KineticsEstimate = {
    tau_rise: num('tau_rise'),
    tau_decay: num('tau_decay'),
    learned_tau_rise: num('learned_tau_rise'),
    learned_tau_decay: num('learned_tau_decay'),
    fit_quality: typeof r.fit_quality === 'string' ? r.fit_quality : '',
    kernel_r2: num('kernel_r2'),
    iterations: num('iterations'),
    converged: r.converged === true,
    warnings: Array.isArray(r.warnings) ? r.warnings.map(String) : [],
  };
  if (!(est.tau_rise > 0 && est.tau_decay > est.tau_rise && Number.isFinite(est.tau_decay))) {
    throw estimateError(
      'INVALID_STATE',
      `the kinetics estimate is not a usable kernel (τ_rise ${est.tau_rise} s, τ_decay ${est.tau_decay} s)`,
    );
  }
  return est;
}

/** The taus the controls get: 3 significant digits, rise kept below decay. */
export function controlTaus(est: KineticsEstimate): { tauRise: number; tauDecay: number } {
  const tauDecay = roundSig(est.tau_decay);
  let tauRise = roundSig(est.tau_rise);
  if (!(tauRise < tauDecay)) tauRise = roundSig(tauDecay / 2);
  return { tauRise, tauDecay };
}

const fmt3 = (v: number): string => (Number.isFinite(v) ? String(roundSig(v)) : String(v));

/** The short line next to the button. */
export function estimateSummary(
  r: { estimate: KineticsEstimate; tauRise: number; tauDecay: number; lambda: number; nCells: number },
  totalCells: number,
  unit: string,
): string {
  const e = r.estimate;
  const from =
    r.nCells < totalCells
      ? `the ${r.nCells} most active of ${totalCells} cells`
      : `all ${r.nCells} cell${r.nCells === 1 ? '' : 's'}`;
  const learned =
    e.learned_tau_rise !== e.tau_rise || e.learned_tau_decay !== e.tau_decay
      ? ` (learned ${fmt3(e.learned_tau_rise)} / ${fmt3(e.learned_tau_decay)} s)`
      : '';
  return (
    `From ${from}: τ_rise ${r.tauRise} s, τ_decay ${r.tauDecay} s${learned}, fit ${e.fit_quality || '?'} (R² ${fmt3(e.kernel_r2)})` +
    `${e.converged ? '' : ', loop not settled'}; λ ${r.lambda} ${unit} from the noise.`
  );
}
