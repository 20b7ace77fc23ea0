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
    BridgeError,
    BrowserUnavailableError,
    FileFormatError,
    InvalidInputError,
    InvalidParameterError,
    InvalidStateError,
    NonFiniteInputError,
    NotReadyError,
    ShapeMismatchError,
    SolverError,
    TraceTooShortError,
    UnknownOptionError,
    UnsupportedVersionError,
    ValueOutOfRangeError,
)
from ._headless import HeadlessBrowser
from ._solver import __version__ as _core_version
from .bridge import tune
from .io import (
    build_export,
    deconvolve_from_export,
    load_export_params,
    load_tuning_data,
    save_for_tuning,
)
from .l0 import L0Result, gamma_from_tau, l0_lambda_for_rate, run_l0
from .loaders import load_caiman, load_minian, load_nwb, load_suite2p
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
    "BridgeError",
    "BrowserUnavailableError",
    "CellGroundTruth",
    "DeconvolutionResult",
    "DriftModel",
    "FileFormatError",
    "HeadlessBrowser",
    "InvalidInputError",
    "InvalidParameterError",
    "InvalidStateError",
    "KernelConfig",
    "L0Result",
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
    "UnsupportedVersionError",
    "ValueOutOfRangeError",
    "__version__",
    "bandpass_filter",
    "build_export",
    "build_kernel",
    "compute_lipschitz",
    "deconvolve_from_export",
    "estimate_drift",
    "filter_cutoffs",
    "gamma_from_tau",
    "kernel_shape",
    "l0_lambda_for_rate",
    "load_caiman",
    "load_export_params",
    "load_minian",
    "load_nwb",
    "load_suite2p",
    "load_tuning_data",
    "presets",
    "run_deconvolution",
    "run_deconvolution_full",
    "run_l0",
    "save_for_tuning",
    "simulate",
    "tau_to_ar2",
    "tune",
]
