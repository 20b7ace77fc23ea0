"""Missing frames (NaN, +-Inf) in traces: the ``nan_policy`` of the entry points.

``"raise"`` (the default) refuses non-finite samples with :class:`calab.NonFiniteInputError`.
``"interpolate"`` fills them first with the rule CaTune and CaDecon apply on import, implemented
once in the Rust core (``crates/solver/src/gaps.rs``; the browser's ``web/shared/traces.ts`` is
checked against the same fixture, ``tests/fixtures/nan_fill.json``): each run of missing frames
between two finite ones becomes the straight line between them, a run at either end takes the
nearest finite value, and a trace with no finite value becomes zeros. How many frames were
filled in each cell is reported with a :class:`FilledFramesWarning` (its ``filled`` attribute);
:func:`fill_nan` gives the same numbers directly.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _solver
from ._errors import ShapeMismatchError, UnknownOptionError

NAN_POLICIES = ("raise", "interpolate")


class FilledTraces(NamedTuple):
    """Result of :func:`fill_nan`."""

    #: The traces with every non-finite sample filled (float64, same shape as the input).
    traces: NDArray[np.float64]
    #: Frames filled per cell (an int for a 1-D trace).
    filled: NDArray[np.int64] | int


class FilledFramesWarning(UserWarning):
    """Issued when ``nan_policy="interpolate"`` filled missing frames; ``filled`` holds the
    number per cell (``empty`` the cells that had no finite value at all and are now zeros)."""

    def __init__(self, message: str, filled: NDArray[np.int64], empty: list[int]) -> None:
        super().__init__(message)
        self.filled = filled
        self.empty = empty


def fill_nan(traces: ArrayLike) -> FilledTraces:
    """Fill the non-finite samples of one trace (1-D) or many (2-D, cells x time).

    Examples
    --------
    >>> import numpy as np, calab
    >>> out = calab.fill_nan([np.nan, 1.0, np.nan, np.nan, 4.0, np.inf, 6.0, np.nan])
    >>> out.traces.tolist(), out.filled
    ([1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0], 5)
    """
    try:
        arr = np.asarray(traces)
    except ValueError as exc:
        raise ShapeMismatchError(f"traces is ragged: {exc}", code="SHAPE_MISMATCH") from None
    if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
        raise ShapeMismatchError(
            f"traces must be a 1-D or 2-D array of real numbers, got {arr.dtype} "
            f"shape {arr.shape}", code="SHAPE_MISMATCH")
    was_1d = arr.ndim == 1
    two = np.ascontiguousarray(arr.reshape(1, -1) if was_1d else arr, dtype=np.float64)
    out, counts = _solver.fill_non_finite(two)
    filled = counts.astype(np.int64)
    if was_1d:
        return FilledTraces(out[0], int(filled[0]))
    return FilledTraces(out, filled)


def check_policy(nan_policy: Any) -> str:
    if not isinstance(nan_policy, str) or nan_policy not in NAN_POLICIES:
        raise UnknownOptionError(
            f"unknown nan_policy `{nan_policy}`; expected one of: {', '.join(NAN_POLICIES)}",
            code="UNKNOWN_OPTION")
    return nan_policy


def _outside_calab() -> int:
    """The stacklevel of the first caller outside the calab package (the user's line)."""
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def apply(traces: Any, nan_policy: Any) -> Any:
    """``traces`` as given (``"raise"``: the caller's checks refuse non-finite samples), or
    filled (``"interpolate"``), with a :class:`FilledFramesWarning` when anything was filled."""
    if check_policy(nan_policy) == "raise":
        return traces
    arr = np.asarray(traces)
    if arr.dtype.kind not in "f" or np.isfinite(arr).all():
        return traces
    out = fill_nan(arr)
    filled = np.atleast_1d(np.asarray(out.filled, dtype=np.int64))
    n_t = arr.shape[-1]
    empty = [int(i) for i in np.flatnonzero(filled == n_t)] if n_t else []
    hit = np.flatnonzero(filled)
    shown = ", ".join(f"{int(i)}: {int(filled[i])}" for i in hit[:10])
    more = f", ... ({len(hit) - 10} more)" if len(hit) > 10 else ""
    msg = (f"nan_policy='interpolate' filled {int(filled.sum())} non-finite frame(s) in "
           f"{len(hit)} of {len(filled)} cell(s) by linear interpolation (frames per cell: "
           f"{shown}{more})")
    if empty:
        msg += f"; {len(empty)} cell(s) had no finite value and are all zeros"
    warnings.warn(FilledFramesWarning(msg, filled, empty), stacklevel=_outside_calab())
    return out.traces
