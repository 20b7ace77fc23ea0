//! The core reproduces tests/fixtures/deconv_golden.json, the fixtures the Python and WASM suites
//! check too, within the tolerance stored in the file (parity with the solver's own earlier
//! results), and tests/fixtures/deconv_dense_reference.json (correctness: small problems solved by
//! a generic dense method written without calab, scipy's Lawson-Hanson NNLS for the non-negative
//! problem and bounded-variable least squares for the box; see
//! tests/fixtures/make_dense_reference.py) within the tolerance stored with each case, with an
//! objective no worse than the reference's.

use calab_solver::deconvolve::{deconvolve, DeconvOptions, Method};
use calab_solver::kernel::KernelParams;
use calab_solver::operator::{Constraint, ConvMode};
use calab_solver::solve::{solve, SolveOptions};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn core_matches_golden_fixtures() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/deconv_golden.json"
    );
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rtol = golden["tolerance"]["rtol"].as_f64().unwrap();
    let atol = golden["tolerance"]["atol"].as_f64().unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut o = DeconvOptions::new(
            case["tau_rise"].as_f64().unwrap(),
            case["tau_decay"].as_f64().unwrap(),
            case["lam"].as_f64().unwrap(),
            case["fs"].as_f64().unwrap(),
        );
        o.max_iters = case["max_iters"].as_u64().unwrap() as u32;
        o.conv_mode = ConvMode::parse(case["conv_mode"].as_str().unwrap()).unwrap();
        o.constraint = Constraint::parse(case["constraint"].as_str().unwrap()).unwrap();
        o.method = Method::parse(case["method"].as_str().unwrap()).unwrap();
        o.bandpass = case["filter_enabled"].as_bool().unwrap();
        o.remove_drift = case["remove_drift"].as_bool().unwrap();
        let out = deconvolve(&floats(&case["trace"]), &o).unwrap();
        let exp = &case["expected"];
        assert_eq!(out.converged, exp["converged"].as_bool().unwrap(), "{name}");
        for (key, got) in [
            ("activity", &out.activity),
            ("reconvolution", &out.reconvolution),
        ] {
            let want = floats(&exp[key]);
            let bound = atol + rtol * want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= bound,
                "{name} {key}: off by {worst}, allowed {bound}"
            );
        }
    }
}

fn worst_diff(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
}

#[test]
fn solver_matches_the_dense_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/deconv_dense_reference.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let kernel = KernelParams::new(
            case["tau_rise"].as_f64().unwrap(),
            case["tau_decay"].as_f64().unwrap(),
            case["fs"].as_f64().unwrap(),
        )
        .unwrap();
        let mut opts = SolveOptions::new(case["lam"].as_f64().unwrap());
        opts.conv_mode = ConvMode::parse(case["conv_mode"].as_str().unwrap()).unwrap();
        opts.constraint = Constraint::parse(case["constraint"].as_str().unwrap()).unwrap();
        opts.max_iters = 20_000;
        // The reference is the optimiser's s, not the activity moved onto frame centres.
        opts.centre_on_frames = false;
        let y = floats(&case["trace"]);
        let out = solve(&y, &kernel, &opts).unwrap();
        assert!(out.converged, "{name}");
        let rtol = case["tolerance"]["rtol"].as_f64().unwrap();
        let atol = case["tolerance"]["atol"].as_f64().unwrap();
        let reference = &case["reference"];
        for (key, got) in [
            ("activity", &out.activity),
            ("reconvolution", &out.reconvolution),
        ] {
            let want = floats(&reference[key]);
            let bound = atol + rtol * want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = worst_diff(got, &want);
            assert!(
                worst <= bound,
                "{name} {key}: off the dense reference by {worst:e}, allowed {bound:e}"
            );
        }
        let b_ref = reference["baseline"].as_f64().unwrap();
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            (out.baseline - b_ref).abs() <= atol + rtol * scale,
            "{name} baseline: {} vs {b_ref}",
            out.baseline
        );
        // The objective at the solver's answer, by the fixture's formula.
        let fit_sq: f64 = y
            .iter()
            .zip(&out.reconvolution)
            .map(|(a, f)| (a - f).powi(2))
            .sum();
        let dc_gain = calab_solver::kernel::Ar2::from_params(&kernel).dc_gain;
        let penalty = match opts.constraint {
            Constraint::NonNeg => opts.lambda * dc_gain * out.activity.iter().sum::<f64>(),
            Constraint::Box01 => 0.0,
        };
        let f = 0.5 * fit_sq + penalty;
        let f_ref = reference["objective"].as_f64().unwrap();
        assert!(
            f <= f_ref * (1.0 + rtol),
            "{name} objective: {f} vs the reference's {f_ref}"
        );
    }
}
