// Turns a parsed array into the cells x time matrix CaTune tunes on, and reports what was wrong with it:
// non-finite values and finite values beyond the float32 range the solver computes in (both replaced by
// linear interpolation between the nearest usable neighbours), constant rows, and an orientation that looks
// swapped. Pure functions; the import dialog shows the report.

import type { NumericArray } from './array';
import { ParseError } from './errors';
import { F32_MAX } from './limits';

export interface TraceMatrix {
  numCells: number;
  numTimepoints: number;
  /** Row-major cells x time, float32 (what the solver takes). */
  data: Float32Array;
  /** Finite source values beyond ±F32_MAX (infinite in `data`). */
  overflowCount?: number;
}

export interface ValidationReport {
  nanCount: number;
  infCount: number;
  /** Values finite in the file but beyond the float32 range (counted apart from infCount). */
  overflowCount: number;
  /** Cells whose non-finite values were interpolated. */
  repairedCells: number[];
  /** Cells with no finite value at all (set to zero). */
  emptyCells: number[];
  /** Cells whose values are all equal (nothing to deconvolve). */
  constantCells: number[];
  /** True when there are more cells than timepoints, which usually means the axes are swapped. */
  suspiciousOrientation: boolean;
  warnings: string[];
}

/** The (cells, time) view of an array; 1-D arrays are one cell; `swap` transposes a 2-D array. */
export function toMatrix(arr: NumericArray, swap = false): TraceMatrix {
  const [r, c] = arr.shape.length === 1 ? [1, arr.shape[0]] : [arr.shape[0], arr.shape[1]];
  const numCells = swap ? c : r;
  const numTimepoints = swap ? r : c;
  if (!(numCells >= 1 && numTimepoints >= 1)) {
    throw new ParseError(
      'EMPTY',
      `${numCells} cells × ${numTimepoints} timepoints: a recording needs at least one cell and one timepoint.`,
    );
  }
  const data = new Float32Array(numCells * numTimepoints);
  if (!swap) {
    for (let i = 0; i < data.length; i++) data[i] = arr.data[i];
  } else {
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * numTimepoints + i] = arr.data[i * c + j];
  }
  let overflowCount = 0;
  for (let i = 0; i < arr.data.length; i++) {
    const v = arr.data[i];
    if ((v > F32_MAX || v < -F32_MAX) && Number.isFinite(v) && !Number.isFinite(Math.fround(v))) overflowCount++;
  }
  return { numCells, numTimepoints, data, overflowCount };
}

/** Fills non-finite samples of one row in place by linear interpolation (nearest value at the ends). */
export function interpolateNonFinite(row: Float32Array): number {
  let fixed = 0;
  let prev = -1;
  const n = row.length;
  for (let i = 0; i <= n; i++) {
    if (i < n && !Number.isFinite(row[i])) continue;
    const gap = i - prev - 1;
    if (gap > 0) {
      fixed += gap;
      const left = prev >= 0 ? row[prev] : i < n ? row[i] : 0;
      const right = i < n ? row[i] : left;
      for (let k = prev + 1; k < i; k++) {
        const t = (k - prev) / (i - prev);
        row[k] = prev >= 0 && i < n ? left + (right - left) * t : prev >= 0 ? left : right;
      }
    }
    prev = i;
  }
  return fixed;
}

