//! Parameters chosen from the data, for the automatic path (`run_deconvolution(traces, fs)`).
//!
//! Kinetics from the data: [`estimate_kinetics`] runs the InDeCa outer loop
//! ([`crate::indeca::run::IndecaRun`], binary spikes with a fitted amplitude, so a faster kernel
//! cannot win by splitting events into more, smaller spikes) on the recording normalised to
//! zero median and unit noise, and keeps its final kernel when it is physically plausible; when
//! it is not, it says why and falls back (see [`KineticsEstimate::warnings`]).
//!
//! Sparsity from the noise: in min 1/2 ||y - K s - b||^2 + lambda G ||s||_1 (G the kernel's DC
//! gain), activity stays zero wherever the matched filter K^T (y - b) is below lambda G. On pure
//! noise of standard deviation sigma that filter output has standard deviation sigma ||h||_2 at
//! every lag, so lambda = [`NOISE_LAMBDA_SIGMAS`] sigma ||h||_2 / G is a detection threshold of
//! that many noise standard deviations: the same lambda means the same evidence per event on
//! dF/F and on raw fluorescence, at any frame rate and for any kernel.

use serde::Serialize;

use crate::error::{Result, SolverError};
use crate::indeca::config::IndecaConfig;
use crate::indeca::run::IndecaRun;
use crate::kernel::{build_kernel_validated, Ar2, KernelParams};
use crate::solver::{DEFAULT_TAU_DECAY, DEFAULT_TAU_RISE};

/// Decay times (s) a calcium indicator in a cell can plausibly have: from the fastest GCaMP8
/// variants (about 50 ms) to slow dyes and indicators measured in dendrites or in bursts (a few
/// seconds). A learned value outside is clamped into the range, with a warning.
pub const TAU_DECAY_RANGE: (f64, f64) = (0.03, 5.0);
/// A rise slower than this fraction of the decay is not a calcium transient's shape.
pub const MAX_RISE_FRACTION: f64 = 0.5;

/// Kinetics learned from a recording, with what the caller should know about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KineticsEstimate {
    /// Rise and decay time constants (s) to use.
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// What the loop learned, before any correction.
    pub learned_tau_rise: f64,
    pub learned_tau_decay: f64,
    /// "good", "fair" or "poor": R^2 of the bi-exponential fit to the learned free-form kernel.
    pub fit_quality: String,
    pub kernel_r2: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Why the result is not simply the learned kernel, or why it should be checked; empty when
    /// nothing is in doubt.
    pub warnings: Vec<String>,
}

/// Detection threshold of the automatic sparsity, in noise standard deviations of the matched
/// filter. Two: on the real recordings of `benchmarks/bench_groundtruth.py` 1 to 3 score within
/// a few hundredths of each other, and 2 is the middle of that plateau.
pub const NOISE_LAMBDA_SIGMAS: f64 = 2.0;

/// The lambda of the automatic path for a trace of noise `sigma` (trace units).
pub fn lambda_from_noise(sigma: f64, p: &KernelParams) -> Result<f64> {
    if !sigma.is_finite() || sigma < 0.0 {
        return Err(SolverError::param(
            "noise",
            sigma,
            "must be a finite standard deviation >= 0",
        ));
    }
    Ok(NOISE_LAMBDA_SIGMAS * sigma * kernel_norm_ratio(p))
}

/// ||h||_2 / G_dc of the peak-normalised kernel.
pub fn kernel_norm_ratio(p: &KernelParams) -> f64 {
    let h = build_kernel_validated(p);
    let norm = h.iter().map(|v| v * v).sum::<f64>().sqrt();
    norm / Ar2::from_params(p).dc_gain
}

