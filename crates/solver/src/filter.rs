//! Bandpass filter whose band follows the kernel: it keeps the frequencies a calcium transient
//! with these time constants occupies and removes slow drift below them and fast noise above.
//!
//! Cutoffs: f_hp = HP_FRACTION / (2 pi tau_decay) (well below the decay corner, so transients keep
//! their shape) and f_lp = LP_MULTIPLE / (2 pi tau_rise) (above the rise corner). Each edge is a
//! raised-cosine transition one octave wide (from f_hp/2 to f_hp, and from f_lp to 2 f_lp). The
//! low-pass is skipped when f_lp is at or above Nyquist. The trace is mirror-extended before the
//! FFT so its ends do not wrap into each other, and the mean is kept so the baseline stays readable.

use crate::error::{check_finite, Result, SolverError};
use crate::kernel::KernelParams;
use realfft::RealFftPlanner;
use std::f64::consts::PI;

pub const HP_FRACTION: f64 = 0.25;
pub const LP_MULTIPLE: f64 = 2.0;

/// (f_hp, f_lp) in Hz; f_lp may exceed Nyquist, in which case no low-pass is applied.
pub fn filter_cutoffs(p: &KernelParams) -> (f64, f64) {
    (
        HP_FRACTION / (2.0 * PI * p.tau_decay),
        LP_MULTIPLE / (2.0 * PI * p.tau_rise),
    )
}

/// Gain of the filter at frequency f (Hz).
pub fn filter_gain(f: f64, f_hp: f64, f_lp: f64, nyquist: f64) -> f64 {
    edge_gain(f, f_hp, f_lp, nyquist, true, true)
}

/// Gain with either edge switched off (`high_pass`/`low_pass` false leaves that side flat).
pub fn edge_gain(
    f: f64,
    f_hp: f64,
    f_lp: f64,
    nyquist: f64,
    high_pass: bool,
    low_pass: bool,
) -> f64 {
    let ramp = |x: f64| 0.5 - 0.5 * (PI * x.clamp(0.0, 1.0)).cos(); // 0 -> 1
    let hp = if high_pass {
        ramp((f - 0.5 * f_hp) / (0.5 * f_hp))
    } else {
        1.0
    };
    let lp = if !low_pass || f_lp >= nyquist {
        1.0
    } else {
        1.0 - ramp((f - f_lp) / f_lp)
    };
    hp * lp
}

/// Apply the kernel-derived bandpass to `trace`.
pub fn bandpass_filter(trace: &[f64], p: &KernelParams) -> Result<Vec<f64>> {
    band_filter(trace, p, true, true)
}

/// Apply only the chosen edges of the kernel-derived band (InDeCa toggles them separately).
/// With both edges on this is [`bandpass_filter`]; with neither it returns the trace unchanged.
pub fn band_filter(
    trace: &[f64],
    p: &KernelParams,
    high_pass: bool,
    low_pass: bool,
) -> Result<Vec<f64>> {
    p.validate()?;
    check_finite(trace)?;
    let n = trace.len();
    if n < 4 {
        return Err(SolverError::TraceTooShort { len: n, min: 4 });
    }
    if !(high_pass || low_pass) {
        return Ok(trace.to_vec());
    }
    let mean = trace.iter().sum::<f64>() / n as f64;
    // Even (mirror) extension to 2n: continuous at both ends, so no wrap-around step.
    let m = 2 * n;
    let mut buf: Vec<f64> = trace
        .iter()
        .chain(trace.iter().rev())
        .map(|v| v - mean)
        .collect();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(m);
    let inv = planner.plan_fft_inverse(m);
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut buf, &mut spec)
        .map_err(|e| SolverError::InvalidState(e.to_string()))?;
    let (f_hp, f_lp) = filter_cutoffs(p);
    let nyquist = 0.5 * p.fs;
    for (k, c) in spec.iter_mut().enumerate() {
        let f = k as f64 * p.fs / m as f64;
        *c *= edge_gain(f, f_hp, f_lp, nyquist, high_pass, low_pass) / m as f64;
    }
    spec[0].im = 0.0;
    let last = spec.len() - 1;
    spec[last].im = 0.0;
    inv.process(&mut spec, &mut buf)
        .map_err(|e| SolverError::InvalidState(e.to_string()))?;
    Ok(buf[..n].iter().map(|v| v + mean).collect())
}

