//! The primal-dual interior-point method shared by the exact L1 solver ([`crate::exact`]) and the
//! InDeCa box relaxation ([`crate::indeca::relax`]), written as seven fused sweeps per iteration.
//!
//! Problem, in the calcium `c` (length `n = k (T - 1)`, `c[p]` the calcium at fine time `p + 1`)
//! with the spikes `x = D c` (`D` the banded inverse of the AR(2) recursion, three diagonals):
//!
//! ```text
//! min 1/2 sum_j (yc_j - c_obs(j) - b)^2 + mu sum_p x_p   subject to  0 <= x_p <= u
//! ```
//!
//! over `c` and, when `centred`, the baseline `b` (eliminated exactly: `P` centres); `yc_j =
//! (y_j - shift) / scale`, `c[p]` is observed as `yc_j` when `p + 1 = k j` (every `k`-th fine
//! sample; `k = 1` for the L1 solver), and `u` may be infinite. Newton systems are
//! `(E'E + D'WD - e e'/T) dc = r` with `W = z / x + v / (u - x)`: pentadiagonal plus a rank-one
//! term, factorised as `L D L'` and corrected by Sherman-Morrison. Mehrotra's predictor-corrector
//! then reaches the optimum in a few dozen such solves regardless of how slow the kernel is.
//!
//! The arithmetic is that of the textbook method; what is particular is the memory traffic. One
//! iteration is seven passes over the arrays (forward: residuals, merit, assembly, factorisation
//! and the forward substitution of both right-hand sides at once; backward: both back
//! substitutions; forward: predictor direction, its step and the affine gap; forward: corrector
//! right-hand side and its forward substitution; backward; forward: corrector step; forward:
//! update), every stencil (`D`, `D'`, `D^{-1}`) computed on the fly, the linear term rebuilt from
//! `y`, no copy of the calcium (it is `D^{-1} x`, recomputed by recursion where needed), the second
//! sub-diagonal of `L` recomputed from `W` and the first, and the ratio tests free of divisions
//! (`1 / x` is kept). That is 8 work vectors without the upper bound (11 and an f32 copy of the
//! best iterate with it) where the straightforward code needed ~20 and ~50 passes.

// Index loops mirror the banded formulas (several arrays at p, p+1, p+2); iterators would hide that.
#![allow(clippy::needless_range_loop)]

/// One problem instance (see the module docs).
pub(crate) struct Problem<'a> {
    /// Observations `y_0 .. y_{T-1}`, `T >= 2`.
    pub y: &'a [f64],
    pub shift: f64,
    /// `1 / scale`.
    pub inv_scale: f64,
    /// Fine samples per observation, >= 1.
    pub k: usize,
    /// AR(2) recursion `c_p = g1 c_{p-1} + g2 c_{p-2} + gain x_p`.
    pub g1: f64,
    pub g2: f64,
    pub gain: f64,
    /// L1 weight per unit of `x` (scaled units), >= 0.
    pub mu: f64,
    /// Upper bound on `x` (scaled); only read by the boxed solver.
    pub upper: f64,
    /// Free baseline (eliminated by centring) or none (`shift` is the baseline).
    pub centred: bool,
}

/// Stopping rule: `merit = max(gap / (gap_tol * max(objective, 1e-12 T)), rd / (residual_tol *
/// q))` <= 1, with `gap` the duality gap, `rd` the largest dual residual and `q` the largest entry
/// of the linear term (at least 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub gap_tol: f64,
    pub residual_tol: f64,
    pub max_iters: usize,
}

/// Work vectors; they grow but never shrink, so a caller can keep one per thread.
#[derive(Default)]
pub(crate) struct Work {
    /// The spikes `x` (scaled): the start on entry, the answer on return.
    pub x: Vec<f64>,
    z: Vec<f64>,
    v: Vec<f64>,
    inv_x: Vec<f64>,
    inv_r: Vec<f64>,
    inv_d: Vec<f64>,
    l1: Vec<f64>,
    w1: Vec<f64>,
    u: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    /// Best iterate by merit, kept (boxed solver only) to fall back on when the method stops
    /// unconverged (f32: converged answers are always the final f64 iterate). Without the bound
    /// the caller continues an unconverged answer with FISTA, so the last iterate serves and the
    /// memory is saved.
    best: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub iterations: usize,
    pub converged: bool,
}

