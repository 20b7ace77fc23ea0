//! Indicator presets: a full [`SimulationConfig`] per calcium indicator.
//!
//! Time constants are the double-exponential values commonly used to deconvolve each indicator
//! at 30 Hz (rounded; they describe multi-spike transients and are slower than single-AP
//! half-decay times). Amplitudes are ΔF/F per spike with F0 = 1, and `gaussian_std` sets the
//! per-spike SNR (`alpha / gaussian_std`). Everything not listed comes from the defaults.
//!
//! | preset   | tau_rise (s) | tau_decay (s) | alpha | gaussian_std | SNR  | source                  |
//! |----------|--------------|---------------|-------|--------------|------|-------------------------|
//! | gcamp6f  | 0.02         | 0.4           | 0.20  | 0.04         | 5    | Chen et al. 2013        |
//! | gcamp6m  | 0.05         | 0.9           | 0.25  | 0.04         | 6.25 | Chen et al. 2013        |
//! | gcamp6s  | 0.10         | 1.6           | 0.35  | 0.035        | 10   | Chen et al. 2013        |
//! | jgcamp8f | 0.01         | 0.15          | 0.30  | 0.08         | 3.75 | Zhang et al. 2023       |
//! | ogb1     | 0.01         | 0.8           | 0.08  | 0.02         | 4    | Stosiek et al. 2003     |
//! | clean    | 0.02         | 0.4           | 1.0   | 0.001        | 1000 | debugging (see below)   |
//!
//! `clean` also sets every cv except the firing-rate cv to 0 and turns drift off.

use super::config::{DriftModel, KernelConfig, NoiseConfig, SimulationConfig};
use crate::error::{Result, SolverError};

/// Names accepted by [`preset`], in a stable order.
pub const PRESET_NAMES: &[&str] = &["gcamp6f", "gcamp6m", "gcamp6s", "jgcamp8f", "ogb1", "clean"];

/// `PRESET_NAMES` joined for error messages (a test keeps the two equal).
pub(crate) const PRESET_LIST: &str = "gcamp6f, gcamp6m, gcamp6s, jgcamp8f, ogb1, clean";

fn indicator(tau_rise: f64, tau_decay: f64, alpha: f64, gaussian_std: f64) -> SimulationConfig {
    let base = SimulationConfig::default();
    SimulationConfig {
        alpha,
        kernel: KernelConfig {
            tau_rise,
            tau_decay,
            ..base.kernel.clone()
        },
        noise: NoiseConfig {
            gaussian_std,
            ..base.noise.clone()
        },
        ..base
    }
}

/// The config of a named preset (case-insensitive); see the module table for the values.
/// The `gcamp6f` preset equals `SimulationConfig::default()`.
pub fn preset(name: &str) -> Result<SimulationConfig> {
    let config = match name.trim().to_ascii_lowercase().as_str() {
        "gcamp6f" => indicator(0.02, 0.4, 0.2, 0.04),
        "gcamp6m" => indicator(0.05, 0.9, 0.25, 0.04),
        "gcamp6s" => indicator(0.1, 1.6, 0.35, 0.035),
        "jgcamp8f" => indicator(0.01, 0.15, 0.3, 0.08),
        "ogb1" => indicator(0.01, 0.8, 0.08, 0.02),
        "clean" => {
            // Near-ideal traces for algorithm debugging: identical cells, almost no noise, no
            // drift; photobleaching and saturation are already off by default.
            let mut c = indicator(0.02, 0.4, 1.0, 0.001);
            c.alpha_cv = 0.0;
            c.baseline_cv = 0.0;
            c.kernel.tau_rise_cv = 0.0;
            c.kernel.tau_decay_cv = 0.0;
            c.noise.gaussian_std_cv = 0.0;
            c.drift = DriftModel::None;
            c
        }
        _ => {
            return Err(SolverError::UnknownOption {
                kind: "simulation preset",
                value: name.to_string(),
                expected: PRESET_LIST,
            })
        }
    };
    Ok(config)
}