/// Fraction of white-noise variance that [`band_filter`] lets through on an n-sample trace
/// (mean squared gain over the frequencies of the mirror-extended FFT).
pub fn noise_power_gain(n: usize, p: &KernelParams, high_pass: bool, low_pass: bool) -> f64 {
    if n < 4 || !(high_pass || low_pass) {
        return 1.0;
    }
    let m = 2 * n;
    let (f_hp, f_lp) = filter_cutoffs(p);
    let nyquist = 0.5 * p.fs;
    // Two-sided mean over the m DFT bins; bins k and m - k share a gain.
    let mut total = 0.0;
    for k in 0..m {
        let kk = k.min(m - k);
        let g = edge_gain(
            kk as f64 * p.fs / m as f64,
            f_hp,
            f_lp,
            nyquist,
            high_pass,
            low_pass,
        );
        total += g * g;
    }
    total / m as f64
}

/// One-sided power spectrum |X_k|^2 / n of the trace (mean removed), k = 0..=n/2.
pub fn power_spectrum(trace: &[f64]) -> Vec<f64> {
    let n = trace.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let mean = trace.iter().sum::<f64>() / n as f64;
    let mut buf: Vec<f64> = trace.iter().map(|v| v - mean).collect();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let mut spec = fwd.make_output_vec();
    if fwd.process(&mut buf, &mut spec).is_err() {
        return vec![0.0; n / 2 + 1];
    }
    spec.iter().map(|c| c.norm_sqr() / n as f64).collect()
}

/// Frequencies (Hz) matching [`power_spectrum`] for a trace of n samples.
pub fn spectrum_frequencies(n: usize, fs: f64) -> Vec<f64> {
    if n < 2 {
        return vec![0.0; n];
    }
    (0..=n / 2).map(|k| k as f64 * fs / n as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_drift_and_keeps_transients() {
        let p = KernelParams::new(0.05, 0.5, 30.0).unwrap();
        let n = 3000;
        let h = crate::kernel::build_kernel(0.05, 0.5, 30.0).unwrap();
        let mut clean = vec![0.0; n];
        for s in (100..n).step_by(300) {
            for (k, hv) in h.iter().enumerate() {
                if s + k < n {
                    clean[s + k] += hv;
                }
            }
        }
        let drift: Vec<f64> = (0..n)
            .map(|t| 3.0 * (2.0 * PI * t as f64 / (30.0 * 200.0)).sin())
            .collect();
        let y: Vec<f64> = clean.iter().zip(&drift).map(|(a, b)| a + b).collect();
        let f = bandpass_filter(&y, &p).unwrap();
        let err_before: f64 = y.iter().zip(&clean).map(|(a, b)| (a - b).powi(2)).sum();
        let mean_c = clean.iter().sum::<f64>() / n as f64;
        let mean_f = f.iter().sum::<f64>() / n as f64;
        let err_after: f64 = f
            .iter()
            .zip(&clean)
            .map(|(a, b)| (a - mean_f - (b - mean_c)).powi(2))
            .sum();
        assert!(err_after < 0.05 * err_before, "{err_after} vs {err_before}");
    }

    #[test]
    fn gain_is_a_band() {
        let (hp, lp) = (0.1, 5.0);
        assert_eq!(filter_gain(0.0, hp, lp, 15.0), 0.0);
        assert!((filter_gain(1.0, hp, lp, 15.0) - 1.0).abs() < 1e-12);
        assert_eq!(filter_gain(11.0, hp, lp, 15.0), 0.0);
        assert!((filter_gain(14.0, hp, 20.0, 15.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn spectrum_peaks_at_tone() {
        let n = 1000;
        let y: Vec<f64> = (0..n)
            .map(|t| (2.0 * PI * 3.0 * t as f64 / 30.0).sin())
            .collect();
        let ps = power_spectrum(&y);
        let fr = spectrum_frequencies(n, 30.0);
        let k = ps
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.partial_cmp(b.1).unwrap())
            .unwrap()
            .0;
        assert!((fr[k] - 3.0).abs() < 0.05);
    }
}
