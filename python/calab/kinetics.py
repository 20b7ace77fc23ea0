"""Calcium kinetics learned from a recording, for the automatic path.

:func:`estimate_kinetics` runs the InDeCa outer loop of the Rust core
(``crates/solver/src/auto.rs``)
on the traces normalised to zero median and unit noise, so units and offsets do not matter, and
keeps the final kernel when it is physically plausible. What it had to correct, or what the user
should check, comes back in ``warnings`` and as a :class:`KineticsWarning`.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _solver
from ._errors import InvalidParameterError, KineticsWarning
from ._validate import as_real, as_traces
from .cadecon import DeconConfig, _resolve_config

__all__ = ["KineticsEstimate", "KineticsWarning", "estimate_kinetics"]


class KineticsEstimate(NamedTuple):
    """Result of :func:`estimate_kinetics` (times in seconds)."""

    #: Rise time constant to use.
    tau_rise: float
    #: Decay time constant to use.
    tau_decay: float
    #: What the loop learned, before any correction.
    learned_tau_rise: float
    learned_tau_decay: float
    #: "good", "fair" or "poor" (R^2 of the bi-exponential fit of the learned kernel).
    fit_quality: str
    kernel_r2: float
    iterations: int
    converged: bool
    #: Why the result differs from what was learned, or what to check; empty when all is well.
    warnings: tuple[str, ...]


def estimate_kinetics(
    traces: ArrayLike, fs: float, config: DeconConfig | None = None, *, warn: bool = True,
    **overrides: Any,
) -> KineticsEstimate:
    """Learn the rise and decay time constants of a recording from the data alone.

    The InDeCa loop (see :func:`calab.run_indeca`) alternates binary spike inference with a
    fitted amplitude and a free-form kernel estimate on random cells x time subsets until the
    kernel stops changing. A learned ``tau_decay`` outside 0.03-5 s is clamped into that range
    and a rise of more than half the decay is shortened, each with a warning; a poor fit or a
    loop that did not settle is reported too.

    Parameters
    ----------
    traces : array_like
        ``(n_cells, n_timepoints)`` or ``(n_timepoints,)``; finite values in any units.
    fs : float
        Frame rate (Hz).
    config : DeconConfig, optional
        InDeCa loop settings (``**overrides`` replace single fields, e.g. ``seed=1``).
    warn : bool
        Also issue each entry of ``warnings`` as a :class:`KineticsWarning`.

    Returns
    -------
    KineticsEstimate
    """
    cfg = _resolve_config(config, dict(overrides))
    fs_f = as_real("fs", fs)
    if not (np.isfinite(fs_f) and fs_f > 0):
        raise InvalidParameterError(
            f"invalid parameter `fs` = {fs!r}: must be a finite number > 0 (Hz)",
            code="INVALID_PARAMETER")
    arr, _ = as_traces(traces)
    out = json.loads(_solver.estimate_kinetics_json(arr, fs_f, cfg.to_json()))
    est = KineticsEstimate(
        float(out["tau_rise"]), float(out["tau_decay"]), float(out["learned_tau_rise"]),
        float(out["learned_tau_decay"]), str(out["fit_quality"]), float(out["kernel_r2"]),
        int(out["iterations"]), bool(out["converged"]), tuple(out["warnings"]))
    if warn:
        for message in est.warnings:
            warnings.warn(message, KineticsWarning, stacklevel=2)
    return est
