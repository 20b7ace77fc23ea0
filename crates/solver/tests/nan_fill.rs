//! The missing-frame rule against the fixture the browser's implementation is tested on.

use calab_solver::gaps::fill_non_finite;
use serde_json::Value;

fn value(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().expect("a number"),
    }
}

#[test]
fn matches_the_shared_fixture() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/nan_fill.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let tol = fixture["tolerance"].as_f64().unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut row: Vec<f64> = case["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(value)
            .collect();
        let expected: Vec<f64> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(value)
            .collect();
        let filled = fill_non_finite(&mut row);
        assert_eq!(filled as u64, case["filled"].as_u64().unwrap(), "{name}");
        for (got, want) in row.iter().zip(&expected) {
            assert!(
                (got - want).abs() <= tol * want.abs().max(1.0),
                "{name}: {row:?} vs {expected:?}"
            );
        }
    }
}
