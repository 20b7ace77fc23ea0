"""Row-chunked solving of dask arrays, locally or on a ``dask.distributed`` cluster.

Every solver in calab treats the rows of a 2-D ``(cells or pixels) x time`` array independently,
so a large batch splits into blocks of whole rows (time in one chunk) that any Dask scheduler can
solve in parallel, on this machine or on a cluster. The block results are exactly those of the
single-process call on the same rows, because each block runs the very same native function.

* :func:`map_rows` turns a solver that returns a NamedTuple into a lazy NamedTuple of dask arrays;
  :func:`calab.run_deconvolution`, :func:`calab.run_deconvolution_full`, :func:`calab.run_l0` and
  ``calab.run_convar`` call it when given a ``dask.array.Array``.
* :func:`compute` evaluates such results with a tqdm progress bar (one tick per block).
* :func:`solve_rows_on_cluster` runs a row solver on a scheduler and gathers the result.

This module sits below the solvers (they import it, it imports none of them), so it relies only on
numpy and :mod:`calab._errors`. Dask is optional (``pip install 'calab[dask]'``); nothing here
imports it unless it is used. The public names are re-exported by :mod:`calab.scale`.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._errors import (
    InvalidParameterError,
    NonFiniteInputError,
    ShapeMismatchError,
    SolverError,
    TraceTooShortError,
)

_DASK_HINT = "install it with: pip install 'calab[dask]'"


def is_dask_array(obj: object) -> bool:
    """True for a ``dask.array.Array``, without importing dask for anything else."""
    if not type(obj).__module__.startswith("dask"):
        return False
    import dask.array as da

    return isinstance(obj, da.Array)


def _import_dask() -> Any:
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"Dask is needed for this ({exc}); {_DASK_HINT}") from None
    return da


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"dask.distributed is needed to use a scheduler ({exc}); {_DASK_HINT}"
        ) from None
    return distributed


# --------------------------------------------------------------------------- row mapping


def _probe_trace(n: int) -> NDArray[np.float64]:
    """A deterministic, well-posed calcium-like trace of length ``n`` (spikes, decay, noise).

    Used to validate solver parameters and learn the result layout before any block runs, so a
    wrong parameter fails when the graph is built rather than on a worker later.
    """
    spikes = np.zeros(n)
    spikes[3::37] = 1.0
    calcium = np.zeros(n)
    level = 0.0
    for t in range(n):
        level = 0.9 * level + spikes[t]
        calcium[t] = level
    noise = 0.05 * np.sin(0.7 * np.arange(n)) * np.cos(0.13 * np.arange(n))
    out: NDArray[np.float64] = (calcium + noise + 1.0).reshape(1, n)
    return out


_ROW_PREFIX = re.compile(r"^row (\d+): ")


def _check_finite_rows(block: NDArray[Any], start: int, name: str) -> None:
    finite = np.isfinite(block)
    if finite.all():
        return
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    row = int(bad_rows[0])
    bad = np.flatnonzero(~finite[row])
    extra = "" if len(bad_rows) == 1 else f" ({len(bad_rows)} rows of this block affected)"
    raise NonFiniteInputError(
        f"{name} row {start + row} contains {len(bad)} non-finite sample(s) (NaN/Inf), first at "
        f"index {int(bad[0])}{extra}; interpolate or drop them before deconvolving",
        code="NON_FINITE_INPUT",
    )


class _Solved:
    """Opaque holder for one block's NamedTuple, so dask never mistakes it for a task or array."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Solved, (self.value,))


def _solve_block(
    block: NDArray[Any],
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    block_info: dict[Any, Any] | None = None,
) -> _Solved:
    start = 0 if block_info is None else int(block_info[0]["array-location"][0][0])
    _check_finite_rows(np.asarray(block), start, "traces")
    try:
        return _Solved(func(block, *args, **kwargs))
    except SolverError as exc:
        # The native batch numbers rows from 0 within the block; report the row of the whole array.
        message = str(exc)
        m = _ROW_PREFIX.match(message)
        if m is None:
            raise
        fixed = f"row {start + int(m.group(1))}: " + message[m.end():]
        raise type(exc)(fixed, code=exc.code) from None


def _field_2d(solved: _Solved, name: str) -> NDArray[Any]:
    return np.asarray(getattr(solved.value, name))


def _field_1d(solved: _Solved, name: str) -> NDArray[Any]:
    # Kept 2-D (rows x 1) inside the graph; the caller drops the axis with a slice, because
    # ``drop_axis`` would make dask concatenate the opaque holders.
    return np.asarray(getattr(solved.value, name)).reshape(-1, 1)