/** Validates and repairs the matrix in place. */
export function validateMatrix(m: TraceMatrix): ValidationReport {
  if (!(m.numCells >= 1 && m.numTimepoints >= 1)) {
    throw new ParseError(
      'EMPTY',
      `${m.numCells} cells × ${m.numTimepoints} timepoints: a recording needs at least one cell and one timepoint.`,
    );
  }
  const rep: ValidationReport = {
    nanCount: 0,
    infCount: 0,
    overflowCount: m.overflowCount ?? 0,
    repairedCells: [],
    emptyCells: [],
    constantCells: [],
    suspiciousOrientation: m.numCells > m.numTimepoints,
    warnings: [],
  };
  for (let c = 0; c < m.numCells; c++) {
    const row = m.data.subarray(c * m.numTimepoints, (c + 1) * m.numTimepoints);
    let bad = 0;
    let finite = 0;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (Number.isNaN(v)) {
        rep.nanCount++;
        bad++;
      } else if (!Number.isFinite(v)) {
        rep.infCount++;
        bad++;
      } else finite++;
    }
    if (bad > 0) {
      if (finite === 0) {
        row.fill(0);
        rep.emptyCells.push(c);
      } else {
        interpolateNonFinite(row);
        rep.repairedCells.push(c);
      }
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < row.length; i++) {
      if (row[i] < lo) lo = row[i];
      if (row[i] > hi) hi = row[i];
    }
    if (!(hi > lo)) rep.constantCells.push(c);
  }
  rep.infCount -= rep.overflowCount; // those were finite in the file: reported on their own
  const touched = rep.repairedCells.length + rep.emptyCells.length;
  if (rep.nanCount + rep.infCount > 0) {
    rep.warnings.push(
      `${rep.nanCount} NaN and ${rep.infCount} infinite values in ${touched} cell(s) were replaced by linear interpolation between neighbouring samples.`,
    );
  }
  if (rep.overflowCount > 0) {
    rep.warnings.push(
      `${rep.overflowCount} finite values beyond the float32 range (|x| > 3.4e38) that the solver computes in were treated as missing and replaced by linear interpolation${rep.nanCount + rep.infCount > 0 ? ' too' : ''}; rescale the traces (e.g. to ΔF/F) to keep them.`,
    );
  }
  if (rep.emptyCells.length)
    rep.warnings.push(`${rep.emptyCells.length} cell(s) had no finite values and were set to zero.`);
  if (rep.constantCells.length)
    rep.warnings.push(`${rep.constantCells.length} cell(s) are constant (no activity to deconvolve).`);
  if (rep.suspiciousOrientation)
    rep.warnings.push(
      `${m.numCells} cells x ${m.numTimepoints} timepoints: more cells than timepoints usually means the axes are swapped.`,
    );
  if (m.numTimepoints < 10)
    rep.warnings.push(`Only ${m.numTimepoints} timepoints per cell; the solver needs more to say anything.`);
  return rep;
}

export function row(m: TraceMatrix, cell: number): Float32Array {
  return m.data.subarray(cell * m.numTimepoints, (cell + 1) * m.numTimepoints);
}

export function variance(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / Math.max(1, x.length);
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return v / Math.max(1, x.length);
}

/** Cell indices ordered by how active they look: variance relative to a robust noise estimate (MAD of differences). */
export function rankByActivity(m: TraceMatrix): number[] {
  const score = new Float64Array(m.numCells);
  for (let c = 0; c < m.numCells; c++) {
    const r = row(m, c);
    // The noise estimate sorts; a prefix of 8192 samples is plenty and keeps big recordings quick.
    const noise = noiseSigma(r.length > 8192 ? r.subarray(0, 8192) : r);
    score[c] = variance(r) / Math.max(noise * noise, 1e-12);
  }
  return [...Array(m.numCells).keys()].sort((a, b) => score[b] - score[a] || a - b);
}

/** Noise standard deviation from the median absolute first difference (robust to transients). */
export function noiseSigma(x: ArrayLike<number>): number {
  if (x.length < 2) return 0;
  const d = new Float64Array(x.length - 1);
  for (let i = 1; i < x.length; i++) d[i - 1] = Math.abs(x[i] - x[i - 1]);
  d.sort();
  const med = d[d.length >> 1];
  return med / (0.6745 * Math.SQRT2);
}

/** Deterministic pseudo-random choice of k cells (seeded so reloads show the same cells). */
export function randomCells(numCells: number, k: number, seed = 1): number[] {
  const idx = [...Array(numCells).keys()];
  let s = seed >>> 0 || 1;
  for (let i = idx.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** Parses "0, 3-5, 9" into sorted unique indices below `numCells`; returns an error string when malformed. */
export function parseCellList(text: string, numCells: number): number[] | string {
  const out = new Set<number>();
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return `'${part}' is not a cell index or range (e.g. 0, 3-5).`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return `range '${part}' is reversed.`;
    if (b >= numCells) return `cell ${b} does not exist (0-${numCells - 1}).`;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}
