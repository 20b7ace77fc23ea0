"""Native deconvolution API: thin, validated wrappers over the Rust core (``calab._solver``).

The problem solved for each trace y (T samples at fs Hz)::

    minimize over s >= 0 and scalar b:   1/2 ||y - K s - b||^2 + lambda_ * G_dc * ||s||_1

K convolves with h(t) = exp(-t/tau_decay) - exp(-t/tau_rise) sampled at t = n/fs (so h[0] = 0),
normalised to peak 1; G_dc = sum(h) makes one ``lambda_`` mean the same sparsity for any kernel.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _gaps, _solver
from ._dask import is_dask_array, map_rows
from ._deprecation import renamed_parameters
from ._errors import InvalidParameterError, from_code, raise_row_errors
from ._result import input_noise
from ._schema_files import solver_defaults
from ._validate import as_real, as_trace_1d, as_traces
from .kinetics import KineticsEstimate, estimate_kinetics

#: FISTA iteration cap of one L1 solve (``schemas/solver-defaults.json``, shared with the browser).
DEFAULT_MAX_ITERS: int = int(solver_defaults()["max_iters"])

FloatArray = NDArray[np.float64]


class DeconvolutionResult(NamedTuple):
    """Full result of :func:`run_deconvolution_full` (an :class:`calab.ActivityResult`).

    For 2-D input, ``baseline``, ``iterations``, ``converged`` and ``noise`` are arrays with one
    value per trace; for 1-D input they are scalars. The first five fields are calab 0.3.0's, in
    its order.
    """

    #: Non-negative activity, same shape as the input (trace units per kernel peak).
    activity: FloatArray
    #: Scalar baseline b per trace, in trace units.
    baseline: float | FloatArray
    #: K @ s + baseline: the model of the (preprocessed) trace, s the optimiser (the activity
    #: before it is reported on frame centres).
    reconvolution: FloatArray
    #: Solver iterations (interior-point steps for the exact method, FISTA steps otherwise).
    iterations: int | NDArray[np.uint32]
    #: Whether the stopping rule was met within ``max_iters``.
    converged: bool | NDArray[np.bool_]
    #: Noise standard deviation of each input trace, trace units (see :func:`estimate_noise`).
    noise: float | FloatArray = float("nan")
    #: The sparsity weight used per trace (the given ``lam``, or the one chosen from the noise).
    lam: float | FloatArray = float("nan")
    #: The kinetics used per trace (s): the given ones, or those learned from the data (one
    #: kernel for the whole input; :func:`estimate_kinetics` gives the details).
    tau_rise: float | FloatArray = float("nan")
    tau_decay: float | FloatArray = float("nan")

    @property
    def solver(self) -> str:
        """``"l1"``: which solver produced this result."""
        return "l1"


def _positive_int(name: str, value: object, upper: int) -> int:
    """``value`` as an int in [1, upper], or InvalidParameterError naming it."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)  # 100.0 is a fine iteration count; 2.5 and NaN are not
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise from_code("INVALID_PARAMETER",
                        f"{name} must be a positive integer, got {value!r}") from None
    if not 1 <= number <= upper:
        raise from_code("INVALID_PARAMETER",
                        f"{name} must lie in [1, {upper}], got {number}")
    return number


def build_kernel(tau_rise: float, tau_decay: float, fs: float) -> FloatArray:
    """Sampled double-exponential kernel h[n] = exp(-n/(fs tau_decay)) - exp(-n/(fs tau_rise)).

    Normalised to peak 1, starting with h[0] = 0, and long enough that the decay envelope has
    fallen below 1e-6 of the peak. Times in seconds, ``fs`` in Hz.
    """
    return _solver.build_kernel(float(tau_rise), float(tau_decay), float(fs))


def compute_lipschitz(kernel: ArrayLike) -> float:
    """Lipschitz constant max_w |H(w)|^2 of the gradient of 1/2||y - K s||^2 for this kernel."""
    return float(_solver.compute_lipschitz(as_trace_1d(kernel, "kernel")))


