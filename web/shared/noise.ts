// Per-cell noise level and signal-to-noise ratio of a whole trace, for the CaTune cards. The noise is read
// off the power spectrum: above a quarter of the sampling rate a calcium trace is essentially white noise,
// and the periodogram |X_k|^2 / n of white noise of variance sigma^2 averages sigma^2 (the normalisation of
// the core's `power_spectrum`). Stand-in for the core's `estimate_noise` until the WebAssembly build has
// it: swap `estimateNoiseSigma` for that call and keep the rest. DOM-free, so workers and tests use it.

/** Fraction of the Nyquist band, from the top, whose mean power is the noise variance. */
export const NOISE_BAND: [number, number] = [0.25, 0.5];

/** Noise standard deviation from a periodogram (`power[k]` at `freqs[k]` Hz) of a trace sampled at `fs`. */
export function estimateNoiseSigma(freqs: ArrayLike<number>, power: ArrayLike<number>, fs: number): number {
  const lo = NOISE_BAND[0] * fs;
  const hi = NOISE_BAND[1] * fs;
  let sum = 0;
  let count = 0;
  for (let k = 1; k < Math.min(freqs.length, power.length); k++) {
    if (freqs[k] >= lo && freqs[k] <= hi && Number.isFinite(power[k])) { sum += power[k]; count++; }
  }
  return count ? Math.sqrt(sum / count) : NaN;
}

/** Peak signal-to-noise ratio: (99th percentile - median) of the trace over the noise sigma. */
export function peakSnr(y: ArrayLike<number>, sigma: number): number {
  const n = y.length;
  if (n < 2 || !(sigma > 0)) return NaN;
  const s = Float64Array.from(y).sort();
  const q = (p: number) => s[Math.min(n - 1, Math.max(0, Math.round(p * (n - 1))))];
  return (q(0.99) - q(0.5)) / sigma;
}
