//! Exact solver for the non-negative problem on the AR(2) form, in O(T) work per iteration.
//!
//! Substituting the calcium c = K s turns s >= 0 into D c >= 0, with D the banded inverse of the
//! AR(2) recursion (three diagonals), and the data term into 1/2 (y - c)^T P (y - c) (P centres;
//! the baseline is eliminated as in FISTA). c[0] = 0 is fixed because the kernel starts at zero,
//! and the last activity sample cannot affect the trace, so it is zero at the optimum. What is left
//! is a convex QP in T-1 variables whose Newton systems are (I - 11^T/T + D^T W D) dc = r:
//! pentadiagonal plus a rank-one term, solved by a banded LDL^T factorisation and
//! Sherman-Morrison. Mehrotra's primal-dual predictor-corrector then reaches the optimum in a few
//! dozen such solves regardless of how slow the kernel is, where FISTA's iteration count grows
//! with tau_decay * fs. Tiny interior values left by the barrier are zeroed at the end.

// Index loops mirror the banded formulas (several arrays at i, i+1, i+2); iterators would hide that.
#![allow(clippy::needless_range_loop)]

use crate::error::{check_finite, Result, SolverError};
use crate::kernel::Ar2;

#[derive(Debug, Clone, Copy)]
pub struct ExactOptions {
    /// Stop when the duality gap x.z, relative to 1/2 ||y - mean(y)||^2, is below this...
    pub gap_tol: f64,
    /// ...and the dual residual, relative to the linear term, is below this.
    pub residual_tol: f64,
    pub max_iters: u32,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions {
            gap_tol: 1e-10,
            residual_tol: 1e-6,
            max_iters: 150,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExactOutput {
    pub activity: Vec<f64>,
    pub iterations: u32,
    pub converged: bool,
}

/// Banded symmetric matrix with two off-diagonals, factorised in place as L D L^T (also used by
/// the InDeCa box relaxation, `indeca::relax`).
pub(crate) struct Penta {
    /// Diagonal (the matrix before `factor`, D after).
    pub(crate) d: Vec<f64>,
    inv_d: Vec<f64>,
    /// First and second super-diagonals (the sub-diagonals of L after `factor`).
    pub(crate) e1: Vec<f64>,
    pub(crate) e2: Vec<f64>,
}

impl Penta {
    pub(crate) fn with_len(n: usize) -> Self {
        Penta {
            d: vec![0.0; n],
            inv_d: vec![0.0; n],
            e1: vec![0.0; n],
            e2: vec![0.0; n],
        }
    }

    /// In-place L D L^T: afterwards d holds D, e1/e2 the two sub-diagonals of unit-lower L.
    pub(crate) fn factor(&mut self) {
        let n = self.d.len();
        for j in 0..n {
            // d_j = a_jj - sum_k L_jk^2 d_k over k = j-1, j-2
            let mut dj = self.d[j];
            if j >= 1 {
                dj -= self.e1[j - 1] * self.e1[j - 1] * self.d[j - 1];
            }
            if j >= 2 {
                dj -= self.e2[j - 2] * self.e2[j - 2] * self.d[j - 2];
            }
            self.d[j] = dj;
            let inv = 1.0 / dj;
            self.inv_d[j] = inv;
            // L_{j+1,j} = (a_{j+1,j} - L_{j+1,j-1} L_{j,j-1} d_{j-1}) / d_j
            if j + 1 < n {
                let mut a = self.e1[j];
                if j >= 1 {
                    a -= self.e2[j - 1] * self.e1[j - 1] * self.d[j - 1];
                }
                self.e1[j] = a * inv;
            }
            if j + 2 < n {
                self.e2[j] *= inv;
            }
        }
    }

    pub(crate) fn solve(&self, b: &mut [f64]) {
        let n = b.len();
        for i in 1..n {
            let mut v = b[i] - self.e1[i - 1] * b[i - 1];
            if i >= 2 {
                v -= self.e2[i - 2] * b[i - 2];
            }
            b[i] = v;
        }
        for i in 0..n {
            b[i] *= self.inv_d[i];
        }
        for i in (0..n.saturating_sub(1)).rev() {
            let mut v = b[i] - self.e1[i] * b[i + 1];
            if i + 2 < n {
                v -= self.e2[i] * b[i + 2];
            }
            b[i] = v;
        }
    }
}

struct Dop {
    inv_a: f64,
    g1: f64,
    g2: f64,
}

impl Dop {
    /// x = D c
    fn apply(&self, c: &[f64], x: &mut [f64]) {
        let (mut c1, mut c2) = (0.0, 0.0);
        for (xi, &ci) in x.iter_mut().zip(c) {
            *xi = (ci - self.g1 * c1 - self.g2 * c2) * self.inv_a;
            c2 = c1;
            c1 = ci;
        }
    }

    /// out = D^T v
    fn apply_t(&self, v: &[f64], out: &mut [f64]) {
        let n = v.len();
        let (mut v1, mut v2) = (0.0, 0.0);
        for j in (0..n).rev() {
            out[j] = (v[j] - self.g1 * v1 - self.g2 * v2) * self.inv_a;
            v2 = v1;
            v1 = v[j];
        }
    }

    /// c = D^{-1} x
    fn apply_inv(&self, x: &[f64], c: &mut [f64]) {
        let (mut c1, mut c2) = (0.0, 0.0);
        for (ci, &xi) in c.iter_mut().zip(x) {
            let v = xi / self.inv_a + self.g1 * c1 + self.g2 * c2;
            *ci = v;
            c2 = c1;
            c1 = v;
        }
    }
}

/// One Newton solve of (Q + D^T W D) dc = -rd + D^T (r_c / x), then dx = D dc and
/// dz = (r_c - z dx) / x, sharing the factorisation between predictor and corrector.
struct NewtonStep<'a> {
    m: &'a Penta,
    dop: &'a Dop,
    w1: &'a [f64],
    sm_den: f64,
    inv_x: &'a [f64],
    z: &'a [f64],
    rd: &'a [f64],
    /// Whether the baseline is free (the data term is centred, adding the rank-one -11^T/T).
    centred: bool,
}

impl NewtonStep<'_> {
    fn solve(
        &self,
        rc: &[f64],
        tmp: &mut [f64],
        rhs: &mut [f64],
        dc: &mut [f64],
        dx: &mut [f64],
        dz: &mut [f64],
    ) {
        let n = rc.len();
        for i in 0..n {
            tmp[i] = rc[i] * self.inv_x[i];
        }
        self.dop.apply_t(tmp, rhs);
        for i in 0..n {
            rhs[i] -= self.rd[i];
        }
        self.m.solve(rhs);
        let corr = if self.centred {
            rhs.iter().sum::<f64>() / self.sm_den
        } else {
            0.0
        };
        for i in 0..n {
            dc[i] = rhs[i] + corr * self.w1[i];
        }
        self.dop.apply(dc, dx);
        for i in 0..n {
            dz[i] = (rc[i] - self.z[i] * dx[i]) * self.inv_x[i];
        }
    }
}

