//! Convar: population spiking-rate inference for wide-field calcium imaging.
//!
//! Model (Stern, Shea-Brown & Witten 2020, "Inferring neural population spiking rate from
//! wide-field calcium imaging"): a pixel's fluorescence is `y_t = b + c_t + e_t` with the summed
//! calcium `c_t = gamma c_{t-1} + r_t`; the population rate `r_t >= 0` varies smoothly. With
//! `c = A0 r` (`A0[t, s] = gamma^(t - s)` for `s <= t`, the inverse of the AR(1) operator) and the
//! baseline profiled out, each trace solves
//!
//! ```text
//! min_r ||y~ - A r||^2 + lambda sum_{t >= 2} (r_t - r_{t-1})^2   s.t.  r_t >= 0 for t >= 1
//! ```
//!
//! (0-based here; `r_0` is the free initial calcium), where `y~` is the mean-subtracted trace and
//! `A = (I - 11'/T) A0`. The baseline follows in closed form, `b = mean(y - A0 r)`.
//!
//! The constraint never binds. The objective is flat along `v = (1, 1-gamma, ..., 1-gamma)`,
//! because `A0 v` is constant: a constant rate cannot be told apart from baseline. Every minimiser
//! is `r* + k v`, and since `v > 0`, moving any unconstrained minimiser along `v` until its smallest
//! rate (`t >= 1`) is zero makes it feasible with the same objective. We report that one, so the
//! answer does not depend on the method or the start point.
//!
//! Two ways to it. **Direct** (the default): with `c = A0 r` the fit is `||y~ - (c - mean c)||^2`
//! and the penalty `lambda ||D c||^2`, `(D c)_t = c_t - (1+gamma) c_{t-1} + gamma c_{t-2}` for
//! `t >= 2`; `D 1 = 0`, so the minimiser is `c = (I + lambda D'D)^{-1} y~`, one pentadiagonal
//! `L D L'` solve, then `r_t = c_t - gamma c_{t-1}`: O(T), no iterations, no tolerance.
//! **FISTA** (the published path, kept as an independent check): `A0 x` is a first-order
//! recursive filter and `A0' x` the same filter run backwards, the column-mean subtraction a
//! rank-one correction, so one gradient costs O(T); adaptive (gradient) restart, step `1 / L` from
//! a cached power-iteration estimate of `||A||^2` plus the exact bound `4 lambda` of the penalty.
//!
//! Speed-ups from Khavari's thesis on optimising Convar: a smoothed first-differences start
//! (`r_t = s_t - gamma s_{t-1}` of a moving average `s`), early stopping on the gradient norm and
//! warm starts along the lambda search (FISTA only), a golden-section lambda search, and chunking
//! with overlap and blending for traces too long to hold at once.

use crate::error::{check_finite, check_magnitude, Result, SolverError};
use crate::rows::map_rows;
use std::cell::RefCell;
use std::collections::HashMap;

/// Shortest trace [`convar_solve`] accepts.
pub const MIN_LEN: usize = 3;
/// Shortest trace the odd/even lambda search accepts (three frames in each half).
pub const MIN_SEARCH_LEN: usize = 6;
/// Default iteration cap.
pub const DEFAULT_MAX_ITERS: u32 = 10_000;
/// Default stopping tolerance on the relative gradient-mapping norm.
pub const DEFAULT_TOL: f64 = 1e-7;
/// Default moving-average window of the first-differences start (the thesis' conservative 3).
pub const DEFAULT_SMOOTH_WINDOW: usize = 3;
/// Default lambda grid: `DEFAULT_GRID_POINTS` log-spaced values over
/// `[DEFAULT_GRID_MIN, DEFAULT_GRID_MAX]`.
pub const DEFAULT_GRID_MIN: f64 = 1e-3;
pub const DEFAULT_GRID_MAX: f64 = 1e3;
pub const DEFAULT_GRID_POINTS: usize = 25;

/// Power-iteration steps for `||A||^2` and the safety factor on the estimate (the Rayleigh
/// quotient approaches the top eigenvalue from below).
const POWER_ITERS: usize = 100;
const POWER_MARGIN: f64 = 1.1;

/// How one trace is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvarMethod {
    /// The exact minimiser from one banded linear solve (see the module notes): the default.
    #[default]
    Direct,
    /// FISTA with the thesis' speed-ups (`max_iters`, `tol`, `init`, `smooth_window` and
    /// `early_stop` apply to it only); kept as an independent path to the same optimum.
    Fista,
}

impl ConvarMethod {
    pub const NAMES: &'static str = "direct, fista";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "direct" => Ok(ConvarMethod::Direct),
            "fista" => Ok(ConvarMethod::Fista),
            _ => Err(SolverError::UnknownOption {
                kind: "convar method",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }
}

/// How the FISTA iterate is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvarInit {
    /// All zero.
    Zeros,
    /// First differences of the moving-average-smoothed trace (thesis section 3.4).
    #[default]
    FirstDifferences,
}

impl ConvarInit {
    pub const NAMES: &'static str = "zeros, first_differences";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "zeros" => Ok(ConvarInit::Zeros),
            "first_differences" => Ok(ConvarInit::FirstDifferences),
            _ => Err(SolverError::UnknownOption {
                kind: "convar init",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }
}

/// Parameters of one Convar solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvarConfig {
    /// AR(1) decay per frame, strictly between 0 and 1.
    pub gamma: f64,
    /// Smoothness penalty (>= 0, dimensionless: both terms scale with the trace units squared).
    pub lambda: f64,
    /// Iteration cap (>= 1).
    pub max_iters: u32,
    /// Stop when `L ||y_k - x_{k+1}|| <= tol * ||A' y~||` (the gradient mapping relative to the
    /// gradient at zero). Must be > 0.
    pub tol: f64,
    pub init: ConvarInit,
    /// Moving-average window of the first-differences start (>= 1).
    pub smooth_window: usize,
    /// Stop at `tol`; if false, always run `max_iters` iterations.
    pub early_stop: bool,
    pub method: ConvarMethod,
}

impl ConvarConfig {
    pub fn new(gamma: f64, lambda: f64) -> Self {
        ConvarConfig {
            gamma,
            lambda,
            max_iters: DEFAULT_MAX_ITERS,
            tol: DEFAULT_TOL,
            init: ConvarInit::default(),
            smooth_window: DEFAULT_SMOOTH_WINDOW,
            early_stop: true,
            method: ConvarMethod::default(),
        }
    }

