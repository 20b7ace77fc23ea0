"""Synthetic calcium recordings with ground truth, simulated by the Rust core.

The typed config models below follow ``schemas/simulation-config.schema.json``, the one source
of the simulator's settings: the tests check the models' fields and defaults, and Rust's
defaults (read here from the core at import time), equal the schema's, and that the core refuses
every value outside a bound the schema states (tests/python/test_simulation.py,
test_config_schemas.py).
"""

from __future__ import annotations

import json
from typing import Any, Literal, Union

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _solver
from ._errors import from_code

_DEFAULT: dict[str, Any] = json.loads(_solver.default_config_json())
_DRIFT_DEFAULTS = {
    "random_walk": {"amplitude": 0.05, "tau_s": 30.0, "amplitude_cv": 0.0},
    "sinusoidal": {"amplitude": 0.05, "period_s": 60.0, "amplitude_cv": 0.0},
}


def _d(*path: str) -> Any:
    node: Any = _DEFAULT
    for key in path:
        node = node[key]
    return node


class _Strict(BaseModel):
    # NaN/inf cannot cross to the core as JSON, so they are refused here, naming the field.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class KernelConfig(_Strict):
    """Double-exponential kernel h(t) = exp(-t/tau_decay) - exp(-t/tau_rise); seconds."""

    tau_rise: float = _d("kernel", "tau_rise")
    tau_decay: float = _d("kernel", "tau_decay")
    tau_rise_cv: float = _d("kernel", "tau_rise_cv")
    tau_decay_cv: float = _d("kernel", "tau_decay_cv")


class PoissonConfig(_Strict):
    """Homogeneous Poisson spikes at ``rate_hz`` (per-cell log-normal spread ``rate_cv``)."""

    model_type: Literal["poisson"] = "poisson"
    rate_hz: float = 1.0
    rate_cv: float = 0.5


class MarkovConfig(_Strict):
    """Two-state (silent/active) bursty spiking; transition probabilities per second."""

    model_type: Literal["markov"] = "markov"
    p_silent_to_active: float = 0.1
    p_active_to_silent: float = 0.5
    active_rate_hz: float = 10.0
    silent_rate_hz: float = 0.2
    rate_cv: float = 0.3


class NoiseConfig(_Strict):
    """Additive Gaussian noise (std in fluorescence units) and optional Poisson shot noise."""

    gaussian_std: float = _d("noise", "gaussian_std")
    gaussian_std_cv: float = _d("noise", "gaussian_std_cv")
    shot_noise: bool = _d("noise", "shot_noise")
    photons_per_unit: float = _d("noise", "photons_per_unit")


class RandomWalkDrift(_Strict):
    """Mean-reverting (Ornstein-Uhlenbeck) baseline drift; ``amplitude`` is its stationary std."""

    model_type: Literal["random_walk"] = "random_walk"
    amplitude: float = _DRIFT_DEFAULTS["random_walk"]["amplitude"]
    tau_s: float = _DRIFT_DEFAULTS["random_walk"]["tau_s"]
    amplitude_cv: float = _DRIFT_DEFAULTS["random_walk"]["amplitude_cv"]


class SinusoidalDrift(_Strict):
    """Deterministic sinusoidal baseline drift (peak ``amplitude``, ``period_s`` seconds)."""

    model_type: Literal["sinusoidal"] = "sinusoidal"
    amplitude: float = _DRIFT_DEFAULTS["sinusoidal"]["amplitude"]
    period_s: float = _DRIFT_DEFAULTS["sinusoidal"]["period_s"]
    amplitude_cv: float = _DRIFT_DEFAULTS["sinusoidal"]["amplitude_cv"]


class NoDrift(_Strict):
    model_type: Literal["none"] = "none"


class PhotobleachingConfig(_Strict):
    """F(t) *= 1 - amplitude * (1 - exp(-t / tau_s))."""

    enabled: bool = _d("photobleaching", "enabled")
    amplitude: float = _d("photobleaching", "amplitude")
    tau_s: float = _d("photobleaching", "tau_s")
    amplitude_cv: float = _d("photobleaching", "amplitude_cv")
    tau_s_cv: float = _d("photobleaching", "tau_s_cv")


class SaturationConfig(_Strict):
    """Hill saturation F_sat = F^n / (F^n + Kd^n) of the calcium signal."""

    enabled: bool = _d("saturation", "enabled")
    kd: float = _d("saturation", "kd")
    n: float = _d("saturation", "n")
    kd_cv: float = _d("saturation", "kd_cv")


SpikeModel = Union[PoissonConfig, MarkovConfig]
DriftModel = Union[RandomWalkDrift, SinusoidalDrift, NoDrift]


