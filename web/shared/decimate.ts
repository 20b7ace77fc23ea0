// Min/max decimation for drawing long traces: each bucket keeps its minimum and maximum in time order,
// so spikes survive while the point count stays near twice the pixel width.

export interface Decimated {
  x: Float64Array;
  ys: Float64Array[];
}

/**
 * Decimates several series sharing one time axis. Buckets are chosen from the first series' extremes;
 * other series are sampled at the same indices so overlays stay aligned.
 */
export function minMaxDecimate(ys: ArrayLike<number>[], dt: number, maxPoints: number): Decimated {
  const n = ys[0]?.length ?? 0;
  if (n <= maxPoints || maxPoints < 4) {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = i * dt;
    return {
      x,
      ys: ys.map((y) => {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = y[i];
        return out;
      }),
    };
  }
  const buckets = Math.floor(maxPoints / 2);
  const idx: number[] = [];
  const ref = ys[0];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    let iMin = lo;
    let iMax = lo;
    for (let i = lo + 1; i < hi; i++) {
      if (ref[i] < ref[iMin]) iMin = i;
      if (ref[i] > ref[iMax]) iMax = i;
    }
    if (iMin === iMax) idx.push(iMin);
    else if (iMin < iMax) idx.push(iMin, iMax);
    else idx.push(iMax, iMin);
  }
  // Plain loops: typed-array `from` with a map callback is several times slower on long traces.
  const m = idx.length;
  const x = new Float64Array(m);
  for (let k = 0; k < m; k++) x[k] = idx[k] * dt;
  return {
    x,
    ys: ys.map((y) => {
      const out = new Float64Array(m);
      for (let k = 0; k < m; k++) out[k] = y[idx[k]];
      return out;
    }),
  };
}

/** Per-bucket maximum of a sparse non-negative series, placed at the decimated sample times. */
export function bucketMax(y: ArrayLike<number>, xIdx: Float64Array, dt: number): Float64Array {
  const out = new Float64Array(xIdx.length);
  let start = 0;
  for (let k = 0; k < xIdx.length; k++) {
    const end = k + 1 < xIdx.length ? Math.round(xIdx[k + 1] / dt) : y.length;
    let m = 0;
    for (let i = start; i < end; i++) if (y[i] > m) m = y[i];
    out[k] = m;
    start = end;
  }
  return out;
}
