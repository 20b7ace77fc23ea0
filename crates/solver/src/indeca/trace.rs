//! Per-trace InDeCa stage: binary spike inference with an unknown amplitude.
//!
//! Model at the fine rate k·fs (see [`super::upsample`] for why frames are observed, not
//! interpolated): y[j] = alpha · (h * s)[k·j] + b + noise, s in {0, 1} per fine bin, h the
//! peak-normalised double exponential of [`crate::kernel`] at k·fs (its AR(2) form gives O(kT)
//! forward and adjoint). Steps:
//!
//! 1. preprocessing at the original rate: rolling low-quantile drift removal when the trace spans
//!    at least two drift windows ([`crate::baseline`]), then the kernel-derived high-pass and/or
//!    low-pass edges ([`crate::filter::band_filter`]);
//! 2. noise level sigma = MAD(first differences) / (0.6745 sqrt 2) on the unfiltered trace, scaled
//!    by the filter's white-noise power gain (robust to the sparse transients, and the only place the
//!    noise is measured, so no second pass is needed);
//! 3. relaxation: min 1/2 ||P(y - alpha D K s)||^2 + w sum s over 0 <= s <= 1 (P centres,
//!    eliminating b exactly; D keeps every k-th fine sample), with w = lambda · alpha^2 · E1 where E1
//!    is the observed energy of one unit spike, so `lambda` is the fraction of a lone spike's
//!    explained energy charged per spike (0 = no penalty); solved to optimality by the O(kT)
//!    interior-point method of [`super::relax`] (projected gradient stopped far from the optimum
//!    on slow kernels, which let alpha drift to half its value with twice the spikes);
//! 4. threshold search: each frame's relaxed mass m_j becomes a count by rounding with threshold
//!    th (count = floor(m_j - th) + 1 when m_j >= th, at most k), placed on the frame's largest fine
//!    bins; for each of [`N_THRESHOLDS`] candidates th over (0, min(1, max m)) alpha and b are fitted
//!    by least squares (incrementally: the spike set only grows as th falls, so the whole sweep costs
//!    O(spikes · kernel length) rather than O(candidates · kT));
//! 5. polishing: a local search moves each binary spike one fine bin either way, or drops it,
//!    when that lowers the residual (plus the per-spike penalty of the chosen rule);
//! 6. amplitude loop: the relaxation is scale-invariant away from the box bounds, so alpha cannot
//!    be fitted on the relaxed s; it is re-fitted on the binarised s and steps 3-4 repeat until
//!    alpha moves by less than [`ALPHA_RTOL`], at most [`MAX_ALPHA_ROUNDS`] rounds. The cold start
//!    takes alpha = max(y) - median(y), an upper bound for one spike, so the first relaxation stays
//!    inside the box; a warm start takes alpha and b from a least-squares fit of the previous
//!    counts (and removes the drift under that fit). A cold start with k > 1 first solves the
//!    trace at the frame rate (k = 1, a third of the work per round) and warm-starts from those
//!    counts: started from the upper bound, the first round at k would spend a full fine-grid
//!    relaxation on an amplitude 2.5-4x too large. The frame-rate start reaches a lower penalised
//!    score than that on 50 of 60 simulated traces (worse on 3), in about half the time.
//!
//! Threshold rule ([`ThresholdMode`]): `BestFit` takes the smallest residual; `NoiseFloor`
//! takes the sparsest candidate whose residual sum of squares is at most
//! max(RSS_best, T sigma^2) (1 + 2 sqrt(2/T)), i.e. within two standard deviations of the
//! chi-square noise floor (or of the best fit when model mismatch keeps it above the floor);
//! `Penalized` (what [`solve_trace`] uses) minimises RSS + ln(T) sigma^2 per spike (BIC with the
//! measured noise). The noise-floor rule alone over-counts when the floor is unreachable; the
//! penalty also breaks the scale ambiguity (n spikes of alpha/n fit like one of alpha) in favour of
//! fewer, larger events.

use super::relax::{relax_box, RelaxWork};
use super::upsample::{check_factor, counts_on_frames, upsample_counts};
use crate::baseline::{drift_window_samples, rolling_quantile};
use crate::error::{check_finite, check_magnitude, Result, SolverError};
use crate::filter::{band_filter, noise_power_gain};
use crate::kernel::{build_kernel_validated, frame_centre_shift, Ar2, KernelParams};

/// Candidate thresholds tried per search.
pub const N_THRESHOLDS: usize = 40;
/// Thresholds span (0, min(MAX_THRESHOLD, largest accumulated mass)); above 1 a threshold
/// merges the mass of an under-estimated amplitude into one spike, so the search can move alpha
/// up as well as down.
pub const MAX_THRESHOLD: f64 = 2.5;
/// The search fits with the kernel cut where it falls below this fraction of its peak.
const SEARCH_KERNEL_TOL: f64 = 1e-4;
/// Amplitude re-fits stop when alpha changes by less than this fraction.
pub const ALPHA_RTOL: f64 = 0.01;
/// At most this many relax-binarise-refit rounds.
pub const MAX_ALPHA_ROUNDS: usize = 8;
/// Shortest trace accepted.
pub const MIN_TRACE_LEN: usize = 8;
/// Multiplier of ln(T) sigma^2 charged per spike by [`ThresholdMode::Penalized`].
pub const PENALTY_PER_SPIKE: f64 = 1.0;

