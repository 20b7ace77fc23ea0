//! Missing frames: the one rule for filling non-finite samples (NaN, +-Inf) of a trace before
//! solving, the rule CaTune and CaDecon apply on import (`web/shared/traces.ts`,
//! `interpolateNonFinite`; both are checked against `tests/fixtures/nan_fill.json`).
//!
//! Each run of non-finite samples between two finite ones is replaced by the straight line
//! between them; a run at the start takes the first finite value, a run at the end the last; a
//! trace with no finite sample becomes all zeros.

use crate::error::{Result, SolverError};

/// Fill the non-finite samples of `row` in place; returns how many were filled.
pub fn fill_non_finite(row: &mut [f64]) -> usize {
    let n = row.len();
    let mut filled = 0;
    let mut prev: Option<usize> = None;
    for i in 0..=n {
        if i < n && !row[i].is_finite() {
            continue;
        }
        let start = prev.map_or(0, |p| p + 1);
        if i > start {
            filled += i - start;
            match (prev, i < n) {
                (Some(p), true) => {
                    let (left, right) = (row[p], row[i]);
                    let span = (i - p) as f64;
                    for (k, v) in row.iter_mut().enumerate().take(i).skip(start) {
                        let t = (k - p) as f64 / span;
                        *v = left + (right - left) * t;
                    }
                }
                (Some(p), false) => {
                    let left = row[p];
                    row[start..i].iter_mut().for_each(|v| *v = left);
                }
                (None, true) => {
                    let right = row[i];
                    row[start..i].iter_mut().for_each(|v| *v = right);
                }
                (None, false) => row[start..i].iter_mut().for_each(|v| *v = 0.0),
            }
        }
        prev = Some(i);
    }
    filled
}

/// [`fill_non_finite`] on every row of a row-major matrix with `n_cols` columns; returns the
/// count per row.
pub fn fill_non_finite_rows(data: &mut [f64], n_cols: usize) -> Result<Vec<usize>> {
    if n_cols == 0 || !data.len().is_multiple_of(n_cols) {
        return Err(SolverError::ShapeMismatch(format!(
            "{} values do not split into rows of {n_cols}",
            data.len()
        )));
    }
    Ok(data.chunks_mut(n_cols).map(fill_non_finite).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_runs_are_lines_and_ends_take_the_nearest_value() {
        let mut r = [
            f64::NAN,
            1.0,
            f64::NAN,
            f64::NAN,
            4.0,
            f64::INFINITY,
            6.0,
            f64::NAN,
        ];
        assert_eq!(fill_non_finite(&mut r), 5);
        assert_eq!(r, [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0]);
    }

    #[test]
    fn nothing_finite_is_zero_and_nothing_missing_is_untouched() {
        let mut r = [f64::NAN, f64::NEG_INFINITY];
        assert_eq!(fill_non_finite(&mut r), 2);
        assert_eq!(r, [0.0, 0.0]);
        let mut ok = [1.0, 2.0];
        assert_eq!(fill_non_finite(&mut ok), 0);
        assert_eq!(ok, [1.0, 2.0]);
        let mut empty: [f64; 0] = [];
        assert_eq!(fill_non_finite(&mut empty), 0);
    }

    #[test]
    fn rows_are_independent() {
        let mut m = [f64::NAN, 2.0, 3.0, f64::NAN];
        assert_eq!(fill_non_finite_rows(&mut m, 2).unwrap(), vec![1, 1]);
        assert_eq!(m, [2.0, 2.0, 3.0, 3.0]);
        assert!(fill_non_finite_rows(&mut m, 3).is_err());
    }
}
