"""dF/F: fluorescence relative to a running-percentile baseline.

``dF/F = (F - F0) / F0`` with ``F0`` a low running percentile of each trace: calcium transients
only ever push fluorescence up, so a low percentile over a window much longer than a transient
follows the resting level under them (and slow bleaching with it). The running percentile is the
Rust core's (``crates/solver/src/baseline.rs``, the same one drift removal uses): the percentile
of the window centred on every W/8-th sample, linearly interpolated in between, and the window
shrunk to the trace when it is longer.

Defaults, and why: the 8th percentile is what both Suite2p (``prctile_baseline = 8``) and CaImAn
(``detrend_df_f(quantileMin=8)``) take; the window is Suite2p's 60 s (``win_baseline``). CaImAn's
default is 500 frames (17 s at 30 Hz), which sits inside a burst of a slow indicator (GCaMP6s
transients last seconds) and then lifts F0 into the transients; 60 s stays below them while
still following bleaching, which takes minutes.

For CaImAn, whose traces ``C`` have the background removed (their baseline is about 0, so
``F / F0`` is undefined), :func:`caiman_dff_inputs` rebuilds what CaImAn's own
``detrend_df_f`` divides by: the background fluorescence under each component.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _solver
from ._errors import (
    FileFormatError,
    InvalidParameterError,
    ValueOutOfRangeError,
    from_code,
    raise_row_errors,
)
from ._validate import as_real, as_traces

__all__ = ["DFF_PERCENTILE", "DFF_WINDOW_S", "caiman_dff_inputs", "dff", "running_percentile"]

#: Default running-percentile window, seconds (Suite2p's ``win_baseline``).
DFF_WINDOW_S = 60.0
#: Default percentile of the baseline (Suite2p's ``prctile_baseline``, CaImAn's ``quantileMin``).
DFF_PERCENTILE = 8.0

FloatArray = NDArray[np.float64]


def _window(window_s: Any, fs: Any) -> int:
    rate = as_real("fs", fs)
    if not (math.isfinite(rate) and rate > 0):
        raise InvalidParameterError(
            f"invalid parameter `fs` = {fs!r}: must be a finite sampling rate > 0 (Hz)",
            code="INVALID_PARAMETER")
    win = as_real("window_s", window_s)
    if not (math.isfinite(win) and win > 0):
        raise InvalidParameterError(
            f"invalid parameter `window_s` = {window_s!r}: must be a finite number of seconds > 0",
            code="INVALID_PARAMETER")
    return max(1, round(win * rate))


def _quantile(percentile: Any) -> float:
    p = as_real("percentile", percentile)
    if not (0.0 <= p <= 100.0):
        raise InvalidParameterError(
            f"invalid parameter `percentile` = {percentile!r}: must lie in [0, 100]",
            code="INVALID_PARAMETER")
    return p / 100.0


def _rolling(arr: FloatArray, window: int, quantile: float) -> FloatArray:
    out, errors = _solver.rolling_quantile_batch(np.ascontiguousarray(arr), window, quantile)
    raise_row_errors(errors)
    return out


def running_percentile(traces: ArrayLike, fs: float, window_s: float = DFF_WINDOW_S,
                       percentile: float = DFF_PERCENTILE) -> FloatArray:
    """The running ``percentile`` of each trace over ``window_s`` seconds (the ``F0`` of
    :func:`dff`), shaped like ``traces``."""
    arr, was_1d = as_traces(traces)
    f0 = _rolling(arr, _window(window_s, fs), _quantile(percentile))
    return f0[0] if was_1d else f0


def dff(
    traces: ArrayLike,
    fs: float,
    *,
    window_s: float = DFF_WINDOW_S,
    percentile: float = DFF_PERCENTILE,
    background: ArrayLike | None = None,
) -> FloatArray:
    """dF/F of fluorescence traces against a running-percentile baseline.

    ``dF/F = (F - F0) / (F0 + B0)``, where ``F0`` is the running ``percentile`` of the trace
    over ``window_s`` seconds and ``B0`` that of ``background`` (0 without one). This is
    CaImAn's ``detrend_df_f`` rule with a fixed percentile; without a background it is the usual
    ``(F - F0) / F0``.

    Parameters
    ----------
    traces : array_like
        Raw (or neuropil-corrected) fluorescence, ``(n_timepoints,)`` or ``(n_cells,
        n_timepoints)``, finite, in fluorescence units whose zero means no light (a trace with
        its background already subtracted needs ``background``).
    fs : float
        Sampling rate in Hz.
    window_s : float
        Window of the running percentile in seconds (default 60; a window longer than the trace
        takes the whole trace).
    percentile : float
        Percentile in [0, 100] (default 8).
    background : array_like, optional
        Fluorescence removed from the traces before they were handed over (CaImAn's background
        under each component, see :func:`caiman_dff_inputs`), shaped like ``traces``.

    Returns
    -------
    ndarray
        dF/F, shaped like ``traces`` (dimensionless; 1 means twice the baseline).

    Raises
    ------
    ValueOutOfRangeError
        A trace whose baseline ``F0 + B0`` is not positive somewhere: dF/F is undefined there
        (typical of background-subtracted traces, or of a neuropil coefficient too large for a
        dim cell); the message names the rows.

    Examples
    --------
    >>> import numpy as np, calab
    >>> f = np.full(600, 100.0); f[300:310] = 150.0   # resting 100, one transient of +50 %
    >>> d = calab.dff(f, fs=10.0)
    >>> round(float(d[0]), 3), round(float(d[305]), 3)
    (0.0, 0.5)
    """
    arr, was_1d = as_traces(traces)
    window = _window(window_s, fs)
    q = _quantile(percentile)
    f0 = _rolling(arr, window, q)
    denom = f0
    if background is not None:
        bg, _ = as_traces(background, "background")
        if bg.shape != arr.shape:
            raise from_code("SHAPE_MISMATCH", f"background has shape {bg.shape}, traces "
                            f"{arr.shape}; they must match")
        denom = f0 + _rolling(bg, window, q)
    low = denom.min(axis=1)
    bad = np.flatnonzero(~(low > 0))
    if bad.size:
        shown = ", ".join(f"{int(i)} (F0 min {low[i]:.4g})" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueOutOfRangeError(
            f"dF/F is undefined where the baseline F0 is not positive: rows {shown}{more}. "
            "The traces look background- or neuropil-subtracted (their resting level is at or "
            "below 0); give the raw fluorescence, a smaller neuropil coefficient, or the "
            "subtracted background",
            code="VALUE_OUT_OF_RANGE")
    out = (arr - f0) / denom
    return out[0] if was_1d else out


def caiman_dff_inputs(path: str | os.PathLike[str], trace_key: str = "estimates/C"
                      ) -> tuple[FloatArray, FloatArray]:
    """``(F, background)`` for :func:`dff` from a CaImAn HDF5 results file, as CaImAn's
    ``detrend_df_f`` forms them.

    With ``a_j`` the spatial footprint of component j (``estimates/A``, stored sparse) scaled to
    unit norm: ``F_j = |a_j| (C_j + YrA_j)`` (denoised trace plus residual, in the units of the
    movie) and ``background_j = a_j^T b f`` (the background under the footprint,
    ``estimates/b`` x ``estimates/f``). Without ``YrA`` the residual is left out; without a
    background model the background is 0 (and dF/F then fails as undefined).
    """
    from .loaders import _require

    h5py = _require("h5py", "calab.dff")
    p = os.fspath(path)
    try:
        fh = h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p} is not a readable HDF5 file: {exc}") from None
    with fh:
        def dataset(name: str) -> Any:
            obj = fh.get(name)
            if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "biuf":
                return None  # CaImAn writes the string 'NoneType' for an empty field
            return obj[()]

        c = dataset(trace_key)
        if c is None:
            raise FileFormatError(f"{p}: no numeric dataset {trace_key!r}")
        c = np.atleast_2d(np.asarray(c, dtype=np.float64))
        n_cells, n_t = c.shape
        yra = dataset("estimates/YrA")
        if yra is not None:
            yra = np.atleast_2d(np.asarray(yra, dtype=np.float64))
            if yra.shape != c.shape:
                raise FileFormatError(f"{p}: estimates/YrA has shape {yra.shape}, "
                                      f"{trace_key} {c.shape}")
            c = c + yra
        parts = [dataset(f"estimates/A/{k}") for k in ("data", "indices", "indptr", "shape")]
        if any(x is None for x in parts):
            raise FileFormatError(f"{p}: no sparse spatial footprints estimates/A "
                                  "(data, indices, indptr, shape): cannot form CaImAn's dF/F")
        data, indices, indptr, shape = (np.asarray(x) for x in parts)
        n_pix, n_comp = (int(v) for v in shape.reshape(-1)[:2])
        if n_comp != n_cells or indptr.size != n_comp + 1 or indices.size != data.size \
                or (indices.size and (indices.min() < 0 or indices.max() >= n_pix)):
            raise FileFormatError(f"{p}: estimates/A does not describe {n_cells} footprints")
        b = dataset("estimates/b")
        f = dataset("estimates/f")
    norms = np.sqrt(np.add.reduceat(data.astype(np.float64) ** 2, indptr[:-1])
                    if data.size else np.zeros(n_comp))
    norms = np.where(np.diff(indptr) > 0, norms, 0.0)
    if not np.all(norms > 0):
        raise FileFormatError(f"{p}: components {np.flatnonzero(~(norms > 0)).tolist()} have "
                              "empty footprints")
    fluor = c * norms[:, None]
    background = np.zeros((n_cells, n_t))
    if b is not None and f is not None:
        b2 = np.asarray(b, dtype=np.float64).reshape(n_pix, -1)
        f2 = np.atleast_2d(np.asarray(f, dtype=np.float64))
        if f2.shape != (b2.shape[1], n_t):
            raise FileFormatError(f"{p}: estimates/b {b2.shape} and estimates/f {f2.shape} do "
                                  f"not match {n_t} frames")
        ab = np.empty((n_comp, b2.shape[1]))
        for j in range(n_comp):
            lo, hi = indptr[j], indptr[j + 1]
            ab[j] = (data[lo:hi] / norms[j]) @ b2[indices[lo:hi]]
        background = ab @ f2
    return fluor, background
