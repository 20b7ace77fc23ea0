# Type stubs for the native extension built from crates/solver (feature "python").
# Keep in step with crates/solver/src/bindings/python.rs: `make lint` runs mypy.stubtest, which
# fails when a name, a parameter or a class's shape here differs from the compiled module.
from collections.abc import Callable
from typing import Any, final

import numpy as np
from numpy.typing import NDArray
from typing_extensions import Self  # a stub is never imported: no runtime dependency

__all__ = [
    "ERROR_CODES",
    "IndecaRun",
    "KERNEL_TAIL_TOL",
    "PRESET_NAMES",
    "__version__",
    "_test_panic",
    "bandpass_filter",
    "build_kernel",
    "compute_lipschitz",
    "convar_batch",
    "convar_defaults",
    "convar_lambda_search",
    "deconvolve_batch",
    "default_config_json",
    "estimate_drift",
    "estimate_kinetics_json",
    "estimate_noise_batch",
    "fill_non_finite",
    "filter_cutoffs",
    "frame_centre_shift",
    "indeca_compute_upsample_factor",
    "indeca_default_config_json",
    "indeca_estimate_kernel",
    "indeca_fit_biexponential",
    "indeca_seed_kernel_from_peaks",
    "indeca_solve_trace",
    "kernel_shape",
    "l0_batch",
    "l0_gamma_from_tau",
    "l0_lambda_for_rate",
    "preset_json",
    "rolling_quantile_batch",
    "simulate_json",
    "tau_to_ar2",
]

__version__: str
ERROR_CODES: list[str]
PRESET_NAMES: list[str]
KERNEL_TAIL_TOL: float

def _test_panic(place: str) -> None: ...
def fill_non_finite(
    traces: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.uint64]]: ...
def build_kernel(tau_rise: float, tau_decay: float, fs: float) -> NDArray[np.float64]: ...
def compute_lipschitz(kernel: NDArray[np.float64]) -> float: ...
def tau_to_ar2(
    tau_rise: float, tau_decay: float, fs: float
) -> tuple[float, float, float, float, float, float]: ...
def kernel_shape(tau_rise: float, tau_decay: float, fs: float) -> tuple[float, float]: ...
def bandpass_filter(
    trace: NDArray[np.float64], tau_rise: float, tau_decay: float, fs: float
) -> NDArray[np.float64]: ...
def filter_cutoffs(tau_rise: float, tau_decay: float, fs: float) -> tuple[float, float]: ...
def frame_centre_shift(tau_rise: float, tau_decay: float, fs: float) -> float: ...
def estimate_drift(
    trace: NDArray[np.float64], tau_decay: float, fs: float
) -> NDArray[np.float64]: ...
def estimate_noise_batch(
    traces: NDArray[np.float64],
) -> tuple[NDArray[np.float64], list[tuple[int, str, str] | None]]: ...
def deconvolve_batch(
    traces: NDArray[np.float64],
    tau_rise: float,
    tau_decay: float,
    lam: float | None,
    fs: float,
    max_iters: int,
    conv_mode: str,
    constraint: str,
    method: str,
    bandpass: bool,
    remove_drift: bool,
    centre_on_frames: bool,
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.uint32],
    NDArray[np.bool_],
    NDArray[np.float64],
    list[tuple[int, str, str] | None],
]: ...
def simulate_json(config_json: str) -> tuple[NDArray[np.float64], list[dict[str, Any]], str]: ...
def preset_json(name: str) -> str: ...
def default_config_json() -> str: ...
def l0_gamma_from_tau(tau_decay: float, fs: float) -> float: ...
def l0_batch(
    traces: NDArray[np.float64], gamma: float, lam: float, positive: bool
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.uint64],
    list[tuple[int, str, str] | None],
]: ...
def l0_lambda_for_rate(
    trace: NDArray[np.float64], gamma: float, fs: float, target_rate_hz: float, positive: bool
) -> tuple[float, float, int, int]: ...
def convar_defaults() -> dict[str, Any]: ...
def convar_batch(
    traces: NDArray[np.float64],
    gamma: float,
    lam: float | None,
    grid: list[float],
    search: str,
    max_iters: int,
    tol: float,
    init: str,
    smooth_window: int,
    early_stop: bool,
    chunk_size: int | None,
    overlap: int | None,
    blend: int | None,
    method: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.uint32],
    NDArray[np.bool_],
    NDArray[np.float64],
    list[tuple[int, str, str] | None],
]: ...
def convar_lambda_search(
    trace: NDArray[np.float64],
    gamma: float,
    grid: list[float],
    search: str,
    max_iters: int,
    tol: float,
    init: str,
    smooth_window: int,
    early_stop: bool,
    method: str,
) -> tuple[float, float, list[tuple[float, float]], int]: ...

# --- InDeCa outer loop (calab.cadecon) ---
@final
class IndecaRun:
    def __new__(cls, traces: NDArray[np.float32], fs: float, config_json: str) -> Self: ...
    def step(self) -> str: ...
    def is_converged(self) -> bool: ...
    def is_done(self) -> bool: ...
    def iteration(self) -> int: ...
    def final_pass(self, cell_start: int, cell_end: int) -> None: ...
    def result_json(self) -> str: ...
    def activity(self) -> NDArray[np.float32]: ...
    def cell_trace(self, cell: int) -> NDArray[np.float32]: ...
    def cell_fit(self, cell: int) -> NDArray[np.float32]: ...

def indeca_default_config_json() -> str: ...

# --- InDeCa per-trace and kernel stages ---
def indeca_compute_upsample_factor(fs: float, target_fs: float) -> int: ...
def indeca_solve_trace(
    trace: NDArray[np.float32],
    tau_rise: float,
    tau_decay: float,
    fs: float,
    upsample_factor: int,
    max_iters: int,
    tol: float,
    hp_enabled: bool,
    lp_enabled: bool,
    lambda_: float,
    warm_counts: NDArray[np.float32] | None = None,
    noise_constrained: bool = False,
) -> tuple[NDArray[np.float32], float, float, float, float, int, bool]: ...
def indeca_estimate_kernel(
    traces_flat: NDArray[np.float32],
    spikes_flat: NDArray[np.float32],
    trace_lengths: list[int],
    alphas: NDArray[np.float64],
    baselines: NDArray[np.float64],
    kernel_length: int,
    max_iters: int,
    tol: float,
    smooth_lambda: float,
    warm_kernel: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]: ...
def indeca_fit_biexponential(
    h_free: NDArray[np.float32], fs: float, refine: bool, skip: int, warm_json: str | None = None
) -> str: ...
def indeca_seed_kernel_from_peaks(
    traces_flat: NDArray[np.float32], trace_lengths: list[int], fs: float
) -> tuple[float, float, int]: ...
def rolling_quantile_batch(
    traces: NDArray[np.float64], window: int, quantile: float
) -> tuple[NDArray[np.float64], list[tuple[int, str, str] | None]]: ...
def estimate_kinetics_json(traces: NDArray[np.float64], fs: float, config_json: str) -> str: ...
