//! The box relaxation of the InDeCa trace stage, solved by a primal-dual interior-point method
//! in O(kT) work per iteration.
//!
//! Problem (see [`super::trace`], step 3), fine spikes s (length kT) observed every k-th sample:
//!
//!   min_{0 <= s <= 1} 1/2 ||P (y - alpha D K s)||^2 + w sum(s)
//!
//! Written in the calcium c = alpha K s on the fine grid, s = G c / alpha with G the banded
//! inverse of the AR(2) recursion (three diagonals), the data term only sees c at the observed
//! samples: 1/2 (E c - y)^T P (E c - y), E picking every k-th sample, P centring (the baseline
//! eliminated as in FISTA). The Newton systems are then (E^T E + G^T W G - e e^T / T) dc = r,
//! pentadiagonal plus a rank-one term, solved by the banded L D L^T of [`crate::exact`] and
//! Sherman-Morrison; W = z / x + v / (alpha - x) carries both bounds. Mehrotra's predictor-corrector
//! reaches the optimum in a few dozen such solves however slow the kernel is, where projected
//! gradient (FISTA) needed hundreds to thousands of operator applications on a 1.6 s decay and
//! stopped short of the optimum. The last k - 1 fine bins (and the first frame's) cannot affect
//! any observation; they are returned as zero.

// Index loops mirror the banded formulas (several arrays at i, i+1, i+2); iterators would hide that.
#![allow(clippy::needless_range_loop)]

use crate::exact::Penta;
use crate::kernel::Ar2;

/// Convergence, from the caller's `tol`: the duality gap relative to the objective must be below
/// `tol * GAP_FACTOR` and the dual residual relative to the linear term below
/// `tol * RESIDUAL_FACTOR` (1e-7 and 1e-5 at the default tol 1e-4; the rounding that follows
/// does not change below that).
const GAP_FACTOR: f64 = 1e-3;
const RESIDUAL_FACTOR: f64 = 0.1;

/// Reusable buffers of [`relax_box`]; they grow but never shrink.
#[derive(Default)]
pub(crate) struct RelaxWork {
    c: Vec<f64>,
    x: Vec<f64>,
    r: Vec<f64>,
    z: Vec<f64>,
    v: Vec<f64>,
    q: Vec<f64>,
    obs: Vec<f64>,
    rd: Vec<f64>,
    tmp: Vec<f64>,
    w1: Vec<f64>,
    dc: Vec<f64>,
    dx: Vec<f64>,
    dz: Vec<f64>,
    dv: Vec<f64>,
    rhs: Vec<f64>,
    rc1: Vec<f64>,
    rc2: Vec<f64>,
    inv_x: Vec<f64>,
    inv_r: Vec<f64>,
    best: Vec<f64>,
    penta: Option<Penta>,
}

/// s = G c: s[p] = (c[p] - g1 c[p-1] - g2 c[p-2]) / gain.
fn apply_g(ar: &Ar2, c: &[f64], x: &mut [f64]) {
    let inv = 1.0 / ar.gain;
    let (mut c1, mut c2) = (0.0, 0.0);
    for (xi, &ci) in x.iter_mut().zip(c) {
        *xi = (ci - ar.g1 * c1 - ar.g2 * c2) * inv;
        c2 = c1;
        c1 = ci;
    }
}

/// out = G^T v.
fn apply_gt(ar: &Ar2, v: &[f64], out: &mut [f64]) {
    let inv = 1.0 / ar.gain;
    let (mut v1, mut v2) = (0.0, 0.0);
    for j in (0..v.len()).rev() {
        out[j] = (v[j] - ar.g1 * v1 - ar.g2 * v2) * inv;
        v2 = v1;
        v1 = v[j];
    }
}

/// c = G^{-1} x.
fn apply_g_inv(ar: &Ar2, x: &[f64], c: &mut [f64]) {
    let (mut c1, mut c2) = (0.0, 0.0);
    for (ci, &xi) in c.iter_mut().zip(x) {
        let v = xi * ar.gain + ar.g1 * c1 + ar.g2 * c2;
        *ci = v;
        c2 = c1;
        c1 = v;
    }
}

fn step_to_boundary(v: &[f64], dv: &[f64], sign: f64) -> f64 {
    let mut a = 1.0f64;
    for (x, d) in v.iter().zip(dv) {
        let d = sign * d;
        if d < 0.0 {
            a = a.min(-x / d);
        }
    }
    a
}

fn resize(v: &mut Vec<f64>, n: usize, fill: f64) {
    v.clear();
    v.resize(n, fill);
}

