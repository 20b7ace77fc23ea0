//! Degenerate and hostile inputs through the public one-shot API: every case gives a correct,
//! finite answer or the matching `SolverError` variant; never a panic, NaN or hang.

use calab_solver::deconvolve::{deconvolve, deconvolve_rows, DeconvOptions, DeconvOutput, Method};
use calab_solver::kernel::{
    build_kernel, compute_lipschitz, frame_centre_shift, tau_to_ar2, KernelParams,
};
use calab_solver::operator::{Constraint, ConvMode};
use calab_solver::SolverError;

fn opts() -> DeconvOptions {
    DeconvOptions::new(0.02, 0.4, 0.01, 30.0)
}

/// Every (method, constraint, conv mode) combination the one-shot API accepts.
fn all_paths() -> Vec<DeconvOptions> {
    let mut v = Vec::new();
    for conv_mode in [ConvMode::Fft, ConvMode::Banded] {
        for (method, constraint) in [
            (Method::Auto, Constraint::NonNeg),
            (Method::Exact, Constraint::NonNeg),
            (Method::Fista, Constraint::NonNeg),
            (Method::Auto, Constraint::Box01),
            (Method::Fista, Constraint::Box01),
        ] {
            let mut o = opts();
            o.conv_mode = conv_mode;
            o.method = method;
            o.constraint = constraint;
            v.push(o);
        }
    }
    v
}

fn trace(n: usize, seed: u64) -> Vec<f64> {
    let h = build_kernel(0.02, 0.4, 30.0).unwrap();
    let mut state = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut y = vec![1.0; n];
    for t in 0..n {
        if uniform() < 0.05 {
            for (k, hv) in h.iter().enumerate() {
                if t + k < n {
                    y[t + k] += hv;
                }
            }
        }
        y[t] += 0.02 * (uniform() - 0.5);
    }
    y
}

fn assert_sane(out: &DeconvOutput, n: usize, o: &DeconvOptions) {
    assert_eq!(out.activity.len(), n);
    assert_eq!(out.reconvolution.len(), n);
    assert!(out.baseline.is_finite());
    assert!(out.activity.iter().all(|v| v.is_finite() && *v >= 0.0));
    if o.constraint == Constraint::Box01 {
        assert!(out.activity.iter().all(|v| *v <= 1.0));
    }
    assert!(out.reconvolution.iter().all(|v| v.is_finite()));
}

