//! Free-form kernel estimation: the calcium response to one spike, from traces and spike trains.
//!
//! Problem (traces i, observed at frames j, spikes on a grid k times finer, k = 1 in
//! [`estimate_kernel`]):
//!
//!   min_{h >= 0, len L}  sum_i sum_j ((y_i[j] - b_i) - alpha_i sum_a h[a] s_i[k j - a])^2
//!                        + smooth_lambda * sum_a (h[a+1] - h[a])^2
//!
//! The smoothness term is quadratic (squared first differences), not total variation: it keeps the
//! problem a smooth quadratic over a box, so projected accelerated gradient converges linearly and
//! needs no inner prox solver. The data term is summarised once in its normal equations (Gram
//! matrix G, L x L, and right-hand side c), built by sliding each spike train's support under the
//! observation frames: cost O(sum_j n_j^2) where n_j is the number of non-zero spikes within one
//! kernel length of frame j (small for spike counts; dense inputs cost O(T L^2)). Each iteration is
//! then O(L^2), independent of the recording length. Boundaries are exact: frames only see spikes
//! inside their own trace, spikes before a trace's start are absent.

use crate::error::{check_finite, require_positive, Result, SolverError};
use crate::fista::momentum_step;

/// Result of [`estimate_kernel_upsampled`].
#[derive(Debug, Clone, PartialEq)]
pub struct KernelEstimate {
    /// Non-negative kernel samples h[0..L] at the spike grid's rate (lag 0 = same fine bin).
    pub kernel: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
    /// Data term at the solution, divided by the number of frames (mean squared residual).
    pub mse: f64,
}

/// Contract entry point: traces and spike trains at the same rate, f32 in and out.
#[allow(clippy::too_many_arguments)]
pub fn estimate_kernel(
    traces_flat: &[f32],
    spikes_flat: &[f32],
    trace_lengths: &[usize],
    alphas: &[f64],
    baselines: &[f64],
    kernel_length: usize,
    max_iters: usize,
    tol: f64,
    warm_kernel: Option<&[f32]>,
    smooth_lambda: f64,
) -> Result<Vec<f32>> {
    let y: Vec<f64> = traces_flat.iter().map(|v| *v as f64).collect();
    let s: Vec<f64> = spikes_flat.iter().map(|v| *v as f64).collect();
    let warm: Option<Vec<f64>> = warm_kernel.map(|w| w.iter().map(|v| *v as f64).collect());
    let est = estimate_kernel_upsampled(
        &y,
        &s,
        trace_lengths,
        alphas,
        baselines,
        1,
        kernel_length,
        max_iters,
        tol,
        warm.as_deref(),
        smooth_lambda,
    )?;
    Ok(est.kernel.iter().map(|v| *v as f32).collect())
}

