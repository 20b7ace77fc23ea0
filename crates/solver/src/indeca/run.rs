//! The InDeCa outer loop: learn one calcium kernel from a whole recording, then deconvolve every
//! cell with it. The browser (through the WASM binding) and Python (`calab.run_indeca`) drive
//! this same state machine, so both get the same answer for the same seed.
//!
//! Each [`IndecaRun::step`] is one outer iteration:
//! 1. draw `num_subsets` rectangles (a cell range x a frame range) of the cells x time raster from
//!    the run's seeded PCG stream; together they cover about `target_coverage` of the raster and
//!    each has (frame fraction) / (cell fraction) = `aspect_ratio`;
//! 2. deconvolve every cell segment of every subset with the current kernel
//!    ([`super::trace::solve_trace`]), warm-started from the counts that segment had before;
//! 3. per subset, estimate a free-form kernel from its segments ([`super::kernel_est`]) and fit
//!    a bi-exponential to it ([`super::biexp`]);
//! 4. merge: the new kernel's time constants are the medians over the subsets; the free-form
//!    kernel shown to the user is the sample-wise median of the subsets' peak-normalised kernels;
//! 5. convergence: the relative L2 change of the (unit-norm) kernel shape must stay below
//!    `convergence_tol` for `patience` consecutive iterations, not before `min_iterations`.
//!
//! The final kernel takes the median time constants of the last [`FINAL_WINDOW`] iterations,
//! and [`IndecaRun::final_pass`] solves every cell over its whole trace with exactly that kernel,
//! cold-started, so a cell's result can be reproduced with `solve_trace` and the reported taus.
//!
//! [`IndecaRun::step_partial`] does the same iteration a few work units at a time (a unit is one
//! segment solve of step 2 or one subset's kernel of step 3) and returns the report once the last
//! unit is done, so a caller that must stay responsive (the browser worker, which handles pause
//! and stop only between calls) can yield every fraction of a second. The units are exactly those
//! of `step`, done in the same order, so the result does not depend on how the work is cut.
//!
//! The costly units can also be done elsewhere ([`super::work`]): [`IndecaRun::segment_tasks`]
//! hands out an iteration's segment solves, which a replica built from the same traces and
//! config solves ([`IndecaRun::solve_segment`]) and [`IndecaRun::accept_segment`] takes back in
//! any order; [`IndecaRun::solve_final_cell`] / [`IndecaRun::accept_final_cell`] do the same for
//! the final pass. Results are stored by job index and merged in job order, so a browser that
//! spreads a run over several workers gets the run `step` gives.
//!
//! Determinism: all randomness comes from one PCG stream seeded by `seed` and drawn in a fixed
//! order; parallel work (feature `parallel`) is computed per job and merged in job order, so the
//! thread count never changes a result. Integer draws use a width-independent multiply-shift so
//! wasm32 and 64-bit targets place the same subsets.

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;

use super::biexp::{fit_biexponential_onset, shift_samples, BiexpFit};
use super::config::IndecaConfig;
use super::kernel_est::estimate_kernel_upsampled;
use super::seed::seed_kernel_from_peaks;
use super::trace::{
    preprocess_trace, solve_trace_detailed, ThresholdMode, TraceDetail, TraceParams,
};
use super::upsample::compute_upsample_factor;
use super::work::{FinalCell, SegmentSolution, SegmentTask, UnitFailure};
use crate::error::{Result, SolverError};

/// Version of the results JSON (`schemas/cadecon-results.schema.json`).
pub const RESULTS_SCHEMA_VERSION: &str = "1.1.0";
/// The final kernel's time constants are the medians over this many last iterations.
pub const FINAL_WINDOW: usize = 3;
/// Convergence tolerance of each per-trace solve.
pub const TRACE_TOL: f64 = 1e-4;
/// Iteration cap and tolerance of each free-form kernel estimate.
pub const KERNEL_MAX_ITERS: usize = 200;
pub const KERNEL_TOL: f64 = 1e-4;
/// Onset shifts (either way) the kernel fit tries, so spike timing and kernel rise cannot trade a
/// shift from one iteration to the next (see `biexp::fit_biexponential_onset`): at least this many
/// frames...
pub const ONSET_SEARCH_FRAMES: usize = 2;
/// ...and at least this long. Where a spike sits inside a transient's rise is uncertain by a time,
/// not by a number of frames: at 158 Hz two frames (13 ms) are too few to undo the shifts the
/// loop makes, while at 15 Hz two frames already span 130 ms.
pub const ONSET_SEARCH_S: f64 = 0.05;
/// Automatic free-form kernel length: this many seed decay times, clamped to the range below.
pub const AUTO_KERNEL_DECAYS: f64 = 6.0;
pub const AUTO_KERNEL_MIN_S: f64 = 1.5;
pub const AUTO_KERNEL_MAX_S: f64 = 10.0;
/// Shortest recording accepted (frames).
pub const MIN_FRAMES: usize = 32;

// ---------------------------------------------------------------------------------------------
// Reports and results (JSON shapes fixed by the contract and the schemas)

/// One subset of one iteration. `cell_end` and `t_end` are exclusive; frames at the original rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubsetReport {
    pub cell_start: usize,
    pub cell_end: usize,
    pub t_start: usize,
    pub t_end: usize,
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// This subset's free-form kernel, peak-normalised, sample spacing `kernel_dt`.
    pub kernel: Vec<f32>,
}

/// What one outer iteration did; returned by [`IndecaRun::step`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationReport {
    /// 1-based.
    pub iteration: usize,
    /// Merged (median) time constants after this iteration (s).
    pub tau_rise: f64,
    pub tau_decay: f64,
    /// Relative L2 change of the unit-norm kernel shape against the previous iteration's.
    pub kernel_change: f64,
    /// ||s_new - s_old|| / ||s_new|| over the segments solved this iteration (old = zeros where
    /// never solved, so the first iteration reports 1 unless nothing fired).
    pub activity_change: f64,
    /// Median over subsets of the bi-exponential fit's R^2.
    pub kernel_r2: f64,
    /// Median proportion of variance explained over the solved cell segments.
    pub median_pve: f64,
    /// Convergence declared after this iteration.
    pub converged: bool,
    /// Subsets whose kernel estimate succeeded, in draw order.
    pub subsets: Vec<SubsetReport>,
    /// Subsets dropped this iteration (no usable cell, or a stage failed).
    pub failed_subsets: usize,
    /// Merged free-form kernel (sample-wise median of the subsets'), peak 1.
    pub kernel_free: Vec<f32>,
    /// Bi-exponential with the merged taus on the same grid, peak 1.
    pub kernel_fit: Vec<f32>,
    /// Sample spacing of the kernels (s).
    pub kernel_dt: f64,
}

/// Compact per-iteration record kept in the results (`history`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationSummary {
    pub iteration: usize,
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub kernel_change: f64,
    pub activity_change: f64,
    pub kernel_r2: f64,
    pub median_pve: f64,
    pub converged: bool,
}

/// A cell the final pass could not solve; its activity row is zeros.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellError {
    pub cell: usize,
    pub code: String,
    pub message: String,
}

