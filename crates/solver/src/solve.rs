//! The pure entry point of the L1 deconvolution: [`solve`] takes a trace, a kernel and options and
//! returns the fit, with no hidden state. Every path reaches the numerics through this module: the
//! one-shot and batch entry points ([`crate::deconvolve`], rows via [`crate::rows`]), the Python and
//! WASM bindings, and the stateful [`crate::solver::Solver`] the browser drives, which keeps the
//! iterate and the operator between calls and hands them to [`fit`] explicitly.
//!
//! Data flows one way: options -> preprocessing ([`crate::preprocess`]) -> noise and lambda
//! ([`crate::noise`], [`crate::auto`]) -> the exact ([`crate::exact`]) or FISTA ([`crate::fista`])
//! solve on the kernel's operator ([`crate::operator`]) -> baseline, reconvolution and the move of
//! the activity onto frame centres ([`crate::kernel::centre_on_frames`]).

use crate::error::SolverError;
use crate::error::{check_finite, check_magnitude, require_finite_output, require_lambda, Result};
use crate::exact;
use crate::fista::{self, FistaConfig, FistaState, DEFAULT_TOL};
use crate::kernel::{Ar2, KernelParams};
use crate::operator::{Constraint, ConvMode, ConvOperator};
use crate::preprocess::{preprocess, Preprocessing};

/// Iteration cap of the one-shot and batch entry points (FISTA iterations; the exact solver
/// stops on its own gap test long before).
pub const DEFAULT_MAX_ITERS: u32 = 2000;

/// FISTA iterations per call of [`fista::step_batch`] inside [`fit`].
const FISTA_BATCH: u32 = 100;

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

    /// Whether the exact interior-point solver runs for `constraint` (for the box constraint the
    /// exact method is refused by [`SolveOptions::validate`], and the stateful solver falls back
    /// to FISTA).
    pub fn uses_exact(self, constraint: Constraint) -> bool {
        match self {
            Method::Auto => constraint == Constraint::NonNeg,
            Method::Exact => true,
            Method::Fista => false,
        }
    }
}

/// Everything of one solve except the trace and the kernel.
#[derive(Debug, Clone, Copy)]
pub struct SolveOptions {
    pub lambda: f64,
    pub max_iters: u32,
    pub conv_mode: ConvMode,
    pub constraint: Constraint,
    pub method: Method,
    pub preprocessing: Preprocessing,
    /// Ignore `lambda` and choose it from the trace's noise ([`crate::auto::lambda_from_noise`]).
    pub lambda_from_noise: bool,
    /// Report the activity on frame centres ([`crate::kernel::centre_on_frames`]); false gives
    /// the optimiser s itself (spike at n = at frame n's time stamp, first seen in frame n + 1).
    pub centre_on_frames: bool,
}

impl SolveOptions {
    pub fn new(lambda: f64) -> Self {
        SolveOptions {
            lambda,
            max_iters: DEFAULT_MAX_ITERS,
            conv_mode: ConvMode::Fft,
            constraint: Constraint::NonNeg,
            method: Method::Auto,
            preprocessing: Preprocessing::default(),
            lambda_from_noise: false,
            centre_on_frames: true,
        }
    }