    /// Check everything except lambda (which a search may still choose).
    pub fn validate_without_lambda(&self) -> Result<()> {
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return Err(SolverError::param(
                "gamma",
                self.gamma,
                "must be strictly between 0 and 1",
            ));
        }
        if self.max_iters == 0 {
            return Err(SolverError::param("max_iters", 0.0, "must be >= 1"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(SolverError::param(
                "tol",
                self.tol,
                "must be a finite number > 0",
            ));
        }
        if self.smooth_window == 0 {
            return Err(SolverError::param("smooth_window", 0.0, "must be >= 1"));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        self.validate_without_lambda()?;
        crate::error::require_lambda("lambda", self.lambda)
    }
}

/// Result of one Convar solve.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvarSolution {
    /// `r`, same length as the trace: `rates[0]` is the initial calcium `c_0` (free sign), and
    /// `rates[t]` for `t >= 1` the calcium increase due to spiking in frame `t` (>= 0, trace
    /// units per frame). The smallest of `rates[1..]` is zero (see the module notes).
    pub rates: Vec<f64>,
    /// Modelled calcium `c = A0 r` (trace units, without baseline).
    pub calcium: Vec<f64>,
    /// `b = mean(y - c)`, so `c + b` is the fit of the trace.
    pub baseline: f64,
    /// The penalty used (chosen by the search if one ran).
    pub lambda: f64,
    /// FISTA iterations (summed over chunks for a chunked solve).
    pub iterations: u32,
    /// Whether the stopping rule was met (in every chunk).
    pub converged: bool,
    /// `||y~ - A r||^2 + lambda sum_{t >= 2} (r_t - r_{t-1})^2` at the reported `r`.
    pub objective: f64,
}

// ---------------------------------------------------------------------------------------------
// O(T) operators

/// `c = A0 r`; returns `sum(c)`.
fn forward(r: &[f64], gamma: f64, c: &mut [f64]) -> f64 {
    let mut acc = 0.0;
    let mut sum = 0.0;
    for (ct, &rt) in c.iter_mut().zip(r) {
        acc = gamma * acc + rt;
        *ct = acc;
        sum += acc;
    }
    sum
}

/// Penalty `sum_{t >= 2} (r_t - r_{t-1})^2`.
fn penalty(r: &[f64]) -> f64 {
    if r.len() < 3 {
        return 0.0;
    }
    r[1..].windows(2).map(|w| (w[1] - w[0]).powi(2)).sum()
}

/// Half gradient `A'(A r - y~) + lambda Z r` into `grad`; `c` is scratch. Uses that `A r - y~` is
/// already mean-free, so `A'` acts on it as `A0'` (the backward recursion).
fn half_gradient(r: &[f64], yt: &[f64], gamma: f64, lambda: f64, c: &mut [f64], grad: &mut [f64]) {
    let n = r.len();
    let mean = forward(r, gamma, c) / n as f64;
    let mut acc = 0.0;
    for t in (0..n).rev() {
        acc = gamma * acc + (c[t] - mean - yt[t]);
        let mut z = 0.0;
        if t >= 2 {
            z += r[t] - r[t - 1];
        }
        if t >= 1 && t + 1 < n {
            z += r[t] - r[t + 1];
        }
        grad[t] = acc + lambda * z;
    }
}

/// `L ||r - P(r - grad / L)||`, the projected-gradient step at `r`; `c`, `grad` are scratch.
fn gradient_map_norm(
    r: &[f64],
    yt: &[f64],
    gamma: f64,
    lambda: f64,
    lip: f64,
    c: &mut [f64],
    grad: &mut [f64],
) -> f64 {
    half_gradient(r, yt, gamma, lambda, c, grad);
    let mut s2 = 0.0;
    for t in 0..r.len() {
        let mut v = r[t] - grad[t] / lip;
        if t >= 1 && v < 0.0 {
            v = 0.0;
        }
        s2 += (r[t] - v).powi(2);
    }
    lip * s2.sqrt()
}

/// `||y~ - A r||^2 + lambda P(r)`; `c` is scratch.
fn objective(r: &[f64], yt: &[f64], gamma: f64, lambda: f64, c: &mut [f64]) -> f64 {
    let n = r.len();
    let mean = forward(r, gamma, c) / n as f64;
    let fit: f64 = c
        .iter()
        .zip(yt)
        .map(|(ct, y)| (y - (ct - mean)).powi(2))
        .sum();
    fit + lambda * penalty(r)
}

/// Move `r` along the flat direction `v` so that `min_{t >= 1} r_t = 0` (same objective).
fn canonicalize(r: &mut [f64], gamma: f64) {
    if r.len() < 2 {
        return;
    }
    let m = r[1..].iter().fold(f64::INFINITY, |a, &b| a.min(b));
    if m != 0.0 && m.is_finite() {
        for v in r[1..].iter_mut() {
            *v = (*v - m).max(0.0);
        }
        r[0] -= m / (1.0 - gamma);
    }
}

/// Largest eigenvalue of `A'A` for length `n`, times a safety margin, capped by the exact bound
/// `((1 - gamma^n) / (1 - gamma))^2`. Cached per thread: every row of a batch (and every lambda
/// of a search) shares it, and the value is a pure function of `(n, gamma)`.
fn ata_bound(n: usize, gamma: f64) -> f64 {
    thread_local! {
        static CACHE: RefCell<HashMap<(usize, u64), f64>> = RefCell::new(HashMap::new());
    }
    let key = (n, gamma.to_bits());
    if let Some(v) = CACHE.with(|c| c.borrow().get(&key).copied()) {
        return v;
    }
    let exact_bound = ((1.0 - gamma.powi(n.min(i32::MAX as usize) as i32)) / (1.0 - gamma)).powi(2);
    // Deterministic start with weight on every frequency: a slow half-cosine (the top
    // eigenvector is low-frequency) plus a fixed pseudo-random part.
    let mut x: Vec<f64> = (0..n)
        .map(|t| {
            let h = (t as u64)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((h >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            (std::f64::consts::PI * (t as f64 + 0.5) / n as f64).cos() + 0.3 * u
        })
        .collect();
    let mut c = vec![0.0; n];
    let mut y = vec![0.0; n];
    let mut est = 0.0f64;
    for _ in 0..POWER_ITERS {
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            break;
        }
        x.iter_mut().for_each(|v| *v /= norm);
        let mean = forward(&x, gamma, &mut c) / n as f64;
        let mut acc = 0.0;
        for t in (0..n).rev() {
            acc = gamma * acc + (c[t] - mean);
            y[t] = acc;
        }
        est = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();
        std::mem::swap(&mut x, &mut y);
    }
    let value = (est * POWER_MARGIN).min(exact_bound).max(f64::MIN_POSITIVE);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(key, value);
    });
    value
}

/// Lipschitz constant of the half gradient: `||A||^2 + lambda ||Z||` with `||Z|| <= 4`.
fn lipschitz(n: usize, gamma: f64, lambda: f64) -> f64 {
    ata_bound(n, gamma) + 4.0 * lambda
}

