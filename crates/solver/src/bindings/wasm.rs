//! WebAssembly boundary (feature `wasm`), built into `pkg/` for the browser workers.
//!
//! One casing: every function, method and getter keeps its Rust snake_case name (no `js_name`
//! renames; classes are PascalCase), which is also the name `calab._solver` gives the same
//! function, so one name means one thing in both bindings. Converts types and errors only. Sample data crosses as `Float32Array` (half the memory and
//! transfer of f64; the core computes in f64). Errors are thrown as JS `Error`s whose `code`
//! property is the core's stable error code.

use crate::deconvolve::{self, DeconvOptions, Method};
use crate::error::{SolverError, ERROR_CODES};
use crate::indeca::work::{FinalCell, SegmentSolution, SegmentTask, UnitFailure};
use crate::kernel::{self, KernelParams};
use crate::operator::{Constraint, ConvMode};
use crate::preprocess::Preprocessing;
use crate::{filter, simulate, solver};
use wasm_bindgen::prelude::*;

fn js_error(e: SolverError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

/// Runs once when the module is instantiated: panics reach `console.error` with a message.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Version of the `calab-solver` crate this module was built from.
#[wasm_bindgen]
pub fn solver_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Test hook: panics on purpose. The wasm build aborts on panic (`-Zbuild-std=std,panic_abort`),
/// so no `catch_unwind` here could catch it: it reaches JavaScript as a `WebAssembly.RuntimeError`
/// (a trap), which the workers report as code `INTERNAL` (`web/shared/solvererror.ts`). The tests
/// use this to prove that path.
#[wasm_bindgen(js_name = "__test_panic")]
pub fn test_panic() {
    panic!("deliberate panic (test hook)");
}

/// Every error code the module can throw.
#[wasm_bindgen]
pub fn error_codes() -> Vec<String> {
    ERROR_CODES.iter().map(|s| s.to_string()).collect()
}

/// The stateful solver one worker drives for one cell at a time.
#[wasm_bindgen]
pub struct Solver {
    inner: solver::Solver,
}

impl Default for Solver {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Solver {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Solver {
        Solver {
            inner: solver::Solver::new(),
        }
    }

    pub fn set_params(
        &mut self,
        tau_rise: f64,
        tau_decay: f64,
        lambda: f64,
        fs: f64,
    ) -> Result<(), JsValue> {
        self.inner
            .set_params(tau_rise, tau_decay, lambda, fs)
            .map_err(js_error)
    }

    pub fn set_trace(&mut self, trace: &[f32]) -> Result<(), JsValue> {
        self.inner.set_trace(&to_f64(trace)).map_err(js_error)
    }

    /// Run up to `n_steps` FISTA iterations; true once converged.
    pub fn step_batch(&mut self, n_steps: u32) -> Result<bool, JsValue> {
        self.inner.step_batch(n_steps).map_err(js_error)
    }

    /// Solve to the optimum: the exact method for `nonneg`, FISTA (up to `max_iters`) for `box01`.
    /// This is what the native `run_deconvolution(method="auto")` runs.
    pub fn solve(&mut self, max_iters: u32) -> Result<bool, JsValue> {
        self.inner.solve_exact(max_iters).map_err(js_error)
    }

    /// The activity on frame centres (what `deconvolve_trace` and Python report).
    pub fn get_solution(&self) -> Vec<f32> {
        to_f32(&self.inner.solution_on_frames())
    }

    pub fn get_reconvolution(&mut self) -> Vec<f32> {
        to_f32(&self.inner.reconvolution())
    }

    pub fn get_reconvolution_with_baseline(&mut self) -> Vec<f32> {
        to_f32(&self.inner.reconvolution_with_baseline())
    }

    pub fn get_baseline(&mut self) -> f64 {
        self.inner.baseline()
    }

    /// Hold the baseline at `baseline` in `solve` (exact method only); NaN fits it jointly again.
    pub fn set_fixed_baseline(&mut self, baseline: f64) -> Result<(), JsValue> {
        let b = if baseline.is_nan() {
            None
        } else {
            Some(baseline)
        };
        self.inner.set_fixed_baseline(b).map_err(js_error)
    }

    /// The trace being fitted (after drift removal / filtering when enabled).
    pub fn get_trace(&self) -> Vec<f32> {
        to_f32(self.inner.trace())
    }

    pub fn objective(&mut self) -> f64 {
        self.inner.objective()
    }

    pub fn converged(&self) -> bool {
        self.inner.converged()
    }

    pub fn iteration_count(&self) -> u32 {
        self.inner.iteration_count()
    }

    pub fn reset_momentum(&mut self) {
        self.inner.reset_momentum()
    }

    pub fn export_state(&self) -> Vec<f64> {
        self.inner.export_state()
    }

    pub fn load_state(&mut self, state: &[f64]) -> Result<(), JsValue> {
        self.inner.load_state(state).map_err(js_error)
    }

    /// "fft" or "banded".
    pub fn set_conv_mode(&mut self, mode: &str) -> Result<(), JsValue> {
        self.inner
            .set_conv_mode(ConvMode::parse(mode).map_err(js_error)?);
        Ok(())
    }

    /// "nonneg" or "box01".
    pub fn set_constraint(&mut self, constraint: &str) -> Result<(), JsValue> {
        self.inner
            .set_constraint(Constraint::parse(constraint).map_err(js_error)?);
        Ok(())
    }

    pub fn set_filter_enabled(&mut self, enabled: bool) -> Result<(), JsValue> {
        self.inner.set_filter_enabled(enabled).map_err(js_error)
    }

    pub fn filter_enabled(&self) -> bool {
        self.inner.filter_enabled()
    }

    pub fn apply_filter(&mut self) -> Result<bool, JsValue> {
        self.inner.apply_filter().map_err(js_error)
    }

    pub fn set_drift_removal(&mut self, enabled: bool) -> Result<(), JsValue> {
        self.inner.set_drift_removal(enabled).map_err(js_error)
    }

    pub fn get_power_spectrum(&self) -> Vec<f32> {
        to_f32(&self.inner.power_spectrum())
    }

    pub fn get_spectrum_frequencies(&self) -> Vec<f32> {
        to_f32(&self.inner.spectrum_frequencies())
    }

    /// [f_hp, f_lp] in Hz.
    pub fn get_filter_cutoffs(&self) -> Vec<f64> {
        let (hp, lp) = self.inner.filter_cutoffs();
        vec![hp, lp]
    }
}

/// One-shot deconvolution with the same options as the Python `run_deconvolution_full`.
/// The arrays come back through getters (each call copies).
#[wasm_bindgen]
pub struct DeconvResult {
    activity: Vec<f32>,
    reconvolution: Vec<f32>,
    pub baseline: f64,
    pub iterations: u32,
    pub converged: bool,
}

#[wasm_bindgen]
impl DeconvResult {
    #[wasm_bindgen(getter)]
    pub fn activity(&self) -> Vec<f32> {
        self.activity.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn reconvolution(&self) -> Vec<f32> {
        self.reconvolution.clone()
    }
}

/// Noise standard deviation of one trace (trace units), from the upper half of its spectrum.
#[wasm_bindgen]
pub fn estimate_noise(trace: &[f32]) -> Result<f64, JsValue> {
    crate::noise::estimate_noise(&to_f64(trace)).map_err(js_error)
}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn deconvolve_trace(
    trace: &[f32],
    tau_rise: f64,
    tau_decay: f64,
    lambda: f64,
    fs: f64,
    max_iters: u32,
    conv_mode: &str,
    constraint: &str,
    method: &str,
    filter_enabled: bool,
    remove_drift: bool,
) -> Result<DeconvResult, JsValue> {
    let mut opts = DeconvOptions::new(tau_rise, tau_decay, lambda, fs);
    opts.max_iters = max_iters;
    opts.conv_mode = ConvMode::parse(conv_mode).map_err(js_error)?;
    opts.constraint = Constraint::parse(constraint).map_err(js_error)?;
    opts.method = Method::parse(method).map_err(js_error)?;
    opts.bandpass = filter_enabled;
    opts.remove_drift = remove_drift;
    let out = deconvolve::deconvolve(&to_f64(trace), &opts).map_err(js_error)?;
    Ok(DeconvResult {
        activity: to_f32(&out.activity),
        reconvolution: to_f32(&out.reconvolution),
        baseline: out.baseline,
        iterations: out.iterations,
        converged: out.converged,
    })
}

/// The trace the L1 solver fits (`crate::solve::fitted_trace`): checked, then drift-removed and
/// band-passed as asked, with the kernel's cutoffs and window. The same preprocessing as the
/// stateful `Solver` and `deconvolve_trace`, without a solver to hold it.
#[wasm_bindgen]
pub fn preprocess_trace(
    trace: &[f32],
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
    remove_drift: bool,
    bandpass: bool,
) -> Result<Vec<f32>, JsValue> {
    let p = KernelParams::new(tau_rise, tau_decay, fs).map_err(js_error)?;
    let pre = Preprocessing {
        remove_drift,
        bandpass,
    };
    crate::solve::fitted_trace(&to_f64(trace), &p, &pre)
        .map(|y| to_f32(&y))
        .map_err(js_error)
}

#[wasm_bindgen]
pub fn build_kernel(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Vec<f32>, JsValue> {
    kernel::build_kernel(tau_rise, tau_decay, fs)
        .map(|h| to_f32(&h))
        .map_err(js_error)
}

/// [g1, g2, d, r, gain, dc_gain]
#[wasm_bindgen]
pub fn tau_to_ar2(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Vec<f64>, JsValue> {
    let a = kernel::tau_to_ar2(tau_rise, tau_decay, fs).map_err(js_error)?;
    Ok(vec![a.g1, a.g2, a.d, a.r, a.gain, a.dc_gain])
}

/// [peak_time_s, fwhm_s]
#[wasm_bindgen]
pub fn kernel_shape(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Vec<f64>, JsValue> {
    let p = KernelParams::new(tau_rise, tau_decay, fs).map_err(js_error)?;
    Ok(vec![p.peak_time(), p.fwhm()])
}

/// [f_hp, f_lp] in Hz.
#[wasm_bindgen]
pub fn filter_cutoffs(tau_rise: f64, tau_decay: f64, fs: f64) -> Result<Vec<f64>, JsValue> {
    let p = KernelParams::new(tau_rise, tau_decay, fs).map_err(js_error)?;
    let (hp, lp) = filter::filter_cutoffs(&p);
    Ok(vec![hp, lp])
}

/// A simulated recording: traces row-major (cells x frames) and per-cell ground truth.
#[wasm_bindgen]
pub struct Simulation {
    inner: simulate::SimulationResult,
}

#[wasm_bindgen]
impl Simulation {
    #[wasm_bindgen(getter)]
    pub fn num_cells(&self) -> usize {
        self.inner.num_cells
    }

    #[wasm_bindgen(getter)]
    pub fn num_timepoints(&self) -> usize {
        self.inner.num_timepoints
    }

    /// All traces, row-major.
    pub fn traces(&self) -> Vec<f32> {
        to_f32(&self.inner.traces)
    }

    /// Ground-truth spike counts per frame of one cell (empty past the last cell).
    pub fn spikes(&self, cell: usize) -> Vec<f32> {
        self.inner
            .ground_truth
            .get(cell)
            .map(|g| to_f32(&g.spikes))
            .unwrap_or_default()
    }

    /// Noise-free calcium of one cell.
    pub fn clean_calcium(&self, cell: usize) -> Vec<f32> {
        self.inner
            .ground_truth
            .get(cell)
            .map(|g| to_f32(&g.clean_calcium))
            .unwrap_or_default()
    }

    /// The effective config as JSON.
    pub fn config_json(&self) -> Result<String, JsValue> {
        self.inner.config.to_json().map_err(js_error)
    }
}

/// Simulate from a (possibly partial) JSON config; see `schemas/simulation-config.schema.json`.
#[wasm_bindgen]
pub fn simulate(config_json: &str) -> Result<Simulation, JsValue> {
    simulate::simulate_json(config_json)
        .map(|inner| Simulation { inner })
        .map_err(js_error)
}

/// A preset config as JSON (gcamp6f, gcamp6m, gcamp6s, jgcamp8f, ogb1, clean).
#[wasm_bindgen]
pub fn preset_json(name: &str) -> Result<String, JsValue> {
    simulate::preset(name)
        .and_then(|c| c.to_json())
        .map_err(js_error)
}

#[wasm_bindgen]
pub fn preset_names() -> Vec<String> {
    simulate::PRESET_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

// --- L0 ---

/// Exact L0 spike inference result for one trace (see `l0_solve`).
#[wasm_bindgen]
pub struct L0Solution {
    inner: crate::l0::L0Solution,
}

#[wasm_bindgen]
impl L0Solution {
    /// Spike sizes at spike times, zero elsewhere.
    pub fn spikes(&self) -> Vec<f32> {
        to_f32(&self.inner.spikes)
    }

    /// Fitted calcium.
    pub fn calcium(&self) -> Vec<f32> {
        to_f32(&self.inner.calcium)
    }

    /// Attained objective 1/2 ||y - c||^2 + lambda * num_spikes.
    #[wasm_bindgen(getter)]
    pub fn cost(&self) -> f64 {
        self.inner.cost
    }

    #[wasm_bindgen(getter)]
    pub fn num_spikes(&self) -> usize {
        self.inner.spike_times.len()
    }
}

/// Exact L0-penalised AR(1) deconvolution of one trace (`positive`: spikes only raise calcium).
#[wasm_bindgen]
pub fn l0_solve(
    trace: &[f32],
    gamma: f64,
    lambda: f64,
    positive: bool,
) -> Result<L0Solution, JsValue> {
    crate::l0::solve_l0(&to_f64(trace), gamma, lambda, positive)
        .map(|inner| L0Solution { inner })
        .map_err(js_error)
}

/// AR(1) coefficient exp(-1 / (tau_decay fs)).
#[wasm_bindgen]
pub fn l0_gamma_from_tau(tau_decay: f64, fs: f64) -> Result<f64, JsValue> {
    crate::l0::gamma_from_tau(tau_decay, fs).map_err(js_error)
}

/// Convar result for one trace (see `convar_solve`).
#[wasm_bindgen]
pub struct ConvarSolution {
    inner: crate::convar::ConvarSolution,
}

#[wasm_bindgen]
impl ConvarSolution {
    /// Rates r: index 0 is the initial calcium, the rest the per-frame calcium rise (>= 0).
    pub fn rates(&self) -> Vec<f32> {
        to_f32(&self.inner.rates)
    }

    /// Modelled calcium without baseline (calcium + baseline fits the trace).
    pub fn calcium(&self) -> Vec<f32> {
        to_f32(&self.inner.calcium)
    }

    #[wasm_bindgen(getter)]
    pub fn baseline(&self) -> f64 {
        self.inner.baseline
    }

    /// The penalty used (the search's choice when one ran).
    #[wasm_bindgen(getter)]
    pub fn lambda(&self) -> f64 {
        self.inner.lambda
    }

    #[wasm_bindgen(getter)]
    pub fn iterations(&self) -> u32 {
        self.inner.iterations
    }

    #[wasm_bindgen(getter)]
    pub fn converged(&self) -> bool {
        self.inner.converged
    }

    #[wasm_bindgen(getter)]
    pub fn objective(&self) -> f64 {
        self.inner.objective
    }
}

/// Convar population-rate inference of one trace with AR(1) decay `gamma`. A negative or NaN
/// `lambda` chooses it by the odd/even search over the default grid; `max_iters` caps each solve.
#[wasm_bindgen]
pub fn convar_solve(
    trace: &[f32],
    gamma: f64,
    lambda: f64,
    max_iters: u32,
) -> Result<ConvarSolution, JsValue> {
    use crate::convar::{convar_run, ConvarConfig, ConvarRun, LambdaSearchConfig};
    let search = lambda.is_nan() || lambda < 0.0;
    let mut cfg = ConvarConfig::new(gamma, if search { 0.0 } else { lambda });
    cfg.max_iters = max_iters;
    let mut run = ConvarRun::new(cfg);
    if search {
        run.search = Some(LambdaSearchConfig::default());
    }
    convar_run(&to_f64(trace), &run)
        .map(|inner| ConvarSolution { inner })
        .map_err(js_error)
}

// --- InDeCa outer loop ---

/// One InDeCa run over a recording (see `crate::indeca::run`): construct, `step` until
/// `is_converged` (or max_iterations), then `final_pass` over the cells, then `result_json`.
#[wasm_bindgen(js_name = IndecaRun)]
pub struct WasmIndecaRun {
    inner: crate::indeca::run::IndecaRun,
}

#[wasm_bindgen(js_class = IndecaRun)]
impl WasmIndecaRun {
    /// `traces`: row-major n_cells x n_time; `config_json`: a (possibly partial) IndecaConfig.
    #[wasm_bindgen(constructor)]
    pub fn new(
        traces: &[f32],
        n_cells: usize,
        n_time: usize,
        fs: f64,
        config_json: &str,
    ) -> Result<WasmIndecaRun, JsValue> {
        crate::indeca::run::IndecaRun::from_json(traces, n_cells, n_time, fs, config_json)
            .map(|inner| WasmIndecaRun { inner })
            .map_err(js_error)
    }

    /// One outer iteration; returns the IterationReport JSON.
    pub fn step(&mut self) -> Result<String, JsValue> {
        let report = self.inner.step().map_err(js_error)?;
        serde_json::to_string(&report)
            .map_err(|e| js_error(SolverError::InvalidState(format!("iteration report: {e}"))))
    }

    /// Up to `max_units` work units of the current iteration (segment solves, subset kernels);
    /// the IterationReport JSON once the iteration is complete, `undefined` before.
    pub fn step_partial(&mut self, max_units: usize) -> Result<Option<String>, JsValue> {
        match self.inner.step_partial(max_units).map_err(js_error)? {
            None => Ok(None),
            Some(report) => serde_json::to_string(&report)
                .map(Some)
                .map_err(|e| js_error(SolverError::InvalidState(format!("iteration report: {e}")))),
        }
    }

    /// [units done, units in all] of the iteration in progress; [0, 0] between iterations.
    pub fn step_units(&self) -> Vec<u32> {
        let (done, total) = self.inner.step_units();
        vec![done as u32, total as u32]
    }

    pub fn is_converged(&self) -> bool {
        self.inner.is_converged()
    }

    /// Converged or at max_iterations (further steps are refused).
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    pub fn iteration(&self) -> usize {
        self.inner.iteration()
    }

    pub fn final_pass(&mut self, cell_start: usize, cell_end: usize) -> Result<(), JsValue> {
        self.inner
            .final_pass(cell_start, cell_end)
            .map_err(js_error)
    }

    pub fn result_json(&self) -> Result<String, JsValue> {
        self.inner.result().to_json().map_err(js_error)
    }

    /// Final-pass spike counts, row-major n_cells x n_time at the original rate.
    pub fn activity(&self) -> Vec<f32> {
        self.inner.activity().to_vec()
    }

    pub fn cell_trace(&self, i: usize) -> Result<Vec<f32>, JsValue> {
        self.inner.cell_trace(i).map_err(js_error)
    }

    pub fn cell_fit(&self, i: usize) -> Result<Vec<f32>, JsValue> {
        self.inner.cell_fit(i).map_err(js_error)
    }

    // --- Work spread over replicas (crate::indeca::work): the worker that owns the run hands
    // tasks to other workers, each holding an IndecaRun built from the same traces and config.

    /// The open segment tasks of the iteration in progress (starting one if needed), as
    /// concatenated f64 records, each led by its word count. Empty once all are solved.
    pub fn segment_tasks(&mut self) -> Result<Vec<f64>, JsValue> {
        let tasks = self.inner.segment_tasks().map_err(js_error)?;
        Ok(tasks.iter().flat_map(|t| t.to_words()).collect())
    }

    /// Solves one segment task record; returns the solution record.
    pub fn solve_segment(&self, task: &[f64]) -> Result<Vec<f64>, JsValue> {
        let task = SegmentTask::from_words(task).map_err(js_error)?;
        let sol = self.inner.solve_segment(&task).map_err(js_error)?;
        Ok(sol.to_words())
    }

    /// Takes back a solution record of the iteration in progress.
    pub fn accept_segment(&mut self, solution: &[f64]) -> Result<(), JsValue> {
        let sol = SegmentSolution::from_words(solution).map_err(js_error)?;
        self.inner.accept_segment(sol).map_err(js_error)
    }

    /// Records that segment `job` failed in another worker (with that error's code and message).
    pub fn reject_segment(&mut self, job: usize, code: &str, message: &str) -> Result<(), JsValue> {
        self.inner
            .reject_segment(job, unit_failure(code, message))
            .map_err(js_error)
    }

    /// Fixes the final kernel; returns [tau_rise, tau_decay] (s).
    pub fn freeze_final_kernel(&mut self) -> Result<Vec<f64>, JsValue> {
        let (r, d) = self.inner.freeze_final_kernel().map_err(js_error)?;
        Ok(vec![r, d])
    }

    /// Solves one cell of the final pass with the given kernel; returns the final-cell record.
    pub fn solve_final_cell(
        &self,
        cell: usize,
        tau_rise: f64,
        tau_decay: f64,
    ) -> Result<Vec<f64>, JsValue> {
        let fc = self
            .inner
            .solve_final_cell(cell, tau_rise, tau_decay)
            .map_err(js_error)?;
        Ok(fc.to_words())
    }

    /// Takes back a final-cell record.
    pub fn accept_final_cell(&mut self, record: &[f64]) -> Result<(), JsValue> {
        let fc = FinalCell::from_words(record).map_err(js_error)?;
        self.inner
            .accept_final_cell(fc.cell, Ok(fc))
            .map_err(js_error)
    }

    /// Records that final-pass cell `cell` failed in another worker; the results carry the error.
    pub fn reject_final_cell(
        &mut self,
        cell: usize,
        code: &str,
        message: &str,
    ) -> Result<(), JsValue> {
        self.inner
            .accept_final_cell(cell, Err(unit_failure(code, message)))
            .map_err(js_error)
    }
}

/// A failure reported by another worker. Its code is kept if it is one of ours; anything else
/// becomes INTERNAL, so the results only ever carry the stable codes.
fn unit_failure(code: &str, message: &str) -> UnitFailure {
    let code = if ERROR_CODES.contains(&code) {
        code
    } else {
        "INTERNAL"
    };
    UnitFailure {
        code: code.into(),
        message: message.into(),
    }
}

/// Kinetics learned from a cells x time recording (row-major), as the JSON of
/// `KineticsEstimate` (`tau_rise`, `tau_decay`, `fit_quality`, `warnings`, ...). Runs the InDeCa
/// loop: call it from a worker.
#[wasm_bindgen]
pub fn estimate_kinetics(
    traces: &[f32],
    n_cells: usize,
    n_time: usize,
    fs: f64,
    config_json: &str,
) -> Result<String, JsValue> {
    let cfg = crate::indeca::config::IndecaConfig::from_json(config_json).map_err(js_error)?;
    let est = crate::auto::estimate_kinetics(&to_f64(traces), n_cells, n_time, fs, &cfg)
        .map_err(js_error)?;
    serde_json::to_string(&est).map_err(|e| js_error(SolverError::InvalidState(e.to_string())))
}

/// The default IndecaConfig as JSON.
#[wasm_bindgen]
pub fn indeca_default_config_json() -> Result<String, JsValue> {
    crate::indeca::config::IndecaConfig::default()
        .to_json()
        .map_err(js_error)
}

// --- InDeCa per-trace and kernel stages ---

/// max(1, round(target_fs / fs)).
#[wasm_bindgen]
pub fn compute_upsample_factor(fs: f64, target_fs: f64) -> Result<usize, JsValue> {
    crate::indeca::upsample::compute_upsample_factor(fs, target_fs).map_err(js_error)
}

/// One InDeCa trace solve; returns `{s_counts: Float32Array, alpha, baseline, pve, threshold,
/// iterations, converged}`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn indeca_solve_trace(
    trace: &[f32],
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
    upsample_factor: usize,
    max_iters: usize,
    tol: f64,
    hp_enabled: bool,
    lp_enabled: bool,
    lambda: f64,
    warm_counts: Option<Vec<f32>>,
) -> Result<js_sys::Object, JsValue> {
    let p = crate::indeca::trace::TraceParams {
        tau_rise,
        tau_decay,
        fs,
        upsample_factor,
        max_iters,
        tol,
        hp_enabled,
        lp_enabled,
        lambda,
    };
    let sol =
        crate::indeca::trace::solve_trace(trace, &p, warm_counts.as_deref()).map_err(js_error)?;
    let out = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &k.into(), &v).map(|_| ());
    set(
        "s_counts",
        js_sys::Float32Array::from(sol.s_counts.as_slice()).into(),
    )?;
    set("alpha", sol.alpha.into())?;
    set("baseline", sol.baseline.into())?;
    set("pve", sol.pve.into())?;
    set("threshold", sol.threshold.into())?;
    set("iterations", (sol.iterations as f64).into())?;
    set("converged", sol.converged.into())?;
    Ok(out)
}

/// Free-form non-negative kernel from traces and spike trains (see `crate::indeca::kernel_est`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn indeca_estimate_kernel(
    traces_flat: &[f32],
    spikes_flat: &[f32],
    trace_lengths: &[u32],
    alphas: &[f64],
    baselines: &[f64],
    kernel_length: usize,
    max_iters: usize,
    tol: f64,
    smooth_lambda: f64,
    warm_kernel: Option<Vec<f32>>,
) -> Result<Vec<f32>, JsValue> {
    let lengths: Vec<usize> = trace_lengths.iter().map(|v| *v as usize).collect();
    crate::indeca::kernel_est::estimate_kernel(
        traces_flat,
        spikes_flat,
        &lengths,
        alphas,
        baselines,
        kernel_length,
        max_iters,
        tol,
        warm_kernel.as_deref(),
        smooth_lambda,
    )
    .map_err(js_error)
}

/// Bi-exponential fit of a free-form kernel, as BiexpFit JSON.
#[wasm_bindgen]
pub fn indeca_fit_biexponential(
    h_free: &[f32],
    fs: f64,
    refine: bool,
    skip: usize,
) -> Result<String, JsValue> {
    let fit = crate::indeca::biexp::fit_biexponential(h_free, fs, refine, skip, None)
        .map_err(js_error)?;
    serde_json::to_string(&fit).map_err(|e| js_error(SolverError::InvalidState(e.to_string())))
}