/// Parameters of one [`solve_trace`] call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceParams {
    /// Rise time constant, seconds.
    pub tau_rise: f64,
    /// Decay time constant, seconds.
    pub tau_decay: f64,
    /// Sampling rate of the trace, Hz.
    pub fs: f64,
    /// Model rate multiplier k >= 1 (see [`super::upsample::compute_upsample_factor`]).
    pub upsample_factor: usize,
    /// Cap on interior-point iterations per relaxation (each amplitude round runs one; a
    /// relaxation typically needs 10-30).
    pub max_iters: usize,
    /// Relative tolerance of each relaxation (duality gap and dual residual, see
    /// [`super::relax`]).
    pub tol: f64,
    /// Apply the kernel-derived high-pass edge f_hp = 0.25 / (2 pi tau_decay).
    pub hp_enabled: bool,
    /// Apply the kernel-derived low-pass edge f_lp = 2 / (2 pi tau_rise).
    pub lp_enabled: bool,
    /// L1 weight (>= 0), as a fraction of one lone spike's explained energy.
    pub lambda: f64,
}

impl TraceParams {
    /// Defaults: no upsampling, 500 iterations, tol 1e-4, no filtering, lambda 0.
    pub fn new(tau_rise: f64, tau_decay: f64, fs: f64) -> Self {
        TraceParams {
            tau_rise,
            tau_decay,
            fs,
            upsample_factor: 1,
            max_iters: 500,
            tol: 1e-4,
            hp_enabled: false,
            lp_enabled: false,
            lambda: 0.0,
        }
    }

    /// Check every field; returns the kernel parameters at the original and the fine rate.
    pub fn validate(&self) -> Result<(KernelParams, KernelParams)> {
        check_factor(self.upsample_factor)?;
        let orig = KernelParams::new(self.tau_rise, self.tau_decay, self.fs)?;
        let fine = KernelParams::new(
            self.tau_rise,
            self.tau_decay,
            self.fs * self.upsample_factor as f64,
        )?;
        if self.max_iters == 0 {
            return Err(SolverError::param("max_iters", 0.0, "must be at least 1"));
        }
        if !self.tol.is_finite() || self.tol <= 0.0 {
            return Err(SolverError::param(
                "tol",
                self.tol,
                "must be a positive finite number",
            ));
        }
        crate::error::require_lambda("lambda", self.lambda)?;
        Ok((orig, fine))
    }
}

/// Result of [`solve_trace`].
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSolution {
    /// Spike counts per frame at the original rate (integers stored as f32).
    pub s_counts: Vec<f32>,
    /// Peak amplitude of one spike's transient (trace units).
    pub alpha: f64,
    /// Constant baseline of the preprocessed trace (trace units).
    pub baseline: f64,
    /// Proportion of the preprocessed trace's variance explained by alpha (h * s) + b.
    pub pve: f64,
    /// Chosen rounding threshold on the relaxed per-frame mass.
    pub threshold: f64,
    /// Interior-point iterations summed over all relaxations.
    pub iterations: usize,
    /// The last relaxation converged and alpha settled within [`ALPHA_RTOL`].
    pub converged: bool,
}

/// How the threshold search picks among candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThresholdMode {
    /// Smallest residual.
    BestFit,
    /// Sparsest candidate whose residual reaches the noise floor (see the module docs).
    NoiseFloor,
    /// Smallest RSS + PENALTY_PER_SPIKE * ln(T) * sigma^2 * spikes (BIC with the measured noise).
    #[default]
    Penalized,
}

/// Everything [`solve_trace_detailed`] computes, for the outer loop and for tests.
#[derive(Debug, Clone)]
pub struct TraceDetail {
    pub solution: TraceSolution,
    /// Binary spikes on the fine grid (length k·T).
    pub s_fine: Vec<f64>,
    /// The last relaxed solution on the fine grid (in [0, 1]).
    pub relaxed: Vec<f64>,
    /// The preprocessed trace the model was fitted to (original rate).
    pub preprocessed: Vec<f64>,
    /// alpha (h * s)[k j] + b at the original rate.
    pub fit: Vec<f64>,
    /// Measured noise standard deviation of the preprocessed trace.
    pub noise_std: f64,
    /// Residual sum of squares of the final fit.
    pub rss: f64,
}

/// Decimated AR(2) operator: fine spikes (length k·T) to observed calcium (length T).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObsOp {
    pub ar: Ar2,
    pub k: usize,
}

impl ObsOp {
    /// out[j] = (h * s)[k j].
    pub fn forward(&self, s: &[f64], out: &mut [f64]) {
        let Ar2 { g1, g2, gain, .. } = self.ar;
        let k = self.k;
        let (mut c1, mut c2) = (0.0, 0.0);
        // Fine index m = k j + q; c after processing s[m] is the calcium at m + 1.
        out[0] = 0.0;
        for (j, frame) in s.chunks_exact(k).enumerate() {
            for &sv in frame {
                let c = g1 * c1 + g2 * c2 + gain * sv;
                c2 = c1;
                c1 = c;
            }
            if j + 1 < out.len() {
                out[j + 1] = c1;
            }
        }
    }

