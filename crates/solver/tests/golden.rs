//! The core reproduces tests/fixtures/deconv_golden.json, the fixtures the Python and WASM suites
//! check too, within the tolerance stored in the file.

use calab_solver::deconvolve::{deconvolve, DeconvOptions, Method};
use calab_solver::operator::{Constraint, ConvMode};
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
