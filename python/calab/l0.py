"""Exact L0-penalised spike inference for an AR(1) calcium model.

Solves, for each trace ``y`` (``T`` samples),

    minimise over c:  1/2 sum_t (y_t - c_t)^2 + lam * #{t >= 2 : z_t != 0},
    with  c_t = gamma c_{t-1} + z_t,

either unconstrained (``positive=False``) or with ``z_t >= 0`` (``positive=True``: a spike can only
raise the calcium), exactly, by dynamic programming with functional pruning (Jewell & Witten 2018,
"Exact spike train inference via l0 optimization"; Jewell, Hocking, Fearnhead & Witten 2020,
"Fast nonconvex deconvolution of calcium imaging data"). ``c_1`` is free and unpenalised. The
numerics live in the Rust core (``crates/solver/src/l0.rs``); this module validates and reshapes.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _gaps, _solver
from ._dask import is_dask_array, map_rows
from ._deprecation import renamed_parameters
from ._errors import InvalidParameterError, raise_row_errors
from ._result import input_noise
from ._validate import as_real as _real
from ._validate import as_trace_1d, as_traces

__all__ = ["L0Result", "gamma_from_tau", "l0_lambda_for_rate", "run_l0"]

FloatArray = NDArray[np.float64]


class L0Result(NamedTuple):
    """Exact L0 solution, shaped like the input traces (an :class:`calab.ActivityResult`).

    Attributes
    ----------
    spikes : ndarray
        Spike sizes ``z_t = c_t - gamma c_{t-1}`` at spike times, zero elsewhere (units of the
        trace).
    calcium : ndarray
        Fitted calcium ``c`` (units of the trace).
    cost : float or ndarray
        Attained objective ``1/2 ||y - c||^2 + lam * num_spikes`` per trace.
    num_spikes : int or ndarray
        Number of spikes per trace.
    noise : float or ndarray
        Noise standard deviation of each input trace, trace units (:func:`calab.estimate_noise`).
    converged : bool or ndarray
        True where the answer is finite: the dynamic programme returns the exact optimum, so
        there is no stopping rule to miss.

    The shared names ``activity`` (= ``spikes``), ``reconvolution`` (= ``calcium``; the model
    has no separate baseline) and ``baseline`` (0) are read-only aliases.
    """

    spikes: FloatArray
    calcium: FloatArray
    cost: float | FloatArray
    num_spikes: int | NDArray[np.int64]
    noise: float | FloatArray = float("nan")
    converged: bool | NDArray[np.bool_] = True

    @property
    def activity(self) -> FloatArray:
        """Alias of ``spikes``."""
        return self.spikes

    @property
    def reconvolution(self) -> FloatArray:
        """Alias of ``calcium``: the fitted model of the trace."""
        return self.calcium

    @property
    def baseline(self) -> Any:
        """0 per trace: the AR(1) model fits the trace with ``calcium`` alone."""
        return self.cost * 0.0

    @property
    def solver(self) -> str:
        """``"l0"``."""
        return "l0"


def _check_gamma_lam(gamma: float, lam: float) -> None:
    if not (0.0 < gamma < 1.0):
        raise InvalidParameterError(
            f"invalid parameter `gamma` = {gamma}: must be strictly between 0 and 1",
            code="INVALID_PARAMETER",
        )
    if not (math.isfinite(lam) and lam >= 0.0):
        raise InvalidParameterError(
            f"invalid parameter `lambda_` = {lam}: must be a finite number >= 0",
            code="INVALID_PARAMETER",
        )


def gamma_from_tau(tau_decay: float, fs: float) -> float:
    """AR(1) coefficient ``gamma = exp(-1 / (tau_decay * fs))`` of a decay time.

    Parameters
    ----------
    tau_decay : float
        Decay time constant in seconds (> 0).
    fs : float
        Sampling rate in Hz (> 0).

    Examples
    --------
    >>> round(gamma_from_tau(0.5, 30.0), 6)
    0.935507
    """
    return float(_solver.l0_gamma_from_tau(_real("tau_decay", tau_decay), _real("fs", fs)))


@renamed_parameters("lam")
def run_l0(traces: ArrayLike, gamma: float, lambda_: float, positive: bool = True, *,
           nan_policy: str = "raise") -> L0Result:
    """Exact L0 spike inference for one trace (1-D) or many (2-D, cells x time).

    Solves ``min_c 1/2 sum (y_t - c_t)^2 + lambda_ * #{t >= 2 : z_t != 0}`` with
    ``c_t = gamma c_{t-1} + z_t`` (and ``z_t >= 0`` when ``positive``) exactly. Rows are solved in
    parallel with the GIL released.

    Parameters
    ----------
    traces : array_like
        Fluorescence, 1-D ``(T,)`` or 2-D ``(cells, T)``; finite values.
    gamma : float
        AR(1) decay per frame, strictly between 0 and 1 (see :func:`gamma_from_tau`).
    lambda_ : float
        Penalty per spike (>= 0), in squared trace units.
    positive : bool
        Require spikes to be positive (``z_t > 0``).
    nan_policy : {"raise", "interpolate"}
        What to do with NaN / Inf samples (missing frames): refuse them
        (:class:`~calab.NonFiniteInputError`, the default) or fill them as CaTune does (a straight
        line across each gap, the nearest value at the ends; see :func:`calab.fill_nan`), with a
        :class:`~calab.FilledFramesWarning` giving the frames filled per cell.

    Returns
    -------
    L0Result
        ``spikes`` and ``calcium`` shaped like ``traces``; ``cost`` and ``num_spikes`` scalars for
        1-D input, arrays for 2-D.

    Examples
    --------
    >>> res = run_l0([0.0, 0.0, 1.0, 0.5, 0.25], gamma=0.5, lambda_=0.1)
    >>> res.num_spikes, [float(v) for v in res.spikes]
    (1, [0.0, 0.0, 1.0, 0.0, 0.0])
    """
    g = _real("gamma", gamma)
    lam_f = _real("lambda_", lambda_)
    _check_gamma_lam(g, lam_f)
    if is_dask_array(traces):  # lazy: solved per block of rows, see calab.scale.map_rows
        return map_rows(run_l0, traces, g, lam_f, bool(positive),  # type: ignore[no-any-return]
                        nan_policy=nan_policy)
    arr, was_1d = as_traces(_gaps.apply(traces, nan_policy))
    spikes, calcium, cost, count, errors = _solver.l0_batch(arr, g, lam_f, bool(positive))
    raise_row_errors(errors, was_1d)
    noise = input_noise(arr, was_1d)
    # The optimum is exact; "converged" only guards against a non-finite answer.
    finite: NDArray[np.bool_] = np.asarray(
        np.isfinite(spikes).all(axis=1) & np.isfinite(calcium).all(axis=1))
    if was_1d:
        return L0Result(spikes[0], calcium[0], float(cost[0]), int(count[0]), noise,
                        bool(finite[0]))
    return L0Result(spikes, calcium, cost, count.astype(np.int64), noise, finite)


@overload
def l0_lambda_for_rate(
    trace: ArrayLike,
    gamma: float,
    fs: float,
    target_rate_hz: float,
    positive: bool = ...,
    *,
    return_rate: Literal[False] = ...,
) -> float: ...
@overload
def l0_lambda_for_rate(
    trace: ArrayLike,
    gamma: float,
    fs: float,
    target_rate_hz: float,
    positive: bool = ...,
    *,
    return_rate: Literal[True],
) -> tuple[float, float]: ...


def l0_lambda_for_rate(
    trace: ArrayLike,
    gamma: float,
    fs: float,
    target_rate_hz: float,
    positive: bool = True,
    *,
    return_rate: bool = False,
) -> float | tuple[float, float]:
    """Penalty ``lam`` for :func:`run_l0` that gives about ``target_rate_hz`` spikes per second.

    Bisection on ``log(lam)`` (the spike count does not increase with ``lam``), at most 60 exact
    solves; returns the penalty whose rate ``num_spikes / (T / fs)`` is closest to the target.

    Parameters
    ----------
    trace : array_like
        One fluorescence trace (1-D, finite).
    gamma : float
        AR(1) decay per frame, strictly between 0 and 1.
    fs : float
        Sampling rate in Hz (> 0).
    target_rate_hz : float
        Desired firing rate in Hz, between 0 and ``fs``.
    positive : bool
        Positive-spike variant, as in :func:`run_l0`.
    return_rate : bool
        Also return the achieved rate in Hz, as ``(lam, rate_hz)``.
    """
    g = _real("gamma", gamma)
    _check_gamma_lam(g, 0.0)
    y = as_trace_1d(trace)
    lam, rate, _count, _iters = _solver.l0_lambda_for_rate(
        y, g, _real("fs", fs), _real("target_rate_hz", target_rate_hz), bool(positive)
    )
    if return_rate:
        return float(lam), float(rate)
    return float(lam)