    /// out = K^T D^T r (r has length T, out length k·T).
    pub fn adjoint(&self, r: &[f64], out: &mut [f64]) {
        let Ar2 { g1, g2, gain, .. } = self.ar;
        let k = self.k;
        let t = r.len();
        let (mut q1, mut q2) = (0.0, 0.0);
        // q[m] = z[m] + g1 q[m+1] + g2 q[m+2] with z[k j] = r[j]; out[m - 1] = gain q[m].
        out[t * k - 1] = 0.0;
        for j in (0..t).rev() {
            // Fine indices k j + k - 1 down to k j (skipping m = 0, which has no out[m - 1]).
            for q in (0..k).rev() {
                let m = k * j + q;
                if m == 0 {
                    break;
                }
                let z = if q == 0 { r[j] } else { 0.0 };
                let qv = z + g1 * q1 + g2 * q2;
                out[m - 1] = gain * qv;
                q2 = q1;
                q1 = qv;
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Robust white-noise level: MAD of first differences / (0.6745 sqrt 2).
pub fn noise_std_mad(y: &[f64]) -> f64 {
    if y.len() < 3 {
        return 0.0;
    }
    let mut d: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    median(&mut d) / (0.674_489_75 * std::f64::consts::SQRT_2)
}

/// The enabled filter edges. Returns (filtered trace, noise standard deviation of that trace).
/// Drift is removed later, from the model residual (module docs, step 5).
pub fn preprocess_trace(trace: &[f64], p: &TraceParams) -> Result<(Vec<f64>, f64)> {
    let (orig, _) = p.validate()?;
    check_trace(trace)?;
    let y = trace;
    let sigma_raw = noise_std_mad(y);
    let gain = noise_power_gain(y.len(), &orig, p.hp_enabled, p.lp_enabled);
    let y = band_filter(y, &orig, p.hp_enabled, p.lp_enabled)?;
    Ok((y, sigma_raw * gain.sqrt()))
}

fn check_trace(trace: &[f64]) -> Result<()> {
    if trace.len() < MIN_TRACE_LEN {
        return Err(SolverError::TraceTooShort {
            len: trace.len(),
            min: MIN_TRACE_LEN,
        });
    }
    check_finite(trace)?;
    check_magnitude(trace)
}

/// Least-squares (alpha, b, rss) of y ~ alpha c + b given the sums over T samples.
fn ls_fit(t: f64, sy: f64, syy: f64, sc: f64, scc: f64, scy: f64) -> (f64, f64, f64) {
    let (my, mc) = (sy / t, sc / t);
    let vyy = (syy - sy * my).max(0.0);
    let vcc = scc - sc * mc;
    let vcy = scy - sc * my;
    if vcc <= 1e-300 || vcy <= 0.0 {
        return (0.0, my, vyy);
    }
    let alpha = vcy / vcc;
    (alpha, my - alpha * mc, (vyy - vcy * vcy / vcc).max(0.0))
}

/// Result of one threshold search.
#[derive(Debug, Clone)]
pub struct ThresholdChoice {
    pub threshold: f64,
    pub alpha: f64,
    pub baseline: f64,
    pub rss: f64,
    /// Binary spikes on the fine grid.
    pub s_fine: Vec<f64>,
    /// (threshold, number of spikes, rss) for every candidate, highest threshold first.
    pub candidates: Vec<(f64, usize, f64)>,
}

/// Charge per spike (in squared trace units) of the penalised rule.
pub fn spike_penalty(t: usize, noise_std: f64) -> f64 {
    PENALTY_PER_SPIKE * (t.max(2) as f64).ln() * noise_std * noise_std
}

/// Residual sum of squares the noise-floor rule accepts: the chi-square floor T sigma^2, or the
/// best attainable RSS when the model cannot reach it, plus two standard deviations of that
/// floor (2 sqrt(2/T) relative).
pub fn noise_floor_target(t: usize, noise_std: f64, best_rss: f64) -> f64 {
    let tf = t.max(1) as f64;
    (tf * noise_std * noise_std).max(best_rss) * (1.0 + 2.0 * (2.0 / tf).sqrt())
}

/// Binarise a relaxed fine solution: see the module docs, step 4.
pub fn threshold_search(
    y: &[f64],
    relaxed: &[f64],
    p: &TraceParams,
    noise_std: f64,
    mode: ThresholdMode,
) -> Result<ThresholdChoice> {
    let (_, fine) = p.validate()?;
    let k = p.upsample_factor;
    let t = y.len();
    if relaxed.len() != t * k {
        return Err(SolverError::ShapeMismatch(format!(
            "relaxed solution has {} samples, expected {} (trace length {t} x upsample_factor {k})",
            relaxed.len(),
            t * k
        )));
    }
    let op = ObsOp {
        ar: Ar2::from_params(&fine),
        k,
    };
    Ok(search(y, relaxed, &op, noise_std, mode))
}

/// Error-diffusion rounding of the relaxed solution, for every threshold `th` of `ths` at once
/// (`out[i]` for `ths[i]`): a leaky accumulator of relaxed mass (half-life one frame) emits a spike
/// when it reaches `th` and then gives back one unit. Mass split over neighbouring bins or frames
/// (sub-frame timing the data cannot resolve) becomes one spike, a bin of mass m >= th is never
/// dropped, and scattered small values (noise) leak away before they add up. The thresholds'
/// accumulators are independent, so one pass advances all of them per sample instead of waiting
/// on one accumulator's latency per threshold and sample (40 such passes were two thirds of the
/// threshold search).
fn round_spikes_all(
    relaxed: &[f64],
    k: usize,
    ths: &[f64; N_THRESHOLDS],
    out: &mut [Vec<usize>; N_THRESHOLDS],
) {
    out.iter_mut().for_each(Vec::clear);
    let rho = 0.5f64.powf(1.0 / k as f64);
    let mut acc = [0.0f64; N_THRESHOLDS];
    for (m, &v) in relaxed.iter().enumerate() {
        let mut any = false;
        for (a, th) in acc.iter_mut().zip(ths) {
            *a = *a * rho + v;
            any |= *a >= *th;
        }
        if any && v > 0.0 {
            for ((a, th), list) in acc.iter_mut().zip(ths).zip(out.iter_mut()) {
                if *a >= *th {
                    list.push(m);
                    *a -= 1.0;
                }
            }
        }
    }
}

/// Observed calcium of unit spikes at fine bins `spikes` (sorted), plus its sums with y.
fn spike_response(
    spikes: &[usize],
    k: usize,
    h: &[f64],
    y: &[f64],
    c: &mut [f64],
) -> (f64, f64, f64) {
    c.iter_mut().for_each(|v| *v = 0.0);
    let t = y.len();
    for &m in spikes {
        // A spike at fine bin m shows at fine m + l (l >= 1): frames j with k j > m.
        let mut j = m / k + 1;
        while j < t {
            let lag = k * j - m;
            if lag >= h.len() {
                break;
            }
            c[j] += h[lag];
            j += 1;
        }
    }
    c.iter().zip(y).fold((0.0, 0.0, 0.0), |acc, (cv, yv)| {
        (acc.0 + cv, acc.1 + cv * cv, acc.2 + cv * yv)
    })
}

/// The fine-rate kernel truncated for the threshold search (the sums it feeds barely change).
fn search_kernel(fine: &KernelParams) -> Vec<f64> {
    let mut h = build_kernel_validated(fine);
    let peak_idx = h
        .iter()
        .enumerate()
        .fold((0, 0.0), |b, (i, v)| if *v > b.1 { (i, *v) } else { b })
        .0;
    let cut = h[peak_idx..]
        .iter()
        .position(|v| *v < SEARCH_KERNEL_TOL)
        .map_or(h.len(), |i| i + peak_idx);
    h.truncate(cut.max(2));
    h
}

fn search(
    y: &[f64],
    relaxed: &[f64],
    op: &ObsOp,
    noise_std: f64,
    mode: ThresholdMode,
) -> ThresholdChoice {
    let k = op.k;
    let t = y.len();
    let tf = t as f64;
    let (sy, syy) = y.iter().fold((0.0, 0.0), |(a, b), v| (a + v, b + v * v));
    let (_, _, tss) = ls_fit(tf, sy, syy, 0.0, 0.0, 0.0);
    // Largest leaky-accumulated mass: thresholds span (0, min(1, that)).
    let rho = 0.5f64.powf(1.0 / k as f64);
    let top = relaxed
        .iter()
        .fold((0.0f64, 0.0f64), |(acc, mx), v| {
            let a = acc * rho + v;
            (a, mx.max(a))
        })
        .1
        .min(MAX_THRESHOLD);
    let empty = |rss| ThresholdChoice {
        threshold: 0.0,
        alpha: 0.0,
        baseline: sy / tf,
        rss,
        s_fine: vec![0.0; t * k],
        candidates: Vec::new(),
    };
    if top <= 1e-9 {
        return empty(tss);
    }
    // sum(c) and c.y of any spike set are sums of the adjoint applied to 1 and to y at its bins
    // (one O(kT) pass each); only c.c needs the forward recursion, and only when the set changed.
    let mut a1 = vec![0.0; t * k];
    let mut ay = vec![0.0; t * k];
    op.adjoint(&vec![1.0; t], &mut a1);
    op.adjoint(y, &mut ay);
    let mut c = vec![0.0; t];
    let mut s = vec![0.0; t * k];
    let mut prev: Vec<usize> = Vec::new();
    let mut scc = 0.0;
    let mut results = Vec::with_capacity(N_THRESHOLDS);
    // Highest threshold first.
    let ths: [f64; N_THRESHOLDS] =
        std::array::from_fn(|j| top * (N_THRESHOLDS - j) as f64 / (N_THRESHOLDS + 1) as f64);
    let mut rounded: [Vec<usize>; N_THRESHOLDS] = std::array::from_fn(|_| Vec::new());
    round_spikes_all(relaxed, k, &ths, &mut rounded);
    for (&th, spikes) in ths.iter().zip(&rounded) {
        let sc: f64 = spikes.iter().map(|&m| a1[m]).sum();
        let scy: f64 = spikes.iter().map(|&m| ay[m]).sum();
        if *spikes != prev {
            prev.iter().for_each(|&m| s[m] = 0.0);
            spikes.iter().for_each(|&m| s[m] += 1.0);
            op.forward(&s, &mut c);
            scc = c.iter().map(|v| v * v).sum();
            prev.clone_from(spikes);
        }
        let (alpha, b, rss) = ls_fit(tf, sy, syy, sc, scc, scy);
        results.push((th, spikes.len(), rss, alpha, b));
    }
    let pick_min = |kappa: f64| {
        results
            .iter()
            .enumerate()
            .min_by(|a, b| {
                (a.1 .2 + kappa * a.1 .1 as f64)
                    .total_cmp(&(b.1 .2 + kappa * b.1 .1 as f64))
                    .then(a.0.cmp(&b.0))
            })
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    let best = pick_min(0.0);
    let chosen = match mode {
        ThresholdMode::BestFit => best,
        ThresholdMode::Penalized => pick_min(spike_penalty(t, noise_std)),
        ThresholdMode::NoiseFloor => {
            let target = noise_floor_target(t, noise_std, results[best].2);
            // Sparsest candidate reaching the target.
            results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.2 <= target && r.1 > 0)
                .min_by(|a, b| a.1 .1.cmp(&b.1 .1).then(a.0.cmp(&b.0)))
                .map(|(i, _)| i)
                .unwrap_or(best)
        }
    };
    let (th, _, rss, alpha, b) = results[chosen];
    if alpha <= 0.0 {
        return empty(tss);
    }
    let mut s_fine = vec![0.0; t * k];
    for &m in &rounded[chosen] {
        s_fine[m] = 1.0;
    }
    ThresholdChoice {
        threshold: th,
        alpha,
        baseline: b,
        rss,
        s_fine,
        candidates: results.iter().map(|r| (r.0, r.1, r.2)).collect(),
    }
}

/// Solve one trace (f32 in, counts at the original rate out); see the module docs.
pub fn solve_trace(
    trace: &[f32],
    p: &TraceParams,
    warm_counts: Option<&[f32]>,
) -> Result<TraceSolution> {
    let y: Vec<f64> = trace.iter().map(|v| *v as f64).collect();
    let warm: Option<Vec<f64>> = warm_counts.map(|w| w.iter().map(|v| *v as f64).collect());
    Ok(solve_trace_detailed(&y, p, warm.as_deref(), ThresholdMode::default())?.solution)
}

/// [`solve_trace`] in f64 with the chosen threshold rule, returning the intermediate results.
pub fn solve_trace_detailed(
    trace: &[f64],
    p: &TraceParams,
    warm_counts: Option<&[f64]>,
    mode: ThresholdMode,
) -> Result<TraceDetail> {
    let (_, fine) = p.validate()?;
    check_trace(trace)?;
    let t = trace.len();
    let k = p.upsample_factor;
    if let Some(w) = warm_counts {
        if w.len() != t {
            return Err(SolverError::ShapeMismatch(format!(
                "warm_counts has {} samples but the trace has {t}",
                w.len()
            )));
        }
        check_finite(w)?;
    }
    if warm_counts.is_none() && k > 1 {
        // Cold start on a fine grid: the amplitude rounds start from counts at the frame rate.
        let coarse = TraceParams {
            upsample_factor: 1,
            ..*p
        };
        let first = solve_trace_detailed(trace, &coarse, None, mode)?;
        if first.solution.alpha > 0.0 {
            let counts: Vec<f64> = first.solution.s_counts.iter().map(|&c| c as f64).collect();
            let mut d = solve_trace_detailed(trace, p, Some(&counts), mode)?;
            d.solution.iterations += first.solution.iterations;
            return Ok(d);
        }
    }
    let (y_filt, sigma) = preprocess_trace(trace, p)?;
    let h = build_kernel_validated(&fine);
    let h_search = search_kernel(&fine);
    let op = ObsOp {
        ar: Ar2::from_params(&fine),
        k,
    };
    let mut ws = RelaxWork::default();
    // Observed energy of one unit spike (averaged over its sub-frame position).
    let e1 = h.iter().map(|v| v * v).sum::<f64>() / k as f64;
    let n = t * k;
    let tf = t as f64;
    let kappa = spike_penalty(t, sigma);
    let drift_window = drift_window_samples(p.tau_decay, p.fs);
    let track_drift = t >= 2 * drift_window;
    let mut y = y_filt.clone();
    let mut obs = vec![0.0; t];

    let mut x = vec![0.0; n];
    let mut alpha = 0.0;
    if let Some(w) = warm_counts {
        let w: Vec<f64> = w.iter().map(|v| v.max(0.0).round()).collect();
        let s0 = upsample_counts(&w, k)?;
        op.forward(&s0, &mut obs);
        let (sy, syy) = y.iter().fold((0.0, 0.0), |(a, b), v| (a + v, b + v * v));
        let (sc, scc, scy) = obs.iter().zip(&y).fold((0.0, 0.0, 0.0), |acc, (c, yv)| {
            (acc.0 + c, acc.1 + c * c, acc.2 + c * yv)
        });
        let (a, b, _) = ls_fit(tf, sy, syy, sc, scc, scy);
        if a > 0.0 {
            alpha = a;
            if track_drift {
                let resid: Vec<f64> = y.iter().zip(&obs).map(|(yv, c)| yv - a * c - b).collect();
                let d = rolling_quantile(&resid, drift_window, 0.5)?;
                y.iter_mut().zip(&d).for_each(|(yv, dv)| *yv -= dv);
            }
        }
    }
    if alpha <= 0.0 {
        let mut tmp = y.clone();
        let med = median(&mut tmp);
        let max = y.iter().cloned().fold(f64::MIN, f64::max);
        alpha = max - med;
    }
    if !(alpha > 0.0 && alpha.is_finite()) {
        return Ok(degenerate(y, sigma, n));
    }

    let mut iterations = 0usize;
    // Best round so far by the penalised score, with the trace it was fitted to.
    let mut best: Option<(f64, ThresholdChoice, Vec<f64>, Vec<f64>)> = None;
    let mut converged = false;
    for _round in 0..MAX_ALPHA_ROUNDS {
        let l1 = p.lambda * alpha * alpha * e1;
        let (its, conv) = relax_box(
            &y,
            &op.ar,
            k,
            alpha,
            l1,
            p.max_iters,
            p.tol,
            &mut ws,
            &mut x,
        );
        iterations += its;
        let mut ch = search(&y, &x, &op, sigma, mode);
        let pen = if mode == ThresholdMode::Penalized {
            kappa
        } else {
            0.0
        };
        polish_spikes(&y, &mut ch, k, &h_search, pen, &mut obs);
        let n_spikes = ch.s_fine.iter().filter(|v| **v > 0.0).count();
        let score = ch.rss + kappa * n_spikes as f64;
        let new_alpha = ch.alpha;
        if best.as_ref().is_some_and(|b| score > b.0 * (1.0 + 1e-9)) {
            // The alternation stopped improving the binary fit: keep the previous round.
            converged = conv;
            break;
        }
        let fitted_y = y.clone();
        if new_alpha <= 0.0 {
            best = Some((score, ch, fitted_y, x.clone()));
            converged = conv;
            break;
        }
        if track_drift {
            op.forward(&ch.s_fine, &mut obs);
            let resid: Vec<f64> = y
                .iter()
                .zip(&obs)
                .map(|(yv, c)| yv - new_alpha * c - ch.baseline)
                .collect();
            let d = rolling_quantile(&resid, drift_window, 0.5)?;
            y.iter_mut().zip(&d).for_each(|(yv, dv)| *yv -= dv);
        }
        best = Some((score, ch, fitted_y, x.clone()));
        let rel = (new_alpha - alpha).abs() / alpha;
        alpha = new_alpha;
        if rel < ALPHA_RTOL {
            converged = conv;
            break;
        }
    }
    let (_, ch, y, relaxed) = match best {
        Some(b) if b.1.alpha > 0.0 => b,
        Some((_, _, y, _)) => {
            let mut d = degenerate(y, sigma, n);
            d.solution.iterations = iterations;
            return Ok(d);
        }
        None => return Ok(degenerate(y, sigma, n)),
    };
    op.forward(&ch.s_fine, &mut obs);
    let fit: Vec<f64> = obs.iter().map(|c| ch.alpha * c + ch.baseline).collect();
    let (sy, syy) = y.iter().fold((0.0, 0.0), |(a, b), v| (a + v, b + v * v));
    let tss = (syy - sy * sy / tf).max(0.0);
    let pve = if tss > 0.0 { 1.0 - ch.rss / tss } else { 0.0 };
    let fine_kernel = KernelParams::new(p.tau_rise, p.tau_decay, p.fs * k as f64)?;
    let counts = counts_on_frames(&ch.s_fine, k, frame_centre_shift(&fine_kernel))?;
    Ok(TraceDetail {
        solution: TraceSolution {
            s_counts: counts.iter().map(|v| *v as f32).collect(),
            alpha: ch.alpha,
            baseline: ch.baseline,
            pve,
            threshold: ch.threshold,
            iterations,
            converged,
        },
        s_fine: ch.s_fine,
        relaxed,
        preprocessed: y,
        fit,
        noise_std: sigma,
        rss: ch.rss,
    })
}

/// Local search on the binary solution: move each spike one fine bin earlier or later, or drop it,
/// whenever that lowers RSS (+ `penalty` per spike), with alpha and b fixed; then re-fit alpha and
/// b. Rounding a relaxed solution is often one bin off where noise split a spike's mass, and each
/// such error costs a whole rising edge of residual.
fn polish_spikes(
    y: &[f64],
    ch: &mut ThresholdChoice,
    k: usize,
    h: &[f64],
    penalty: f64,
    c: &mut [f64],
) {
    let t = y.len();
    let n = t * k;
    if ch.alpha <= 0.0 {
        return;
    }
    let alpha = ch.alpha;
    let mut spikes: Vec<usize> = (0..n).filter(|&m| ch.s_fine[m] > 0.0).collect();
    spike_response(&spikes, k, h, y, c);
    // Residual r = y - alpha c - b.
    let mut r: Vec<f64> = y
        .iter()
        .zip(c.iter())
        .map(|(yv, cv)| yv - alpha * cv - ch.baseline)
        .collect();
    // The observed response of a unit spike at fine bin m starts at frame m / k + 1.
    // d RSS when adding `sign` x alpha x response(m) to the fit.
    let delta = |r: &[f64], m: usize, sign: f64| -> f64 {
        let mut d = 0.0;
        let mut j = m / k + 1;
        while j < t && k * j - m < h.len() {
            let e = sign * alpha * h[k * j - m];
            d += -2.0 * r[j] * e + e * e;
            j += 1;
        }
        d
    };
    let apply = |r: &mut [f64], m: usize, sign: f64| {
        let mut j = m / k + 1;
        while j < t && k * j - m < h.len() {
            r[j] -= sign * alpha * h[k * j - m];
            j += 1;
        }
    };
    let mut occupied = ch.s_fine.clone();
    for _pass in 0..3 {
        let mut changed = false;
        for slot in spikes.iter_mut() {
            let m = *slot;
            if m == usize::MAX {
                continue;
            }
            // Remove first, then try to re-insert one bin either side.
            let d_remove = delta(&r, m, -1.0);
            apply(&mut r, m, -1.0);
            let mut best = (d_remove - penalty, None);
            for cand in [m.wrapping_sub(1), m + 1] {
                if cand >= n || occupied[cand] > 0.0 {
                    continue;
                }
                let d = d_remove + delta(&r, cand, 1.0);
                if d < best.0 {
                    best = (d, Some(cand));
                }
            }
            // Staying put has change 0.
            let d_stay = d_remove + delta(&r, m, 1.0);
            if best.0 < d_stay.min(0.0) - 1e-12 {
                occupied[m] = 0.0;
                match best.1 {
                    Some(cand) => {
                        apply(&mut r, cand, 1.0);
                        occupied[cand] = 1.0;
                        *slot = cand;
                    }
                    None => *slot = usize::MAX,
                }
                changed = true;
            } else {
                apply(&mut r, m, 1.0);
            }
        }
        if !changed {
            break;
        }
    }
    spikes.retain(|m| *m != usize::MAX);
    spikes.sort_unstable();
    let tf = t as f64;
    let (sy, syy) = y.iter().fold((0.0, 0.0), |(a, b), v| (a + v, b + v * v));
    let (sc, scc, scy) = spike_response(&spikes, k, h, y, c);
    let (a, b, rss) = ls_fit(tf, sy, syy, sc, scc, scy);
    if a > 0.0
        && rss <= ch.rss + penalty * (ch.s_fine.iter().sum::<f64>() - spikes.len() as f64) + 1e-12
    {
        ch.alpha = a;
        ch.baseline = b;
        ch.rss = rss;
        ch.s_fine.iter_mut().for_each(|v| *v = 0.0);
        for m in spikes {
            ch.s_fine[m] = 1.0;
        }
    }
}

/// No detectable activity: zero spikes, the mean as baseline.
fn degenerate(y: Vec<f64>, sigma: f64, n: usize) -> TraceDetail {
    let t = y.len();
    let b = y.iter().sum::<f64>() / t as f64;
    let rss = y.iter().map(|v| (v - b) * (v - b)).sum();
    TraceDetail {
        solution: TraceSolution {
            s_counts: vec![0.0; t],
            alpha: 0.0,
            baseline: b,
            pve: 0.0,
            threshold: 0.0,
            iterations: 0,
            converged: true,
        },
        s_fine: vec![0.0; n],
        relaxed: vec![0.0; n],
        fit: vec![b; t],
        preprocessed: y,
        noise_std: sigma,
        rss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `amplitude` times the kernel (tau 0.05 / 0.5 s) of unit spikes at frames `at`, plus
    /// `baseline` and a deterministic +-6 `noise` pattern, at `fs`; and those spikes.
    fn synthetic_trace(
        fs: f64,
        t: usize,
        at: &[usize],
        amplitude: f64,
        baseline: f64,
        noise: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let op = ObsOp {
            ar: Ar2::from_params(&KernelParams::new(0.05, 0.5, fs).unwrap()),
            k: 1,
        };
        let mut s = vec![0.0; t];
        at.iter().for_each(|&i| s[i] = 1.0);
        let mut c = vec![0.0; t];
        op.forward(&s, &mut c);
        let y = c
            .iter()
            .enumerate()
            .map(|(i, v)| amplitude * v + baseline + noise * (((i * 7919) % 13) as f64 - 6.0))
            .collect();
        (y, s)
    }

    #[test]
    fn obs_operator_is_adjoint_and_matches_kernel() {
        let fine = KernelParams::new(0.05, 0.5, 90.0).unwrap();
        let k = 3;
        let op = ObsOp {
            ar: Ar2::from_params(&fine),
            k,
        };
        let t = 200;
        let s: Vec<f64> = (0..t * k)
            .map(|i| if i % 41 == 0 { 1.0 } else { 0.0 })
            .collect();
        let r: Vec<f64> = (0..t).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let mut a = vec![0.0; t];
        op.forward(&s, &mut a);
        let h = build_kernel_validated(&fine);
        for j in 0..t {
            let direct: f64 = (0..t * k)
                .filter(|&m| m < k * j && k * j - m < h.len())
                .map(|m| s[m] * h[k * j - m])
                .sum();
            assert!((direct - a[j]).abs() < 1e-6, "{j}: {direct} {}", a[j]);
        }
        let mut b = vec![0.0; t * k];
        op.adjoint(&r, &mut b);
        let lhs: f64 = a.iter().zip(&r).map(|(x, y)| x * y).sum();
        let rhs: f64 = s.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0));
    }

    /// The rounding rule of [`round_spikes_all`] for one threshold, written plainly.
    fn round_spikes(relaxed: &[f64], k: usize, th: f64, out: &mut Vec<usize>) {
        out.clear();
        let rho = 0.5f64.powf(1.0 / k as f64);
        let mut acc = 0.0;
        for (m, &v) in relaxed.iter().enumerate() {
            acc = acc * rho + v;
            if acc >= th && v > 0.0 {
                out.push(m);
                acc -= 1.0;
            }
        }
    }

    #[test]
    fn one_pass_rounding_matches_rounding_each_threshold() {
        // Mass in bursts, lone values and dust, as a relaxation leaves it.
        let relaxed: Vec<f64> = (0..3000)
            .map(|i| match (i * 7919) % 97 {
                0..=9 => ((i * 31) % 100) as f64 / 100.0,
                10 => 1.0,
                11..=14 => 0.05,
                _ => 1e-7 * ((i % 5) as f64),
            })
            .collect();
        for k in [1usize, 3] {
            let ths: [f64; N_THRESHOLDS] = std::array::from_fn(|j| {
                2.0 * (N_THRESHOLDS - j) as f64 / (N_THRESHOLDS + 1) as f64
            });
            let mut all: [Vec<usize>; N_THRESHOLDS] = std::array::from_fn(|_| Vec::new());
            round_spikes_all(&relaxed, k, &ths, &mut all);
            let mut one = Vec::new();
            let mut distinct = std::collections::BTreeSet::new();
            for (th, got) in ths.iter().zip(&all) {
                round_spikes(&relaxed, k, *th, &mut one);
                assert_eq!(got, &one, "k {k}, threshold {th}");
                distinct.insert(one.len());
            }
            assert!(
                distinct.len() > 5,
                "the thresholds should give different spike sets"
            );
        }
    }

    #[test]
    fn recovers_clean_spikes() {
        let fs = 30.0;
        let p = TraceParams::new(0.05, 0.5, fs);
        let (y, s) = synthetic_trace(fs, 900, &[30, 100, 250, 251, 400, 700], 2.0, 1.0, 1e-3);
        let d = solve_trace_detailed(&y, &p, None, ThresholdMode::NoiseFloor).unwrap();
        let counts: Vec<f64> = d.solution.s_counts.iter().map(|v| *v as f64).collect();
        assert_eq!(counts, s);
        assert!(
            (d.solution.alpha - 2.0).abs() < 0.02,
            "{}",
            d.solution.alpha
        );
        assert!((d.solution.baseline - 1.0).abs() < 0.02);
        assert!(d.solution.pve > 0.99);
    }

    #[test]
    fn cold_fine_grid_solve_starts_from_the_frame_rate_counts() {
        let fs = 30.0;
        let (y, _) = synthetic_trace(fs, 600, &[40, 130, 131, 300, 480], 1.5, 0.2, 0.02);
        let fine = TraceParams {
            upsample_factor: 3,
            ..TraceParams::new(0.05, 0.5, fs)
        };
        let mode = ThresholdMode::default();
        let cold = solve_trace_detailed(&y, &fine, None, mode).unwrap();
        // The same as: solve at the frame rate, then warm-start the fine grid from its counts.
        let frame_rate = TraceParams {
            upsample_factor: 1,
            ..fine
        };
        let first = solve_trace_detailed(&y, &frame_rate, None, mode).unwrap();
        assert!(first.solution.alpha > 0.0);
        let counts: Vec<f64> = first.solution.s_counts.iter().map(|&v| v as f64).collect();
        let warm = solve_trace_detailed(&y, &fine, Some(&counts), mode).unwrap();
        assert_eq!(cold.solution.s_counts, warm.solution.s_counts);
        assert_eq!(cold.solution.alpha, warm.solution.alpha);
        assert_eq!(cold.s_fine, warm.s_fine);
        assert_eq!(
            cold.solution.iterations,
            first.solution.iterations + warm.solution.iterations
        );
        let found: f32 = cold.solution.s_counts.iter().sum();
        assert_eq!(found, 5.0);
    }
}
