// "Export activity": the deconvolved activity of every cell of the recording (not only the cards shown),
// solved over whole traces in the solver workers with the parameters of the moment, collected into one
// cells x frames matrix, and packed with the parameter export. Solutions the cards already hold for the
// same parameters are reused. DOM-free: the page wires the progress display and the download.

import { strToU8, zipSync } from 'fflate';
import { encodeMat } from '../../shared/matwrite';
import { encodeNpy } from '../../shared/npywrite';
import type { SolveParams, SolveResult } from '../../shared/messages';
import { paramsEqual } from '../../shared/messages';
import type { CaTuneExport } from '../../shared/export';
import type { JobSpec } from '../../shared/pool';
import { row, type TraceMatrix } from '../../shared/traces';

export const EXPORT_KEY_SUFFIX = ':export';
/** Export jobs queue behind the cards' window and whole-trace jobs. */
const EXPORT_PRIORITY = 50_000;

export interface ActivityJobs {
  submit(spec: JobSpec): number;
  cancel(key: string): void;
}

export interface ActivityExportOptions {
  pool: ActivityJobs;
  matrix: TraceMatrix;
  params: SolveParams;
  /** A whole-trace activity already solved with exactly `params`, if the page has one for the cell. */
  reuse?: (cell: number) => Float32Array | undefined;
  onProgress?: (done: number, total: number) => void;
}

export class ActivityExportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ActivityExportError';
  }
}

/** One export run: resolves with the row-major cells x frames activity, or rejects (cancelled, a cell failed). */
export class ActivityExport {
  readonly activity: Float32Array;
  readonly done: Promise<Float32Array>;
  readonly params: SolveParams;
  private remaining = new Set<number>();
  private finished = false;
  private resolve!: (a: Float32Array) => void;
  private reject!: (e: Error) => void;

  constructor(private readonly o: ActivityExportOptions) {
    const { numCells: n, numTimepoints: T } = o.matrix;
    this.params = { ...o.params };
    this.activity = new Float32Array(n * T);
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    for (let c = 0; c < n; c++) {
      const have = o.reuse?.(c);
      if (have && have.length === T) this.activity.set(have, c * T);
      else this.remaining.add(c);
    }
    o.onProgress?.(n - this.remaining.size, n);
    if (this.remaining.size === 0) {
      this.finish();
      return;
    }
    for (const c of this.remaining) {
      o.pool.submit({
        cell: c,
        key: `${c}${EXPORT_KEY_SUFFIX}`,
        trace: row(o.matrix, c),
        params: { ...this.params },
        priority: EXPORT_PRIORITY + c,
        activityOnly: true,
      });
    }
  }

  get total(): number {
    return this.o.matrix.numCells;
  }

  get solved(): number {
    return this.total - this.remaining.size;
  }

  /** A result of one of this run's jobs (whole trace, these parameters). */
  accept(r: SolveResult): void {
    const T = this.o.matrix.numTimepoints;
    if (this.finished || !this.remaining.has(r.cell) || !paramsEqual(r.params, this.params)) return;
    if (r.range[0] !== 0 || r.range[1] !== T || r.activity.length !== T) {
      this.fail(r.cell, 'SHAPE_MISMATCH', `the solver returned ${r.activity.length} samples for a ${T}-frame trace`);
      return;
    }
    for (let i = 0; i < T; i++) {
      if (!Number.isFinite(r.activity[i])) {
        this.fail(r.cell, 'NON_FINITE_RESULT', `the activity of cell ${r.cell} is not finite at frame ${i}`);
        return;
      }
    }
    this.activity.set(r.activity, r.cell * T);
    this.remaining.delete(r.cell);
    this.o.onProgress?.(this.solved, this.total);
    if (this.remaining.size === 0) this.finish();
  }

  fail(cell: number, code: string, message: string): void {
    if (this.finished) return;
    this.stop();
    this.reject(new ActivityExportError(code, `cell ${cell}: ${message}`));
  }

  cancel(): void {
    if (this.finished) return;
    this.stop();
    this.reject(new ActivityExportError('CANCELLED', 'the activity export was cancelled'));
  }

  private stop(): void {
    this.finished = true;
    for (const c of this.remaining) this.o.pool.cancel(`${c}${EXPORT_KEY_SUFFIX}`);
  }

  private finish(): void {
    this.finished = true;
    this.resolve(this.activity);
  }
}

export type ActivityFormat = 'npy' | 'mat';

/** The activity file: float32 cells x frames (.npy), or `activity` and 1-based `cell_indices` in a .mat. */
export function activityFile(
  activity: Float32Array,
  nCells: number,
  nTime: number,
  format: ActivityFormat,
): Uint8Array {
  if (activity.length !== nCells * nTime)
    throw new RangeError(`activity holds ${activity.length} values, expected ${nCells} x ${nTime}`);
  if (format === 'npy') return encodeNpy(activity, [nCells, nTime]);
  return encodeMat([
    { name: 'activity', data: activity, rows: nCells, cols: nTime },
    { name: 'cell_indices', data: Float64Array.from({ length: nCells }, (_v, i) => i + 1), rows: nCells, cols: 1 },
  ]);
}

const README = (format: ActivityFormat, n: number, T: number, doc: CaTuneExport) => `CaTune activity export

activity.${format}: float32, ${n} rows (every cell of ${doc.metadata.source_filename ?? 'the recording'}, in file order) x ${T} columns (frames at ${doc.parameters.sampling_rate_hz} Hz).
Values: the deconvolved activity in the unit of the traces (each unit adds a kernel of that peak height),
solved over each whole trace with solver ${doc.parameters.solver} and the parameters in catune_export.json.
${format === 'mat' ? 'MATLAB: load activity.mat gives activity and cell_indices (1-based).\n' : 'Python: numpy.load("activity.npy").\n'}`;

/** The ZIP the browser downloads: activity.<npy|mat>, catune_export.json and a short README.txt. */
export function activityZip(activity: Float32Array, doc: CaTuneExport, format: ActivityFormat): Uint8Array {
  const n = doc.metadata.num_cells;
  const T = doc.metadata.num_timepoints;
  return zipSync(
    {
      [`activity.${format}`]: activityFile(activity, n, T, format),
      'catune_export.json': strToU8(JSON.stringify(doc, null, 2) + '\n'),
      'README.txt': strToU8(README(format, n, T, doc)),
    },
    { level: 6 },
  );
}
