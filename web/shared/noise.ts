// Per-cell signal-to-noise ratio of a whole trace, for the CaTune cards. The noise sigma itself comes from
// the core (`estimate_noise` in pkg/: the median over Hann segments of the power between fs/4 and fs/2,
// the same number every Python result reports as `noise`); this file turns it into the card's SNR.
// DOM-free, so workers and tests use it.

/** Peak signal-to-noise ratio: (99th percentile - median) of the trace over the noise sigma. */
export function peakSnr(y: ArrayLike<number>, sigma: number): number {
  const n = y.length;
  if (n < 2 || !(sigma > 0)) return NaN;
  const s = Float64Array.from(y).sort();
  const q = (p: number) => s[Math.min(n - 1, Math.max(0, Math.round(p * (n - 1))))];
  return (q(0.99) - q(0.5)) / sigma;
}
