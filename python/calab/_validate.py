"""Input checks shared by the public functions: shape, dtype and finiteness, up front, with
messages that name the offending row and sample."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._errors import (
    InvalidParameterError,
    NonFiniteInputError,
    ShapeMismatchError,
    TraceTooShortError,
)


def as_traces(traces: ArrayLike, name: str = "traces") -> tuple[NDArray[np.float64], bool]:
    """Return (C-contiguous float64 2-D array, was_1d). Raises on bad shape, dtype or values."""
    if traces is None:
        raise ShapeMismatchError(f"{name} is None; give a 1-D or 2-D array of samples",
                                 code="SHAPE_MISMATCH")
    try:
        arr = np.asarray(traces)
    except ValueError as exc:  # ragged nested lists
        raise ShapeMismatchError(
            f"{name} is ragged (rows of different lengths?): numpy cannot make one array of it "
            f"({exc}); give a 1-D trace or a 2-D (cells x time) array",
            code="SHAPE_MISMATCH",
        ) from None
    kind = arr.dtype.kind
    if kind == "O" or np.issubdtype(arr.dtype, np.complexfloating) or kind in "USV":
        raise ShapeMismatchError(
            f"{name} must hold real numbers, got dtype {arr.dtype}", code="SHAPE_MISMATCH"
        )
    if arr.ndim not in (1, 2):
        raise ShapeMismatchError(
            f"{name} must be 1-D (one trace) or 2-D (cells x time), got shape {arr.shape}",
            code="SHAPE_MISMATCH",
        )
    was_1d = arr.ndim == 1
    arr2 = np.ascontiguousarray(arr.reshape(1, -1) if was_1d else arr, dtype=np.float64)
    if arr2.shape[1] == 0:
        raise TraceTooShortError(
            f"{name} has no time points (shape {arr.shape})", code="TRACE_TOO_SHORT"
        )
    finite = np.isfinite(arr2)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        row = int(bad_rows[0])
        bad = np.flatnonzero(~finite[row])
        where = "" if was_1d else f"row {row} "
        extra = "" if was_1d or len(bad_rows) == 1 else f" ({len(bad_rows)} rows affected)"
        raise NonFiniteInputError(
            f"{name} {where}contains {len(bad)} non-finite sample(s) (NaN/Inf), first at index "
            f"{int(bad[0])}{extra}; drop them, or fill them as CaTune does with "
            "nan_policy='interpolate' (CLI: --nan-policy interpolate; calab.fill_nan)",
            code="NON_FINITE_INPUT",
        )
    return arr2, was_1d


def as_trace_1d(trace: ArrayLike, name: str = "trace") -> NDArray[np.float64]:
    arr = np.asarray(trace)
    if arr.ndim != 1:
        raise ShapeMismatchError(
            f"{name} must be 1-D, got shape {arr.shape}", code="SHAPE_MISMATCH"
        )
    out, _ = as_traces(arr, name)
    row: NDArray[np.float64] = out[0]
    return row


def as_real(name: str, value: object) -> float:
    """``value`` as a float, or INVALID_PARAMETER naming ``name`` (range checks: the caller).

    One number only: arrays with a dimension (``np.array([30.0])``), strings, None and bools are
    refused rather than converted.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or (
            isinstance(value, np.ndarray) and value.ndim > 0):
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise InvalidParameterError(
            f"{name} must be a single real number, got {type(value).__name__}{shape}: "
            f"{str(value)[:60]}",
            code="INVALID_PARAMETER",
        )
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"{name} must be a real number, got {value!r}", code="INVALID_PARAMETER"
        ) from None
    return out


def as_count(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), or INVALID_PARAMETER naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidParameterError(
            f"invalid parameter `{name}` = {value!r}: must be an integer >= {minimum}",
            code="INVALID_PARAMETER",
        )
    return int(value)