/// General form: `spikes_flat` holds each trace's spikes on a grid `upsample_factor` times finer
/// than its frames (so it is `upsample_factor` times longer than `traces_flat`), and the kernel is
/// returned at the fine rate.
#[allow(clippy::too_many_arguments)]
pub fn estimate_kernel_upsampled(
    traces_flat: &[f64],
    spikes_flat: &[f64],
    trace_lengths: &[usize],
    alphas: &[f64],
    baselines: &[f64],
    upsample_factor: usize,
    kernel_length: usize,
    max_iters: usize,
    tol: f64,
    warm_kernel: Option<&[f64]>,
    smooth_lambda: f64,
) -> Result<KernelEstimate> {
    super::upsample::check_factor(upsample_factor)?;
    let k = upsample_factor;
    if trace_lengths.is_empty() {
        return Err(SolverError::ShapeMismatch(
            "trace_lengths is empty: at least one trace is needed".into(),
        ));
    }
    let total: usize = trace_lengths.iter().sum();
    if total != traces_flat.len() {
        return Err(SolverError::ShapeMismatch(format!(
            "trace_lengths sum to {total} but traces_flat has {} samples",
            traces_flat.len()
        )));
    }
    if spikes_flat.len() != total * k {
        return Err(SolverError::ShapeMismatch(format!(
            "spikes_flat has {} samples, expected {} (traces_flat length {total} x upsample_factor {k})",
            spikes_flat.len(),
            total * k
        )));
    }
    if alphas.len() != trace_lengths.len() || baselines.len() != trace_lengths.len() {
        return Err(SolverError::ShapeMismatch(format!(
            "{} trace lengths but {} alphas and {} baselines",
            trace_lengths.len(),
            alphas.len(),
            baselines.len()
        )));
    }
    if traces_flat.is_empty() {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    check_finite(traces_flat)?;
    check_finite(spikes_flat)?;
    check_finite(alphas)?;
    check_finite(baselines)?;
    crate::error::check_magnitude(traces_flat)?;
    if let Some((i, a)) = alphas.iter().enumerate().find(|(_, a)| **a < 0.0) {
        return Err(SolverError::param(
            "alphas",
            *a,
            format!("entry {i} is negative; amplitudes must be >= 0"),
        ));
    }
    let longest = trace_lengths.iter().max().copied().unwrap_or(0) * k;
    if kernel_length == 0 || kernel_length > longest {
        return Err(SolverError::param(
            "kernel_length",
            kernel_length as f64,
            format!("must be in [1, {longest}] (the longest trace, in spike-grid samples)"),
        ));
    }
    if max_iters == 0 {
        return Err(SolverError::param("max_iters", 0.0, "must be at least 1"));
    }
    require_positive("tol", tol)?;
    crate::error::require_lambda("smooth_lambda", smooth_lambda)?;
    if let Some(w) = warm_kernel {
        if w.len() != kernel_length {
            return Err(SolverError::ShapeMismatch(format!(
                "warm_kernel has {} samples but kernel_length is {kernel_length}",
                w.len()
            )));
        }
        check_finite(w)?;
    }

    let l = kernel_length;
    let (gram, rhs, yy, frames) = normal_equations(
        traces_flat,
        spikes_flat,
        trace_lengths,
        alphas,
        baselines,
        k,
        l,
    );
    // Smooth part: f(h) = h^T A h - 2 c^T h, A = G + mu D^T D; gradient 2 (A h - c).
    let apply = |h: &[f64], out: &mut [f64]| {
        for (a, o) in out.iter_mut().enumerate() {
            let row = &gram[a * l..(a + 1) * l];
            *o = row.iter().zip(h).map(|(g, v)| g * v).sum();
        }
        if smooth_lambda > 0.0 && l > 1 {
            for a in 0..l {
                let left = if a > 0 { h[a] - h[a - 1] } else { 0.0 };
                let right = if a + 1 < l { h[a] - h[a + 1] } else { 0.0 };
                out[a] += smooth_lambda * (left + right);
            }
        }
    };
    let lip = {
        // Power iteration on A (symmetric PSD) from the constant vector.
        let mut v = vec![1.0 / (l as f64).sqrt(); l];
        let mut w = vec![0.0; l];
        let mut lam = 0.0;
        for _ in 0..100 {
            apply(&v, &mut w);
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            v.iter_mut().zip(&w).for_each(|(a, b)| *a = b / norm);
            let done = (norm - lam).abs() <= 1e-6 * norm;
            lam = norm;
            if done {
                break;
            }
        }
        // Upper bound margin: power iteration approaches lambda_max from below.
        (lam * 1.1).max(4.0 * smooth_lambda * 1.1)
    };
    let mut h: Vec<f64> = match warm_kernel {
        Some(w) => w.iter().map(|v| v.max(0.0)).collect(),
        None => vec![0.0; l],
    };
    if lip <= 0.0 {
        // No spikes: the data carry no information about h.
        return Ok(KernelEstimate {
            kernel: vec![0.0; l],
            iterations: 0,
            converged: true,
            mse: yy / frames.max(1) as f64,
        });
    }
    let step = 1.0 / lip;
    let mut z = h.clone();
    let mut ah = vec![0.0; l];
    let mut hn = vec![0.0; l];
    let mut tk = 1.0f64;
    let mut iterations = 0;
    let mut converged = false;
    for it in 1..=max_iters {
        iterations = it;
        apply(&z, &mut ah);
        let (mut restart_dot, mut diff_sq, mut h_sq) = (0.0, 0.0, 0.0);
        for a in 0..l {
            let v = (z[a] - step * (ah[a] - rhs[a])).max(0.0);
            let dv = v - h[a];
            restart_dot += (z[a] - v) * dv;
            diff_sq += dv * dv;
            h_sq += v * v;
            hn[a] = v;
        }
        tk = momentum_step(restart_dot, tk, &hn, &mut h, &mut z);
        if it >= 2 && (diff_sq.sqrt() <= tol * h_sq.sqrt() || diff_sq == 0.0) {
            converged = true;
            break;
        }
    }
    apply(&h, &mut ah);
    let quad: f64 = h.iter().zip(&ah).map(|(a, b)| a * b).sum::<f64>()
        - 2.0 * h.iter().zip(&rhs).map(|(a, b)| a * b).sum::<f64>();
    Ok(KernelEstimate {
        kernel: h,
        iterations,
        converged,
        mse: ((yy + quad) / frames.max(1) as f64).max(0.0),
    })
}

/// Gram matrix (row-major L x L), right-hand side, sum of squared centred data, frame count.
fn normal_equations(
    traces: &[f64],
    spikes: &[f64],
    lengths: &[usize],
    alphas: &[f64],
    baselines: &[f64],
    k: usize,
    l: usize,
) -> (Vec<f64>, Vec<f64>, f64, usize) {
    let mut gram = vec![0.0; l * l];
    let mut rhs = vec![0.0; l];
    let mut yy = 0.0;
    let mut frames = 0usize;
    let mut offset = 0;
    let mut support: Vec<(usize, f64)> = Vec::new();
    for (i, &len) in lengths.iter().enumerate() {
        let y = &traces[offset..offset + len];
        let s = &spikes[offset * k..(offset + len) * k];
        offset += len;
        let (alpha, b) = (alphas[i], baselines[i]);
        for v in y {
            yy += (v - b) * (v - b);
        }
        frames += len;
        if alpha == 0.0 {
            continue;
        }
        support.clear();
        support.extend(
            s.iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(u, v)| (u, *v)),
        );
        let a2 = alpha * alpha;
        // Window of spikes u with k j - L < u <= k j, as [lo, hi) in `support`.
        let (mut lo, mut hi) = (0usize, 0usize);
        for (j, yv) in y.iter().enumerate() {
            let now = k * j;
            while hi < support.len() && support[hi].0 <= now {
                hi += 1;
            }
            while lo < hi && support[lo].0 + l <= now {
                lo += 1;
            }
            let r = alpha * (yv - b);
            for p in lo..hi {
                let (up, vp) = support[p];
                let ap = now - up;
                rhs[ap] += r * vp;
                let w = a2 * vp;
                let row = &mut gram[ap * l..(ap + 1) * l];
                for &(uq, vq) in &support[lo..hi] {
                    row[now - uq] += w * vq;
                }
            }
        }
    }
    (gram, rhs, yy, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_kernel_from_noiseless_data() {
        let h_true: Vec<f64> = (0..20)
            .map(|i| {
                let t = i as f64;
                (-t / 6.0).exp() - (-t / 1.5).exp()
            })
            .collect();
        let t = 600;
        let mut s = vec![0.0; t];
        for i in (5..t).step_by(37) {
            s[i] = 1.0 + (i % 3) as f64;
        }
        s[300] = 1.0;
        let mut y = vec![2.0; t];
        for (u, sv) in s.iter().enumerate() {
            for (a, hv) in h_true.iter().enumerate() {
                if u + a < t {
                    y[u + a] += 0.5 * sv * hv;
                }
            }
        }
        let est =
            estimate_kernel_upsampled(&y, &s, &[t], &[0.5], &[2.0], 1, 20, 5000, 1e-10, None, 0.0)
                .unwrap();
        for (a, b) in est.kernel.iter().zip(&h_true) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!(est.mse < 1e-10);
    }
}
