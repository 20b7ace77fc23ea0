//! The stateful `Solver` (what the browser workers drive) through its public API: call-order
//! errors, state export/import, warm starts, option toggles and the spectrum helpers.

use calab_solver::deconvolve::{deconvolve, DeconvOptions};
use calab_solver::filter;
use calab_solver::kernel::{build_kernel, KernelParams};
use calab_solver::operator::{Constraint, ConvMode};
use calab_solver::solver::{Solver, STATE_FORMAT};
use calab_solver::SolverError;

const TR: f64 = 0.02;
const TD: f64 = 0.4;
const FS: f64 = 30.0;

fn trace(n: usize, seed: u64) -> Vec<f64> {
    let h = build_kernel(TR, TD, FS).unwrap();
    let mut state = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut y: Vec<f64> = (0..n)
        .map(|t| 2.0 + 0.3 * (t as f64 / n as f64 * 6.0).sin())
        .collect();
    for t in 0..n {
        if uniform() < 0.04 {
            for (k, hv) in h.iter().enumerate() {
                if t + k < n {
                    y[t + k] += hv;
                }
            }
        }
        y[t] += 0.03 * (uniform() - 0.5);
    }
    y
}

fn solver_with(y: &[f64], lambda: f64) -> Solver {
    let mut s = Solver::new();
    s.set_params(TR, TD, lambda, FS).unwrap();
    s.set_trace(y).unwrap();
    s
}

/// Run FISTA to convergence; returns the iterations it took.
fn run_to_convergence(s: &mut Solver, cap: u32) -> u32 {
    let mut total = 0;
    while total < cap {
        let done = s.step_batch(10).unwrap();
        total = s.iteration_count();
        if done {
            return total;
        }
    }
    panic!("did not converge in {cap} iterations");
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn solving_before_a_trace_is_not_ready() {
    let mut s = Solver::new();
    for e in [
        s.step_batch(10).unwrap_err(),
        s.solve_exact(10).unwrap_err(),
        s.load_state(&[STATE_FORMAT, 0.0]).unwrap_err(),
    ] {
        assert!(matches!(e, SolverError::NotReady(_)), "{e:?}");
        assert_eq!(e.code(), "NOT_READY");
        assert!(!e.is_input_error());
        assert!(e.to_string().contains("set_trace"));
    }
    // Read-only queries are harmless without a trace.
    assert!(s.reconvolution().is_empty());
    assert_eq!(s.baseline(), 0.0);
    assert!(s.solution().is_empty());
    assert!(s.power_spectrum().is_empty());
    assert!(s.spectrum_frequencies().is_empty());
}

#[test]
fn set_trace_rejects_empty_and_non_finite_and_keeps_the_old_trace() {
    let y = trace(200, 1);
    let mut s = solver_with(&y, 0.01);
    run_to_convergence(&mut s, 20_000);
    let before = s.solution().to_vec();
    assert!(matches!(
        s.set_trace(&[]),
        Err(SolverError::TraceTooShort { .. })
    ));
    let mut bad = y.clone();
    bad[5] = f64::NAN;
    assert!(matches!(
        s.set_trace(&bad),
        Err(SolverError::NonFiniteInput {
            count: 1,
            first_index: 5
        })
    ));
    assert_eq!(s.raw_trace(), &y[..]);
    assert_eq!(s.solution(), &before[..]);
    assert!(s.converged());
}

#[test]
fn set_trace_before_set_params_is_the_same_as_after() {
    let y = trace(400, 2);
    for (bandpass, drift) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut a = Solver::new();
        a.set_filter_enabled(bandpass).unwrap();
        a.set_drift_removal(drift).unwrap();
        a.set_trace(&y).unwrap();
        a.set_params(0.05, 0.9, 0.02, 20.0).unwrap();

        let mut b = Solver::new();
        b.set_params(0.05, 0.9, 0.02, 20.0).unwrap();
        b.set_filter_enabled(bandpass).unwrap();
        b.set_drift_removal(drift).unwrap();
        b.set_trace(&y).unwrap();

        assert_eq!(a.trace(), b.trace(), "bandpass={bandpass} drift={drift}");
        assert!(a.solve_exact(100).unwrap() && b.solve_exact(100).unwrap());
        assert_eq!(a.solution(), b.solution());
    }
}

