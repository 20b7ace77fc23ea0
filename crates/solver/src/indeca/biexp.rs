//! Bi-exponential fit of a free-form kernel.
//!
//! Model, on samples i = skip..n at t_i = i / fs:
//!   f(t) = beta (exp(-t/tau_decay) - exp(-t/tau_rise))
//!        [+ beta_fast (exp(-t/tau_decay_fast) - exp(-t/tau_rise_fast))   when refined]
//! Amplitudes enter linearly, so they are solved exactly (non-negative least squares on one or two
//! columns) for every set of time constants ("variable projection"); only the log time constants
//! are searched: a log-spaced grid first (robust: no starting guess needed, and no local minimum
//! of the rise/decay swap), then Levenberg-Marquardt from the best grid point (or from a warm fit).
//!
//! Refinement adds a second, faster component (tau_decay_fast < tau_decay) that can absorb
//! rising-edge artefacts of free-form kernels (sub-frame timing smears the first samples). It is
//! kept only if it removes at least [`FAST_MIN_GAIN`] of the single-component residual.
//!
//! Quality label from R^2 = 1 - RSS / TSS over the fitted samples: "good" if R^2 >= [`R2_GOOD`],
//! "fair" if R^2 >= [`R2_FAIR`], otherwise (or without a positive amplitude) "poor".

use crate::error::{check_finite, Result, SolverError};
use serde::{Deserialize, Serialize};

pub const R2_GOOD: f64 = 0.95;
pub const R2_FAIR: f64 = 0.8;
/// Fraction of the single-component RSS the fast component must remove to be kept.
pub const FAST_MIN_GAIN: f64 = 0.2;
/// Fewest samples a fit needs (three parameters, plus some to spare).
pub const MIN_FIT_SAMPLES: usize = 5;

/// Bi-exponential fit (time constants in seconds; fast fields 0 when no fast component).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiexpFit {
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub beta: f64,
    pub tau_rise_fast: f64,
    pub tau_decay_fast: f64,
    pub beta_fast: f64,
    /// Root-mean-square residual over the fitted samples (units of the kernel).
    pub residual: f64,
    pub r2: f64,
    /// "good", "fair" or "poor" (see the module docs).
    pub quality: String,
}

impl BiexpFit {
    pub fn has_fast(&self) -> bool {
        self.beta_fast > 0.0 && self.tau_decay_fast > 0.0
    }

    /// Model value at time t (seconds).
    pub fn eval(&self, t: f64) -> f64 {
        let mut v = self.beta * basis(t, self.tau_rise, self.tau_decay);
        if self.has_fast() {
            v += self.beta_fast * basis(t, self.tau_rise_fast, self.tau_decay_fast);
        }
        v
    }

    /// Model sampled at i / fs for i in 0..n.
    pub fn curve(&self, fs: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| self.eval(i as f64 / fs)).collect()
    }
}

pub fn quality_label(r2: f64, beta: f64) -> &'static str {
    if beta.is_nan() || beta <= 0.0 || !r2.is_finite() {
        "poor"
    } else if r2 >= R2_GOOD {
        "good"
    } else if r2 >= R2_FAIR {
        "fair"
    } else {
        "poor"
    }
}

fn basis(t: f64, tau_rise: f64, tau_decay: f64) -> f64 {
    crate::kernel::biexp(t, tau_rise, tau_decay)
}

struct Data {
    t: Vec<f64>,
    h: Vec<f64>,
}

