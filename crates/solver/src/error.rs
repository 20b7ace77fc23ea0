//! The one error type of the solver core.
//!
//! Every fallible entry point returns [`SolverError`]. Each variant has a stable string code
//! ([`SolverError::code`]) that the Python and JavaScript bindings expose unchanged, so callers and
//! tests match on codes rather than on message text. Messages name the offending value and what
//! would have been valid.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SolverError {
    /// A scalar parameter is outside its valid range (tau <= 0, fs <= 0, lambda < 0, ...).
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: String,
    },
    /// The input trace holds NaN or infinite samples.
    #[error("trace contains {count} non-finite sample(s) (first at index {first_index}); remove or interpolate NaN/Inf before solving")]
    NonFiniteInput { count: usize, first_index: usize },
    /// The input is empty or too short for the requested operation.
    #[error("trace is too short: {len} sample(s), need at least {min}")]
    TraceTooShort { len: usize, min: usize },
    /// Array lengths or shapes do not fit together.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A serialized state or config could not be read.
    #[error("invalid state or config: {0}")]
    InvalidState(String),
    /// An option string (conv mode, constraint, preset, ...) is not one of the known values.
    #[error("unknown {kind} `{value}`; expected one of: {expected}")]
    UnknownOption {
        kind: &'static str,
        value: String,
        expected: &'static str,
    },
    /// Sample magnitudes so large or small that squaring them would overflow or underflow.
    #[error("trace magnitude {max_abs:e} is outside the supported range [{MIN_MAGNITUDE:e}, {MAX_MAGNITUDE:e}] (all-zero traces are fine); rescale the data")]
    ValueOutOfRange { max_abs: f64 },
    /// An operation needs state that has not been set yet (e.g. solving before `set_trace`).
    #[error("not ready: {0}")]
    NotReady(String),
    /// A solver produced a non-finite value: a bug or an unsupported corner, never a result.
    #[error("numerical failure: {0}")]
    NumericalFailure(String),
    /// A buffer the work needs could not be allocated (or its size does not fit in memory at
    /// all). Raised before the allocation instead of aborting the process.
    #[error("out of memory: {what} needs {bytes} bytes ({}), which could not be allocated; work on fewer or shorter traces at a time, or check the sampling rate", human_bytes(*.bytes))]
    OutOfMemory { what: String, bytes: u128 },
    /// A bug: the core panicked. The bindings catch the panic at the boundary and report it with
    /// this code instead of letting it cross into Python or JavaScript.
    #[error("internal error (a bug in calab, please report it): {0}")]
    Internal(String),
    /// The caller gave up on the work (Ctrl-C); see [`crate::cancel`].
    #[error("cancelled")]
    Cancelled,
}

impl SolverError {
    /// Stable machine-readable code, identical across Rust, Python and JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            SolverError::InvalidParameter { .. } => "INVALID_PARAMETER",
            SolverError::NonFiniteInput { .. } => "NON_FINITE_INPUT",
            SolverError::TraceTooShort { .. } => "TRACE_TOO_SHORT",
            SolverError::ShapeMismatch(_) => "SHAPE_MISMATCH",
            SolverError::InvalidState(_) => "INVALID_STATE",
            SolverError::UnknownOption { .. } => "UNKNOWN_OPTION",
            SolverError::ValueOutOfRange { .. } => "VALUE_OUT_OF_RANGE",
            SolverError::NotReady(_) => "NOT_READY",
            SolverError::NumericalFailure(_) => "NUMERICAL_FAILURE",
            SolverError::OutOfMemory { .. } => "OUT_OF_MEMORY",
            SolverError::Internal(_) => "INTERNAL",
            SolverError::Cancelled => "CANCELLED",
        }
    }

    /// Whether the caller's input is at fault (maps to `ValueError` subclasses in Python).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            SolverError::NotReady(_)
                | SolverError::NumericalFailure(_)
                | SolverError::OutOfMemory { .. }
                | SolverError::Internal(_)
                | SolverError::Cancelled
        )
    }

    pub(crate) fn param(name: &'static str, value: f64, reason: impl Into<String>) -> Self {
        SolverError::InvalidParameter {
            name,
            value,
            reason: reason.into(),
        }
    }
}

/// All codes, for bindings that publish the list (kept next to the enum so it cannot drift).
pub const ERROR_CODES: &[&str] = &[
    "INVALID_PARAMETER",
    "NON_FINITE_INPUT",
    "TRACE_TOO_SHORT",
    "SHAPE_MISMATCH",
    "INVALID_STATE",
    "UNKNOWN_OPTION",
    "VALUE_OUT_OF_RANGE",
    "NOT_READY",
    "NUMERICAL_FAILURE",
    "OUT_OF_MEMORY",
    "INTERNAL",
    "CANCELLED",
];

/// `1234567890` -> `"1.1 GiB"`, for messages.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Largest sample magnitude the solvers accept (its square, summed over 1e9 samples, stays finite).
pub const MAX_MAGNITUDE: f64 = 1e100;
/// Smallest non-zero peak magnitude accepted (its square stays a normal f64).
pub const MIN_MAGNITUDE: f64 = 1e-100;

/// Reject traces whose largest |sample| is outside [MIN_MAGNITUDE, MAX_MAGNITUDE] (0 allowed).
pub fn check_magnitude(values: &[f64]) -> Result<()> {
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs > MAX_MAGNITUDE || (max_abs > 0.0 && max_abs < MIN_MAGNITUDE) {
        return Err(SolverError::ValueOutOfRange { max_abs });
    }
    Ok(())
}

pub type Result<T> = std::result::Result<T, SolverError>;

/// Refuse to hand out an output that holds NaN or Inf: `what` names it in the message. Every
/// solver entry point calls this before reporting a result, so nothing non-finite is ever
/// reported as converged.
pub fn require_finite_output(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SolverError::NumericalFailure(format!(
            "{what} is not finite at index {i} ({}); please report this with the parameters used",
            values[i]
        ))),
    }
}

// Checks of one named scalar parameter, shared by every config and entry point so the messages
// (and codes) are the same wherever a value is rejected.

/// `value` must be a finite number.
pub(crate) fn require_finite(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(SolverError::param(name, value, "must be a finite number"))
    }
}

/// `value` must be finite and > 0.
pub(crate) fn require_positive(name: &'static str, value: f64) -> Result<()> {
    require_finite(name, value)?;
    if value > 0.0 {
        Ok(())
    } else {
        Err(SolverError::param(name, value, "must be > 0"))
    }
}

/// `value` must be finite and >= 0.
pub(crate) fn require_non_negative(name: &'static str, value: f64) -> Result<()> {
    require_finite(name, value)?;
    if value >= 0.0 {
        Ok(())
    } else {
        Err(SolverError::param(name, value, "must be >= 0"))
    }
}

/// A penalty weight (lambda, smooth_lambda, ...): finite and >= 0. Every solver checks its
/// lambda with this, so the message is the same wherever one is rejected.
pub(crate) fn require_lambda(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SolverError::param(
            name,
            value,
            "must be a finite number >= 0",
        ))
    }
}

/// Reject NaN/Inf samples with a count and the first offending index.
pub fn check_finite(values: &[f64]) -> Result<()> {
    let mut count = 0usize;
    let mut first = usize::MAX;
    for (i, v) in values.iter().enumerate() {
        if !v.is_finite() {
            count += 1;
            if first == usize::MAX {
                first = i;
            }
        }
    }
    if count > 0 {
        Err(SolverError::NonFiniteInput {
            count,
            first_index: first,
        })
    } else {
        Ok(())
    }
}
