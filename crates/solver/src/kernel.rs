//! The double-exponential calcium kernel and everything derived from it.
//!
//! h(t) = exp(-t/tau_decay) - exp(-t/tau_rise), sampled at t = n/fs for n = 0, 1, ... (so h[0] = 0:
//! a spike in frame n first shows in frame n+1), normalised so the largest sample is 1, and long
//! enough that the decay envelope exp(-t/tau_decay) has fallen below [`KERNEL_TAIL_TOL`] of the peak.
//! The same sequence is the impulse response of an AR(2) recursion, which [`Ar2`] describes; the
//! O(T) operator in [`crate::banded`] and the exact solver rely on that identity.

use crate::error::{Result, SolverError};
use realfft::RealFftPlanner;

/// Relative level of the decay envelope at which the sampled kernel is truncated.
pub const KERNEL_TAIL_TOL: f64 = 1e-6;
/// Longest kernel we agree to build (samples); beyond it tau_decay * fs is unreasonable.
pub const MAX_KERNEL_LEN: usize = 20_000_000;

/// Validated kernel time constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelParams {
    /// Rise time constant, seconds.
    pub tau_rise: f64,
    /// Decay time constant, seconds.
    pub tau_decay: f64,
    /// Sampling rate, Hz.
    pub fs: f64,
}

impl KernelParams {
    pub fn new(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Self> {
        let p = KernelParams {
            tau_rise,
            tau_decay,
            fs,
        };
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        positive_finite("fs", self.fs, "the sampling rate in Hz")?;
        positive_finite("tau_rise", self.tau_rise, "a time constant in seconds")?;
        positive_finite("tau_decay", self.tau_decay, "a time constant in seconds")?;
        if self.tau_rise >= self.tau_decay {
            return Err(SolverError::param(
                "tau_rise",
                self.tau_rise,
                format!(
                    "must be smaller than tau_decay = {} (the kernel exp(-t/tau_decay) - exp(-t/tau_rise) is zero or negative otherwise)",
                    self.tau_decay
                ),
            ));
        }
        let decay_per_sample = 1.0 / (self.tau_decay * self.fs);
        if decay_per_sample > 700.0 {
            return Err(SolverError::param(
                "tau_decay",
                self.tau_decay,
                format!(
                    "is too short for fs = {} Hz: the kernel vanishes within one sample (need tau_decay * fs > 1/700)",
                    self.fs
                ),
            ));
        }
        let len = tail_length(self.tau_decay * self.fs);
        if len > MAX_KERNEL_LEN as f64 {
            return Err(SolverError::param(
                "tau_decay",
                self.tau_decay,
                format!(
                    "gives a kernel of {len:.3e} samples at fs = {} Hz (limit {MAX_KERNEL_LEN})",
                    self.fs
                ),
            ));
        }
        Ok(())
    }

    /// Per-sample decay and rise factors d = exp(-1/(tau_decay fs)), r = exp(-1/(tau_rise fs)).
    pub fn factors(&self) -> (f64, f64) {
        (
            (-1.0 / (self.tau_decay * self.fs)).exp(),
            (-1.0 / (self.tau_rise * self.fs)).exp(),
        )
    }

    /// Time of the continuous kernel's peak, seconds.
    pub fn peak_time(&self) -> f64 {
        let (tr, td) = (self.tau_rise, self.tau_decay);
        tr * td * (td / tr).ln() / (td - tr)
    }

    /// Full width at half maximum of the continuous kernel, seconds.
    pub fn fwhm(&self) -> f64 {
        let f = |t: f64| biexp(t, self.tau_rise, self.tau_decay);
        let tp = self.peak_time();
        let half = 0.5 * f(tp);
        let bisect = |mut lo: f64, mut hi: f64, rising: bool| {
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if (f(mid) < half) == rising {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let left = bisect(0.0, tp, true);
        let mut right_hi = tp + self.tau_decay;
        while f(right_hi) > half {
            right_hi += self.tau_decay;
        }
        let right = bisect(tp, right_hi, false);
        right - left
    }
}

pub(crate) fn positive_finite(name: &'static str, value: f64, what: &str) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(SolverError::param(
            name,
            value,
            format!("must be a positive finite number ({what})"),
        ));
    }
    Ok(())
}