/// Smoothed first differences, moved along `v` so the smallest rate is zero (thesis 3.4).
fn first_differences(y: &[f64], gamma: f64, window: usize) -> Vec<f64> {
    let n = y.len();
    let half_lo = (window - 1) / 2;
    let half_hi = window / 2;
    let mut prefix = vec![0.0; n + 1];
    for t in 0..n {
        prefix[t + 1] = prefix[t] + y[t];
    }
    let s: Vec<f64> = (0..n)
        .map(|t| {
            let a = t.saturating_sub(half_lo);
            let b = (t + half_hi + 1).min(n);
            (prefix[b] - prefix[a]) / (b - a) as f64
        })
        .collect();
    let mut r = vec![0.0; n];
    r[0] = s[0];
    for t in 1..n {
        r[t] = s[t] - gamma * s[t - 1];
    }
    // The raw differences may be negative; the shift along v makes them feasible without
    // changing the fit.
    let m = r[1..].iter().fold(f64::INFINITY, |a, &b| a.min(b));
    if m.is_finite() {
        for v in r[1..].iter_mut() {
            *v = (*v - m).max(0.0);
        }
        r[0] -= m / (1.0 - gamma);
    }
    r
}

fn check_trace(trace: &[f64], min: usize) -> Result<()> {
    if trace.len() < min {
        return Err(SolverError::TraceTooShort {
            len: trace.len(),
            min,
        });
    }
    check_finite(trace)?;
    check_magnitude(trace)
}

/// `c <- (I + lambda D'D)^{-1} c`, with `(D c)_t = c_t - (1 + gamma) c_{t-1} + gamma c_{t-2}` for
/// `t >= 2` (the penalty's `r_t - r_{t-1}` written in the calcium). The matrix is symmetric
/// positive definite (identity plus a Gram matrix, eigenvalues in `[1, 1 + 16 lambda]`), so
/// `L D L'` without pivoting is stable. It is pentadiagonal with constant rows except the first and
/// last two, so its entries are formed on the fly and the factorisation is fused with the forward
/// substitution: one pass down, one back up. `work` is scratch (resized to `c.len()`).
fn smooth_direct(c: &mut [f64], gamma: f64, lambda: f64, work: &mut Vec<[f64; 3]>) {
    let n = c.len();
    if n == 0 {
        return;
    }
    // Row t of D has (a, b, 1) on columns t-2, t-1, t.
    let (a, b) = (gamma, -(1.0 + gamma));
    let (aa, bb, ab) = (lambda * a * a, lambda * b * b, lambda * a * b);
    let (la, lb) = (lambda * a, lambda * b);
    work.clear();
    work.resize(n, [0.0; 3]);
    // Previous rows' D (d1 = d_{j-1}, d2 = d_{j-2}), L (l1p = L_{j,j-1} of row j-1, i.e.
    // l1_{j-1}; l2p = l2_{j-1}; l2pp = l2_{j-2}) and forward-substituted values z.
    let (mut d1, mut d2) = (0.0, 0.0);
    let (mut l1p, mut l2p, mut l2pp) = (0.0, 0.0, 0.0);
    let (mut z1, mut z2) = (0.0, 0.0);
    for (j, (cj, wj)) in c.iter_mut().zip(work.iter_mut()).enumerate() {
        // Row t = j + 2 contributes (a at j), t = j + 1 (b at j), t = j (1 at j).
        let first = j + 2 < n; // row j + 2 exists
        let middle = j >= 1 && j + 1 < n; // row j + 1 exists
        let last = j >= 2; // row j exists
        let mut diag = 1.0;
        let mut off1 = 0.0;
        let mut off2 = 0.0;
        if first {
            diag += aa;
            off1 += ab;
            off2 = la;
        }
        if middle {
            diag += bb;
            off1 += lb;
        }
        if last {
            diag += lambda;
        }
        let dj = diag - l1p * l1p * d1 - l2pp * l2pp * d2;
        let inv = 1.0 / dj;
        let l1 = (off1 - l2p * l1p * d1) * inv;
        let l2 = off2 * inv;
        let z = *cj - l1p * z1 - l2pp * z2;
        *cj = z;
        *wj = [inv, l1, l2];
        d2 = d1;
        d1 = dj;
        l2pp = l2p;
        l2p = l2;
        l1p = l1;
        z2 = z1;
        z1 = z;
    }
    let (mut x1, mut x2) = (0.0, 0.0);
    for (cj, wj) in c.iter_mut().zip(work.iter()).rev() {
        let x = *cj * wj[0] - wj[1] * x1 - wj[2] * x2;
        *cj = x;
        x2 = x1;
        x1 = x;
    }
}

/// `r = A0^{-1} c`: `r_0 = c_0`, `r_t = c_t - gamma c_{t-1}`.
fn rates_from_calcium(c: &[f64], gamma: f64, r: &mut [f64]) {
    if let Some(&c0) = c.first() {
        r[0] = c0;
    }
    for t in 1..c.len() {
        r[t] = c[t] - gamma * c[t - 1];
    }
}

/// The exact minimiser without iterations. With `c = A0 r` the fit term is `||y~ - (c - mean c)||^2`
/// and the penalty `lambda ||D c||^2`; since `D 1 = 0`, the unconstrained minimiser over `c` is
/// `(I + lambda D'D)^{-1} y~` (mean-free by itself), and the constraint never binds: every
/// minimiser `r` moved along the flat direction `v > 0` until its smallest rate is zero is
/// feasible with the same objective. So the constrained optimum is one banded solve, O(T).
fn solve_direct(trace: &[f64], cfg: &ConvarConfig) -> ConvarSolution {
    let n = trace.len();
    let mean_y = trace.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = trace.iter().map(|v| v - mean_y).collect();
    let mut c = yt.clone();
    let mut r = vec![0.0; n];
    let mut iterations = 0;
    if yt.iter().any(|&v| v != 0.0) {
        smooth_direct(&mut c, cfg.gamma, cfg.lambda, &mut Vec::new());
        rates_from_calcium(&c, cfg.gamma, &mut r);
        iterations = 1;
    }
    let converged = r.iter().all(|v| v.is_finite());
    finish(trace, mean_y, &yt, r, cfg, iterations, converged, &mut c)
}

/// One solve by `cfg.method`; `start` (feasible) overrides `cfg.init` for FISTA (the direct
/// solve needs no start).
fn solve_inner(trace: &[f64], cfg: &ConvarConfig, start: Option<&[f64]>) -> ConvarSolution {
    match cfg.method {
        ConvarMethod::Direct => solve_direct(trace, cfg),
        ConvarMethod::Fista => solve_fista(trace, cfg, start),
    }
}