/// Everything the run produced, as the results JSON (`schemas/cadecon-results.schema.json`).
/// Per-cell arrays hold `None` (JSON null) for failed cells and for cells the final pass has not
/// reached yet (then `partial` is true).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndecaResult {
    pub schema_version: String,
    pub app: String,
    pub fs: f64,
    pub num_cells: usize,
    pub num_timepoints: usize,
    pub cell_indices: Vec<usize>,
    pub tau_rise: f64,
    pub tau_decay: f64,
    pub beta: f64,
    pub tau_rise_fast: Option<f64>,
    pub tau_decay_fast: Option<f64>,
    pub beta_fast: Option<f64>,
    pub fit_quality: String,
    pub kernel_r2: f64,
    pub kernel_slow: Vec<f32>,
    pub kernel_fast: Vec<f32>,
    pub kernel_dt: f64,
    pub alphas: Vec<Option<f64>>,
    pub baselines: Vec<Option<f64>>,
    pub pves: Vec<Option<f64>>,
    pub event_rates: Vec<Option<f64>>,
    pub cell_errors: Vec<CellError>,
    pub iterations: usize,
    pub converged: bool,
    pub partial: bool,
    pub config: IndecaConfig,
    pub upsample_factor: usize,
    pub history: Vec<IterationSummary>,
    /// Why the reported kernel differs from the learned one, or why it may be unreliable
    /// (empty when nothing was corrected).
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}