/// Solve the relaxation for the fine spikes `s_out` (length k T, in [0, 1]) of the trace `y`
/// (length T >= 2) with the fine-rate AR(2) form `ar`, amplitude `alpha` > 0 and L1 weight
/// `l1` >= 0 per unit spike, to relative tolerance `tol` (see [`GAP_FACTOR`]). Returns (Newton
/// iterations, converged). Deterministic.
#[allow(clippy::too_many_arguments)]
pub(crate) fn relax_box(
    y: &[f64],
    ar: &Ar2,
    k: usize,
    alpha: f64,
    l1: f64,
    max_iters: usize,
    tol: f64,
    ws: &mut RelaxWork,
    s_out: &mut [f64],
) -> (usize, bool) {
    let t = y.len();
    s_out.iter_mut().for_each(|v| *v = 0.0);
    if t < 2 || k == 0 || alpha <= 0.0 {
        return (0, true);
    }
    // c[p] is the calcium at fine time p + 1, p < n; observed samples are fine times k j, j >= 1.
    let n = k * (t - 1);
    let tf = t as f64;
    let mean_y = y.iter().sum::<f64>() / tf;
    let sd = (y.iter().map(|v| (v - mean_y).powi(2)).sum::<f64>() / tf).sqrt();
    if sd <= 0.0 || !sd.is_finite() {
        return (0, true);
    }
    // Scaled units: y / sd, so the tolerances are relative.
    let scale = sd;
    let amax = alpha / scale;
    let mu1 = l1 / (alpha * scale);

    let RelaxWork {
        c,
        x,
        r,
        z,
        v,
        q,
        obs,
        rd,
        tmp,
        w1,
        dc,
        dx,
        dz,
        dv,
        rhs,
        rc1,
        rc2,
        inv_x,
        inv_r,
        best,
        penta,
    } = ws;
    for b in [
        &mut *c,
        &mut *q,
        &mut *obs,
        &mut *rd,
        &mut *tmp,
        &mut *w1,
        &mut *dc,
        &mut *dx,
        &mut *dz,
        &mut *dv,
        &mut *rhs,
        &mut *rc1,
        &mut *rc2,
        &mut *inv_x,
        &mut *inv_r,
        &mut *best,
    ] {
        resize(b, n, 0.0);
    }
    let m = match penta {
        Some(p) if p.d.len() == n => p,
        _ => penta.insert(Penta::with_len(n)),
    };
    // Observation mask and the linear term q = -E^T P y + mu1 G^T 1.
    resize(x, n, 1.0);
    apply_gt(ar, x, q);
    for p in 0..n {
        q[p] *= mu1;
    }
    for j in 1..t {
        let p = k * j - 1;
        obs[p] = 1.0;
        q[p] -= (y[j] - mean_y) / scale;
    }
    let q_norm = q.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);

    // Start inside the box, near the sparse end.
    resize(x, n, 0.1 * amax);
    resize(r, n, 0.9 * amax);
    apply_g_inv(ar, x, c);
    let z0 = mu1.max(0.1) + 1.0;
    resize(z, n, z0);
    resize(v, n, z0);

    let (d0, d1, d2) = (1.0 / ar.gain, -ar.g1 / ar.gain, -ar.g2 / ar.gain);
    let mut converged = false;
    let mut iterations = 0;
    let mut best_merit = f64::INFINITY;
    best.copy_from_slice(x);
    for it in 0..max_iters.max(1) {
        iterations = it + 1;
        // rd = Q c + q - G^T (z - v), Q = E^T E - e e^T / T.
        let sum_obs: f64 = (1..t).map(|j| c[k * j - 1]).sum();
        for p in 0..n {
            tmp[p] = z[p] - v[p];
        }
        apply_gt(ar, tmp, rd);
        for p in 0..n {
            rd[p] = obs[p] * (c[p] - sum_obs / tf) + q[p] - rd[p];
        }
        let gap: f64 = (0..n).map(|p| x[p] * z[p] + r[p] * v[p]).sum();
        let rd_norm = rd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mean_r = ((y[0] - mean_y) / scale
            + (1..t)
                .map(|j| (y[j] - mean_y) / scale - c[k * j - 1])
                .sum::<f64>())
            / tf;
        let fit = 0.5 * ((y[0] - mean_y) / scale - mean_r).powi(2)
            + 0.5
                * (1..t)
                    .map(|j| ((y[j] - mean_y) / scale - c[k * j - 1] - mean_r).powi(2))
                    .sum::<f64>();
        let objective = fit + mu1 * x.iter().sum::<f64>();
        let merit = (gap / (tol * GAP_FACTOR * objective.max(1e-12 * tf)))
            .max(rd_norm / (tol * RESIDUAL_FACTOR * q_norm));
        if merit < best_merit {
            best_merit = merit;
            best.copy_from_slice(x);
        }
        if merit <= 1.0 {
            converged = true;
            iterations = it;
            break;
        }
        let mean_gap = gap / (2 * n) as f64;

        // B = E^T E + G^T W G, W = z / x + v / r.
        for p in 0..n {
            inv_x[p] = 1.0 / x[p];
            inv_r[p] = 1.0 / r[p];
            tmp[p] = z[p] * inv_x[p] + v[p] * inv_r[p];
        }
        for j in 0..n {
            let w0 = tmp[j];
            let w1v = if j + 1 < n { tmp[j + 1] } else { 0.0 };
            let w2v = if j + 2 < n { tmp[j + 2] } else { 0.0 };
            m.d[j] = obs[j] + w0 * d0 * d0 + w1v * d1 * d1 + w2v * d2 * d2;
            m.e1[j] = w1v * d1 * d0 + w2v * d2 * d1;
            m.e2[j] = w2v * d2 * d0;
        }
        m.factor();
        w1.copy_from_slice(obs);
        m.solve(w1);
        let sm_den = tf - (1..t).map(|j| w1[k * j - 1]).sum::<f64>();

        // One Newton solve for the complementarity residuals rc1 (x z) and rc2 (r v).
        let newton = |rc1: &[f64],
                      rc2: &[f64],
                      tmp: &mut [f64],
                      rhs: &mut [f64],
                      dc: &mut [f64],
                      dx: &mut [f64],
                      dz: &mut [f64],
                      dv: &mut [f64]| {
            for p in 0..n {
                tmp[p] = rc1[p] * inv_x[p] - rc2[p] * inv_r[p];
            }
            apply_gt(ar, tmp, rhs);
            for p in 0..n {
                rhs[p] -= rd[p];
            }
            m.solve(rhs);
            let corr = (1..t).map(|j| rhs[k * j - 1]).sum::<f64>() / sm_den;
            for p in 0..n {
                dc[p] = rhs[p] + corr * w1[p];
            }
            apply_g(ar, dc, dx);
            for p in 0..n {
                dz[p] = (rc1[p] - z[p] * dx[p]) * inv_x[p];
                dv[p] = (rc2[p] + v[p] * dx[p]) * inv_r[p];
            }
        };
        let max_step = |dx: &[f64], dz: &[f64], dv: &[f64]| {
            step_to_boundary(x, dx, 1.0)
                .min(step_to_boundary(r, dx, -1.0))
                .min(step_to_boundary(z, dz, 1.0))
                .min(step_to_boundary(v, dv, 1.0))
        };

        // Predictor (affine scaling).
        for p in 0..n {
            rc1[p] = -x[p] * z[p];
            rc2[p] = -r[p] * v[p];
        }
        newton(rc1, rc2, tmp, rhs, dc, dx, dz, dv);
        let a_aff = max_step(dx, dz, dv);
        let gap_aff: f64 = (0..n)
            .map(|p| {
                (x[p] + a_aff * dx[p]) * (z[p] + a_aff * dz[p])
                    + (r[p] - a_aff * dx[p]) * (v[p] + a_aff * dv[p])
            })
            .sum();
        let sigma = (gap_aff / gap).powi(3).clamp(0.0, 1.0);
        let target = sigma * mean_gap;
        // Corrector.
        for p in 0..n {
            rc1[p] = target - x[p] * z[p] - dx[p] * dz[p];
            rc2[p] = target - r[p] * v[p] + dx[p] * dv[p];
        }
        newton(rc1, rc2, tmp, rhs, dc, dx, dz, dv);
        let a = (0.995 * max_step(dx, dz, dv)).min(1.0);
        if !a.is_finite()
            || dc
                .iter()
                .chain(dz.iter())
                .chain(dv.iter())
                .any(|v| !v.is_finite())
        {
            break;
        }
        for p in 0..n {
            c[p] += a * dc[p];
            x[p] += a * dx[p];
            r[p] -= a * dx[p];
            z[p] += a * dz[p];
            v[p] += a * dv[p];
        }
    }
    for p in 0..n {
        s_out[p] = (best[p] / amax).clamp(0.0, 1.0);
    }
    (iterations, converged)
}
