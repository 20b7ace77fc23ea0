//! The stateful solver behind the browser workers (and usable from Rust directly).
//!
//! It owns one trace, the current parameters, the operator for the chosen path and the FISTA
//! iterate. Parameter changes keep the iterate (a warm start) and drop the momentum; a new trace
//! starts from zero. The trace the solver fits is derived from the raw one: optionally drift-removed
//! ([`crate::baseline`]), then optionally bandpass-filtered ([`crate::filter`]), the same
//! preprocessing as the one-shot [`crate::deconvolve`] path so browser and Python agree. The
//! numerics are those of the pure [`crate::solve`]: this type only keeps their inputs and the
//! iterate between calls and hands them over.

use crate::error::{require_lambda, Result, SolverError};
use crate::filter;
use crate::fista::{FistaState, DEFAULT_TOL};
use crate::kernel::{Ar2, KernelParams};
use crate::operator::{Constraint, ConvMode, ConvOperator};
use crate::preprocess::{preprocess, Preprocessing};
use crate::solve::{self, Problem};

pub const DEFAULT_TAU_RISE: f64 = 0.02;
pub const DEFAULT_TAU_DECAY: f64 = 0.4;
pub const DEFAULT_LAMBDA: f64 = 0.01;
pub const DEFAULT_FS: f64 = 30.0;
/// First element of an exported state; bump when the layout changes.
pub const STATE_FORMAT: f64 = 1.0;

pub struct Solver {
    params: KernelParams,
    lambda: f64,
    conv_mode: ConvMode,
    constraint: Constraint,
    preprocessing: Preprocessing,
    tol: f64,
    /// max |trace|, for the absolute stopping floor.
    trace_peak: f64,
    /// The trace as loaded; empty while `raw_in_trace` (no preprocessing: the fitted trace is the
    /// raw one, so it is held once).
    raw: Vec<f64>,
    raw_in_trace: bool,
    trace: Vec<f64>,
    ar2: Ar2,
    op: Option<ConvOperator>,
    state: FistaState,
    has_trace: bool,
    /// Baseline held fixed by [`Solver::set_fixed_baseline`] instead of fitted jointly.
    fixed_baseline: Option<f64>,
}

impl Default for Solver {
    fn default() -> Self {
        Self::new()
    }
}

impl Solver {
    pub fn new() -> Self {
        let params = KernelParams::new(DEFAULT_TAU_RISE, DEFAULT_TAU_DECAY, DEFAULT_FS)
            .expect("defaults are valid");
        Solver {
            ar2: Ar2::from_params(&params),
            params,
            lambda: DEFAULT_LAMBDA,
            conv_mode: ConvMode::default(),
            constraint: Constraint::default(),
            preprocessing: Preprocessing::default(),
            tol: DEFAULT_TOL,
            trace_peak: 0.0,
            raw: Vec::new(),
            raw_in_trace: false,
            trace: Vec::new(),
            op: None,
            state: FistaState::default(),
            has_trace: false,
            fixed_baseline: None,
        }
    }

    pub fn params(&self) -> (KernelParams, f64) {
        (self.params, self.lambda)
    }

    /// Update kinetics and sparsity; keeps the current activity as a warm start.
    pub fn set_params(
        &mut self,
        tau_rise: f64,
        tau_decay: f64,
        lambda: f64,
        fs: f64,
    ) -> Result<()> {
        let p = KernelParams::new(tau_rise, tau_decay, fs)?;
        require_lambda("lambda", lambda)?;
        let kinetics_changed = p != self.params;
        self.params = p;
        self.lambda = lambda;
        if kinetics_changed {
            self.ar2 = Ar2::from_params(&p);
            self.op = None;
            if self.has_trace && self.preprocessing.any() {
                self.rederive_trace()?;
            }
        }
        self.state.reset_momentum();
        Ok(())
    }

    /// Hold the scalar baseline at `b` (in the units of the fitted trace) instead of fitting it;
    /// `None` frees it again. Used to solve a stretch of a recording with the baseline of the
    /// whole-recording solve, so the stretch reproduces that solution (see
    /// [`exact::solve_nonneg_fixed_baseline`]). Only the exact non-negative solve supports it.
    pub fn set_fixed_baseline(&mut self, b: Option<f64>) -> Result<()> {
        if let Some(v) = b {
            if !v.is_finite() {
                return Err(SolverError::param("baseline", v, "must be a finite number"));
            }
        }
        self.fixed_baseline = b;
        self.state.reset_momentum();
        Ok(())
    }

    pub fn fixed_baseline(&self) -> Option<f64> {
        self.fixed_baseline
    }

