// Which samples a card solves. Long recordings are solved only around the shown window: the window,
// some slack so small pans and zooms reuse the result, and a margin of one kernel length (about 14 decay
// times, where the kernel has fallen to 1e-6 of its peak) on each side so the edges are right. With the
// L1 baseline held at the whole-trace optimum, the activity inside the margin then equals the whole-trace
// solution to WINDOW_TOLERANCE of the window's largest event (crates/solver/tests/window.rs and
// web/test/window.test.ts check this). Pure functions, so they are unit-tested without a browser.

/** Largest |window - whole trace| activity difference, relative to the window's peak, that the app accepts. */
export const WINDOW_TOLERANCE = 1e-3;
/** Recordings up to this many samples are always solved whole (a solve takes a few ms). */
export const FULL_SOLVE_MAX_SAMPLES = 6000;
/** Width of the detail view when a long recording opens, seconds. */
export const DEFAULT_VIEW_S = 30;
/** Extra samples solved on each side of the view, as a fraction of its width, so small pans reuse it. */
export const SLACK = 0.2;

export type Range = [number, number];

/** Samples [lo, hi) shown by a view of [t0, t1] seconds. */
export function viewSamples(view: Range, fs: number, n: number): Range {
  const lo = Math.max(0, Math.min(n - 1, Math.floor(view[0] * fs)));
  const hi = Math.max(lo + 1, Math.min(n, Math.ceil(view[1] * fs) + 1));
  return [lo, hi];
}

/** Whether a recording of n samples is solved in windows at all. */
export function windowed(n: number): boolean {
  return n > FULL_SOLVE_MAX_SAMPLES;
}

/** The samples to solve for a view: view plus slack plus margin, clamped to the recording. */
export function solveRange(view: Range, n: number, margin: number, slack = SLACK): Range {
  if (!windowed(n)) return [0, n];
  const extra = Math.ceil((view[1] - view[0]) * slack) + margin;
  const lo = Math.max(0, view[0] - extra);
  const hi = Math.min(n, view[1] + extra);
  // A window that would cover most of the recording costs about as much as the whole of it.
  return hi - lo > 0.8 * n ? [0, n] : [lo, hi];
}

/** The part of a solved range whose values match the whole-trace solution: all but the margins. */
export function validRange(solved: Range, n: number, margin: number): Range {
  const lo = solved[0] === 0 ? 0 : solved[0] + margin;
  const hi = solved[1] === n ? n : solved[1] - margin;
  return [lo, Math.max(lo, hi)];
}

export function covers(outer: Range, inner: Range): boolean {
  return outer[0] <= inner[0] && inner[1] <= outer[1];
}

/** The initial view: the whole recording when it is solved whole, otherwise its first DEFAULT_VIEW_S seconds. */
export function defaultView(n: number, fs: number): Range {
  const end = (n - 1) / fs;
  return windowed(n) ? [0, Math.min(end, DEFAULT_VIEW_S)] : [0, end];
}

/** A view of the same width centred on `t`, kept inside the recording. */
export function panTo(view: Range, t: number, n: number, fs: number): Range {
  const end = (n - 1) / fs;
  const w = Math.min(view[1] - view[0], end);
  const t0 = Math.max(0, Math.min(end - w, t - w / 2));
  return [t0, t0 + w];
}

/** Max |a - b| over the samples [lo, hi) of the recording, with a and b covering ranges ra and rb. */
export function maxDiff(a: ArrayLike<number>, ra: Range, b: ArrayLike<number>, rb: Range, over: Range): number {
  let m = 0;
  for (let t = over[0]; t < over[1]; t++) m = Math.max(m, Math.abs(a[t - ra[0]] - b[t - rb[0]]));
  return m;
}
