//! Poisson sampling for shot noise, where the mean changes every frame.
//!
//! `rand_distr::Poisson` precomputes per mean and then samples with a tan/log-gamma rejection
//! loop, which made shot noise several times slower than the rest of the simulation. Here: exact
//! inversion for small means, and Hörmann's transformed rejection with squeeze (PTRS, 1993) above
//! [`PTRS_MIN_MEAN`], whose setup is a square root and a logarithm.

use rand::Rng;
use rand_pcg::Pcg64;

/// Means at or above this use PTRS (the method is validated for mean >= 10).
const PTRS_MIN_MEAN: f64 = 10.0;

/// Coefficients B_2k / (2k (2k - 1)) of Stirling's series for ln Γ, k = 1..10.
const STIRLING: [f64; 10] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360_360.0,
    1.0 / 156.0,
    -3617.0 / 122_400.0,
    43_867.0 / 244_188.0,
    -174_611.0 / 125_400.0,
];

/// ln Γ(x) for x >= 1: Stirling's series at x + n >= 8, shifted back with ln Γ(x) = ln Γ(x + n)
/// - ln(x (x + 1) ... (x + n - 1)).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    let mut shifted = x;
    let mut correction = 0.0;
    while shifted < 8.0 {
        correction += shifted.ln();
        shifted += 1.0;
    }
    let inv2 = 1.0 / (shifted * shifted);
    let mut series = 0.0;
    for c in STIRLING.iter().rev() {
        series = series * inv2 + c;
    }
    series / shifted + 0.5 * std::f64::consts::TAU.ln() + (shifted - 0.5) * shifted.ln()
        - shifted
        - correction
}

/// One Poisson(mean) draw as f64; mean <= 0 (or NaN) gives 0.
pub(crate) fn sample(rng: &mut Pcg64, mean: f64) -> f64 {
    if mean.is_nan() || mean <= 0.0 {
        0.0
    } else if mean < PTRS_MIN_MEAN {
        inversion(rng, mean)
    } else {
        ptrs(rng, mean)
    }
}

fn inversion(rng: &mut Pcg64, mean: f64) -> f64 {
    let u: f64 = rng.gen();
    let mut p = (-mean).exp();
    let mut cdf = p;
    let mut k = 0.0;
    // The cap only matters when rounding leaves the cdf just below u, far in the tail.
    while u > cdf && k < 1000.0 {
        k += 1.0;
        p *= mean / k;
        cdf += p;
    }
    k
}

fn ptrs(rng: &mut Pcg64, mean: f64) -> f64 {
    let sqrt_mean = mean.sqrt();
    let ln_mean = mean.ln();
    let b = 0.931 + 2.53 * sqrt_mean;
    let a = -0.059 + 0.02483 * b;
    let ln_inv_alpha = (1.1239 + 1.1328 / (b - 3.4)).ln();
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.gen::<f64>() - 0.5;
        let v: f64 = rng.gen();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + mean + 0.43).floor();
        if us >= 0.07 && v <= v_r {
            return k;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        // ln(0) = -inf is fine here: it accepts.
        if v.ln() + ln_inv_alpha - (a / (us * us) + b).ln()
            <= -mean + k * ln_mean - ln_gamma(k + 1.0)
        {
            return k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut ln_fact = 0.0f64;
        for n in 1..60u32 {
            // ln Γ(n + 1) = ln n!
            ln_fact += f64::from(n).ln();
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - ln_fact).abs() < 1e-12 * ln_fact.max(1.0), "n = {n}");
        }
        assert!(ln_gamma(1.0).abs() < 1e-14);
        // Γ(1.5) = sqrt(pi) / 2
        let want = (std::f64::consts::PI.sqrt() / 2.0).ln();
        assert!((ln_gamma(1.5) - want).abs() < 1e-14);
    }

    #[test]
    fn poisson_sample_mean_variance_and_pmf() {
        let mut rng = Pcg64::seed_from_u64(11);
        for &mean in &[0.3, 4.0, 9.99, 10.0, 15.0, 100.0, 1e5] {
            let n = 100_000;
            let draws: Vec<f64> = (0..n).map(|_| sample(&mut rng, mean)).collect();
            let m = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n as f64 - 1.0);
            let se = (mean / n as f64).sqrt();
            assert!((m - mean).abs() < 5.0 * se, "mean {mean}: {m}");
            assert!((var / mean - 1.0).abs() < 0.03, "mean {mean}: var {var}");
            assert!(draws.iter().all(|x| *x >= 0.0 && x.fract() == 0.0));
            if mean == 15.0 {
                // Frequencies of each count near the mode match the pmf within 5 standard errors.
                for k in 5..30 {
                    let kf = f64::from(k);
                    let p = (-mean + kf * mean.ln() - ln_gamma(kf + 1.0)).exp();
                    let freq = draws.iter().filter(|&&x| x == kf).count() as f64 / n as f64;
                    let se = (p * (1.0 - p) / n as f64).sqrt();
                    assert!((freq - p).abs() < 5.0 * se + 1e-4, "k = {k}: {freq} vs {p}");
                }
            }
        }
        assert_eq!(sample(&mut rng, 0.0), 0.0);
        assert_eq!(sample(&mut rng, -1.0), 0.0);
    }
}
