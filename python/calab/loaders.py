"""Readers for the trace outputs of common calcium-imaging pipelines (CaImAn, Minian, Suite2p,
NWB), all returning ``(traces, metadata)`` in CaLab's layout.

``traces`` is float64, shape ``(n_cells, n_timepoints)``. ``metadata`` always has ``source``,
``sampling_rate_hz`` (``None`` if neither the file nor the caller gives it), ``cell_ids``,
``num_cells`` and ``num_timepoints``. The format libraries (h5py, zarr, pynwb) are optional and
imported only when a loader runs: ``pip install 'calab[loaders]'``. When something is missing the
error lists what the file does contain.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _readers
from ._errors import FileFormatError

__all__ = ["load_caiman", "load_minian", "load_nwb", "load_suite2p"]


def _require(module: str, loader: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{loader} needs the optional package {module!r}: pip install 'calab[loaders]'"
        ) from None


def _exists(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    return p


def _rate(value: Any, where: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise FileFormatError(f"{where}: sampling rate {str(value)[:100]} is not a number")
    return _readers.check_file_fs(arr.reshape(-1)[0].item(), where)


def _finish(traces: Any, source: str, fs: float | None, cell_ids: Any,
            **extra: Any) -> tuple[NDArray[np.float64], dict[str, Any]]:
    arr = np.asarray(traces)
    if arr.dtype.kind not in "biuf":
        raise FileFormatError(f"{source}: traces must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise FileFormatError(f"{source}: traces must be 2-D (cells x time), got shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    ids = [i.item() if isinstance(i, np.generic) else i for i in np.asarray(cell_ids).tolist()]
    ids = [i.decode() if isinstance(i, bytes) else i for i in ids]
    if len(ids) != out.shape[0]:
        raise FileFormatError(f"{source}: {len(ids)} cell ids for {out.shape[0]} traces")
    meta = {
        "source": source,
        "sampling_rate_hz": fs,
        "cell_ids": ids,
        "num_cells": int(out.shape[0]),
        "num_timepoints": int(out.shape[1]),
    }
    meta.update(extra)
    return out, meta


# --------------------------------------------------------------------------- CaImAn


def _h5_keys(h5: Any) -> list[str]:
    names: list[str] = []
    h5.visit(names.append)
    return names


class _MissingDataset(KeyError):
    """The dataset asked for is not in the file (a KeyError, as documented)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _h5_damage(path: Path) -> contextlib.AbstractContextManager[None]:
    """A damaged HDF5 file's errors as FileFormatError; calab's own errors pass through."""
    return _readers.hdf5_damage(path, "HDF5", (FileFormatError, _MissingDataset), FileFormatError)


def _h5_read(h5py: Any, fh: Any, key: str, where: str, required: bool = True) -> Any:
    """Dataset ``key`` of an open HDF5 file, checked (a dataset, numeric, within the size
    limit) before it is read; ``None`` when absent and not ``required``."""
    try:
        node = fh[key] if key in fh else None
    except Exception as exc:  # noqa: BLE001 - broken links and other damage in a hostile file
        raise FileFormatError(f"{where}: {key!r} cannot be opened: {str(exc)[:200]}") from None
    if node is None:
        if not required:
            return None
        data = [k for k in _h5_keys(fh) if isinstance(fh.get(k), h5py.Dataset)]
        raise _MissingDataset(f"{where}: no dataset {key!r}; datasets in the file: {data}")
    if not isinstance(node, h5py.Dataset):
        raise FileFormatError(f"{where}: {key!r} is a group, not a dataset; its members: "
                              f"{sorted(node.keys())[:20]}")
    if node.dtype.kind not in "biuf":
        raise FileFormatError(f"{where}: {key!r} must be numeric, got dtype {node.dtype}")
    _readers.check_size(math.prod(node.shape) * node.dtype.itemsize, f"{where}:{key}")
    try:
        return node[()]
    except MemoryError:
        raise FileFormatError(f"{where}:{key}: not enough memory to read it") from None
    except Exception as exc:  # noqa: BLE001 - corrupt chunks, unavailable filters, ...
        raise FileFormatError(f"{where}:{key} could not be read: {str(exc)[:200]}") from None