def tau_to_ar2(tau_rise: float, tau_decay: float, fs: float) -> tuple[float, float, float, float]:
    """AR(2) form of the kernel: returns ``(g1, g2, d, r)``.

    The calcium c = K s obeys c[t] = g1 c[t-1] + g2 c[t-2] + gain s[t-1], with
    d = exp(-1/(tau_decay fs)), r = exp(-1/(tau_rise fs)), g1 = d + r and g2 = -d r.
    """
    g1, g2, d, r, _gain, _dc = _solver.tau_to_ar2(float(tau_rise), float(tau_decay), float(fs))
    return g1, g2, d, r


def kernel_shape(tau_rise: float, tau_decay: float, fs: float = 30.0) -> tuple[float, float]:
    """(peak time, full width at half maximum) of the continuous kernel, in seconds."""
    return _solver.kernel_shape(float(tau_rise), float(tau_decay), float(fs))


def bandpass_filter(trace: ArrayLike, tau_rise: float, tau_decay: float, fs: float) -> FloatArray:
    """Bandpass a 1-D trace with cutoffs derived from the kernel (see :func:`filter_cutoffs`)."""
    return _solver.bandpass_filter(as_trace_1d(trace), float(tau_rise), float(tau_decay), float(fs))


def filter_cutoffs(tau_rise: float, tau_decay: float, fs: float) -> tuple[float, float]:
    """(high-pass, low-pass) cutoff frequencies in Hz of :func:`bandpass_filter`.

    f_hp = 0.25 / (2 pi tau_decay), f_lp = 2 / (2 pi tau_rise); the low-pass is skipped when
    f_lp is at or above Nyquist.
    """
    return _solver.filter_cutoffs(float(tau_rise), float(tau_decay), float(fs))


def frame_centre_shift(tau_rise: float, tau_decay: float, fs: float) -> float:
    """How far (in frames, 0 to 1/2) the optimiser's activity sits before the spikes it stands for.

    The model puts a spike of frame n exactly at that frame's time stamp; real spikes fall
    anywhere in the frame interval. When the kernel rises within a frame the data cannot tell
    where, and the optimiser sits half a frame early on average (1/2); when the rise spans
    several frames it resolves the position (0). :func:`run_deconvolution` reports the activity
    moved by this amount (``centre_on_frames``).
    """
    return float(_solver.frame_centre_shift(float(tau_rise), float(tau_decay), float(fs)))


def estimate_drift(trace: ArrayLike, tau_decay: float, fs: float) -> FloatArray:
    """Slow drift of a 1-D trace: a rolling 10th percentile over max(15 tau_decay, 10 s)."""
    return _solver.estimate_drift(as_trace_1d(trace), float(tau_decay), float(fs))


def estimate_noise(traces: ArrayLike) -> float | FloatArray:
    """Noise standard deviation of each trace, in trace units, from its spectrum.

    The median over Hann-windowed segments of 256 samples (half overlap) of the average power
    between a quarter and a half of the sampling rate, where calcium transients have little
    power left; traces shorter than 32 samples use the median absolute first difference instead.
    The estimate does not depend on the frame rate, scales with the trace and ignores offsets.

    Parameters
    ----------
    traces : array_like
        ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``, finite values, at least 3 samples.

    Returns
    -------
    float or ndarray
        One sigma per trace (a float for 1-D input).

    Examples
    --------
    >>> import numpy as np, calab
    >>> y = 100.0 + 0.5 * np.random.default_rng(0).standard_normal(5000)
    >>> round(calab.estimate_noise(y), 1)
    0.5
    """
    arr, was_1d = as_traces(traces)
    sigma, errors = _solver.estimate_noise_batch(arr)
    raise_row_errors(errors, was_1d)
    return float(sigma[0]) if was_1d else np.asarray(sigma)


