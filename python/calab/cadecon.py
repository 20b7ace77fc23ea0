"""Automated deconvolution with InDeCa: learn the calcium kernel from the recording, then infer
activity for every cell with it. The same outer loop runs in the CaDecon browser app (as
WebAssembly); here it runs natively in the Rust core (``crates/solver/src/indeca/run.rs``).

:class:`DeconConfig` follows ``schemas/cadecon-config.schema.json``, the one source of the
InDeCa settings: its defaults are read from that file, and the tests check its bounds equal the
schema's and that Rust's ``IndecaConfig`` defaults agree (tests/python/test_config_schemas.py).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _gaps, _solver
from ._errors import InvalidParameterError, KineticsWarning, from_code
from ._result import input_noise
from ._schema_files import load_schema
from ._validate import as_real, as_traces

__all__ = ["CaDeconResult", "DeconConfig", "run_indeca"]

_SCHEMA = load_schema("cadecon-config.schema.json")
_DEFAULT: dict[str, Any] = {key: prop["default"] for key, prop in _SCHEMA["properties"].items()}
_MAX_ITER = 200
_MAX_SEED = 2**53 - 1


def _d(key: str) -> Any:
    return _DEFAULT[key]


class DeconConfig(BaseModel):
    """Settings of the InDeCa outer loop (field names are the JSON keys of the config schema).

    Rates in Hz, times in seconds. ``None`` for ``upsample_target`` means no upsampling; for
    ``tau_rise_init``/``tau_decay_init`` (set both or neither) a peak-based first guess; for
    ``kernel_length_s`` an automatic length. Unknown fields, NaN/Inf and out-of-range values are
    rejected here, before anything runs.
    """

    # ``lambda`` is a Python keyword: the attribute is ``lambda_``, the JSON key ``lambda``;
    # both spellings are accepted as input, and :meth:`to_json` writes ``lambda``.
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, allow_inf_nan=False, populate_by_name=True
    )

    # Optional[...] rather than `float | None`: pydantic evaluates these annotations at class
    # creation, and the `|` form needs Python >= 3.10.
    upsample_target: Optional[float] = Field(  # noqa: UP045
        default=_d("upsample_target"), gt=0, le=100_000
    )
    hp_filter_enabled: bool = _d("hp_filter_enabled")
    lp_filter_enabled: bool = _d("lp_filter_enabled")
    max_iterations: int = Field(default=_d("max_iterations"), ge=1, le=_MAX_ITER)
    convergence_tol: float = Field(default=_d("convergence_tol"), gt=0, lt=1)
    patience: int = Field(default=_d("patience"), ge=1, le=_MAX_ITER)
    min_iterations: int = Field(default=_d("min_iterations"), ge=1, le=_MAX_ITER)
    num_subsets: int = Field(default=_d("num_subsets"), ge=1, le=256)
    target_coverage: float = Field(default=_d("target_coverage"), gt=0, le=1)
    aspect_ratio: float = Field(default=_d("aspect_ratio"), gt=0)
    seed: int = Field(default=_d("seed"), ge=0, le=_MAX_SEED)
    tau_rise_init: Optional[float] = Field(default=_d("tau_rise_init"), gt=0)  # noqa: UP045
    tau_decay_init: Optional[float] = Field(default=_d("tau_decay_init"), gt=0)  # noqa: UP045
    kernel_length_s: Optional[float] = Field(default=_d("kernel_length_s"), gt=0)  # noqa: UP045
    smooth_lambda: float = Field(default=_d("smooth_lambda"), ge=0)
    refine_fast: bool = _d("refine_fast")
    lambda_: float = Field(default=_d("lambda"), ge=0, alias="lambda")
    max_solver_iters: int = Field(default=_d("max_solver_iters"), ge=1, le=100_000)

    def to_json(self) -> str:
        """The config as the core's JSON (keys as in the schema)."""
        return self.model_dump_json(by_alias=True)


