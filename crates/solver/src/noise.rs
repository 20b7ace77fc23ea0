//! Noise level of a fluorescence trace, from the upper half of its spectrum.
//!
//! Calcium transients put their power at low frequencies (below about 1 / (2 pi tau_rise)); what
//! remains between a quarter and a half of the sampling rate is, to a good approximation, the
//! white measurement noise. The estimate (as in CaImAn's and OASIS's noise estimators) is the
//! average power in that band of Hann-windowed segments of [`SEGMENT_LEN`] samples with half
//! overlap; taking the median over segments, not the mean, keeps a few segments full of bursts
//! from inflating it. The result is the noise standard deviation per sample, in trace units, and
//! does not depend on the frame rate (the band is a fixed fraction of it).
//!
//! Traces shorter than [`MIN_SPECTRAL_LEN`] samples have too few frequencies in the band; for
//! them the estimate is the median absolute first difference / (0.6745 sqrt 2).

use crate::error::{check_finite, Result, SolverError};
use realfft::RealFftPlanner;
use std::f64::consts::PI;

/// Samples per Welch segment (or the whole trace when it is shorter).
pub const SEGMENT_LEN: usize = 256;
/// Below this many samples the first-difference estimate is used.
pub const MIN_SPECTRAL_LEN: usize = 32;
/// The noise band, as fractions of the sampling rate.
pub const BAND_LOW: f64 = 0.25;
pub const BAND_HIGH: f64 = 0.5;

/// Noise standard deviation of one trace (trace units per sample).
pub fn estimate_noise(trace: &[f64]) -> Result<f64> {
    let n = trace.len();
    if n < 3 {
        return Err(SolverError::TraceTooShort { len: n, min: 3 });
    }
    check_finite(trace)?;
    if n < MIN_SPECTRAL_LEN {
        return Ok(first_difference_noise(trace));
    }
    let len = SEGMENT_LEN.min(n);
    let hop = (len / 2).max(1);
    let window: Vec<f64> = (0..len)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * (i as f64 + 0.5) / len as f64).cos())
        .collect();
    let window_energy: f64 = window.iter().map(|w| w * w).sum();
    let lo = (BAND_LOW * len as f64).ceil() as usize;
    let hi = ((BAND_HIGH * len as f64).floor() as usize).min(len / 2);
    // The Nyquist bin of an even-length real FFT carries half the weight of the others.
    let bins: Vec<(usize, f64)> = (lo.max(1)..=hi)
        .map(|k| (k, if 2 * k == len { 0.5 } else { 1.0 }))
        .collect();
    let weight: f64 = bins.iter().map(|(_, w)| w).sum();

    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(len);
    let mut buf = vec![0.0; len];
    let mut spec = fft.make_output_vec();
    let mut powers = Vec::with_capacity((n - len) / hop + 1);
    let mut start = 0;
    loop {
        let seg = &trace[start..start + len];
        let mean = seg.iter().sum::<f64>() / len as f64;
        for ((b, &v), w) in buf.iter_mut().zip(seg).zip(&window) {
            *b = (v - mean) * w;
        }
        fft.process(&mut buf, &mut spec)
            .map_err(|e| SolverError::InvalidState(e.to_string()))?;
        // For white noise of variance s2, E|X_k|^2 = s2 * sum(w^2) at every bin 0 < k < len/2.
        let band: f64 = bins
            .iter()
            .map(|&(k, w)| w * spec[k].norm_sqr())
            .sum::<f64>();
        powers.push(band / (weight * window_energy));
        if start + len >= n {
            break;
        }
        start = (start + hop).min(n - len);
    }
    let var = median(&mut powers);
    Ok(var.max(0.0).sqrt())
}

/// Median absolute first difference / (0.6745 sqrt 2): the noise sd if the signal is smooth.
fn first_difference_noise(trace: &[f64]) -> f64 {
    let mut d: Vec<f64> = trace.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    median(&mut d) / (0.674_489_750_196_081_7 * std::f64::consts::SQRT_2)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn white(n: usize, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let d = Normal::new(0.0, sd).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn recovers_white_noise_sd() {
        for &(n, sd) in &[
            (100usize, 0.3),
            (1000, 1.0),
            (20_000, 0.05),
            (40, 2.0),
            (10, 1.0),
        ] {
            let est = estimate_noise(&white(n, sd, n as u64)).unwrap();
            let tol = if n >= 1000 { 0.05 } else { 0.35 };
            assert!((est / sd - 1.0).abs() < tol, "n {n}: {est} vs {sd}");
        }
    }

    #[test]
    fn ignores_slow_signal_and_offsets() {
        let n = 9000;
        let noise = white(n, 0.1, 3);
        let slow: Vec<f64> = (0..n)
            .map(|i| 500.0 + 3.0 * (i as f64 / 400.0).sin() + if i % 900 < 30 { 2.0 } else { 0.0 })
            .collect();
        let y: Vec<f64> = noise.iter().zip(&slow).map(|(a, b)| a + b).collect();
        let est = estimate_noise(&y).unwrap();
        assert!((est / 0.1 - 1.0).abs() < 0.1, "{est}");
        // Scale equivariance: the estimate is in trace units.
        let scaled: Vec<f64> = y.iter().map(|v| v * 1e4).collect();
        let est_scaled = estimate_noise(&scaled).unwrap();
        assert!((est_scaled / (est * 1e4) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn refuses_what_it_cannot_measure() {
        assert_eq!(
            estimate_noise(&[1.0, 2.0]).unwrap_err().code(),
            "TRACE_TOO_SHORT"
        );
        let mut y = white(500, 1.0, 1);
        y[7] = f64::NAN;
        assert_eq!(estimate_noise(&y).unwrap_err().code(), "NON_FINITE_INPUT");
        assert_eq!(estimate_noise(&[4.0; 300]).unwrap(), 0.0);
    }
}
