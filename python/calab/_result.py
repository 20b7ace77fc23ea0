"""One result shape for every solver: the fields any caller may rely on, whatever solved.

Each solver keeps its own NamedTuple (``DeconvolutionResult``, ``L0Result``, ``ConvarResult``,
``CaDeconResult``) with its historical fields first, so existing code that reads ``.spikes`` or
``.rates`` keeps working. On top of those, every one of them answers the five shared names of
:class:`ActivityResult` (real fields where the data are new, read-only aliases where a field
already holds them), so ``deconvolve_from_export``, the CLI, the Dask path, the bridge and
:func:`calab.save_nwb` never need to know which solver ran.

The ``noise`` field is the per-trace noise standard deviation of the *input* (trace units),
from :func:`calab.estimate_noise` (the power-spectrum estimate of the Rust core).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from . import _solver

__all__ = ["ActivityResult", "concat_rows", "input_noise"]


@runtime_checkable
class ActivityResult(Protocol):
    """What every deconvolution result provides, whichever solver produced it.

    For 1-D input (one trace) the per-trace values are scalars; for 2-D input (cells x time)
    they are arrays with one value per cell.

    Attributes
    ----------
    activity : ndarray
        The inferred activity, shaped like the input (L1: ``activity``; L0: ``spikes``;
        Convar: ``rates``; InDeCa: spike counts per frame).
    baseline : float or ndarray
        Constant baseline per trace, in trace units (0 for L0, whose model has none).
    reconvolution : ndarray
        The model of the (preprocessed) trace the solver fitted, baseline included, shaped like
        the input.
    noise : float or ndarray
        Noise standard deviation of each input trace, trace units (NaN when unknown).
    converged : bool or ndarray
        Per trace: the solver met its stopping rule (always True for the exact L0 solution).
    solver : str
        ``"l1"``, ``"l0"``, ``"convar"`` or ``"indeca"``.
    """

    @property
    def activity(self) -> Any: ...
    @property
    def baseline(self) -> Any: ...
    @property
    def reconvolution(self) -> Any: ...
    @property
    def noise(self) -> Any: ...
    @property
    def converged(self) -> Any: ...
    @property
    def solver(self) -> str: ...


def input_noise(arr: NDArray[np.float64], was_1d: bool) -> Any:
    """Noise sigma per row of a validated 2-D array: a float for 1-D input, an array otherwise.

    NaN for a row too short to measure (fewer than 3 samples), so the field always exists.
    """
    sigma, _errors = _solver.estimate_noise_batch(np.ascontiguousarray(arr, dtype=np.float64))
    return float(sigma[0]) if was_1d else sigma


def concat_rows(parts: list[Any]) -> Any:
    """Stack the results of consecutive row blocks into one result of the same type."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return type(first)(*[
        np.concatenate([np.atleast_1d(np.asarray(getattr(p, name))) for p in parts])
        for name in first._fields
    ])