#[test]
fn invalid_params_leave_the_solver_unchanged() {
    let y = trace(200, 3);
    let mut s = solver_with(&y, 0.01);
    let p = s.params();
    for (tr, td, lam, fs) in [
        (0.5, 0.4, 0.01, 30.0),
        (0.02, 0.4, -1.0, 30.0),
        (0.02, 0.4, 0.01, f64::NAN),
    ] {
        assert!(matches!(
            s.set_params(tr, td, lam, fs),
            Err(SolverError::InvalidParameter { .. })
        ));
        assert_eq!(s.params(), p);
    }
    for tol in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            s.set_tolerance(tol),
            Err(SolverError::InvalidParameter { name: "tol", .. })
        ));
    }
}

#[test]
fn load_state_validation() {
    let y = trace(100, 4);
    let mut s = solver_with(&y, 0.01);
    let n = y.len() as f64;
    let good = {
        let mut v = vec![STATE_FORMAT, n];
        v.extend(vec![0.1; y.len()]);
        v
    };
    assert!(s.load_state(&good).is_ok());
    let mut cases: Vec<Vec<f64>> = vec![
        vec![],
        vec![STATE_FORMAT],
        good[..good.len() - 1].to_vec(), // one sample short
        {
            let mut v = good.clone();
            v.push(0.0); // one sample long
            v
        },
        {
            let mut v = good.clone();
            v[0] = STATE_FORMAT + 1.0; // other format
            v
        },
        {
            let mut v = good.clone();
            v[1] = n + 1.0; // header disagrees with the payload
            v
        },
        {
            let mut v = good.clone();
            v[10] = -1e-3; // negative activity
            v
        },
    ];
    cases.push({
        let mut v = vec![STATE_FORMAT, 50.0];
        v.extend(vec![0.0; 50]); // a state for another trace length
        v
    });
    for bad in cases {
        let e = s.load_state(&bad).unwrap_err();
        assert!(matches!(e, SolverError::InvalidState(_)), "{bad:?}: {e:?}");
        assert_eq!(e.code(), "INVALID_STATE");
    }
    // A failed load leaves the last good state in place.
    assert!(s.solution().iter().all(|v| *v == 0.1));
}

/// A NaN in a loaded state is a bad state, not a bad trace.
#[test]
fn load_state_with_nan_is_invalid_state() {
    let y = trace(100, 4);
    let mut s = solver_with(&y, 0.01);
    let mut v = vec![STATE_FORMAT, y.len() as f64];
    v.extend(vec![0.0; y.len()]);
    v[7] = f64::NAN;
    let e = s.load_state(&v).unwrap_err();
    assert!(
        matches!(e, SolverError::InvalidState(_)),
        "non-finite state is InvalidState, got {e:?}"
    );
    v[7] = f64::INFINITY;
    assert!(matches!(
        s.load_state(&v),
        Err(SolverError::InvalidState(_))
    ));
}

#[test]
fn export_load_round_trip_warm_starts() {
    let y = trace(600, 5);
    let mut cold = solver_with(&y, 0.01);
    let cold_iters = run_to_convergence(&mut cold, 50_000);
    assert!(cold_iters > 20, "{cold_iters}");
    let state = cold.export_state();
    assert_eq!(state.len(), y.len() + 2);
    assert_eq!(state[0], STATE_FORMAT);
    assert_eq!(state[1], y.len() as f64);
    assert_eq!(&state[2..], cold.solution());

    let mut warm = solver_with(&y, 0.01);
    warm.load_state(&state).unwrap();
    assert_eq!(warm.solution(), cold.solution());
    assert_eq!(warm.export_state(), state);
    let warm_iters = run_to_convergence(&mut warm, 50_000);
    assert!(
        warm_iters < cold_iters / 4,
        "warm {warm_iters} vs cold {cold_iters}"
    );
    let scale = max_abs(cold.solution());
    assert!(max_abs_diff(warm.solution(), cold.solution()) < 1e-4 * scale);
}

