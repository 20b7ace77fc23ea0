// What either app works on (CaTune tunes it, CaDecon runs on it), whichever way it arrived (file, demo,
// Python bridge).
import type { TraceMatrix } from './traces';

export interface Dataset {
  matrix: TraceMatrix;
  fs: number;
  /** Name of the loaded file; null for the demo and for bridge sessions. */
  sourceFilename: string | null;
  /** Shown in the header. */
  label: string;
  /** Ground truth of simulated data, per cell. */
  truth?: { calcium: Float32Array[]; spikes: Float32Array[] };
  /** Row labels from the bridge session (cell_ids), when given. */
  cellIds?: (number | string)[];
  /** Unit of the trace values for axis titles ("a.u." when unknown). */
  unit?: string;
}
