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
    estimate_noise,
    filter_cutoffs,
    frame_centre_shift,
    kernel_shape,
    run_deconvolution,
    run_deconvolution_full,
    tau_to_ar2,
)
from ._dff import caiman_dff_inputs, dff, running_percentile
from ._errors import (
    BridgeError,
    BrowserUnavailableError,
    FileFormatError,
    InvalidInputError,
    InvalidParameterError,
    InvalidStateError,
    NonFiniteInputError,
    NotReadyError,
    NumericalFailureError,
    ShapeMismatchError,
    SolverError,
    TraceTooShortError,
    UnknownOptionError,
    UnsupportedVersionError,
    ValueOutOfRangeError,
)
from ._headless import HeadlessBrowser
from ._nwb import save_nwb
from ._result import ActivityResult
from ._solver import __version__ as _core_version
from .bridge import TuneResult, decon, tune
from .cadecon import CaDeconResult, DeconConfig, run_indeca
from .convar import ConvarLambdaSearch, ConvarResult, convar_lambda_search, run_convar
from .indeca import (
    BiexpFitResult,
    SolveTraceResult,
    compute_upsample_factor,
    estimate_kernel,
    fit_biexponential,
    solve_trace,
)
from .io import (
    build_export,
    deconvolve_from_export,
    load_export_params,
    load_tuning_data,
    save_for_tuning,
)
from .kinetics import KineticsEstimate, KineticsWarning, estimate_kinetics
from .l0 import L0Result, gamma_from_tau, l0_lambda_for_rate, run_l0
from .loaders import load_caiman, load_minian, load_nwb, load_suite2p
from .scale import MovieResult, deconvolve_movie
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
    "ActivityResult",
    "BiexpFitResult",
    "BridgeError",
    "BrowserUnavailableError",
    "CaDeconResult",
    "CellGroundTruth",
    "ConvarLambdaSearch",
    "ConvarResult",
    "DeconConfig",
    "DeconvolutionResult",
    "DriftModel",
    "FileFormatError",
    "HeadlessBrowser",
    "InvalidInputError",
    "InvalidParameterError",
    "InvalidStateError",
    "KernelConfig",
    "KineticsEstimate",
    "KineticsWarning",
    "L0Result",
    "MarkovConfig",
    "MovieResult",
    "NoDrift",
    "NoiseConfig",
    "NonFiniteInputError",
    "NotReadyError",
    "NumericalFailureError",
    "PhotobleachingConfig",
    "PoissonConfig",
    "RandomWalkDrift",
    "SaturationConfig",
    "ShapeMismatchError",
    "SimulationConfig",
    "SimulationResult",
    "SinusoidalDrift",
    "SolveTraceResult",
    "SolverError",
    "SpikeModel",
    "TraceTooShortError",
    "TuneResult",
    "UnknownOptionError",
    "UnsupportedVersionError",
    "ValueOutOfRangeError",
    "__version__",
    "bandpass_filter",
    "build_export",
    "build_kernel",
    "caiman_dff_inputs",
    "compute_lipschitz",
    "compute_upsample_factor",
    "convar_lambda_search",
    "decon",
    "deconvolve_from_export",
    "deconvolve_movie",
    "dff",
    "estimate_drift",
    "estimate_noise",
    "estimate_kernel",
    "estimate_kinetics",
    "filter_cutoffs",
    "frame_centre_shift",
    "fit_biexponential",
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
    "run_convar",
    "run_indeca",
    "run_l0",
    "running_percentile",
    "save_for_tuning",
    "save_nwb",
    "simulate",
    "solve_trace",
    "tau_to_ar2",
    "tune",
]
