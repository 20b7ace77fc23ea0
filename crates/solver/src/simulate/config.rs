//! Simulator configuration: the JSON-facing structs, their defaults and their validation.
//!
//! The field names, defaults and bounds are defined by `schemas/simulation-config.schema.json` (the
//! one source, which Python's models also follow); a unit test checks these structs against it. Every struct takes `#[serde(default)]` (a partial
//! JSON object fills the rest from `Default`) and `deny_unknown_fields` (a typo is an error that names
//! the field). Error names are JSON paths such as `kernel.tau_rise`.
//!
//! Units: times in seconds, rates in Hz, amplitudes in the same arbitrary fluorescence units as
//! `baseline` (F0). Every `_cv` field is the coefficient of variation (std / mean) of a per-cell
//! log-normal draw around the nominal value next to it; 0 gives every cell the nominal value.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{require_finite, require_non_negative, require_positive, Result, SolverError};

/// Largest accepted `num_cells * num_timepoints`. The simulator returns three arrays of that many
/// f64 (traces, spikes, clean calcium), so this bounds memory at about 24 bytes per sample; the
/// 32-bit (wasm32) bound keeps the output inside a browser's 4 GiB address space.
#[cfg(target_pointer_width = "64")]
pub const MAX_TOTAL_SAMPLES: u64 = 1_000_000_000;
/// Largest accepted `num_cells * num_timepoints` (32-bit targets such as wasm32).
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_TOTAL_SAMPLES: u64 = 50_000_000;

/// Largest accepted firing rate (Hz) for any spike model; per-cell draws are clamped to it.
pub const MAX_RATE_HZ: f64 = 1000.0;

/// Largest accepted Hill half-saturation level (single-spike amplitudes); with [`MAX_HILL_N`] it
/// keeps kd^n finite.
pub const MAX_KD: f64 = 1e6;

/// Largest accepted Hill coefficient (indicators are around 1 to 4).
pub const MAX_HILL_N: f64 = 10.0;

/// Largest accepted seed: 2^53 - 1, the largest integer a JavaScript number holds exactly, so a seed
/// survives a round trip through the browser unchanged.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Complete configuration of one simulated recording.
///
/// The defaults are the `gcamp6f` preset: 20 cells, 300 s at 30 Hz, Poisson spikes at 1 Hz,
/// random-walk drift, Gaussian noise, no photobleaching, no saturation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulationConfig {
    /// Output frame rate (Hz).
    pub fs: f64,
    /// Number of cells (rows of the output).
    pub num_cells: usize,
    /// Number of frames per cell; the recording lasts `num_timepoints / fs` seconds.
    pub num_timepoints: usize,
    /// Seed of every random draw; the same seed and config give bit-identical output.
    /// At most 2^53 - 1 so that JavaScript callers can hold it exactly.
    pub seed: u64,
    /// Mean amplitude of a single-spike transient at its peak (ΔF, fluorescence units).
    pub alpha: f64,
    /// Per-cell coefficient of variation of `alpha`.
    pub alpha_cv: f64,
    /// Resting fluorescence F0 (fluorescence units).
    pub baseline: f64,
    /// Per-cell coefficient of variation of `baseline`.
    pub baseline_cv: f64,
    /// Calcium response kernel (time constants in seconds).
    pub kernel: KernelConfig,
    /// Spike generator, tagged by `model_type`.
    pub spike_model: SpikeModel,
    /// Measurement noise.
    pub noise: NoiseConfig,
    /// Slow baseline drift, tagged by `model_type`.
    pub drift: DriftModel,
    /// Exponential photobleaching.
    pub photobleaching: PhotobleachingConfig,
    /// Hill saturation of the indicator.
    pub saturation: SaturationConfig,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            fs: 30.0,
            num_cells: 20,
            num_timepoints: 9000,
            seed: 42,
            alpha: 0.2,
            alpha_cv: 0.2,
            baseline: 1.0,
            baseline_cv: 0.1,
            kernel: KernelConfig::default(),
            spike_model: SpikeModel::default(),
            noise: NoiseConfig::default(),
            drift: DriftModel::default(),
            photobleaching: PhotobleachingConfig::default(),
            saturation: SaturationConfig::default(),
        }
    }
}

