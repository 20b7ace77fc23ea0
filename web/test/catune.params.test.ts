// CaTune's parameter handling without a browser: slider spans scaled to the noise, keyboard steps on the
// log scale, undo history merging, the whole-trace SNR, and the activity export (every cell,
// reused solutions, failures, cancellation, the ZIP it downloads).
import { describe, expect, it } from 'vitest';
import { strFromU8, unzipSync } from 'fflate';
import {
  defaultParams,
  describeChange,
  fromSlider,
  History,
  keyStep,
  nice,
  numberStep,
  sliderRanges,
  toSlider,
} from '../catune/src/params';
import { ActivityExport, activityZip } from '../catune/src/activity';
import { peakSnr } from '../shared/noise';
import { niceTicks } from '../cadecon/src/views';
import type { JobSpec } from '../shared/pool';
import type { SolveResult } from '../shared/messages';
import { buildExport } from '../shared/export';

describe('slider spans and steps', () => {
  it('scales λ and λ₀ to the noise level and keeps the defaults on the slider', () => {
    const r = sliderRanges(0.05);
    expect(r.lambda).toEqual([0.002, 1]);
    expect(r.l0Lambda[0]).toBeLessThanOrEqual(0.05 ** 2 / 10);
    expect(r.l0Lambda[1]).toBeGreaterThanOrEqual(100 * 0.05 ** 2);
    // Raw fluorescence in the hundreds: λ spans its own scale but still reaches the default 0.01.
    const raw = sliderRanges(20);
    expect(raw.lambda[1]).toBe(500);
    expect(raw.lambda[0]).toBe(0.01);
    for (const [lo, hi] of Object.values(sliderRanges(0.05))) expect(Math.log10(hi / lo)).toBeLessThanOrEqual(5);
    expect(Math.log10(r.lambda[1] / r.lambda[0])).toBeLessThan(3);
    expect(sliderRanges(NaN).lambda).toEqual(sliderRanges(0.05).lambda);
  });

  it('rounds span ends to 1, 2 or 5 times a power of ten', () => {
    expect([nice(0.0023, 'down'), nice(0.0023, 'up'), nice(7, 'up'), nice(0.8, 'up'), nice(1, 'down')]).toEqual([
      0.002, 0.005, 10, 1, 1,
    ]);
  });

  it('steps ~5 % per arrow key, ~58 % with Shift or Page keys, and stops at the ends', () => {
    const r: [number, number] = [0.001, 1];
    const x = toSlider(0.01, r);
    expect(fromSlider(keyStep('ArrowRight', false, x, r)!)).toBe(0.0105);
    expect(fromSlider(keyStep('ArrowDown', false, x, r)!)).toBe(0.00955);
    expect(fromSlider(keyStep('PageUp', false, x, r)!)).toBe(0.0158);
    expect(fromSlider(keyStep('ArrowUp', true, x, r)!)).toBe(0.0158);
    expect(fromSlider(keyStep('End', false, x, r)!)).toBe(1);
    expect(fromSlider(keyStep('Home', false, x, r)!)).toBe(0.001);
    expect(keyStep('ArrowRight', false, Math.log10(1), r)).toBe(0);
    expect(keyStep('a', false, x, r)).toBeNull();
    // One decade in 50 arrow presses.
    let y = x;
    for (let i = 0; i < 50; i++) y = keyStep('ArrowRight', false, y, r)!;
    expect(fromSlider(y)).toBe(0.1);
    expect([numberStep(0.4, true, false), numberStep(0.4, false, true)]).toEqual([0.42, 0.267]);
  });
});

describe('undo history', () => {
  const p0 = defaultParams(30);
  it('merges quick changes of one control into one step and keeps separate controls apart', () => {
    const h = new History(10, 800);
    h.record(p0, 'lambda', 0);
    h.record({ ...p0, lambda: 0.02 }, 'lambda', 300);
    h.record({ ...p0, lambda: 0.03 }, 'lambda', 900); // still within 800 ms of the previous change
    h.record({ ...p0, lambda: 0.04 }, 'tauDecay', 1000);
    expect(h.size).toBe(2);
    expect(h.undo()!.lambda).toBe(0.04);
    expect(h.undo()).toEqual(p0);
    expect(h.undo()).toBeNull();
    h.record(p0, 'lambda', 5000);
    h.cut();
    h.record(p0, 'lambda', 5001);
    expect(h.size).toBe(2);
  });

  it('keeps at most `limit` steps and describes a change', () => {
    const h = new History(3);
    for (let i = 0; i < 5; i++) h.record({ ...p0, lambda: i }, `k${i}`, i);
    expect(h.size).toBe(3);
    expect(h.undo()!.lambda).toBe(4);
    expect(describeChange(p0, { ...p0, lambda: 0.02, solver: 'l0', removeDrift: true })).toBe(
      'solver L1 → L0, λ 0.01 → 0.02, drift removal on',
    );
    expect(describeChange(p0, p0)).toBe('nothing');
  });
});