class SimulationConfig(_Strict):
    """Complete simulator configuration (fs in Hz, times in seconds, amplitudes in F units)."""

    fs: float = _d("fs")
    num_cells: int = _d("num_cells")
    num_timepoints: int = _d("num_timepoints")
    seed: int = Field(default=_d("seed"), ge=0, le=2**53 - 1)
    alpha: float = _d("alpha")
    alpha_cv: float = _d("alpha_cv")
    baseline: float = _d("baseline")
    baseline_cv: float = _d("baseline_cv")
    kernel: KernelConfig = Field(default_factory=KernelConfig)
    spike_model: SpikeModel = Field(default_factory=PoissonConfig, discriminator="model_type")
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    drift: DriftModel = Field(default_factory=RandomWalkDrift, discriminator="model_type")
    photobleaching: PhotobleachingConfig = Field(default_factory=PhotobleachingConfig)
    saturation: SaturationConfig = Field(default_factory=SaturationConfig)


class CellGroundTruth(BaseModel):
    """Ground truth of one simulated cell (arrays at the output rate fs)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: Spike counts per frame.
    spikes: NDArray[np.float64]
    #: Noise-free calcium in fluorescence units (alpha x kernel applied to the spike times).
    clean_calcium: NDArray[np.float64]
    alpha: float
    tau_rise: float
    tau_decay: float
    baseline: float
    noise_std: float
    rate_hz: float
    drift_amplitude: float
    bleaching_amplitude: float
    bleaching_tau_s: float
    saturation_kd: float


class SimulationResult(BaseModel):
    """Observed traces ``(num_cells, num_timepoints)`` and per-cell ground truth."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    traces: NDArray[np.float64]
    ground_truth: list[CellGroundTruth]
    config: SimulationConfig

    @property
    def spikes(self) -> NDArray[np.float64]:
        """All ground-truth spike counts stacked, ``(num_cells, num_timepoints)``."""
        return np.stack([g.spikes for g in self.ground_truth])


def _merge(config: SimulationConfig, overrides: dict[str, Any]) -> SimulationConfig:
    data = config.model_dump()
    for key, value in overrides.items():
        if key not in SimulationConfig.model_fields:
            known = ", ".join(SimulationConfig.model_fields)
            raise from_code("UNKNOWN_OPTION", f"unknown simulation field `{key}`; known: {known}")
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            kind = value.get("model_type")
            if kind is not None and kind != data[key].get("model_type"):
                data[key] = value  # switching model type: start from that model's defaults
            else:
                data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        return SimulationConfig.model_validate(data)
    except ValidationError as exc:
        raise _as_parameter_error(exc) from None


def _as_parameter_error(exc: ValidationError) -> Exception:
    """A pydantic error as calab's InvalidParameterError, naming every offending field."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
        for err in exc.errors()
    ]
    return from_code("INVALID_PARAMETER", "invalid simulation config: " + "; ".join(parts))


def simulate(config: SimulationConfig | None = None, **overrides: object) -> SimulationResult:
    """Simulate calcium traces with full ground truth.

    Parameters
    ----------
    config : SimulationConfig, optional
        Full configuration (e.g. from :class:`presets`); the defaults when omitted.
    **overrides
        Fields to replace, e.g. ``num_cells=50, seed=1``; nested sections merge, so
        ``kernel={"tau_decay": 1.0}`` keeps the other kernel fields.

    Examples
    --------
    >>> import calab
    >>> sim = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=300, seed=1))
    >>> sim.traces.shape
    (3, 300)
    """
    cfg = _merge(config or SimulationConfig(), dict(overrides))
    traces, truth, effective = _solver.simulate_json(cfg.model_dump_json())
    return SimulationResult(
        traces=traces,
        ground_truth=[CellGroundTruth(**t) for t in truth],
        config=SimulationConfig.model_validate_json(effective),
    )


def _preset(name: str, overrides: dict[str, Any]) -> SimulationConfig:
    return _merge(SimulationConfig.model_validate_json(_solver.preset_json(name)), overrides)


class presets:  # noqa: N801 - public name kept for compatibility with existing calab code
    """Built-in indicator presets; each returns a :class:`SimulationConfig`."""

    @staticmethod
    def gcamp6f(**overrides: object) -> SimulationConfig:
        """GCaMP6f kinetics (Chen et al., 2013)."""
        return _preset("gcamp6f", overrides)

    @staticmethod
    def gcamp6m(**overrides: object) -> SimulationConfig:
        """GCaMP6m kinetics (Chen et al., 2013)."""
        return _preset("gcamp6m", overrides)

    @staticmethod
    def gcamp6s(**overrides: object) -> SimulationConfig:
        """GCaMP6s: slow, high SNR (Chen et al., 2013)."""
        return _preset("gcamp6s", overrides)

    @staticmethod
    def jgcamp8f(**overrides: object) -> SimulationConfig:
        """jGCaMP8f: fast and noisier (Zhang et al., 2023)."""
        return _preset("jgcamp8f", overrides)

    @staticmethod
    def ogb1(**overrides: object) -> SimulationConfig:
        """OGB-1 synthetic dye (Stosiek et al., 2003)."""
        return _preset("ogb1", overrides)

    @staticmethod
    def clean(**overrides: object) -> SimulationConfig:
        """Near-ideal traces: minimal noise, no drift, for debugging algorithms."""
        return _preset("clean", overrides)