/// Every work vector has two zeros past its end, so the stencils' look-ahead needs no branch:
/// beyond the last sample `z = v = 1/x = 1/(u-x) = 0`, hence `W = 0`, and the directions vanish.
const PAD: usize = 2;

/// `n` copies of `value`, then `PAD` zeros.
fn fill(v: &mut Vec<f64>, n: usize, value: f64) {
    v.clear();
    // Exactly n + PAD: growing by the padding afterwards would double the capacity.
    v.reserve_exact(n + PAD);
    v.resize(n, value);
    v.resize(n + PAD, 0.0);
}

/// Branch-free `max` for values that are never NaN here.
#[inline(always)]
fn maxf(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// Solve `pb` from the constant start `x = x0` (inside `(0, upper)`), `z = z0`, `v = v0` (the
/// upper bound's dual, boxed solver only); the answer is left in `w.x` (length `n`).
/// `BOXED` selects the variant with the upper bound.
pub(crate) fn solve<const BOXED: bool>(
    pb: &Problem,
    st: &Settings,
    x0: f64,
    z0: f64,
    v0: f64,
    w: &mut Work,
) -> Outcome {
    let t = pb.y.len();
    let k = pb.k.max(1);
    let n = k * t.saturating_sub(1);
    let tf = t as f64;
    fill(&mut w.x, n, x0);
    if n == 0 {
        w.x.truncate(0);
        return Outcome {
            iterations: 0,
            converged: true,
        };
    }
    fill(&mut w.z, n, z0);
    for b in [
        &mut w.inv_x,
        &mut w.inv_d,
        &mut w.l1,
        &mut w.w1,
        &mut w.u,
        &mut w.s1,
    ] {
        fill(b, n, 0.0);
    }
    if BOXED {
        fill(&mut w.v, n, v0);
        fill(&mut w.inv_r, n, 0.0);
        fill(&mut w.s2, n, 0.0);
    }
    w.best.clear();
    if BOXED {
        w.best.resize(n, x0 as f32);
    }

    let Work {
        x,
        z,
        v,
        inv_x,
        inv_r,
        inv_d,
        l1,
        w1,
        u,
        s1,
        s2,
        best,
    } = w;
    // Slices of one known length, so the compiler can drop the bounds checks of the look-ahead.
    let np = n + PAD;
    let x = &mut x[..np];
    let z = &mut z[..np];
    let inv_x = &mut inv_x[..np];
    let inv_d = &mut inv_d[..np];
    let l1 = &mut l1[..np];
    let w1 = &mut w1[..np];
    let u = &mut u[..np];
    let s1 = &mut s1[..np];
    let (v, inv_r, s2) = if BOXED {
        (&mut v[..np], &mut inv_r[..np], &mut s2[..np])
    } else {
        (&mut v[..], &mut inv_r[..], &mut s2[..])
    };
    let best = &mut best[..];
    let (g1, g2, gain) = (pb.g1, pb.g2, pb.gain);
    let inv_a = 1.0 / gain;
    let (d0, d1, d2) = (inv_a, -g1 * inv_a, -g2 * inv_a);
    let upper = pb.upper;
    let mu = pb.mu;
    let centred = pb.centred;
    let yc = |j: usize| (pb.y[j] - pb.shift) * pb.inv_scale;
    let sum_yc: f64 = (0..t).map(yc).sum();
    let yc0 = yc(0);
    // (D' 1)_p.
    let dt1 = |p: usize| {
        let mut s = 1.0;
        if p + 1 < n {
            s -= g1;
        }
        if p + 2 < n {
            s -= g2;
        }
        s * inv_a
    };
    // Largest entry of the linear term q_p = mu (D'1)_p - [observed] yc_j.
    let mut q_norm = 1.0f64;
    for p in 0..n {
        let obs = (p + 1) % k == 0;
        let q = mu * dt1(p) - if obs { yc((p + 1) / k) } else { 0.0 };
        q_norm = q_norm.max(q.abs());
    }
    let n_compl = if BOXED { 2 * n } else { n } as f64;

    // 1 / x, 1 / (u - x) and the sum of the observed calcium of the current x.
    let refresh = |x: &[f64], inv_x: &mut [f64], inv_r: &mut [f64]| -> f64 {
        let (mut c1, mut c2) = (0.0, 0.0);
        let mut sum = 0.0;
        let mut phase = 0;
        for p in 0..n {
            let c = x[p] * gain + g1 * c1 + g2 * c2;
            c2 = c1;
            c1 = c;
            phase += 1;
            if phase == k {
                phase = 0;
                sum += c;
            }
            inv_x[p] = 1.0 / x[p];
            if BOXED {
                inv_r[p] = 1.0 / (upper - x[p]);
            }
        }
        sum
    };
    let mut sum_c = refresh(x, inv_x, inv_r);
    // W_p = z / x + v / (u - x), and the dual z - v; zero in the padding.
    let weight = |z: &[f64], v: &[f64], inv_x: &[f64], inv_r: &[f64], p: usize| {
        if BOXED {
            z[p] * inv_x[p] + v[p] * inv_r[p]
        } else {
            z[p] * inv_x[p]
        }
    };
    let dual = |z: &[f64], v: &[f64], p: usize| if BOXED { z[p] - v[p] } else { z[p] };

    let mut converged = false;
    let mut iterations = 0;
    let mut best_merit = f64::INFINITY;
    let mut best_is_current = false;
    // Whether x is the iterate whose merit was measured last (false after an update).
    let mut evaluated = false;
    for it in 0..st.max_iters.max(1) {
        iterations = it + 1;
        let cbar = if centred { sum_c / tf } else { 0.0 };
        let mean_r = if centred { (sum_yc - sum_c) / tf } else { 0.0 };

        // --- A: residuals and merit; B assembled, factorised, both right-hand sides forward.
        let mut gap = 0.0;
        let mut rd_norm = 0.0f64;
        let mut fit = 0.5 * (yc0 - mean_r) * (yc0 - mean_r);
        let mut xsum = 0.0;
        {
            let (mut c1, mut c2) = (0.0, 0.0);
            // Factor of the previous two rows, forward-substituted values.
            let (mut dp, mut dpp, mut l1p, mut l2p, mut l2pp) = (0.0, 0.0, 0.0, 0.0, 0.0);
            let (mut f1p, mut f1pp, mut f2p, mut f2pp) = (0.0, 0.0, 0.0, 0.0);
            let mut phase = 0;
            let mut j = 0;
            let mut wv1 = weight(z, v, inv_x, inv_r, 0);
            let mut wv2 = weight(z, v, inv_x, inv_r, 1);
            let mut zv1 = dual(z, v, 1);
            let mut zv0 = dual(z, v, 0);
            for p in 0..n {
                let wv0 = wv1;
                wv1 = wv2;
                wv2 = weight(z, v, inv_x, inv_r, p + 2);
                let zv2 = dual(z, v, p + 2);
                let dtz = (zv0 - g1 * zv1 - g2 * zv2) * inv_a;
                zv0 = zv1;
                zv1 = zv2;
                let c = x[p] * gain + g1 * c1 + g2 * c2;
                c2 = c1;
                c1 = c;
                phase += 1;
                let obs = phase == k;
                let mut qc = mu * dt1(p);
                if obs {
                    phase = 0;
                    j += 1;
                    let ycj = yc(j);
                    qc += c - cbar - ycj;
                    let e = ycj - c - mean_r;
                    fit += 0.5 * e * e;
                }
                let rd = qc - dtz;
                rd_norm = maxf(rd_norm, rd.abs());
                gap += x[p] * z[p];
                if BOXED {
                    gap += (upper - x[p]) * v[p];
                }
                xsum += x[p];
                let ob = if obs { 1.0 } else { 0.0 };
                let diag = ob + wv0 * d0 * d0 + wv1 * d1 * d1 + wv2 * d2 * d2;
                let e1 = wv1 * d1 * d0 + wv2 * d2 * d1;
                let e2 = wv2 * d2 * d0;
                let dd = diag - l1p * l1p * dp - l2pp * l2pp * dpp;
                let inv = 1.0 / dd;
                let l1v = (e1 - l2p * l1p * dp) * inv;
                let l2v = e2 * inv;
                let f2 = -qc - l1p * f2p - l2pp * f2pp;
                u[p] = f2;
                if centred {
                    let f1 = ob - l1p * f1p - l2pp * f1pp;
                    w1[p] = f1;
                    f1pp = f1p;
                    f1p = f1;
                }
                inv_d[p] = inv;
                l1[p] = l1v;
                dpp = dp;
                dp = dd;
                l2pp = l2p;
                l2p = l2v;
                l1p = l1v;
                f2pp = f2p;
                f2p = f2;
            }
        }
        let objective = fit + mu * xsum;
        let merit = (gap / (st.gap_tol * objective.max(1e-12 * tf)))
            .max(rd_norm / (st.residual_tol * q_norm));
        best_is_current = merit < best_merit;
        evaluated = true;
        if best_is_current {
            best_merit = merit;
        }
        if merit <= 1.0 {
            converged = true;
            iterations = it;
            break;
        }
        let mean_gap = gap / n_compl;

        // L2_p = W_{p+2} d2 d0 / D_p, recomputed rather than stored.
        let l2_at =
            |z: &[f64], v: &[f64], inv_x: &[f64], inv_r: &[f64], inv_d: &[f64], p: usize| {
                weight(z, v, inv_x, inv_r, p + 2) * d2 * d0 * inv_d[p]
            };

        // --- B: back substitution of both right-hand sides.
        let (mut sw1, mut su) = (0.0, 0.0);
        {
            let (mut a1, mut a2, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0);
            // p = n - 1 is observed, then every k-th sample going back.
            let mut phase = 0;
            for p in (0..n).rev() {
                let l2v = l2_at(z, v, inv_x, inv_r, inv_d, p);
                let val = u[p] * inv_d[p] - l1[p] * b1 - l2v * b2;
                u[p] = val;
                b2 = b1;
                b1 = val;
                let obs = phase == 0;
                phase = if phase == 0 { k - 1 } else { phase - 1 };
                if centred {
                    let wv = w1[p] * inv_d[p] - l1[p] * a1 - l2v * a2;
                    w1[p] = wv;
                    a2 = a1;
                    a1 = wv;
                    if obs {
                        sw1 += wv;
                    }
                }
                if obs {
                    su += val;
                }
            }
        }
        let sm_den = tf - sw1;
        let corr1 = if centred { su / sm_den } else { 0.0 };

        // --- C: predictor direction, its step to the boundary and the affine gap's terms.
        if BOXED && best_is_current {
            for (b, xv) in best.iter_mut().zip(x.iter()) {
                *b = *xv as f32;
            }
        }
        let (mut s1g, mut s2g) = (0.0, 0.0);
        let mut ratio = 1.0f64; // largest (-step per unit step) over all bounds: a = 1 / ratio
        {
            let (mut dc1, mut dc2) = (0.0, 0.0);
            for p in 0..n {
                let dc = u[p] + corr1 * w1[p];
                let dx = (dc - g1 * dc1 - g2 * dc2) * inv_a;
                dc2 = dc1;
                dc1 = dc;
                let tx = dx * inv_x[p];
                let dz = -z[p] * (1.0 + tx);
                ratio = maxf(maxf(ratio, -tx), 1.0 + tx);
                s1g += x[p] * dz + z[p] * dx;
                s2g += dx * dz;
                if BOXED {
                    let tr = dx * inv_r[p];
                    let dv = -v[p] * (1.0 - tr);
                    ratio = maxf(maxf(ratio, tr), 1.0 - tr);
                    s1g += (upper - x[p]) * dv - v[p] * dx;
                    s2g -= dx * dv;
                }
            }
        }
        let a_aff = 1.0 / ratio;
        let gap_aff = gap + a_aff * s1g + a_aff * a_aff * s2g;
        let sigma = (gap_aff / gap).powi(3).clamp(0.0, 1.0);
        let target = sigma * mean_gap;

        // --- D: corrector right-hand side D'(rc1 / x - rc2 / r) - rd, forward substitution. The
        // Sherman-Morrison sum obs' B^{-1} rhs is w1' rhs (B is symmetric, w1 = B^{-1} obs), so it
        // is known before the back substitution, which can then build the direction as it goes.
        let mut w1_rhs = 0.0;
        {
            // The affine direction two samples ahead (for the D' stencil), and s = rc / x there.
            let (mut dc1, mut dc2) = (0.0, 0.0);
            let aff = Affine {
                g1,
                g2,
                inv_a,
                upper,
                corr: corr1,
                target,
            };
            let mut ahead = |q: usize, dc1: &mut f64, dc2: &mut f64, u: &[f64]| -> f64 {
                aff.rc_over_x::<BOXED>(q, dc1, dc2, u, w1, x, z, v, inv_x, inv_r, s1, s2)
            };
            let mut sa0 = ahead(0, &mut dc1, &mut dc2, u);
            let mut sa1 = ahead(1, &mut dc1, &mut dc2, u);
            let (mut c1, mut c2) = (0.0, 0.0);
            let mut zv0 = dual(z, v, 0);
            let mut zv1 = dual(z, v, 1);
            let (mut f1v, mut f2v) = (0.0, 0.0);
            // L1_{p-1}, L2_{p-2} and L2_{p-1}.
            let (mut lp1, mut lp2, mut l2q) = (0.0, 0.0, 0.0);
            let mut phase = 0;
            let mut j = 0;
            for p in 0..n {
                let sa2 = ahead(p + 2, &mut dc1, &mut dc2, u);
                let ds = (sa0 - g1 * sa1 - g2 * sa2) * inv_a;
                sa0 = sa1;
                sa1 = sa2;
                let zv2 = dual(z, v, p + 2);
                let dtz = (zv0 - g1 * zv1 - g2 * zv2) * inv_a;
                zv0 = zv1;
                zv1 = zv2;
                let c = x[p] * gain + g1 * c1 + g2 * c2;
                c2 = c1;
                c1 = c;
                phase += 1;
                let mut qc = mu * dt1(p);
                if phase == k {
                    phase = 0;
                    j += 1;
                    qc += c - cbar - yc(j);
                }
                let rd = qc - dtz;
                let rhs = ds - rd;
                if centred {
                    w1_rhs += w1[p] * rhs;
                }
                // L_{p,p-1} = l1[p-1], L_{p,p-2} = L2_{p-2}.
                let f = rhs - lp1 * f1v - lp2 * f2v;
                u[p] = f;
                f2v = f1v;
                f1v = f;
                lp2 = l2q;
                l2q = l2_at(z, v, inv_x, inv_r, inv_d, p);
                lp1 = l1[p];
            }
        }

        let corr2 = if centred { w1_rhs / sm_den } else { 0.0 };

        // --- E: back substitution of the corrector, with its direction (two samples behind, for
        // the D stencil) and the step to the boundary (ratio tests by cross-multiplication; one
        // division when the bound tightens).
        let mut a_max = 1.0f64;
        let mut finite = true;
        {
            let mut bound = |q: usize, dc: f64, dx: f64| {
                let dz = s1[q] - z[q] * dx * inv_x[q];
                finite &= dc.is_finite() & dz.is_finite();
                if dx < 0.0 && -dx * a_max > x[q] {
                    a_max = -x[q] / dx;
                }
                if dz < 0.0 && -dz * a_max > z[q] {
                    a_max = -z[q] / dz;
                }
                if BOXED {
                    let dv = s2[q] + v[q] * dx * inv_r[q];
                    finite &= dv.is_finite();
                    let r = upper - x[q];
                    if dx > 0.0 && dx * a_max > r {
                        a_max = r / dx;
                    }
                    if dv < 0.0 && -dv * a_max > v[q] {
                        a_max = -v[q] / dv;
                    }
                }
            };
            let (mut b1, mut b2) = (0.0, 0.0);
            // dc at p + 1, p + 2.
            let (mut e1, mut e2) = (0.0, 0.0);
            for p in (0..n).rev() {
                let l2v = l2_at(z, v, inv_x, inv_r, inv_d, p);
                let val = u[p] * inv_d[p] - l1[p] * b1 - l2v * b2;
                u[p] = val;
                b2 = b1;
                b1 = val;
                let dc = val + corr2 * w1[p];
                if p + 2 < n {
                    let dx = (e2 - g1 * e1 - g2 * dc) * inv_a;
                    bound(p + 2, e2, dx);
                }
                e2 = e1;
                e1 = dc;
            }
            // The first two samples (dc = 0 before the start).
            if n >= 2 {
                bound(1, e2, (e2 - g1 * e1) * inv_a);
            }
            bound(0, e1, e1 * inv_a);
        }
        // The corrector direction in G (the same arithmetic as in E).
        let dir = Corrector {
            g1,
            g2,
            inv_a,
            corr: corr2,
        };
        let a = (0.995 * a_max).min(1.0);
        if !a.is_finite() || !finite {
            break; // numerically exhausted: keep the last (finite) iterate
        }

        // --- G: update (x along D dc, not recomputed from c: near the optimum that would cancel
        // to zero or below and leave the interior), then 1 / x and the observed calcium sum.
        {
            let (mut dc1, mut dc2) = (0.0, 0.0);
            let (mut c1, mut c2) = (0.0, 0.0);
            let mut sum = 0.0;
            let mut phase = 0;
            for p in 0..n {
                let (_, dx, dz, dv) =
                    dir.at::<BOXED>(p, &mut dc1, &mut dc2, u, w1, z, v, inv_x, inv_r, s1, s2);
                let xn = x[p] + a * dx;
                x[p] = xn;
                z[p] += a * dz;
                if BOXED {
                    v[p] += a * dv;
                    inv_r[p] = 1.0 / (upper - xn);
                }
                inv_x[p] = 1.0 / xn;
                let c = xn * gain + g1 * c1 + g2 * c2;
                c2 = c1;
                c1 = c;
                phase += 1;
                if phase == k {
                    phase = 0;
                    sum += c;
                }
            }
            sum_c = sum;
            evaluated = false;
        }
    }
    let last_is_best = evaluated && best_is_current;
    if BOXED && !converged && !last_is_best {
        for (xv, b) in x.iter_mut().zip(best.iter()) {
            *xv = *b as f64;
        }
    }
    w.x.truncate(n);
    Outcome {
        iterations,
        converged,
    }
}

/// The affine (predictor) direction at one sample and `rc / x - rc2 / r` of the corrector there.
struct Affine {
    g1: f64,
    g2: f64,
    inv_a: f64,
    upper: f64,
    corr: f64,
    target: f64,
}

impl Affine {
    /// Also stores `rc1 / x` in `s1[q]` (and `rc2 / r` in `s2[q]`) for the corrector's `dz`, `dv`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn rc_over_x<const BOXED: bool>(
        &self,
        q: usize,
        dc1: &mut f64,
        dc2: &mut f64,
        u: &[f64],
        w1: &[f64],
        x: &[f64],
        z: &[f64],
        v: &[f64],
        inv_x: &[f64],
        inv_r: &[f64],
        s1: &mut [f64],
        s2: &mut [f64],
    ) -> f64 {
        let dc = u[q] + self.corr * w1[q];
        let dx = (dc - self.g1 * *dc1 - self.g2 * *dc2) * self.inv_a;
        *dc2 = *dc1;
        *dc1 = dc;
        let tx = dx * inv_x[q];
        let dz = -z[q] * (1.0 + tx);
        let rc1 = self.target - x[q] * z[q] - dx * dz;
        let sv1 = rc1 * inv_x[q];
        s1[q] = sv1;
        if BOXED {
            let r = self.upper - x[q];
            let tr = dx * inv_r[q];
            let dv = -v[q] * (1.0 - tr);
            let rc2 = self.target - r * v[q] + dx * dv;
            let sv2 = rc2 * inv_r[q];
            s2[q] = sv2;
            sv1 - sv2
        } else {
            sv1
        }
    }
}