    /// The pure problem of the loaded trace, with the iterate and operator it works on.
    fn split(&mut self) -> (Problem<'_>, &mut FistaState, &mut Option<ConvOperator>) {
        let pb = Problem {
            y: &self.trace,
            kernel: &self.params,
            ar2: &self.ar2,
            lambda: self.lambda,
            constraint: self.constraint,
            conv_mode: self.conv_mode,
            tol: self.tol,
            fixed_baseline: self.fixed_baseline,
            trace_peak: self.trace_peak,
        };
        (pb, &mut self.state, &mut self.op)
    }

    pub fn set_tolerance(&mut self, tol: f64) -> Result<()> {
        if !tol.is_finite() || tol <= 0.0 {
            return Err(SolverError::param(
                "tol",
                tol,
                "must be a positive finite number",
            ));
        }
        self.tol = tol;
        self.state.converged = false;
        Ok(())
    }

    pub fn set_conv_mode(&mut self, mode: ConvMode) {
        if mode != self.conv_mode {
            self.conv_mode = mode;
            self.op = None;
            self.state.reset_momentum();
        }
    }

    pub fn conv_mode(&self) -> ConvMode {
        self.conv_mode
    }

    pub fn set_constraint(&mut self, c: Constraint) {
        if c != self.constraint {
            self.constraint = c;
            self.state.reset_momentum();
        }
    }

    pub fn constraint(&self) -> Constraint {
        self.constraint
    }

    /// Load a trace and start from zero activity.
    pub fn set_trace(&mut self, trace: &[f64]) -> Result<()> {
        solve::check_trace(trace)?;
        if self.preprocessing.any() {
            self.raw.clear();
            self.raw.extend_from_slice(trace);
            self.raw_in_trace = false;
        } else {
            // The fitted trace is the raw one: hold it once (long traces are memory-bound).
            self.raw = Vec::new();
            self.trace.clear();
            self.trace.extend_from_slice(trace);
            self.raw_in_trace = true;
        }
        self.has_trace = true;
        self.rederive_trace()?;
        self.state.reset(trace.len());
        Ok(())
    }

    fn rederive_trace(&mut self) -> Result<()> {
        if self.raw_in_trace {
            if self.preprocessing.any() {
                self.raw = std::mem::take(&mut self.trace);
                self.raw_in_trace = false;
                self.trace = preprocess(&self.raw, &self.params, &self.preprocessing)?;
            }
        } else {
            self.trace = preprocess(&self.raw, &self.params, &self.preprocessing)?;
        }
        self.trace_peak = solve::peak_abs(&self.trace);
        if self.op.is_some() && self.trace.len() != self.state.x.len() {
            self.op = None;
        }
        self.state.reset_momentum();
        Ok(())
    }

    pub fn set_filter_enabled(&mut self, enabled: bool) -> Result<()> {
        if enabled != self.preprocessing.bandpass {
            self.preprocessing.bandpass = enabled;
            if self.has_trace {
                self.rederive_trace()?;
            }
        }
        Ok(())
    }

    pub fn filter_enabled(&self) -> bool {
        self.preprocessing.bandpass
    }

    pub fn set_drift_removal(&mut self, enabled: bool) -> Result<()> {
        if enabled != self.preprocessing.remove_drift {
            self.preprocessing.remove_drift = enabled;
            if self.has_trace {
                self.rederive_trace()?;
            }
        }
        Ok(())
    }

    pub fn drift_removal(&self) -> bool {
        self.preprocessing.remove_drift
    }

    /// Re-derive the fitted trace from the raw one with the current settings; returns whether
    /// the bandpass is part of it.
    pub fn apply_filter(&mut self) -> Result<bool> {
        if self.has_trace {
            self.rederive_trace()?;
        }
        Ok(self.preprocessing.bandpass)
    }

    fn require_trace(&self) -> Result<()> {
        if self.has_trace {
            Ok(())
        } else {
            Err(SolverError::NotReady(
                "no trace loaded: call set_trace first".into(),
            ))
        }
    }

    /// Run up to `n_steps` FISTA iterations; returns whether converged.
    pub fn step_batch(&mut self, n_steps: u32) -> Result<bool> {
        self.require_trace()?;
        let (pb, state, op) = self.split();
        pb.fista_steps(state, op, n_steps)
    }

    /// Solve to the optimum with the exact AR(2) interior-point method (non-negative constraint),
    /// falling back to FISTA for the box constraint ([`solve::fit`]). Returns whether it converged.
    pub fn solve_exact(&mut self, max_iters: u32) -> Result<bool> {
        self.require_trace()?;
        let (pb, state, op) = self.split();
        solve::fit(&pb, true, max_iters, state, op)
    }

    /// The solver's activity s: a spike at n is at frame n's time stamp and first shows in
    /// frame n + 1 (the convention of the kernel; warm starts and states use it).
    pub fn solution(&self) -> &[f64] {
        &self.state.x
    }