/// Double-exponential kernel h(t) = exp(-t/tau_decay) - exp(-t/tau_rise), scaled to peak 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelConfig {
    /// Rise time constant (s); must be below `tau_decay`.
    pub tau_rise: f64,
    /// Decay time constant (s).
    pub tau_decay: f64,
    /// Per-cell coefficient of variation of `tau_rise`.
    pub tau_rise_cv: f64,
    /// Per-cell coefficient of variation of `tau_decay`.
    pub tau_decay_cv: f64,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            tau_rise: 0.02,
            tau_decay: 0.4,
            tau_rise_cv: 0.1,
            tau_decay_cv: 0.1,
        }
    }
}

/// Spike generator. JSON: an object whose `model_type` is `"poisson"` or `"markov"`; a missing
/// `model_type` means `"poisson"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "model_type", rename_all = "snake_case")]
pub enum SpikeModel {
    /// Homogeneous Poisson process.
    Poisson(PoissonConfig),
    /// Two-state (silent/active) Markov-modulated Poisson process: bursty firing.
    Markov(MarkovConfig),
}

impl Default for SpikeModel {
    fn default() -> Self {
        SpikeModel::Poisson(PoissonConfig::default())
    }
}

/// Homogeneous Poisson spiking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoissonConfig {
    /// Mean firing rate (Hz).
    pub rate_hz: f64,
    /// Per-cell coefficient of variation of `rate_hz`.
    pub rate_cv: f64,
}

impl Default for PoissonConfig {
    fn default() -> Self {
        PoissonConfig {
            rate_hz: 1.0,
            rate_cv: 0.5,
        }
    }
}

/// Two-state hidden Markov spiking, simulated in continuous time. The chain starts in its
/// stationary distribution; within a state spikes are Poisson at that state's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkovConfig {
    /// Probability that a silent cell turns active within one second, in [0, 1).
    /// The switching hazard is -ln(1 - p) per second (mean silent period 1 / hazard seconds).
    pub p_silent_to_active: f64,
    /// Probability that an active cell turns silent within one second, in [0, 1).
    pub p_active_to_silent: f64,
    /// Firing rate in the active state (Hz).
    pub active_rate_hz: f64,
    /// Firing rate in the silent state (Hz).
    pub silent_rate_hz: f64,
    /// Per-cell coefficient of variation of both rates (one common factor per cell).
    pub rate_cv: f64,
}

impl Default for MarkovConfig {
    fn default() -> Self {
        MarkovConfig {
            p_silent_to_active: 0.1,
            p_active_to_silent: 0.5,
            active_rate_hz: 10.0,
            silent_rate_hz: 0.2,
            rate_cv: 0.3,
        }
    }
}

/// Measurement noise: optional Poisson shot noise, then additive Gaussian noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Standard deviation of the additive Gaussian noise, absolute, in fluorescence units (the
    /// units of `alpha` and `baseline`; the per-spike SNR is `alpha / gaussian_std`).
    pub gaussian_std: f64,
    /// Per-cell coefficient of variation of `gaussian_std`.
    pub gaussian_std_cv: f64,
    /// Add Poisson shot noise: the noise-free fluorescence F becomes Poisson(F * photons_per_unit)
    /// / photons_per_unit (variance F / photons_per_unit, so brighter frames are noisier).
    pub shot_noise: bool,
    /// Detected photons per fluorescence unit per frame; only used when `shot_noise` is true.
    pub photons_per_unit: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            gaussian_std: 0.04,
            gaussian_std_cv: 0.2,
            shot_noise: false,
            photons_per_unit: 100.0,
        }
    }
}