    /// Check everything that does not depend on the trace, once for a whole batch.
    pub fn validate(&self) -> Result<()> {
        if !self.lambda_from_noise {
            require_lambda("lambda", self.lambda)?;
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

/// The fixed quantities of solving one fitted (already preprocessed) trace.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    pub y: &'a [f64],
    pub kernel: &'a KernelParams,
    pub ar2: &'a Ar2,
    pub lambda: f64,
    pub constraint: Constraint,
    pub conv_mode: ConvMode,
    pub tol: f64,
    /// Baseline held at this value instead of fitted (exact non-negative solve only).
    pub fixed_baseline: Option<f64>,
    /// max |y|, for the absolute stopping floor ([`peak_abs`]).
    pub trace_peak: f64,
}

/// max |v|.
pub fn peak_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

impl Problem<'_> {
    pub fn fista_config(&self) -> FistaConfig {
        let g = self.ar2.dc_gain;
        FistaConfig {
            // For the non-negative kernel max |H(w)|^2 is attained at DC: L = G_dc^2.
            step: 1.0 / (g * g),
            l1_weight: match self.constraint {
                Constraint::NonNeg => self.lambda * g,
                Constraint::Box01 => 0.0,
            },
            constraint: self.constraint,
            tol: self.tol,
            // 1e-12 of the activity that would reproduce the trace's largest sample.
            abs_floor: 1e-12 * self.trace_peak / g,
        }
    }

    fn require_free_baseline(&self) -> Result<()> {
        match self.fixed_baseline {
            None => Ok(()),
            Some(b) => Err(SolverError::param(
                "baseline",
                b,
                "a fixed baseline is only supported by the exact non-negative solve; clear it for FISTA",
            )),
        }
    }

    /// The operator of the conv mode, built on first use and kept in `op`.
    pub fn operator<'o>(&self, op: &'o mut Option<ConvOperator>) -> &'o mut ConvOperator {
        let n = self.y.len();
        op.get_or_insert_with(|| ConvOperator::new(self.conv_mode, self.kernel, n))
    }

    /// Up to `n_steps` more FISTA iterations from `state`; returns whether converged.
    pub fn fista_steps(
        &self,
        state: &mut FistaState,
        op: &mut Option<ConvOperator>,
        n_steps: u32,
    ) -> Result<bool> {
        self.require_free_baseline()?;
        let cfg = self.fista_config();
        let op = self.operator(op);
        let mut done = state.converged;
        let mut left = n_steps;
        while !done && left > 0 {
            let batch = left.min(FISTA_BATCH);
            done = fista::step_batch(state, op, self.y, &cfg, batch);
            left -= batch;
        }
        Ok(done)
    }
}

/// Solve `pb` into `state`: the exact interior-point method when `use_exact` and the constraint
/// is non-negative (continued by FISTA from its best point in the unexpected case that it stops
/// short), FISTA for up to `max_iters` iterations otherwise (continuing from `state`, so the
/// browser's solver keeps its warm start). Returns whether it converged.
pub fn fit(
    pb: &Problem<'_>,
    use_exact: bool,
    max_iters: u32,
    state: &mut FistaState,
    op: &mut Option<ConvOperator>,
) -> Result<bool> {
    if !(use_exact && pb.constraint == Constraint::NonNeg) {
        return pb.fista_steps(state, op, max_iters);
    }
    let opts = exact::ExactOptions::default();
    let out = match pb.fixed_baseline {
        None => exact::solve_nonneg(pb.y, pb.ar2, pb.lambda, &opts)?,
        Some(b) => exact::solve_nonneg_fixed_baseline(pb.y, pb.ar2, pb.lambda, b, &opts)?,
    };
    require_finite_output("activity", &out.activity)?;
    state.warm_start_owned(out.activity);
    if out.converged || pb.fixed_baseline.is_some() {
        state.iteration = out.iterations;
        state.converged = out.converged;
        return Ok(out.converged);
    }
    // Not expected, but never worse than FISTA: continue from the best interior point.
    let done = pb.fista_steps(state, op, max_iters)?;
    state.iteration += out.iterations;
    Ok(done)
}

/// (K x + b, b) with K of the conv mode (the FFT path's truncated kernel or the untruncated one),
/// computed by the AR(2) recursion: O(T) and without building the FFT operator and its buffers
/// (long traces solved exactly never need them otherwise). b is the fixed baseline or mean(y - K x).
pub fn ar2_model(pb: &Problem<'_>, x: &[f64]) -> (Vec<f64>, f64) {
    let n = pb.y.len();
    let mut ks = vec![0.0; n];
    let op = crate::banded::Ar2Operator::new(*pb.ar2);
    match pb.conv_mode {
        ConvMode::Banded => op.forward(x, &mut ks),
        ConvMode::Fft => {
            let len = crate::kernel::build_kernel_validated(pb.kernel).len();
            op.forward_truncated(x, len.min(n.max(1)), &mut ks);
        }
    }
    let b = pb
        .fixed_baseline
        .unwrap_or_else(|| mean_residual(pb.y, &ks));
    ks.iter_mut().for_each(|v| *v += b);
    (ks, b)
}