    /// The activity as reported to users: `solution` on frame centres, so sample n counts the
    /// spikes nearest frame n ([`crate::kernel::frame_centre_shift`]).
    pub fn solution_on_frames(&self) -> Vec<f64> {
        let mut a = self.state.x.clone();
        crate::kernel::centre_on_frames(&mut a, crate::kernel::frame_centre_shift(&self.params));
        a
    }

    /// The trace being fitted (after drift removal and filtering, when enabled).
    pub fn trace(&self) -> &[f64] {
        &self.trace
    }

    pub fn raw_trace(&self) -> &[f64] {
        if self.raw_in_trace {
            &self.trace
        } else {
            &self.raw
        }
    }

    /// K s for the current activity.
    pub fn reconvolution(&mut self) -> Vec<f64> {
        if !self.has_trace {
            return vec![0.0; self.trace.len()];
        }
        let (pb, state, op) = self.split();
        solve::reconvolve(&pb, op, &state.x)
    }

    /// Optimal scalar baseline for the current activity, mean(y - K s), or the fixed one.
    pub fn baseline(&mut self) -> f64 {
        if let Some(b) = self.fixed_baseline {
            return b;
        }
        if !self.has_trace {
            return 0.0;
        }
        let ks = self.reconvolution();
        solve::mean_residual(&self.trace, &ks)
    }

    /// (K s + b, b) with K of the conv mode (the FFT path's truncated kernel or the untruncated
    /// one), computed by the AR(2) recursion: O(T) and without building the FFT operator and its
    /// buffers (long traces solved exactly never need them otherwise).
    pub fn ar2_reconvolution_with_baseline(&mut self) -> (Vec<f64>, f64) {
        if !self.has_trace {
            return (vec![0.0; self.trace.len()], 0.0);
        }
        let (pb, state, _) = self.split();
        solve::ar2_model(&pb, &state.x)
    }

    /// K s + b.
    pub fn reconvolution_with_baseline(&mut self) -> Vec<f64> {
        let b = self.baseline();
        let mut ks = self.reconvolution();
        ks.iter_mut().for_each(|v| *v += b);
        ks
    }

    /// Value of the objective 1/2 ||y - K s - b||^2 + lambda G_dc ||s||_1 at the current iterate.
    pub fn objective(&mut self) -> f64 {
        let fit = self.reconvolution_with_baseline();
        let data: f64 = 0.5
            * self
                .trace
                .iter()
                .zip(&fit)
                .map(|(y, f)| (y - f).powi(2))
                .sum::<f64>();
        let l1 = match self.constraint {
            Constraint::NonNeg => self.lambda * self.ar2.dc_gain * self.state.x.iter().sum::<f64>(),
            Constraint::Box01 => 0.0,
        };
        data + l1
    }

    pub fn converged(&self) -> bool {
        self.state.converged
    }

    pub fn iteration_count(&self) -> u32 {
        self.state.iteration
    }

    pub fn reset_momentum(&mut self) {
        self.state.reset_momentum();
    }

    /// [STATE_FORMAT, n, activity...]: enough to warm-start the same trace later.
    pub fn export_state(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.state.x.len() + 2);
        v.push(STATE_FORMAT);
        v.push(self.state.x.len() as f64);
        v.extend_from_slice(&self.state.x);
        v
    }

    pub fn load_state(&mut self, state: &[f64]) -> Result<()> {
        self.require_trace()?;
        if state.len() < 2 || state[0] != STATE_FORMAT {
            return Err(SolverError::InvalidState(format!(
                "expected a state exported by this solver (format {STATE_FORMAT}), got {} values starting with {:?}",
                state.len(),
                state.first()
            )));
        }
        let n = self.trace.len();
        if state[1] != n as f64 || state.len() != n + 2 {
            return Err(SolverError::InvalidState(format!(
                "state is for a trace of {} samples, the loaded trace has {n}",
                state[1]
            )));
        }
        let x = &state[2..];
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(SolverError::InvalidState(format!(
                "state holds a non-finite activity value at index {i}"
            )));
        }
        if x.iter().any(|v| *v < 0.0) {
            return Err(SolverError::InvalidState(
                "state holds negative activity".into(),
            ));
        }
        self.state.warm_start(x);
        Ok(())
    }

    pub fn power_spectrum(&self) -> Vec<f64> {
        filter::power_spectrum(&self.trace)
    }

    pub fn spectrum_frequencies(&self) -> Vec<f64> {
        filter::spectrum_frequencies(self.trace.len(), self.params.fs)
    }

    pub fn filter_cutoffs(&self) -> (f64, f64) {
        filter::filter_cutoffs(&self.params)
    }
}
