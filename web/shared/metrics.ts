// Quality numbers for the metrics panel: noise-normalised SNR of a fit and, for simulated data, the
// correlation of the inferred activity with the true spikes after Gaussian smoothing (the usual way to
// compare spike inference, since exact-frame agreement is too strict).

import { noiseSigma } from './traces';

/** Gaussian smoothing with standard deviation `sigma` samples (truncated at 4 sigma, edges renormalised). */
export function gaussianSmooth(x: ArrayLike<number>, sigma: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  if (sigma <= 0) {
    for (let i = 0; i < n; i++) out[i] = x[i];
    return out;
  }
  const half = Math.ceil(4 * sigma);
  const w = Float64Array.from({ length: 2 * half + 1 }, (_v, k) => Math.exp(-0.5 * ((k - half) / sigma) ** 2));
  for (let i = 0; i < n; i++) {
    let s = 0;
    let ws = 0;
    const lo = Math.max(0, i - half);
    const hi = Math.min(n - 1, i + half);
    for (let j = lo; j <= hi; j++) {
      const wk = w[j - i + half];
      s += wk * x[j];
      ws += wk;
    }
    out[i] = s / ws;
  }
  return out;
}

/** Pearson correlation; NaN when either side is constant. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** Correlation of activity with true spikes, both smoothed by a Gaussian of `sigmaSeconds`. */
export function truthCorrelation(
  activity: ArrayLike<number>,
  spikes: ArrayLike<number>,
  fs: number,
  sigmaSeconds = 0.1,
): number {
  const sigma = sigmaSeconds * fs;
  return pearson(gaussianSmooth(activity, sigma), gaussianSmooth(spikes, sigma));
}

/**
 * The same correlation when the smoothed spikes are already known (`smoothedSpikes`, smoothed over the
 * whole recording and cut to the activity's samples): the spikes never change, so callers smooth them once.
 */
export function smoothedCorrelation(
  activity: ArrayLike<number>,
  smoothedSpikes: ArrayLike<number>,
  fs: number,
  sigmaSeconds = 0.1,
): number {
  return pearson(gaussianSmooth(activity, sigmaSeconds * fs), smoothedSpikes);
}

/** Standard deviation of the fit around its mean over the robust noise level of the residual. */
export function fitSnr(fitted: ArrayLike<number>, reconvolution: ArrayLike<number>): number {
  const n = Math.min(fitted.length, reconvolution.length);
  if (n < 2) return NaN;
  const resid = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    resid[i] = fitted[i] - reconvolution[i];
    m += reconvolution[i];
  }
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (reconvolution[i] - m) ** 2;
  const noise = noiseSigma(resid);
  return noise > 0 ? Math.sqrt(v / n) / noise : Infinity;
}

export function median(xs: number[]): number {
  const s = xs.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}
