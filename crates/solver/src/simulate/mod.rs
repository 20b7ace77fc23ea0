//! Synthetic calcium-imaging recordings with full ground truth, for the demo, tests and benchmarks.
//!
//! Pipeline per cell, each stage with its own seeded random stream (see [`SimulationConfig`] for
//! units and defaults):
//! 1. spikes: homogeneous Poisson or two-state Markov (bursty), drawn in continuous time;
//! 2. calcium: alpha x the peak-normalised double exponential exp(-t/tau_decay) - exp(-t/tau_rise)
//!    applied to the exact spike times and sampled at the frame times k/fs (sub-frame timing
//!    matters; no internal high-rate grid is needed, so the cost is O(frames + spikes));
//! 3. fluorescence: baseline + saturate(calcium) + drift, times the photobleaching factor;
//! 4. noise: optional Poisson shot noise, then additive Gaussian noise.
//!
//! Every cell draws its own parameters (log-normal around each nominal value with the matching
//! `_cv`) from a stream keyed by (seed, cell index), so cell i is identical however many cells
//! are simulated, and the same config gives bit-identical output on the same platform. The
//! recording starts at rest: no spikes before t = 0.
//!
//! Relies only on `rand`/`rand_pcg`/`rand_distr` (no OS randomness, no threads: builds for wasm32)
//! and `serde`; the JSON shape is fixed by `schemas/simulation-config.schema.json`.

mod cell;
mod config;
mod poisson;
mod presets;
mod spikes;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use config::{
    DriftModel, KernelConfig, MarkovConfig, NoiseConfig, PhotobleachingConfig, PoissonConfig,
    RandomWalkDrift, SaturationConfig, SimulationConfig, SinusoidalDrift, SpikeModel, MAX_HILL_N,
    MAX_KD, MAX_RATE_HZ, MAX_SEED, MAX_TOTAL_SAMPLES,
};
pub use presets::{preset, PRESET_NAMES};

use crate::error::Result;

/// Ground truth of one simulated cell: what a perfect deconvolution would recover, plus the
/// parameters this cell actually received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellGroundTruth {
    /// Spike counts per frame (spikes with k/fs <= t < (k+1)/fs go to frame k).
    pub spikes: Vec<f64>,
    /// Noise-free calcium in ΔF units: alpha x the peak-normalised kernel applied to the spike
    /// times, before saturation, drift, baseline and bleaching.
    pub clean_calcium: Vec<f64>,
    /// Peak ΔF of one isolated spike (fluorescence units).
    pub alpha: f64,
    /// Rise time constant (s).
    pub tau_rise: f64,
    /// Decay time constant (s).
    pub tau_decay: f64,
    /// Resting fluorescence F0 (fluorescence units).
    pub baseline: f64,
    /// Standard deviation of the additive Gaussian noise (fluorescence units; shot noise excluded).
    pub noise_std: f64,
    /// Expected firing rate (Hz): the Poisson rate, or the Markov chain's stationary mean rate.
    pub rate_hz: f64,
    /// Drift amplitude (random walk: stationary std; sinusoid: peak; 0 without drift).
    pub drift_amplitude: f64,
    /// Fraction of fluorescence lost to bleaching as t goes to infinity (0 when disabled).
    pub bleaching_amplitude: f64,
    /// Bleaching time constant (s); drawn even when bleaching is disabled.
    pub bleaching_tau_s: f64,
    /// Hill half-saturation level (single-spike amplitudes); drawn even when saturation is off.
    pub saturation_kd: f64,
}

/// A simulated recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationResult {
    /// Observed fluorescence, row-major `num_cells x num_timepoints`.
    pub traces: Vec<f64>,
    pub num_cells: usize,
    pub num_timepoints: usize,
    /// One entry per cell, in row order.
    pub ground_truth: Vec<CellGroundTruth>,
    /// The validated config that produced this result.
    pub config: SimulationConfig,
}

impl SimulationResult {
    /// The observed trace of one cell (`None` past the last cell).
    pub fn trace(&self, cell: usize) -> Option<&[f64]> {
        let t = self.num_timepoints;
        let start = cell.checked_mul(t)?;
        self.traces.get(start..start.checked_add(t)?)
    }
}

/// Simulate a recording. Validates the config first.
pub fn simulate(config: &SimulationConfig) -> Result<SimulationResult> {
    config.validate()?;
    let (n, t) = (config.num_cells, config.num_timepoints);
    // Three arrays of n x t (traces, spikes, clean calcium): fail up front, not half-way.
    let total = crate::alloc::checked_len(n, t, "the simulated recording")?;
    crate::alloc::probe(
        3 * crate::alloc::bytes_of::<f64>(total),
        "the simulated recording (traces, spikes and clean calcium)",
    )?;
    let mut traces = crate::alloc::try_vec(total, 0.0, "the simulated traces")?;
    let mut ground_truth = crate::alloc::try_with_capacity(n, "the ground truth")?;
    for (cell, row) in traces.chunks_exact_mut(t).enumerate() {
        let params = cell::CellParams::draw(config, cell);
        let mut spikes = crate::alloc::try_vec(t, 0.0, "the simulated spikes")?;
        let mut clean_calcium = crate::alloc::try_vec(t, 0.0, "the simulated calcium")?;
        cell::simulate_cell(config, cell, &params, row, &mut spikes, &mut clean_calcium);
        ground_truth.push(CellGroundTruth {
            spikes,
            clean_calcium,
            alpha: params.alpha,
            tau_rise: params.tau_rise,
            tau_decay: params.tau_decay,
            baseline: params.baseline,
            noise_std: params.noise_std,
            rate_hz: params.process.mean_rate() * config.fs,
            drift_amplitude: params.drift_amplitude,
            bleaching_amplitude: params.bleaching_amplitude,
            bleaching_tau_s: params.bleaching_tau_s,
            saturation_kd: params.saturation_kd,
        });
    }
    Ok(SimulationResult {
        traces,
        num_cells: n,
        num_timepoints: t,
        ground_truth,
        config: config.clone(),
    })
}

/// Parse a (possibly partial) JSON config, validate it and simulate. Bad JSON, wrong types and
/// unknown fields give `SolverError::InvalidState` with serde's message; out-of-range values give
/// `SolverError::InvalidParameter` naming the field.
pub fn simulate_json(config_json: &str) -> Result<SimulationResult> {
    simulate(&SimulationConfig::from_json(config_json)?)
}