/// The continuous kernel exp(-t/tau_decay) - exp(-t/tau_rise) at `t` >= 0 (any time unit shared
/// with the taus), unnormalised. The slower exponential is factored out, so the difference is an
/// `expm1` of a never-positive exponent: accurate when the taus nearly meet, where subtracting the
/// two exponentials cancels, and free of overflow. Every evaluation of the curve in the crate
/// (simulator, InDeCa's bi-exponential fit and kernels) goes through here.
pub fn biexp(t: f64, tau_rise: f64, tau_decay: f64) -> f64 {
    if t == 0.0 {
        return 0.0;
    }
    if tau_rise > tau_decay {
        return -biexp(t, tau_decay, tau_rise);
    }
    -(-t / tau_decay).exp() * (-t * (1.0 / tau_rise - 1.0 / tau_decay)).exp_m1()
}

/// Approximate kernel length, for the size guard (the peak's own factor is left out).
fn tail_length(decay_samples: f64) -> f64 {
    (decay_samples * (1.0 / KERNEL_TAIL_TOL).ln()).ceil() + 1.0
}

/// Unnormalised d^n - r^n (d > r, r = d exp(-ln_gap)), without cancellation when d and r are close and without
/// overflow far into the tail.
fn raw_sample(n: usize, d: f64, ln_gap: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let nf = n as f64;
    // d^n - r^n = d^n (1 - (r/d)^n) = -d^n expm1(-n ln(d/r)): the exponent is never positive, so
    // nothing overflows (the form r^n expm1(n ln(d/r)) gave 0 * inf = NaN in long tails, e.g. at
    // fs 60 Hz, tau_rise 0.02 s, tau_decay >= 1.04 s), and expm1 keeps tiny gaps accurate.
    -d.powf(nf) * (-nf * ln_gap).exp_m1()
}

/// AR(2) form of the sampled, peak-normalised kernel:
/// c[t] = g1 c[t-1] + g2 c[t-2] + gain * s[t-1] reproduces c = h * s exactly (infinite kernel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ar2 {
    pub g1: f64,
    pub g2: f64,
    /// Per-sample decay factor d = exp(-1/(tau_decay fs)) (the slow root).
    pub d: f64,
    /// Per-sample rise factor r = exp(-1/(tau_rise fs)) (the fast root).
    pub r: f64,
    /// Input gain so the impulse response peaks at 1.
    pub gain: f64,
    /// Sum of the infinite kernel, i.e. its DC gain.
    pub dc_gain: f64,
}

impl Ar2 {
    pub fn from_params(p: &KernelParams) -> Ar2 {
        let (d, r) = p.factors();
        let ln_gap = 1.0 / (p.tau_rise * p.fs) - 1.0 / (p.tau_decay * p.fs);
        let peak = sampled_peak(d, r, ln_gap);
        // Scale so that gain * (d^n - r^n)/(d - r) = (d^n - r^n)/peak.
        let d_minus_r = raw_sample(1, d, ln_gap);
        let gain = d_minus_r / peak;
        // sum_{n>=1} (d^n - r^n) = d/(1-d) - r/(1-r) = (d - r) / ((1-d)(1-r))
        let dc_gain = d_minus_r / ((1.0 - d) * (1.0 - r)) / peak;
        Ar2 {
            g1: d + r,
            g2: -d * r,
            d,
            r,
            gain,
            dc_gain,
        }
    }
}

/// Largest sample of d^n - r^n over n >= 1.
fn sampled_peak(d: f64, r: f64, ln_gap: f64) -> f64 {
    // Continuous maximiser n* = ln(ln r / ln d) / ln(d / r); the sampled peak is at floor or ceil.
    let (ld, lr) = (d.ln(), r.ln());
    let n_star = if r <= 0.0 || !lr.is_finite() {
        1.0
    } else {
        (lr / ld).ln() / ln_gap
    };
    let lo = n_star.floor().max(1.0) as usize;
    raw_sample(lo, d, ln_gap).max(raw_sample(lo + 1, d, ln_gap))
}

