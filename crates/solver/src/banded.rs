//! O(T) forward and adjoint operators through the kernel's AR(2) recursion.
//!
//! Forward: c[t] = g1 c[t-1] + g2 c[t-2] + gain s[t-1] (c[0] = 0), which equals convolution with
//! the untruncated kernel of [`crate::kernel`]. Adjoint: q[j] = r[j] + g1 q[j+1] + g2 q[j+2] run
//! backwards, then (K^T r)[m] = gain q[m+1]. Both are exact transposes of each other.

use crate::kernel::Ar2;

#[derive(Debug, Clone, Copy)]
pub struct Ar2Operator {
    pub ar: Ar2,
}

impl Ar2Operator {
    pub fn new(ar: Ar2) -> Self {
        Ar2Operator { ar }
    }

    /// out = K s.
    pub fn forward(&self, s: &[f64], out: &mut [f64]) {
        let Ar2 { g1, g2, gain, .. } = self.ar;
        let n = s.len();
        if n == 0 {
            return;
        }
        out[0] = 0.0;
        let (mut c1, mut c2) = (0.0, 0.0);
        for t in 1..n {
            let c = g1 * c1 + g2 * c2 + gain * s[t - 1];
            out[t] = c;
            c2 = c1;
            c1 = c;
        }
    }

    /// out = K_L s with K_L the kernel truncated to its first `len` samples (lags 0..len-1), as
    /// the FFT path uses it: the full recursion minus the tail u[t] = sum_{j>=len} h[j] s[t-j],
    /// which obeys the same recursion, u[t] = g1 u[t-1] + g2 u[t-2] + h[len] s[t-len]
    /// + g2 h[len-1] s[t-len-1] (h[j] = g1 h[j-1] + g2 h[j-2] for j >= 2). O(T), no buffers.
    pub fn forward_truncated(&self, s: &[f64], len: usize, out: &mut [f64]) {
        let Ar2 { g1, g2, gain, .. } = self.ar;
        let n = s.len();
        if len < 2 || len >= n {
            self.forward(s, out);
            if len < 2 {
                // Lags 0..len-1 hold at most h[0] = 0.
                out.iter_mut().for_each(|v| *v = 0.0);
            }
            return;
        }
        // h[len - 1] and h[len] by the recursion (h[0] = 0, h[1] = gain).
        let (mut h_prev, mut h) = (0.0, gain); // h[j-1], h[j] for j = 1
        for _ in 1..len {
            let next = g1 * h + g2 * h_prev;
            h_prev = h;
            h = next;
        }
        let (h_l1, h_l) = (h_prev, h);
        out[0] = 0.0;
        let (mut c1, mut c2, mut u1, mut u2) = (0.0, 0.0, 0.0, 0.0);
        for t in 1..n {
            let c = g1 * c1 + g2 * c2 + gain * s[t - 1];
            let mut drive = 0.0;
            if t >= len {
                drive += h_l * s[t - len];
            }
            if t > len {
                drive += g2 * h_l1 * s[t - len - 1];
            }
            let u = g1 * u1 + g2 * u2 + drive;
            out[t] = c - u;
            c2 = c1;
            c1 = c;
            u2 = u1;
            u1 = u;
        }
    }

    /// out = K^T r.
    pub fn adjoint(&self, r: &[f64], out: &mut [f64]) {
        let Ar2 { g1, g2, gain, .. } = self.ar;
        let n = r.len();
        if n == 0 {
            return;
        }
        // q[j] for j = n-1 down to 1; out[m] = gain * q[m+1]; out[n-1] = 0.
        let (mut q1, mut q2) = (0.0, 0.0); // q[j+1], q[j+2]
        out[n - 1] = 0.0;
        for j in (1..n).rev() {
            let q = r[j] + g1 * q1 + g2 * q2;
            out[j - 1] = gain * q;
            q2 = q1;
            q1 = q;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fft::FftConvolver;
    use crate::kernel::{build_kernel, tau_to_ar2};

    #[test]
    fn truncated_forward_matches_the_fft_path() {
        for (tr, td, fs, n) in [
            (0.02, 0.4, 30.0, 200),
            (0.05, 0.7, 15.0, 500),
            (0.1, 2.0, 100.0, 90),
        ] {
            let k = build_kernel(tr, td, fs).unwrap();
            let op = Ar2Operator::new(tau_to_ar2(tr, td, fs).unwrap());
            let s: Vec<f64> = (0..n)
                .map(|i| ((i * 37 % 11) as f64 - 3.0).max(0.0))
                .collect();
            let mut fft = FftConvolver::new(&k, n);
            let mut want = vec![0.0; n];
            fft.forward(&s, &mut want);
            let mut got = vec![0.0; n];
            op.forward_truncated(&s, k.len().min(n), &mut got);
            let peak = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-12 * peak,
                    "{g} vs {w} (kernel {})",
                    k.len()
                );
            }
        }
    }

    #[test]
    fn agrees_with_fft_convolution_and_is_adjoint() {
        let (tr, td, fs) = (0.05, 0.8, 30.0);
        let h = build_kernel(tr, td, fs).unwrap();
        let op = Ar2Operator::new(tau_to_ar2(tr, td, fs).unwrap());
        let t = 1000;
        let s: Vec<f64> = (0..t)
            .map(|i| {
                if i % 37 == 0 {
                    1.0 + (i % 5) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let r: Vec<f64> = (0..t).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let (mut a, mut b) = (vec![0.0; t], vec![0.0; t]);
        op.forward(&s, &mut a);
        let mut fft = FftConvolver::new(&h, t);
        fft.forward(&s, &mut b);
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * scale, "{x} {y}");
        }
        let mut ka = vec![0.0; t];
        let mut kb = vec![0.0; t];
        op.adjoint(&r, &mut ka);
        fft.adjoint(&r, &mut kb);
        let scale = kb.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in ka.iter().zip(&kb) {
            assert!((x - y).abs() <= 1e-5 * scale);
        }
        let lhs: f64 = a.iter().zip(&r).map(|(x, y)| x * y).sum();
        let rhs: f64 = s.iter().zip(&ka).map(|(x, y)| x * y).sum();
        assert!((lhs - rhs).abs() <= 1e-10 * lhs.abs().max(1.0));
    }
}
