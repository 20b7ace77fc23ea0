//! Slow-drift removal for real recordings: a rolling low quantile of the trace.
//!
//! Calcium transients only ever push fluorescence up, so a low quantile over a window much longer
//! than the decay tracks the resting level under them. Computing an exact rolling quantile at every
//! sample costs O(T W); instead the quantile is taken on windows centred every W/8 samples and
//! linearly interpolated in between, O(8 T) with `select_nth_unstable`. The solver's own scalar
//! baseline still absorbs the constant offset, so only the drift's shape is removed.

use crate::error::{check_finite, Result, SolverError};

/// Window as a multiple of tau_decay...
pub const DRIFT_WINDOW_TAUS: f64 = 15.0;
/// ...but never shorter than this many seconds.
pub const DRIFT_MIN_WINDOW_S: f64 = 10.0;
/// Which low quantile tracks the resting level.
pub const DRIFT_QUANTILE: f64 = 0.1;

/// Rolling `quantile` of `trace` over `window` samples, interpolated between block centres.
pub fn rolling_quantile(trace: &[f64], window: usize, quantile: f64) -> Result<Vec<f64>> {
    check_finite(trace)?;
    if !(0.0..=1.0).contains(&quantile) {
        return Err(SolverError::param(
            "quantile",
            quantile,
            "must lie in [0, 1]",
        ));
    }
    let n = trace.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let window = window.clamp(1, n);
    let block = (window / 8).max(1);
    let half = window / 2;
    let mut centres = Vec::new();
    let mut values = Vec::new();
    let mut scratch = Vec::with_capacity(window + 1);
    let mut c = block / 2;
    while c < n {
        let lo = c.saturating_sub(half);
        let hi = (c + half + 1).min(n);
        scratch.clear();
        scratch.extend_from_slice(&trace[lo..hi]);
        let k = ((scratch.len() - 1) as f64 * quantile).round() as usize;
        let (_, v, _) = scratch.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
        centres.push(c);
        values.push(*v);
        c += block;
    }
    let mut out = vec![0.0; n];
    let mut j = 0;
    for (t, o) in out.iter_mut().enumerate() {
        while j + 1 < centres.len() && centres[j + 1] <= t {
            j += 1;
        }
        *o = if t <= centres[0] {
            values[0]
        } else if j + 1 >= centres.len() {
            values[centres.len() - 1]
        } else {
            let w = (t - centres[j]) as f64 / (centres[j + 1] - centres[j]) as f64;
            values[j] * (1.0 - w) + values[j + 1] * w
        };
    }
    Ok(out)
}

/// Drift window in samples for these kinetics.
pub fn drift_window_samples(tau_decay: f64, fs: f64) -> usize {
    ((DRIFT_WINDOW_TAUS * tau_decay).max(DRIFT_MIN_WINDOW_S) * fs)
        .round()
        .max(1.0) as usize
}

/// Estimated slow drift (same length as the trace), using the documented defaults.
pub fn estimate_drift(trace: &[f64], tau_decay: f64, fs: f64) -> Result<Vec<f64>> {
    rolling_quantile(trace, drift_window_samples(tau_decay, fs), DRIFT_QUANTILE)
}

/// trace minus the drift's deviation from its mean: the level stays, the slow wander goes.
pub fn remove_drift(trace: &[f64], tau_decay: f64, fs: f64) -> Result<Vec<f64>> {
    // The drift's buffer becomes the answer, so a long trace needs one extra copy, not two.
    let mut out = estimate_drift(trace, tau_decay, fs)?;
    if out.is_empty() {
        return Ok(out);
    }
    let mean = out.iter().sum::<f64>() / out.len() as f64;
    out.iter_mut()
        .zip(trace)
        .for_each(|(d, y)| *d = y - (*d - mean));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_a_slow_ramp_under_positive_transients() {
        let n = 6000;
        let fs = 30.0;
        let ramp: Vec<f64> = (0..n).map(|t| t as f64 / n as f64 * 4.0).collect();
        let y: Vec<f64> = (0..n)
            .map(|t| ramp[t] + if t % 90 < 15 { 2.0 } else { 0.0 } + 0.01 * ((t * 7) % 5) as f64)
            .collect();
        let d = estimate_drift(&y, 0.4, fs).unwrap();
        let w = drift_window_samples(0.4, fs);
        for t in w..n - w {
            assert!(
                (d[t] - ramp[t]).abs() < 0.15,
                "t={t}: {} vs {}",
                d[t],
                ramp[t]
            );
        }
    }

    #[test]
    fn handles_tiny_and_empty_inputs() {
        assert!(rolling_quantile(&[], 10, 0.1).unwrap().is_empty());
        assert_eq!(rolling_quantile(&[3.0], 10, 0.1).unwrap(), vec![3.0]);
        assert!(rolling_quantile(&[1.0, f64::NAN], 10, 0.1).is_err());
        assert!(rolling_quantile(&[1.0], 10, 1.5).is_err());
    }
}