fn param_name(e: &SolverError) -> &'static str {
    match e {
        SolverError::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn bad_kinetics_and_lambda_are_invalid_parameters() {
    let y = trace(100, 1);
    let cases: &[(f64, f64, f64, f64, &str)] = &[
        (0.5, 0.4, 0.01, 30.0, "tau_rise"),
        (0.4, 0.4, 0.01, 30.0, "tau_rise"),
        (0.0, 0.4, 0.01, 30.0, "tau_rise"),
        (-0.1, 0.4, 0.01, 30.0, "tau_rise"),
        (f64::NAN, 0.4, 0.01, 30.0, "tau_rise"),
        (0.02, f64::INFINITY, 0.01, 30.0, "tau_decay"),
        (0.02, -0.4, 0.01, 30.0, "tau_decay"),
        (0.02, 0.4, 0.01, 0.0, "fs"),
        (0.02, 0.4, 0.01, -30.0, "fs"),
        (0.02, 0.4, 0.01, f64::NAN, "fs"),
        (0.02, 0.4, 0.01, f64::INFINITY, "fs"),
        (0.02, 0.4, -1e-9, 30.0, "lambda"),
        (0.02, 0.4, f64::NAN, 30.0, "lambda"),
        (0.02, 0.4, f64::INFINITY, 30.0, "lambda"),
        (1e-7, 1e-6, 0.01, 30.0, "tau_decay"),
        (0.02, 1e9, 0.01, 1e3, "tau_decay"),
    ];
    for &(tr, td, lam, fs, name) in cases {
        for mut o in all_paths() {
            (o.tau_rise, o.tau_decay, o.lambda, o.fs) = (tr, td, lam, fs);
            let e = deconvolve(&y, &o).unwrap_err();
            assert_eq!(param_name(&e), name, "{tr} {td} {lam} {fs}");
            assert_eq!(e.code(), "INVALID_PARAMETER");
            assert!(e.is_input_error());
            assert!(e.to_string().contains(name));
        }
    }
}

#[test]
fn kernel_functions_reject_what_deconvolve_rejects() {
    assert!(matches!(
        build_kernel(0.4, 0.4, 30.0),
        Err(SolverError::InvalidParameter { .. })
    ));
    assert!(matches!(
        tau_to_ar2(0.02, 0.4, f64::NAN),
        Err(SolverError::InvalidParameter { .. })
    ));
    assert!(matches!(
        KernelParams::new(0.02, 0.0, 30.0),
        Err(SolverError::InvalidParameter { .. })
    ));
    assert!(matches!(
        compute_lipschitz(&[]),
        Err(SolverError::TraceTooShort { .. })
    ));
    assert!(matches!(
        compute_lipschitz(&[0.0, f64::NAN]),
        Err(SolverError::NonFiniteInput { .. })
    ));
}

#[test]
fn exact_with_box_constraint_is_an_unknown_option() {
    let mut o = opts();
    o.method = Method::Exact;
    o.constraint = Constraint::Box01;
    let e = deconvolve(&trace(50, 1), &o).unwrap_err();
    assert!(matches!(e, SolverError::UnknownOption { .. }), "{e:?}");
    assert!(e.to_string().contains("exact"));
}

#[test]
fn unknown_option_strings() {
    for (r, kind) in [
        (ConvMode::parse("fftw").map(|_| ()), "conv_mode"),
        (Constraint::parse("positive").map(|_| ()), "constraint"),
        (Method::parse("admm").map(|_| ()), "method"),
        (ConvMode::parse("").map(|_| ()), "conv_mode"),
    ] {
        match r {
            Err(SolverError::UnknownOption { kind: k, .. }) => assert_eq!(k, kind),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ConvMode::parse("ar2").unwrap(), ConvMode::Banded);
    assert_eq!(Constraint::parse("box").unwrap(), Constraint::Box01);
    for m in [ConvMode::Fft, ConvMode::Banded] {
        assert_eq!(ConvMode::parse(m.as_str()).unwrap(), m);
    }
    for c in [Constraint::NonNeg, Constraint::Box01] {
        assert_eq!(Constraint::parse(c.as_str()).unwrap(), c);
    }
}

#[test]
fn empty_trace_is_too_short() {
    for o in all_paths() {
        let e = deconvolve(&[], &o).unwrap_err();
        assert!(
            matches!(e, SolverError::TraceTooShort { len: 0, .. }),
            "{e:?}"
        );
    }
}

#[test]
fn non_finite_samples_report_count_and_first_index() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut y = trace(60, 2);
        y[13] = bad;
        y[40] = bad;
        for o in all_paths() {
            match deconvolve(&y, &o) {
                Err(SolverError::NonFiniteInput { count, first_index }) => {
                    assert_eq!((count, first_index), (2, 13));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn length_one_and_two() {
    for o in all_paths() {
        let out = deconvolve(&[2.5], &o).unwrap();
        assert_eq!(out.activity, vec![0.0]);
        assert_eq!(out.baseline, 2.5);
        assert_eq!(out.reconvolution, vec![2.5]);
        assert!(out.converged);

        let out = deconvolve(&[2.5, 3.0], &o).unwrap();
        assert_sane(&out, 2, &o);
        // The solver's last sample cannot affect the trace and is zero; on frame centres the
        // report moves the shift's share of the first sample onto it.
        let shift = frame_centre_shift(&KernelParams::new(o.tau_rise, o.tau_decay, o.fs).unwrap());
        assert!(out.activity[0] > 0.0);
        let want = out.activity[0] * shift / (1.0 - shift);
        assert!((out.activity[1] - want).abs() < 1e-12, "{:?}", out.activity);
        let mean = 0.5 * (out.reconvolution[0] + out.reconvolution[1]);
        assert!((mean - 2.75).abs() < 1e-12);
    }
    // The bandpass needs four samples and says so.
    let mut o = opts();
    o.bandpass = true;
    assert!(matches!(
        deconvolve(&[1.0, 2.0, 3.0], &o),
        Err(SolverError::TraceTooShort { len: 3, min: 4 })
    ));
    assert!(deconvolve(&[1.0, 2.0, 3.0, 2.0], &o).is_ok());
}

#[test]
fn constant_trace_gives_zero_activity_and_the_constant_as_baseline() {
    for value in [0.0, 7.0, -3.25, 1e9] {
        for o in all_paths() {
            let out = deconvolve(&vec![value; 80], &o).unwrap();
            assert!(out.activity.iter().all(|v| *v == 0.0), "{value} {o:?}");
            assert!((out.baseline - value).abs() <= 1e-12 * value.abs().max(1.0));
            assert!(out.converged);
        }
    }
}

#[test]
fn scale_equivariance_with_scaled_lambda() {
    // 1/2||k y - K s - b||^2 + k lam G |s|_1 = k^2 (problem for y, lam) at s = k s'.
    let y = trace(300, 3);
    for o in all_paths()
        .into_iter()
        .filter(|o| o.constraint == Constraint::NonNeg)
    {
        let mut o = o;
        o.max_iters = 20_000;
        let base = deconvolve(&y, &o).unwrap();
        let amax = base.activity.iter().cloned().fold(0.0, f64::max);
        assert!(amax > 0.5);
        for k in [1e-12, 1e12] {
            let mut ok = o;
            ok.lambda = o.lambda * k;
            let ys: Vec<f64> = y.iter().map(|v| v * k).collect();
            let out = deconvolve(&ys, &ok).unwrap();
            assert!(out.converged);
            for (a, b) in out.activity.iter().zip(&base.activity) {
                assert!((a / k - b).abs() <= 1e-6 * amax, "{k} {o:?}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn huge_lambda_zeroes_everything() {
    let y = trace(200, 4);
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    for mut o in all_paths() {
        o.lambda = 1e300;
        let out = deconvolve(&y, &o).unwrap();
        assert_sane(&out, y.len(), &o);
        if o.constraint == Constraint::NonNeg {
            assert!(out.activity.iter().all(|v| *v == 0.0));
            assert!((out.baseline - mean).abs() < 1e-12);
        }
    }
}

#[test]
fn max_iters_edge_values_do_not_panic() {
    let y = trace(200, 5);
    for max_iters in [0u32, 1, 2] {
        for mut o in all_paths() {
            o.max_iters = max_iters;
            let out = deconvolve(&y, &o).unwrap();
            assert_sane(&out, y.len(), &o);
            if o.method == Method::Fista || o.constraint == Constraint::Box01 {
                assert!(out.iterations <= max_iters);
            }
        }
    }
}

#[test]
fn rows_api_shapes_and_per_row_errors() {
    let o = opts();
    assert!(matches!(
        deconvolve_rows(&[1.0; 10], 0, &o),
        Err(SolverError::ShapeMismatch(_))
    ));
    assert!(matches!(
        deconvolve_rows(&[1.0; 10], 3, &o),
        Err(SolverError::ShapeMismatch(_))
    ));
    assert!(deconvolve_rows(&[], 5, &o).unwrap().is_empty());
    // Options are validated once, before any row.
    let mut bad = o;
    bad.tau_rise = 1.0;
    assert!(matches!(
        deconvolve_rows(&[1.0; 10], 5, &bad),
        Err(SolverError::InvalidParameter { .. })
    ));
    // One bad row does not hide the others, and good rows equal their one-shot results.
    let mut data = trace(50, 6);
    let mut bad_row = trace(50, 7);
    bad_row[9] = f64::NAN;
    data.extend(bad_row);
    data.extend(trace(50, 8));
    let rows = deconvolve_rows(&data, 50, &o).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].as_ref().unwrap(),
        &deconvolve(&data[..50], &o).unwrap()
    );
    assert!(matches!(
        rows[1],
        Err(SolverError::NonFiniteInput {
            count: 1,
            first_index: 9
        })
    ));
    assert_eq!(
        rows[2].as_ref().unwrap(),
        &deconvolve(&data[100..], &o).unwrap()
    );
}

#[test]
fn deterministic_bit_for_bit() {
    let y = trace(500, 9);
    for o in all_paths() {
        assert_eq!(deconvolve(&y, &o).unwrap(), deconvolve(&y, &o).unwrap());
    }
}

#[test]
fn error_codes_are_stable_and_classified() {
    use calab_solver::error::ERROR_CODES;
    let samples = [
        SolverError::InvalidParameter {
            name: "x",
            value: 1.0,
            reason: "r".into(),
        },
        SolverError::NonFiniteInput {
            count: 1,
            first_index: 0,
        },
        SolverError::TraceTooShort { len: 0, min: 1 },
        SolverError::ShapeMismatch("s".into()),
        SolverError::InvalidState("s".into()),
        SolverError::UnknownOption {
            kind: "k",
            value: "v".into(),
            expected: "e",
        },
        SolverError::ValueOutOfRange { max_abs: 1e200 },
        SolverError::NotReady("n".into()),
        SolverError::NumericalFailure("n".into()),
        SolverError::OutOfMemory {
            what: "w".into(),
            bytes: 1 << 40,
        },
        SolverError::Internal("i".into()),
        SolverError::Cancelled,
    ];
    let codes: Vec<&str> = samples.iter().map(|e| e.code()).collect();
    assert_eq!(codes, ERROR_CODES);
    for e in &samples {
        let not_input = [
            "NOT_READY",
            "NUMERICAL_FAILURE",
            "OUT_OF_MEMORY",
            "INTERNAL",
            "CANCELLED",
        ];
        assert_eq!(e.is_input_error(), !not_input.contains(&e.code()));
        assert!(!e.to_string().is_empty());
    }
}

/// Finite data near 1e200 would overflow sums of squares: it must be refused as an input
/// error (VALUE_OUT_OF_RANGE) or handled correctly, never answered with inf/NaN.
#[test]
fn extreme_but_finite_amplitudes() {
    let y = trace(300, 3);
    let mut o = opts();
    o.lambda = 0.0;
    o.max_iters = 20_000;
    for method in [Method::Exact, Method::Fista] {
        o.method = method;
        let base = deconvolve(&y, &o).unwrap();
        let amax = base.activity.iter().cloned().fold(0.0, f64::max);
        let k = 1e200;
        let ys: Vec<f64> = y.iter().map(|v| v * k).collect();
        match deconvolve(&ys, &o) {
            Err(e) => assert!(e.is_input_error()),
            Ok(out) => {
                let ok = out.activity.iter().all(|v| v.is_finite())
                    && out.baseline.is_finite()
                    && out
                        .activity
                        .iter()
                        .zip(&base.activity)
                        .all(|(a, b)| (a / k - b).abs() <= 1e-4 * amax);
                assert!(ok, "extreme amplitude 1e200 mishandled by {method:?}");
            }
        }
    }
}