class CaDeconResult(NamedTuple):
    """Result of :func:`run_indeca` (and of :func:`calab.decon` through the browser); an
    :class:`calab.ActivityResult`. The first eight fields are calab 0.3.0's, in its order.

    Attributes
    ----------
    activity : ndarray, float32, (n_cells, n_timepoints)
        Inferred spikes per frame at the original rate (the L1 deconvolution with the final
        kernel divided by the cell's ``alphas``; not rounded); all zeros for failed cells and
        for cells a partial run did not reach.
    alphas : ndarray, float64, (n_cells,)
        Fluorescence amplitude of one spike per cell (NaN for failed or unreached cells).
    baselines : ndarray, float64, (n_cells,)
        Baseline fluorescence per cell (NaN as above).
    pves : ndarray, float64, (n_cells,)
        Proportion of variance explained per cell (NaN as above).
    kernel_slow : ndarray, float32
        Learned bi-exponential kernel, peak 1, sample spacing ``metadata['kernel_dt']`` seconds.
    kernel_fast : ndarray, float32
        Fast component relative to the slow one (empty without one).
    fs : float
        Frame rate (Hz).
    metadata : dict
        The results JSON (``schemas/cadecon-results.schema.json``): ``tau_rise``,
        ``tau_decay`` (s), ``cell_indices``, ``cell_errors``, ``iterations``, ``converged``,
        ``partial``, ``history`` (one entry per iteration), the effective ``config``, ...
    noise : ndarray, float64, (n_cells,)
        Noise standard deviation of each input trace, trace units (see
        :func:`calab.estimate_noise`; NaN when unknown).

    The shared names ``baseline`` (= ``baselines``), ``converged`` (per cell: solved in the
    final pass, finite ``alphas`` and ``baselines``), ``reconvolution`` and ``rates`` are
    read-only properties.
    """

    activity: NDArray[np.float32]
    alphas: NDArray[np.float64]
    baselines: NDArray[np.float64]
    pves: NDArray[np.float64]
    kernel_slow: NDArray[np.float32]
    kernel_fast: NDArray[np.float32]
    fs: float
    metadata: dict[str, Any]
    noise: NDArray[np.float64] = np.full(0, np.nan)

    @property
    def baseline(self) -> NDArray[np.float64]:
        """Alias of ``baselines``."""
        return self.baselines

    @property
    def converged(self) -> NDArray[np.bool_]:
        """Per cell: the final pass solved it (finite amplitude and baseline).

        ``metadata["converged"]`` says whether the kernel loop converged.
        """
        return np.isfinite(self.alphas) & np.isfinite(self.baselines)

    @property
    def rates(self) -> NDArray[np.float64]:
        """Spikes per frame times ``fs``: spikes per second, per frame."""
        return np.asarray(self.activity, dtype=np.float64) * float(self.fs)

    @property
    def reconvolution(self) -> NDArray[np.float64]:
        """``alpha * (kernel * spikes) + baseline`` per cell at the frame rate (NaN rows for
        unsolved cells).

        The learned slow kernel is taken at the frame times of the model grid, so each frame's
        spikes sit at the start of their frame; the solver placed them within the frame on its
        upsampled grid, so this is the fitted model up to that sub-frame shift. It models the
        preprocessed trace (after any filters and drift removal the run applied).
        """
        counts = np.atleast_2d(np.asarray(self.activity, dtype=np.float64))
        k = max(1, int(self.metadata.get("upsample_factor", 1) or 1))
        h = np.asarray(self.kernel_slow, dtype=np.float64)[::k]
        n_t = counts.shape[1]
        if h.size == 0 or n_t == 0:
            return np.full(counts.shape, np.nan)
        n_fft = 1 << int(math.ceil(math.log2(n_t + h.size)))
        model = np.fft.irfft(np.fft.rfft(counts, n_fft) * np.fft.rfft(h, n_fft), n_fft)[:, :n_t]
        out: NDArray[np.float64] = self.alphas[:, None] * model + self.baselines[:, None]
        return out

    @property
    def solver(self) -> str:
        """``"indeca"``."""
        return "indeca"


ProgressFn = Callable[[dict[str, Any]], None]


def _config_error(exc: ValidationError) -> InvalidParameterError:
    parts = [
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
        for err in exc.errors()
    ]
    return InvalidParameterError(
        "invalid CaDecon config: " + "; ".join(parts), code="INVALID_PARAMETER"
    )


def _resolve_config(config: DeconConfig | None, overrides: dict[str, Any]) -> DeconConfig:
    if config is not None and not isinstance(config, DeconConfig):
        raise InvalidParameterError(
            f"config must be a calab.DeconConfig or None, got {type(config).__name__}",
            code="INVALID_PARAMETER",
        )
    data = (config or DeconConfig()).model_dump(by_alias=True)
    for key, value in overrides.items():
        name = "lambda" if key == "lambda_" else key
        if name not in data:
            known = ", ".join(sorted(data))
            raise from_code(
                "UNKNOWN_OPTION", f"unknown CaDecon config field `{key}`; known: {known}"
            )
        data[name] = value
    try:
        cfg = DeconConfig.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc) from None
    if (cfg.tau_rise_init is None) != (cfg.tau_decay_init is None):
        raise InvalidParameterError(
            "tau_rise_init and tau_decay_init must be set together (or both None for the "
            f"peak-based seed); got {cfg.tau_rise_init!r} and {cfg.tau_decay_init!r}",
            code="INVALID_PARAMETER",
        )
    rise, decay = cfg.tau_rise_init, cfg.tau_decay_init
    if rise is not None and decay is not None and rise >= decay:
        raise InvalidParameterError(
            f"tau_rise_init = {cfg.tau_rise_init} must be < tau_decay_init = {cfg.tau_decay_init}",
            code="INVALID_PARAMETER",
        )
    return cfg


