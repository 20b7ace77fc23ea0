"""Pixel-wise deconvolution of a frames x height x width movie, tile by tile.

:func:`deconvolve_movie` reads a ``.npy``, ``.zarr`` or ``.h5`` movie one spatial tile at a time,
solves the tile's pixels with the chosen row solver (L1, L0 or Convar) as Dask tasks and writes
each result tile as it arrives, so memory is bounded by the tile size, never by the movie. It
relies on :mod:`calab._dask` for the scheduler and the result layout and on the solvers
themselves; users reach it through :func:`calab.deconvolve_movie` and the :mod:`calab.scale` façade.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np
from numpy.typing import NDArray

from ._compute import run_deconvolution_full
from ._dask import _connect, _import_distributed, _layout
from ._deprecation import renamed_parameters
from ._errors import (
    FileFormatError,
    InvalidParameterError,
    NonFiniteInputError,
    ShapeMismatchError,
    UnknownOptionError,
)
from .convar import run_convar
from .io import save_npz_atomic
from .l0 import gamma_from_tau, run_l0

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["MovieResult", "deconvolve_movie"]


def _import_zarr() -> Any:
    try:
        return importlib.import_module("zarr")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"zarr is needed for .zarr files ({exc}); pip install zarr") from None



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
    solvers: dict[str, Callable[..., Any]] = {
        "l1": run_deconvolution_full, "l0": run_l0, "convar": run_convar}
    return solvers[method]


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
                 gamma: float | None, lambda_: float | None,
                 extra: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and math.isfinite(fs) and fs > 0):
        raise InvalidParameterError(f"fs must be a positive sampling rate in Hz, got {fs!r}",
                                    code="INVALID_PARAMETER")
    if method == "l1":
        given = (("tau_rise", tau_rise), ("tau_decay", tau_decay), ("lambda_", lambda_))
        missing = [n for n, v in given if v is None]
        if missing:
            raise InvalidParameterError(f"method 'l1' needs {', '.join(missing)}",
                                        code="INVALID_PARAMETER")
        return (float(fs), float(tau_rise), float(tau_decay), float(lambda_)), dict(extra)  # type: ignore[arg-type]
    if gamma is None:
        if tau_decay is None:
            raise InvalidParameterError(f"method {method!r} needs gamma or tau_decay",
                                        code="INVALID_PARAMETER")
        gamma = gamma_from_tau(float(tau_decay), float(fs))
    if method == "l0":
        if lambda_ is None:
            raise InvalidParameterError("method 'l0' needs lambda_ (penalty per spike)",
                                        code="INVALID_PARAMETER")
        return (float(gamma), float(lambda_)), dict(extra)
    return (float(gamma),), {"lambda_": None if lambda_ is None else float(lambda_), **extra}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@renamed_parameters("lam")
def deconvolve_movie(
    src: PathLike,
    dst: PathLike,
    *,
    method: str = "convar",
    fs: float,
    tau_decay: float | None = None,
    tau_rise: float | None = None,
    gamma: float | None = None,
    lambda_: float | None = None,
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
        ``"convar"``: ``calab.run_convar(pixels, gamma, lambda_=lambda_, **solver_kwargs)`` (result
        ``rates``); ``"l1"``: :func:`calab.run_deconvolution_full` with ``fs, tau_rise, tau_decay,
        lambda_`` (result ``activity``); ``"l0"``: :func:`calab.run_l0` with ``gamma, lambda_``
        (result ``spikes``).
    fs : float
        Frame rate in Hz.
    tau_decay, tau_rise : float, optional
        Kernel time constants in seconds (``l1`` needs both; ``convar``/``l0`` use ``tau_decay`` to
        derive ``gamma = exp(-1 / (tau_decay fs))`` when ``gamma`` is not given).
    gamma : float, optional
        AR(1) decay per frame for ``convar`` and ``l0``.
    lambda_ : float, optional
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
    args, kwargs = _solver_args(method, fs, tau_rise, tau_decay, gamma, lambda_, solver_kwargs)
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

