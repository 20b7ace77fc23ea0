// Builds the parameter export (schemas/catune-export.schema.json, layout 1.3.0) from the tuned parameters
// and the kernel numbers the wasm module computes. Pure, so unit tests check it against the schema file.
// 1.3.0 adds the L0 and Convar solvers: `parameters.solver` names the one tuned and, for those two,
// `parameters.solver_params` holds its own parameters (an L1 export looks exactly like 1.2.0).

import exportSchema from '../../schemas/catune-export.schema.json';
import type { SolveParams, SolverKind } from './messages';

/** The layout version written: the schema's `schema_version` default, which calab.build_export reads too. */
export const EXPORT_SCHEMA_VERSION: string = exportSchema.properties.schema_version.default;

export type SolverParamsExport =
  | { lambda: number; positive: boolean; gamma: number }
  | { lambda: number | null; gamma: number };

export interface KernelNumbers {
  /** tau_to_ar2 output: [g1, g2, d, r, gain, dc_gain]. */
  ar2: ArrayLike<number>;
  /** kernel_shape output: [peak_time_s, fwhm_s]. */
  shape: ArrayLike<number>;
  lengthSamples: number;
}

export interface ExportInput {
  params: SolveParams;
  kernel: KernelNumbers;
  /** AR(1) decay per frame exp(-1/(tau_decay fs)), used by L0 and Convar. */
  gamma?: number;
  appVersion: string;
  sourceFilename: string | null;
  numCells: number;
  numTimepoints: number;
  cellIndices: number[];
  date?: Date;
}

export interface CaTuneExport {
  schema_version: string;
  catune_version: string;
  export_date: string;
  parameters: {
    tau_rise_s: number;
    tau_decay_s: number;
    lambda: number;
    sampling_rate_hz: number;
    filter_enabled: boolean;
    remove_drift: boolean;
    solver: SolverKind;
    solver_params?: SolverParamsExport;
  };
  ar2_coefficients: { g1: number; g2: number; d: number; r: number; dt: number };
  kernel: { peak_time_s: number; fwhm_s: number; length_samples: number; dc_gain: number };
  formulation: { objective: string; kernel: string; convergence: string };
  metadata: { source_filename: string | null; num_cells: number; num_timepoints: number; cell_indices: number[] };
}

const FORMULATIONS: Record<SolverKind, CaTuneExport['formulation']> = {
  l1: {
    objective: 'minimize_s 1/2 ||y - (K s + b)||^2 + lambda * dc_gain * ||s||_1 subject to s >= 0',
    kernel: 'h(t) = exp(-t/tau_decay) - exp(-t/tau_rise), sampled at 1/fs and normalised to peak 1',
    convergence: 'exact non-negative L1 solve (interior point), the method calab.run_deconvolution uses',
  },
  l0: {
    objective:
      'minimize_c 1/2 ||y - c||^2 + lambda * #{t >= 2 : s_t != 0}, s_t = c_t - gamma c_{t-1} (s_t >= 0 when positive)',
    kernel: 'AR(1): c_t = gamma c_{t-1} + s_t, gamma = exp(-1/(tau_decay fs))',
    convergence: 'exact L0 solution by dynamic programming with functional pruning, as calab.run_l0',
  },
  convar: {
    objective: 'Convar: AR(1) deconvolution with a baseline, sparsity lambda (searched when null)',
    kernel: 'AR(1): c_t = gamma c_{t-1} + s_t, gamma = exp(-1/(tau_decay fs))',
    convergence: 'as calab.run_convar',
  },
};

export function buildExport(x: ExportInput): CaTuneExport {
  const p = x.params;
  const solver: SolverKind = p.solver ?? 'l1';
  const [g1, g2, d, r, , dcGain] = Array.from(x.kernel.ar2);
  const gamma = x.gamma ?? Math.exp(-1 / (p.tauDecay * p.fs));
  const solverParams: SolverParamsExport | undefined =
    solver === 'l0'
      ? { lambda: p.l0Lambda, positive: p.l0Positive, gamma }
      : solver === 'convar'
        ? { lambda: p.convarLambda, gamma }
        : undefined;
  return {
    schema_version: EXPORT_SCHEMA_VERSION,
    catune_version: x.appVersion,
    export_date: (x.date ?? new Date()).toISOString(),
    parameters: {
      tau_rise_s: p.tauRise,
      tau_decay_s: p.tauDecay,
      lambda: p.lambda,
      sampling_rate_hz: p.fs,
      filter_enabled: p.filterEnabled,
      remove_drift: p.removeDrift,
      solver,
      ...(solverParams ? { solver_params: solverParams } : {}),
    },
    ar2_coefficients: { g1, g2, d, r, dt: 1 / p.fs },
    kernel: {
      peak_time_s: x.kernel.shape[0],
      fwhm_s: x.kernel.shape[1],
      length_samples: x.kernel.lengthSamples,
      dc_gain: dcGain,
    },
    formulation: { ...FORMULATIONS[solver] },
    metadata: {
      source_filename: x.sourceFilename,
      num_cells: x.numCells,
      num_timepoints: x.numTimepoints,
      cell_indices: [...x.cellIndices],
    },
  };
}