#[test]
fn set_params_keeps_the_warm_start() {
    let y = trace(600, 6);
    let mut s = solver_with(&y, 0.01);
    run_to_convergence(&mut s, 50_000);
    let before = s.solution().to_vec();
    s.set_params(TR, TD, 0.011, FS).unwrap();
    assert_eq!(
        s.solution(),
        &before[..],
        "the iterate survives a parameter change"
    );
    assert!(!s.converged());
    assert_eq!(s.iteration_count(), 0);
    let warm_iters = run_to_convergence(&mut s, 50_000);

    let mut cold = solver_with(&y, 0.011);
    let cold_iters = run_to_convergence(&mut cold, 50_000);
    assert!(
        warm_iters < cold_iters,
        "warm {warm_iters} vs cold {cold_iters}"
    );
    let scale = max_abs(cold.solution());
    assert!(max_abs_diff(s.solution(), cold.solution()) < 1e-3 * scale);

    // Changing the kinetics keeps the iterate too (and rebuilds the operator).
    let before = s.solution().to_vec();
    s.set_params(TR, 0.5, 0.011, FS).unwrap();
    assert_eq!(s.solution(), &before[..]);
    run_to_convergence(&mut s, 50_000);
}

#[test]
fn a_new_trace_starts_from_zero_and_may_change_length() {
    let mut s = solver_with(&trace(300, 7), 0.01);
    run_to_convergence(&mut s, 50_000);
    for n in [300usize, 120, 500, 1] {
        let y = trace(n, 8 + n as u64);
        s.set_trace(&y).unwrap();
        assert_eq!(s.solution().len(), n);
        assert!(s.solution().iter().all(|v| *v == 0.0));
        assert!(!s.converged());
        if n > 1 {
            run_to_convergence(&mut s, 50_000);
        }
        // Same answer as a fresh solver.
        let mut o = DeconvOptions::new(TR, TD, 0.01, FS);
        o.method = calab_solver::deconvolve::Method::Fista;
        o.max_iters = 50_000;
        let fresh = deconvolve(&y, &o).unwrap();
        assert_eq!(s.solution_on_frames(), fresh.activity, "n={n}");
        assert_eq!(s.reconvolution().len(), n);
    }
}

#[test]
fn conv_modes_agree() {
    let y = trace(500, 9);
    let mut a = solver_with(&y, 0.01);
    let mut b = solver_with(&y, 0.01);
    a.set_conv_mode(ConvMode::Fft);
    b.set_conv_mode(ConvMode::Banded);
    assert_eq!(
        (a.conv_mode(), b.conv_mode()),
        (ConvMode::Fft, ConvMode::Banded)
    );
    run_to_convergence(&mut a, 50_000);
    run_to_convergence(&mut b, 50_000);
    let scale = max_abs(a.solution());
    assert!(max_abs_diff(a.solution(), b.solution()) < 1e-4 * scale);
    assert!(
        max_abs_diff(
            &a.reconvolution_with_baseline(),
            &b.reconvolution_with_baseline()
        ) < 1e-5
    );
    // Switching the mode mid-solve keeps the iterate.
    let before = b.solution().to_vec();
    b.set_conv_mode(ConvMode::Fft);
    assert_eq!(b.solution(), &before[..]);
}

