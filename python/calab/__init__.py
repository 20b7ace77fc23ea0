"""CaLab: deconvolve calcium-imaging fluorescence into neural activity.

The numerics run in a Rust core (``calab._solver``), the same code the CaTune and CaDecon
browser apps run as WebAssembly.
"""

from __future__ import annotations

from ._compute import (
    DeconvolutionResult,
    bandpass_filter,
    build_kernel,
    compute_lipschitz,
    estimate_drift,
    filter_cutoffs,
    kernel_shape,
    run_deconvolution,
    run_deconvolution_full,
    tau_to_ar2,
)
from ._errors import (
    InvalidInputError,
    InvalidParameterError,
    InvalidStateError,
    NonFiniteInputError,
    NotReadyError,
    ShapeMismatchError,
    SolverError,
    TraceTooShortError,
    UnknownOptionError,
    ValueOutOfRangeError,
)
from ._solver import __version__ as _core_version
from .simulation import (
    CellGroundTruth,
    DriftModel,
    KernelConfig,
    MarkovConfig,
    NoDrift,
    NoiseConfig,
    PhotobleachingConfig,
    PoissonConfig,
    RandomWalkDrift,
    SaturationConfig,
    SimulationConfig,
    SimulationResult,
    SinusoidalDrift,
    SpikeModel,
    presets,
    simulate,
)

__version__ = _core_version

__all__ = [
    "CellGroundTruth",
    "DeconvolutionResult",
    "DriftModel",
    "InvalidInputError",
    "InvalidParameterError",
    "InvalidStateError",
    "KernelConfig",
    "MarkovConfig",
    "NoDrift",
    "NoiseConfig",
    "NonFiniteInputError",
    "NotReadyError",
    "PhotobleachingConfig",
    "PoissonConfig",
    "RandomWalkDrift",
    "SaturationConfig",
    "ShapeMismatchError",
    "SimulationConfig",
    "SimulationResult",
    "SinusoidalDrift",
    "SolverError",
    "SpikeModel",
    "TraceTooShortError",
    "UnknownOptionError",
    "ValueOutOfRangeError",
    "__version__",
    "bandpass_filter",
    "build_kernel",
    "compute_lipschitz",
    "estimate_drift",
    "filter_cutoffs",
    "kernel_shape",
    "presets",
    "run_deconvolution",
    "run_deconvolution_full",
    "simulate",
    "tau_to_ar2",
]