@renamed_parameters("tau_r", "tau_d", "lam")
def run_deconvolution_full(
    traces: ArrayLike,
    fs: float,
    tau_rise: float | None = None,
    tau_decay: float | None = None,
    lambda_: float | None = None,
    max_iters: int = DEFAULT_MAX_ITERS,
    conv_mode: str = "fft",
    constraint: str = "nonneg",
    *,
    method: str = "auto",
    filter_enabled: bool = False,
    remove_drift: bool = True,
    centre_on_frames: bool = True,
    nan_policy: str = "raise",
) -> DeconvolutionResult:
    """Deconvolve one or more traces and return activity, baseline, fit and diagnostics.

    Parameters
    ----------
    traces : array_like
        Shape ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``; any real dtype, finite values.
    fs : float
        Sampling rate in Hz.
    tau_rise, tau_decay : float or None
        Rise and decay time constants in seconds, ``0 < tau_rise < tau_decay``. ``None`` for
        both (the default) learns them from the recording (:func:`estimate_kinetics`: one kernel
        for all its cells); what had to be corrected or is in doubt is issued as a
        :class:`KineticsWarning`.
    lambda_ : float or None
        Sparsity weight (>= 0), scaled internally by the kernel's DC gain. ``None`` (the
        default) chooses it per trace from the trace's noise sigma (:func:`estimate_noise`):
        ``lambda_ = 2 sigma ||h||_2 / sum(h)``, a detection threshold of two noise standard
        deviations of the matched filter, so it means the same on dF/F and on raw fluorescence.
    max_iters : int
        Iteration cap for FISTA (the exact method needs far fewer and has its own cap).
    conv_mode : {"fft", "banded"}
        How K is applied when FISTA runs and for the reconvolution: FFT with the kernel
        truncated at 1e-6 of its peak, or the O(T) AR(2) recursion.
    constraint : {"nonneg", "box01"}
        ``s >= 0`` with the L1 penalty, or ``0 <= s <= 1`` without it.
    method : {"auto", "exact", "fista"}
        ``auto`` solves the non-negative problem exactly with an O(T)-per-step interior-point
        method on the AR(2) form and uses FISTA for the box constraint.
    filter_enabled : bool
        Bandpass the trace first (see :func:`bandpass_filter`).
    remove_drift : bool
        Subtract a rolling low-quantile baseline first (see :func:`estimate_drift`), on by
        default: on simulated recordings with a slow random-walk baseline of 20 % of a spike's
        amplitude the binned correlation with the true spikes is 0.90 with it and 0.69 without,
        on drift-free ones 0.945 against 0.951, and on the real recordings of
        ``benchmarks/bench_groundtruth.py`` it is never worse. ``False`` fits a constant baseline.
    centre_on_frames : bool
        Report the activity on frame centres (the default): ``activity[n]`` is the activity
        nearest frame n's time stamp, the convention of electrophysiological ground truth. The
        optimiser ``s`` of the problem places a spike at frame n exactly at that frame's time
        stamp (it first shows in frame n + 1); with a rise faster than a frame it therefore sits
        up to half a frame early, and the report moves the fraction ``delta`` of every sample one
        frame later: ``activity[n] = (1 - delta) s[n] + delta s[n - 1]``, with ``delta`` between
        0 (rise spread over frames) and 1/2 (rise within a frame) computed from the kernel.
        ``False`` returns ``s`` itself.
    nan_policy : {"raise", "interpolate"}
        What to do with NaN / Inf samples (missing frames): refuse them
        (:class:`~calab.NonFiniteInputError`, the default) or fill them as CaTune does (a straight
        line across each gap, the nearest value at the ends; see :func:`calab.fill_nan`), with a
        :class:`~calab.FilledFramesWarning` giving the frames filled per cell.

    Returns
    -------
    DeconvolutionResult
        For a ``dask.array.Array`` input, the same fields as lazy dask arrays solved per block
        of rows (see :func:`calab.scale.map_rows`).
    """
    if (tau_rise is None) != (tau_decay is None):
        raise InvalidParameterError(
            "set both tau_rise and tau_decay, or neither to learn them from the data; got "
            f"tau_rise={tau_rise!r}, tau_decay={tau_decay!r}", code="INVALID_PARAMETER")
    if not is_dask_array(traces):
        traces = _gaps.apply(traces, nan_policy)  # gaps filled (or refused) before learning
    if tau_rise is None:
        kinetics = _learn_kinetics(traces, fs)
        tau_rise, tau_decay = kinetics.tau_rise, kinetics.tau_decay
    if is_dask_array(traces):
        return map_rows(run_deconvolution_full, traces, fs, tau_rise, tau_decay, lambda_, max_iters,  # type: ignore[no-any-return]
                        conv_mode, constraint, method=method, filter_enabled=filter_enabled,
                        remove_drift=remove_drift, centre_on_frames=centre_on_frames,
                        nan_policy=nan_policy)
    arr, was_1d = as_traces(traces)
    n_iters = _positive_int("max_iters", max_iters, 2**32 - 1)
    act, base, rec, iters, conv, lams, errors = _solver.deconvolve_batch(
        arr, as_real("tau_rise", tau_rise), as_real("tau_decay", tau_decay),
        None if lambda_ is None else as_real("lambda_", lambda_), as_real("fs", fs), n_iters,
        str(conv_mode), str(constraint), str(method), bool(filter_enabled), bool(remove_drift),
        bool(centre_on_frames),
    )
    raise_row_errors(errors, was_1d)
    noise = input_noise(arr, was_1d)
    tr, td = float(tau_rise), float(tau_decay)  # type: ignore[arg-type]
    if was_1d:
        return DeconvolutionResult(act[0], float(base[0]), rec[0], int(iters[0]), bool(conv[0]),
                                   noise, float(lams[0]), tr, td)
    n = arr.shape[0]
    return DeconvolutionResult(act, base, rec, iters, conv, noise, lams, np.full(n, tr),
                               np.full(n, td))