#[test]
fn filter_and_drift_toggles_change_the_fitted_trace_only() {
    let y = trace(900, 10);
    let mut s = solver_with(&y, 0.01);
    assert!(!s.filter_enabled() && !s.drift_removal());
    assert_eq!(s.trace(), &y[..]);

    s.set_filter_enabled(true).unwrap();
    assert!(s.filter_enabled());
    let p = KernelParams::new(TR, TD, FS).unwrap();
    assert_eq!(s.trace(), &filter::bandpass_filter(&y, &p).unwrap()[..]);
    assert!(max_abs_diff(s.trace(), &y) > 0.01);
    assert_eq!(s.raw_trace(), &y[..]);
    assert!(s.apply_filter().unwrap());

    // The fit follows the trace being fitted.
    run_to_convergence(&mut s, 50_000);
    let filtered_fit = s.reconvolution_with_baseline();
    s.set_filter_enabled(false).unwrap();
    assert_eq!(s.trace(), &y[..]);
    run_to_convergence(&mut s, 50_000);
    assert!(max_abs_diff(&s.reconvolution_with_baseline(), &filtered_fit) > 0.01);
    assert!(!s.apply_filter().unwrap());

    s.set_drift_removal(true).unwrap();
    assert!(s.drift_removal());
    assert!(max_abs_diff(s.trace(), &y) > 0.01);
    s.set_drift_removal(false).unwrap();
    assert_eq!(s.trace(), &y[..]);

    // A trace too short for the bandpass is refused when the filter is on.
    let mut t = Solver::new();
    t.set_filter_enabled(true).unwrap();
    assert!(matches!(
        t.set_trace(&[1.0, 2.0]),
        Err(SolverError::TraceTooShort { .. })
    ));
}