/// Learn (tau_rise, tau_decay) from a cells x time recording (row-major `traces`).
///
/// Each row is shifted to median 0 and divided by its noise sigma first, so offsets and units of
/// the data (dF/F, raw F, neuropil-subtracted) change nothing, and rows count by their
/// signal-to-noise ratio. `config` is InDeCa's (the defaults suit); its seed makes the estimate
/// reproducible.
pub fn estimate_kinetics(
    traces: &[f64],
    n_cells: usize,
    n_time: usize,
    fs: f64,
    config: &IndecaConfig,
) -> Result<KineticsEstimate> {
    if traces.len() != n_cells.saturating_mul(n_time) || n_cells == 0 {
        return Err(SolverError::ShapeMismatch(format!(
            "traces hold {} samples, expected n_cells * n_time = {n_cells} * {n_time} (n_cells > 0)",
            traces.len()
        )));
    }
    crate::error::check_finite(traces)?;
    // IndecaRun normalises rows too, but in f32: done here in f64 first, a large offset (raw F)
    // loses no precision on the way.
    let mut normalised = Vec::with_capacity(traces.len());
    for row in traces.chunks_exact(n_time.max(1)) {
        let mut sorted = row.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let median = sorted[sorted.len() / 2];
        let sigma = if row.len() >= 3 {
            crate::noise::estimate_noise(row)?
        } else {
            0.0
        };
        let scale = if sigma > 0.0 { 1.0 / sigma } else { 1.0 };
        normalised.extend(row.iter().map(|v| ((v - median) * scale) as f32));
    }
    let mut run = match IndecaRun::new(&normalised, n_cells, n_time, fs, config.clone()) {
        Ok(run) => run,
        // Nothing that looks like a transient to learn from (the seed needs a few).
        Err(SolverError::InvalidParameter { name: "traces", .. })
            if config.tau_rise_init.is_none() =>
        {
            let mut est = plausible(
                DEFAULT_TAU_RISE,
                DEFAULT_TAU_DECAY,
                fs,
                "poor".into(),
                0.0,
                0,
                false,
            );
            est.warnings = vec![format!(
                "no clear calcium transients to learn the kernel from (fewer than 3 rising 5 \
                 noise sigmas above the median); using the defaults tau_rise = \
                 {DEFAULT_TAU_RISE} s, tau_decay = {DEFAULT_TAU_DECAY} s"
            )];
            return Ok(est);
        }
        Err(e) => return Err(e),
    };
    while !run.is_done() {
        run.step()?;
    }
    let r = run.result();
    Ok(plausible(
        r.tau_rise,
        r.tau_decay,
        fs,
        r.fit_quality,
        r.kernel_r2,
        r.iterations,
        r.converged,
    ))
}

