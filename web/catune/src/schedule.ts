// The tuner's scheduler, pure: which solution a card stands for, whether a job on its way already covers
// what the card needs, what to solve next for it and at which priority, where a result goes (and whether a
// newer change superseded it), and which whole traces to solve in the background once every card is fresh.
// tuner.ts keeps one CellState per card and carries out these decisions (pool jobs, cancellations,
// drawing); the pool (shared/pool.ts) replaces a queued job by a newer one with the same key. No DOM, so
// test/schedule.test.ts checks the decisions directly.

import type { CellStats, SolveParams, SolveResult } from '../../shared/messages';
import { paramsEqual, sameKernel } from '../../shared/messages';
import { covers, type Range, solveRange, validRange, windowed } from './window';

/** A solution for one cell: which parameters and samples it is for, and which of them are trustworthy. */
export interface Solution extends SolveResult {
  params: SolveParams;
  /** Samples that equal the whole-trace solution (all of `range` for a whole-trace solve). */
  valid: Range;
  /** Whether this is the whole-trace solution (exact), rather than a provisional window. */
  exact: boolean;
}

/** What the scheduler knows of one card. */
export interface CellState {
  cell: number;
  /** Whole-trace noise and SNR, and the preprocessing they are for (`fittedKey`). */
  stats?: { key: string; stats: CellStats };
  /** Latest window solve and latest whole-trace solve (either may be for older parameters). */
  win?: Solution;
  full?: Solution;
  /** The window job on its way, if any. */
  pending?: { params: SolveParams; range: Range };
  /** The parameters of the last spectrum that arrived. */
  spectrumParams?: SolveParams;
}

/** What the decisions depend on: the current parameters, the samples shown, the recording and the margin. */
export interface Scene {
  params: SolveParams;
  /** Samples [lo, hi) the view shows. */
  want: Range;
  /** Samples in the recording. */
  n: number;
  /** Samples solved beyond the view on each side to make a window's edges right (one kernel length). */
  margin: number;
}

/** Priority offset of background (whole-trace) jobs: after every window job. */
export const BACKGROUND_PRIORITY = 10_000;

/** Which fitted trace the parameters give (the stats and the spectrum follow it, not λ). */
export function fittedKey(p: SolveParams): string {
  return p.filterEnabled || p.removeDrift
    ? `${p.tauRise}|${p.tauDecay}|${p.fs}|${p.filterEnabled}|${p.removeDrift}`
    : 'raw';
}

/** The solution at the current parameters that covers the view, preferring the whole-trace one. */
export function solutionFor(s: CellState, sc: Scene): Solution | null {
  if (s.full && paramsEqual(s.full.params, sc.params)) return s.full;
  if (s.win && paramsEqual(s.win.params, sc.params) && covers(s.win.valid, sc.want)) return s.win;
  return null;
}

/** Whether the window job on its way will cover the view at the current parameters. */
export function pendingCovers(s: CellState, sc: Scene): boolean {
  const p = s.pending;
  return !!p && paramsEqual(p.params, sc.params) && covers(validRange(p.range, sc.n, sc.margin), sc.want);
}

/** Whether the card's noise and SNR are for another preprocessing than the current one. */
export function needsStats(s: CellState, sc: Scene): boolean {
  return s.stats?.key !== fittedKey(sc.params);
}

/** Whether the last spectrum that arrived is for the current kernel and preprocessing. */
export function spectrumCurrent(s: CellState, sc: Scene): boolean {
  return !!s.spectrumParams && sameKernel(s.spectrumParams, sc.params);
}

/** What to do for a card after a change of parameters or view. */
export interface RefreshPlan {
  /** A solution covers the view: draw it and mark the card fresh. */
  draw: boolean;
  /** Cancel the window job on its way: the card has what it shows, and that job is for something else. */
  cancelPending: boolean;
  /** No solution and nothing on its way covers the view: mark the card stale. */
  stale: boolean;
  /** Submit a window job (for the view, the stats or the spectrum); null when none is needed. */
  solve: { wantSpectrum: boolean; wantStats: boolean } | null;
}

/**
 * Draw the card if a solution covers the view, else solve its window, unless a job that will cover it is
 * already on its way. A card with a solution still solves its window when its stats or the open spectrum
 * are for other preprocessing.
 */
export function planRefresh(s: CellState, sc: Scene, spectrumOpen: boolean): RefreshPlan {
  const wantSpectrum = spectrumOpen && !spectrumCurrent(s, sc);
  const wantStats = needsStats(s, sc);
  if (solutionFor(s, sc)) {
    return {
      draw: true,
      // Back at parameters already solved: a job still on its way for others is of no use.
      cancelPending: !!s.pending && !pendingCovers(s, sc),
      stale: false,
      solve: wantSpectrum || wantStats ? { wantSpectrum, wantStats } : null,
    };
  }
  if (pendingCovers(s, sc)) return { draw: false, cancelPending: false, stale: false, solve: null };
  return { draw: false, cancelPending: false, stale: true, solve: { wantSpectrum, wantStats } };
}

/** The samples a window job solves for the view (the whole recording when it is short). */
export function windowRange(sc: Scene): Range {
  return solveRange(sc.want, sc.n, sc.margin);
}

/** Queue priority of a card's window job (lower first): cards on screen first, then in grid order. */
export function windowPriority(order: number, visible: boolean): number {
  return (visible ? 0 : 1000) + (order < 0 ? 999 : order);
}

/** Queue priority of a card's background job: after every window job, in the same order. */
export function backgroundPriority(order: number, visible: boolean): number {
  return BACKGROUND_PRIORITY + windowPriority(order, visible);
}

/**
 * Whether to solve whole traces in the background now: only for windowed recordings, and only once every
 * shown card is fresh (so the workers stay free while someone drags a slider).
 */
export function backgroundDue(statuses: readonly string[], n: number): boolean {
  return windowed(n) && statuses.every((s) => s === 'fresh');
}

/** The cells still without a whole-trace solution at the current parameters, in the given order. */
export function backgroundCells(states: readonly CellState[], sc: Scene): number[] {
  return states.filter((s) => !(s.full && paramsEqual(s.full.params, sc.params))).map((s) => s.cell);
}

/**
 * Files a result in the card's state and says whether it is for the current parameters (a result for
 * older ones was superseded; a newer job is on its way). A late result for older parameters never replaces
 * a solution that matches the current ones. A window result also clears the job on its way.
 */
export function acceptResult(
  s: CellState,
  r: SolveResult,
  sc: Scene,
  background: boolean,
): { sol: Solution; current: boolean } {
  const whole = r.range[0] === 0 && r.range[1] === sc.n;
  const valid: Range = whole ? [0, sc.n] : validRange(r.range, sc.n, sc.margin);
  const sol: Solution = { ...r, params: r.params, exact: whole, valid };
  const current = paramsEqual(r.params, sc.params);
  if (r.stats) s.stats = { key: fittedKey(r.params), stats: r.stats };
  if (whole && (current || !s.full || !paramsEqual(s.full.params, sc.params))) s.full = sol;
  if (!background) {
    s.pending = undefined;
    if (current || !s.win || !paramsEqual(s.win.params, sc.params)) s.win = sol;
  }
  if (r.spectrum) s.spectrumParams = r.params;
  return { sol, current };
}
