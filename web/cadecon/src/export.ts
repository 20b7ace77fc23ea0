// What CaDecon hands back: a ZIP with the activity (.npy, or .mat when the input was .mat) and results.json
// (the core's IndecaResult plus provenance), and the same pieces for the Python bridge. Pure, so unit tests
// open the ZIP and check it. Rows of the activity are the cells in results.cell_indices, in that order;
// failed cells keep their row (all zeros) and are listed in cell_errors with the reason.

import { zipSync, strToU8 } from 'fflate';
import { encodeMat } from '../../shared/matwrite';
import { encodeNpy } from '../../shared/npywrite';
import type { IndecaResult, IterationReport } from '../../shared/indeca-protocol';

export interface Provenance {
  appVersion: string;
  engine: 'wasm' | null;
  /** Workers that solved the run (the results do not depend on it). */
  workers?: number | null;
  sourceFilename: string | null;
  /** Row labels from a bridge session, when given. */
  cellIds?: (number | string)[];
  date?: Date;
}

export type ActivityFormat = 'npy' | 'mat';

/** The results document: the core's JSON untouched, plus where it came from. */
export function resultsDocument(result: IndecaResult, p: Provenance, activityFile: string | null): IndecaResult {
  checkConsistent(result);
  return {
    ...result,
    provenance: {
      ...(result.provenance ?? {}),
      app: 'cadecon',
      app_version: p.appVersion,
      engine: p.engine,
      ...(p.workers ? { workers: p.workers } : {}),
      source_filename: p.sourceFilename,
      ...(p.cellIds ? { cell_ids: p.cellIds } : {}),
      activity_file: activityFile,
      activity_layout:
        'rows follow cell_indices; spikes per frame at fs (L1 with the final kernel / alpha); failed cells are all-zero rows listed in cell_errors',
      created: (p.date ?? new Date()).toISOString(),
    },
  };
}

/** Refuses results whose per-cell lists could be misattributed. */
export function checkConsistent(r: IndecaResult): void {
  const n = r.num_cells;
  if (!Array.isArray(r.cell_indices) || r.cell_indices.length !== n)
    throw new Error(`results list ${r.cell_indices?.length} cell indices for ${n} cells`);
  for (const key of ['alphas', 'baselines', 'pves', 'event_rates'] as const) {
    if (!Array.isArray(r[key]) || r[key].length !== n)
      throw new Error(`results.${key} has ${r[key]?.length} entries for ${n} cells`);
  }
  const known = new Set(r.cell_indices);
  for (const e of r.cell_errors ?? [])
    if (!known.has(e.cell)) throw new Error(`cell_errors names cell ${e.cell}, which is not in cell_indices`);
}

export function activityBytes(
  activity: Float32Array,
  nCells: number,
  nTime: number,
  format: ActivityFormat,
  cellIndices: number[],
): Uint8Array {
  if (activity.length !== nCells * nTime)
    throw new Error(`activity holds ${activity.length} values, expected ${nCells} x ${nTime}`);
  if (format === 'npy') return encodeNpy(activity, [nCells, nTime]);
  return encodeMat([
    { name: 'activity', data: activity, rows: nCells, cols: nTime },
    // MATLAB users index from 1; the JSON keeps Python's 0-based indices.
    { name: 'cell_indices', data: Float64Array.from(cellIndices, (i) => i + 1), rows: nCells, cols: 1 },
  ]);
}

export interface ZipInput {
  result: IndecaResult;
  activity: Float32Array;
  format: ActivityFormat;
  provenance: Provenance;
  history?: IterationReport[];
}

export function buildZip(x: ZipInput): Uint8Array {
  const { num_cells: n, num_timepoints: T } = x.result;
  const name = `activity.${x.format}`;
  const doc = resultsDocument(x.result, x.provenance, name);
  const files: Record<string, Uint8Array> = {
    [name]: activityBytes(x.activity, n, T, x.format, doc.cell_indices),
    'results.json': strToU8(JSON.stringify(doc, null, 2) + '\n'),
  };
  if (x.history) files['iterations.json'] = strToU8(JSON.stringify(x.history) + '\n');
  return zipSync(files, { level: 6 });
}
