"""Convar: population spiking-rate inference for wide-field calcium imaging.

For each pixel trace ``y`` (``T`` frames) Convar (Stern, Shea-Brown & Witten 2020, "Inferring
neural population spiking rate from wide-field calcium imaging") solves

    minimise over r:  ||y~ - A r||^2 + lam * sum_{t >= 3} (r_t - r_{t-1})^2
    subject to        r_t >= 0 for t >= 2            (1-based; r_1 is the initial calcium)

where ``y~`` is the mean-subtracted trace and ``A`` the column-mean-subtracted inverse of the AR(1)
operator (``c_t = gamma c_{t-1} + r_t``). The baseline follows in closed form,
``b = mean(y - c)``. The rate is smooth (the penalty is on its changes), as suits a pixel that sums
many neurons. A constant rate cannot be told apart from baseline, so of the equally good answers
the one whose smallest rate is zero is returned.

The numerics live in the Rust core (``crates/solver/src/convar.rs``). By default
(``method="direct"``) each solve is exact and needs no iterations: in the calcium ``c = A0 r``
the problem is ``min_c ||y~ - c||^2 + lam ||D c||^2`` with a banded second-difference operator
``D``, and the constraint never binds (a solution moved along the flat direction until its
smallest rate is zero is feasible and equally good), so one pentadiagonal solve, O(T), gives the
optimum. ``method="fista"`` runs the iterative path instead (O(T) per iteration, FISTA with restart
and the speed-ups of Khavari's thesis: smoothed first-differences start, early stopping); both reach
the same optimum. A faster lambda search and chunking with overlap and blending serve both. This
module validates and reshapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _gaps, _solver
from ._dask import is_dask_array, map_rows
from ._deprecation import renamed_parameters
from ._errors import InvalidParameterError, UnknownOptionError, raise_row_errors
from ._progress import native_bar
from ._result import input_noise
from ._validate import as_count as _count
from ._validate import as_real as _real
from ._validate import as_trace_1d, as_traces
from .l0 import gamma_from_tau

__all__ = [
    "ConvarLambdaSearch",
    "ConvarResult",
    "convar_lambda_search",
    "default_lambda_grid",
    "gamma_from_tau",
    "run_convar",
]

FloatArray = NDArray[np.float64]
_DEFAULTS = _solver.convar_defaults()
DEFAULT_MAX_ITERS: int = int(_DEFAULTS["max_iters"])
DEFAULT_TOL: float = float(_DEFAULTS["tol"])
DEFAULT_SMOOTH_WINDOW: int = int(_DEFAULTS["smooth_window"])
_INITS = ("first_differences", "zeros")
_SEARCHES = ("grid", "fast")
_METHODS = ("direct", "fista")


class ConvarResult(NamedTuple):
    """Convar solution, shaped like the input traces (an :class:`calab.ActivityResult`).

    Attributes
    ----------
    rates : ndarray
        ``r``: ``rates[..., 0]`` is the initial calcium (free sign); ``rates[..., t]`` for
        ``t >= 1`` is the calcium rise from spiking in frame ``t`` (>= 0, trace units per frame),
        proportional to the population spiking rate.
    baseline : float or ndarray
        Baseline fluorescence ``b`` per trace (trace units).
    lambda_ : float or ndarray
        Penalty used per trace (chosen by the search when ``lambda_=None``).
    iterations : int or ndarray
        Iterations of the final solve (summed over chunks): FISTA iterations, or 1 per direct
        solve (0 for a constant trace).
    converged : bool or ndarray
        Whether the stopping rule was met (the direct solve: whether the result is finite).
    calcium : ndarray
        Modelled calcium ``c = A0 r`` without baseline; ``calcium + baseline`` fits the trace.
    objective : float or ndarray
        Attained objective ``||y~ - A r||^2 + lam * sum (r_t - r_{t-1})^2``.
    noise : float or ndarray
        Noise standard deviation of each input trace, trace units (:func:`calab.estimate_noise`).

    The shared names ``activity`` (= ``rates``) and ``reconvolution`` (``calcium + baseline``,
    the model of the trace) are read-only properties.
    """

    rates: FloatArray
    baseline: float | FloatArray
    lambda_: float | FloatArray
    iterations: int | NDArray[np.uint32]
    converged: bool | NDArray[np.bool_]
    calcium: FloatArray
    objective: float | FloatArray
    noise: float | FloatArray = float("nan")

    @property
    def activity(self) -> FloatArray:
        """Alias of ``rates``."""
        return self.rates

    @property
    def reconvolution(self) -> FloatArray:
        """``calcium + baseline``: the model of the trace, shaped like it."""
        base = self.baseline
        if getattr(self.calcium, "ndim", 1) == 2:
            base = base[:, None]  # type: ignore[index]
        return self.calcium + base

    @property
    def solver(self) -> str:
        """``"convar"``."""
        return "convar"


class ConvarLambdaSearch(NamedTuple):
    """Outcome of :func:`convar_lambda_search`.

    Attributes
    ----------
    lambda_ : float
        The penalty with the smallest score.
    score : float
        Its score: mean absolute difference between the odd-frame fit, interpolated to the even
        frames, and the even frames (trace units).
    lambdas, scores : ndarray
        Every penalty evaluated and its score, in evaluation order.
    iterations : int
        Iterations over all the solves (FISTA iterations, or 1 per direct solve).
    """

    lambda_: float
    score: float
    lambdas: FloatArray
    scores: FloatArray
    iterations: int


def default_lambda_grid() -> FloatArray:
    """The default candidate penalties: 25 log-spaced values from 1e-3 to 1e3."""
    return np.asarray(_DEFAULTS["lambda_grid"], dtype=np.float64)


def _option(kind: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise UnknownOptionError(
            f"unknown {kind} `{value}`; expected one of: {', '.join(allowed)}",
            code="UNKNOWN_OPTION",
        )
    return value


def _gamma(gamma: object) -> float:
    g = _real("gamma", gamma)
    if not (0.0 < g < 1.0):
        raise InvalidParameterError(
            f"invalid parameter `gamma` = {g}: must be strictly between 0 and 1 "
            "(see gamma_from_tau)",
            code="INVALID_PARAMETER",
        )
    return g


def _grid(lam_grid: ArrayLike | None) -> list[float]:
    if lam_grid is None:
        return [float(v) for v in default_lambda_grid()]
    arr = np.asarray(lam_grid, dtype=np.float64).ravel()
    if arr.size == 0:
        raise InvalidParameterError(
            "lam_grid is empty; give at least one lambda", code="INVALID_PARAMETER"
        )
    bad = arr[~(np.isfinite(arr) & (arr >= 0))]
    if bad.size:
        raise InvalidParameterError(
            f"invalid parameter `lam_grid` value {float(bad[0])}: every lambda must be a finite "
            "number >= 0",
            code="INVALID_PARAMETER",
        )
    return [float(v) for v in arr]


def _tol(tol: object) -> float:
    t = _real("tol", tol)
    if not (math.isfinite(t) and t > 0):
        raise InvalidParameterError(
            f"invalid parameter `tol` = {t}: must be a finite number > 0", code="INVALID_PARAMETER"
        )
    return t


@renamed_parameters("lam", "lam_grid")
def run_convar(
    traces: ArrayLike,
    gamma: float,
    lambda_: float | None = None,
    *,
    lambda_grid: ArrayLike | None = None,
    search: Literal["grid", "fast"] = "grid",
    max_iters: int = DEFAULT_MAX_ITERS,
    tol: float = DEFAULT_TOL,
    init: Literal["first_differences", "zeros"] = "first_differences",
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    early_stop: bool = True,
    chunk_size: int | None = None,
    overlap: int | None = None,
    blend: int | None = None,
    progress: bool | None = None,
    nan_policy: str = "raise",
    method: Literal["direct", "fista"] = "direct",
) -> ConvarResult:
    """Infer the population spiking rate of one trace (1-D) or many (2-D, pixels x time).

    Solves ``min_r ||y~ - A r||^2 + lambda_ * sum_{t>=3} (r_t - r_{t-1})^2`` with ``r_t >= 0`` for
    ``t >= 2`` (Stern, Shea-Brown & Witten 2020; see the module docstring). Rows are solved
    independently, in parallel, with the GIL released: the result for a row does not depend on the
    other rows, so splitting a matrix into blocks of rows gives identical results.

    Parameters
    ----------
    traces : array_like
        Fluorescence, 1-D ``(T,)`` or 2-D ``(pixels, T)``; finite values, any real dtype
        (computed in float64). ``T >= 3`` (``T >= 6`` for the lambda search).
    gamma : float
        AR(1) calcium decay per frame, strictly between 0 and 1; ``gamma_from_tau(tau, fs)``
        converts a decay time in seconds and a frame rate in Hz.
    lambda_ : float or None
        Smoothness penalty (>= 0; dimensionless, as both terms scale with the trace units
        squared). ``None`` chooses it per trace by the paper's odd/even split: fit the odd frames
        with ``gamma**2`` for each candidate, interpolate the fit to the even frames and keep the
        candidate with the smallest mean absolute difference.
    lambda_grid : array_like, optional
        Candidate penalties for the search (default :func:`default_lambda_grid`).
    search : {"grid", "fast"}
        ``"grid"`` tries every candidate; ``"fast"`` runs a golden-section search on
        ``log(lambda_)`` between the grid's ends, to half a grid step (about half the solves).
    max_iters : int
        Iteration cap per solve (``method="fista"``).
    tol : float
        Stop when the projected-gradient step, relative to the gradient at zero, is below ``tol``
        (``method="fista"``).
    init : {"first_differences", "zeros"}
        Start from smoothed first differences ``s_t - gamma s_{t-1}`` (fewer iterations, same
        optimum) or from zero (``method="fista"``).
    smooth_window : int
        Moving-average window (frames) of the first-differences start (``method="fista"``).
    early_stop : bool
        Stop at ``tol``; ``False`` always runs ``max_iters`` iterations (``method="fista"``).
    chunk_size : int, optional
        Solve in chunks of at most this many frames (both methods are O(T), so this is only for
        memory or to cap one solve's length); chunks overlap by ``overlap`` frames on each
        side (default: frames for calcium to decay to 1%, at least 16) and are cross-faded over
        ``blend`` frames (default ``overlap // 2``).
    overlap, blend : int, optional
        See ``chunk_size``.
    progress : bool or None
        A tqdm progress bar over the traces; ``None`` shows it on a terminal when ``lambda_`` is
        ``None`` (the search solves each trace many times) and the traces hold at least 100,000
        samples. Whatever the setting, Ctrl-C stops the solve within a fraction of a second and
        raises ``KeyboardInterrupt``.
    nan_policy : {"raise", "interpolate"}
        What to do with NaN / Inf samples (missing frames): refuse them
        (:class:`~calab.NonFiniteInputError`, the default) or fill them as CaTune does (a straight
        line across each gap, the nearest value at the ends; see :func:`calab.fill_nan`), with a
        :class:`~calab.FilledFramesWarning` giving the frames filled per cell.
    method : {"direct", "fista"}
        ``"direct"`` (default): the exact optimum from one banded linear solve per trace (see the
        module docstring). ``"fista"``: the iterative solver, to ``tol``.

    Returns
    -------
    ConvarResult
        ``rates`` and ``calcium`` shaped like ``traces``; the other fields are scalars for 1-D
        input and arrays over rows for 2-D input.

    Examples
    --------
    >>> import numpy as np
    >>> rate = np.exp(-0.5 * ((np.arange(100) - 50) / 8) ** 2)  # one smooth burst
    >>> c = np.zeros(100)
    >>> for t in range(100):
    ...     c[t] = (0.9 * c[t - 1] if t else 0.0) + rate[t]
    >>> res = run_convar(c + 2.0, gamma=0.9, lambda_=0.01)
    >>> round(float(res.baseline), 3), bool(res.converged)
    (2.0, True)
    >>> bool(np.abs(res.rates[1:] - rate[1:]).max() < 1e-3)
    True
    """
    g = _gamma(gamma)
    lam_f: float | None = None
    if lambda_ is not None:
        lam_f = _real("lambda_", lambda_)
        if not (math.isfinite(lam_f) and lam_f >= 0.0):
            raise InvalidParameterError(
                f"invalid parameter `lambda_` = {lam_f}: must be a finite number >= 0 "
                "(or None to search)",
                code="INVALID_PARAMETER",
            )
    grid = _grid(lambda_grid)
    search_s = _option("lambda search method", search, _SEARCHES)
    init_s = _option("convar init", init, _INITS)
    method_s = _option("convar method", method, _METHODS)
    iters = _count("max_iters", max_iters, 1)
    window = _count("smooth_window", smooth_window, 1)
    tol_f = _tol(tol)
    size = None if chunk_size is None else _count("chunk_size", chunk_size, 3)
    ov = None if overlap is None else _count("overlap", overlap, 0)
    bl = None if blend is None else _count("blend", blend, 0)
    if is_dask_array(traces):  # lazy: solved per block of rows, see calab.scale.map_rows
        return map_rows(  # type: ignore[no-any-return]
            run_convar, traces, gamma, lambda_, lambda_grid=lambda_grid, search=search,
            max_iters=max_iters, tol=tol, init=init, smooth_window=smooth_window,
            early_stop=early_stop, chunk_size=chunk_size, overlap=overlap, blend=blend,
            nan_policy=nan_policy, method=method,
        )
    arr, was_1d = as_traces(_gaps.apply(traces, nan_policy))
    long = lam_f is None and arr.size >= 100_000
    with native_bar(progress, arr.shape[0], "Convar", long=long) as report:
        rates, calcium, base, lams, its, conv, obj, errors = _solver.convar_batch(
            arr, g, lam_f, grid, search_s, iters, tol_f, init_s, window, bool(early_stop), size,
            ov, bl, method_s, report,
        )
    raise_row_errors(errors, was_1d)
    noise = input_noise(arr, was_1d)
    if was_1d:
        return ConvarResult(
            rates[0],
            float(base[0]),
            float(lams[0]),
            int(its[0]),
            bool(conv[0]),
            calcium[0],
            float(obj[0]),
            noise,
        )
    return ConvarResult(rates, base, lams, its, conv, calcium, obj, noise)


@renamed_parameters("lam_grid")
def convar_lambda_search(
    trace: ArrayLike,
    gamma: float,
    *,
    lambda_grid: ArrayLike | Sequence[float] | None = None,
    search: Literal["grid", "fast"] = "grid",
    max_iters: int = DEFAULT_MAX_ITERS,
    tol: float = DEFAULT_TOL,
    init: Literal["first_differences", "zeros"] = "first_differences",
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    method: Literal["direct", "fista"] = "direct",
) -> ConvarLambdaSearch:
    """The odd/even lambda search :func:`run_convar` runs when ``lambda_=None``, with its scores.

    Useful to choose one penalty on a representative trace (or a short stretch) and reuse it for a
    whole recording, as Stern et al. suggest. Parameters as in :func:`run_convar`.
    """
    g = _gamma(gamma)
    y = as_trace_1d(trace)
    lambda_, score, evaluated, iterations = _solver.convar_lambda_search(
        y,
        g,
        _grid(lambda_grid),
        _option("lambda search method", search, _SEARCHES),
        _count("max_iters", max_iters, 1),
        _tol(tol),
        _option("convar init", init, _INITS),
        _count("smooth_window", smooth_window, 1),
        True,
        _option("convar method", method, _METHODS),
    )
    ev = np.asarray(evaluated, dtype=np.float64).reshape(-1, 2)
    return ConvarLambdaSearch(
        float(lambda_), float(score), ev[:, 0].copy(), ev[:, 1].copy(), int(iterations)
    )