#[test]
fn box_constraint_and_solve_exact_fallback() {
    let y: Vec<f64> = trace(400, 11).iter().map(|v| 3.0 * v).collect();
    let mut s = solver_with(&y, 0.01);
    s.set_constraint(Constraint::Box01);
    assert_eq!(s.constraint(), Constraint::Box01);
    let converged = s.solve_exact(20_000).unwrap(); // FISTA for the box constraint
    assert!(converged);
    assert!(s.solution().iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(s.solution().contains(&1.0));
    // The box objective has no L1 term.
    let fit = s.reconvolution_with_baseline();
    let data: f64 = 0.5
        * y.iter()
            .zip(&fit)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
    assert!((s.objective() - data).abs() <= 1e-12 * data.max(1.0));
}

#[test]
fn objective_baseline_and_reconvolution_are_consistent() {
    let y = trace(300, 12);
    let mut s = solver_with(&y, 0.02);
    let at_zero = s.objective();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    assert!((s.baseline() - mean).abs() < 1e-12);
    assert!(s.solve_exact(100).unwrap());
    assert!(s.objective() < at_zero);
    let ks = s.reconvolution();
    let b = s.baseline();
    let expect_b = y.iter().zip(&ks).map(|(a, k)| a - k).sum::<f64>() / y.len() as f64;
    assert!((b - expect_b).abs() < 1e-12);
    let with_b = s.reconvolution_with_baseline();
    for (w, k) in with_b.iter().zip(&ks) {
        assert!((w - k - b).abs() < 1e-12);
    }
}

#[test]
fn spectrum_and_cutoffs() {
    for n in [2usize, 3, 100, 101, 1000] {
        let y = trace(n, 13);
        let s = solver_with(&y, 0.01);
        let ps = s.power_spectrum();
        let fr = s.spectrum_frequencies();
        assert_eq!(ps.len(), n / 2 + 1, "n={n}");
        assert_eq!(fr.len(), ps.len());
        assert_eq!(fr[0], 0.0);
        assert!(fr.windows(2).all(|w| w[1] > w[0]));
        assert!(*fr.last().unwrap() <= FS / 2.0 + 1e-12);
        if n % 2 == 0 {
            assert!((fr.last().unwrap() - FS / 2.0).abs() < 1e-12);
        }
        assert!(ps.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!(ps[0].abs() < 1e-18 * n as f64 + 1e-20); // mean removed
                                                         // Parseval: sum of the one-sided spectrum accounts for the variance.
        let mean = y.iter().sum::<f64>() / n as f64;
        let var: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
        let mut total = 0.0;
        for (k, p) in ps.iter().enumerate() {
            let twice = k != 0 && !(n % 2 == 0 && k == n / 2);
            total += if twice { 2.0 * p } else { *p };
        }
        assert!(
            (total - var).abs() <= 1e-9 * var.max(1e-12),
            "n={n}: {total} vs {var}"
        );
    }
    let s = Solver::new();
    let (hp, lp) = s.filter_cutoffs();
    assert!(hp > 0.0 && lp > hp);
    assert!((hp - 0.25 / (2.0 * std::f64::consts::PI * TD)).abs() < 1e-12);
    assert!((lp - 2.0 / (2.0 * std::f64::consts::PI * TR)).abs() < 1e-12);
}

#[test]
fn tolerance_controls_fista_stopping() {
    let y = trace(600, 14);
    let mut loose = solver_with(&y, 0.01);
    loose.set_tolerance(1e-3).unwrap();
    let mut tight = solver_with(&y, 0.01);
    tight.set_tolerance(1e-9).unwrap();
    let a = run_to_convergence(&mut loose, 100_000);
    let b = run_to_convergence(&mut tight, 100_000);
    assert!(a < b, "{a} vs {b}");
    assert!(tight.objective() <= loose.objective() + 1e-12);
}

/// The stateful solver, driven through its setters as the browser does, and the pure
/// `solve::solve` (what the one-shot, batch and binding paths call) give the same fit to the bit,
/// on every path: exact and FISTA, both operators, both constraints, with and without
/// preprocessing.
#[test]
fn stateful_solver_and_pure_solve_agree_bit_for_bit() {
    use calab_solver::deconvolve::Method;
    use calab_solver::preprocess::Preprocessing;
    use calab_solver::solve::{solve, SolveOptions};
    let y = trace(700, 11);
    let kernel = KernelParams::new(TR, TD, FS).unwrap();
    use Constraint::{Box01, NonNeg};
    use ConvMode::{Banded, Fft};
    let cases = [
        (Fft, NonNeg, Method::Auto, false, false),
        (Banded, NonNeg, Method::Auto, true, false),
        (Fft, NonNeg, Method::Fista, false, true),
        (Banded, Box01, Method::Auto, false, false),
        (Fft, NonNeg, Method::Exact, true, true),
    ];
    for (mode, constraint, method, drift, bandpass) in cases {
        let mut opts = SolveOptions::new(0.02);
        opts.conv_mode = mode;
        opts.constraint = constraint;
        opts.method = method;
        opts.preprocessing = Preprocessing {
            remove_drift: drift,
            bandpass,
        };
        opts.centre_on_frames = false;
        let pure = solve(&y, &kernel, &opts).unwrap();

        let mut s = Solver::new();
        s.set_params(TR, TD, 0.02, FS).unwrap();
        s.set_conv_mode(mode);
        s.set_constraint(constraint);
        s.set_drift_removal(drift).unwrap();
        s.set_filter_enabled(bandpass).unwrap();
        s.set_trace(&y).unwrap();
        let converged = if method == Method::Fista {
            s.step_batch(opts.max_iters).unwrap()
        } else {
            s.solve_exact(opts.max_iters).unwrap()
        };
        let case = format!("{mode:?} {constraint:?} {method:?} drift {drift} bandpass {bandpass}");
        assert_eq!(converged, pure.converged, "{case}");
        assert_eq!(s.iteration_count(), pure.iterations, "{case}");
        assert_eq!(s.solution(), &pure.activity[..], "{case}");
        // (With drift removal alone the pure fit adds the removed drift back.)
        if !drift || bandpass {
            let (reconv, b) = if method.uses_exact(constraint) && converged {
                s.ar2_reconvolution_with_baseline()
            } else {
                (s.reconvolution_with_baseline(), s.baseline())
            };
            assert_eq!(b, pure.baseline, "{case}");
            assert_eq!(reconv, pure.reconvolution, "{case}");
        }
    }
}