/// Additive baseline drift. JSON: an object whose `model_type` is `"random_walk"`, `"sinusoidal"`
/// or `"none"`; a missing `model_type` means `"random_walk"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "model_type", rename_all = "snake_case")]
pub enum DriftModel {
    /// Mean-reverting Gaussian random walk (Ornstein–Uhlenbeck process).
    RandomWalk(RandomWalkDrift),
    /// Deterministic sinusoid, zero phase at t = 0.
    Sinusoidal(SinusoidalDrift),
    /// No drift.
    None,
}

impl Default for DriftModel {
    fn default() -> Self {
        DriftModel::RandomWalk(RandomWalkDrift::default())
    }
}

/// Ornstein–Uhlenbeck drift, started from its stationary distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomWalkDrift {
    /// Stationary standard deviation of the drift (fluorescence units).
    pub amplitude: f64,
    /// Mean-reversion time constant (s): the drift's autocorrelation is exp(-lag / tau_s).
    pub tau_s: f64,
    /// Per-cell coefficient of variation of `amplitude`.
    pub amplitude_cv: f64,
}

impl Default for RandomWalkDrift {
    fn default() -> Self {
        RandomWalkDrift {
            amplitude: 0.05,
            tau_s: 30.0,
            amplitude_cv: 0.0,
        }
    }
}

/// Sinusoidal drift `amplitude * sin(2 pi t / period_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinusoidalDrift {
    /// Peak deviation from the baseline (fluorescence units).
    pub amplitude: f64,
    /// Period (s).
    pub period_s: f64,
    /// Per-cell coefficient of variation of `amplitude`.
    pub amplitude_cv: f64,
}

impl Default for SinusoidalDrift {
    fn default() -> Self {
        SinusoidalDrift {
            amplitude: 0.05,
            period_s: 60.0,
            amplitude_cv: 0.0,
        }
    }
}

/// Photobleaching: the whole noise-free fluorescence is multiplied by
/// `1 - amplitude * (1 - exp(-t / tau_s))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotobleachingConfig {
    /// Apply photobleaching.
    pub enabled: bool,
    /// Fraction of the fluorescence lost as t goes to infinity, in [0, 1]. Per-cell draws are
    /// clamped to 1.
    pub amplitude: f64,
    /// Bleaching time constant (s).
    pub tau_s: f64,
    /// Per-cell coefficient of variation of `amplitude`.
    pub amplitude_cv: f64,
    /// Per-cell coefficient of variation of `tau_s`.
    pub tau_s_cv: f64,
}

impl Default for PhotobleachingConfig {
    fn default() -> Self {
        PhotobleachingConfig {
            enabled: false,
            amplitude: 0.2,
            tau_s: 200.0,
            amplitude_cv: 0.0,
            tau_s_cv: 0.0,
        }
    }
}

/// Hill saturation applied to the calcium signal c (ΔF units) before baseline, drift and noise:
/// with u = c / alpha (c in single-spike peaks), c_sat = alpha * (1 + kd^n) * u^n / (u^n + kd^n).
/// The factor (1 + kd^n) keeps a lone spike's peak at alpha; large u saturates at alpha (1 + kd^n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SaturationConfig {
    /// Apply saturation.
    pub enabled: bool,
    /// Half-saturation level, in single-spike peak amplitudes (unitless), at most 1e6.
    pub kd: f64,
    /// Hill coefficient (unitless), in (0, 10].
    pub n: f64,
    /// Per-cell coefficient of variation of `kd`.
    pub kd_cv: f64,
}

