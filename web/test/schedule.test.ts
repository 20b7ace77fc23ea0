// The tuner's scheduler (catune/src/schedule.ts): what a card shows, what it solves next, at which
// priority, where results go and when whole traces are solved in the background.
import { describe, expect, test } from 'vitest';
import {
  acceptResult,
  BACKGROUND_PRIORITY,
  backgroundCells,
  backgroundDue,
  backgroundPriority,
  type CellState,
  fittedKey,
  needsStats,
  pendingCovers,
  planRefresh,
  type Scene,
  solutionFor,
  spectrumCurrent,
  windowPriority,
  windowRange,
} from '../catune/src/schedule';
import type { SolveParams, SolveResult } from '../shared/messages';
import { FULL_SOLVE_MAX_SAMPLES, type Range } from '../catune/src/window';

const N = 60_000; // windowed
const MARGIN = 400;
const P: SolveParams = {
  solver: 'l1',
  tauRise: 0.1,
  tauDecay: 0.6,
  lambda: 0.01,
  fs: 30,
  filterEnabled: false,
  removeDrift: false,
  l0Lambda: 1,
  l0Positive: true,
  convarLambda: null,
};
const P2: SolveParams = { ...P, lambda: 0.02 };
const VIEW: Range = [3000, 3900];

function scene(params = P, want = VIEW, n = N): Scene {
  return { params, want, n, margin: MARGIN };
}

function result(params: SolveParams, range: Range, extra: Partial<SolveResult> = {}): SolveResult {
  const len = range[1] - range[0];
  return {
    type: 'result',
    jobId: 1,
    cell: 7,
    params,
    range,
    fitted: new Float32Array(len),
    activity: new Float32Array(len),
    reconvolution: new Float32Array(len),
    baseline: 0,
    baselineFixed: false,
    iterations: 3,
    converged: true,
    elapsedMs: 1,
    solveMs: 1,
    ...extra,
  };
}

const STATS = { key: 'raw', stats: { noise: 0.1, snr: 5 } };

/** A cell that already holds a window solved for `params` around VIEW. */
function withWindow(params = P): CellState {
  const s: CellState = { cell: 7, stats: STATS };
  acceptResult(s, result(params, windowRange(scene(params))), scene(params), false);
  return s;
}

describe('which solution a card shows', () => {
  test('the whole-trace solution for the current parameters wins over a window', () => {
    const s = withWindow();
    acceptResult(s, result(P, [0, N]), scene(), true);
    expect(solutionFor(s, scene())?.exact).toBe(true);
    expect(solutionFor(s, scene())).toBe(s.full);
  });

  test('a window serves only views inside its valid part, and only at its parameters', () => {
    const s = withWindow();
    const win = s.win!;
    expect(win.exact).toBe(false);
    expect(win.valid).toEqual([win.range[0] + MARGIN, win.range[1] - MARGIN]);
    expect(solutionFor(s, scene())).toBe(win);
    // A small pan stays within the slack; a pan past it needs a new window.
    expect(solutionFor(s, scene(P, [3100, 4000]))).toBe(win);
    expect(solutionFor(s, scene(P, [win.valid[1] - 10, win.valid[1] + 890]))).toBeNull();
    expect(solutionFor(s, scene(P2))).toBeNull();
  });

  test('a short recording is solved whole: every result is exact', () => {
    const n = FULL_SOLVE_MAX_SAMPLES;
    const sc = scene(P, [0, n], n);
    expect(windowRange(sc)).toEqual([0, n]);
    const s: CellState = { cell: 7 };
    const { sol } = acceptResult(s, result(P, [0, n]), sc, false);
    expect(sol.exact).toBe(true);
    expect(sol.valid).toEqual([0, n]);
    expect(s.full).toBe(sol);
    expect(s.win).toBe(sol);
  });
});