/// The corrector direction at one sample: `(dc, dx, dz, dv)`.
struct Corrector {
    g1: f64,
    g2: f64,
    inv_a: f64,
    corr: f64,
}

impl Corrector {
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn at<const BOXED: bool>(
        &self,
        p: usize,
        dc1: &mut f64,
        dc2: &mut f64,
        u: &[f64],
        w1: &[f64],
        z: &[f64],
        v: &[f64],
        inv_x: &[f64],
        inv_r: &[f64],
        s1: &[f64],
        s2: &[f64],
    ) -> (f64, f64, f64, f64) {
        let dc = u[p] + self.corr * w1[p];
        let dx = (dc - self.g1 * *dc1 - self.g2 * *dc2) * self.inv_a;
        *dc2 = *dc1;
        *dc1 = dc;
        let dz = s1[p] - z[p] * dx * inv_x[p];
        let dv = if BOXED {
            s2[p] + v[p] * dx * inv_r[p]
        } else {
            0.0
        };
        (dc, dx, dz, dv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Ar2, KernelParams};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// Gradient of `1/2 ||P (yc - E A x)||^2 + mu sum x` in the spikes (A = D^{-1}, the AR(2)
    /// recursion), by the adjoint recursion: independent of the method's own residuals.
    fn gradient(pb: &Problem, x: &[f64]) -> Vec<f64> {
        let t = pb.y.len();
        let k = pb.k;
        let n = x.len();
        let mut fit = vec![0.0; t];
        let (mut c1, mut c2) = (0.0, 0.0);
        for p in 0..n {
            let c = pb.gain * x[p] + pb.g1 * c1 + pb.g2 * c2;
            c2 = c1;
            c1 = c;
            if (p + 1) % k == 0 {
                fit[(p + 1) / k] = c;
            }
        }
        let mut r: Vec<f64> = (0..t)
            .map(|j| (pb.y[j] - pb.shift) * pb.inv_scale - fit[j])
            .collect();
        if pb.centred {
            let m = r.iter().sum::<f64>() / t as f64;
            r.iter_mut().for_each(|v| *v -= m);
        }
        let mut g = vec![0.0; n];
        let (mut q1, mut q2) = (0.0, 0.0);
        for p in (0..n).rev() {
            let e = if (p + 1) % k == 0 {
                r[(p + 1) / k]
            } else {
                0.0
            };
            let q = e + pb.g1 * q1 + pb.g2 * q2;
            q2 = q1;
            q1 = q;
            g[p] = -pb.gain * q + pb.mu;
        }
        g
    }

    fn problem(rng: &mut Pcg64, k: usize, t: usize, ar: &Ar2) -> Vec<f64> {
        let n = k * (t - 1);
        let mut y = vec![0.0; t];
        let (mut c1, mut c2) = (0.0, 0.0);
        for p in 0..n {
            let s = if rng.gen::<f64>() < 0.04 { 1.0 } else { 0.0 };
            let c = ar.g1 * c1 + ar.g2 * c2 + ar.gain * s;
            c2 = c1;
            c1 = c;
            if (p + 1) % k == 0 {
                y[(p + 1) / k] = c;
            }
        }
        y.iter_mut()
            .for_each(|v| *v = 2.0 + 1.5 * *v + 0.2 * rng.gen_range(-1.0..1.0));
        y
    }

    /// The optimum satisfies the KKT conditions, checked on the gradient computed from scratch:
    /// zero on free samples, >= 0 at the lower bound, <= 0 at the upper one; with and without
    /// the bound, centred or not, one to three fine samples per observation.
    #[test]
    fn optimum_satisfies_kkt() {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut w = Work::default();
        for trial in 0..36 {
            let k = 1 + trial % 3;
            let boxed = trial % 2 == 0;
            let centred = trial % 4 < 2;
            let t = rng.gen_range(20..300);
            let (tr, td) = [(0.02, 0.4), (0.1, 1.6), (0.01, 0.15)][(trial / 3) % 3];
            let ar = Ar2::from_params(&KernelParams::new(tr, td, 30.0 * k as f64).unwrap());
            let y = problem(&mut rng, k, t, &ar);
            let shift = if centred {
                y.iter().sum::<f64>() / t as f64
            } else {
                2.0
            };
            let upper = if boxed { 1.2 } else { f64::INFINITY };
            let pb = Problem {
                y: &y,
                shift,
                inv_scale: 1.0 / 0.7,
                k,
                g1: ar.g1,
                g2: ar.g2,
                gain: ar.gain,
                mu: [0.0, 0.05, 0.5][trial % 3],
                upper,
                centred,
            };
            let st = Settings {
                gap_tol: 1e-10,
                residual_tol: 1e-7,
                max_iters: 200,
            };
            let x0 = if boxed { 0.1 * upper } else { 0.1 };
            let out = if boxed {
                solve::<true>(&pb, &st, x0, 1.0, 1.0, &mut w)
            } else {
                solve::<false>(&pb, &st, x0, 1.0, 0.0, &mut w)
            };
            assert!(out.converged, "trial {trial}: not converged");
            let x = w.x.clone();
            assert_eq!(x.len(), k * (t - 1));
            let g = gradient(&pb, &x);
            let g0 = gradient(&pb, &vec![0.0; x.len()]);
            let scale = g0.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (p, (&xv, &gv)) in x.iter().zip(&g).enumerate() {
                assert!(
                    xv > 0.0 && xv < upper,
                    "trial {trial} p {p}: x {xv} outside"
                );
                let tol = 1e-4 * scale;
                if xv < 1e-6 {
                    assert!(gv > -tol, "trial {trial} p {p}: x ~ 0, gradient {gv}");
                } else if boxed && xv > upper - 1e-6 {
                    assert!(gv < tol, "trial {trial} p {p}: x ~ u, gradient {gv}");
                } else if xv > 1e-4 && (!boxed || xv < upper - 1e-4) {
                    assert!(
                        gv.abs() < tol,
                        "trial {trial} p {p}: free x {xv}, gradient {gv}"
                    );
                }
            }
        }
    }

    /// With a bound far above the answer the boxed solver finds the unbounded optimum.
    #[test]
    fn loose_bound_changes_nothing() {
        let mut rng = Pcg64::seed_from_u64(5);
        let ar = Ar2::from_params(&KernelParams::new(0.05, 0.5, 30.0).unwrap());
        let y = problem(&mut rng, 1, 400, &ar);
        let mut pb = Problem {
            y: &y,
            shift: y.iter().sum::<f64>() / 400.0,
            inv_scale: 1.0,
            k: 1,
            g1: ar.g1,
            g2: ar.g2,
            gain: ar.gain,
            mu: 0.1,
            upper: f64::INFINITY,
            centred: true,
        };
        let st = Settings {
            gap_tol: 1e-12,
            residual_tol: 1e-9,
            max_iters: 200,
        };
        let mut w = Work::default();
        assert!(solve::<false>(&pb, &st, 0.1, 1.0, 0.0, &mut w).converged);
        let free = w.x.clone();
        pb.upper = 1e3;
        assert!(solve::<true>(&pb, &st, 0.1, 1.0, 1e-3, &mut w).converged);
        let top = free.iter().fold(0.0f64, |m, v| m.max(*v));
        for (a, b) in free.iter().zip(&w.x) {
            assert!((a - b).abs() <= 1e-5 * top, "{a} vs {b}");
        }
    }
}
