"""``calab.decon``: run CaDecon (InDeCa) on local traces in the browser and collect its results.

The configuration is validated as a :class:`calab.DeconConfig` before any server or browser
starts. The app receives only the fields the caller set (plus ``autorun``), so everything else
falls through to the defaults both sides take from ``schemas/cadecon-config.schema.json``.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._errors import BridgeError, InvalidParameterError
from ._api import run_session
from .session import BridgeSession

if TYPE_CHECKING:
    from .._headless import HeadlessBrowser
    from ..cadecon import CaDeconResult


def _print_progress(msg: dict[str, Any]) -> None:
    fraction = float(msg.get("fraction", 0.0))
    text = msg.get("message") or ""
    print(f"calab decon: {msg.get('phase', '?')} {100 * fraction:5.1f}% {text}".rstrip(),
          file=sys.stderr, flush=True)


def _floats(values: Any, n: int, name: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        raise BridgeError(f"CaDecon results: '{name}' must list {n} values, got {values!r:.80}")
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def result_from_bridge(results: dict[str, Any], activity: np.ndarray,
                       fs: float, num_timepoints: int) -> CaDeconResult:
    """Assemble a :class:`calab.CaDeconResult` from CaDecon's results JSON and activity array,
    checking that every row is attributed to exactly one cell of the recording."""
    from ..cadecon import CaDeconResult

    act = np.asarray(activity)
    if act.ndim == 1:
        act = act.reshape(1, -1)
    indices = results.get("cell_indices")
    if not isinstance(indices, list) or any(not isinstance(i, int) for i in indices):
        raise BridgeError("CaDecon results lack an integer 'cell_indices' list")
    if act.shape != (len(indices), num_timepoints):
        raise BridgeError(
            f"CaDecon activity has shape {act.shape}, expected ({len(indices)}, {num_timepoints})"
            " (one row per entry of cell_indices)"
        )
    if len(set(indices)) != len(indices):
        raise BridgeError("CaDecon results list a cell index twice")
    if not np.all(np.isfinite(act)):
        raise BridgeError("CaDecon activity contains NaN or Inf")
    n = len(indices)
    return CaDeconResult(
        activity=act.astype(np.float32),
        alphas=_floats(results.get("alphas"), n, "alphas"),
        baselines=_floats(results.get("baselines"), n, "baselines"),
        pves=_floats(results.get("pves"), n, "pves"),
        kernel_slow=np.asarray(results.get("kernel_slow") or [], dtype=np.float32),
        kernel_fast=np.asarray(results.get("kernel_fast") or [], dtype=np.float32),
        fs=float(results.get("fs", fs)),
        metadata=dict(results),
    )


class _Unset(enum.Enum):
    """Type of :data:`UNSET`: a setting not given at all, as opposed to one given as ``None``."""

    UNSET = "unset"


#: Default of ``decon(upsample_target=...)``: not given, so the app's default (90 Hz) applies.
#: ``None`` is a value there, as in :class:`calab.DeconConfig` and :func:`calab.run_indeca`:
#: spikes on the frame grid, no upsampling.
UNSET = _Unset.UNSET


def decon(
    traces: ArrayLike,
    fs: float = 30.0,
    timeout: float | None = None,
    port: int | None = None,
    app_url: str | None = None,
    open_browser: bool = True,
    headless: HeadlessBrowser | bool | None = None,
    *,
    autorun: bool = False,
    upsample_target: float | None | _Unset = UNSET,
    hp_filter_enabled: bool | None = None,
    lp_filter_enabled: bool | None = None,
    max_iterations: int | None = None,
    convergence_tol: float | None = None,
    num_subsets: int | None = None,
    target_coverage: float | None = None,
    aspect_ratio: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    heartbeat_timeout: float = 15.0,
    on_ready: Callable[[str], None] | None = None,
    progress: bool | Callable[[dict[str, Any]], None] = True,
) -> CaDeconResult | None:
    """Open CaDecon on ``traces`` and wait for its results (kernel and activity learned by InDeCa).

    Starts a bridge server on 127.0.0.1 serving the traces and the bundled CaDecon app, opens the
    app (system browser, a printed URL, or a headless Playwright Chromium) and blocks until the
    app posts its activity and results, the run is cancelled, or the timeout passes.

    Parameters
    ----------
    traces : array_like
        ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``, finite values.
    fs : float
        Sampling rate in Hz.
    timeout : float, optional
        Seconds to wait; ``None`` waits until results, cancel or Ctrl-C.
    port : int, optional
        Port on 127.0.0.1 (default: any free port).
    app_url : str, optional
        Hosted CaDecon to open instead of the bundled copy.
    open_browser : bool
        Open the system browser (otherwise print the URL).
    headless : HeadlessBrowser or bool, optional
        Run in a Playwright browser: ``True`` starts one for this call, a
        :class:`calab.HeadlessBrowser` is reused (batch runs over many recordings). Needs
        ``autorun=True``, since nobody is there to press start.
    autorun : bool
        Start the run as soon as the data is loaded and post the results when it completes.
    upsample_target : float or None, optional
        Rate (Hz) of the grid spikes are placed on, as in :class:`calab.DeconConfig` and
        :func:`calab.run_indeca`: ``None`` means the frame rate (no upsampling); not given, the
        default of ``schemas/cadecon-config.schema.json`` (90 Hz).
    hp_filter_enabled, lp_filter_enabled, max_iterations, convergence_tol, num_subsets, \