describe('what to solve after a change', () => {
  test('a card without a solution is marked stale and solves its window', () => {
    const s: CellState = { cell: 7 };
    expect(planRefresh(s, scene(), false)).toEqual({
      draw: false,
      cancelPending: false,
      stale: true,
      solve: { wantSpectrum: false, wantStats: true },
    });
  });

  test('a job on its way that covers the view is not submitted again', () => {
    const s: CellState = { cell: 7, stats: STATS, pending: { params: { ...P }, range: windowRange(scene()) } };
    expect(pendingCovers(s, scene())).toBe(true);
    expect(planRefresh(s, scene(), false)).toEqual({ draw: false, cancelPending: false, stale: false, solve: null });
  });

  test('a job on its way for other parameters or other samples does not cover the view', () => {
    const pending = { params: { ...P }, range: windowRange(scene()) };
    expect(pendingCovers({ cell: 7, pending }, scene(P2))).toBe(false);
    expect(pendingCovers({ cell: 7, pending }, scene(P, [20_000, 20_900]))).toBe(false);
    const plan = planRefresh({ cell: 7, stats: STATS, pending }, scene(P2), false);
    expect(plan.stale).toBe(true);
    expect(plan.solve).toEqual({ wantSpectrum: false, wantStats: false });
  });

  test('back at solved parameters: draw, and cancel the job on its way for others', () => {
    const s = withWindow();
    s.pending = { params: { ...P2 }, range: windowRange(scene(P2)) };
    expect(planRefresh(s, scene(), false)).toEqual({ draw: true, cancelPending: true, stale: false, solve: null });
    // A job on its way for the current parameters is kept.
    s.pending = { params: { ...P }, range: windowRange(scene()) };
    expect(planRefresh(s, scene(), false).cancelPending).toBe(false);
  });

  test('a drawn card still solves when its stats or the open spectrum are for other preprocessing', () => {
    const s = withWindow();
    expect(planRefresh(s, scene(), false).solve).toBeNull();
    expect(planRefresh(s, scene(), true)).toEqual({
      draw: true,
      cancelPending: false,
      stale: false,
      solve: { wantSpectrum: true, wantStats: false },
    });
    const filtered = { ...P, filterEnabled: true };
    acceptResult(s, result(filtered, windowRange(scene(filtered))), scene(filtered), false);
    expect(needsStats(s, scene(filtered))).toBe(true);
    expect(planRefresh(s, scene(filtered), false).solve).toEqual({ wantSpectrum: false, wantStats: true });
  });

  test('stats follow the fitted trace, not lambda or the solver', () => {
    expect(fittedKey(P)).toBe('raw');
    expect(fittedKey({ ...P2, solver: 'l0' })).toBe('raw');
    expect(fittedKey({ ...P, removeDrift: true })).not.toBe(fittedKey({ ...P, filterEnabled: true }));
    expect(fittedKey({ ...P, removeDrift: true })).not.toBe(fittedKey({ ...P, removeDrift: true, tauDecay: 1 }));
  });

  test('a spectrum is current for the same kernel and preprocessing, whatever lambda', () => {
    const s: CellState = { cell: 7 };
    expect(spectrumCurrent(s, scene())).toBe(false);
    acceptResult(s, result(P, windowRange(scene()), { spectrum: spectrum() }), scene(), false);
    expect(s.spectrumParams).toEqual(P);
    expect(spectrumCurrent(s, scene(P2))).toBe(true);
    expect(spectrumCurrent(s, scene({ ...P, tauDecay: 0.9 }))).toBe(false);
  });
});

describe('results', () => {
  test('a result for parameters changed meanwhile is filed but not current', () => {
    const s: CellState = { cell: 7, pending: { params: { ...P }, range: windowRange(scene()) } };
    const { current } = acceptResult(s, result(P, windowRange(scene())), scene(P2), false);
    expect(current).toBe(false);
    expect(s.pending).toBeUndefined();
    expect(s.win?.params).toEqual(P);
    expect(solutionFor(s, scene(P2))).toBeNull();
  });

  test('a late result for older parameters never replaces one for the current parameters', () => {
    const s = withWindow(P2);
    const win = s.win!;
    acceptResult(s, result(P, windowRange(scene())), scene(P2), false);
    expect(s.win).toBe(win);
    acceptResult(s, result(P2, [0, N]), scene(P2), true);
    const full = s.full!;
    acceptResult(s, result(P, [0, N]), scene(P2), true);
    expect(s.full).toBe(full);
  });

  test('a background result leaves the window and the job on its way alone', () => {
    const s = withWindow();
    const win = s.win!;
    s.pending = { params: { ...P }, range: windowRange(scene()) };
    acceptResult(s, result(P, [0, N]), scene(), true);
    expect(s.win).toBe(win);
    expect(s.pending).toBeDefined();
  });

  test('stats arriving with a result are filed under their preprocessing', () => {
    const s: CellState = { cell: 7 };
    const filtered = { ...P, filterEnabled: true };
    acceptResult(s, result(filtered, [0, N], { stats: { noise: 0.2, snr: 3 } }), scene(), true);
    expect(s.stats).toEqual({ key: fittedKey(filtered), stats: { noise: 0.2, snr: 3 } });
    expect(needsStats(s, scene())).toBe(true);
    expect(needsStats(s, scene(filtered))).toBe(false);
  });
});

describe('priorities and the background', () => {
  test('cards on screen first, in grid order; cards not shown last; background after all windows', () => {
    expect(windowPriority(0, true)).toBeLessThan(windowPriority(1, true));
    expect(windowPriority(30, true)).toBeLessThan(windowPriority(0, false));
    expect(windowPriority(-1, false)).toBeGreaterThan(windowPriority(500, false));
    expect(backgroundPriority(0, true)).toBe(BACKGROUND_PRIORITY);
    expect(backgroundPriority(0, true)).toBeGreaterThan(windowPriority(-1, false));
  });

  test('whole traces are solved in the background only for long recordings once every card is fresh', () => {
    expect(backgroundDue(['fresh', 'fresh'], N)).toBe(true);
    expect(backgroundDue(['fresh', 'solving'], N)).toBe(false);
    expect(backgroundDue(['fresh', 'stale'], N)).toBe(false);
    expect(backgroundDue(['fresh', 'error'], N)).toBe(false);
    expect(backgroundDue(['fresh'], FULL_SOLVE_MAX_SAMPLES)).toBe(false);
  });

  test('the background skips cells already solved whole at the current parameters', () => {
    const a = withWindow();
    const b: CellState = { cell: 3 };
    acceptResult(b, result(P, [0, N]), scene(), true);
    const c: CellState = { cell: 9 };
    acceptResult(c, result(P2, [0, N]), scene(P2), true);
    expect(backgroundCells([a, b, c], scene())).toEqual([7, 9]);
    expect(backgroundCells([a, b, c], scene(P2))).toEqual([7, 3]);
  });
});

function spectrum() {
  return { freqs: new Float32Array(4), power: new Float32Array(4), cutoffs: new Float64Array([0.1, 5]) };
}