fn step_to_boundary(v: &[f64], dv: &[f64]) -> f64 {
    let mut a = 1.0f64;
    for (x, d) in v.iter().zip(dv) {
        if *d < 0.0 {
            a = a.min(-x / d);
        }
    }
    a
}

/// Solve min_{s >= 0, b} 1/2 ||y - K s - b||^2 + lambda * G_dc * sum(s) exactly (to `gap_tol`).
pub fn solve_nonneg(y: &[f64], ar: &Ar2, lambda: f64, opts: &ExactOptions) -> Result<ExactOutput> {
    solve_impl(y, ar, lambda, None, opts)
}

/// Solve min_{s >= 0} 1/2 ||y - K s - b||^2 + lambda * G_dc * sum(s) with the baseline b given.
///
/// With b fixed at the optimum of the free-baseline problem on a whole recording, the activity
/// only couples samples through the kernel, so a stretch of the recording padded on both sides by
/// a few decay times reproduces the whole-recording optimum inside it (the browser solves the
/// shown window this way).
pub fn solve_nonneg_fixed_baseline(
    y: &[f64],
    ar: &Ar2,
    lambda: f64,
    baseline: f64,
    opts: &ExactOptions,
) -> Result<ExactOutput> {
    if !baseline.is_finite() {
        return Err(SolverError::param(
            "baseline",
            baseline,
            "must be a finite number",
        ));
    }
    solve_impl(y, ar, lambda, Some(baseline), opts)
}