/// Amplitudes and RSS for the given log-taus (one or two components; rise/decay order is free).
fn project(d: &Data, theta: &[f64], cols: &mut [Vec<f64>]) -> (Vec<f64>, f64) {
    let nc = theta.len() / 2;
    for c in 0..nc {
        let (a, b) = (theta[2 * c].exp(), theta[2 * c + 1].exp());
        let (tr, td) = if a < b { (a, b) } else { (b, a) };
        for (i, &t) in d.t.iter().enumerate() {
            cols[c][i] = basis(t, tr, td);
        }
    }
    let hh: f64 = d.h.iter().map(|v| v * v).sum();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let fit1 = |c: &[f64]| {
        let cc = dot(c, c);
        let ch = dot(c, &d.h);
        if cc <= 0.0 || ch <= 0.0 {
            (0.0, hh)
        } else {
            (ch / cc, hh - ch * ch / cc)
        }
    };
    if nc == 1 {
        let (b, rss) = fit1(&cols[0]);
        return (vec![b], rss.max(0.0));
    }
    // Two columns: unconstrained 2x2 solve, else the better single column (NNLS on two columns).
    let (a11, a12, a22) = (
        dot(&cols[0], &cols[0]),
        dot(&cols[0], &cols[1]),
        dot(&cols[1], &cols[1]),
    );
    let (b1, b2) = (dot(&cols[0], &d.h), dot(&cols[1], &d.h));
    let det = a11 * a22 - a12 * a12;
    if det > 1e-12 * a11 * a22 {
        let x1 = (a22 * b1 - a12 * b2) / det;
        let x2 = (a11 * b2 - a12 * b1) / det;
        if x1 >= 0.0 && x2 >= 0.0 {
            return (vec![x1, x2], (hh - x1 * b1 - x2 * b2).max(0.0));
        }
    }
    let (s1, r1) = fit1(&cols[0]);
    let (s2, r2) = fit1(&cols[1]);
    if r1 <= r2 {
        (vec![s1, 0.0], r1.max(0.0))
    } else {
        (vec![0.0, s2], r2.max(0.0))
    }
}

