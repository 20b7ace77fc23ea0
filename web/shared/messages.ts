// Messages between the page and the solver workers. This file is the only thing both sides import, and
// it has no DOM or worker globals, so it compiles under both TypeScript configs.

export interface SolveParams {
  tauRise: number;
  tauDecay: number;
  lambda: number;
  fs: number;
  filterEnabled: boolean;
  removeDrift: boolean;
}

export interface SolveRequest {
  type: 'solve';
  jobId: number;
  cell: number;
  trace: Float32Array;
  params: SolveParams;
  /** Solver state from an earlier solve of the same cell at the same kernel (warm start); lambda-only changes. */
  warmState?: Float64Array;
  maxIters: number;
  /** Also return the power spectrum of the fitted trace and the filter cutoffs (the inspected cell). */
  wantSpectrum?: boolean;
}

export interface Spectrum {
  freqs: Float32Array;
  power: Float32Array;
  /** [f_hp, f_lp] in Hz. */
  cutoffs: Float64Array;
}

export type WorkerRequest = SolveRequest;

export interface SolveResult {
  type: 'result';
  jobId: number;
  cell: number;
  /** The trace the model was fitted to (filtered / drift-removed when those are on). */
  fitted: Float32Array;
  activity: Float32Array;
  /** Kernel * activity + baseline. */
  reconvolution: Float32Array;
  baseline: number;
  iterations: number;
  converged: boolean;
  state: Float64Array;
  elapsedMs: number;
  spectrum?: Spectrum;
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
}

export interface WorkerInitFailure {
  type: 'init-error';
  message: string;
}

export type WorkerResponse = SolveResult | SolveFailure | WorkerReady | WorkerInitFailure;

export function sameKernel(a: SolveParams, b: SolveParams): boolean {
  return a.tauRise === b.tauRise && a.tauDecay === b.tauDecay && a.fs === b.fs && a.filterEnabled === b.filterEnabled && a.removeDrift === b.removeDrift;
}