/// FISTA; `start` (feasible) overrides `cfg.init` (warm start).
fn solve_fista(trace: &[f64], cfg: &ConvarConfig, start: Option<&[f64]>) -> ConvarSolution {
    let n = trace.len();
    let gamma = cfg.gamma;
    let lambda = cfg.lambda;
    let mean_y = trace.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = trace.iter().map(|v| v - mean_y).collect();
    let mut c = vec![0.0; n];
    let mut grad = vec![0.0; n];

    // Scale of the stopping rule: the half gradient at r = 0 is -A0' y~.
    let mut acc = 0.0;
    let mut scale2 = 0.0;
    for t in (0..n).rev() {
        acc = gamma * acc + yt[t];
        scale2 += acc * acc;
    }
    let scale = scale2.sqrt();

    let mut x = match start {
        Some(s) => s.to_vec(),
        None => match cfg.init {
            ConvarInit::Zeros => vec![0.0; n],
            ConvarInit::FirstDifferences => first_differences(&yt, gamma, cfg.smooth_window),
        },
    };
    let mut iterations = 0u32;
    let mut converged = false;
    if scale == 0.0 {
        // A flat trace: the optimum is r = 0 with everything in the baseline.
        x.iter_mut().for_each(|v| *v = 0.0);
        converged = true;
    } else {
        let lip = lipschitz(n, gamma, lambda);
        let step = 1.0 / lip;
        let threshold = cfg.tol * scale;
        let mut y = x.clone();
        let mut x_new = vec![0.0; n];
        let mut theta = 1.0f64;
        for it in 0..cfg.max_iters {
            if it % 64 == 63 && crate::cancel::cancelled() {
                break; // the caller discards the result (see crate::cancel)
            }
            half_gradient(&y, &yt, gamma, lambda, &mut c, &mut grad);
            let mut gm2 = 0.0;
            let mut restart_dot = 0.0;
            for t in 0..n {
                let mut v = y[t] - step * grad[t];
                if t >= 1 && v < 0.0 {
                    v = 0.0;
                }
                x_new[t] = v;
                let d = y[t] - v;
                gm2 += d * d;
                restart_dot += d * (v - x[t]);
            }
            iterations += 1;
            let gm = lip * gm2.sqrt();
            // The step at the extrapolated point can be small by accident; confirm at the
            // candidate itself (one more gradient, only when the test fires).
            if gm <= threshold
                && gradient_map_norm(&x_new, &yt, gamma, lambda, lip, &mut c, &mut grad)
                    <= threshold
            {
                converged = true;
                if cfg.early_stop {
                    std::mem::swap(&mut x, &mut x_new);
                    break;
                }
            } else {
                converged = false;
            }
            if restart_dot > 0.0 {
                // O'Donoghue & Candes gradient restart: momentum points uphill, drop it.
                theta = 1.0;
                y.copy_from_slice(&x_new);
            } else {
                let theta_next = 0.5 * (1.0 + (1.0 + 4.0 * theta * theta).sqrt());
                let beta = (theta - 1.0) / theta_next;
                for t in 0..n {
                    y[t] = x_new[t] + beta * (x_new[t] - x[t]);
                }
                theta = theta_next;
            }
            std::mem::swap(&mut x, &mut x_new);
        }
    }
    finish(trace, mean_y, &yt, x, cfg, iterations, converged, &mut c)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    trace: &[f64],
    mean_y: f64,
    yt: &[f64],
    mut r: Vec<f64>,
    cfg: &ConvarConfig,
    iterations: u32,
    converged: bool,
    c: &mut [f64],
) -> ConvarSolution {
    let n = trace.len();
    canonicalize(&mut r, cfg.gamma);
    let obj = objective(&r, yt, cfg.gamma, cfg.lambda, c);
    let mut calcium = vec![0.0; n];
    let mean_c = forward(&r, cfg.gamma, &mut calcium) / n as f64;
    ConvarSolution {
        rates: r,
        calcium,
        baseline: mean_y - mean_c,
        lambda: cfg.lambda,
        iterations,
        converged,
        objective: obj,
    }
}

/// Solve the Convar problem for one trace with `cfg.lambda`.
pub fn convar_solve(trace: &[f64], cfg: &ConvarConfig) -> Result<ConvarSolution> {
    cfg.validate()?;
    check_trace(trace, MIN_LEN)?;
    Ok(solve_inner(trace, cfg, None))
}

/// [`convar_solve`] started from `start` (length of the trace; `start[1..]` must be >= 0).
pub fn convar_solve_from(
    trace: &[f64],
    cfg: &ConvarConfig,
    start: &[f64],
) -> Result<ConvarSolution> {
    cfg.validate()?;
    check_trace(trace, MIN_LEN)?;
    if start.len() != trace.len() {
        return Err(SolverError::ShapeMismatch(format!(
            "start has {} values, trace has {}",
            start.len(),
            trace.len()
        )));
    }
    check_finite(start)?;
    let mut s = start.to_vec();
    for v in s[1..].iter_mut() {
        *v = v.max(0.0);
    }
    Ok(solve_inner(trace, cfg, Some(&s)))
}

/// Objective `||y~ - A r||^2 + lambda P(r)` of any `r` (for checks and comparisons).
pub fn convar_objective(trace: &[f64], rates: &[f64], gamma: f64, lambda: f64) -> Result<f64> {
    if trace.len() != rates.len() || trace.is_empty() {
        return Err(SolverError::ShapeMismatch(format!(
            "rates has {} values, trace has {}",
            rates.len(),
            trace.len()
        )));
    }
    let n = trace.len();
    let mean_y = trace.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = trace.iter().map(|v| v - mean_y).collect();
    let mut c = vec![0.0; n];
    Ok(objective(rates, &yt, gamma, lambda, &mut c))
}

/// Full gradient of the objective at `r` (for KKT checks).
pub fn convar_gradient(trace: &[f64], rates: &[f64], gamma: f64, lambda: f64) -> Result<Vec<f64>> {
    if trace.len() != rates.len() || trace.is_empty() {
        return Err(SolverError::ShapeMismatch(format!(
            "rates has {} values, trace has {}",
            rates.len(),
            trace.len()
        )));
    }
    let n = trace.len();
    let mean_y = trace.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = trace.iter().map(|v| v - mean_y).collect();
    let mut c = vec![0.0; n];
    let mut g = vec![0.0; n];
    half_gradient(rates, &yt, gamma, lambda, &mut c, &mut g);
    g.iter_mut().for_each(|v| *v *= 2.0);
    Ok(g)
}

// ---------------------------------------------------------------------------------------------
// Chunking (thesis section 3.2), for traces too long to hold or to spread one trace over workers.

/// How a long trace is cut: cores of at most `chunk_size` frames, each solved with `overlap`
/// extra frames on both sides, neighbours cross-faded linearly over `blend` frames centred on
/// the cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkConfig {
    pub chunk_size: usize,
    pub overlap: usize,
    pub blend: usize,
}