/// Levenberg-Marquardt on the log-taus with amplitudes projected out; returns (theta, rss).
fn levenberg_marquardt(d: &Data, theta0: &[f64], bounds: (f64, f64)) -> (Vec<f64>, f64) {
    let p = theta0.len();
    let n = d.t.len();
    let mut cols = vec![vec![0.0; n]; p / 2];
    let residual = |theta: &[f64], cols: &mut [Vec<f64>]| -> (Vec<f64>, f64) {
        let (beta, rss) = project(d, theta, cols);
        let r: Vec<f64> = (0..n)
            .map(|i| d.h[i] - (0..p / 2).map(|c| beta[c] * cols[c][i]).sum::<f64>())
            .collect();
        (r, rss)
    };
    let clamp = |theta: &mut [f64]| {
        for v in theta.iter_mut() {
            *v = v.clamp(bounds.0, bounds.1);
        }
    };
    let mut theta = theta0.to_vec();
    clamp(&mut theta);
    let (mut r, mut rss) = residual(&theta, &mut cols);
    let mut mu = 1e-3;
    for _ in 0..100 {
        // Forward-difference Jacobian of the residual.
        let eps = 1e-6;
        let mut jac = vec![vec![0.0; n]; p];
        for q in 0..p {
            let mut th = theta.clone();
            th[q] += eps;
            let (rq, _) = residual(&th, &mut cols);
            for i in 0..n {
                jac[q][i] = (rq[i] - r[i]) / eps;
            }
        }
        let mut jtj = vec![vec![0.0; p]; p];
        let mut jtr = vec![0.0; p];
        for a in 0..p {
            for b in 0..p {
                jtj[a][b] = jac[a].iter().zip(&jac[b]).map(|(x, y)| x * y).sum();
            }
            jtr[a] = jac[a].iter().zip(&r).map(|(x, y)| x * y).sum();
        }
        let mut improved = false;
        for _ in 0..12 {
            let mut m = jtj.clone();
            for (a, row) in m.iter_mut().enumerate() {
                row[a] += mu * (jtj[a][a].max(1e-12));
            }
            let Some(delta) = solve_small(&m, &jtr.iter().map(|v| -v).collect::<Vec<_>>()) else {
                mu *= 10.0;
                continue;
            };
            let mut th = theta.clone();
            for (v, dv) in th.iter_mut().zip(&delta) {
                *v += dv;
            }
            clamp(&mut th);
            let (rn, rssn) = residual(&th, &mut cols);
            if rssn < rss {
                let gain = (rss - rssn) / rss.max(1e-300);
                theta = th;
                r = rn;
                rss = rssn;
                mu = (mu * 0.3).max(1e-12);
                improved = gain > 1e-10;
                break;
            }
            mu *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (theta, rss)
}

/// Gaussian elimination with partial pivoting for the tiny normal equations.
fn solve_small(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, bv)| {
            let mut r = row.clone();
            r.push(*bv);
            r
        })
        .collect();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].abs() < 1e-300 || !m[piv][col].is_finite() {
            return None;
        }
        m.swap(col, piv);
        let pivot_row = m[col].clone();
        for row in m.iter_mut().take(n).skip(col + 1) {
            let f = row[col] / pivot_row[col];
            for (v, pv) in row.iter_mut().zip(&pivot_row).skip(col) {
                *v -= f * pv;
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| m[row][c] * x[c]).sum();
        x[row] = (m[row][n] - s) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

fn geomspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

/// Fit the model of the module docs to `h_free` sampled at `fs`, ignoring the first `skip` samples.
pub fn fit_biexponential(
    h_free: &[f32],
    fs: f64,
    refine: bool,
    skip: usize,
    warm: Option<&BiexpFit>,
) -> Result<BiexpFit> {
    let h: Vec<f64> = h_free.iter().map(|v| *v as f64).collect();
    fit_biexponential_f64(&h, fs, refine, skip, warm)
}

/// `h` moved `shift` samples later (negative: earlier), zero-filled at the vacated end.
pub fn shift_samples(h: &[f64], shift: isize) -> Vec<f64> {
    let n = h.len();
    let mut out = vec![0.0; n];
    let s = shift.unsigned_abs().min(n);
    if shift >= 0 {
        out[s..].copy_from_slice(&h[..n - s]);
    } else {
        out[..n - s].copy_from_slice(&h[s..]);
    }
    out
}

/// [`fit_biexponential_f64`] with the kernel's onset free: the fit is repeated on `h` moved by
/// each whole-sample shift in `-max_shift..=max_shift` and the smallest residual wins. Returns the
/// fit and the shift applied (positive: `h` started early, i.e. the spikes it was estimated from
/// sat late). A free-form kernel estimated from spikes placed `d` samples late is the true kernel
/// advanced by `d`; fitted at a fixed onset it reads as a faster rise, which places the next
/// spikes later still. The model is zero at its onset and has no flat start, so only the right
/// alignment fits well (module tests), which breaks that feedback.
pub fn fit_biexponential_onset(
    h: &[f64],
    fs: f64,
    refine: bool,
    max_shift: usize,
    warm: Option<&BiexpFit>,
) -> Result<(BiexpFit, isize)> {
    // Every shifted copy has the same length, so they share the grid's basis columns.
    let mut grid = None;
    let mut best = (fit_impl(h, fs, refine, 0, warm, &mut grid)?, 0isize);
    let m = max_shift.min(h.len() / 4) as isize;
    for shift in (-m..=m).filter(|&s| s != 0) {
        if let Ok(f) = fit_impl(&shift_samples(h, shift), fs, refine, 0, warm, &mut grid) {
            if f.residual < best.0.residual {
                best = (f, shift);
            }
        }
    }
    Ok(best)
}

/// [`fit_biexponential`] on f64 samples.
pub fn fit_biexponential_f64(
    h: &[f64],
    fs: f64,
    refine: bool,
    skip: usize,
    warm: Option<&BiexpFit>,
) -> Result<BiexpFit> {
    fit_impl(h, fs, refine, skip, warm, &mut None)
}

/// The single-component grid of log-spaced (tau_rise, tau_decay) pairs with each pair's basis
/// column sampled on the fit's times, and its squared norm. The columns depend only on the
/// sample times and the kernel span, not on the kernel's values, so fits of equally long kernels
/// (the onset search) compute them once: they were nearly all of that search's time (560
/// columns of two exponentials per sample, for each of up to 25 shifts).
struct SingleGrid {
    /// (log tau_rise, log tau_decay) of each pair with tau_rise < tau_decay, rises outer.
    thetas: Vec<[f64; 2]>,
    /// Column `i` is `cols[i * n..(i + 1) * n]`.
    cols: Vec<f64>,
    /// Squared norm of each column.
    norms: Vec<f64>,
    /// Where the search starts when no pair fits with a positive amplitude.
    fallback: [f64; 2],
    /// What the columns were built for: samples, spacing and kernel span.
    key: (usize, f64, f64),
}

impl SingleGrid {
    fn new(d: &Data, dt: f64, span: f64) -> Self {
        let n = d.t.len();
        let rises = geomspace(0.2 * dt, (span / 4.0).max(0.4 * dt), 20);
        let decays = geomspace(dt, (2.0 * span).max(2.0 * dt), 28);
        let fallback = [rises[0].ln(), decays[0].ln()];
        let mut thetas = Vec::new();
        for &tr in &rises {
            for &td in &decays {
                if tr < td {
                    thetas.push([tr.ln(), td.ln()]);
                }
            }
        }
        let mut cols = vec![0.0; thetas.len() * n];
        let mut norms = Vec::with_capacity(thetas.len());
        for (th, col) in thetas.iter().zip(cols.chunks_exact_mut(n.max(1))) {
            // Exactly the column `project` builds for these log-taus.
            let (a, b) = (th[0].exp(), th[1].exp());
            let (tr, td) = if a < b { (a, b) } else { (b, a) };
            for (c, &t) in col.iter_mut().zip(&d.t) {
                *c = basis(t, tr, td);
            }
            norms.push(col.iter().map(|v| v * v).sum::<f64>());
        }
        SingleGrid {
            thetas,
            cols,
            norms,
            fallback,
            key: (n, dt, span),
        }
    }

    /// The log-taus of the pair with the smallest residual and a positive amplitude (the first of
    /// equals), scored exactly as `project` scores one column; the fallback when none has one.
    fn best(&self, h: &[f64]) -> Vec<f64> {
        let n = self.key.0;
        let hh: f64 = h.iter().map(|v| v * v).sum();
        let mut best: Option<(usize, f64)> = None;
        for (i, (&cc, col)) in self.norms.iter().zip(self.cols.chunks_exact(n)).enumerate() {
            let ch: f64 = col.iter().zip(h).map(|(a, b)| a * b).sum();
            if cc <= 0.0 || ch <= 0.0 || ch / cc <= 0.0 {
                continue;
            }
            let rss = (hh - ch * ch / cc).max(0.0);
            if best.is_none_or(|b| rss < b.1) {
                best = Some((i, rss));
            }
        }
        best.map_or(self.fallback, |(i, _)| self.thetas[i]).to_vec()
    }
}

fn fit_impl(
    h: &[f64],
    fs: f64,
    refine: bool,
    skip: usize,
    warm: Option<&BiexpFit>,
    grid: &mut Option<SingleGrid>,
) -> Result<BiexpFit> {
    crate::kernel::positive_finite("fs", fs, "the sampling rate in Hz")?;
    check_finite(h)?;
    if h.len() < skip + MIN_FIT_SAMPLES {
        return Err(SolverError::TraceTooShort {
            len: h.len(),
            min: skip + MIN_FIT_SAMPLES,
        });
    }
    crate::error::check_magnitude(h)?;
    let d = Data {
        t: (skip..h.len()).map(|i| i as f64 / fs).collect(),
        h: h[skip..].to_vec(),
    };
    let n = d.t.len();
    let mean = d.h.iter().sum::<f64>() / n as f64;
    let tss: f64 = d.h.iter().map(|v| (v - mean) * (v - mean)).sum();
    let dt = 1.0 / fs;
    let span = h.len() as f64 / fs;
    // Time constants between a tenth of a sample and ten times the kernel span.
    let bounds = ((0.1 * dt).ln(), (10.0 * span).ln());
    let finish = |theta: &[f64], fast: Option<&[f64]>| -> BiexpFit {
        let mut all = theta.to_vec();
        if let Some(f) = fast {
            all.extend_from_slice(f);
        }
        let mut cols = vec![vec![0.0; n]; all.len() / 2];
        let (beta, rss) = project(&d, &all, &mut cols);
        let order = |a: f64, b: f64| {
            let (a, b) = (a.exp(), b.exp());
            if a < b {
                (a, b)
            } else {
                (b, a)
            }
        };
        let (tr, td) = order(all[0], all[1]);
        let (trf, tdf, bf) = if all.len() == 4 && beta[1] > 0.0 {
            let (a, b) = order(all[2], all[3]);
            (a, b, beta[1])
        } else {
            (0.0, 0.0, 0.0)
        };
        let r2 = if tss > 0.0 { 1.0 - rss / tss } else { 0.0 };
        BiexpFit {
            tau_rise: tr,
            tau_decay: td,
            beta: beta[0],
            tau_rise_fast: trf,
            tau_decay_fast: tdf,
            beta_fast: bf,
            residual: (rss / n as f64).sqrt(),
            r2,
            quality: quality_label(r2, beta[0]).to_string(),
        }
    };

    // Single component: warm start if given and good, else grid then LM.
    let mut best: Option<(Vec<f64>, f64)> = None;
    if let Some(w) = warm {
        if w.tau_rise > 0.0
            && w.tau_decay > 0.0
            && w.tau_rise.is_finite()
            && w.tau_decay.is_finite()
        {
            let (th, rss) = levenberg_marquardt(&d, &[w.tau_rise.ln(), w.tau_decay.ln()], bounds);
            if tss > 0.0 && 1.0 - rss / tss >= R2_GOOD {
                best = Some((th, rss));
            }
        }
    }
    if best.is_none() {
        let g = match grid {
            Some(g) if g.key == (n, dt, span) => g,
            _ => grid.insert(SingleGrid::new(&d, dt, span)),
        };
        best = Some(levenberg_marquardt(&d, &g.best(&d.h), bounds));
    }
    let (theta1, rss1) = best.unwrap_or((vec![dt.ln(), span.ln()], tss));
    let single = finish(&theta1, None);
    // A single component that fits to rounding leaves a fast pair nothing to explain but
    // rounding noise. `project` gets the RSS as a difference of sums of squares, so its rounding
    // is a few eps of the total (4.6e-16 of it on a noiseless curve); real kernels leave 1e-3 or
    // more.
    if !refine || n < MIN_FIT_SAMPLES + 3 || rss1 <= 1e-12 * tss {
        return Ok(single);
    }

    // Fast component: grid over its taus (decay faster than the slow decay), then joint LM.
    let td_slow = single.tau_decay;
    let mut cols2 = vec![vec![0.0; n]; 2];
    let mut starts: Vec<Vec<f64>> = Vec::new();
    if let Some(w) = warm.filter(|w| w.has_fast()) {
        starts.push(vec![w.tau_rise_fast.ln(), w.tau_decay_fast.ln()]);
    }
    let mut grid_best = (Vec::new(), f64::INFINITY);
    for &tdf in &geomspace(0.5 * dt, (0.5 * td_slow).max(0.6 * dt), 12) {
        for &trf in &geomspace(0.1 * dt, tdf * 0.9, 8) {
            let th = [theta1[0], theta1[1], trf.ln(), tdf.ln()];
            let (beta, rss) = project(&d, &th, &mut cols2);
            if beta[0] > 0.0 && beta[1] > 0.0 && rss < grid_best.1 {
                grid_best = (vec![trf.ln(), tdf.ln()], rss);
            }
        }
    }
    if grid_best.1.is_finite() {
        starts.push(grid_best.0);
    }
    let mut best2: Option<(Vec<f64>, f64)> = None;
    for s in starts {
        let th0 = [theta1[0], theta1[1], s[0], s[1]];
        let (th, rss) = levenberg_marquardt(&d, &th0, bounds);
        if best2.as_ref().is_none_or(|b| rss < b.1) {
            best2 = Some((th, rss));
        }
    }
    if let Some((th, rss2)) = best2 {
        let fit = finish(&th[..2], Some(&th[2..]));
        // The slow component must stay the slow one, and the gain must be worth two parameters.
        if fit.has_fast()
            && fit.beta > 0.0
            && fit.tau_decay_fast < fit.tau_decay
            // A fast pair with nearly equal taus is a vanishing difference scaled up: degenerate.
            && fit.tau_decay_fast >= 1.5 * fit.tau_rise_fast
            && fit.beta_fast <= 10.0 * fit.beta
            && fit.tau_rise < fit.tau_decay / 1.5
            && rss2 <= (1.0 - FAST_MIN_GAIN) * rss1
        {
            return Ok(fit);
        }
    }
    Ok(single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onset_search_shares_its_grid_without_changing_any_fit() {
        // The shared basis columns must give exactly the fits of separate calls.
        let (fs, tr, td) = (90.0, 0.03, 0.8);
        let h: Vec<f64> = (0..300)
            .map(|i| {
                let noise = 0.03 * ((((i * 7919) % 23) as f64) / 11.0 - 1.0);
                basis(i as f64 / fs, tr, td) + noise
            })
            .collect();
        let (fit, shift) = fit_biexponential_onset(&h, fs, false, 6, None).unwrap();
        let mut best = (
            fit_biexponential_f64(&h, fs, false, 0, None).unwrap(),
            0isize,
        );
        for s in (-6isize..=6).filter(|&s| s != 0) {
            let f = fit_biexponential_f64(&shift_samples(&h, s), fs, false, 0, None).unwrap();
            if f.residual < best.0.residual {
                best = (f, s);
            }
        }
        assert_eq!(fit, best.0);
        assert_eq!(shift, best.1);
        assert!((fit.tau_decay / td - 1.0).abs() < 0.2, "{fit:?}");
    }

    #[test]
    fn onset_search_undoes_a_timing_shift() {
        let (fs, tr, td) = (30.0, 0.1, 1.6);
        let truth: Vec<f64> = (0..240).map(|i| basis(i as f64 / fs, tr, td)).collect();
        // (Two frames early is ambiguous: the sample the rise passed through is gone.)
        for d in [-2isize, -1, 0, 1] {
            // Spikes d frames late make the estimated kernel start d frames early.
            let h = shift_samples(&truth, -d);
            let (fit, shift) = fit_biexponential_onset(&h, fs, false, 3, None).unwrap();
            assert_eq!(shift, d, "shift for spikes {d} frames late");
            assert!(
                (fit.tau_rise - tr).abs() < 1e-3 * tr,
                "tau_rise {}",
                fit.tau_rise
            );
            assert!(
                (fit.tau_decay - td).abs() < 1e-3 * td,
                "tau_decay {}",
                fit.tau_decay
            );
        }
        // At a fixed onset the same early kernel reads as a faster rise.
        let early = fit_biexponential_f64(&shift_samples(&truth, -1), fs, false, 0, None).unwrap();
        assert!(
            early.tau_rise < 0.9 * tr,
            "fixed-onset tau_rise {}",
            early.tau_rise
        );
    }

    fn curve(tr: f64, td: f64, beta: f64, fs: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| beta * basis(i as f64 / fs, tr, td))
            .collect()
    }

    #[test]
    fn exact_taus_from_a_noiseless_curve() {
        for &(tr, td, fs) in &[(0.02, 0.4, 30.0), (0.1, 1.6, 30.0), (0.01, 0.15, 100.0)] {
            let h = curve(tr, td, 0.7, fs, (6.0 * td * fs) as usize);
            let f = fit_biexponential_f64(&h, fs, false, 0, None).unwrap();
            assert!((f.tau_rise - tr).abs() < 1e-4 * tr, "{f:?}");
            assert!((f.tau_decay - td).abs() < 1e-4 * td, "{f:?}");
            assert!((f.beta - 0.7).abs() < 1e-3, "{f:?}");
            assert_eq!(f.quality, "good");
            let r = fit_biexponential_f64(&h, fs, true, 0, Some(&f)).unwrap();
            assert!(!r.has_fast(), "{r:?}");
        }
    }
}