impl Default for SaturationConfig {
    fn default() -> Self {
        SaturationConfig {
            enabled: false,
            kd: 10.0,
            n: 1.0,
            kd_cv: 0.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tagged enums whose tag may be omitted. serde's derived internally-tagged enums demand the tag,
// which would make `{"drift": {"tau_s": 10}}` an error; here a missing tag picks the default model.

/// Split `model_type` off a JSON object, defaulting it when absent.
fn split_tag<'de, D: Deserializer<'de>>(
    deserializer: D,
    default_tag: &str,
    what: &str,
) -> std::result::Result<(String, Value), D::Error> {
    let mut map = Map::<String, Value>::deserialize(deserializer)?;
    let tag = match map.remove("model_type") {
        None => default_tag.to_string(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(D::Error::custom(format!(
                "{what}.model_type must be a string, got {other}"
            )))
        }
    };
    Ok((tag, Value::Object(map)))
}

impl<'de> Deserialize<'de> for SpikeModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let (tag, rest) = split_tag(deserializer, "poisson", "spike_model")?;
        let e = |e: serde_json::Error| D::Error::custom(format!("spike_model: {e}"));
        match tag.as_str() {
            "poisson" => serde_json::from_value(rest)
                .map(SpikeModel::Poisson)
                .map_err(e),
            "markov" => serde_json::from_value(rest)
                .map(SpikeModel::Markov)
                .map_err(e),
            other => Err(D::Error::custom(format!(
                "unknown spike_model.model_type `{other}`; expected one of: poisson, markov"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for DriftModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let (tag, rest) = split_tag(deserializer, "random_walk", "drift")?;
        let e = |e: serde_json::Error| D::Error::custom(format!("drift: {e}"));
        match tag.as_str() {
            "random_walk" => serde_json::from_value(rest)
                .map(DriftModel::RandomWalk)
                .map_err(e),
            "sinusoidal" => serde_json::from_value(rest)
                .map(DriftModel::Sinusoidal)
                .map_err(e),
            "none" => match rest.as_object().and_then(|m| m.keys().next()) {
                None => Ok(DriftModel::None),
                Some(key) => Err(D::Error::custom(format!(
                    "drift: unknown field `{key}`; model_type `none` takes no fields"
                ))),
            },
            other => Err(D::Error::custom(format!(
                "unknown drift.model_type `{other}`; expected one of: random_walk, sinusoidal, none"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

fn rate(name: &'static str, v: f64) -> Result<()> {
    require_non_negative(name, v)?;
    if v <= MAX_RATE_HZ {
        Ok(())
    } else {
        Err(SolverError::param(
            name,
            v,
            format!("must be <= {MAX_RATE_HZ} Hz"),
        ))
    }
}

fn probability_per_second(name: &'static str, v: f64) -> Result<()> {
    require_finite(name, v)?;
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(SolverError::param(
            name,
            v,
            "must be in [0, 1) (probability of switching within one second)",
        ))
    }
}

impl SimulationConfig {
    /// Check every field's range; the error names the offending field by its JSON path.
    pub fn validate(&self) -> Result<()> {
        require_positive("fs", self.fs)?;
        if self.num_cells < 1 {
            return Err(SolverError::param("num_cells", 0.0, "must be >= 1"));
        }
        if self.num_timepoints < 1 {
            return Err(SolverError::param("num_timepoints", 0.0, "must be >= 1"));
        }
        let total = (self.num_cells as u128) * (self.num_timepoints as u128);
        if total > MAX_TOTAL_SAMPLES as u128 {
            return Err(SolverError::param(
                "num_cells * num_timepoints",
                total as f64,
                format!(
                    "must be <= {MAX_TOTAL_SAMPLES} samples (simulate fewer cells or frames, or in chunks of cells)"
                ),
            ));
        }
        if self.seed > MAX_SEED {
            return Err(SolverError::param(
                "seed",
                self.seed as f64,
                format!("must be <= {MAX_SEED} (2^53 - 1, exact in JavaScript)"),
            ));
        }
        require_positive("alpha", self.alpha)?;
        require_non_negative("alpha_cv", self.alpha_cv)?;
        require_non_negative("baseline", self.baseline)?;
        require_non_negative("baseline_cv", self.baseline_cv)?;

        let k = &self.kernel;
        require_positive("kernel.tau_rise", k.tau_rise)?;
        require_positive("kernel.tau_decay", k.tau_decay)?;
        if k.tau_rise >= k.tau_decay {
            return Err(SolverError::param(
                "kernel.tau_rise",
                k.tau_rise,
                format!("must be < kernel.tau_decay = {}", k.tau_decay),
            ));
        }
        require_non_negative("kernel.tau_rise_cv", k.tau_rise_cv)?;
        require_non_negative("kernel.tau_decay_cv", k.tau_decay_cv)?;

        match &self.spike_model {
            SpikeModel::Poisson(p) => {
                rate("spike_model.rate_hz", p.rate_hz)?;
                require_non_negative("spike_model.rate_cv", p.rate_cv)?;
            }
            SpikeModel::Markov(m) => {
                probability_per_second("spike_model.p_silent_to_active", m.p_silent_to_active)?;
                probability_per_second("spike_model.p_active_to_silent", m.p_active_to_silent)?;
                rate("spike_model.active_rate_hz", m.active_rate_hz)?;
                rate("spike_model.silent_rate_hz", m.silent_rate_hz)?;
                require_non_negative("spike_model.rate_cv", m.rate_cv)?;
            }
        }

        let n = &self.noise;
        require_non_negative("noise.gaussian_std", n.gaussian_std)?;
        require_non_negative("noise.gaussian_std_cv", n.gaussian_std_cv)?;
        require_positive("noise.photons_per_unit", n.photons_per_unit)?;

        match &self.drift {
            DriftModel::RandomWalk(d) => {
                require_non_negative("drift.amplitude", d.amplitude)?;
                require_positive("drift.tau_s", d.tau_s)?;
                require_non_negative("drift.amplitude_cv", d.amplitude_cv)?;
            }
            DriftModel::Sinusoidal(d) => {
                require_non_negative("drift.amplitude", d.amplitude)?;
                require_positive("drift.period_s", d.period_s)?;
                require_non_negative("drift.amplitude_cv", d.amplitude_cv)?;
            }
            DriftModel::None => {}
        }

        let b = &self.photobleaching;
        require_non_negative("photobleaching.amplitude", b.amplitude)?;
        if b.amplitude > 1.0 {
            return Err(SolverError::param(
                "photobleaching.amplitude",
                b.amplitude,
                "must be <= 1 (fraction of fluorescence lost)",
            ));
        }
        require_positive("photobleaching.tau_s", b.tau_s)?;
        require_non_negative("photobleaching.amplitude_cv", b.amplitude_cv)?;
        require_non_negative("photobleaching.tau_s_cv", b.tau_s_cv)?;

        let s = &self.saturation;
        require_positive("saturation.kd", s.kd)?;
        if s.kd > MAX_KD {
            return Err(SolverError::param(
                "saturation.kd",
                s.kd,
                format!("must be <= {MAX_KD} single-spike amplitudes"),
            ));
        }
        require_positive("saturation.n", s.n)?;
        if s.n > MAX_HILL_N {
            return Err(SolverError::param(
                "saturation.n",
                s.n,
                format!("must be <= {MAX_HILL_N}"),
            ));
        }
        require_non_negative("saturation.kd_cv", s.kd_cv)?;
        Ok(())
    }

    /// Parse a (possibly partial) JSON config and validate it. Malformed JSON, wrong types and
    /// unknown fields give [`SolverError::InvalidState`] with serde's message.
    pub fn from_json(config_json: &str) -> Result<Self> {
        let config: SimulationConfig = serde_json::from_str(config_json)
            .map_err(|e| SolverError::InvalidState(format!("simulation config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The full config as JSON (every field present, the form the schema describes).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| SolverError::InvalidState(format!("simulation config: {e}")))
    }
}