def _layout(func: Callable[..., Any], n_time: int, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    """Run ``func`` on one probe row: validates parameters and gives each field's shape/dtype."""
    return func(_probe_trace(n_time), *args, **kwargs)


def _validate_dask_traces(x: Any, name: str = "traces") -> None:
    kind = np.dtype(x.dtype).kind
    if kind not in "biuf":
        raise ShapeMismatchError(f"{name} must hold real numbers, got dtype {x.dtype}",
                                 code="SHAPE_MISMATCH")
    if x.ndim not in (1, 2):
        raise ShapeMismatchError(
            f"{name} must be 1-D (one trace) or 2-D (cells x time), got shape {x.shape}",
            code="SHAPE_MISMATCH",
        )
    if any(isinstance(n, float) and math.isnan(n) for n in x.shape):
        raise ShapeMismatchError(f"{name} has unknown chunk sizes {x.shape}; call "
                                 "compute_chunk_sizes() first", code="SHAPE_MISMATCH")
    if x.shape[-1] == 0:
        raise TraceTooShortError(f"{name} has no time points (shape {x.shape})",
                                 code="TRACE_TOO_SHORT")


def map_rows(func: Callable[..., Any], traces: Any, *args: Any, **kwargs: Any) -> Any:
    """Map a row-wise calab solver over the row blocks of a dask array, lazily.

    ``func(block, *args, **kwargs)`` must accept a 2-D numpy ``(rows, T)`` array and return a
    NamedTuple whose fields are ``(rows, T)`` arrays (per sample) or ``(rows,)`` arrays (per row),
    as :func:`calab.run_deconvolution_full`, :func:`calab.run_l0` and ``calab.run_convar`` do.

    Parameters
    ----------
    func : callable
        The numpy solver. It must be importable by name on the workers (a module-level function).
    traces : dask.array.Array
        ``(rows, T)`` or ``(T,)``, real dtype. Time is merged into one chunk (rows are then chunked
        by dask's ``"auto"`` rule); if time is already one chunk the row chunks are kept.
    *args, **kwargs
        Passed to ``func`` unchanged.

    Returns
    -------
    NamedTuple of dask arrays
        Same type as ``func`` returns. Per-sample fields are ``(rows, T)`` and per-row fields
        ``(rows,)``; for 1-D input they are ``(T,)`` and 0-d. All fields share one solve per block:
        evaluate them together (``dask.compute(*result)`` or :func:`compute`) so each block is
        solved once.

    Notes
    -----
    Parameters are checked right away by solving one short synthetic row, so a bad parameter raises
    here and not on a worker. Non-finite samples are found when the block runs; the error names the
    row of the whole array. Each block gives exactly what ``func`` gives on those rows in one
    process, since it is the same call.
    """
    _import_dask()
    x = traces
    _validate_dask_traces(x)
    was_1d = x.ndim == 1
    if was_1d:
        x = x.reshape(1, -1)
    if len(x.chunks[1]) > 1:
        x = x.rechunk({0: "auto", 1: -1})
    n_time = int(x.shape[1])
    probe = _layout(func, n_time, args, kwargs)
    solved = x.map_blocks(_solve_block, func, args, kwargs, dtype=object,
                          meta=np.empty((0, 0), dtype=object))
    fields: dict[str, Any] = {}
    for name in probe._fields:
        sample = np.asarray(getattr(probe, name))
        if sample.ndim == 2 and sample.shape == (1, n_time):
            arr = solved.map_blocks(_field_2d, name, dtype=sample.dtype,
                                    chunks=(x.chunks[0], (n_time,)),
                                    meta=np.empty((0, 0), dtype=sample.dtype))
            fields[name] = arr[0] if was_1d else arr
        elif sample.ndim == 1 and sample.shape == (1,):
            arr = solved.map_blocks(_field_1d, name, dtype=sample.dtype,
                                    chunks=(x.chunks[0], (1,)),
                                    meta=np.empty((0, 0), dtype=sample.dtype))[:, 0]
            fields[name] = arr[0] if was_1d else arr
        else:
            raise TypeError(f"{getattr(func, '__name__', func)!r} returned field {name!r} of shape "
                            f"{sample.shape} for one row of {n_time} samples; map_rows needs "
                            "(rows, T) or (rows,) fields")
    return type(probe)(**fields)


def compute(result: Any, *, progress: bool = True, client: Any = None) -> Any:
    """Evaluate a dask array, or a NamedTuple/tuple of them, with a progress bar.

    With a ``dask.distributed`` client (``client``, or the current default one) the blocks run on
    the cluster and the bar ticks as they finish there; otherwise dask's local scheduler runs them.
    All fields of a NamedTuple are evaluated together, so each block is solved once. Returns numpy
    values in the same container.
    """
    from tqdm.auto import tqdm

    items = list(result) if isinstance(result, tuple) else [result]
    if client is None:
        try:
            client = _import_distributed().default_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        distributed = _import_distributed()
        as_completed, futures_of = distributed.as_completed, distributed.futures_of
        persisted = client.persist(items)
        futures = futures_of(persisted)
        try:
            with tqdm(total=len(futures), unit="task", desc="dask", disable=not progress,
                      leave=False) as bar:
                for fut in as_completed(futures, loop=client.loop):
                    bar.update(1)
                    if fut.status == "error":
                        fut.result()  # re-raises the worker's exception
            values = client.compute(persisted, sync=True)
        except BaseException:
            client.cancel(futures)  # Ctrl-C or a failed block: stop the rest on the cluster
            raise
    else:
        from dask.callbacks import Callback

        class _Bar(Callback):
            def _start_state(self, dsk: Any, state: Any) -> None:
                self.bar = tqdm(total=sum(len(state[k]) for k in ("ready", "waiting", "running")),
                                unit="task", desc="dask", disable=not progress, leave=False)

            def _posttask(self, *a: Any) -> None:
                self.bar.update(1)

            def _finish(self, *a: Any) -> None:
                self.bar.close()

        bar_cls: Any = _Bar
        dask_base: Any = importlib.import_module("dask.base")
        with bar_cls():
            values = dask_base.compute(*items, scheduler="threads")
    if isinstance(result, tuple):
        return type(result)(*values) if hasattr(result, "_fields") else tuple(values)
    return values[0]


def _check_reachable(address: str) -> None:
    """Fail fast on a scheduler address that is malformed, names no host, or has nothing
    listening (instead of the Client's retries until its timeout)."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    hint = "expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786"
    try:
        scheme, loc = parse_address(address, strict=False)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"invalid Dask scheduler address {address!r} ({exc}); "
                                    f"{hint}", code="INVALID_PARAMETER") from None
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return  # inproc://, ucx://, ...: left to distributed
    try:
        host, port = parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"invalid Dask scheduler address {address!r} ({exc}); "
                                    f"{hint}", code="INVALID_PARAMETER") from None
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise InvalidParameterError(f"invalid Dask scheduler address {address!r}: host {host!r} "
                                    f"not found ({exc}); {hint}",
                                    code="INVALID_PARAMETER") from None
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise OSError(f"could not connect to the Dask scheduler at {address!r}: "
                      f"{exc.strerror or exc}") from None


def _connect(scheduler: Any) -> tuple[Any, bool]:
    """(client, owned) for a scheduler address, a Client, or None (current default client)."""
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    if scheduler is None:
        return distributed.default_client(), False
    if hasattr(scheduler, "scheduler_address"):  # a cluster object, e.g. LocalCluster
        return distributed.Client(scheduler, set_as_default=False), True
    address = str(scheduler)
    _check_reachable(address)
    try:
        return distributed.Client(address, timeout="10s", set_as_default=False), True
    except (OSError, TimeoutError) as exc:
        raise OSError(f"could not connect to the Dask scheduler at {address!r}: {exc}") from None
    except ValueError as exc:
        raise InvalidParameterError(f"invalid Dask scheduler address {address!r}: {exc}",
                                    code="INVALID_PARAMETER") from None


def solve_rows_on_cluster(
    func: Callable[..., Any], traces: NDArray[Any], *args: Any, scheduler: Any,
    chunk_rows: int = 64, progress: bool = True, **kwargs: Any,
) -> Any:
    """Solve an in-memory ``(rows, T)`` array on a Dask cluster; returns ``func``'s numpy result.

    The row blocks are scattered to the workers (not embedded in the task graph), solved with
    :func:`map_rows` and gathered with :func:`compute`, so the result equals ``func(traces, ...)``.
    """
    da = _import_dask()
    arr = np.asarray(traces)
    if arr.ndim != 2:
        raise ShapeMismatchError(f"traces must be 2-D (cells x time), got shape {arr.shape}",
                                 code="SHAPE_MISMATCH")
    client, owned = _connect(scheduler)
    try:
        step = max(1, int(chunk_rows))
        blocks = [arr[i:i + step] for i in range(0, arr.shape[0], step)]
        # Unique keys (hash=False): content-hashed keys are shared by equal blocks of an earlier
        # call, and the release of that call's futures can then drop this call's data on the
        # scheduler ("lost dependencies").
        futures = client.scatter(blocks, hash=False)
        x = da.concatenate([da.from_delayed(f, shape=b.shape, dtype=b.dtype)
                            for f, b in zip(futures, blocks)])
        return compute(map_rows(func, x, *args, **kwargs), progress=progress, client=client)
    finally:
        if owned:
            client.close()

