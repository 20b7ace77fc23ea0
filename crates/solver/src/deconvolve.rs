//! One-shot entry points with flat options (the kernel's time constants next to the solve's
//! settings, as the bindings receive them): deconvolve a trace, or the rows of a matrix.
//!
//! Both forward to the pure [`crate::solve::solve`], which the browser's stateful solver shares,
//! so preprocessing, operator path and stopping rule are identical everywhere. `Method::Auto`
//! picks the exact interior-point solver for the non-negative problem and FISTA for the box
//! constraint.

use crate::error::Result;
use crate::kernel::KernelParams;
use crate::operator::{Constraint, ConvMode};
use crate::preprocess::Preprocessing;
use crate::rows::map_rows;
use crate::solve::{solve, SolveOptions};
pub use crate::solve::{DeconvOutput, Method, DEFAULT_MAX_ITERS};

#[derive(Debug, Clone, Copy)]
pub struct DeconvOptions {
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub lambda: f64,
    pub fs: f64,
    pub max_iters: u32,
    pub conv_mode: ConvMode,
    pub constraint: Constraint,
    pub method: Method,
    pub bandpass: bool,
    pub remove_drift: bool,
    /// Ignore `lambda` and choose it per trace from the trace's noise
    /// ([`crate::auto::lambda_from_noise`]).
    pub lambda_from_noise: bool,
    /// Report the activity on frame centres ([`crate::kernel::centre_on_frames`]); false gives
    /// the optimiser s itself (spike at n = at frame n's time stamp, first seen in frame n + 1).
    pub centre_on_frames: bool,
}

impl DeconvOptions {
    pub fn new(tau_rise: f64, tau_decay: f64, lambda: f64, fs: f64) -> Self {
        DeconvOptions {
            tau_rise,
            tau_decay,
            lambda,
            fs,
            max_iters: DEFAULT_MAX_ITERS,
            conv_mode: ConvMode::Fft,
            constraint: Constraint::NonNeg,
            method: Method::Auto,
            bandpass: false,
            remove_drift: false,
            lambda_from_noise: false,
            centre_on_frames: true,
        }
    }

    /// The validated kernel.
    pub fn kernel(&self) -> Result<KernelParams> {
        KernelParams::new(self.tau_rise, self.tau_decay, self.fs)
    }

    /// Everything but the kernel.
    pub fn solve_options(&self) -> SolveOptions {
        SolveOptions {
            lambda: self.lambda,
            max_iters: self.max_iters,
            conv_mode: self.conv_mode,
            constraint: self.constraint,
            method: self.method,
            preprocessing: Preprocessing {
                remove_drift: self.remove_drift,
                bandpass: self.bandpass,
            },
            lambda_from_noise: self.lambda_from_noise,
            centre_on_frames: self.centre_on_frames,
        }
    }

    /// Check everything that does not depend on the trace, once for a whole batch.
    pub fn validate(&self) -> Result<()> {
        self.kernel()?;
        self.solve_options().validate()
    }
}

/// Deconvolve one trace.
pub fn deconvolve(trace: &[f64], opts: &DeconvOptions) -> Result<DeconvOutput> {
    solve(trace, &opts.kernel()?, &opts.solve_options())
}

/// Deconvolve each row of a row-major matrix with `n_cols` columns; rows run in parallel when
/// the `parallel` feature is on. One result per row, so one bad row does not hide the others.
pub fn deconvolve_rows(
    data: &[f64],
    n_cols: usize,
    opts: &DeconvOptions,
) -> Result<Vec<Result<DeconvOutput>>> {
    let kernel = opts.kernel()?;
    let solve_opts = opts.solve_options();
    solve_opts.validate()?;
    map_rows(data, n_cols, |r| solve(r, &kernel, &solve_opts))
}