/// Apply the plausibility rules of [`estimate_kinetics`] to a learned kernel.
pub fn plausible(
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
    fit_quality: String,
    kernel_r2: f64,
    iterations: usize,
    converged: bool,
) -> KineticsEstimate {
    let mut warnings = Vec::new();
    let (lo, hi) = TAU_DECAY_RANGE;
    let mut td = tau_decay;
    if !td.is_finite() || td < lo || td > hi {
        let fixed = if td.is_finite() {
            td.clamp(lo, hi)
        } else {
            0.4
        };
        warnings.push(format!(
            "learned tau_decay {td:.3} s is outside the plausible {lo}-{hi} s; using {fixed:.3} s"
        ));
        td = fixed;
    }
    let mut tr = tau_rise;
    let max_rise = MAX_RISE_FRACTION * td;
    if !tr.is_finite() || tr <= 0.0 || tr > max_rise {
        let fixed = if tr.is_finite() && tr > 0.0 {
            max_rise
        } else {
            (0.05 * td).max(0.1 / fs)
        };
        warnings.push(format!(
            "learned tau_rise {tr:.4} s is not below {MAX_RISE_FRACTION} x tau_decay; using {fixed:.4} s"
        ));
        tr = fixed;
    }
    if fit_quality == "poor" {
        warnings.push(format!(
            "the learned kernel is a poor bi-exponential (R^2 {kernel_r2:.2}): the recording may \
             hold too few clear transients; check the kinetics or set them"
        ));
    }
    if !converged {
        warnings.push(format!(
            "the kernel was still changing after {iterations} iterations"
        ));
    }
    KineticsEstimate {
        tau_rise: tr,
        tau_decay: td,
        learned_tau_rise: tau_rise,
        learned_tau_decay: tau_decay,
        fit_quality,
        kernel_r2,
        iterations,
        converged,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_scales_with_the_noise_and_is_kernel_aware() {
        let p = KernelParams::new(0.02, 0.4, 30.0).unwrap();
        let a = lambda_from_noise(0.1, &p).unwrap();
        assert!((lambda_from_noise(0.2, &p).unwrap() / a - 2.0).abs() < 1e-12);
        assert_eq!(lambda_from_noise(0.0, &p).unwrap(), 0.0);
        // A slower kernel spreads a spike over more samples: relatively less norm per area.
        let slow = KernelParams::new(0.1, 1.6, 30.0).unwrap();
        assert!(lambda_from_noise(0.1, &slow).unwrap() < a);
        assert!(lambda_from_noise(f64::NAN, &p).is_err());
    }

    #[test]
    fn implausible_kernels_are_corrected_with_a_reason() {
        let ok = plausible(0.02, 0.4, 30.0, "good".into(), 0.99, 5, true);
        assert!(ok.warnings.is_empty());
        assert_eq!((ok.tau_rise, ok.tau_decay), (0.02, 0.4));
        let slow = plausible(0.5, 80.0, 15.0, "poor".into(), 0.3, 20, false);
        assert_eq!(slow.tau_decay, TAU_DECAY_RANGE.1);
        assert!(slow.tau_rise < slow.tau_decay);
        assert_eq!(slow.learned_tau_decay, 80.0);
        assert_eq!(slow.warnings.len(), 2 + 1); // decay, poor fit, not converged
        let flat = plausible(0.4, 0.4, 30.0, "fair".into(), 0.9, 5, true);
        assert!(flat.tau_rise <= MAX_RISE_FRACTION * flat.tau_decay);
        assert_eq!(flat.warnings.len(), 1);
    }

    #[test]
    fn pure_noise_falls_back_to_the_defaults_with_a_reason() {
        let mut x = 12345u64;
        let noise: Vec<f64> = (0..4 * 2000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect();
        let est = estimate_kinetics(&noise, 4, 2000, 30.0, &IndecaConfig::default()).unwrap();
        assert_eq!(
            (est.tau_rise, est.tau_decay),
            (DEFAULT_TAU_RISE, DEFAULT_TAU_DECAY)
        );
        assert_eq!(est.warnings.len(), 1);
        assert!(est.warnings[0].contains("no clear calcium transients"));
    }

    #[test]
    fn learns_simulated_kinetics_and_ignores_offset_and_scale() {
        let mut cfg = crate::simulate::preset("gcamp6f").unwrap();
        cfg.num_cells = 8;
        cfg.num_timepoints = 4000;
        cfg.seed = 5;
        let sim = crate::simulate::simulate(&cfg).unwrap();
        let traces = sim.traces.clone();
        let ic = IndecaConfig {
            max_iterations: 6,
            upsample_target: None,
            ..IndecaConfig::default()
        };
        let a = estimate_kinetics(&traces, 8, 4000, cfg.fs, &ic).unwrap();
        assert!((a.tau_decay / 0.4 - 1.0).abs() < 0.5, "{a:?}");
        let shifted: Vec<f64> = traces.iter().map(|v| 1e4 * v + 1e7).collect();
        let b = estimate_kinetics(&shifted, 8, 4000, cfg.fs, &ic).unwrap();
        assert!(
            (a.tau_decay - b.tau_decay).abs() < 1e-3 * a.tau_decay,
            "{a:?} {b:?}"
        );
        assert!((a.tau_rise - b.tau_rise).abs() < 1e-3 * a.tau_rise.max(1e-3));
    }
}