def load_caiman(path: str | os.PathLike[str], trace_key: str = "estimates/C",
                fs_key: str = "params/data/fr",
                fs: float | None = None) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Traces from a CaImAn HDF5 results file (``cnm.save(...)``).

    Parameters
    ----------
    path : str or Path
        The ``.hdf5`` file.
    trace_key : str
        Dataset with the ``(n_cells, n_timepoints)`` traces (``estimates/C``; ``estimates/F_dff``
        for dF/F).
    fs_key : str
        Dataset with the frame rate in Hz; ignored when ``fs`` is given.
    fs : float, optional
        Frame rate in Hz, overriding the file.
    """
    h5py = _require("h5py", "load_caiman")
    p = _exists(path)
    try:
        fh = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError and others on damage
        raise FileFormatError(f"{p} is not a readable HDF5 file: {str(exc)[:200]}") from None
    with _h5_damage(p), fh:
        traces = _h5_read(h5py, fh, trace_key, str(p))
        rate: float | None
        if fs is not None:
            rate = _rate(fs, "fs")
        else:
            stored = _h5_read(h5py, fh, fs_key, str(p), required=False)
            rate = None if stored is None else _rate(stored, f"{p}:{fs_key}")
        # CaImAn keeps every component in C; the accepted ones (if evaluated) are reported.
        accepted = None
        good = _h5_read(h5py, fh, "estimates/idx_components", str(p), required=False)
        if good is not None:
            good = np.asarray(good).reshape(-1)
            if good.dtype.kind in "iu":
                accepted = [int(i) for i in good]
    ids = np.arange(np.atleast_2d(traces).shape[0])
    return _finish(traces, str(p), rate, ids, format="caiman", trace_key=trace_key,
                   accepted_components=accepted)


# --------------------------------------------------------------------------- Minian


def load_minian(path: str | os.PathLike[str], trace_key: str = "C",
                fs: float | None = None) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Traces from a Minian output folder (zarr; ``C`` is ``(unit_id, frame)``).

    Minian does not store the frame rate; pass ``fs`` (Hz). Cell ids are the ``unit_id``
    coordinate when present.
    """
    zarr = _require("zarr", "load_minian")
    p = _exists(path)
    candidates = [p / f"{trace_key}.zarr", p]
    group = None
    for cand in candidates:
        if not cand.is_dir():
            continue
        try:
            node = zarr.open(str(cand), mode="r")
        except Exception:  # noqa: BLE001 - not a zarr store; try the next layout
            continue
        group = node
        break
    if group is None:
        raise FileFormatError(f"{p} is not a zarr store (expected a Minian output folder)")
    arr = None
    if hasattr(group, "shape"):
        arr = group
    elif trace_key in group:
        arr = group[trace_key]
    if arr is None or not hasattr(arr, "shape"):
        keys = sorted(group.keys()) if hasattr(group, "keys") else []
        entries = sorted(c.name for c in p.iterdir()) if p.is_dir() else []
        raise KeyError(f"{p}: no array {trace_key!r}; zarr keys: {keys}; folder entries: {entries}")
    try:
        count = math.prod(int(d) for d in arr.shape)
        itemsize = np.dtype(arr.dtype).itemsize
    except (TypeError, ValueError):
        raise FileFormatError(f"{p}: array {trace_key!r} has no numeric dtype") from None
    _readers.check_size(count * itemsize, f"{p}:{trace_key}")
    traces = np.asarray(arr[...])
    if traces.ndim == 1:
        traces = traces.reshape(1, -1)
    dims = list(arr.attrs.get("_ARRAY_DIMENSIONS") or []) if hasattr(arr, "attrs") else []
    if dims[:2] == ["frame", "unit_id"] and traces.ndim == 2:
        traces = traces.T  # xarray may store (frame, unit_id); CaLab wants cells first
    ids: Any = np.arange(traces.shape[0])
    if not hasattr(group, "shape") and "unit_id" in group:
        cand_ids = np.asarray(group["unit_id"][...])
        if cand_ids.shape == (traces.shape[0],):
            ids = cand_ids
    rate = _rate(fs, "fs") if fs is not None else None
    return _finish(traces, str(p), rate, ids, format="minian", trace_key=trace_key)


