# Type stubs for the native extension built from crates/solver (feature "python").
# Keep in step with crates/solver/src/bindings/python.rs.
from typing import Any

import numpy as np
from numpy.typing import NDArray

__version__: str
ERROR_CODES: list[str]
PRESET_NAMES: list[str]
KERNEL_TAIL_TOL: float

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
def estimate_drift(
    trace: NDArray[np.float64], tau_decay: float, fs: float
) -> NDArray[np.float64]: ...
def deconvolve_batch(
    traces: NDArray[np.float64],
    tau_rise: float,
    tau_decay: float,
    lam: float,
    fs: float,
    max_iters: int,
    conv_mode: str,
    constraint: str,
    method: str,
    bandpass: bool,
    remove_drift: bool,
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.uint32],
    NDArray[np.bool_],
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
