// Messages between the page and the solver workers. This file is the only thing both sides import, and
// it has no DOM or worker globals, so it compiles under both TypeScript configs.

/** The deconvolution method: L1 (double-exponential kernel, exact), exact L0 (AR(1)), or Convar. */
export type SolverKind = 'l1' | 'l0' | 'convar';

export interface SolveParams {
  solver: SolverKind;
  tauRise: number;
  tauDecay: number;
  /** L1 sparsity weight. */
  lambda: number;
  fs: number;
  filterEnabled: boolean;
  removeDrift: boolean;
  /** L0: penalty per spike, in squared trace units. */
  l0Lambda: number;
  /** L0: spikes may only raise the calcium. */
  l0Positive: boolean;
  /** Convar: sparsity weight; null lets Convar search for one. */
  convarLambda: number | null;
}

export interface SolveRequest {
  type: 'solve';
  jobId: number;
  cell: number;
  /** The whole raw trace of the cell (preprocessing runs on all of it, as on the Python side). */
  trace: Float32Array;
  /** Samples [lo, hi) to solve; the whole trace when absent. */
  range?: [number, number];
  params: SolveParams;
  /** L1 only: hold the baseline at this value (the whole-trace optimum) instead of fitting it. */
  fixedBaseline?: number;
  maxIters: number;
  /** Also return the power spectrum of the (whole) fitted trace and the filter cutoffs. */
  wantSpectrum?: boolean;
  /** Also return the noise level and SNR of the whole fitted trace (`stats`). */
  wantStats?: boolean;
  /** Only the activity is needed (export): `fitted` and `reconvolution` come back empty. */
  activityOnly?: boolean;
}

/** Numbers of a cell's whole fitted trace, whatever window was solved. */
export interface CellStats {
  /** Noise standard deviation, in the trace's unit (the core's estimate_noise, as Python's results report it). */
  noise: number;
  /** Peak signal-to-noise ratio: (99th percentile - median) / noise. */
  snr: number;
}

export interface Spectrum {
  freqs: Float32Array;
  power: Float32Array;
  /** [f_hp, f_lp] in Hz. */
  cutoffs: Float64Array;
}

/**
 * "Estimate from data" (CaTune): learn the kinetics of a bounded sample of cells (the core's
 * estimate_kinetics, the InDeCa loop of Python's `calab.estimate_kinetics`), then the noise-based L1
 * lambda of each cell for that kernel and the given preprocessing. Sent to a worker of its own, not the pool.
 */
export interface EstimateRequest {
  type: 'estimate';
  jobId: number;
  /** Row-major nCells x nTime raw traces of the sample. */
  traces: Float32Array;
  nCells: number;
  nTime: number;
  fs: number;
  filterEnabled: boolean;
  removeDrift: boolean;
}

export type WorkerRequest = SolveRequest | EstimateRequest;

export interface SolveResult {
  type: 'result';
  jobId: number;
  cell: number;
  /** The parameters and samples [lo, hi) of the request (the arrays below cover those samples). */
  params: SolveParams;
  range: [number, number];
  /** The trace the model was fitted to (filtered / drift-removed when those are on). */
  fitted: Float32Array;
  activity: Float32Array;
  /** The model's fit to `fitted` (kernel * activity + baseline, or the AR(1) calcium). */
  reconvolution: Float32Array;
  baseline: number;
  /** Whether `baseline` was held fixed (given in the request) rather than fitted. */
  baselineFixed: boolean;
  iterations: number;
  converged: boolean;
  /** The solver's own numbers worth showing (e.g. L0 spike count, Convar's chosen lambda). */
  extra?: Record<string, number>;
  /** Time in the worker for the whole request, and in the solver call alone. */
  elapsedMs: number;
  solveMs: number;
  spectrum?: Spectrum;
  stats?: CellStats;
}

export interface SolveFailure {
  type: 'error';
  jobId: number;
  cell: number;
  code: string;
  message: string;
}

export interface WorkerReady {
  type: 'ready';
  /** Solvers the worker provides (all of SolverKind: pkg/ has L1, L0 and Convar). */
  solvers: SolverKind[];
}

export interface WorkerInitFailure {
  type: 'init-error';
  message: string;
}

export type WorkerResponse = SolveResult | SolveFailure | WorkerReady | WorkerInitFailure;

/** The JSON `KineticsEstimate` of the core (crates/solver/src/auto.rs), times in seconds. */
export interface KineticsEstimate {
  tau_rise: number;
  tau_decay: number;
  learned_tau_rise: number;
  learned_tau_decay: number;
  fit_quality: string;
  kernel_r2: number;
  iterations: number;
  converged: boolean;
  warnings: string[];
}

export interface EstimateProgress {
  type: 'estimate-progress';
  jobId: number;
  /** What the worker is doing now, for the busy line. */
  stage: string;
}

export interface EstimateResult {
  type: 'estimate-result';
  jobId: number;
  estimate: KineticsEstimate;
  /** The taus to set (the estimate to 3 significant digits) and the lambda for them: the median over the sample's cells. */
  tauRise: number;
  tauDecay: number;
  lambda: number;
  /** Median noise sigma of the sample's fitted traces. */
  noise: number;
  nCells: number;
  elapsedMs: number;
}

export interface EstimateFailure {
  type: 'estimate-error';
  jobId: number;
  code: string;
  message: string;
}

export type EstimateResponse = EstimateProgress | EstimateResult | EstimateFailure;

export function sameKernel(a: SolveParams, b: SolveParams): boolean {
  return (
    a.tauRise === b.tauRise &&
    a.tauDecay === b.tauDecay &&
    a.fs === b.fs &&
    a.filterEnabled === b.filterEnabled &&
    a.removeDrift === b.removeDrift
  );
}

/** Whether two parameter sets give the same solution (every field, whichever solver is chosen). */
export function paramsEqual(a: SolveParams, b: SolveParams): boolean {
  return (
    sameKernel(a, b) &&
    a.solver === b.solver &&
    a.lambda === b.lambda &&
    a.l0Lambda === b.l0Lambda &&
    a.l0Positive === b.l0Positive &&
    a.convarLambda === b.convarLambda
  );
}
