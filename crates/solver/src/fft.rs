//! Linear (not circular) convolution with a fixed kernel through real FFTs.
//!
//! [`FftConvolver`] keeps the kernel spectrum and its scratch buffers for one trace length, so the
//! forward (K s) and adjoint (K^T r) products in the solver loop allocate nothing. The FFT length
//! is at least T + len(h) - 1 (rounded up to a 2-3-5-smooth size), which makes the first T outputs
//! of the circular product equal to the linear one for both directions.

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub struct FftConvolver {
    n_trace: usize,
    n_fft: usize,
    spectrum: Vec<Complex<f64>>,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    time_buf: Vec<f64>,
    freq_buf: Vec<Complex<f64>>,
    scratch_fwd: Vec<Complex<f64>>,
    scratch_inv: Vec<Complex<f64>>,
}

/// Smallest n >= min that factors into 2, 3 and 5 only (fast sizes for rustfft).
pub fn fast_fft_len(min: usize) -> usize {
    let mut n = min.max(2);
    loop {
        let mut m = n;
        for p in [2, 3, 5] {
            while m.is_multiple_of(p) {
                m /= p;
            }
        }
        if m == 1 {
            return n;
        }
        n += 1;
    }
}

impl FftConvolver {
    /// Prepare for traces of `n_trace` samples; only the first `n_trace` kernel samples can matter.
    pub fn new(kernel: &[f64], n_trace: usize) -> Self {
        let k = &kernel[..kernel.len().min(n_trace.max(1))];
        let n_fft = fast_fft_len(n_trace + k.len().max(1) - 1);
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(n_fft);
        let inverse = planner.plan_fft_inverse(n_fft);
        let mut time_buf = vec![0.0; n_fft];
        time_buf[..k.len()].copy_from_slice(k);
        let mut spectrum = forward.make_output_vec();
        let mut scratch_fwd = forward.make_scratch_vec();
        forward
            .process_with_scratch(&mut time_buf, &mut spectrum, &mut scratch_fwd)
            .expect("buffer sizes come from the plan");
        // Fold the 1/N of the unnormalised inverse into the kernel spectrum once.
        let scale = 1.0 / n_fft as f64;
        for c in spectrum.iter_mut() {
            *c *= scale;
        }
        let freq_buf = forward.make_output_vec();
        let scratch_inv = inverse.make_scratch_vec();
        FftConvolver {
            n_trace,
            n_fft,
            spectrum,
            forward,
            inverse,
            time_buf,
            freq_buf,
            scratch_fwd,
            scratch_inv,
        }
    }

    pub fn n_trace(&self) -> usize {
        self.n_trace
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    fn apply(&mut self, input: &[f64], out: &mut [f64], conjugate: bool) {
        debug_assert_eq!(input.len(), self.n_trace);
        debug_assert_eq!(out.len(), self.n_trace);
        self.time_buf[..self.n_trace].copy_from_slice(input);
        self.time_buf[self.n_trace..].fill(0.0);
        self.forward
            .process_with_scratch(
                &mut self.time_buf,
                &mut self.freq_buf,
                &mut self.scratch_fwd,
            )
            .expect("buffer sizes come from the plan");
        for (x, h) in self.freq_buf.iter_mut().zip(&self.spectrum) {
            *x *= if conjugate { h.conj() } else { *h };
        }
        // The imaginary parts of DC and Nyquist are zero up to rounding; realfft insists on exact zeros.
        self.freq_buf[0].im = 0.0;
        if self.n_fft.is_multiple_of(2) {
            let last = self.freq_buf.len() - 1;
            self.freq_buf[last].im = 0.0;
        }
        self.inverse
            .process_with_scratch(
                &mut self.freq_buf,
                &mut self.time_buf,
                &mut self.scratch_inv,
            )
            .expect("buffer sizes come from the plan");
        out.copy_from_slice(&self.time_buf[..self.n_trace]);
    }

    /// out = K s (causal convolution, first T samples).
    pub fn forward(&mut self, s: &[f64], out: &mut [f64]) {
        self.apply(s, out, false);
    }

    /// out = K^T r (correlation with the kernel).
    pub fn adjoint(&mut self, r: &[f64], out: &mut [f64]) {
        self.apply(r, out, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct_conv(h: &[f64], s: &[f64]) -> Vec<f64> {
        (0..s.len())
            .map(|t| {
                (0..=t)
                    .filter(|k| *k < h.len())
                    .map(|k| h[k] * s[t - k])
                    .sum()
            })
            .collect()
    }

    #[test]
    fn matches_direct_convolution_and_adjoint_identity() {
        let h: Vec<f64> = (0..40)
            .map(|n| (-(n as f64) / 9.0).exp() - (-(n as f64) / 2.0).exp())
            .collect();
        for &t in &[1usize, 2, 17, 100, 257] {
            let s: Vec<f64> = (0..t).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let r: Vec<f64> = (0..t).map(|i| ((i * 104729) % 11) as f64 - 5.0).collect();
            let mut conv = FftConvolver::new(&h, t);
            let mut ks = vec![0.0; t];
            conv.forward(&s, &mut ks);
            let direct = direct_conv(&h, &s);
            for (a, b) in ks.iter().zip(&direct) {
                assert!((a - b).abs() < 1e-9, "T={t}");
            }
            let mut ktr = vec![0.0; t];
            conv.adjoint(&r, &mut ktr);
            let lhs: f64 = ks.iter().zip(&r).map(|(a, b)| a * b).sum();
            let rhs: f64 = s.iter().zip(&ktr).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()), "T={t}");
        }
    }

    #[test]
    fn fast_lengths_are_smooth() {
        assert_eq!(fast_fft_len(7), 8);
        assert_eq!(fast_fft_len(49), 50);
        assert_eq!(fast_fft_len(1), 2);
    }
}