class _Reporter:
    """Turns progress events into the caller's choice: nothing, a callable, or a tqdm bar."""

    def __init__(self, progress: None | bool | ProgressFn, max_iterations: int, n_cells: int):
        self.fn: ProgressFn | None = None
        self.bar: Any = None
        self.n_cells = n_cells
        if callable(progress):
            self.fn = progress
        elif progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.fn = self._print
            else:
                self.bar = tqdm(total=max_iterations, desc="InDeCa kernel", unit="it",
                                file=sys.stderr)

    @staticmethod
    def _print(event: dict[str, Any]) -> None:
        if event["stage"] == "iteration":
            r = event["report"]
            print(f"InDeCa iteration {r['iteration']}: tau_rise={r['tau_rise']:.4f} s "
                  f"tau_decay={r['tau_decay']:.4f} s change={r['kernel_change']:.4f}",
                  file=sys.stderr, flush=True)
        else:
            print(f"InDeCa final pass: {event['done']}/{event['total']} cells",
                  file=sys.stderr, flush=True)

    def __call__(self, event: dict[str, Any]) -> None:
        if self.fn is not None:
            self.fn(event)
        if self.bar is not None:
            if event["stage"] == "iteration":
                r = event["report"]
                self.bar.update(1)
                self.bar.set_postfix(tau_rise=f"{r['tau_rise']:.3f}",
                                     tau_decay=f"{r['tau_decay']:.3f}",
                                     change=f"{r['kernel_change']:.3g}")
            elif event["done"] == 0:
                self.bar.close()
                from tqdm.auto import tqdm

                self.bar = tqdm(total=event["total"], desc="InDeCa final pass", unit="cell",
                                file=sys.stderr)
            else:
                self.bar.update(event["done"] - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _nan_floats(values: list[Any]) -> NDArray[np.float64]:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _collect(run: Any, fs: float, was_1d: bool, traces: NDArray[np.float64]) -> CaDeconResult:
    meta: dict[str, Any] = json.loads(run.result_json())
    activity = np.asarray(run.activity(), dtype=np.float32)
    if was_1d:
        meta["input_was_1d"] = True
    return CaDeconResult(
        activity=activity,
        alphas=_nan_floats(meta["alphas"]),
        baselines=_nan_floats(meta["baselines"]),
        pves=_nan_floats(meta["pves"]),
        kernel_slow=np.asarray(meta["kernel_slow"], dtype=np.float32),
        kernel_fast=np.asarray(meta["kernel_fast"], dtype=np.float32),
        fs=float(fs),
        metadata=meta,
        noise=input_noise(traces, False),
    )


def run_indeca(
    traces: ArrayLike,
    fs: float,
    config: DeconConfig | None = None,
    *,
    progress: None | bool | ProgressFn = None,
    chunk_cells: int | None = None,
    nan_policy: str = "raise",
    **overrides: Any,
) -> CaDeconResult:
    """Learn the calcium kernel of a recording with InDeCa and deconvolve every cell with it.

    The outer loop draws random cells x time rectangles of the recording (seeded), infers spikes
    in each cell segment with the current kernel (a box-constrained, amplitude-fitting
    deconvolution, optionally on an upsampled grid), re-estimates a free-form kernel per
    rectangle, fits a bi-exponential ``exp(-t/tau_decay) - exp(-t/tau_rise)`` to it and takes
    the median time constants over rectangles. It stops when the kernel shape changes by less
    than ``convergence_tol`` (relative L2) for ``patience`` iterations after ``min_iterations``,
    or at ``max_iterations``. The final kernel takes the median taus of the last 3 iterations;
    then every cell is solved over its whole trace with exactly that kernel. The same code runs
    in CaDecon in the browser, which gives the same answer for the same seed.

    Parameters
    ----------
    traces : array_like
        ``(n_cells, n_timepoints)``, or ``(n_timepoints,)`` for one cell; finite values, in any
        fluorescence units. Computed in float32.
    fs : float
        Frame rate (Hz).
    config : DeconConfig, optional
        Loop settings; the defaults when omitted.
    progress : None, True or callable
        ``None``: silent. ``True``: tqdm bars on stderr. A callable receives one dict per event:
        ``{"stage": "iteration", "report": <IterationReport dict>}`` after each iteration and
        ``{"stage": "final_pass", "done": k, "total": n_cells}`` as the final pass advances.
    chunk_cells : int, optional
        Cells per final-pass call (progress granularity and interrupt latency); automatic when
        omitted.
    nan_policy : {"raise", "interpolate"}
        What to do with NaN / Inf samples (missing frames): refuse them
        (:class:`~calab.NonFiniteInputError`, the default) or fill them as CaTune does (a straight
        line across each gap, the nearest value at the ends; see :func:`calab.fill_nan`), with a
        :class:`~calab.FilledFramesWarning` giving the frames filled per cell.
    **overrides
        Config fields to replace, e.g. ``seed=1, max_iterations=10`` (``lambda_`` for
        ``lambda``).

    Returns
    -------
    CaDeconResult
        Activity (float32 spikes per frame, cells x time: the L1 deconvolution with the learned
        kernel divided by the cell's amplitude per spike ``alphas``; ``event_rates`` in
        ``metadata`` are spikes/s), per-cell ``alphas`` and ``baselines`` (the data's units),
        ``pves``, the kernel and ``metadata`` (the results JSON). One-dimensional input gives a
        ``(1, n_timepoints)`` activity. A learned time constant outside the physical range is
        replaced and, like a poor or unconverged kernel, reported in ``metadata['warnings']``
        and as a :class:`~calab.KineticsWarning`.

    Notes
    -----
    Ctrl-C (KeyboardInterrupt) does not lose the work done: the run stops at the next
    iteration or chunk boundary and returns what it has, with ``metadata['partial'] = True`` and
    ``metadata['interrupted'] = True``; cells the final pass did not reach have zero activity
    and NaN alphas/baselines/pves. A ``RuntimeWarning`` says so. If the interrupt arrives
    before the first iteration finished, there is nothing to return and it propagates.

    Raises
    ------
    InvalidParameterError
        Bad config (before anything runs) or fs.
    ShapeMismatchError, NonFiniteInputError, TraceTooShortError
        Bad traces.

    References
    ----------
    Dong, Z. et al., "InDeCa: interleaved deconvolution and calcium kernel estimation" (the
    algorithm CaDecon implements); Friedrich, Zhou & Paninski, "Fast online deconvolution of
    calcium imaging data", PLoS Comput Biol 13 (2017) (the AR(2) model).

    Examples
    --------
    >>> import calab
    >>> sim = calab.simulate(calab.presets.gcamp6f(num_cells=8, num_timepoints=1500, seed=3))
    >>> res = calab.run_indeca(sim.traces, 30.0, max_iterations=3, upsample_target=None)
    >>> res.activity.shape
    (8, 1500)
    """
    cfg = _resolve_config(config, dict(overrides))
    fs_f = as_real("fs", fs)
    if not (math.isfinite(fs_f) and fs_f > 0):
        raise InvalidParameterError(
            f"invalid parameter `fs` = {fs}: must be a finite number > 0 (Hz)",
            code="INVALID_PARAMETER",
        )
    arr, was_1d = as_traces(_gaps.apply(traces, nan_policy))
    data = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(data).all():
        raise from_code("VALUE_OUT_OF_RANGE",
                        "traces overflow float32 (|value| > 3.4e38); rescale the data")
    run = _solver.IndecaRun(data, fs_f, cfg.to_json())
    n_cells = data.shape[0]
    if chunk_cells is None:
        chunk_cells = max(8, math.ceil(n_cells / 50))
    elif int(chunk_cells) < 1:
        raise InvalidParameterError(f"chunk_cells must be >= 1, got {chunk_cells}",
                                    code="INVALID_PARAMETER")
    report = _Reporter(progress, cfg.max_iterations, n_cells)
    interrupted = False
    try:
        try:
            while not run.is_done():
                rep = json.loads(run.step())
                report({"stage": "iteration", "report": rep})
            report({"stage": "final_pass", "done": 0, "total": n_cells})
            for start in range(0, n_cells, int(chunk_cells)):
                end = min(n_cells, start + int(chunk_cells))
                run.final_pass(start, end)
                report({"stage": "final_pass", "done": end, "total": n_cells})
        except KeyboardInterrupt:
            if run.iteration() == 0:
                raise
            interrupted = True
    finally:
        report.close()
    result = _collect(run, fs_f, was_1d, arr)
    if not interrupted:
        for message in result.metadata.get("warnings", []):
            warnings.warn(f"run_indeca: {message}", KineticsWarning, stacklevel=2)
    if interrupted:
        result.metadata["interrupted"] = True
        result.metadata["partial"] = True
        done = int(np.sum(~np.isnan(result.alphas))) + len(result.metadata["cell_errors"])
        warnings.warn(
            f"run_indeca interrupted after {result.metadata['iterations']} iteration(s) and "
            f"{done}/{n_cells} final-pass cells; returning the partial result "
            "(metadata['partial'] is True)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result
