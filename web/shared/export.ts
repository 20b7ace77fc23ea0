// Builds the parameter export (schemas/catune-export.schema.json, layout 1.2.0) from the tuned parameters
// and the kernel numbers the wasm module computes. Pure, so unit tests check it against the schema file.

import type { SolveParams } from './messages';

export const EXPORT_SCHEMA_VERSION = '1.2.0';

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
    tau_rise_s: number; tau_decay_s: number; lambda: number; sampling_rate_hz: number;
    filter_enabled: boolean; remove_drift: boolean; solver: 'l1';
  };
  ar2_coefficients: { g1: number; g2: number; d: number; r: number; dt: number };
  kernel: { peak_time_s: number; fwhm_s: number; length_samples: number; dc_gain: number };
  formulation: { objective: string; kernel: string; convergence: string };
  metadata: { source_filename: string | null; num_cells: number; num_timepoints: number; cell_indices: number[] };
}

export function buildExport(x: ExportInput): CaTuneExport {
  const p = x.params;
  const [g1, g2, d, r, , dcGain] = Array.from(x.kernel.ar2);
  return {
    schema_version: EXPORT_SCHEMA_VERSION,
    catune_version: x.appVersion,
    export_date: (x.date ?? new Date()).toISOString(),
    parameters: {
      tau_rise_s: p.tauRise, tau_decay_s: p.tauDecay, lambda: p.lambda, sampling_rate_hz: p.fs,
      filter_enabled: p.filterEnabled, remove_drift: p.removeDrift, solver: 'l1',
    },
    ar2_coefficients: { g1, g2, d, r, dt: 1 / p.fs },
    kernel: { peak_time_s: x.kernel.shape[0], fwhm_s: x.kernel.shape[1], length_samples: x.kernel.lengthSamples, dc_gain: dcGain },
    formulation: {
      objective: 'minimize_s 1/2 ||y - (K s + b)||^2 + lambda * dc_gain * ||s||_1 subject to s >= 0',
      kernel: 'h(t) = exp(-t/tau_decay) - exp(-t/tau_rise), sampled at 1/fs and normalised to peak 1',
      convergence: 'exact non-negative L1 solve (interior point), the method calab.run_deconvolution uses',
    },
    metadata: {
      source_filename: x.sourceFilename, num_cells: x.numCells, num_timepoints: x.numTimepoints, cell_indices: [...x.cellIndices],
    },
  };
}
