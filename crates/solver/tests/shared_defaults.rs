//! The Rust defaults that Python and the browser apps also use equal the one source,
//! `schemas/solver-defaults.json` (read here at compile time, so the file ships nowhere new).

use calab_solver::deconvolve::DeconvOptions;
use calab_solver::solver::{DEFAULT_FS, DEFAULT_LAMBDA, DEFAULT_TAU_DECAY, DEFAULT_TAU_RISE};

const DEFAULTS: &str = include_str!("../../../schemas/solver-defaults.json");

fn value(key: &str) -> f64 {
    let doc: serde_json::Value =
        serde_json::from_str(DEFAULTS).expect("solver-defaults.json parses");
    doc[key]
        .as_f64()
        .unwrap_or_else(|| panic!("solver-defaults.json has no number {key}"))
}

#[test]
fn solver_constants_equal_the_shared_defaults() {
    assert_eq!(DEFAULT_TAU_RISE, value("tau_rise"));
    assert_eq!(DEFAULT_TAU_DECAY, value("tau_decay"));
    assert_eq!(DEFAULT_LAMBDA, value("lambda"));
    assert_eq!(DEFAULT_FS, value("fs"));
}

#[test]
fn deconv_options_iteration_cap_equals_the_shared_default() {
    let opts = DeconvOptions::new(0.02, 0.4, 0.01, 30.0);
    assert_eq!(f64::from(opts.max_iters), value("max_iters"));
}

#[test]
fn every_constant_is_documented_and_its_own_const() {
    // The file is a JSON Schema for its own values: each has a `const` property that equals it.
    let doc: serde_json::Value = serde_json::from_str(DEFAULTS).unwrap();
    let props = doc["properties"].as_object().expect("properties");
    assert!(!props.is_empty());
    for (key, prop) in props {
        assert_eq!(prop["const"], doc[key.as_str()], "{key}");
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{key}"
        );
    }
}
