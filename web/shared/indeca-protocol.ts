// Types of the InDeCa contract CaDecon plots (IterationReport, IndecaResult) and the messages between the
// page and the InDeCa worker (web/workers/indeca.worker.ts). No DOM or worker globals, so both TypeScript
// configs compile it. The worker drives pkg/'s IndecaRun through its generated type (pkg/calab_solver.d.ts).

export interface SubsetReport {
  cell_start: number;
  cell_end: number;
  t_start: number;
  t_end: number;
  tau_rise: number;
  tau_decay: number;
  kernel: number[];
}

/** What IndecaRun.step() returns (JSON), one per outer iteration. */
export interface IterationReport {
  iteration: number;
  tau_rise: number;
  tau_decay: number;
  kernel_change: number;
  activity_change: number;
  kernel_r2: number;
  median_pve: number;
  converged: boolean;
  subsets: SubsetReport[];
  kernel_free: number[];
  kernel_fit: number[];
  kernel_dt: number;
}

export interface CellError {
  cell: number;
  code: string;
  message: string;
}

/** IndecaRun.result_json() (schemas/cadecon-results.schema.json). */
export interface IndecaResult {
  schema_version: string;
  app: 'cadecon';
  fs: number;
  num_cells: number;
  num_timepoints: number;
  cell_indices: number[];
  tau_rise: number;
  tau_decay: number;
  beta: number;
  tau_rise_fast: number | null;
  tau_decay_fast: number | null;
  beta_fast: number | null;
  fit_quality: 'good' | 'fair' | 'poor';
  kernel_r2: number;
  kernel_slow: number[];
  kernel_fast: number[];
  kernel_dt: number;
  alphas: (number | null)[];
  baselines: (number | null)[];
  pves: (number | null)[];
  event_rates: (number | null)[];
  cell_errors: CellError[];
  iterations: number;
  converged: boolean;
  partial: boolean;
  config: Record<string, unknown>;
  /** Why the final kernel differs from the learned one, or may be unreliable (schema 1.1). */
  warnings?: string[];
  provenance?: Record<string, unknown>;
}

export type Phase = 'loading' | 'iterating' | 'final-pass' | 'collecting';

export const PHASE_LABEL: Record<Phase, string> = {
  loading: 'Starting',
  iterating: 'Estimating the kernel',
  'final-pass': 'Final pass over all cells',
  collecting: 'Collecting results',
};

// ---------------------------------------------------------------- page -> worker

export interface StartRequest {
  type: 'start';
  traces: Float32Array;
  nCells: number;
  nTime: number;
  fs: number;
  configJson: string;
  maxIterations: number;
  /** Workers to spread the solves over (this worker and its helpers); default one per core. */
  workers?: number;
}

export type ControlRequest = { type: 'pause' } | { type: 'resume' } | { type: 'stop' };

/** Preprocessed trace, fit and activity of one cell (trace inspector). */
export interface InspectRequest {
  type: 'inspect';
  cell: number;
}

export type IndecaRequest = StartRequest | ControlRequest | InspectRequest;

// ---------------------------------------------------------------- worker -> page

export type IndecaResponse =
  | { type: 'ready'; engine: 'wasm' }
  | { type: 'init-error'; message: string }
  | { type: 'iteration'; report: IterationReport }
  | { type: 'progress'; phase: Phase; fraction: number; message: string }
  | { type: 'paused' }
  | { type: 'resumed' }
  /** `workers`: how many workers solved units (the InDeCa worker and the helpers that started). */
  | { type: 'done'; resultJson: string; activity: Float32Array; stopped: boolean; workers: number }
  /** The results so far (after an iteration or a final-pass slice) and the activity rows [cellStart, cellEnd) it finished. */
  | { type: 'snapshot'; resultJson: string; cellStart: number; cellEnd: number; rows: Float32Array }
  | { type: 'error'; code: string; message: string }
  | { type: 'cell'; cell: number; trace: Float32Array; fit: Float32Array; activity: Float32Array }
  | { type: 'cell-error'; cell: number; code: string; message: string };

// ---------------------------------------------------------------- InDeCa worker <-> its helpers
// The InDeCa worker spreads a run's solves over helper workers (web/workers/indeca-helper.worker.ts), each
// holding a replica IndecaRun built from the same traces and config. Units travel as pkg/'s f64 records
// (crates/solver/src/indeca/work.rs); every message of a run carries the owner's batch generation.

/** A segment task record, or one final-pass cell with the final kernel. */
export type WorkUnit =
  | { kind: 'segment'; job: number; record: Float64Array }
  | { kind: 'final-cell'; cell: number; tauRise: number; tauDecay: number };

export type HelperRequest =
  | { type: 'init'; traces: Float32Array; nCells: number; nTime: number; fs: number; configJson: string }
  | { type: 'unit'; gen: number; id: number; unit: WorkUnit };

export type HelperResponse =
  | { type: 'ready' }
  | { type: 'init-error'; code: string; message: string }
  | { type: 'solved'; gen: number; id: number; kind: WorkUnit['kind']; record: Float64Array }
  /** The owner solves a failed unit itself, so a helper's failure never changes the run. */
  | { type: 'failed'; gen: number; id: number; code: string; message: string; trapped: boolean };
