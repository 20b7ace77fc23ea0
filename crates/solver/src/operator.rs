//! The two interchangeable forward/adjoint paths (FFT or AR(2) recursion) behind one type.

use crate::banded::Ar2Operator;
use crate::error::{Result, SolverError};
use crate::fft::FftConvolver;
use crate::kernel::{build_kernel_validated, Ar2, KernelParams};

/// How K s and K^T r are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvMode {
    /// FFT convolution with the kernel truncated at 1e-6 of its peak.
    #[default]
    Fft,
    /// O(T) AR(2) recursion (the untruncated kernel).
    Banded,
}

impl ConvMode {
    pub const NAMES: &'static str = "fft, banded";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "fft" => Ok(ConvMode::Fft),
            "banded" | "ar2" => Ok(ConvMode::Banded),
            _ => Err(SolverError::UnknownOption {
                kind: "conv_mode",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ConvMode::Fft => "fft",
            ConvMode::Banded => "banded",
        }
    }
}

/// Feasible set and penalty of the activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Constraint {
    /// s >= 0 with the L1 penalty lambda * G_dc * sum(s).
    #[default]
    NonNeg,
    /// 0 <= s <= 1, no L1 penalty (the relaxation InDeCa binarises).
    Box01,
}

impl Constraint {
    pub const NAMES: &'static str = "nonneg, box01";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "nonneg" => Ok(Constraint::NonNeg),
            "box01" | "box" => Ok(Constraint::Box01),
            _ => Err(SolverError::UnknownOption {
                kind: "constraint",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Constraint::NonNeg => "nonneg",
            Constraint::Box01 => "box01",
        }
    }
}

pub enum ConvOperator {
    Fft(Box<FftConvolver>),
    Banded(Ar2Operator),
}

impl ConvOperator {
    pub fn new(mode: ConvMode, params: &KernelParams, n_trace: usize) -> Self {
        match mode {
            ConvMode::Fft => ConvOperator::Fft(Box::new(FftConvolver::new(
                &build_kernel_validated(params),
                n_trace,
            ))),
            ConvMode::Banded => ConvOperator::Banded(Ar2Operator::new(Ar2::from_params(params))),
        }
    }

    pub fn forward(&mut self, s: &[f64], out: &mut [f64]) {
        match self {
            ConvOperator::Fft(f) => f.forward(s, out),
            ConvOperator::Banded(b) => b.forward(s, out),
        }
    }

    pub fn adjoint(&mut self, r: &[f64], out: &mut [f64]) {
        match self {
            ConvOperator::Fft(f) => f.adjoint(r, out),
            ConvOperator::Banded(b) => b.adjoint(r, out),
        }
    }
}