/// K x with the operator of the conv mode (built in `op` if needed).
pub fn reconvolve(pb: &Problem<'_>, op: &mut Option<ConvOperator>, x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; pb.y.len()];
    pb.operator(op).forward(x, &mut out);
    out
}

/// mean(y - ks), the optimal scalar baseline for a given K s.
pub fn mean_residual(y: &[f64], ks: &[f64]) -> f64 {
    y.iter().zip(ks).map(|(a, k)| a - k).sum::<f64>() / y.len() as f64
}

/// Reject what no solver accepts: an empty trace, NaN/Inf samples, magnitudes out of range.
pub fn check_trace(trace: &[f64]) -> Result<()> {
    if trace.is_empty() {
        return Err(SolverError::TraceTooShort { len: 0, min: 1 });
    }
    check_finite(trace)?;
    check_magnitude(trace)
}

/// The trace the solver fits: `trace` checked, then drift-removed and band-passed as `pre` asks.
pub fn fitted_trace(trace: &[f64], kernel: &KernelParams, pre: &Preprocessing) -> Result<Vec<f64>> {
    check_trace(trace)?;
    preprocess(trace, kernel, pre)
}

/// Deconvolve one trace: the pure entry point (see the module docs). `kernel` is validated by its
/// constructor; `opts` are checked here.
pub fn solve(trace: &[f64], kernel: &KernelParams, opts: &SolveOptions) -> Result<DeconvOutput> {
    opts.validate()?;
    check_trace(trace)?;
    let pre = &opts.preprocessing;
    let preprocessed;
    let y: &[f64] = if pre.any() {
        preprocessed = preprocess(trace, kernel, pre)?;
        &preprocessed
    } else {
        trace
    };
    let noise = if y.len() >= 3 {
        crate::noise::estimate_noise(y)?
    } else {
        0.0
    };
    let lambda = if opts.lambda_from_noise {
        let l = crate::auto::lambda_from_noise(noise, kernel)?;
        require_lambda("lambda", l)?;
        l
    } else {
        opts.lambda
    };
    let ar2 = Ar2::from_params(kernel);
    let pb = Problem {
        y,
        kernel,
        ar2: &ar2,
        lambda,
        constraint: opts.constraint,
        conv_mode: opts.conv_mode,
        tol: DEFAULT_TOL,
        fixed_baseline: None,
        trace_peak: peak_abs(y),
    };
    let use_exact = opts.method.uses_exact(opts.constraint);
    let mut state = FistaState::default();
    state.reset(y.len());
    let mut op = None;
    let converged = fit(&pb, use_exact, opts.max_iters, &mut state, &mut op)?;
    // After an exact solve the fit comes from the AR(2) recursion (O(T), no FFT buffers on long
    // traces; the same K of the conv mode); after FISTA its operator is built already.
    let (mut reconvolution, baseline) = if use_exact && converged {
        ar2_model(&pb, &state.x)
    } else {
        let mut ks = reconvolve(&pb, &mut op, &state.x);
        let b = mean_residual(y, &ks);
        ks.iter_mut().for_each(|v| *v += b);
        (ks, b)
    };
    if pre.remove_drift && !pre.bandpass {
        let removed = trace.iter().zip(y).map(|(r, t)| r - t);
        reconvolution
            .iter_mut()
            .zip(removed)
            .for_each(|(v, d)| *v += d);
    }
    let mut activity = state.x;
    if opts.centre_on_frames {
        crate::kernel::centre_on_frames(&mut activity, crate::kernel::frame_centre_shift(kernel));
    }
    require_finite_output("activity", &activity)?;
    require_finite_output("baseline", &[baseline])?;
    require_finite_output("reconvolution", &reconvolution)?;
    Ok(DeconvOutput {
        activity,
        baseline,
        reconvolution,
        iterations: state.iteration,
        converged,
        noise,
        lambda,
    })
}
