"""Scale-out with Dask: row-chunked solving of dask arrays and pixel-wise deconvolution of movies.

Every solver in calab treats the rows of a 2-D ``(cells or pixels) x time`` array independently,
so a large batch splits into blocks of whole rows (time in one chunk) that any Dask scheduler can
solve in parallel, on this machine or on a ``dask.distributed`` cluster. The block results are
exactly those of the single-process call on the same rows, because each block runs the very same
native function.

* :func:`map_rows` turns a solver that returns a NamedTuple into a lazy NamedTuple of dask arrays;
  :func:`calab.run_deconvolution`, :func:`calab.run_deconvolution_full`, :func:`calab.run_l0` and
  ``calab.run_convar`` call it when given a ``dask.array.Array``.
* :func:`compute` evaluates such results with a tqdm progress bar (one tick per block).
* :func:`deconvolve_movie` deconvolves a frames x height x width movie (``.npy``, ``.zarr``,
  ``.h5``) pixel-wise, tile by tile, writing the result tile by tile, so memory is bounded by the
  tile size, never by the movie.

Dask is optional (``pip install 'calab[dask]'``); nothing here imports it unless it is used.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np
from numpy.typing import NDArray

from ._errors import (
    FileFormatError,
    InvalidParameterError,
    NonFiniteInputError,
    ShapeMismatchError,
    SolverError,
    TraceTooShortError,
    UnknownOptionError,
)

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["MovieResult", "compute", "deconvolve_movie", "is_dask_array", "map_rows"]

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


def _import_zarr() -> Any:
    try:
        return importlib.import_module("zarr")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"zarr is needed for .zarr files ({exc}); pip install zarr") from None


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


# --------------------------------------------------------------------------- movies


class MovieResult(NamedTuple):
    """What :func:`deconvolve_movie` wrote.

    Attributes
    ----------
    path : Path
        The output (``.zarr`` group folder or ``.npy`` file).
    activity : str
        Name of the frames x height x width result array (``"rates"``, ``"activity"`` or
        ``"spikes"``, after the solver's first field).
    pixel_fields : tuple of str
        Per-pixel (height x width) arrays written alongside (e.g. ``baseline``, ``lambda_``).
    shape : tuple of int
        ``(frames, height, width)``.
    tile : tuple of int
        ``(tile height, tile width)``: the pixels solved, and written, per task.
    n_tiles : int
        Number of tiles (tasks).
    pixels_path : Path or None
        For ``.npy`` output, the ``.npz`` holding the per-pixel arrays; None for ``.zarr``.
    """

    path: Path
    activity: str
    pixel_fields: tuple[str, ...]
    shape: tuple[int, int, int]
    tile: tuple[int, int]
    n_tiles: int
    pixels_path: Path | None


_METHODS = ("convar", "l1", "l0")


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    return ".h5" if s == ".hdf5" else s


def _h5_datasets(fh: Any) -> list[str]:
    import h5py

    names: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim == 3:
            names.append(name)

    fh.visititems(visit)
    return names


class _Source(NamedTuple):
    path: str
    kind: str  # "npy" | "zarr" | "h5"
    dataset: str | None


def _open_array(src: _Source) -> tuple[Any, Any]:
    """(array-like frames x H x W, closer or None)."""
    if src.kind == "npy":
        return np.load(src.path, mmap_mode="r", allow_pickle=False), None
    if src.kind == "zarr":
        zarr = _import_zarr()

        node = zarr.open(src.path, mode="r")
        return (node if src.dataset is None else node[src.dataset]), None
    import h5py

    fh = h5py.File(src.path, "r")
    return fh[src.dataset], fh


def _resolve_source(path: PathLike, dataset: str | None) -> tuple[_Source, tuple[int, ...],
                                                                  np.dtype[Any], tuple[int, int]]:
    """Check the movie file up front: (source, shape, dtype, spatial read chunk)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such movie: {p}")
    kind = {".npy": "npy", ".zarr": "zarr", ".h5": "h5"}.get(_suffix(p))
    if kind is None:
        raise FileFormatError(f"{p}: unsupported movie format {p.suffix!r}; use .npy, .zarr or "
                              ".h5/.hdf5 (frames x height x width)")
    chunk: tuple[int, int] = (1, 1)
    try:
        if kind == "npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            shape, dtype = arr.shape, arr.dtype
            del arr
        elif kind == "zarr":
            zarr = _import_zarr()

            node = zarr.open(str(p), mode="r")
            if not hasattr(node, "shape"):  # a group: pick the array
                names = [name for name, a in node.arrays() if len(a.shape) == 3]
                if dataset is None:
                    if len(names) != 1:
                        raise FileFormatError(f"{p} holds 3-D arrays {sorted(names)}; choose one "
                                              "with dataset= / --dataset")
                    dataset = names[0]
                if dataset not in node:
                    raise FileFormatError(f"{p} has no array {dataset!r}; 3-D arrays: "
                                          f"{sorted(names)}")
                node = node[dataset]
            elif dataset is not None:
                raise FileFormatError(f"{p} is a single zarr array; it has no {dataset!r}")
            shape, dtype = tuple(node.shape), np.dtype(node.dtype)
            if len(node.chunks) == 3:
                chunk = (int(node.chunks[1]), int(node.chunks[2]))
        else:
            import h5py

            with h5py.File(p, "r") as fh:
                names = _h5_datasets(fh)
                if dataset is None:
                    if len(names) != 1:
                        raise FileFormatError(f"{p} holds 3-D datasets {names}; choose one with "
                                              "dataset= / --dataset")
                    dataset = names[0]
                if dataset not in fh or not isinstance(fh[dataset], h5py.Dataset):
                    raise FileFormatError(f"{p} has no dataset {dataset!r}; 3-D datasets: {names}")
                ds = fh[dataset]
                shape, dtype = tuple(ds.shape), np.dtype(ds.dtype)
                if ds.chunks is not None and len(ds.chunks) == 3:
                    chunk = (int(ds.chunks[1]), int(ds.chunks[2]))
    except FileFormatError:
        raise
    except (ValueError, OSError, KeyError) as exc:
        raise FileFormatError(f"{p} is not a readable {kind} movie: {exc}") from None
    if np.dtype(dtype).kind not in "biuf":
        raise FileFormatError(f"{p} must hold real numbers, got dtype {dtype}")
    if len(shape) != 3:
        raise ShapeMismatchError(f"{p}: a movie must be 3-D (frames x height x width), got shape "
                                 f"{shape}", code="SHAPE_MISMATCH")
    if min(shape) == 0:
        raise ShapeMismatchError(f"{p}: movie has an empty axis, shape {shape}",
                                 code="SHAPE_MISMATCH")
    return _Source(str(p), kind, dataset), shape, np.dtype(dtype), chunk


def _tile_shape(height: int, width: int, chunk: tuple[int, int],
                chunk_pixels: int) -> tuple[int, int]:
    """Tile of whole read chunks, about ``chunk_pixels`` pixels, filling rows first.

    Whole rows keep ``.npy`` reads contiguous per frame; whole chunks mean each compressed chunk of
    a ``.zarr``/``.h5`` input is read by one task only.
    """
    ch, cw = min(chunk[0], height), min(chunk[1], width)
    per_tile = max(1, chunk_pixels // (ch * cw))
    kw = min(math.ceil(width / cw), per_tile)
    kh = max(1, per_tile // kw)
    return min(height, kh * ch), min(width, kw * cw)


def _tiles(height: int, width: int, tile: tuple[int, int]) -> Iterator[tuple[int, int, int, int]]:
    for h0 in range(0, height, tile[0]):
        for w0 in range(0, width, tile[1]):
            yield h0, min(height, h0 + tile[0]), w0, min(width, w0 + tile[1])


class _Job(NamedTuple):
    """Everything one tile task needs; small and picklable, sent to the workers."""

    source: _Source
    out_kind: str  # "zarr" | "npy"
    out_path: str  # the temporary output, renamed at the end
    field: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    pixel_fields: tuple[str, ...]


def _solver_for(method: str) -> Callable[..., Any]:
    if method == "l1":
        from ._compute import run_deconvolution_full

        return run_deconvolution_full
    if method == "l0":
        from .l0 import run_l0

        return run_l0
    try:
        from .convar import run_convar  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(f"method 'convar' is not available in this calab ({exc})") from None
    return run_convar  # type: ignore[no-any-return,unused-ignore]


def _solve_tile(job: _Job, tile: tuple[int, int, int, int]) -> dict[str, NDArray[Any]]:
    """Read one tile of the movie, solve its pixels, write the result tile; return pixel values."""
    h0, h1, w0, w1 = tile
    movie, closer = _open_array(job.source)
    try:
        data = np.asarray(movie[:, h0:h1, w0:w1])
    finally:
        if closer is not None:
            closer.close()
    n_time, th, tw = data.shape
    pixels = np.ascontiguousarray(data.reshape(n_time, th * tw).T, dtype=np.float64)
    del data
    finite = np.isfinite(pixels)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        frame = int(np.flatnonzero(~finite[row])[0])
        raise NonFiniteInputError(
            f"movie pixel (y={h0 + row // tw}, x={w0 + row % tw}) is non-finite (NaN/Inf) at frame "
            f"{frame}; mask or interpolate such pixels before deconvolving",
            code="NON_FINITE_INPUT",
        )
    del finite
    res = _solver_for(job.method)(pixels, *job.args, **job.kwargs)
    del pixels
    main = np.asarray(getattr(res, job.field))
    out_block = main.T.reshape(n_time, th, tw)
    if not os.path.exists(job.out_path):
        # The run failed or was stopped while this tile was solving and its temporary output is
        # gone; writing now would re-create part of it and leave that behind.
        return {}
    if job.out_kind == "zarr":
        zarr = _import_zarr()

        out = zarr.open_array(os.path.join(job.out_path, job.field), mode="r+")
        out[:, h0:h1, w0:w1] = out_block.astype(out.dtype)
    else:
        out = np.load(job.out_path, mmap_mode="r+")
        out[:, h0:h1, w0:w1] = out_block.astype(out.dtype)
        out.flush()
        del out
    return {name: np.asarray(getattr(res, name)).reshape(th, tw) for name in job.pixel_fields}


#: Per-trace fields that only repeat the given parameters: not written as per-pixel maps.
_MOVIE_PARAMETERS = frozenset({"tau_rise", "tau_decay"})


def _solver_args(method: str, fs: float, tau_rise: float | None, tau_decay: float | None,
                 gamma: float | None, lam: float | None,
                 extra: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and math.isfinite(fs) and fs > 0):
        raise InvalidParameterError(f"fs must be a positive sampling rate in Hz, got {fs!r}",
                                    code="INVALID_PARAMETER")
    if method == "l1":
        missing = [n for n, v in (("tau_rise", tau_rise), ("tau_decay", tau_decay), ("lam", lam))
                   if v is None]
        if missing:
            raise InvalidParameterError(f"method 'l1' needs {', '.join(missing)}",
                                        code="INVALID_PARAMETER")
        return (float(fs), float(tau_rise), float(tau_decay), float(lam)), dict(extra)  # type: ignore[arg-type]
    if gamma is None:
        if tau_decay is None:
            raise InvalidParameterError(f"method {method!r} needs gamma or tau_decay",
                                        code="INVALID_PARAMETER")
        from .l0 import gamma_from_tau

        gamma = gamma_from_tau(float(tau_decay), float(fs))
    if method == "l0":
        if lam is None:
            raise InvalidParameterError("method 'l0' needs lam (penalty per spike)",
                                        code="INVALID_PARAMETER")
        return (float(gamma), float(lam)), dict(extra)
    return (float(gamma),), {"lam": None if lam is None else float(lam), **extra}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def deconvolve_movie(
    src: PathLike,
    dst: PathLike,
    *,
    method: str = "convar",
    fs: float,
    tau_decay: float | None = None,
    tau_rise: float | None = None,
    gamma: float | None = None,
    lam: float | None = None,
    dataset: str | None = None,
    chunk_pixels: int = 1024,
    dtype: str = "float32",
    scheduler: Any = None,
    progress: bool = True,
    overwrite: bool = False,
    **solver_kwargs: Any,
) -> MovieResult:
    """Deconvolve every pixel of a frames x height x width movie, tile by tile.

    The movie is never loaded whole: each task reads one tile (all frames of ``tile height x tile
    width`` pixels), solves its pixels as rows of a ``pixels x frames`` array with the chosen
    solver, and writes the result tile into the output, which has the same frames x height x width
    layout. Memory per task is a few times ``frames x chunk_pixels x 8`` bytes.

    Parameters
    ----------
    src : path
        ``.npy`` (memory-mapped), ``.zarr`` (array, or group with ``dataset``) or ``.h5``/``.hdf5``
        (``dataset``; optional when the file holds a single 3-D dataset). Any real dtype, finite
        values.
    dst : path
        ``.zarr`` (a group with the result array plus one height x width array per per-pixel field
        and the parameters in its attributes) or ``.npy`` (the result; per-pixel fields go to
        ``<stem>_pixels.npz``). Written under a temporary name next to ``dst`` and renamed at the
        end, so ``dst`` never holds a half-written result.
    method : {"convar", "l1", "l0"}
        ``"convar"``: ``calab.run_convar(pixels, gamma, lam=lam, **solver_kwargs)`` (result
        ``rates``); ``"l1"``: :func:`calab.run_deconvolution_full` with ``fs, tau_rise, tau_decay,
        lam`` (result ``activity``); ``"l0"``: :func:`calab.run_l0` with ``gamma, lam`` (result
        ``spikes``).
    fs : float
        Frame rate in Hz.
    tau_decay, tau_rise : float, optional
        Kernel time constants in seconds (``l1`` needs both; ``convar``/``l0`` use ``tau_decay`` to
        derive ``gamma = exp(-1 / (tau_decay fs))`` when ``gamma`` is not given).
    gamma : float, optional
        AR(1) decay per frame for ``convar`` and ``l0``.
    lam : float, optional
        Sparsity weight of the solver (``convar`` chooses it per pixel when None).
    dataset : str, optional
        Array name inside a ``.zarr`` group or ``.h5`` file.
    chunk_pixels : int
        Target pixels per tile; tiles are made of whole read chunks of the input, so a tile can be
        larger when the input's own spatial chunks are.
    dtype : {"float32", "float64"}
        Dtype of the written result (the solvers compute in float64; float32 halves the output).
    scheduler : str, distributed.Client, cluster or None
        ``None``: solve the tiles one after another in this process (the native solvers still use
        every core for the pixels of a tile). A scheduler address (``"tcp://host:8786"``), a
        ``Client`` or a cluster object: run one task per tile on that Dask cluster. The workers
        must see ``src`` and ``dst`` at the same paths; across machines use a ``.zarr`` output
        (tiles own whole chunks), since ``.npy`` output is a shared memory map. Setting
        ``RAYON_NUM_THREADS`` on the workers to their thread count avoids oversubscribing cores.
    progress : bool
        Show a tqdm bar (tiles done).
    overwrite : bool
        Replace an existing ``dst``.
    **solver_kwargs
        Extra keyword arguments for the solver (e.g. ``positive=False`` for ``l0``,
        ``remove_drift=True`` for ``l1``).

    Returns
    -------
    MovieResult

    Notes
    -----
    Each pixel's result equals the single-process solver applied to that pixel's trace (cast to
    ``dtype``). Non-finite samples stop the run with an error naming the pixel and frame.
    """
    if method not in _METHODS:
        raise UnknownOptionError(f"unknown method {method!r}; choose one of {list(_METHODS)}",
                                 code="UNKNOWN_OPTION")
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidParameterError(f"dtype must be float32 or float64, got {dtype!r}",
                                    code="INVALID_PARAMETER")
    try:
        cp = int(chunk_pixels)
    except (TypeError, ValueError):
        cp = 0
    if cp < 1:
        raise InvalidParameterError(f"chunk_pixels must be a positive integer, got "
                                    f"{chunk_pixels!r}", code="INVALID_PARAMETER")
    dst_p = Path(dst)
    out_kind = {".zarr": "zarr", ".npy": "npy"}.get(dst_p.suffix.lower())
    if out_kind is None:
        raise FileFormatError(f"{dst_p}: output must end in .zarr or .npy")
    source, shape, _in_dtype, read_chunk = _resolve_source(src, dataset)
    if dst_p.resolve() == Path(source.path).resolve():
        raise FileFormatError(f"output {dst_p} is the input movie; choose another path")
    pixels_path = dst_p.with_name(dst_p.stem + "_pixels.npz") if out_kind == "npy" else None
    if not overwrite:
        for p in (dst_p, pixels_path):
            if p is not None and p.exists():
                raise FileExistsError(f"{p} exists; pass overwrite=True (--overwrite) to "
                                      "replace it")
    n_time, height, width = (int(n) for n in shape)
    args, kwargs = _solver_args(method, fs, tau_rise, tau_decay, gamma, lam, solver_kwargs)
    solver = _solver_for(method)
    probe = _layout(solver, n_time, args, kwargs)  # bad parameters fail here, not in a task
    field = probe._fields[0]
    pixel_fields = tuple(
        name for name in probe._fields[1:]
        if np.asarray(getattr(probe, name)).shape == (1,) and name not in _MOVIE_PARAMETERS
    )
    pixel_dtypes = {name: np.asarray(getattr(probe, name)).dtype for name in pixel_fields}
    tile = _tile_shape(height, width, read_chunk, cp)
    tiles = list(_tiles(height, width, tile))

    dst_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst_p.with_name(f".{dst_p.name}.{uuid.uuid4().hex[:8]}.tmp{dst_p.suffix}")
    try:
        if out_kind == "zarr":
            _create_zarr_output(tmp, field, shape, tile, out_dtype)
        else:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=out_dtype, shape=shape).flush()
        job = _Job(source, out_kind, str(tmp), field, method, args, kwargs, pixel_fields)
        per_pixel = {name: np.zeros((height, width), dtype=pixel_dtypes[name])
                     for name in pixel_fields}
        for (h0, h1, w0, w1), values in _run_tiles(job, tiles, scheduler, progress):
            for name, value in values.items():
                per_pixel[name][h0:h1, w0:w1] = value
        if out_kind == "zarr":
            _finish_zarr_output(tmp, per_pixel, {
                "calab_method": method, "fs": float(fs), "solver_args": list(args),
                "solver_kwargs": {k: v for k, v in kwargs.items()
                                  if isinstance(v, (int, float, str, bool, type(None)))},
                "source": source.path, "dataset": source.dataset, "result": field,
            })
            if dst_p.exists():
                _remove(dst_p)
            os.replace(tmp, dst_p)
        else:
            from .io import save_npz_atomic

            os.replace(tmp, dst_p)
            assert pixels_path is not None
            save_npz_atomic(pixels_path, **per_pixel)
    except BaseException:
        _remove(tmp)
        raise
    return MovieResult(dst_p, field, pixel_fields, (n_time, height, width), tile, len(tiles),
                       pixels_path)


def _create_zarr_output(path: Path, field: str, shape: tuple[int, ...], tile: tuple[int, int],
                        dtype: np.dtype[Any]) -> None:
    zarr = _import_zarr()

    group = zarr.open_group(str(path), mode="w")
    # Each tile task owns whole chunks (all frames of its pixels, split in time only to keep
    # chunks near 8 MB), so parallel writers never touch the same chunk.
    per_frame = tile[0] * tile[1] * dtype.itemsize
    t_chunk = max(1, min(int(shape[0]), (8 << 20) // per_frame))
    chunks = (t_chunk, tile[0], tile[1])
    if hasattr(group, "create_array"):
        group.create_array(field, shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
    else:  # zarr 2
        group.create_dataset(field, shape=shape, chunks=chunks, dtype=dtype, fill_value=0)


def _finish_zarr_output(path: Path, per_pixel: Mapping[str, NDArray[Any]],
                        attrs: Mapping[str, Any]) -> None:
    zarr = _import_zarr()

    group = zarr.open_group(str(path), mode="r+")
    for name, values in per_pixel.items():
        if hasattr(group, "create_array"):
            arr = group.create_array(name, shape=values.shape, dtype=values.dtype)
        else:  # zarr 2
            arr = group.create_dataset(name, shape=values.shape, dtype=values.dtype)
        arr[...] = values
    group.attrs.update(dict(attrs))


# Longest wait for the other tiles of a failed cluster run before its output is removed.
_FAILED_RUN_DRAIN_S = 60.0


def _run_tiles(job: _Job, tiles: list[tuple[int, int, int, int]], scheduler: Any,
               progress: bool) -> Iterable[tuple[tuple[int, int, int, int],
                                                 dict[str, NDArray[Any]]]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tiles), unit="tile", desc="deconvolving movie", disable=not progress,
               leave=False)
    try:
        if scheduler is None:
            for tile in tiles:
                yield tile, _solve_tile(job, tile)
                bar.update(1)
            return
        distributed = _import_distributed()
        client, owned = _connect(scheduler)
        futures: list[Any] = []
        try:
            futures = [client.submit(_solve_tile, job, tile, pure=False) for tile in tiles]
            where = {fut.key: tile for fut, tile in zip(futures, tiles)}
            for fut in distributed.as_completed(futures, loop=client.loop):
                try:
                    values = fut.result()  # re-raises a worker's exception here
                except Exception:
                    # Let tiles that are already writing into the temporary output finish (a
                    # cancelled task keeps running on its worker), so the caller's cleanup is
                    # not undone by a late write; bounded, and Ctrl-C skips it.
                    with contextlib.suppress(Exception):
                        distributed.wait(futures, timeout=_FAILED_RUN_DRAIN_S)
                    raise
                yield where[fut.key], values
                fut.release()
                bar.update(1)
        finally:
            if futures:
                client.cancel(futures)
            if owned:
                client.close()
    finally:
        bar.close()


def deconvolve_export_on_cluster(
    traces: Any, params: Mapping[str, Any], *, scheduler: Any, chunk_size: int = 64,
    progress: bool = True,
) -> Any:
    """:func:`calab.deconvolve_from_export` (2-D, ``return_full=True``) run on a Dask cluster.

    ``params`` comes from :func:`calab.load_export_params`; the export's solver (L1, L0 or
    Convar) and preprocessing run on the workers through the same function the single-process
    path calls, so the result equals that one exactly.
    """
    from ._validate import as_traces
    from .io import export_spec, solve_with_spec

    spec = export_spec(params)
    arr, _ = as_traces(traces)  # NaN etc. fail here, before anything is sent to the cluster
    return solve_rows_on_cluster(solve_with_spec, arr, spec, scheduler=scheduler,
                                 chunk_rows=chunk_size, progress=progress)