target_coverage, aspect_ratio, seed
        InDeCa settings (see :class:`calab.DeconConfig`); ``None`` keeps the app's default.
    workers : int, optional
        Browser workers the run may use (the page's own and its helpers); ``None``: one per core,
        at most 8. The results do not depend on it; ``metadata['provenance']['workers']`` says
        how many took part.
    heartbeat_timeout : float
        Seconds without any message, after the first, before giving up.
    on_ready : callable, optional
        Called with the launch URL once the server listens.
    progress : bool or callable
        Print the app's progress messages to stderr (``True``) or pass each to a callable.

    Returns
    -------
    CaDeconResult or None
        ``activity`` (cells x time, float32 spike counts at ``fs``), ``alphas``, ``baselines``,
        ``pves`` (NaN for cells that failed; see ``metadata['cell_errors']``), ``kernel_slow``,
        ``kernel_fast``, ``fs`` and ``metadata`` (the results JSON: ``cell_indices``, the
        learned ``tau_rise``/``tau_decay``, ``partial`` when the run was stopped early, ...).
        ``None`` on timeout, cancel, Ctrl-C or lost heartbeat.

    Raises
    ------
    InvalidParameterError
        Bad traces, fs or settings, before any server or browser starts.
    """
    from ..cadecon import DeconConfig

    settings = {
        "hp_filter_enabled": hp_filter_enabled, "lp_filter_enabled": lp_filter_enabled,
        "max_iterations": max_iterations,
        "convergence_tol": convergence_tol, "num_subsets": num_subsets,
        "target_coverage": target_coverage, "aspect_ratio": aspect_ratio, "seed": seed,
    }
    chosen: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if upsample_target is not UNSET:  # None is a value here: no upsampling, as in run_indeca
        chosen["upsample_target"] = upsample_target
    try:
        config = DeconConfig(**chosen)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidParameterError(f"invalid CaDecon settings: {exc}") from None
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise InvalidParameterError(f"workers must be an integer >= 1 or None, got {workers!r}")
    if headless not in (None, False) and not autorun:
        raise InvalidParameterError(
            "headless CaDecon runs need autorun=True (nobody is there to press start)"
        )
    on_progress: Callable[[dict[str, Any]], None] | None
    if callable(progress):
        on_progress = progress
    else:
        on_progress = _print_progress if progress else None
    session_config: dict[str, Any] = {"autorun": bool(autorun)}
    session_config.update(config.model_dump(include=set(chosen), mode="json"))
    if workers is not None:
        session_config["workers"] = workers
    session = BridgeSession(traces, fs, app="cadecon", source="calab.decon",
                            config=session_config, on_progress=on_progress)
    # Results that cannot be assembled are refused while the page can still save them.
    session.check_results = lambda results, activity: result_from_bridge(
        results, activity, session.fs, int(session.traces.shape[1]))
    outcome = run_session(
        session, timeout=timeout, port=port, app_url=app_url, open_browser=open_browser,
        headless=headless, heartbeat_timeout=heartbeat_timeout, on_ready=on_ready,
    )
    if outcome != "results" or session.results is None or session.activity is None:
        return None
    from .._result import input_noise

    result = result_from_bridge(session.results, session.activity, session.fs,
                                int(session.traces.shape[1]))
    rows = np.asarray(session.traces)[result.metadata["cell_indices"]]
    return result._replace(noise=input_noise(rows, False))