impl IndecaResult {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| SolverError::InvalidState(format!("cadecon results: {e}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Convergence rule, separate so it can be tested on synthetic sequences.

/// Tracks the "kernel change below tolerance for `patience` consecutive iterations, not before
/// `min_iterations`" rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvergenceTracker {
    tol: f64,
    patience: u32,
    min_iterations: u32,
    streak: u32,
    converged: bool,
}

impl ConvergenceTracker {
    pub fn new(tol: f64, patience: u32, min_iterations: u32) -> Self {
        ConvergenceTracker {
            tol,
            patience,
            min_iterations,
            streak: 0,
            converged: false,
        }
    }

    /// Record iteration `iteration` (1-based) with its kernel change; returns whether the run
    /// has converged. Once converged it stays converged. A non-finite change breaks the streak.
    pub fn update(&mut self, iteration: usize, kernel_change: f64) -> bool {
        if kernel_change < self.tol {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= self.patience && iteration >= self.min_iterations as usize {
            self.converged = true;
        }
        self.converged
    }

    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Current number of consecutive iterations below tolerance.
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

// ---------------------------------------------------------------------------------------------
// Small numerical helpers

/// Median of finite values (mean of the middle two for even counts); None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// Sample-wise median of equally long vectors.
fn median_curve(curves: &[Vec<f32>]) -> Vec<f32> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|k| {
            let col: Vec<f64> = curves.iter().map(|c| c[k] as f64).collect();
            median(&col).unwrap_or(0.0) as f32
        })
        .collect()
}

fn peak_normalised(h: &[f32]) -> Vec<f32> {
    let peak = h.iter().fold(0.0f32, |m, &x| m.max(x));
    if peak > 0.0 && peak.is_finite() {
        h.iter().map(|x| x / peak).collect()
    } else {
        h.to_vec()
    }
}

/// Largest sample of exp(-t/tau_decay) - exp(-t/tau_rise) over t = k dt, k = 0..len.
fn biexp_peak(tau_rise: f64, tau_decay: f64, dt: f64, len: usize) -> f64 {
    (0..len)
        .map(|k| crate::kernel::biexp(k as f64 * dt, tau_rise, tau_decay))
        .fold(0.0, f64::max)
}

/// exp(-t/tau_decay) - exp(-t/tau_rise) at t = k dt, k = 0..len, scaled to peak 1 (h[0] = 0,
/// the crate's kernel convention).
pub fn biexp_curve(tau_rise: f64, tau_decay: f64, dt: f64, len: usize) -> Vec<f64> {
    let mut h: Vec<f64> = (0..len)
        .map(|k| crate::kernel::biexp(k as f64 * dt, tau_rise, tau_decay))
        .collect();
    let peak = h.iter().fold(0.0f64, |m, &x| m.max(x));
    if peak > 0.0 {
        h.iter_mut().for_each(|x| *x /= peak);
    }
    h
}

/// || a/|a| - b/|b| ||_2: the change of the kernel's shape regardless of its scale.
pub fn shape_change(a: &[f64], b: &[f64]) -> f64 {
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return if na == nb { 0.0 } else { 1.0 };
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x / na - y / nb).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Uniform integer in [0, n] from one 64-bit draw, the same on 32- and 64-bit targets.
fn draw_upto(rng: &mut Pcg64, n: usize) -> usize {
    let span = n as u128 + 1;
    ((rng.next_u64() as u128 * span) >> 64) as usize
}

/// Run `f` over `jobs` in parallel when the `parallel` feature is on; results in job order.
fn map_jobs<J: Sync, R: Send>(jobs: &[J], f: impl Fn(&J) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        jobs.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        jobs.iter().map(f).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The run

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    cell_start: usize,
    cell_end: usize,
    t_start: usize,
    t_end: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum CellOutcome {
    Pending,
    Done {
        alpha: f64,
        baseline: f64,
        pve: f64,
        event_rate: f64,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// The kernel the final pass uses, fixed at the first `final_pass` call.
#[derive(Debug, Clone, PartialEq)]
struct FinalKernel {
    tau_rise: f64,
    tau_decay: f64,
    fit: Option<BiexpFit>,
    kernel_r2: f64,
}

/// An outer iteration in progress (see [`IndecaRun::step_partial`]): its subsets, its segment
/// jobs and the results of the units done so far.
#[derive(Debug, Clone)]
struct PendingStep {
    iteration: usize,
    rects: Vec<Rect>,
    params: TraceParams,
    /// (subset, cell) of every segment solve, in job order.
    jobs: Vec<(usize, usize)>,
    /// Per job, once solved (here or by a replica: see [`IndecaRun::segment_tasks`]).
    solutions: Vec<Option<Result<SegmentSolution>>>,
    /// Activity change and PVEs, merged once every segment is solved.
    merged: Option<(f64, Vec<f64>)>,
    fits: Vec<Result<(Vec<f32>, BiexpFit)>>,
}

impl PendingStep {
    fn units(&self) -> usize {
        self.jobs.len() + self.rects.len()
    }

    fn solved(&self) -> usize {
        self.solutions.iter().filter(|s| s.is_some()).count()
    }

    fn done(&self) -> usize {
        self.solved() + self.fits.len()
    }
}

/// One InDeCa run over a recording (row-major `n_cells x n_time` f32 traces).
#[derive(Debug, Clone)]
pub struct IndecaRun {
    /// The traces normalised per cell to median 0 and unit noise (see [`IndecaRun::new`]).
    traces: Vec<f32>,
    /// Per cell: the median subtracted and the noise sigma divided out, to report alphas,
    /// baselines, traces and fits in the data's units.
    offsets: Vec<f64>,
    scales: Vec<f64>,
    /// Why the final kernel differs from the learned one (see [`crate::auto::plausible`]).
    warnings: Vec<String>,
    n_cells: usize,
    n_time: usize,
    fs: f64,
    config: IndecaConfig,
    upsample: usize,
    kernel_len: usize,
    subset_cells: usize,
    subset_frames: usize,
    rng: Pcg64,
    tau_rise: f64,
    tau_decay: f64,
    last_fit: Option<BiexpFit>,
    last_free: Option<Vec<f32>>,
    /// Latest loop counts per (cell, frame) and whether that frame was ever solved.
    counts: Vec<f32>,
    solved: Vec<bool>,
    history: Vec<IterationSummary>,
    free_history: Vec<Vec<f32>>,
    tracker: ConvergenceTracker,
    final_kernel: Option<FinalKernel>,
    activity: Vec<f32>,
    outcomes: Vec<CellOutcome>,
    pending: Option<PendingStep>,
}

impl IndecaRun {
    /// Validate the data and config, seed the kernel and size the subsets. Each cell's trace is
    /// shifted to median 0 and divided by its noise sigma ([`crate::noise`]) so the loop is
    /// the same on dF/F, raw F or neuropil-subtracted traces and cells weigh by their
    /// signal-to-noise ratio; results are reported back in the data's units. Other
    /// preprocessing happens inside each solve.
    pub fn new(
        traces: &[f32],
        n_cells: usize,
        n_time: usize,
        fs: f64,
        config: IndecaConfig,
    ) -> Result<Self> {
        config.validate()?;
        if !(fs.is_finite() && fs > 0.0) {
            return Err(SolverError::param(
                "fs",
                fs,
                "must be a finite number > 0 (Hz)",
            ));
        }
        if n_cells == 0 {
            return Err(SolverError::ShapeMismatch(
                "n_cells is 0; need at least one cell".into(),
            ));
        }
        if n_time < MIN_FRAMES {
            return Err(SolverError::TraceTooShort {
                len: n_time,
                min: MIN_FRAMES,
            });
        }
        let expected = n_cells.checked_mul(n_time).ok_or_else(|| {
            SolverError::ShapeMismatch(format!("{n_cells} cells x {n_time} frames overflows"))
        })?;
        if traces.len() != expected {
            return Err(SolverError::ShapeMismatch(format!(
                "traces hold {} samples, expected n_cells * n_time = {n_cells} * {n_time} = {expected}",
                traces.len()
            )));
        }
        let bad = traces.iter().filter(|x| !x.is_finite()).count();
        if bad > 0 {
            let first = traces.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(SolverError::NonFiniteInput {
                count: bad,
                first_index: first,
            });
        }
        let upsample = match config.upsample_target {
            Some(target) => compute_upsample_factor(fs, target)?,
            None => 1,
        };
        let (traces, offsets, scales) = normalise_rows(traces, n_time)?;
        let traces = &traces[..];

        let (tau_rise, tau_decay) = match (config.tau_rise_init, config.tau_decay_init) {
            (Some(r), Some(d)) => (r, d),
            _ => seed_taus(traces, n_cells, n_time, fs)?,
        };
        crate::kernel::KernelParams::new(tau_rise, tau_decay, fs)?;

        let kernel_s = config.kernel_length_s.unwrap_or_else(|| {
            (AUTO_KERNEL_DECAYS * tau_decay).clamp(AUTO_KERNEL_MIN_S, AUTO_KERNEL_MAX_S)
        });
        // Subset shape on the normalised raster: area a = coverage / subsets, t/c = aspect.
        let area = config.target_coverage / config.num_subsets as f64;
        let mut c_frac = (area / config.aspect_ratio).sqrt();
        let mut t_frac = (area * config.aspect_ratio).sqrt();
        if t_frac > 1.0 {
            t_frac = 1.0;
            c_frac = area.min(1.0);
        }
        if c_frac > 1.0 {
            c_frac = 1.0;
            t_frac = area.min(1.0);
        }
        let subset_cells = ((c_frac * n_cells as f64).round() as usize).clamp(1, n_cells);
        let mut kernel_frames = (kernel_s * fs).ceil() as usize;
        // A segment must be a few kernels long for the kernel to be identifiable.
        let min_frames = (3 * kernel_frames).max(MIN_FRAMES).min(n_time);
        let subset_frames = ((t_frac * n_time as f64).round() as usize).clamp(min_frames, n_time);
        if config.kernel_length_s.is_some() && kernel_frames * 2 > subset_frames {
            return Err(SolverError::param(
                "kernel_length_s",
                kernel_s,
                format!(
                    "is longer than half a subset segment ({subset_frames} frames at {fs} Hz); \
                     use a shorter kernel or a larger target_coverage / aspect_ratio"
                ),
            ));
        }
        kernel_frames = kernel_frames.clamp(4, (subset_frames / 2).max(4));
        let kernel_len = kernel_frames * kernel_rate_factor(upsample);

        Ok(IndecaRun {
            traces: traces.to_vec(),
            offsets,
            scales,
            warnings: Vec::new(),
            n_cells,
            n_time,
            fs,
            upsample,
            kernel_len,
            subset_cells,
            subset_frames,
            rng: Pcg64::seed_from_u64(config.seed),
            tau_rise,
            tau_decay,
            last_fit: None,
            last_free: None,
            counts: vec![0.0; expected],
            solved: vec![false; expected],
            history: Vec::new(),
            free_history: Vec::new(),
            tracker: ConvergenceTracker::new(
                config.convergence_tol,
                config.patience,
                config.min_iterations,
            ),
            final_kernel: None,
            activity: vec![0.0; expected],
            outcomes: vec![CellOutcome::Pending; n_cells],
            pending: None,
            config,
        })
    }

    /// Parse the config JSON and build the run.
    pub fn from_json(
        traces: &[f32],
        n_cells: usize,
        n_time: usize,
        fs: f64,
        config_json: &str,
    ) -> Result<Self> {
        Self::new(
            traces,
            n_cells,
            n_time,
            fs,
            IndecaConfig::from_json(config_json)?,
        )
    }

    pub fn config(&self) -> &IndecaConfig {
        &self.config
    }
    pub fn num_cells(&self) -> usize {
        self.n_cells
    }
    pub fn num_timepoints(&self) -> usize {
        self.n_time
    }
    pub fn upsample_factor(&self) -> usize {
        self.upsample
    }
    /// Current kernel time constants (s): the seed before the first step, then the merged ones.
    pub fn taus(&self) -> (f64, f64) {
        (self.tau_rise, self.tau_decay)
    }
    /// Completed outer iterations.
    pub fn iteration(&self) -> usize {
        self.history.len()
    }
    pub fn is_converged(&self) -> bool {
        self.tracker.converged()
    }
    /// True once converged, at `max_iterations`, or once the final pass has started: further
    /// `step` calls are refused.
    pub fn is_done(&self) -> bool {
        self.is_converged()
            || self.iteration() >= self.config.max_iterations as usize
            || self.final_kernel.is_some()
    }
    /// (cells, frames) of every subset.
    pub fn subset_shape(&self) -> (usize, usize) {
        (self.subset_cells, self.subset_frames)
    }
    /// Length (samples) and spacing (s) of the free-form kernel.
    pub fn kernel_grid(&self) -> (usize, f64) {
        (self.kernel_len, self.kernel_dt())
    }

    fn kernel_fs(&self) -> f64 {
        self.fs * kernel_rate_factor(self.upsample) as f64
    }

    fn kernel_dt(&self) -> f64 {
        1.0 / self.kernel_fs()
    }

    fn trace_params(&self, tau_rise: f64, tau_decay: f64) -> TraceParams {
        TraceParams {
            tau_rise,
            tau_decay,
            fs: self.fs,
            upsample_factor: self.upsample,
            max_iters: self.config.max_solver_iters as usize,
            tol: TRACE_TOL,
            hp_enabled: self.config.hp_filter_enabled,
            lp_enabled: self.config.lp_filter_enabled,
            lambda: self.config.lambda,
        }
    }

    fn row(&self, cell: usize) -> &[f32] {
        &self.traces[cell * self.n_time..(cell + 1) * self.n_time]
    }

    fn draw_subsets(&mut self) -> Vec<Rect> {
        (0..self.config.num_subsets)
            .map(|_| {
                let c0 = draw_upto(&mut self.rng, self.n_cells - self.subset_cells);
                let t0 = draw_upto(&mut self.rng, self.n_time - self.subset_frames);
                Rect {
                    cell_start: c0,
                    cell_end: c0 + self.subset_cells,
                    t_start: t0,
                    t_end: t0 + self.subset_frames,
                }
            })
            .collect()
    }

    /// One outer iteration; see the module docs. Refused (`NOT_READY`) once the run is done or
    /// the final pass has started (the kernel is frozen then).
    pub fn step(&mut self) -> Result<IterationReport> {
        loop {
            if let Some(report) = self.step_partial(usize::MAX)? {
                return Ok(report);
            }
        }
    }

    /// Up to `max_units` work units of the current outer iteration (starting one if none is in
    /// progress); returns its report once the last unit is done, `None` before. Refused like
    /// [`Self::step`]. After an error the iteration is abandoned (the next call starts a new one).
    pub fn step_partial(&mut self, max_units: usize) -> Result<Option<IterationReport>> {
        if self.pending.is_none() {
            self.pending = Some(self.begin_step()?);
        }
        let out = self.advance_step(max_units.max(1));
        if !matches!(out, Ok(None)) {
            self.pending = None;
        }
        out
    }

    /// (units done, units in all) of the iteration in progress; (0, 0) between iterations.
    pub fn step_units(&self) -> (usize, usize) {
        self.pending
            .as_ref()
            .map_or((0, 0), |p| (p.done(), p.units()))
    }

    /// The segment solves of the iteration in progress that are still open (starting an
    /// iteration if none is in progress, refused like [`Self::step`]); empty once they are all
    /// solved. Each task is self-contained: [`Self::solve_segment`] on this run or on a replica
    /// built from the same traces and config gives the same solution, and
    /// [`Self::accept_segment`] takes them back in any order. Once every segment is in,
    /// [`Self::step_partial`] merges them and finishes the iteration (the kernel stage).
    pub fn segment_tasks(&mut self) -> Result<Vec<SegmentTask>> {
        if self.pending.is_none() {
            self.pending = Some(self.begin_step()?);
        }
        let Some(p) = &self.pending else {
            return Ok(Vec::new());
        };
        Ok((0..p.jobs.len())
            .filter(|&j| p.solutions[j].is_none())
            .map(|j| self.segment_task(p, j))
            .collect())
    }

    fn segment_task(&self, p: &PendingStep, job: usize) -> SegmentTask {
        let (s, cell) = p.jobs[job];
        let r = p.rects[s];
        let lo = cell * self.n_time + r.t_start;
        let hi = cell * self.n_time + r.t_end;
        // The counts change only when an iteration's segments are merged, so a task's warm
        // start is the same whenever it is made during phase 1.
        let warm = self.solved[lo..hi]
            .iter()
            .any(|&b| b)
            .then(|| self.counts[lo..hi].to_vec());
        SegmentTask {
            job,
            cell,
            t_start: r.t_start,
            t_end: r.t_end,
            tau_rise: p.params.tau_rise,
            tau_decay: p.params.tau_decay,
            warm,
        }
    }

    /// Solve one segment task (see [`Self::segment_tasks`]). It changes nothing, so any
    /// replica of the run may do it.
    pub fn solve_segment(&self, task: &SegmentTask) -> Result<SegmentSolution> {
        self.check_cell(task.cell)?;
        if task.t_start >= task.t_end || task.t_end > self.n_time {
            return Err(SolverError::ShapeMismatch(format!(
                "segment frames [{}, {}) are not inside [0, {})",
                task.t_start, task.t_end, self.n_time
            )));
        }
        let lo = task.cell * self.n_time;
        let trace = &self.traces[lo + task.t_start..lo + task.t_end];
        let warm: Option<Vec<f64>> = task
            .warm
            .as_ref()
            .map(|w| w.iter().map(|&x| x as f64).collect());
        let params = self.trace_params(task.tau_rise, task.tau_decay);
        let d = solve_f32(trace, &params, warm.as_deref())?;
        Ok(SegmentSolution {
            job: task.job,
            tau_rise: task.tau_rise,
            tau_decay: task.tau_decay,
            solution: d.solution,
            s_fine: d.s_fine,
            preprocessed: d.preprocessed,
        })
    }

    /// Takes back one solved segment of the iteration in progress. Refused when no iteration
    /// waits for it, when that job is already in, or when its kernel or length is not the
    /// iteration's.
    pub fn accept_segment(&mut self, sol: SegmentSolution) -> Result<()> {
        let job = sol.job;
        let frames = {
            let p = self.open_job(job)?;
            if (sol.tau_rise, sol.tau_decay) != (p.params.tau_rise, p.params.tau_decay) {
                return Err(SolverError::InvalidState(format!(
                    "segment job {job} was solved with kernel ({}, {}) s, not this \
                     iteration's ({}, {}) s",
                    sol.tau_rise, sol.tau_decay, p.params.tau_rise, p.params.tau_decay
                )));
            }
            let r = p.rects[p.jobs[job].0];
            r.t_end - r.t_start
        };
        let s = &sol.solution;
        if s.s_counts.len() != frames
            || sol.preprocessed.len() != frames
            || sol.s_fine.len() != frames * self.upsample
        {
            return Err(SolverError::ShapeMismatch(format!(
                "segment job {job} covers {frames} frames ({} fine samples) but its solution \
                 has {} counts, {} preprocessed samples and {} fine samples",
                frames * self.upsample,
                s.s_counts.len(),
                sol.preprocessed.len(),
                sol.s_fine.len()
            )));
        }
        self.store_segment(job, Ok(sol));
        Ok(())
    }

    /// Records that segment `job` failed where it ran; the merge skips it, as it skips a
    /// segment that fails here.
    pub fn reject_segment(&mut self, job: usize, failure: UnitFailure) -> Result<()> {
        self.open_job(job)?;
        self.store_segment(
            job,
            Err(SolverError::InvalidState(format!(
                "segment job {job} failed: {} ({})",
                failure.message, failure.code
            ))),
        );
        Ok(())
    }

    fn open_job(&self, job: usize) -> Result<&PendingStep> {
        let p = self.pending.as_ref().ok_or_else(|| {
            SolverError::NotReady(format!("no iteration is waiting for segment job {job}"))
        })?;
        match p.solutions.get(job) {
            None => Err(SolverError::ShapeMismatch(format!(
                "segment job {job} does not exist; this iteration has {} jobs",
                p.jobs.len()
            ))),
            Some(Some(_)) => Err(SolverError::InvalidState(format!(
                "segment job {job} is already solved"
            ))),
            Some(None) => Ok(p),
        }
    }

    fn store_segment(&mut self, job: usize, sol: Result<SegmentSolution>) {
        if let Some(p) = self.pending.as_mut() {
            p.solutions[job] = Some(sol);
        }
    }

    fn begin_step(&mut self) -> Result<PendingStep> {
        if self.final_kernel.is_some() {
            return Err(SolverError::NotReady(
                "the final pass has started; the kernel is frozen and no more iterations run"
                    .into(),
            ));
        }
        if self.is_done() {
            return Err(SolverError::NotReady(format!(
                "the run is finished ({} after {} iteration(s)); call final_pass",
                if self.is_converged() {
                    "converged"
                } else {
                    "max_iterations reached"
                },
                self.iteration()
            )));
        }
        let iteration = self.iteration() + 1;
        let rects = self.draw_subsets();
        let params = self.trace_params(self.tau_rise, self.tau_decay);
        // Phase 1 jobs: every (subset, cell) segment, warm-started from the counts before this step.
        let jobs: Vec<(usize, usize)> = rects
            .iter()
            .enumerate()
            .flat_map(|(s, r)| (r.cell_start..r.cell_end).map(move |c| (s, c)))
            .collect();
        Ok(PendingStep {
            iteration,
            solutions: vec![None; jobs.len()],
            fits: Vec::with_capacity(rects.len()),
            rects,
            params,
            jobs,
            merged: None,
        })
    }

    fn advance_step(&mut self, mut budget: usize) -> Result<Option<IterationReport>> {
        let Some(mut p) = self.pending.take() else {
            return Err(SolverError::InvalidState(
                "no iteration in progress to advance".into(),
            ));
        };
        let out = self.advance_pending(&mut p, &mut budget);
        self.pending = Some(p);
        out
    }

    fn advance_pending(
        &mut self,
        p: &mut PendingStep,
        budget: &mut usize,
    ) -> Result<Option<IterationReport>> {
        // Phase 1: segment solves, the first unsolved jobs in job order.
        if p.solved() < p.jobs.len() {
            let open: Vec<usize> = (0..p.jobs.len())
                .filter(|&j| p.solutions[j].is_none())
                .take(*budget)
                .collect();
            let solved: Vec<Result<SegmentSolution>> = {
                let this = &*self;
                map_jobs(&open, |&j| this.solve_segment(&this.segment_task(p, j)))
            };
            *budget -= open.len();
            for (j, sol) in open.into_iter().zip(solved) {
                p.solutions[j] = Some(sol);
            }
            if p.solved() < p.jobs.len() || *budget == 0 {
                return Ok(None);
            }
        }
        if p.merged.is_none() {
            p.merged = Some(self.merge_segments(p));
        }

        // Phase 2: kernel per subset.
        if p.fits.len() < p.rects.len() {
            let from = p.fits.len();
            let to = p.rects.len().min(from.saturating_add(*budget));
            let subset_ids: Vec<usize> = (from..to).collect();
            let fits: Vec<Result<(Vec<f32>, BiexpFit)>> = {
                let this = &*self;
                let (jobs, solutions) = (&p.jobs, &p.solutions);
                map_jobs(&subset_ids, |&s| {
                    let segs: Vec<&SegmentSolution> = jobs
                        .iter()
                        .zip(solutions)
                        .filter(|((js, _), _)| *js == s)
                        .filter_map(|(_, sol)| sol.as_ref().and_then(|r| r.as_ref().ok()))
                        .filter(|d| {
                            d.solution.alpha > 0.0 && d.solution.s_counts.iter().any(|&x| x > 0.0)
                        })
                        .collect();
                    this.subset_kernel(&segs)
                })
            };
            *budget -= to - from;
            p.fits.extend(fits);
            if p.fits.len() < p.rects.len() {
                return Ok(None);
            }
        }
        self.finish_step(p).map(Some)
    }

    /// Merges the segment solutions in job order: activity change, PVEs and the stored counts.
    fn merge_segments(&mut self, p: &PendingStep) -> (f64, Vec<f64>) {
        let (mut diff2, mut norm2) = (0.0f64, 0.0f64);
        let mut pves = Vec::new();
        for (&(s, c), sol) in p.jobs.iter().zip(&p.solutions) {
            let Some(Ok(sol)) = sol else { continue };
            let sol = &sol.solution;
            let r = p.rects[s];
            let lo = c * self.n_time + r.t_start;
            for (k, &x) in sol.s_counts.iter().enumerate() {
                let old = self.counts[lo + k] as f64;
                diff2 += (x as f64 - old).powi(2);
                norm2 += (x as f64).powi(2);
            }
            self.counts[lo..lo + sol.s_counts.len()].copy_from_slice(&sol.s_counts);
            self.solved[lo..lo + sol.s_counts.len()]
                .iter_mut()
                .for_each(|b| *b = true);
            pves.push(sol.pve);
        }
        let activity_change = if norm2 > 0.0 {
            (diff2 / norm2).sqrt()
        } else if diff2 > 0.0 {
            1.0
        } else {
            0.0
        };
        (activity_change, pves)
    }

    /// Merges the subsets' kernels into the new kernel and records the iteration.
    fn finish_step(&mut self, p: &mut PendingStep) -> Result<IterationReport> {
        let iteration = p.iteration;
        let (activity_change, pves) = p.merged.take().unwrap_or_default();
        let fits = std::mem::take(&mut p.fits);
        let rects = &p.rects;
        let mut subsets = Vec::new();
        let mut free = Vec::new();
        let mut rises = Vec::new();
        let mut decays = Vec::new();
        let mut r2s = Vec::new();
        let mut first_err = None;
        for (r, fit) in rects.iter().zip(fits) {
            // A fit without a positive amplitude or with swapped time constants says nothing
            // about the kernel's shape: drop that subset from the merge.
            let fit = fit.and_then(|(h, f)| {
                if f.beta > 0.0 && f.tau_rise > 0.0 && f.tau_rise < f.tau_decay {
                    Ok((h, f))
                } else {
                    Err(SolverError::NotReady(format!(
                        "degenerate kernel fit (beta {}, tau_rise {}, tau_decay {})",
                        f.beta, f.tau_rise, f.tau_decay
                    )))
                }
            });
            match fit {
                Ok((h, f)) => {
                    let h = peak_normalised(&h);
                    rises.push(f.tau_rise);
                    decays.push(f.tau_decay);
                    r2s.push(f.r2);
                    subsets.push(SubsetReport {
                        cell_start: r.cell_start,
                        cell_end: r.cell_end,
                        t_start: r.t_start,
                        t_end: r.t_end,
                        tau_rise: f.tau_rise,
                        tau_decay: f.tau_decay,
                        kernel: h.clone(),
                    });
                    free.push(h);
                    self.last_fit = Some(f);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let failed_subsets = rects.len() - subsets.len();
        let (Some(mut tau_rise), Some(tau_decay)) = (median(&rises), median(&decays)) else {
            return Err(first_err.unwrap_or_else(|| {
                SolverError::NotReady("no subset produced a kernel estimate".into())
            }));
        };
        if tau_rise >= tau_decay {
            tau_rise = 0.5 * tau_decay;
        }

        let dt = self.kernel_dt();
        let old_shape = biexp_curve(self.tau_rise, self.tau_decay, dt, self.kernel_len);
        let new_shape = biexp_curve(tau_rise, tau_decay, dt, self.kernel_len);
        let kernel_change = shape_change(&new_shape, &old_shape);
        self.tau_rise = tau_rise;
        self.tau_decay = tau_decay;
        let kernel_free = median_curve(&free);
        self.last_free = Some(kernel_free.clone());
        self.free_history.push(kernel_free.clone());
        let converged = self.tracker.update(iteration, kernel_change);
        let report = IterationReport {
            iteration,
            tau_rise,
            tau_decay,
            kernel_change,
            activity_change,
            kernel_r2: median(&r2s).unwrap_or(0.0),
            median_pve: median(&pves).unwrap_or(0.0),
            converged,
            subsets,
            failed_subsets,
            kernel_free,
            kernel_fit: new_shape.iter().map(|&x| x as f32).collect(),
            kernel_dt: dt,
        };
        self.history.push(IterationSummary {
            iteration,
            tau_rise,
            tau_decay,
            kernel_change,
            activity_change,
            kernel_r2: report.kernel_r2,
            median_pve: report.median_pve,
            converged,
        });
        Ok(report)
    }

    /// Free-form kernel and its bi-exponential fit from one subset's solved segments (the
    /// preprocessed traces the solves fitted, with their counts, amplitudes and baselines).
    fn subset_kernel(&self, segs: &[&SegmentSolution]) -> Result<(Vec<f32>, BiexpFit)> {
        if segs.is_empty() {
            return Err(SolverError::NotReady(
                "subset has no cell with detected events".into(),
            ));
        }
        let mut traces_flat = Vec::new();
        let mut spikes_flat = Vec::new();
        let mut lengths = Vec::with_capacity(segs.len());
        let mut alphas = Vec::with_capacity(segs.len());
        let mut baselines = Vec::with_capacity(segs.len());
        for d in segs {
            traces_flat.extend_from_slice(&d.preprocessed);
            spikes_flat.extend_from_slice(&d.s_fine);
            lengths.push(d.preprocessed.len());
            alphas.push(d.solution.alpha);
            baselines.push(d.solution.baseline);
        }
        let warm: Option<Vec<f64>> = self
            .last_free
            .as_ref()
            .map(|h| h.iter().map(|&x| x as f64).collect());
        let est = estimate_kernel_upsampled(
            &traces_flat,
            &spikes_flat,
            &lengths,
            &alphas,
            &baselines,
            self.upsample,
            self.kernel_len,
            KERNEL_MAX_ITERS,
            KERNEL_TOL,
            warm.as_deref(),
            self.config.smooth_lambda,
        )?;
        let (fit, shift) = fit_biexponential_onset(
            &est.kernel,
            self.kernel_fs(),
            self.config.refine_fast,
            self.onset_search(),
            self.last_fit.as_ref(),
        )?;
        // Stored aligned, so the per-subset curves, their median and the final fit share an onset.
        let aligned = shift_samples(&est.kernel, shift);
        Ok((aligned.iter().map(|&x| x as f32).collect(), fit))
    }

    /// Largest onset shift the kernel fit tries, in kernel samples: [`ONSET_SEARCH_FRAMES`] frames
    /// or [`ONSET_SEARCH_S`] seconds, whichever is longer.
    fn onset_search(&self) -> usize {
        onset_search_samples(self.fs, self.upsample)
    }

    fn freeze_kernel(&mut self) -> Result<FinalKernel> {
        if let Some(k) = &self.final_kernel {
            return Ok(k.clone());
        }
        // An iteration cut short (a stop) is abandoned: the kernel comes from finished ones.
        self.pending = None;
        let n = self.history.len();
        let window = &self.history[n.saturating_sub(FINAL_WINDOW)..];
        let rises: Vec<f64> = window.iter().map(|h| h.tau_rise).collect();
        let decays: Vec<f64> = window.iter().map(|h| h.tau_decay).collect();
        let tau_decay = median(&decays).unwrap_or(self.tau_decay);
        let mut tau_rise = median(&rises).unwrap_or(self.tau_rise);
        if tau_rise >= tau_decay {
            tau_rise = 0.5 * tau_decay;
        }
        let frees = &self.free_history[self.free_history.len().saturating_sub(FINAL_WINDOW)..];
        let (fit, kernel_r2) = if frees.is_empty() {
            (None, 0.0)
        } else {
            let free = median_curve(frees);
            // The fit supplies beta, the optional fast component and the quality label; the
            // time constants stay the window medians so the final pass uses exactly them.
            let free64: Vec<f64> = free.iter().map(|&x| x as f64).collect();
            match fit_biexponential_onset(
                &free64,
                self.kernel_fs(),
                self.config.refine_fast,
                self.onset_search(),
                self.last_fit.as_ref(),
            ) {
                Ok((f, shift)) => {
                    let free: Vec<f32> = shift_samples(&free64, shift)
                        .iter()
                        .map(|&x| x as f32)
                        .collect();
                    // R^2 of the kernel actually used; with a fast component the fit's own.
                    let r2 = if f.has_fast() {
                        f.r2
                    } else {
                        slow_r2(&free, tau_rise, tau_decay, self.kernel_dt())
                    };
                    (Some(f), r2)
                }
                Err(_) => (None, 0.0),
            }
        };
        // A kernel outside the physical range is replaced, with the reason, never used silently.
        let quality = fit
            .as_ref()
            .map(|f| f.quality.to_string())
            .unwrap_or_else(|| "poor".into());
        let checked = crate::auto::plausible(
            tau_rise,
            tau_decay,
            self.fs,
            quality,
            kernel_r2,
            self.history.len(),
            true, // convergence has its own field in the results
        );
        self.warnings = checked.warnings;
        let k = FinalKernel {
            tau_rise: checked.tau_rise,
            tau_decay: checked.tau_decay,
            fit,
            kernel_r2,
        };
        self.final_kernel = Some(k.clone());
        Ok(k)
    }

    /// Solve cells `[cell_start, cell_end)` over their whole traces with the final kernel (fixed
    /// at the first call). Per-cell failures are recorded in the result, not returned.
    pub fn final_pass(&mut self, cell_start: usize, cell_end: usize) -> Result<()> {
        if cell_start > cell_end || cell_end > self.n_cells {
            return Err(SolverError::ShapeMismatch(format!(
                "cell range [{cell_start}, {cell_end}) is not inside [0, {})",
                self.n_cells
            )));
        }
        let (tau_rise, tau_decay) = self.freeze_final_kernel()?;
        let cells: Vec<usize> = (cell_start..cell_end).collect();
        let sols = {
            let this = &*self;
            map_jobs(&cells, |&c| this.solve_final_cell(c, tau_rise, tau_decay))
        };
        for (c, sol) in cells.into_iter().zip(sols) {
            self.accept_final_cell(c, sol.map_err(|e| UnitFailure::from(&e)))?;
        }
        Ok(())
    }

    /// The final kernel's time constants (s), fixed by the first call of this or of
    /// [`Self::final_pass`]: after it no more iterations run.
    pub fn freeze_final_kernel(&mut self) -> Result<(f64, f64)> {
        let k = self.freeze_kernel()?;
        Ok((k.tau_rise, k.tau_decay))
    }

    /// The final pass's unit of work: one cell over its whole trace with the kernel
    /// `(tau_rise, tau_decay)`, cold-started. It changes nothing, so a replica of this run (built
    /// from the same traces and config) gives the same answer as the run itself.
    pub fn solve_final_cell(
        &self,
        cell: usize,
        tau_rise: f64,
        tau_decay: f64,
    ) -> Result<FinalCell> {
        self.check_cell(cell)?;
        let sol = solve_f32(
            self.row(cell),
            &self.trace_params(tau_rise, tau_decay),
            None,
        )?;
        let sol = sol.solution;
        let spikes = spikes_per_frame(self.row(cell), tau_rise, tau_decay, self.fs, sol.alpha)?;
        Ok(FinalCell {
            cell,
            tau_rise,
            tau_decay,
            alpha: sol.alpha,
            baseline: sol.baseline,
            pve: sol.pve,
            spikes,
        })
    }

    /// Records the final-pass result of `cell` (solved here or by a replica). Refused before
    /// the kernel is frozen, for a cell out of range, or for a result computed with another
    /// kernel; a failure is recorded as the cell's error.
    pub fn accept_final_cell(
        &mut self,
        cell: usize,
        outcome: std::result::Result<FinalCell, UnitFailure>,
    ) -> Result<()> {
        self.check_cell(cell)?;
        let Some(k) = &self.final_kernel else {
            return Err(SolverError::NotReady(
                "the final kernel is not fixed yet; call freeze_final_kernel first".into(),
            ));
        };
        if let Ok(fc) = &outcome {
            if fc.cell != cell || (fc.tau_rise, fc.tau_decay) != (k.tau_rise, k.tau_decay) {
                return Err(SolverError::InvalidState(format!(
                    "final-pass result for cell {} with kernel ({}, {}) s offered for cell \
                     {cell}, whose final kernel is ({}, {}) s",
                    fc.cell, fc.tau_rise, fc.tau_decay, k.tau_rise, k.tau_decay
                )));
            }
        }
        let seconds = self.n_time as f64 / self.fs;
        let (scale, offset) = (self.scales[cell], self.offsets[cell]);
        let row = &mut self.activity[cell * self.n_time..(cell + 1) * self.n_time];
        self.outcomes[cell] = match outcome {
            Ok(fc) if fc.spikes.len() == row.len() => {
                row.copy_from_slice(&fc.spikes);
                let total: f64 = fc.spikes.iter().map(|&x| x as f64).sum();
                CellOutcome::Done {
                    alpha: fc.alpha * scale,
                    baseline: fc.baseline * scale + offset,
                    pve: fc.pve,
                    event_rate: total / seconds,
                }
            }
            Ok(fc) => {
                row.fill(0.0);
                CellOutcome::Failed {
                    code: "SHAPE_MISMATCH".into(),
                    message: format!(
                        "solver returned {} samples for a {}-frame trace",
                        fc.spikes.len(),
                        row.len()
                    ),
                }
            }
            Err(UnitFailure { code, message }) => {
                row.fill(0.0);
                CellOutcome::Failed { code, message }
            }
        };
        Ok(())
    }

    /// True once every cell went through the final pass.
    pub fn final_pass_complete(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| !matches!(o, CellOutcome::Pending))
    }

    /// Final-pass spikes per frame, row-major `n_cells x n_time` at the original rate (see
    /// [`spikes_per_frame`]); rows of failed cells and of cells the final pass has not reached
    /// are zeros.
    pub fn activity(&self) -> &[f32] {
        &self.activity
    }

    /// Cell `i`'s trace as the solver sees it (drift removed, enabled filters applied), at the
    /// original rate, with the current kernel (the final one once the final pass started).
    pub fn cell_trace(&self, cell: usize) -> Result<Vec<f32>> {
        self.check_cell(cell)?;
        let (tr, td) = self.current_taus();
        let y: Vec<f64> = self.row(cell).iter().map(|&x| x as f64).collect();
        let (pre, _) = preprocess_trace(&y, &self.trace_params(tr, td))?;
        Ok(self.to_data_units(cell, &pre))
    }

    /// alpha * (h * s) + baseline of cell `i` at the original rate, on the scale of
    /// [`Self::cell_trace`]. Solved on demand (nothing is stored): with the final kernel, cold,
    /// exactly as the final pass does, or with the current kernel before the final pass, so the
    /// app can preview any cell during the iterations. A cell that failed gives its error.
    pub fn cell_fit(&self, cell: usize) -> Result<Vec<f32>> {
        self.check_cell(cell)?;
        let (tr, td) = self.current_taus();
        let d = solve_f32(self.row(cell), &self.trace_params(tr, td), None)?;
        Ok(self.to_data_units(cell, &d.fit))
    }

    /// Values on cell `cell`'s normalised scale back in the data's units.
    fn to_data_units(&self, cell: usize, v: &[f64]) -> Vec<f32> {
        let (a, b) = (self.scales[cell], self.offsets[cell]);
        v.iter().map(|&x| (x * a + b) as f32).collect()
    }

    fn check_cell(&self, cell: usize) -> Result<()> {
        if cell < self.n_cells {
            Ok(())
        } else {
            Err(SolverError::param(
                "cell",
                cell as f64,
                format!("must be < n_cells = {}", self.n_cells),
            ))
        }
    }

    fn current_taus(&self) -> (f64, f64) {
        match &self.final_kernel {
            Some(k) => (k.tau_rise, k.tau_decay),
            None => (self.tau_rise, self.tau_decay),
        }
    }

    /// The results (see [`IndecaResult`]); `partial` until the final pass covered every cell.
    /// Before the final pass the kernel fields describe the current kernel.
    pub fn result(&self) -> IndecaResult {
        let (tau_rise, tau_decay) = self.current_taus();
        let dt = self.kernel_dt();
        let (fit, kernel_r2) = match &self.final_kernel {
            Some(k) => (k.fit.clone(), k.kernel_r2),
            None => (
                self.last_fit.clone(),
                self.history.last().map(|h| h.kernel_r2).unwrap_or(0.0),
            ),
        };
        let beta = fit.as_ref().map(|f| f.beta).unwrap_or(1.0);
        let fast = fit
            .as_ref()
            .filter(|f| f.has_fast() && f.tau_rise_fast > 0.0 && f.beta > 0.0);
        let slow = biexp_curve(tau_rise, tau_decay, dt, self.kernel_len);
        // The fast component on the slow curve's scale (kernel_slow has peak 1).
        let kernel_fast = match fast {
            Some(f) => {
                let slow_peak = biexp_peak(tau_rise, tau_decay, dt, self.kernel_len);
                (0..self.kernel_len)
                    .map(|k| {
                        let t = k as f64 * dt;
                        let v = f.beta_fast
                            * crate::kernel::biexp(t, f.tau_rise_fast, f.tau_decay_fast);
                        (v / (f.beta * slow_peak).max(f64::MIN_POSITIVE)) as f32
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let mut alphas = Vec::with_capacity(self.n_cells);
        let mut baselines = Vec::with_capacity(self.n_cells);
        let mut pves = Vec::with_capacity(self.n_cells);
        let mut rates = Vec::with_capacity(self.n_cells);
        let mut cell_errors = Vec::new();
        for (cell, o) in self.outcomes.iter().enumerate() {
            match o {
                CellOutcome::Done {
                    alpha,
                    baseline,
                    pve,
                    event_rate,
                } => {
                    alphas.push(Some(*alpha));
                    baselines.push(Some(*baseline));
                    pves.push(Some(*pve));
                    rates.push(Some(*event_rate));
                }
                other => {
                    alphas.push(None);
                    baselines.push(None);
                    pves.push(None);
                    rates.push(None);
                    if let CellOutcome::Failed { code, message } = other {
                        cell_errors.push(CellError {
                            cell,
                            code: code.clone(),
                            message: message.clone(),
                        });
                    }
                }
            }
        }
        IndecaResult {
            schema_version: RESULTS_SCHEMA_VERSION.into(),
            app: "cadecon".into(),
            fs: self.fs,
            num_cells: self.n_cells,
            num_timepoints: self.n_time,
            cell_indices: (0..self.n_cells).collect(),
            tau_rise,
            tau_decay,
            beta,
            tau_rise_fast: fast.map(|f| f.tau_rise_fast),
            tau_decay_fast: fast.map(|f| f.tau_decay_fast),
            beta_fast: fast.map(|f| f.beta_fast),
            fit_quality: fit
                .as_ref()
                .map(|f| f.quality.to_string())
                .unwrap_or_else(|| "poor".into()),
            kernel_r2,
            kernel_slow: slow.iter().map(|&x| x as f32).collect(),
            kernel_fast,
            kernel_dt: dt,
            alphas,
            baselines,
            pves,
            event_rates: rates,
            cell_errors,
            iterations: self.iteration(),
            converged: self.is_converged(),
            partial: !self.final_pass_complete(),
            config: self.config.clone(),
            upsample_factor: self.upsample,
            history: self.history.clone(),
            warnings: self.warnings.clone(),
            provenance: None,
        }
    }
}

/// Each row shifted to median 0 and divided by its noise sigma (1 where the noise is 0), with
/// the medians and sigmas.
fn normalise_rows(traces: &[f32], n_time: usize) -> Result<(Vec<f32>, Vec<f64>, Vec<f64>)> {
    let mut out = Vec::with_capacity(traces.len());
    let (mut offsets, mut scales) = (Vec::new(), Vec::new());
    for row in traces.chunks_exact(n_time) {
        let y: Vec<f64> = row.iter().map(|&x| x as f64).collect();
        let mut sorted = y.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let median = sorted[sorted.len() / 2];
        let sigma = crate::noise::estimate_noise(&y)?;
        let scale = if sigma > 0.0 && sigma.is_finite() {
            sigma
        } else {
            1.0
        };
        out.extend(y.iter().map(|v| ((v - median) / scale) as f32));
        offsets.push(median);
        scales.push(scale);
    }
    Ok((out, offsets, scales))
}

/// The final activity of one (normalised) trace in spikes per frame: the L1 deconvolution with
/// the final kernel (lambda from the trace's noise, drift removed, reported on frame centres)
/// divided by the cell's amplitude per spike `alpha` from the InDeCa solve. Counting events of
/// the binary solve instead over-counts by 1.2-2.8x on the real recordings of
/// `benchmarks/bench_groundtruth.py`; this is within 0.75-1.3x of the true counts there.
fn spikes_per_frame(
    trace: &[f32],
    tau_rise: f64,
    tau_decay: f64,
    fs: f64,
    alpha: f64,
) -> Result<Vec<f32>> {
    let y: Vec<f64> = trace.iter().map(|&x| x as f64).collect();
    if !(alpha.is_finite() && alpha > 0.0) {
        return Ok(vec![0.0; y.len()]);
    }
    let mut opts = crate::deconvolve::DeconvOptions::new(tau_rise, tau_decay, 0.0, fs);
    opts.lambda_from_noise = true;
    opts.remove_drift = true;
    let out = crate::deconvolve::deconvolve(&y, &opts)?;
    Ok(out.activity.iter().map(|&a| (a / alpha) as f32).collect())
}

/// R^2 of the best non-negative multiple of the final slow curve against the free-form kernel.
fn slow_r2(free: &[f32], tau_rise: f64, tau_decay: f64, dt: f64) -> f64 {
    let model = biexp_curve(tau_rise, tau_decay, dt, free.len());
    let y: Vec<f64> = free.iter().map(|&x| x as f64).collect();
    let mm: f64 = model.iter().map(|m| m * m).sum();
    if mm == 0.0 {
        return 0.0;
    }
    let scale = (model.iter().zip(&y).map(|(m, v)| m * v).sum::<f64>() / mm).max(0.0);
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = y
        .iter()
        .zip(&model)
        .map(|(v, m)| (v - scale * m).powi(2))
        .sum();
    if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        0.0
    }
}

/// The per-trace stage on f32 samples, with the threshold rule `solve_trace` uses.
fn solve_f32(trace: &[f32], p: &TraceParams, warm: Option<&[f64]>) -> Result<TraceDetail> {
    let y: Vec<f64> = trace.iter().map(|&x| x as f64).collect();
    solve_trace_detailed(&y, p, warm, ThresholdMode::NoiseFloor)
}

/// Samples of the free-form kernel per original frame: it lives on the spike grid.
fn kernel_rate_factor(upsample: usize) -> usize {
    upsample
}

/// Peak-based first guess of (tau_rise, tau_decay) from all cells (its error, when the data
/// has too few clean transients, tells the caller to set `tau_rise_init` / `tau_decay_init`).
fn seed_taus(traces: &[f32], n_cells: usize, n_time: usize, fs: f64) -> Result<(f64, f64)> {
    let s = seed_kernel_from_peaks(traces, &vec![n_time; n_cells], fs).map_err(|e| match e {
        SolverError::InvalidParameter {
            name,
            value,
            reason,
        } => SolverError::InvalidParameter {
            name,
            value,
            reason: format!("{reason}; set the config's tau_rise_init and tau_decay_init"),
        },
        other => other,
    })?;
    Ok((s.tau_rise, s.tau_decay))
}

/// Onset shifts the kernel fit tries at frame rate `fs` with `upsample` kernel samples a frame.
fn onset_search_samples(fs: f64, upsample: usize) -> usize {
    let frames = ONSET_SEARCH_FRAMES.max((ONSET_SEARCH_S * fs).ceil() as usize);
    frames * upsample
}

#[cfg(test)]
mod onset_tests {
    use super::onset_search_samples;

    #[test]
    fn onset_search_spans_a_time_not_a_frame_count() {
        // Slow imaging keeps the two-frame floor; fast imaging searches 50 ms.
        assert_eq!(onset_search_samples(15.0, 1), 2);
        assert_eq!(onset_search_samples(30.0, 3), 6);
        assert_eq!(onset_search_samples(158.3, 1), 8);
        assert!(onset_search_samples(1000.0, 1) as f64 / 1000.0 >= 0.05);
    }
}
