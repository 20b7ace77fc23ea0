import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  interpolateNonFinite,
  noiseSigma,
  parseCellList,
  randomCells,
  rankByActivity,
  toMatrix,
  validateMatrix,
} from '../shared/traces';

describe('toMatrix', () => {
  const arr = { data: Float64Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: 'float64' };
  test('as is and swapped', () => {
    const m = toMatrix(arr);
    expect([m.numCells, m.numTimepoints]).toEqual([2, 3]);
    const s = toMatrix(arr, true);
    expect([s.numCells, s.numTimepoints]).toEqual([3, 2]);
    expect(Array.from(s.data)).toEqual([1, 4, 2, 5, 3, 6]);
  });
  test('1-D is one cell', () => {
    const m = toMatrix({ data: Float64Array.from([1, 2, 3]), shape: [3], dtype: 'float64' });
    expect([m.numCells, m.numTimepoints]).toEqual([1, 3]);
  });
});

// The missing-frame rule is shared with the Rust core (crates/solver/src/gaps.rs, Python's
// nan_policy='interpolate'); both sides are checked against this one fixture.
describe('missing frames match the shared fixture', () => {
  const fixture = JSON.parse(readFileSync(new URL('../../tests/fixtures/nan_fill.json', import.meta.url), 'utf8')) as {
    tolerance: number;
    cases: { name: string; input: (number | string | null)[]; expected: number[]; filled: number }[];
  };
  const value = (v: number | string | null): number =>
    v === null ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
  test.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = toMatrix({ data: Float64Array.from(c.input.map(value)), shape: [c.input.length], dtype: 'float64' });
    const rep = validateMatrix(m);
    expect(rep.nanCount + rep.infCount).toBe(c.filled);
    expect(rep.emptyCells.length).toBe(c.input.every((v) => !Number.isFinite(value(v))) ? 1 : 0);
    c.expected.forEach((want, i) => {
      expect(Math.abs(m.data[i] - want)).toBeLessThanOrEqual(fixture.tolerance * Math.max(1, Math.abs(want)));
    });
    if (rep.emptyCells.length === 0) {
      const row = Float32Array.from(c.input.map(value));
      expect(interpolateNonFinite(row)).toBe(c.filled);
    }
  });
});

describe('validation', () => {
  test('interpolates NaN and Inf, edges take the nearest value', () => {
    const r = Float32Array.from([NaN, 1, NaN, NaN, 4, Infinity, 6, NaN]);
    expect(interpolateNonFinite(r)).toBe(5);
    expect(Array.from(r)).toEqual([1, 1, 2, 3, 4, 5, 6, 6]);
  });
  test('report', () => {
    const data = Float64Array.from([NaN, 1, 2, 3, Infinity, 5, 7, 7, 7, 7, 7, 7, NaN, NaN, NaN, NaN, NaN, NaN]);
    const m = toMatrix({ data, shape: [3, 6], dtype: 'float64' });
    const rep = validateMatrix(m);
    expect(rep.nanCount).toBe(7);
    expect(rep.infCount).toBe(1);
    expect(rep.repairedCells).toEqual([0]);
    expect(rep.emptyCells).toEqual([2]);
    expect(rep.constantCells).toEqual([1, 2]);
    expect(rep.suspiciousOrientation).toBe(false);
    expect(rep.warnings.join(' ')).toMatch(/linear interpolation/);
    expect(Array.from(m.data.subarray(0, 6))).toEqual([1, 1, 2, 3, 4, 5]);
  });
  test('flags more cells than timepoints', () => {
    const m = toMatrix({ data: new Float64Array(50).map((_, i) => i % 7), shape: [25, 2], dtype: 'float64' });
    expect(validateMatrix(m).suspiciousOrientation).toBe(true);
  });
});

describe('cell selection', () => {
  test('active cells rank first', () => {
    const n = 400;
    const data = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) {
      data[i] = Math.sin(i * 1.3) * 0.1;
      data[n + i] = Math.sin(i * 1.3) * 0.1 + (i % 100 < 10 ? 5 : 0);
      data[2 * n + i] = Math.sin(i * 1.3) * 0.1 + (i % 100 < 10 ? 1 : 0);
    }
    expect(rankByActivity(toMatrix({ data, shape: [3, n], dtype: 'float64' }))).toEqual([1, 2, 0]);
  });
  test('noise sigma: MAD of differences / (0.6745 * sqrt 2)', () =>
    expect(noiseSigma([1, 2, 3, 4])).toBeCloseTo(1 / (0.6745 * Math.SQRT2), 6));
  test('random cells are deterministic and unique', () => {
    const a = randomCells(100, 10, 7);
    expect(a).toEqual(randomCells(100, 10, 7));
    expect(new Set(a).size).toBe(10);
    expect(Math.max(...a)).toBeLessThan(100);
  });
  test('manual list', () => {
    expect(parseCellList('0, 3-5 9', 10)).toEqual([0, 3, 4, 5, 9]);
    expect(parseCellList('12', 10)).toMatch(/does not exist/);
    expect(parseCellList('a', 10)).toMatch(/not a cell index/);
  });
});