# --------------------------------------------------------------------------- Suite2p


def load_suite2p(path: str | os.PathLike[str], fs: float | None = None,
                 neuropil_coefficient: float | None = 0.7,
                 only_cells: bool = True) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Traces from a Suite2p ``plane*`` folder (``F.npy``, ``Fneu.npy``, ``iscell.npy``,
    ``ops.npy``).

    Returns ``F - neuropil_coefficient * Fneu`` (``None`` skips the correction), restricted to
    ROIs classified as cells when ``only_cells``. The rate comes from ``ops['fs']`` unless ``fs``
    is given (then ``ops.npy`` is not read). Suite2p pickles ``ops``; it is read with an
    unpickler that builds only plain data (containers, numbers, strings, numpy arrays, dates),
    so a crafted ``ops.npy`` is refused (:class:`calab.FileFormatError`) and never runs code.
    Cell ids are the ROI indices in Suite2p's numbering.
    """
    p = _exists(path)
    if p.is_file():
        p = p.parent
    if not (p / "F.npy").is_file() and (p / "plane0" / "F.npy").is_file():
        p = p / "plane0"
    present = sorted(c.name for c in p.iterdir())
    need = ["F.npy"] + (["Fneu.npy"] if neuropil_coefficient is not None else [])
    need += ["iscell.npy"] if only_cells else []
    missing = [n for n in need if not (p / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{p}: missing {missing}; the folder holds {present}")

    def npy(name: str) -> Any:
        arr = _readers.read_npy(p / name)
        if arr.dtype.kind not in "biuf":
            raise FileFormatError(f"{p / name} must hold numbers, got dtype {arr.dtype}")
        return arr

    traces = np.asarray(npy("F.npy"), dtype=np.float64)
    if traces.ndim != 2:
        raise FileFormatError(f"{p / 'F.npy'} must be 2-D (ROIs x frames), got {traces.shape}")
    if neuropil_coefficient is not None:
        fneu = np.asarray(npy("Fneu.npy"), dtype=np.float64)
        if fneu.shape != traces.shape:
            raise FileFormatError(f"{p}: Fneu.npy shape {fneu.shape} != F.npy shape {traces.shape}")
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: kept, reported
            traces = traces - float(neuropil_coefficient) * fneu
    ids = np.arange(traces.shape[0])
    if only_cells:
        iscell = np.asarray(npy("iscell.npy"))
        if iscell.ndim not in (1, 2) or (iscell.ndim == 2 and iscell.shape[1] == 0):
            raise FileFormatError(f"{p / 'iscell.npy'} must be 1-D or (ROIs x 2) like Suite2p "
                                  f"writes it, got shape {iscell.shape}")
        flags = iscell[:, 0] if iscell.ndim == 2 else iscell
        if flags.shape[0] != traces.shape[0]:
            raise FileFormatError(f"{p}: iscell.npy has {flags.shape[0]} rows, F.npy "
                                  f"{traces.shape[0]}")
        keep = flags.astype(float) > 0.5
        traces, ids = traces[keep], ids[keep]
    rate: float | None = None
    if fs is not None:
        rate = _rate(fs, "fs")
    elif (p / "ops.npy").is_file():
        # Suite2p pickles its ops dict. A shared dataset is not a trusted program: build only
        # plain data from it (never a general unpickle), and read nothing but the rate.
        try:
            ops = _readers.load_plain_pickle(p / "ops.npy")
        except FileFormatError as exc:
            raise FileFormatError(f"{exc}; pass the frame rate (fs= / --fs) to skip "
                                  "ops.npy") from None
        ops = ops.item() if isinstance(ops, np.ndarray) and ops.dtype == object and \
            ops.shape == () else ops
        if isinstance(ops, dict) and "fs" in ops:
            rate = _rate(ops["fs"], f"{p / 'ops.npy'}['fs']")
    return _finish(traces, str(p), rate, ids, format="suite2p",
                   neuropil_coefficient=neuropil_coefficient, only_cells=only_cells)


# --------------------------------------------------------------------------- NWB


def _nwb_series(nwb: Any) -> dict[str, Any]:
    """name -> RoiResponseSeries, over every processing module (``module/interface/series``)."""
    pynwb = _require("pynwb", "load_nwb")
    found: dict[str, Any] = {}
    for mod_name, module in nwb.processing.items():
        for iface_name, iface in module.data_interfaces.items():
            if isinstance(iface, pynwb.ophys.RoiResponseSeries):
                found[f"{mod_name}/{iface_name}"] = iface
            elif hasattr(iface, "roi_response_series"):
                for s_name, series in iface.roi_response_series.items():
                    found[f"{mod_name}/{iface_name}/{s_name}"] = series
    return found


def load_nwb(path: str | os.PathLike[str], series: str | None = None,
             fs: float | None = None) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Traces from an NWB file's ``RoiResponseSeries`` (``ophys/Fluorescence/<name>``).

    Parameters
    ----------
    series : str, optional
        Which series: its full path ``module/interface[/series]`` or just its name. Required when
        the file holds more than one.
    fs : float, optional
        Rate in Hz; otherwise the series' ``rate`` (or the median step of its timestamps).

    Cell ids are the ROI table's ids for the referenced rows.
    """
    pynwb = _require("pynwb", "load_nwb")
    p = _exists(path)
    try:
        io = pynwb.NWBHDF5IO(str(p), mode="r")
    except Exception as exc:  # noqa: BLE001 - h5py/hdmf raise many types for bad files
        raise FileFormatError(f"{p} is not a readable NWB file: {exc}") from None
    with io:
        try:
            nwb = io.read()
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{p} is not a readable NWB file: {exc}") from None
        found = _nwb_series(nwb)
        if not found:
            mods = {m: list(mod.data_interfaces) for m, mod in nwb.processing.items()}
            raise KeyError(f"{p}: no RoiResponseSeries found; processing modules: {mods}")
        if series is None:
            if len(found) > 1:
                raise KeyError(f"{p}: several series, choose one with series=: {sorted(found)}")
            key = next(iter(found))
        else:
            matches = [k for k in found if k == series or k.split("/")[-1] == series]
            if len(matches) != 1:
                raise KeyError(f"{p}: series {series!r} not found uniquely; available: "
                               f"{sorted(found)}")
            key = matches[0]
        rrs = found[key]
        try:
            count = math.prod(int(d) for d in rrs.data.shape)
            itemsize = np.dtype(rrs.data.dtype).itemsize
        except (AttributeError, TypeError, ValueError):
            count, itemsize = 0, 0
        _readers.check_size(count * itemsize, f"{p}:{key}")
        data = np.asarray(rrs.data[()])
        traces = data.T if data.ndim == 2 else data.reshape(1, -1)  # NWB stores (time, rois)
        rate: float | None = None
        if fs is not None:
            rate = _rate(fs, "fs")
        elif getattr(rrs, "rate", None):
            rate = _rate(rrs.rate, f"{p}:{key}.rate")
        elif getattr(rrs, "timestamps", None) is not None and len(rrs.timestamps) > 1:
            step = float(np.median(np.diff(np.asarray(rrs.timestamps[()]))))
            rate = _rate(1.0 / step if step > 0 else float("nan"), f"{p}:{key}.timestamps")
        region = rrs.rois
        try:
            rows = np.asarray(region.data[()])
            ids = np.asarray(region.table.id[()])[rows]
        except Exception:  # noqa: BLE001 - fall back to positions when the table is odd
            ids = np.arange(traces.shape[0])
    return _finish(traces, str(p), rate, ids, format="nwb", series=key)