impl ChunkConfig {
    /// Overlap long enough for calcium to decay to 1% (`gamma^overlap < 0.01`, at least 16
    /// frames), blend over half of it.
    pub fn new(chunk_size: usize, gamma: f64) -> Self {
        let overlap = default_overlap(gamma);
        ChunkConfig {
            chunk_size,
            overlap,
            blend: (overlap / 2).min(chunk_size),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.chunk_size < MIN_LEN {
            return Err(SolverError::param(
                "chunk_size",
                self.chunk_size as f64,
                format!("must be at least {MIN_LEN} frames"),
            ));
        }
        if self.blend > self.overlap {
            return Err(SolverError::param(
                "blend",
                self.blend as f64,
                format!("must not exceed the overlap ({})", self.overlap),
            ));
        }
        if self.blend > self.chunk_size {
            return Err(SolverError::param(
                "blend",
                self.blend as f64,
                format!("must not exceed chunk_size ({})", self.chunk_size),
            ));
        }
        Ok(())
    }
}

/// Frames for a unit of calcium to decay below 1%: `ceil(ln 0.01 / ln gamma)`, at least 16.
pub fn default_overlap(gamma: f64) -> usize {
    if !(gamma > 0.0 && gamma < 1.0) {
        return 16;
    }
    let x = (0.01f64.ln() / gamma.ln()).ceil();
    if x.is_finite() {
        (x as usize).clamp(16, 1 << 20)
    } else {
        16
    }
}

/// Solve a long trace in overlapping chunks and stitch the rates.
///
/// Each chunk has its own baseline, and with it its own position on the flat direction `v`;
/// before stitching every chunk is moved along `v` to a common baseline (so their rates are on
/// one scale), neighbours are cross-faded, and the whole result is put back in the canonical form
/// (smallest rate zero) with the baseline recomputed over the whole trace.
pub fn convar_solve_chunked(
    trace: &[f64],
    cfg: &ConvarConfig,
    chunk: &ChunkConfig,
) -> Result<ConvarSolution> {
    cfg.validate()?;
    chunk.validate()?;
    check_trace(trace, MIN_LEN)?;
    let n = trace.len();
    let n_chunks = n.div_ceil(chunk.chunk_size);
    if n_chunks <= 1 {
        return Ok(solve_inner(trace, cfg, None));
    }
    // Even cores (all within one frame of n / n_chunks <= chunk_size).
    let cut = |k: usize| -> usize { ((k as u128 * n as u128) / n_chunks as u128) as usize };
    let lo_half = chunk.blend / 2;
    let mut num = vec![0.0; n];
    let mut den = vec![0.0; n];
    let mut r0 = 0.0;
    let mut ref_baseline = 0.0;
    let mut iterations = 0u32;
    let mut converged = true;
    let gamma = cfg.gamma;
    for k in 0..n_chunks {
        let (s, e) = (cut(k), cut(k + 1));
        // One frame more than the overlap: a window's first value is its initial calcium, not
        // a rate, and must stay outside the part that is kept.
        let a = s.saturating_sub(chunk.overlap + 1);
        let b = (e + chunk.overlap).min(n);
        let sol = solve_inner(&trace[a..b], cfg, None);
        iterations = iterations.saturating_add(sol.iterations);
        converged &= sol.converged;
        if k == 0 {
            ref_baseline = sol.baseline;
            r0 = sol.rates[0];
        }
        let shift = (sol.baseline - ref_baseline) * (1.0 - gamma);
        // Weight: ramps up over [s - lo_half, s - lo_half + blend) (not for the first chunk),
        // down over [e - lo_half, e - lo_half + blend) (not for the last), 1 in between.
        let w_lo = if k == 0 { 0 } else { s - lo_half };
        let w_hi = if k + 1 == n_chunks {
            n
        } else {
            e - lo_half + chunk.blend
        };
        for t in w_lo.max(1)..w_hi {
            let mut w = 1.0;
            if k > 0 && chunk.blend > 0 && t < w_lo + chunk.blend {
                w = (t - w_lo) as f64 + 0.5;
                w /= chunk.blend as f64;
            }
            if k + 1 < n_chunks && chunk.blend > 0 && t >= w_hi - chunk.blend {
                w *= (w_hi - t) as f64 - 0.5;
                w /= chunk.blend as f64;
            }
            let local = t - a;
            num[t] += w * (sol.rates[local] + shift);
            den[t] += w;
        }
    }
    let mut r = vec![0.0; n];
    r[0] = r0;
    for t in 1..n {
        r[t] = if den[t] > 0.0 { num[t] / den[t] } else { 0.0 };
    }
    let mean_y = trace.iter().sum::<f64>() / n as f64;
    let yt: Vec<f64> = trace.iter().map(|v| v - mean_y).collect();
    let mut c = vec![0.0; n];
    // Chunks aligned to one baseline may dip slightly below zero where their fits disagree;
    // canonicalising lifts the whole trace (a move along v), clamping only round-off.
    let m = r[1..].iter().fold(f64::INFINITY, |acc, &v| acc.min(v));
    if m < 0.0 {
        for v in r[1..].iter_mut() {
            *v -= m;
        }
        r[0] -= m / (1.0 - gamma);
    }
    Ok(finish(
        trace, mean_y, &yt, r, cfg, iterations, converged, &mut c,
    ))
}

// ---------------------------------------------------------------------------------------------
// Lambda search: fit the odd frames with gamma^2, score against the even frames.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMethod {
    /// Every grid value (warm-started along the grid): the paper's search.
    #[default]
    Grid,
    /// Golden-section search on log(lambda) between the grid's smallest positive and largest
    /// values, down to half a grid step.
    Fast,
}