/// Kernel samples h[0..len], peak-normalised; see the module docs for the convention.
pub fn build_kernel(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Vec<f64>> {
    let p = KernelParams::new(tau_rise, tau_decay, fs)?;
    Ok(build_kernel_validated(&p))
}

pub(crate) fn build_kernel_validated(p: &KernelParams) -> Vec<f64> {
    let (d, r) = p.factors();
    let ln_gap = 1.0 / (p.tau_rise * p.fs) - 1.0 / (p.tau_decay * p.fs);
    let peak = sampled_peak(d, r, ln_gap);
    // Envelope d^n / peak below the tolerance: n >= ln(tol * peak) / ln(d).
    let len = ((KERNEL_TAIL_TOL * peak).ln() / d.ln()).ceil().max(2.0) as usize + 1;
    (0..len).map(|n| raw_sample(n, d, ln_gap) / peak).collect()
}

/// Sub-frame positions averaged over by [`frame_centre_shift`].
const SHIFT_POSITIONS: usize = 16;

/// How far (in frames, 0 to 1/2) the solver's activity sits before the spikes it stands for.
///
/// In the model a spike at frame n happens exactly at frame n's time stamp, so it first shows in
/// frame n + 1. A real spike falls anywhere in the frame interval: one at t_n + u/fs (0 <= u < 1)
/// is represented by the solver as a mix of spikes at n and n + 1 whose centre of mass c(u)
/// depends on how well the sampled kernel resolves the rise. When the rise is faster than a frame
/// nothing in the data tells u apart, c(u) = 0 for every u and the activity is half a frame early
/// on average; when the rise spans frames, c(u) follows u and there is no bias. This returns
/// 1/2 - mean_u c(u), with c(u) from the least-squares fit of the response to a spike at u by
/// the responses to spikes at 0 and 1 (over all later frames), at [`SHIFT_POSITIONS`] evenly
/// spaced u. The inner products are geometric series, summed in closed form.
pub fn frame_centre_shift(p: &KernelParams) -> f64 {
    let a = 1.0 / (p.tau_decay * p.fs);
    let b = 1.0 / (p.tau_rise * p.fs);
    // e^c / (e^x - 1) for 0 <= c <= x, without overflow.
    let f = |c: f64, x: f64| (c - x).exp() / -(-x).exp_m1();
    // <v_u, v_w> over frames m >= 1, v_u[m] = h((m - u) / fs) with h the unnormalised kernel.
    let ip = |u: f64, w: f64| {
        f((u + w) * a, 2.0 * a) - f(u * a + w * b, a + b) - f(w * a + u * b, a + b)
            + f((u + w) * b, 2.0 * b)
    };
    let (g00, g01, g11) = (ip(0.0, 0.0), ip(0.0, 1.0), ip(1.0, 1.0));
    let det = g00 * g11 - g01 * g01;
    let mut com_sum = 0.0;
    for i in 0..SHIFT_POSITIONS {
        let u = (i as f64 + 0.5) / SHIFT_POSITIONS as f64;
        let (c0, c1) = (ip(0.0, u), ip(1.0, u));
        // Two-column non-negative least squares: the unconstrained solution, else one column.
        let (mut x0, mut x1) = if det > 1e-12 * g00 * g11 {
            ((g11 * c0 - g01 * c1) / det, (g00 * c1 - g01 * c0) / det)
        } else {
            (c0 / g00, 0.0)
        };
        if x0 < 0.0 {
            (x0, x1) = (0.0, (c1 / g11).max(0.0));
        } else if x1 < 0.0 {
            (x0, x1) = ((c0 / g00).max(0.0), 0.0);
        }
        com_sum += if x0 + x1 > 0.0 { x1 / (x0 + x1) } else { 0.0 };
    }
    let shift = 0.5 - com_sum / SHIFT_POSITIONS as f64;
    if shift.is_finite() {
        shift.clamp(0.0, 0.5)
    } else {
        0.5
    }
}

/// Report activity on frame centres: move the fraction `shift` of every sample one frame later
/// (see [`frame_centre_shift`]), so activity[n] counts the spikes nearest frame n's time stamp,
/// the convention of electrophysiological ground truth. The total is kept except for what
/// moves past the last frame.
pub fn centre_on_frames(activity: &mut [f64], shift: f64) {
    for n in (1..activity.len()).rev() {
        activity[n] = (1.0 - shift) * activity[n] + shift * activity[n - 1];
    }
    if let Some(first) = activity.first_mut() {
        *first *= 1.0 - shift;
    }
}

/// AR(2) coefficients of the kernel: (g1, g2, d, r) with c[t] = g1 c[t-1] + g2 c[t-2] + ...
pub fn tau_to_ar2(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Ar2> {
    Ok(Ar2::from_params(&KernelParams::new(
        tau_rise, tau_decay, fs,
    )?))
}

/// Lipschitz constant of s -> K^T K s for a convolution kernel: max over frequency of |H(w)|^2,
/// evaluated on a DFT grid at least four times the kernel length.
pub fn compute_lipschitz(kernel: &[f64]) -> Result<f64> {
    if kernel.is_empty() {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    crate::error::check_finite(kernel)?;
    let n = (4 * kernel.len()).next_power_of_two().max(16);
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buf = vec![0.0; n];
    buf[..kernel.len()].copy_from_slice(kernel);
    let mut spec = fft.make_output_vec();
    fft.process(&mut buf, &mut spec)
        .map_err(|e| SolverError::InvalidState(e.to_string()))?;
    // For a non-negative kernel the maximum sits at DC, which the grid contains, so this is exact.
    Ok(spec.iter().map(|c| c.norm_sqr()).fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_starts_at_zero_and_peaks_at_one() {
        let h = build_kernel(0.02, 0.4, 30.0).unwrap();
        assert_eq!(h[0], 0.0);
        let max = h.iter().cloned().fold(f64::MIN, f64::max);
        assert!((max - 1.0).abs() < 1e-15);
        // Tail below 1e-6 of the peak, and the kernel is not absurdly long.
        assert!(*h.last().unwrap() < 1e-6);
        assert!(h.len() < 200);
    }

    #[test]
    fn ar2_recursion_reproduces_samples() {
        for &(tr, td, fs) in &[
            (0.02, 0.4, 30.0),
            (0.1, 1.8, 30.0),
            (0.005, 0.15, 100.0),
            (0.39, 0.4, 30.0),
        ] {
            let h = build_kernel(tr, td, fs).unwrap();
            let ar = tau_to_ar2(tr, td, fs).unwrap();
            let mut c = vec![0.0; h.len()];
            for t in 1..h.len() {
                let impulse = if t == 1 { 1.0 } else { 0.0 };
                let c1 = c[t - 1];
                let c2 = if t >= 2 { c[t - 2] } else { 0.0 };
                c[t] = ar.g1 * c1 + ar.g2 * c2 + ar.gain * impulse;
            }
            for (a, b) in c.iter().zip(&h) {
                assert!((a - b).abs() < 1e-12, "{tr} {td} {fs}: {a} vs {b}");
            }
            let sum: f64 = h.iter().sum();
            assert!((sum - ar.dc_gain).abs() / ar.dc_gain < 1e-5);
        }
    }

    #[test]
    fn continuous_curve_is_accurate_where_the_exponentials_cancel() {
        // Well conditioned: the plain difference.
        for &(t, tr, td) in &[
            (0.1f64, 0.02f64, 0.4f64),
            (1.3, 0.05, 0.9),
            (0.01, 0.1, 2.0),
        ] {
            let plain = (-t / td).exp() - (-t / tr).exp();
            assert!((biexp(t, tr, td) - plain).abs() <= 1e-15 * plain.abs().max(1e-300));
        }
        // Taus a relative 1e-9 apart: exp(-t/td) - exp(-t/tr) = exp(-t/td) (t/td) eps to first
        // order (tr = td (1 - eps) gives 1/tr - 1/td = eps/td + O(eps^2)); the plain difference
        // keeps only ~7 digits of it.
        let (td, eps, t) = (0.4f64, 1e-9f64, 0.3f64);
        let tr = td * (1.0 - eps);
        let want = (-t / td).exp() * (t / td) * eps;
        let got = biexp(t, tr, td);
        assert!((got - want).abs() <= 1e-6 * want, "{got:e} vs {want:e}");
        assert_eq!(biexp(0.0, 0.02, 0.4), 0.0);
        assert_eq!(biexp(0.7, 0.4, 0.02), -biexp(0.7, 0.02, 0.4));
        assert!(biexp(1e4, 0.02, 0.4).is_finite());
        assert!(biexp(1e4, 0.4, 0.02).is_finite());
    }

    #[test]
    fn near_equal_taus_stay_accurate() {
        let h = build_kernel(0.4 * (1.0 - 1e-9), 0.4, 30.0).unwrap();
        assert!(h.iter().all(|v| v.is_finite() && *v >= 0.0));
        let max = h.iter().cloned().fold(f64::MIN, f64::max);
        assert!((max - 1.0).abs() < 1e-12);
    }

    #[test]
    fn kernel_is_finite_over_the_app_ranges() {
        // The apps offer fs up to 1 kHz, tau_rise 1 ms - 0.5 s, tau_decay up to 10 s.
        for &fs in &[5.0, 15.0, 30.0, 60.0, 100.0, 158.3, 500.0, 1000.0] {
            for &tr in &[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5] {
                for &td in &[0.05, 0.2, 0.7, 1.04, 2.0, 5.0, 10.0] {
                    if tr >= td {
                        continue;
                    }
                    let h = build_kernel(tr, td, fs).unwrap();
                    assert!(
                        h.iter().all(|v| v.is_finite() && *v >= 0.0),
                        "fs {fs} tau_rise {tr} tau_decay {td}"
                    );
                    let ar = tau_to_ar2(tr, td, fs).unwrap();
                    assert!(ar.gain.is_finite() && ar.dc_gain.is_finite());
                }
            }
        }
    }

    #[test]
    fn frame_centre_shift_is_half_a_frame_for_fast_rises_and_none_for_slow_ones() {
        let fast = KernelParams::new(0.001, 0.8, 15.0).unwrap();
        assert!((frame_centre_shift(&fast) - 0.5).abs() < 0.03);
        let slow = KernelParams::new(0.1, 1.6, 100.0).unwrap();
        assert!(frame_centre_shift(&slow) < 0.03);
        // Against a brute-force evaluation (finite sums over 20 decay times, numpy least squares).
        for &(tr, td, fs, want) in &[
            (0.02, 0.4, 30.0, 0.1398),
            (0.002, 0.15, 122.0, 0.2772),
            (0.03, 0.8, 15.0, 0.1783),
            (0.01, 0.3, 158.0, 0.0542),
            (0.39, 0.4, 30.0, 0.0141),
        ] {
            let got = frame_centre_shift(&KernelParams::new(tr, td, fs).unwrap());
            assert!((got - want).abs() < 2e-3, "{tr} {td} {fs}: {got} vs {want}");
        }
    }

    #[test]
    fn centring_moves_mass_forward_and_keeps_it() {
        let mut a = vec![0.0, 2.0, 0.0, 0.0, 1.0];
        centre_on_frames(&mut a, 0.25);
        assert_eq!(a, vec![0.0, 1.5, 0.5, 0.0, 0.75]);
        let mut b = vec![3.0, 0.0];
        centre_on_frames(&mut b, 0.0);
        assert_eq!(b, vec![3.0, 0.0]);
    }

    #[test]
    fn lipschitz_of_nonnegative_kernel_is_dc_gain_squared() {
        let h = build_kernel(0.05, 1.0, 30.0).unwrap();
        let l = compute_lipschitz(&h).unwrap();
        let s: f64 = h.iter().sum();
        assert!((l - s * s).abs() / (s * s) < 1e-12);
    }

    #[test]
    fn rejects_bad_parameters() {
        let cases = [
            (0.4, 0.4, 30.0, "tau_rise"),
            (0.5, 0.4, 30.0, "tau_rise"),
            (0.0, 0.4, 30.0, "tau_rise"),
            (0.02, -1.0, 30.0, "tau_decay"),
            (0.02, 0.4, 0.0, "fs"),
            (0.02, f64::NAN, 30.0, "tau_decay"),
            (0.02, 0.4, f64::INFINITY, "fs"),
            (1e-7, 1e-6, 30.0, "tau_decay"),
            (0.02, 1e9, 1e3, "tau_decay"),
        ];
        for (tr, td, fs, name) in cases {
            match build_kernel(tr, td, fs) {
                Err(SolverError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{tr} {td} {fs}: {other:?}"),
            }
        }
    }

    #[test]
    fn peak_time_and_fwhm_are_consistent() {
        let p = KernelParams::new(0.02, 0.4, 30.0).unwrap();
        let tp = p.peak_time();
        let f = |t: f64| (-t / 0.4f64).exp() - (-t / 0.02f64).exp();
        assert!(f(tp) > f(tp * 1.01) && f(tp) > f(tp * 0.99));
        let w = p.fwhm();
        assert!(w > 0.2 && w < 0.4, "{w}");
    }
}
