//! Run a per-trace solver over every row of a row-major matrix: the shape check and the (optionally
//! parallel, with feature `parallel`) map that the batch entry points of every solver share.
//! Rows are independent, so results never depend on how many threads ran them.

use crate::error::{Result, SolverError};

/// Split `data` into rows of `n_cols` values and apply `solve` to each. The outer error is a shape
/// error; each row gets its own result, so one bad row does not hide the others.
pub fn map_rows<T, F>(data: &[f64], n_cols: usize, solve: F) -> Result<Vec<Result<T>>>
where
    T: Send,
    F: Fn(&[f64]) -> Result<T> + Sync,
{
    if n_cols == 0 || !data.len().is_multiple_of(n_cols) {
        return Err(SolverError::ShapeMismatch(format!(
            "{} values do not split into rows of {n_cols}",
            data.len()
        )));
    }
    // The caller's cancellation token (if any) follows the rows into the worker threads.
    let progress = crate::cancel::current();
    let one = |r: &[f64]| {
        crate::cancel::row(&progress, || {
            if crate::cancel::cancelled() {
                return Err(SolverError::Cancelled);
            }
            solve(r)
        })
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        Ok(data.par_chunks(n_cols).map(one).collect())
    }
    #[cfg(not(feature = "parallel"))]
    {
        Ok(data.chunks(n_cols).map(one).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ragged_and_empty_rows() {
        let sum = |r: &[f64]| Ok(r.iter().sum::<f64>());
        assert!(matches!(
            map_rows(&[1.0; 5], 2, sum),
            Err(SolverError::ShapeMismatch(_))
        ));
        assert!(matches!(
            map_rows(&[1.0; 4], 0, sum),
            Err(SolverError::ShapeMismatch(_))
        ));
    }

    #[test]
    fn keeps_row_order_and_per_row_errors() {
        let data = [1.0, 2.0, -1.0, 0.0, 3.0, 4.0];
        let out = map_rows(&data, 2, |r| {
            if r[0] < 0.0 {
                Err(SolverError::param("row", r[0], "must be >= 0"))
            } else {
                Ok(r[0] + r[1])
            }
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(*out[0].as_ref().unwrap(), 3.0);
        assert!(out[1].is_err());
        assert_eq!(*out[2].as_ref().unwrap(), 7.0);
    }
}