impl SearchMethod {
    pub const NAMES: &'static str = "grid, fast";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "grid" => Ok(SearchMethod::Grid),
            "fast" => Ok(SearchMethod::Fast),
            _ => Err(SolverError::UnknownOption {
                kind: "lambda search method",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }
}

/// `DEFAULT_GRID_POINTS` log-spaced values from `DEFAULT_GRID_MIN` to `DEFAULT_GRID_MAX`.
pub fn default_lambda_grid() -> Vec<f64> {
    log_grid(DEFAULT_GRID_MIN, DEFAULT_GRID_MAX, DEFAULT_GRID_POINTS)
}

/// `points` log-spaced values from `lo` to `hi` (both > 0).
pub fn log_grid(lo: f64, hi: f64, points: usize) -> Vec<f64> {
    if points <= 1 {
        return vec![lo];
    }
    let (a, b) = (lo.ln(), hi.ln());
    (0..points)
        .map(|i| (a + (b - a) * i as f64 / (points - 1) as f64).exp())
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSearchConfig {
    /// Candidate penalties (finite, >= 0; sorted and deduplicated internally).
    pub grid: Vec<f64>,
    pub method: SearchMethod,
    /// Start each solve from the nearest lambda's solution (same optimum, fewer iterations).
    pub warm_start: bool,
}

impl Default for LambdaSearchConfig {
    fn default() -> Self {
        LambdaSearchConfig {
            grid: default_lambda_grid(),
            method: SearchMethod::Grid,
            // Measured: warm starts along the grid save nothing with FISTA restarts (the start's
            // momentum is lost), so cold starts keep each solve independent of the others.
            warm_start: false,
        }
    }
}

impl LambdaSearchConfig {
    /// Sorted, deduplicated grid, or an error naming the bad value.
    pub fn checked_grid(&self) -> Result<Vec<f64>> {
        if self.grid.is_empty() {
            return Err(SolverError::InvalidState(
                "the lambda grid is empty; give at least one lambda".into(),
            ));
        }
        for &l in &self.grid {
            crate::error::require_lambda("lambda", l)?;
        }
        let mut g = self.grid.clone();
        g.sort_by(f64::total_cmp);
        g.dedup();
        if self.method == SearchMethod::Fast && g.len() > 1 && g[g.len() - 1] <= 0.0 {
            return Err(SolverError::param(
                "lambda grid",
                g[g.len() - 1],
                "the fast search needs a positive largest lambda",
            ));
        }
        Ok(g)
    }
}

/// Result of [`lambda_search`].
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSearchResult {
    /// The lambda with the smallest score among those evaluated.
    pub lambda: f64,
    /// Its score: mean absolute difference between the interpolated odd-frame fit and the even
    /// frames (trace units).
    pub score: f64,
    /// Every `(lambda, score)` evaluated, in evaluation order.
    pub evaluated: Vec<(f64, f64)>,
    /// FISTA iterations over all the solves.
    pub iterations: u64,
}

struct SplitProblem {
    odd: Vec<f64>,
    even: Vec<f64>,
    cfg: ConvarConfig,
}

impl SplitProblem {
    fn new(trace: &[f64], cfg: &ConvarConfig) -> Self {
        let mut c = *cfg;
        c.gamma = cfg.gamma * cfg.gamma;
        SplitProblem {
            odd: trace.iter().step_by(2).copied().collect(),
            even: trace.iter().skip(1).step_by(2).copied().collect(),
            cfg: c,
        }
    }

    /// (score, odd-frame rates for warm starts (FISTA only), iterations). `ws` is scratch for
    /// the direct solve, reused across lambdas.
    fn score(
        &self,
        lambda: f64,
        start: Option<&[f64]>,
        ws: &mut DirectScratch,
    ) -> (f64, Option<Vec<f64>>, u32) {
        let mut cfg = self.cfg;
        cfg.lambda = lambda;
        match cfg.method {
            ConvarMethod::Direct => {
                // Only the fit of the odd frames is scored: c + mean(odd) - mean(c), which is
                // `calcium + baseline` of the full solve without forming the rates.
                let m = self.odd.len();
                ws.c.copy_from_slice(&self.odd);
                let mean = ws.c.iter().sum::<f64>() / m as f64;
                ws.c.iter_mut().for_each(|v| *v -= mean);
                smooth_direct(&mut ws.c, cfg.gamma, lambda, &mut ws.work);
                let shift = mean - ws.c.iter().sum::<f64>() / m as f64;
                let total = self.total(|j| ws.c[j] + shift);
                (total / self.even.len() as f64, None, 1)
            }
            ConvarMethod::Fista => {
                let sol = solve_inner(&self.odd, &cfg, start);
                let total = self.total(|j| sol.calcium[j] + sol.baseline);
                (
                    total / self.even.len() as f64,
                    Some(sol.rates),
                    sol.iterations,
                )
            }
        }
    }

    /// Sum of absolute differences between the interpolated odd-frame fit and the even frames.
    fn total(&self, fit: impl Fn(usize) -> f64) -> f64 {
        let m = self.odd.len();
        let mut total = 0.0;
        for (j, &ye) in self.even.iter().enumerate() {
            // Even frame j lies halfway between odd frames j and j + 1.
            let pred = if j + 1 < m {
                0.5 * (fit(j) + fit(j + 1))
            } else {
                fit(j)
            };
            total += (pred - ye).abs();
        }
        total
    }
}

/// Work vectors of the direct solve on the odd frames, shared by every lambda of one search.
struct DirectScratch {
    work: Vec<[f64; 3]>,
    c: Vec<f64>,
}

/// Choose lambda by the paper's odd/even split: fit the odd frames (1-based; even indices here)
/// with `gamma^2` for each candidate, interpolate the fit to the even frames and score the mean
/// absolute difference; the smallest score wins. `cfg.lambda` is ignored.
pub fn lambda_search(
    trace: &[f64],
    cfg: &ConvarConfig,
    search: &LambdaSearchConfig,
) -> Result<LambdaSearchResult> {
    cfg.validate_without_lambda()?;
    let grid = search.checked_grid()?;
    check_trace(trace, MIN_SEARCH_LEN)?;
    let split = SplitProblem::new(trace, cfg);
    let odd_len = split.odd.len();
    let direct = cfg.method == ConvarMethod::Direct;
    let mut ws = DirectScratch {
        work: Vec::with_capacity(if direct { odd_len } else { 0 }),
        c: vec![0.0; if direct { odd_len } else { 0 }],
    };
    let mut evaluated: Vec<(f64, f64)> = Vec::new();
    let mut iterations = 0u64;
    // Solutions kept for warm starts, by lambda.
    let mut starts: Vec<(f64, Vec<f64>)> = Vec::new();
    let mut eval =
        |lambda: f64, evaluated: &mut Vec<(f64, f64)>, starts: &mut Vec<(f64, Vec<f64>)>| -> f64 {
            let start = if search.warm_start {
                starts
                    .iter()
                    .min_by(|a, b| {
                        log_dist(a.0, lambda)
                            .total_cmp(&log_dist(b.0, lambda))
                            .then(a.0.total_cmp(&b.0))
                    })
                    .map(|(_, r)| r.as_slice())
            } else {
                None
            };
            let (score, rates, iters) = split.score(lambda, start, &mut ws);
            iterations += u64::from(iters);
            evaluated.push((lambda, score));
            crate::cancel::part_done(evaluated.len(), grid.len() + 1);
            if let (true, Some(rates)) = (search.warm_start, rates) {
                starts.push((lambda, rates));
            }
            score
        };
    match search.method {
        SearchMethod::Grid => {
            // Largest lambda first: smooth solutions are cheap and make good starts.
            for &l in grid.iter().rev() {
                if crate::cancel::cancelled() {
                    break;
                }
                eval(l, &mut evaluated, &mut starts);
            }
        }
        SearchMethod::Fast => {
            if grid.len() == 1 {
                eval(grid[0], &mut evaluated, &mut starts);
            } else {
                let lo = grid.iter().copied().find(|&l| l > 0.0).unwrap_or(grid[0]);
                let hi = grid[grid.len() - 1];
                let positive = grid.iter().filter(|&&l| l > 0.0).count();
                if positive <= 2 || lo >= hi {
                    for &l in grid.iter().rev() {
                        eval(l, &mut evaluated, &mut starts);
                    }
                } else {
                    let (mut a, mut b) = (lo.ln(), hi.ln());
                    let step = (b - a) / (positive - 1) as f64;
                    let stop = 0.5 * step;
                    let phi = 0.5 * (5f64.sqrt() - 1.0);
                    let mut x1 = b - phi * (b - a);
                    let mut x2 = a + phi * (b - a);
                    let mut f2 = eval(x2.exp(), &mut evaluated, &mut starts);
                    let mut f1 = eval(x1.exp(), &mut evaluated, &mut starts);
                    while b - a > stop {
                        if f1 <= f2 {
                            b = x2;
                            x2 = x1;
                            f2 = f1;
                            x1 = b - phi * (b - a);
                            f1 = eval(x1.exp(), &mut evaluated, &mut starts);
                        } else {
                            a = x1;
                            x1 = x2;
                            f1 = f2;
                            x2 = a + phi * (b - a);
                            f2 = eval(x2.exp(), &mut evaluated, &mut starts);
                        }
                    }
                    // The minimum may sit at either end of the bracket (monotone scores).
                    for l in [lo, hi] {
                        eval(l, &mut evaluated, &mut starts);
                    }
                    if grid[0] == 0.0 {
                        eval(0.0, &mut evaluated, &mut starts);
                    }
                }
            }
        }
    }
    if crate::cancel::cancelled() {
        return Err(SolverError::Cancelled);
    }
    let (lambda, score) = evaluated
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)))
        .unwrap_or((grid[0], f64::NAN));
    Ok(LambdaSearchResult {
        lambda,
        score,
        evaluated,
        iterations,
    })
}

