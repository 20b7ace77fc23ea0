//! Solving a stretch of a recording with the whole-recording baseline held fixed reproduces the
//! whole-recording optimum inside the stretch once it is padded by one kernel length on each side.
//! This is what lets CaTune solve only the shown window (web/catune/src/window.ts uses the same
//! margin and the same tolerance, 1e-3 of the largest activity in the window).

use calab_solver::kernel::{build_kernel, KernelParams};
use calab_solver::solver::Solver;
use calab_solver::SolverError;

const FS: f64 = 30.0;
/// Same number as `WINDOW_TOLERANCE` in web/catune/src/window.ts.
const TOL: f64 = 1e-3;

fn recording(n: usize, seed: u64, tr: f64, td: f64) -> Vec<f64> {
    let h = build_kernel(tr, td, FS).unwrap();
    let mut state = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // Slow drift, so a window's own best baseline differs from the recording's.
    let mut y: Vec<f64> = (0..n)
        .map(|t| 1.0 + 0.2 * (t as f64 / n as f64 * 9.0).sin())
        .collect();
    for t in 0..n {
        if uniform() < 0.03 {
            let amp = 0.5 + uniform();
            for (k, hv) in h.iter().enumerate() {
                if t + k < n {
                    y[t + k] += amp * hv;
                }
            }
        }
        y[t] += 0.05 * (uniform() - 0.5);
    }
    y
}

fn solve(y: &[f64], tr: f64, td: f64, lambda: f64, baseline: Option<f64>) -> (Vec<f64>, f64) {
    let mut s = Solver::new();
    s.set_params(tr, td, lambda, FS).unwrap();
    s.set_trace(y).unwrap();
    s.set_fixed_baseline(baseline).unwrap();
    assert!(s.solve_exact(2000).unwrap(), "exact solve converged");
    (s.solution().to_vec(), s.baseline())
}

#[test]
fn window_with_kernel_margin_matches_full_solve() {
    for &(tr, td, lambda, seed) in &[
        (0.02, 0.4, 0.01, 1u64),
        (0.05, 1.0, 0.05, 2),
        (0.01, 0.2, 0.002, 3),
    ] {
        let n = 9000;
        let y = recording(n, seed, tr, td);
        let (full, b) = solve(&y, tr, td, lambda, None);
        let margin = build_kernel(tr, td, FS).unwrap().len();
        let _ = KernelParams::new(tr, td, FS).unwrap();
        for &(w0, w1) in &[
            (0usize, 1800usize),
            (3000, 4800),
            (7200, 9000),
            (4000, 4300),
        ] {
            let lo = w0.saturating_sub(margin);
            let hi = (w1 + margin).min(n);
            let (win, bw) = solve(&y[lo..hi], tr, td, lambda, Some(b));
            assert_eq!(bw, b);
            let peak = full[w0..w1].iter().fold(0.0f64, |m, v| m.max(*v));
            let err = (w0..w1)
                .map(|t| (win[t - lo] - full[t]).abs())
                .fold(0.0f64, f64::max);
            assert!(peak > 0.0);
            assert!(
                err <= TOL * peak,
                "tau_decay {td}, window {w0}..{w1}: max |window - full| = {err:e}, peak {peak}"
            );
            // Without the fixed baseline the window finds its own and is visibly off.
            let (free, _) = solve(&y[lo..hi], tr, td, lambda, None);
            let err_free = (w0..w1)
                .map(|t| (free[t - lo] - full[t]).abs())
                .fold(0.0f64, f64::max);
            // Measured: 0.8-23% of the peak free, at most 4.2e-6 fixed.
            let what = format!(
                "tau_decay {td}, window {w0}..{w1}: fixed err/peak {:.2e}, free err/peak {:.2e}",
                err / peak,
                err_free / peak
            );
            assert!(err_free > 5.0 * TOL * peak, "{what}");
            assert!(err_free > 100.0 * err, "{what}");
        }
    }
}

#[test]
fn fixed_baseline_is_validated_and_fista_refuses_it() {
    let y = recording(600, 9, 0.02, 0.4);
    let mut s = Solver::new();
    s.set_trace(&y).unwrap();
    let e = s.set_fixed_baseline(Some(f64::NAN)).unwrap_err();
    assert_eq!(e.code(), "INVALID_PARAMETER");
    s.set_fixed_baseline(Some(1.0)).unwrap();
    assert!(matches!(
        s.step_batch(5),
        Err(SolverError::InvalidParameter {
            name: "baseline",
            ..
        })
    ));
    assert_eq!(s.baseline(), 1.0);
    s.set_fixed_baseline(None).unwrap();
    assert!(s.step_batch(5).is_ok());
}
