//! Configuration of the InDeCa outer loop ([`super::run::IndecaRun`]).
//!
//! The JSON shape (snake_case, every field optional, unknown fields rejected) is defined by
//! `schemas/cadecon-config.schema.json`, the one source of its names, defaults and bounds: the
//! integration test `tests/indeca_run.rs` checks this struct against it, Python's
//! `calab.DeconConfig` and the CaDecon app read it.
//!
//! Units: rates in Hz, times in seconds.

use serde::{Deserialize, Serialize};

use crate::error::{require_finite, require_lambda, require_positive, Result, SolverError};

/// Largest accepted `max_iterations` (outer iterations).
pub const MAX_ITERATIONS: u32 = 200;
/// Largest accepted `num_subsets`.
pub const MAX_SUBSETS: u32 = 256;
/// Default rate (Hz) of the spike grid; recordings at or above it are not upsampled.
pub const DEFAULT_UPSAMPLE_TARGET: f64 = 90.0;
/// Largest accepted `max_solver_iters`.
pub const MAX_SOLVER_ITERS: u32 = 100_000;
/// Largest accepted seed: 2^53 - 1, exact in a JavaScript number.
pub const MAX_SEED: u64 = (1 << 53) - 1;
/// Largest accepted upsampling target (Hz).
pub const MAX_UPSAMPLE_TARGET: f64 = 100_000.0;

/// Every knob of the InDeCa outer loop. `Default` is the single source of the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndecaConfig {
    /// Rate (Hz) at which spikes are inferred; the factor is `max(1, round(target / fs))`.
    /// Default [`DEFAULT_UPSAMPLE_TARGET`] (90 Hz: a factor of 3 at 30 Hz, none at 90 Hz and
    /// above); `None` (JSON null) = the frame rate, no upsampling.
    pub upsample_target: Option<f64>,
    /// High-pass filter each trace (kernel-derived cutoff) before solving.
    pub hp_filter_enabled: bool,
    /// Low-pass filter each trace (kernel-derived cutoff) before solving.
    pub lp_filter_enabled: bool,
    /// Upper bound on outer iterations (kernel updates).
    pub max_iterations: u32,
    /// Convergence threshold on the relative L2 change of the normalised kernel shape.
    pub convergence_tol: f64,
    /// Consecutive iterations with a kernel change below `convergence_tol` needed to stop.
    pub patience: u32,
    /// No convergence is declared before this many iterations (capped by `max_iterations`).
    pub min_iterations: u32,
    /// Random cells x time rectangles drawn per iteration.
    pub num_subsets: u32,
    /// Fraction of the cells x time raster the subsets cover together, in (0, 1].
    pub target_coverage: f64,
    /// Shape of each subset: (its fraction of the frames) / (its fraction of the cells).
    /// 1 = square on the normalised raster, larger = fewer cells and longer segments.
    pub aspect_ratio: f64,
    /// Seed of the subset placement; the same seed, data and config give the same result.
    pub seed: u64,
    /// First-guess rise time (s); `None` (with `tau_decay_init` `None`) = peak-based seed.
    pub tau_rise_init: Option<f64>,
    /// First-guess decay time (s); set both or neither.
    pub tau_decay_init: Option<f64>,
    /// Length of the free-form kernel (s); `None` = automatic (see `IndecaRun`).
    pub kernel_length_s: Option<f64>,
    /// Smoothness penalty of the free-form kernel estimate.
    pub smooth_lambda: f64,
    /// Also fit a second (fast) bi-exponential component to the final kernel.
    pub refine_fast: bool,
    /// L1 weight on spikes in the per-trace solve.
    pub lambda: f64,
    /// Iteration cap of each per-trace solve.
    pub max_solver_iters: u32,
}

impl Default for IndecaConfig {
    fn default() -> Self {
        IndecaConfig {
            // Spike times within a frame matter once the kernel rises over a few frames: at
            // 30 Hz this is k = 3, which lifts the benchmarks' binned correlation by 0.01-0.08.
            upsample_target: Some(DEFAULT_UPSAMPLE_TARGET),
            hp_filter_enabled: false,
            lp_filter_enabled: false,
            max_iterations: 20,
            convergence_tol: 0.02,
            patience: 2,
            min_iterations: 3,
            num_subsets: 6,
            target_coverage: 0.5,
            aspect_ratio: 2.0,
            seed: 0,
            tau_rise_init: None,
            tau_decay_init: None,
            kernel_length_s: None,
            smooth_lambda: 0.0,
            refine_fast: false,
            // With spikes at 90 Hz, of 0.03 and 0.1 only 0.03 beats OASIS given the true kernel
            // on all of GCaMP6f, GCaMP6s and jGCaMP8f (0.1 is better on the fast two, worse on
            // GCaMP6s; binned correlation with the true spikes, benchmarks/bench_cadecon.py).
            lambda: 0.03,
            max_solver_iters: 500,
        }
    }
}