describe('whole-trace SNR', () => {
  it('is the 99th percentile above the median over the noise sigma', () => {
    const y = Float64Array.from({ length: 1001 }, (_v, i) => i / 1000); // uniform 0..1
    expect(peakSnr(y, 0.1)).toBeCloseTo((0.99 - 0.5) / 0.1, 6);
    expect(peakSnr([1, 1, 1], 0)).toBeNaN();
    expect(peakSnr([1], 1)).toBeNaN();
  });
});

describe('activity export', () => {
  const matrix = { numCells: 3, numTimepoints: 4, data: Float32Array.from({ length: 12 }, (_v, i) => i) };
  const params = defaultParams(30);
  const fakePool = () => {
    const jobs: JobSpec[] = [];
    const cancelled: string[] = [];
    return {
      jobs,
      cancelled,
      submit: (s: JobSpec) => {
        jobs.push(s);
        return jobs.length;
      },
      cancel: (k: string) => {
        cancelled.push(k);
      },
    };
  };
  const result = (cell: number, activity: number[], p = params): SolveResult => ({
    type: 'result',
    jobId: 0,
    cell,
    params: p,
    range: [0, 4],
    fitted: new Float32Array(0),
    activity: Float32Array.from(activity),
    reconvolution: new Float32Array(0),
    baseline: 0,
    baselineFixed: false,
    iterations: 1,
    converged: true,
    elapsedMs: 0,
    solveMs: 0,
  });

  it('solves every cell it has no solution for and assembles the matrix in cell order', async () => {
    const pool = fakePool();
    const progress: number[] = [];
    const run = new ActivityExport({
      pool,
      matrix,
      params,
      reuse: (c) => (c === 1 ? Float32Array.from([9, 9, 9, 9]) : undefined),
      onProgress: (d) => progress.push(d),
    });
    expect(pool.jobs.map((j) => [j.cell, j.key, j.activityOnly, j.range])).toEqual([
      [0, '0:export', true, undefined],
      [2, '2:export', true, undefined],
    ]);
    run.accept(result(2, [1, 2, 3, 4], { ...params, lambda: 5 })); // other parameters: ignored
    run.accept(result(2, [1, 2, 3, 4]));
    run.accept(result(0, [0, 0, 1, 0]));
    expect(Array.from(await run.done)).toEqual([0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3, 4]);
    expect(progress).toEqual([1, 2, 3]);
  });

  it('fails on a cell error or a non-finite result, and can be cancelled', async () => {
    const pool = fakePool();
    const run = new ActivityExport({ pool, matrix, params });
    run.accept(result(0, [0, NaN, 0, 0]));
    await expect(run.done).rejects.toMatchObject({ code: 'NON_FINITE_RESULT' });
    expect(pool.cancelled.sort()).toEqual(['0:export', '1:export', '2:export']);
    const other = new ActivityExport({ pool: fakePool(), matrix, params });
    other.fail(1, 'SOLVER_ERROR', 'boom');
    await expect(other.done).rejects.toMatchObject({ code: 'SOLVER_ERROR', message: 'cell 1: boom' });
    const third = new ActivityExport({ pool: fakePool(), matrix, params });
    third.cancel();
    await expect(third.done).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('packs the activity and the parameters in one ZIP', () => {
    const doc = buildExport({
      params,
      kernel: { ar2: [1, 0, 1, 1, 1, 2], shape: [0.06, 0.3], lengthSamples: 10 },
      appVersion: 't',
      sourceFilename: 'rec.mat',
      numCells: 3,
      numTimepoints: 4,
      cellIndices: [0],
    });
    const files = unzipSync(activityZip(matrix.data, doc, 'npy'));
    expect(Object.keys(files).sort()).toEqual(['README.txt', 'activity.npy', 'catune_export.json']);
    expect(JSON.parse(strFromU8(files['catune_export.json'])).parameters.lambda).toBe(0.01);
    expect(strFromU8(files['activity.npy'].subarray(0, 80))).toContain("'shape': (3, 4)");
    expect(strFromU8(files['README.txt'])).toMatch(/3 rows \(every cell of rec\.mat/);
    const mat = unzipSync(activityZip(matrix.data, doc, 'mat'));
    expect(Object.keys(mat).sort()).toEqual(['README.txt', 'activity.mat', 'catune_export.json']);
    expect(() => activityZip(new Float32Array(5), doc, 'npy')).toThrow(/5 values/);
  });
});

describe('histogram ticks', () => {
  it('are round and cover the range', () => {
    expect(niceTicks(0.07, 0.93, 4)).toEqual([0.25, 0.5, 0.75]);
    expect(niceTicks(0, 3.2, 4)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(1, 1)).toEqual([1]);
  });
});