fn log_dist(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 {
        (a.ln() - b.ln()).abs()
    } else if a == b {
        0.0
    } else {
        f64::INFINITY
    }
}

// ---------------------------------------------------------------------------------------------
// The whole pipeline for one trace and for the rows of a matrix.

/// Everything one call needs: the solve parameters, an optional lambda search (which then
/// replaces `config.lambda`) and optional chunking of the final solve.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvarRun {
    pub config: ConvarConfig,
    pub search: Option<LambdaSearchConfig>,
    pub chunk: Option<ChunkConfig>,
}

impl ConvarRun {
    pub fn new(config: ConvarConfig) -> Self {
        ConvarRun {
            config,
            search: None,
            chunk: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        match &self.search {
            Some(s) => {
                self.config.validate_without_lambda()?;
                s.checked_grid()?;
            }
            None => self.config.validate()?,
        }
        if let Some(c) = &self.chunk {
            c.validate()?;
        }
        Ok(())
    }
}

/// Search lambda if asked, then solve (chunked if asked). A pure function of its inputs.
pub fn convar_run(trace: &[f64], run: &ConvarRun) -> Result<ConvarSolution> {
    run.validate()?;
    let mut cfg = run.config;
    if let Some(search) = &run.search {
        cfg.lambda = lambda_search(trace, &cfg, search)?.lambda;
    }
    match &run.chunk {
        Some(chunk) => convar_solve_chunked(trace, &cfg, chunk),
        None => convar_solve(trace, &cfg),
    }
}

/// [`convar_run`] on each row of a row-major matrix with `n_cols` columns, in parallel with the
/// `parallel` feature. Rows are independent, so results do not depend on how rows are batched.
pub fn convar_run_rows(
    data: &[f64],
    n_cols: usize,
    run: &ConvarRun,
) -> Result<Vec<Result<ConvarSolution>>> {
    run.validate()?;
    map_rows(data, n_cols, |r| convar_run(r, run))
}

/// [`convar_solve`] on each row (fixed lambda, no chunking).
pub fn convar_solve_rows(
    data: &[f64],
    n_cols: usize,
    cfg: &ConvarConfig,
) -> Result<Vec<Result<ConvarSolution>>> {
    convar_run_rows(data, n_cols, &ConvarRun::new(*cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_a0(n: usize, g: f64) -> Vec<Vec<f64>> {
        (0..n)
            .map(|t| {
                (0..n)
                    .map(|s| if s <= t { g.powi((t - s) as i32) } else { 0.0 })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn operators_match_dense_matrices() {
        let (n, g) = (9, 0.8);
        let a0 = dense_a0(n, g);
        let r: Vec<f64> = (0..n).map(|i| ((i * 7 % 5) as f64) - 1.3).collect();
        let mut c = vec![0.0; n];
        forward(&r, g, &mut c);
        for t in 0..n {
            let want: f64 = (0..n).map(|s| a0[t][s] * r[s]).sum();
            assert!((c[t] - want).abs() < 1e-12);
        }
        // Half gradient against A'(A r - y~) + lambda Z r built densely.
        let y: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
        let my = y.iter().sum::<f64>() / n as f64;
        let yt: Vec<f64> = y.iter().map(|v| v - my).collect();
        let lam = 0.37;
        let mut grad = vec![0.0; n];
        half_gradient(&r, &yt, g, lam, &mut c, &mut grad);
        let mut ar = vec![0.0; n];
        forward(&r, g, &mut ar);
        let m = ar.iter().sum::<f64>() / n as f64;
        let res: Vec<f64> = (0..n).map(|t| ar[t] - m - yt[t]).collect();
        let mres = res.iter().sum::<f64>() / n as f64;
        for s in 0..n {
            let mut want: f64 = (0..n).map(|t| a0[t][s] * (res[t] - mres)).sum();
            let mut z = 0.0;
            if s >= 2 {
                z += r[s] - r[s - 1];
            }
            if s >= 1 && s + 1 < n {
                z += r[s] - r[s + 1];
            }
            want += lam * z;
            assert!((grad[s] - want).abs() < 1e-10, "s={s}");
        }
    }

    #[test]
    fn flat_direction_leaves_objective_unchanged() {
        let g = 0.9;
        let y: Vec<f64> = (0..30).map(|i| (i as f64 * 0.3).cos() + 2.0).collect();
        let r: Vec<f64> = (0..30)
            .map(|i| 0.5 + (i as f64 * 0.2).sin().abs())
            .collect();
        let mut r2 = r.clone();
        canonicalize(&mut r2, g);
        let a = convar_objective(&y, &r, g, 1.5).unwrap();
        let b = convar_objective(&y, &r2, g, 1.5).unwrap();
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0));
        assert_eq!(r2[1..].iter().fold(f64::INFINITY, |m, &v| m.min(v)), 0.0);
    }

    #[test]
    fn lipschitz_bound_is_an_upper_bound() {
        for &(n, g) in &[(5usize, 0.5), (40, 0.9), (200, 0.97), (64, 0.99)] {
            // Dense power iteration run to convergence for the true top eigenvalue of A'A.
            let a0 = dense_a0(n, g);
            let mut a = a0.clone();
            for s in 0..n {
                let m: f64 = (0..n).map(|t| a0[t][s]).sum::<f64>() / n as f64;
                for row in a.iter_mut() {
                    row[s] -= m;
                }
            }
            let mut x = vec![1.0; n];
            x[0] = 2.0;
            let mut top = 0.0;
            for _ in 0..20_000 {
                let ax: Vec<f64> = a
                    .iter()
                    .map(|row| row.iter().zip(&x).map(|(p, q)| p * q).sum())
                    .collect();
                let y: Vec<f64> = (0..n)
                    .map(|s| (0..n).map(|t| a[t][s] * ax[t]).sum())
                    .collect();
                let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
                top = norm / x.iter().map(|v| v * v).sum::<f64>().sqrt();
                x = y.iter().map(|v| v / norm).collect();
            }
            let est = ata_bound(n, g);
            assert!(est >= top * (1.0 - 1e-9), "n={n} g={g}: {est} < {top}");
            assert!(est <= top * 1.2, "n={n} g={g}: {est} too loose vs {top}");
        }
    }

    #[test]
    fn parses_options() {
        assert_eq!(ConvarInit::parse("zeros").unwrap(), ConvarInit::Zeros);
        assert_eq!(SearchMethod::parse("fast").unwrap(), SearchMethod::Fast);
        assert_eq!(ConvarMethod::parse("fista").unwrap(), ConvarMethod::Fista);
        assert_eq!(
            ConvarMethod::parse("newton").unwrap_err().code(),
            "UNKNOWN_OPTION"
        );
        assert_eq!(
            ConvarInit::parse("random").unwrap_err().code(),
            "UNKNOWN_OPTION"
        );
        assert_eq!(
            SearchMethod::parse("binary").unwrap_err().code(),
            "UNKNOWN_OPTION"
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        let y = vec![1.0, 2.0, 3.0, 2.0];
        for g in [0.0, 1.0, -0.5, f64::NAN] {
            let e = convar_solve(&y, &ConvarConfig::new(g, 1.0)).unwrap_err();
            assert_eq!(e.code(), "INVALID_PARAMETER");
        }
        for l in [-1.0, f64::NAN, f64::INFINITY] {
            let e = convar_solve(&y, &ConvarConfig::new(0.9, l)).unwrap_err();
            assert_eq!(e.code(), "INVALID_PARAMETER");
        }
        let e = convar_solve(&[1.0, 2.0], &ConvarConfig::new(0.9, 1.0)).unwrap_err();
        assert_eq!(e.code(), "TRACE_TOO_SHORT");
        let e = convar_solve(&[1.0, f64::NAN, 2.0], &ConvarConfig::new(0.9, 1.0)).unwrap_err();
        assert_eq!(e.code(), "NON_FINITE_INPUT");
    }

    fn test_trace(n: usize, g: f64, seed: u64) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(2862933555777941757)
            .wrapping_add(3037000493);
        let mut unif = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut c = 0.0;
        (0..n)
            .map(|t| {
                let rate = 0.2 + (t as f64 / 9.0).sin().max(0.0) + 0.3 * unif();
                c = g * c + rate;
                c + 4.0 + 0.4 * (unif() - 0.5)
            })
            .collect()
    }

    #[test]
    fn direct_solve_is_stationary_and_matches_fista() {
        for &(n, g, lam) in &[
            (3usize, 0.5, 1.0),
            (4, 0.9, 0.0),
            (60, 0.8, 0.3),
            (200, 0.95, 5.0),
            (150, 0.99, 200.0),
        ] {
            let y = test_trace(n, g, n as u64);
            let direct = convar_solve(&y, &ConvarConfig::new(g, lam)).unwrap();
            assert!(direct.converged && direct.iterations == 1);
            assert_eq!(
                direct.rates[1..]
                    .iter()
                    .fold(f64::INFINITY, |m, &v| m.min(v)),
                0.0
            );
            // The unconstrained optimum: the gradient vanishes (relative to the one at zero).
            let g_opt = convar_gradient(&y, &direct.rates, g, lam).unwrap();
            let g_zero = convar_gradient(&y, &vec![0.0; n], g, lam).unwrap();
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!(
                norm(&g_opt) <= 1e-9 * norm(&g_zero),
                "n={n}: gradient {}",
                norm(&g_opt)
            );
            let mut cfg = ConvarConfig::new(g, lam);
            cfg.method = ConvarMethod::Fista;
            cfg.tol = 1e-12;
            cfg.max_iters = 2_000_000;
            let fista = convar_solve(&y, &cfg).unwrap();
            let f0 = convar_objective(&y, &vec![0.0; n], g, lam).unwrap();
            assert!(direct.objective <= fista.objective + 1e-12 * f0, "n={n}");
            assert!(
                (direct.objective - fista.objective).abs() <= 1e-9 * f0,
                "n={n}"
            );
            let scale = direct.rates[1..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for t in 0..n {
                assert!(
                    (direct.rates[t] - fista.rates[t]).abs() <= 1e-5 * scale,
                    "n={n} t={t}"
                );
            }
            assert!((direct.baseline - fista.baseline).abs() <= 1e-6 * direct.baseline.abs());
        }
    }

    #[test]
    fn direct_search_scores_match_fista_search() {
        let (n, g) = (300, 0.9);
        let y = test_trace(n, g, 7);
        let search = LambdaSearchConfig::default();
        let direct = lambda_search(&y, &ConvarConfig::new(g, 0.0), &search).unwrap();
        let mut cfg = ConvarConfig::new(g, 0.0);
        cfg.method = ConvarMethod::Fista;
        cfg.tol = 1e-11;
        cfg.max_iters = 1_000_000;
        let fista = lambda_search(&y, &cfg, &search).unwrap();
        assert_eq!(direct.lambda, fista.lambda);
        assert_eq!(direct.evaluated.len(), fista.evaluated.len());
        for (a, b) in direct.evaluated.iter().zip(&fista.evaluated) {
            assert_eq!(a.0, b.0);
            assert!(
                (a.1 - b.1).abs() <= 1e-6 * b.1,
                "lambda {}: {} vs {}",
                a.0,
                a.1,
                b.1
            );
        }
        assert_eq!(direct.iterations, direct.evaluated.len() as u64);
    }

    #[test]
    fn flat_trace_is_all_baseline() {
        let sol = convar_solve(&[3.0; 10], &ConvarConfig::new(0.9, 1.0)).unwrap();
        assert!(sol.rates.iter().all(|&v| v == 0.0));
        assert_eq!(sol.baseline, 3.0);
        assert!(sol.converged);
        assert_eq!(sol.iterations, 0);
    }
}