fn solve_impl(
    y: &[f64],
    ar: &Ar2,
    lambda: f64,
    baseline: Option<f64>,
    opts: &ExactOptions,
) -> Result<ExactOutput> {
    check_finite(y)?;
    crate::solver::validate_lambda(lambda)?;
    let t_len = y.len();
    if t_len == 0 {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    let n = t_len - 1;
    let mut activity = vec![0.0; t_len];
    if n == 0 {
        return Ok(ExactOutput {
            activity,
            iterations: 0,
            converged: true,
        });
    }
    let tf = t_len as f64;
    let mean_y = y.iter().sum::<f64>() / tf;
    let sd = (y.iter().map(|v| (v - mean_y).powi(2)).sum::<f64>() / tf).sqrt();
    let scale = if sd > 0.0 {
        sd
    } else {
        mean_y.abs().max(1e-300)
    };
    let g = ar.dc_gain;
    let mu_l1 = lambda * g;
    let dop = Dop {
        inv_a: 1.0 / ar.gain,
        g1: ar.g1,
        g2: ar.g2,
    };

    // Work in units of `scale` so tolerances are relative. A free baseline is eliminated by
    // centring; a fixed one is simply subtracted.
    let centred = baseline.is_none();
    let shift = baseline.unwrap_or(mean_y);
    let yc: Vec<f64> = y.iter().map(|v| (v - shift) / scale).collect();
    let mu = mu_l1 / scale;

    let mut x = vec![0.1 / g; n];
    let mut c = vec![0.0; n];
    dop.apply_inv(&x, &mut c);
    let mut z = vec![mu + 0.1 * g.max(1.0); n];

    let mut q = vec![0.0; n]; // linear term: -P y restricted + mu D^T 1
    {
        let ones = vec![1.0; n];
        dop.apply_t(&ones, &mut q);
        for (qi, yi) in q.iter_mut().zip(&yc[1..]) {
            *qi = mu * *qi - yi; // yc is already centred (or P = I), so P y = yc
        }
    }
    let q_norm = q.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);

    let mut rd = vec![0.0; n];
    let mut tmp = vec![0.0; n];
    let mut w1 = vec![0.0; n];
    let mut dc = vec![0.0; n];
    let mut dx = vec![0.0; n];
    let mut dz = vec![0.0; n];
    let mut rhs = vec![0.0; n];
    let mut rc = vec![0.0; n];
    let mut inv_x = vec![0.0; n];
    let mut wz = vec![0.0; n];
    let mut m = Penta::with_len(n);
    let (d0, d1, d2) = (dop.inv_a, -dop.g1 * dop.inv_a, -dop.g2 * dop.inv_a);
    let mut converged = false;
    let mut iterations = 0;
    let mut best_merit = f64::INFINITY;
    let mut best_x = x.clone();

    for it in 0..opts.max_iters {
        iterations = it + 1;
        // Dual residual rd = Q c + q - D^T z, Q = I - 11^T/T on the free samples (Q = I with a
        // fixed baseline).
        let sum_c: f64 = if centred { c.iter().sum() } else { 0.0 };
        dop.apply_t(&z, &mut tmp);
        for i in 0..n {
            rd[i] = c[i] - sum_c / tf + q[i] - tmp[i];
        }
        let gap: f64 = x.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>();
        let rd_norm = rd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Objective (scaled units) for a gap test relative to what is being minimised.
        let mean_r = if centred {
            (yc[0] + yc[1..].iter().zip(&c).map(|(yv, cv)| yv - cv).sum::<f64>()) / tf
        } else {
            0.0
        };
        let fit = 0.5 * (yc[0] - mean_r).powi(2)
            + 0.5
                * yc[1..]
                    .iter()
                    .zip(&c)
                    .map(|(yv, cv)| (yv - cv - mean_r).powi(2))
                    .sum::<f64>();
        let objective = fit + mu * x.iter().sum::<f64>();
        // How far from both tolerances (<= 1 means converged); near the end rounding in the
        // ill-conditioned Newton systems can make it worse again, so the best point is kept.
        let merit = (gap / (opts.gap_tol * objective.max(1e-12 * tf)))
            .max(rd_norm / (opts.residual_tol * q_norm));
        if merit < best_merit {
            best_merit = merit;
            best_x.copy_from_slice(&x);
        }
        if merit <= 1.0 {
            converged = true;
            iterations = it;
            break;
        }
        let mean_gap = gap / n as f64;

        // Assemble B = I + D^T W D (W = z/x) and factor it.
        for i in 0..n {
            inv_x[i] = 1.0 / x[i];
            wz[i] = z[i] * inv_x[i];
        }
        for j in 0..n {
            let w0 = wz[j];
            let w1v = if j + 1 < n { wz[j + 1] } else { 0.0 };
            let w2v = if j + 2 < n { wz[j + 2] } else { 0.0 };
            m.d[j] = 1.0 + w0 * d0 * d0 + w1v * d1 * d1 + w2v * d2 * d2;
            m.e1[j] = w1v * d1 * d0 + w2v * d2 * d1;
            m.e2[j] = w2v * d2 * d0;
        }
        m.factor();
        // w1 = B^{-1} 1 for the rank-one (Sherman-Morrison) correction of -11^T/T.
        let sm_den = if centred {
            w1.fill(1.0);
            m.solve(&mut w1);
            tf - w1.iter().sum::<f64>()
        } else {
            1.0
        };
        let newton_step = NewtonStep {
            m: &m,
            dop: &dop,
            w1: &w1,
            sm_den,
            inv_x: &inv_x,
            z: &z,
            rd: &rd,
            centred,
        };

        // Predictor (affine scaling): r_c = -x z.
        for i in 0..n {
            rc[i] = -x[i] * z[i];
        }
        newton_step.solve(&rc, &mut tmp, &mut rhs, &mut dc, &mut dx, &mut dz);
        let a_aff = step_to_boundary(&x, &dx).min(step_to_boundary(&z, &dz));
        let gap_aff: f64 = (0..n)
            .map(|i| (x[i] + a_aff * dx[i]) * (z[i] + a_aff * dz[i]))
            .sum();
        let sigma = (gap_aff / gap).powi(3).clamp(0.0, 1.0);
        let target = sigma * mean_gap;
        // Corrector: r_c = sigma mu - x z - dx_aff dz_aff.
        for i in 0..n {
            rc[i] = target - x[i] * z[i] - dx[i] * dz[i];
        }
        newton_step.solve(&rc, &mut tmp, &mut rhs, &mut dc, &mut dx, &mut dz);
        let a = (0.995 * step_to_boundary(&x, &dx).min(step_to_boundary(&z, &dz))).min(1.0);
        if !a.is_finite() || dc.iter().chain(&dz).any(|v| !v.is_finite()) {
            break; // numerically exhausted: keep the last (finite) iterate
        }
        // x is updated along D dc rather than recomputed as D c: near the optimum the
        // recomputation cancels to zero or below and would leave the interior.
        for i in 0..n {
            c[i] += a * dc[i];
            x[i] += a * dx[i];
            z[i] += a * dz[i];
        }
    }

    // Zero what the barrier leaves just above zero: below 1e-9 of the largest event, or of the
    // activity that would move the trace by one standard deviation. (Samples between that and
    // ~1e-4 can remain where the exact optimum is 0; the objective is unaffected to 1e-9.)
    let xmax = best_x.iter().fold(1.0 / g, |m, v| m.max(*v));
    for (a, xi) in activity.iter_mut().zip(&best_x) {
        *a = if *xi > 1e-9 * xmax { xi * scale } else { 0.0 };
    }
    Ok(ExactOutput {
        activity,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fista::{step_batch, FistaConfig, FistaState};
    use crate::kernel::{Ar2, KernelParams};
    use crate::operator::{Constraint, ConvMode, ConvOperator};

    fn objective(y: &[f64], s: &[f64], op: &mut ConvOperator, mu: f64) -> f64 {
        let mut ks = vec![0.0; y.len()];
        op.forward(s, &mut ks);
        let r: Vec<f64> = y.iter().zip(&ks).map(|(a, b)| a - b).collect();
        let m = r.iter().sum::<f64>() / r.len() as f64;
        0.5 * r.iter().map(|v| (v - m).powi(2)).sum::<f64>() + mu * s.iter().sum::<f64>()
    }

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64) / ((1u64 << 53) as f64)
    }

    #[test]
    fn matches_converged_fista_objective() {
        for &(tr, td, lam) in &[
            (0.02, 0.4, 0.05),
            (0.1, 1.5, 0.02),
            (0.05, 0.6, 0.0),
            (0.01, 0.2, 1.0),
        ] {
            let p = KernelParams::new(tr, td, 30.0).unwrap();
            let ar = Ar2::from_params(&p);
            let n = 400;
            let mut seed = 7u64;
            let truth: Vec<f64> = (0..n)
                .map(|_| {
                    if lcg(&mut seed) < 0.05 {
                        1.0 + lcg(&mut seed)
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut op = ConvOperator::new(ConvMode::Banded, &p, n);
            let mut y = vec![0.0; n];
            op.forward(&truth, &mut y);
            for v in y.iter_mut() {
                *v += 3.0 + 0.1 * (lcg(&mut seed) - 0.5);
            }
            let out = solve_nonneg(&y, &ar, lam, &ExactOptions::default()).unwrap();
            assert!(
                out.converged,
                "{tr} {td} {lam}: {} iterations",
                out.iterations
            );
            let cfg = FistaConfig {
                step: 1.0 / (ar.dc_gain * ar.dc_gain),
                l1_weight: lam * ar.dc_gain,
                constraint: Constraint::NonNeg,
                tol: 1e-14,
                abs_floor: 0.0,
            };
            let mut st = FistaState::default();
            st.reset(n);
            for _ in 0..2000 {
                if step_batch(&mut st, &mut op, &y, &cfg, 100) {
                    break;
                }
            }
            let f_exact = objective(&y, &out.activity, &mut op, lam * ar.dc_gain);
            let f_fista = objective(&y, &st.x, &mut op, lam * ar.dc_gain);
            assert!(
                f_exact <= f_fista + 1e-9 * f_fista.abs().max(1.0),
                "{tr} {td} {lam}: {f_exact} vs {f_fista}"
            );
            assert!(out.activity.iter().all(|v| *v >= 0.0));
        }
    }

    #[test]
    fn trivial_sizes() {
        let ar = Ar2::from_params(&KernelParams::new(0.02, 0.4, 30.0).unwrap());
        assert_eq!(
            solve_nonneg(&[5.0], &ar, 0.1, &ExactOptions::default())
                .unwrap()
                .activity,
            vec![0.0]
        );
        let out = solve_nonneg(&[2.0; 50], &ar, 0.1, &ExactOptions::default()).unwrap();
        assert!(out.converged);
        assert!(out.activity.iter().all(|v| *v == 0.0));
        assert!(solve_nonneg(&[], &ar, 0.1, &ExactOptions::default()).is_err());
        assert!(solve_nonneg(&[1.0, f64::NAN], &ar, 0.1, &ExactOptions::default()).is_err());
    }
}
