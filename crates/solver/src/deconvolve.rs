//! One-shot entry points: deconvolve a trace (or the rows of a matrix) with given parameters.
//!
//! They drive the same [`Solver`] the browser uses, so preprocessing, operator path and stopping
//! rule are identical everywhere. `Method::Auto` picks the exact interior-point solver for the
//! non-negative problem and FISTA for the box constraint.

use crate::error::{require_finite_output, Result, SolverError};
use crate::operator::{Constraint, ConvMode};
use crate::rows::map_rows;
use crate::solver::Solver;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Exact solver where it applies (nonneg), FISTA otherwise.
    #[default]
    Auto,
    /// FISTA for every constraint, `max_iters` iterations at most.
    Fista,
    /// The exact solver; an error for the box constraint.
    Exact,
}

impl Method {
    pub const NAMES: &'static str = "auto, fista, exact";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Method::Auto),
            "fista" => Ok(Method::Fista),
            "exact" => Ok(Method::Exact),
            _ => Err(SolverError::UnknownOption {
                kind: "method",
                value: s.to_string(),
                expected: Self::NAMES,
            }),
        }
    }
}

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
            max_iters: 2000,
            conv_mode: ConvMode::Fft,
            constraint: Constraint::NonNeg,
            method: Method::Auto,
            bandpass: false,
            remove_drift: false,
            lambda_from_noise: false,
            centre_on_frames: true,
        }
    }

    /// Check everything that does not depend on the trace, once for a whole batch.
    pub fn validate(&self) -> Result<()> {
        crate::kernel::KernelParams::new(self.tau_rise, self.tau_decay, self.fs)?;
        if !self.lambda_from_noise {
            crate::solver::validate_lambda(self.lambda)?;
        }
        if self.method == Method::Exact && self.constraint == Constraint::Box01 {
            return Err(SolverError::UnknownOption {
                kind: "method for constraint box01",
                value: "exact".into(),
                expected: "auto, fista",
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeconvOutput {
    /// Activity (same length as the trace), in units of the trace per kernel peak, reported on
    /// frame centres ([`crate::kernel::centre_on_frames`]): the solver's s moved by the kernel's
    /// [`crate::kernel::frame_centre_shift`].
    pub activity: Vec<f64>,
    /// Scalar baseline b = mean(y - K s).
    pub baseline: f64,
    /// K s + b, the model of the trace. With drift removal (and no bandpass) the removed drift
    /// is added back, so it overlays the trace as given; with the bandpass it models the
    /// filtered trace.
    pub reconvolution: Vec<f64>,
    pub iterations: u32,
    pub converged: bool,
    /// Noise standard deviation of the fitted (preprocessed) trace ([`crate::noise`]).
    pub noise: f64,
    /// The lambda used: `opts.lambda`, or the one chosen from the noise.
    pub lambda: f64,
}

fn configured_solver(opts: &DeconvOptions) -> Result<Solver> {
    let mut s = Solver::new();
    // With lambda from the noise the placeholder 0 is replaced once the trace is loaded.
    let lambda = if opts.lambda_from_noise {
        0.0
    } else {
        opts.lambda
    };
    s.set_params(opts.tau_rise, opts.tau_decay, lambda, opts.fs)?;
    s.set_conv_mode(opts.conv_mode);
    s.set_constraint(opts.constraint);
    s.set_filter_enabled(opts.bandpass)?;
    s.set_drift_removal(opts.remove_drift)?;
    Ok(s)
}

/// Run `solver` on its loaded trace to convergence or the iteration cap.
pub fn run_loaded(solver: &mut Solver, opts: &DeconvOptions) -> Result<DeconvOutput> {
    let noise = if solver.trace().len() >= 3 {
        crate::noise::estimate_noise(solver.trace())?
    } else {
        0.0
    };
    if opts.lambda_from_noise {
        let (p, _) = solver.params();
        let lambda = crate::auto::lambda_from_noise(noise, &p)?;
        solver.set_params(p.tau_rise, p.tau_decay, lambda, p.fs)?;
    }
    let lambda = solver.params().1;
    let use_exact = match opts.method {
        Method::Auto => opts.constraint == Constraint::NonNeg,
        Method::Exact => true,
        Method::Fista => false,
    };
    let converged = if use_exact {
        solver.solve_exact(opts.max_iters)?
    } else {
        let mut done = solver.converged();
        while !done && solver.iteration_count() < opts.max_iters {
            let batch = (opts.max_iters - solver.iteration_count()).min(100);
            done = solver.step_batch(batch)?;
        }
        done
    };
    // After an exact solve the fit comes from the AR(2) recursion (O(T), no FFT buffers on long
    // traces; the same K of the conv mode); after FISTA its operator is built already.
    let (mut reconvolution, baseline) = if use_exact && converged {
        solver.ar2_reconvolution_with_baseline()
    } else {
        let r = solver.reconvolution_with_baseline();
        (r, solver.baseline())
    };
    if opts.remove_drift && !opts.bandpass {
        let removed = solver
            .raw_trace()
            .iter()
            .zip(solver.trace())
            .map(|(r, t)| r - t);
        reconvolution
            .iter_mut()
            .zip(removed)
            .for_each(|(v, d)| *v += d);
    }
    let activity = if opts.centre_on_frames {
        solver.solution_on_frames()
    } else {
        solver.solution().to_vec()
    };
    require_finite_output("activity", &activity)?;
    require_finite_output("baseline", &[baseline])?;
    require_finite_output("reconvolution", &reconvolution)?;
    Ok(DeconvOutput {
        activity,
        baseline,
        reconvolution,
        iterations: solver.iteration_count(),
        converged,
        noise,
        lambda,
    })
}

/// Deconvolve one trace.
pub fn deconvolve(trace: &[f64], opts: &DeconvOptions) -> Result<DeconvOutput> {
    opts.validate()?;
    let mut s = configured_solver(opts)?;
    s.set_trace(trace)?;
    run_loaded(&mut s, opts)
}

/// Deconvolve each row of a row-major matrix with `n_cols` columns; rows run in parallel when
/// the `parallel` feature is on. One result per row, so one bad row does not hide the others.
pub fn deconvolve_rows(
    data: &[f64],
    n_cols: usize,
    opts: &DeconvOptions,
) -> Result<Vec<Result<DeconvOutput>>> {
    opts.validate()?;
    map_rows(data, n_cols, |r| deconvolve(r, opts))
}