#: Rows of a Dask array the automatic kinetics are learned from (they are read into memory).
DASK_KINETICS_ROWS = 64


def _learn_kinetics(traces: ArrayLike, fs: float) -> KineticsEstimate:
    """One kernel for the whole input; for a Dask array, from its first rows."""
    if is_dask_array(traces):
        sample = np.asarray(traces[:DASK_KINETICS_ROWS].compute())  # type: ignore[index,union-attr]
        return estimate_kinetics(sample, fs, warn=True)
    return estimate_kinetics(traces, fs, warn=True)


@renamed_parameters("tau_r", "tau_d", "lam")
def run_deconvolution(
    traces: ArrayLike,
    fs: float,
    tau_rise: float | None = None,
    tau_decay: float | None = None,
    lambda_: float | None = None,
    max_iters: int = DEFAULT_MAX_ITERS,
    conv_mode: str = "fft",
    constraint: str = "nonneg",
    *,
    method: str = "auto",
    filter_enabled: bool = False,
    remove_drift: bool = True,
    centre_on_frames: bool = True,
    nan_policy: str = "raise",
) -> FloatArray:
    """Deconvolve and return only the activity, same shape as ``traces``.

    Same parameters as :func:`run_deconvolution_full`.

    Examples
    --------
    >>> import numpy as np, calab
    >>> h = calab.build_kernel(0.02, 0.4, 30.0)  # h[0] == 0: a spike shows one frame later
    >>> y = np.zeros(300); y[100:100 + len(h)] = h
    >>> s = calab.run_deconvolution(y, fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.001)
    >>> int(np.argmax(s)), bool(s[101] > 0)  # frame centres: part of the spike reads as frame 101
    (100, True)
    """
    return run_deconvolution_full(
        traces, fs, tau_rise, tau_decay, lambda_, max_iters, conv_mode, constraint,
        method=method, filter_enabled=filter_enabled, remove_drift=remove_drift,
        centre_on_frames=centre_on_frames,
        nan_policy=nan_policy,
    ).activity
