// Windowed solving: the range helpers, and the claim the app rests on, checked with the real wasm module
// (pkg/) on a simulated 15-minute recording: a window padded by one kernel length and solved with the
// whole-trace baseline held fixed equals the whole-trace solution inside the window to WINDOW_TOLERANCE of
// the window's largest event. Without the fixed baseline (what the app shows as provisional, "≈") it does not.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import * as wasm from '../../pkg/calab_solver.js';
import {
  covers,
  defaultView,
  FULL_SOLVE_MAX_SAMPLES,
  maxDiff,
  panTo,
  SLACK,
  solveRange,
  validRange,
  viewSamples,
  WINDOW_TOLERANCE,
  windowed,
} from '../catune/src/window';

beforeAll(() => {
  wasm.initSync({ module: readFileSync(new URL('../../pkg/calab_solver_bg.wasm', import.meta.url)) });
});

describe('ranges', () => {
  test('short recordings are solved whole', () => {
    expect(windowed(FULL_SOLVE_MAX_SAMPLES)).toBe(false);
    expect(solveRange([100, 200], 1500, 170)).toEqual([0, 1500]);
    expect(defaultView(1500, 30)).toEqual([0, 1499 / 30]);
  });

  test('long recordings: view + slack + margin, clamped; valid part excludes the margins', () => {
    const n = 27000;
    const view = viewSamples([60, 120], 30, n);
    expect(view).toEqual([1800, 3601]);
    const r = solveRange(view, n, 170);
    const extra = Math.ceil(1801 * SLACK) + 170;
    expect(r).toEqual([1800 - extra, 3601 + extra]);
    const v = validRange(r, n, 170);
    expect(covers(v, view)).toBe(true);
    expect(v).toEqual([r[0] + 170, r[1] - 170]);
    // At the recording's start there is nothing to pad: the edge is exact.
    expect(validRange(solveRange(viewSamples([0, 60], 30, n), n, 170), n, 170)[0]).toBe(0);
    // A window covering most of the recording is solved whole.
    expect(solveRange([0, 24000], n, 170)).toEqual([0, n]);
    expect(panTo([0, 60], 899, n, 30)).toEqual([(n - 1) / 30 - 60, (n - 1) / 30]);
  });
});

function recording(): { traces: Float32Array; n: number } {
  const cfg = JSON.parse(wasm.preset_json('gcamp6f')) as Record<string, unknown>;
  Object.assign(cfg, { num_cells: 2, num_timepoints: 27000, seed: 3 });
  const sim = wasm.simulate(JSON.stringify(cfg));
  try {
    return { traces: sim.traces(), n: sim.num_timepoints };
  } finally {
    sim.free();
  }
}

/** What the worker does for one job: exact L1 on trace[lo, hi), optionally with the baseline held. */
function solve(y: Float32Array, lambda: number, baseline?: number): { activity: Float32Array; baseline: number } {
  const s = new wasm.Solver();
  try {
    s.set_params(0.02, 0.4, lambda, 30);
    s.set_trace(y);
    s.set_fixed_baseline(baseline ?? NaN);
    expect(s.solve(2000)).toBe(true);
    return { activity: s.get_solution(), baseline: s.get_baseline() };
  } finally {
    s.free();
  }
}

test('a window with a kernel-length margin and the whole-trace baseline matches the whole-trace solution', () => {
  const { traces, n } = recording();
  const margin = wasm.build_kernel(0.02, 0.4, 30).length;
  let worstFree = 0;
  for (const cell of [0, 1]) {
    const y = traces.subarray(cell * n, (cell + 1) * n);
    for (const lambda of [0.01, 0.05]) {
      const full = solve(y, lambda);
      for (const t0 of [0, 300, 600, 840]) {
        const view = viewSamples([t0, t0 + 60], 30, n);
        const range = solveRange(view, n, margin);
        const valid = validRange(range, n, margin);
        expect(covers(valid, view)).toBe(true);
        const win = solve(y.subarray(range[0], range[1]), lambda, full.baseline);
        let peak = 0;
        for (let t = valid[0]; t < valid[1]; t++) peak = Math.max(peak, full.activity[t]);
        const err = maxDiff(win.activity, range, full.activity, [0, n], valid);
        expect(err, `cell ${cell}, lambda ${lambda}, window at ${t0} s: ${err} vs peak ${peak}`).toBeLessThanOrEqual(
          WINDOW_TOLERANCE * peak,
        );
        const free = solve(y.subarray(range[0], range[1]), lambda);
        worstFree = Math.max(worstFree, maxDiff(free.activity, range, full.activity, [0, n], valid) / peak);
      }
    }
  }
  // The fixed baseline is what makes the difference: a window's own baseline is visibly off somewhere.
  expect(worstFree).toBeGreaterThan(10 * WINDOW_TOLERANCE);
});