fn int_range(name: &'static str, v: u64, lo: u64, hi: u64) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(SolverError::param(
            name,
            v as f64,
            format!("must be an integer in [{lo}, {hi}]"),
        ))
    }
}

impl IndecaConfig {
    /// Check every field's range (data-independent checks; `IndecaRun::new` adds the ones that
    /// need fs and the data shape). Errors name the field by its JSON key.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.upsample_target {
            require_positive("upsample_target", t)?;
            if t > MAX_UPSAMPLE_TARGET {
                return Err(SolverError::param(
                    "upsample_target",
                    t,
                    format!("must be <= {MAX_UPSAMPLE_TARGET} Hz"),
                ));
            }
        }
        int_range(
            "max_iterations",
            self.max_iterations as u64,
            1,
            MAX_ITERATIONS as u64,
        )?;
        require_finite("convergence_tol", self.convergence_tol)?;
        if !(self.convergence_tol > 0.0 && self.convergence_tol < 1.0) {
            return Err(SolverError::param(
                "convergence_tol",
                self.convergence_tol,
                "must be in (0, 1)",
            ));
        }
        int_range("patience", self.patience as u64, 1, MAX_ITERATIONS as u64)?;
        int_range(
            "min_iterations",
            self.min_iterations as u64,
            1,
            MAX_ITERATIONS as u64,
        )?;
        int_range(
            "num_subsets",
            self.num_subsets as u64,
            1,
            MAX_SUBSETS as u64,
        )?;
        require_finite("target_coverage", self.target_coverage)?;
        if !(self.target_coverage > 0.0 && self.target_coverage <= 1.0) {
            return Err(SolverError::param(
                "target_coverage",
                self.target_coverage,
                "must be in (0, 1]",
            ));
        }
        require_positive("aspect_ratio", self.aspect_ratio)?;
        if self.seed > MAX_SEED {
            return Err(SolverError::param(
                "seed",
                self.seed as f64,
                format!("must be <= {MAX_SEED} (2^53 - 1, exact in JavaScript)"),
            ));
        }
        match (self.tau_rise_init, self.tau_decay_init) {
            (None, None) => {}
            (Some(r), Some(d)) => {
                require_positive("tau_rise_init", r)?;
                require_positive("tau_decay_init", d)?;
                if r >= d {
                    return Err(SolverError::param(
                        "tau_rise_init",
                        r,
                        format!("must be < tau_decay_init = {d}"),
                    ));
                }
            }
            (Some(r), None) => {
                return Err(SolverError::param(
                    "tau_rise_init",
                    r,
                    "needs tau_decay_init too (set both, or neither for the peak-based seed)",
                ))
            }
            (None, Some(d)) => {
                return Err(SolverError::param(
                    "tau_decay_init",
                    d,
                    "needs tau_rise_init too (set both, or neither for the peak-based seed)",
                ))
            }
        }
        if let Some(l) = self.kernel_length_s {
            require_positive("kernel_length_s", l)?;
        }
        require_lambda("smooth_lambda", self.smooth_lambda)?;
        require_lambda("lambda", self.lambda)?;
        int_range(
            "max_solver_iters",
            self.max_solver_iters as u64,
            1,
            MAX_SOLVER_ITERS as u64,
        )?;
        Ok(())
    }

    /// Parse a (possibly partial) JSON config and validate it. Malformed JSON, wrong types and
    /// unknown fields give [`SolverError::InvalidState`] with serde's message; out-of-range
    /// values give [`SolverError::InvalidParameter`] naming the field.
    pub fn from_json(config_json: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(config_json)
            .map_err(|e| SolverError::InvalidState(format!("cadecon config: {e}")))?;
        // serde would also read a struct from a JSON array (fields by position): refuse that.
        if !value.is_object() {
            return Err(SolverError::InvalidState(format!(
                "cadecon config: expected a JSON object, got {}",
                if value.is_array() {
                    "an array"
                } else {
                    "a scalar"
                }
            )));
        }
        let config: IndecaConfig = serde_json::from_value(value)
            .map_err(|e| SolverError::InvalidState(format!("cadecon config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The full config as JSON (every field present, the form the schema describes).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| SolverError::InvalidState(format!("cadecon config: {e}")))
    }
}
