//! Parameters chosen from the data, for the automatic path (`run_deconvolution(traces, fs)`).
//!
//! Sparsity from the noise: in min 1/2 ||y - K s - b||^2 + lambda G ||s||_1 (G the kernel's DC
//! gain), activity stays zero wherever the matched filter K^T (y - b) is below lambda G. On pure
//! noise of standard deviation sigma that filter output has standard deviation sigma ||h||_2 at
//! every lag, so lambda = [`NOISE_LAMBDA_SIGMAS`] sigma ||h||_2 / G is a detection threshold of
//! that many noise standard deviations: the same lambda means the same evidence per event on
//! dF/F and on raw fluorescence, at any frame rate and for any kernel.

use crate::error::{Result, SolverError};
use crate::kernel::{build_kernel_validated, Ar2, KernelParams};

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
}
