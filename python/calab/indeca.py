"""InDeCa building blocks: one-trace binary deconvolution, free-form kernel estimation and the
bi-exponential fit of a kernel.

These are the stages :func:`calab.run_indeca` alternates; they are public so a kernel or a trace can
be examined on its own. The numerics live in the Rust core (``crates/solver/src/indeca/``); this
module validates inputs and shapes results. Sample data are passed to the core as float32 (as in
the browser); computations run in float64.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _solver
from ._errors import InvalidParameterError, ShapeMismatchError
from ._validate import as_count as _count
from ._validate import as_real as _real
from ._validate import as_trace_1d

__all__ = [
    "BiexpFitResult",
    "SolveTraceResult",
    "compute_upsample_factor",
    "estimate_kernel",
    "fit_biexponential",
    "solve_trace",
]


class SolveTraceResult(NamedTuple):
    """Result of :func:`solve_trace` (fields named and ordered as in calab 0.3.0).

    Attributes
    ----------
    s_counts : ndarray of float32, shape (n_timepoints,)
        Spike counts per frame at the original sampling rate (whole numbers).
    alpha : float
        Peak amplitude of one spike's transient, in trace units.
    baseline : float
        Constant baseline of the preprocessed trace, in trace units.
    threshold : float
        Rounding threshold chosen on the relaxed per-frame spike mass.
    pve : float
        Proportion of the preprocessed trace's variance explained by the fit.
    iterations : int
        Interior-point iterations of the relaxations, summed over the amplitude rounds (and the
        frame-rate start, when there is one).
    converged : bool
        The last relaxation converged and the amplitude settled.
    """

    s_counts: NDArray[np.float32]
    alpha: float
    baseline: float
    threshold: float
    pve: float
    iterations: int
    converged: bool


class BiexpFitResult(NamedTuple):
    """Result of :func:`fit_biexponential` (times in seconds).

    The model is ``beta (exp(-t/tau_decay) - exp(-t/tau_rise))`` plus, when a fast component
    was kept, ``beta_fast (exp(-t/tau_decay_fast) - exp(-t/tau_rise_fast))`` (all three fast
    fields are 0 otherwise). ``residual`` is the root-mean-square misfit in kernel units;
    ``fit_mode`` says which model won: ``"TwoComponent"`` (a fast component was kept),
    ``"SlowOnly"``, or ``"Degenerate"`` (no positive slow amplitude: the kernel had no real
    transient). The first eight fields are calab 0.3.0's, in its order; then ``r2``, the
    coefficient of determination over the fitted samples, and ``quality``: ``"good"``
    (r2 >= 0.95), ``"fair"`` (r2 >= 0.8) or ``"poor"``.
    """

    tau_rise: float
    tau_decay: float
    beta: float
    residual: float
    tau_rise_fast: float
    tau_decay_fast: float
    beta_fast: float
    fit_mode: str = "SlowOnly"
    r2: float = float("nan")
    quality: str = "poor"


def _f32(name: str, values: ArrayLike) -> NDArray[np.float32]:
    return np.ascontiguousarray(as_trace_1d(values, name), dtype=np.float32)


def compute_upsample_factor(fs: float, target_fs: float) -> int:
    """Model-rate multiplier ``max(1, round(target_fs / fs))`` for sampling rate ``fs`` (Hz).

    Examples
    --------
    >>> compute_upsample_factor(30.0, 100.0)
    3
    """
    return int(
        _solver.indeca_compute_upsample_factor(_real("fs", fs), _real("target_fs", target_fs))
    )


def solve_trace(
    trace: ArrayLike,
    tau_rise: float,
    tau_decay: float,
    fs: float,
    *,
    upsample_factor: int = 1,
    max_iters: int = 500,
    tol: float = 1e-4,
    hp_enabled: bool = False,
    lp_enabled: bool = False,
    warm_counts: ArrayLike | None = None,
    lambda_: float = 0.0,
    noise_constrained: bool = False,
) -> SolveTraceResult:
    """Binary spike inference on one trace with an unknown spike amplitude (the InDeCa trace stage).

    Models ``y[j] = alpha (h * s)[k j] + b + noise`` with ``s`` in {0, 1} on a grid ``k =
    upsample_factor`` times finer than the frames and ``h`` the peak-normalised kernel
    ``exp(-t/tau_decay) - exp(-t/tau_rise)``. It solves the box relaxation
    ``min 1/2 ||y - alpha K s - b||^2 + w sum(s)`` over ``0 <= s <= 1`` to optimality (a primal-dual
    interior-point method on the AR(2) form, O(T) per iteration; projected gradient / FISTA stops
    short of the optimum on slow kernels and then over-counts spikes at half the amplitude),
    rounds it to spikes by a threshold search (least-squares ``alpha``, ``b`` per threshold, chosen
    by residual plus ``ln(T) sigma^2`` per spike, ``sigma`` the measured noise, or with
    ``noise_constrained`` the sparsest one whose residual reaches the noise floor), polishes spike
    positions, re-fits ``alpha`` and repeats until ``alpha`` settles. Without ``warm_counts`` and
    with ``upsample_factor > 1`` the trace is first solved at the frame rate and the fine grid
    starts from those counts (about half the work of starting the fine grid cold). Slow drift is
    tracked as the rolling median of the model residual. See
    ``crates/solver/src/indeca/trace.rs``.

    Parameters
    ----------
    trace : array_like, shape (T,)
        Fluorescence trace (finite values, at least 8 samples).
    tau_rise, tau_decay : float
        Kernel time constants in seconds (0 < tau_rise < tau_decay).
    fs : float
        Sampling rate in Hz.
    upsample_factor : int
        Model-rate multiplier k >= 1 (see :func:`compute_upsample_factor`).
    max_iters : int
        Cap on interior-point iterations per relaxation (one relaxation typically needs 10-30).
    tol : float
        Relative tolerance of each relaxation (duality gap and dual residual).
    hp_enabled, lp_enabled : bool
        Apply the kernel-derived high-pass (``0.25 / (2 pi tau_decay)`` Hz) / low-pass
        (``2 / (2 pi tau_rise)`` Hz) edge first.
    warm_counts : array_like, shape (T,), optional
        Spike counts from a previous solve at the original rate; start from them.
    lambda_ : float
        L1 weight >= 0, as a fraction of one lone spike's explained energy charged per spike.
    noise_constrained : bool
        Threshold rule (as in calab 0.3.0): take the sparsest spike train whose residual sum of
        squares is within two standard deviations of the chi-square noise floor ``T sigma^2``
        (or of the best fit, when model mismatch keeps every fit above the floor), instead of the
        default penalised rule (residual plus ``ln(T) sigma^2`` per spike). Knob-free; it
        suppresses noise fitted as spikes, mostly at low SNR.

    Returns
    -------
    SolveTraceResult

    Examples
    --------
    >>> import numpy as np, calab
    >>> sim = calab.simulate(calab.presets.gcamp6s(num_cells=1, num_timepoints=3000))
    >>> res = calab.solve_trace(sim.traces[0], 0.1, 1.6, 30.0)
    >>> res.s_counts.shape, res.s_counts.dtype
    ((3000,), dtype('float32'))
    """
    y = _f32("trace", trace)
    warm = None if warm_counts is None else _f32("warm_counts", warm_counts)
    counts, alpha, base, pve, th, its, conv = _solver.indeca_solve_trace(
        y,
        _real("tau_rise", tau_rise),
        _real("tau_decay", tau_decay),
        _real("fs", fs),
        _count("upsample_factor", upsample_factor, 1),
        _count("max_iters", max_iters, 1),
        _real("tol", tol),
        bool(hp_enabled),
        bool(lp_enabled),
        _real("lambda_", lambda_),
        warm,
        bool(noise_constrained),
    )
    return SolveTraceResult(counts, alpha, base, th, pve, int(its), bool(conv))


def estimate_kernel(
    traces_flat: ArrayLike,
    spikes_flat: ArrayLike,
    trace_lengths: ArrayLike,
    alphas: ArrayLike,
    baselines: ArrayLike,
    kernel_length: int,
    *,
    max_iters: int = 200,
    tol: float = 1e-4,
    warm_kernel: ArrayLike | None = None,
    smooth_lambda: float = 0.0,
) -> NDArray[np.float32]:
    """Free-form non-negative kernel from traces and their spike trains (the InDeCa kernel stage).

    Solves ``min_{h >= 0} sum_i ||(y_i - b_i) - alpha_i (s_i * h)||^2 + smooth_lambda ||D h||^2``
    (``D`` first differences: a quadratic smoothness penalty, not total variation) by projected
    accelerated gradient on the normal equations. ``h[a]`` is the response ``a`` samples after a
    spike in the same frame grid. See ``crates/solver/src/indeca/kernel_est.rs``.

    Parameters
    ----------
    traces_flat, spikes_flat : array_like, shape (sum(trace_lengths),)
        Concatenated traces and matching spike trains.
    trace_lengths : array_like of int
        Length of each trace.
    alphas, baselines : array_like, shape (n_traces,)
        Per-trace amplitude (>= 0) and baseline.
    kernel_length : int
        Kernel samples, 1 .. longest trace.
    max_iters, tol : int, float
        Iteration cap and relative-change stopping tolerance.
    warm_kernel : array_like, shape (kernel_length,), optional
        Starting kernel.
    smooth_lambda : float
        Weight (>= 0) of the squared first differences of ``h``.

    Returns
    -------
    ndarray of float32, shape (kernel_length,)
    """
    y = _f32("traces_flat", traces_flat)
    s = _f32("spikes_flat", spikes_flat)
    lens = np.asarray(trace_lengths)
    if lens.ndim != 1 or (lens.size and not np.issubdtype(lens.dtype, np.integer)):
        raise ShapeMismatchError(
            f"trace_lengths must be a 1-D array of integers, got {lens.dtype} shape {lens.shape}",
            code="SHAPE_MISMATCH",
        )
    if (lens < 0).any():
        raise ShapeMismatchError("trace_lengths must be >= 0", code="SHAPE_MISMATCH")
    a = np.ascontiguousarray(np.asarray(alphas, dtype=np.float64).reshape(-1))
    b = np.ascontiguousarray(np.asarray(baselines, dtype=np.float64).reshape(-1))
    if s.size == y.size == int(lens.sum()) and not np.any(s):  # shapes are checked below
        raise InvalidParameterError(
            "invalid parameter `spikes_flat`: all zero, so no response to a spike can be "
            "estimated (the kernel would be all zero); give spike trains with at least one "
            "spike",
            code="INVALID_PARAMETER",
        )
    warm = None if warm_kernel is None else _f32("warm_kernel", warm_kernel)
    return _solver.indeca_estimate_kernel(
        y,
        s,
        [int(v) for v in lens],
        a,
        b,
        _count("kernel_length", kernel_length, 0),
        _count("max_iters", max_iters, 0),
        _real("tol", tol),
        _real("smooth_lambda", smooth_lambda),
        warm,
    )


def fit_biexponential(
    h_free: ArrayLike,
    fs: float,
    *,
    refine: bool = True,
    skip: int = 0,
    warm: BiexpFitResult | None = None,
) -> BiexpFitResult:
    """Fit ``beta (exp(-t/tau_decay) - exp(-t/tau_rise))`` to a free-form kernel.

    Samples ``i >= skip`` at ``t = i / fs`` are fitted; amplitudes are solved exactly for each set
    of time constants, which are found by a log-spaced grid and Levenberg-Marquardt (or from
    ``warm``). With ``refine`` a faster second component is added when it removes at least 20 % of
    the residual. See ``crates/solver/src/indeca/biexp.rs``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(120) / 30.0
    >>> fit = fit_biexponential(np.exp(-t / 0.8) - np.exp(-t / 0.05), 30.0)
    >>> round(fit.tau_decay, 3), fit.quality
    (0.8, 'good')
    """
    h = _f32("h_free", h_free)
    warm_json = None
    if warm is not None:  # the core's fit record has no fit_mode (it follows from the others)
        warm_json = json.dumps({k: v for k, v in warm._asdict().items() if k != "fit_mode"})
    raw = json.loads(
        _solver.indeca_fit_biexponential(
            h, _real("fs", fs), bool(refine), _count("skip", skip, 0), warm_json
        )
    )
    out: dict[str, Any] = {
        k: (raw[k] if k == "quality" else float(raw[k]))
        for k in BiexpFitResult._fields if k != "fit_mode"
    }
    for k in ("residual", "r2"):
        if not math.isfinite(out[k]):
            out[k] = float("nan")
    out["fit_mode"] = _fit_mode(out)
    return BiexpFitResult(**out)


def _fit_mode(fit: dict[str, Any]) -> str:
    """calab 0.3.0's ``fit_mode`` label of a fit, from the fitted values (the core's
    ``BiexpFit::has_fast`` rule for the fast component)."""
    if not fit["beta"] > 0:
        return "Degenerate"
    if fit["beta_fast"] > 0 and fit["tau_decay_fast"] > 0:
        return "TwoComponent"
    return "SlowOnly"
