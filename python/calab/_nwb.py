"""Deconvolution results out to NWB, in the layout the field's readers expect.

Layout (the ``"Deconvolved"`` convention): in the processing module ``ophys``, the
``Fluorescence`` container gets a ``RoiResponseSeries`` named ``Deconvolved`` holding the activity
(time x ROIs), which is where roiextractors' ``NwbSegmentationExtractor`` (and so neuroconv) looks
for deconvolved traces, next to ``Fluorescence/RoiResponseSeries`` (raw) and
``DfOverF/RoiResponseSeries`` (dF/F). Suite2p's own writer keeps the same data in a
``Fluorescence`` container named ``Deconvolved`` (series ``plane0``) and CaImAn writes no
deconvolved series, so ``ophys/Fluorescence/Deconvolved`` is the one path two of the three
agree on. Solvers that count spikes (InDeCa; L0, one event per jump) add
``DeconvolvedSpikeCounts`` (spikes per frame) and ``DeconvolvedRates`` (spikes/s); the per-ROI
noise, baseline and convergence (plus each solver's per-ROI extras) go to a table
``DeconvolvedStats`` in the same module, with a ``rois`` column pointing at the ROI table; the
parameters, as JSON, are each series' ``comments``.

When the traces came from an NWB file, the series reference that file's ROIs and timing, and
everything the file held is kept: the output is a copy of the source with the results added (or
the source itself, replaced atomically, only with ``overwrite=True``). Otherwise a new file is
written with a placeholder ROI table (one ROI per row, one-pixel empty masks). pynwb is optional
(``pip install 'calab[loaders]'``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

import numpy as np

from ._errors import FileFormatError, InvalidParameterError, ShapeMismatchError
from .io import _json_default

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["save_nwb"]

#: Unit of the activity series, per solver.
_UNITS = {
    "l1": "trace units per kernel peak",
    "l0": "trace units (calcium jump)",
    "convar": "trace units per frame (population rate)",
    "indeca": "spikes per frame",
}
_DESCRIPTIONS = {
    "l1": "CaLab L1 deconvolution (calab.run_deconvolution): non-negative activity",
    "l0": "CaLab exact L0 spike inference (calab.run_l0): spike sizes at spike times",
    "convar": "CaLab Convar (calab.run_convar): smooth population spiking rate",
    "indeca": "CaLab InDeCa / CaDecon (calab.run_indeca): inferred spike counts per frame",
}


def _per_row(result: Any, n: int) -> dict[str, np.ndarray]:
    """Per-ROI values: the shared ones first, then the solver's own numeric per-row fields."""
    out: dict[str, np.ndarray] = {}
    names = ["noise", "baseline", "converged"] + [
        f for f in result._fields if f not in ("noise", "baseline", "converged")]
    seen: list[Any] = []
    for name in names:
        raw = getattr(result, name)
        if any(raw is v for v in seen):
            continue  # an alias (InDeCa baseline = baselines)
        seen.append(raw)
        value = np.asarray(raw)
        if value.shape == () and n == 1:
            value = value.reshape(1)
        if value.shape == (n,) and value.dtype.kind in "biuf":
            out[name] = value.astype(bool) if value.dtype.kind == "b" else value
    return out


def _find_series(nwb: Any, series: str | None, where: str) -> Any:
    from .loaders import _nwb_series

    found = _nwb_series(nwb)
    if not found:
        raise FileFormatError(f"{where} holds no RoiResponseSeries to attach the results to")
    if series is None:
        if len(found) > 1:
            raise FileFormatError(f"{where}: several series, say which the traces came from "
                                  f"(series=): {sorted(found)}")
        return next(iter(found.values()))
    matches = [k for k in found if k == series or k.split("/")[-1] == series]
    if len(matches) != 1:
        raise FileFormatError(f"{where}: series {series!r} not found uniquely; available: "
                              f"{sorted(found)}")
    return found[matches[0]]


def _placeholder_rois(nwb: Any, n: int) -> Any:
    from pynwb.ophys import ImageSegmentation, OpticalChannel

    device = nwb.create_device(name="Microscope", description="unknown (not recorded by CaLab)")
    channel = OpticalChannel(name="OpticalChannel", description="unknown",
                             emission_lambda=float("nan"))
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, device=device, description="unknown",
        excitation_lambda=float("nan"), indicator="unknown", location="unknown")
    seg = ImageSegmentation(name="ImageSegmentation")
    table = seg.create_plane_segmentation(
        name="PlaneSegmentation", imaging_plane=plane,
        description="Placeholder ROIs written by CaLab: ROI i is row i of the deconvolved input "
                    "traces; the input carried no masks, so each image mask is one empty pixel.")
    for _ in range(n):
        table.add_roi(image_mask=np.zeros((1, 1)))
    return seg, table


def save_nwb(
    path: PathLike,
    result: Any,
    *,
    fs: float | None = None,
    source: PathLike | None = None,
    series: str | None = None,
    rows: Sequence[int] | None = None,
    parameters: Mapping[str, Any] | None = None,
    name: str = "Deconvolved",
    overwrite: bool = False,
    session_description: str | None = None,
) -> Path:
    """Write a deconvolution result to an NWB file (see the module docs for the layout).

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file to write. An existing file is refused unless ``overwrite`` (that
        includes ``source`` itself: appending to the original recording needs ``overwrite``).
    result : ActivityResult
        Any solver's full result (:class:`calab.ActivityResult`), one row per ROI.
    fs : float, optional
        Sampling rate in Hz; default the result's own ``fs`` (InDeCa) or the source series' rate.
    source : str or Path, optional
        The NWB file the traces were read from: the output is a copy of it with the results
        added, referencing its ROIs and timing.
    series : str, optional
        Which ``RoiResponseSeries`` of ``source`` the traces are (as for :func:`calab.load_nwb`);
        needed when it holds several.
    rows : sequence of int, optional
        Which ROIs of that series the result's rows are (default: all, in order; an InDeCa
        result's ``metadata["cell_indices"]`` when it has them).
    parameters : dict, optional
        JSON-serialisable parameters to record (the CaTune export, the CaDecon config, ...).
    name : str
        Base name of the written objects (``name``, ``name + "SpikeCounts"``,
        ``name + "Rates"``, ``name + "Stats"``); existing objects of those names are refused.
    overwrite : bool
        Replace an existing ``path``.
    session_description : str, optional
        For a new file (no ``source``).

    Returns
    -------
    Path
        ``path``. The file is written under a temporary name and moved into place, so a failure
        never leaves a half-written file or a damaged source.

    Examples
    --------
    >>> import os, tempfile, calab, pynwb
    >>> sim = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=600))
    >>> res = calab.run_deconvolution_full(sim.traces, 30.0, 0.02, 0.4, 0.02)
    >>> out = calab.save_nwb(os.path.join(tempfile.mkdtemp(), "act.nwb"), res, fs=30.0)
    >>> with pynwb.NWBHDF5IO(out, "r") as io:
    ...     io.read().processing["ophys"]["Fluorescence"]["Deconvolved"].data.shape
    (600, 3)
    """
    from .loaders import _require

    pynwb = _require("pynwb", "save_nwb")
    from hdmf.common import DynamicTable, DynamicTableRegion, VectorData

    solver = str(getattr(result, "solver", ""))
    if solver not in _UNITS or not hasattr(result, "_fields"):
        raise InvalidParameterError(
            f"save_nwb needs a calab solver result (calab.ActivityResult), got "
            f"{type(result).__name__}", code="INVALID_PARAMETER")
    activity = np.asarray(result.activity, dtype=np.float64)
    if activity.ndim == 1:
        activity = activity.reshape(1, -1)
    if activity.ndim != 2 or activity.size == 0:
        raise ShapeMismatchError(f"result.activity must be cells x time, got {activity.shape}",
                                 code="SHAPE_MISMATCH")
    n_rois, n_t = activity.shape
    if not name or "/" in name:
        raise InvalidParameterError(f"invalid NWB object name {name!r}", code="INVALID_PARAMETER")
    if fs is None and getattr(result, "fs", None) is not None:
        fs = float(result.fs)
    if fs is not None and not (math.isfinite(float(fs)) and float(fs) > 0):
        raise InvalidParameterError(f"invalid parameter `fs` = {fs!r}: must be > 0 (Hz)",
                                    code="INVALID_PARAMETER")
    if rows is None and solver == "indeca":
        rows = result.metadata.get("cell_indices")
    from . import __version__

    record = {"calab_version": __version__, "solver": solver,
              "sampling_rate_hz": None if fs is None else float(fs),
              "parameters": dict(parameters or {})}
    try:
        comments = json.dumps(record, default=_json_default, allow_nan=False)  # numpy, paths
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"parameters are not JSON-serialisable: {exc}",
                                    code="INVALID_PARAMETER") from None

    dest = Path(path)
    src = None if source is None else Path(source)
    if src is not None and not src.is_file():
        raise FileNotFoundError(f"no such NWB file: {src}")
    in_place = src is not None and dest.exists() and dest.resolve() == src.resolve()
    if dest.exists() and not overwrite:
        what = ("it is the source recording; the results would be added to it in place"
                if in_place else "it exists")
        raise FileExistsError(f"{dest}: {what}; pass overwrite=True (calab: --force) to "
                              "replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".tmp.nwb", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if src is not None:
            shutil.copyfile(src, tmp)
            io = pynwb.NWBHDF5IO(str(tmp), mode="a")
        else:
            io = pynwb.NWBHDF5IO(str(tmp), mode="w")
        with io:
            timing: dict[str, Any]
            if src is not None:
                try:
                    nwb = io.read()
                except Exception as exc:  # noqa: BLE001 - h5py/hdmf raise many types
                    raise FileFormatError(f"{src} is not a readable NWB file: {exc}") from None
                traces = _find_series(nwb, series, str(src))
                length = int(traces.data.shape[0])
                if length != n_t:
                    raise ShapeMismatchError(
                        f"{src}: series {traces.name!r} has {length} samples, the result "
                        f"{n_t}", code="SHAPE_MISMATCH")
                base = np.asarray(traces.rois.data[()]).reshape(-1)
                pick = np.arange(base.size) if rows is None else np.asarray(list(rows), int)
                if pick.size != n_rois or (pick.size and (pick.min() < 0
                                                          or pick.max() >= base.size)):
                    raise ShapeMismatchError(
                        f"{src}: the result has {n_rois} rows but series {traces.name!r} has "
                        f"{base.size} ROIs (rows={None if rows is None else list(rows)})",
                        code="SHAPE_MISMATCH")
                table = traces.rois.table
                if traces.timestamps is not None:
                    timing = {"timestamps": traces}  # linked, so both stay aligned exactly
                else:
                    timing = {"rate": float(traces.rate if fs is None else fs),
                              "starting_time": float(traces.starting_time or 0.0)}
                    fs = timing["rate"]
                region_rows = [int(i) for i in base[pick]]
            else:
                if fs is None:
                    raise InvalidParameterError("save_nwb needs fs (Hz) for a new file",
                                                code="INVALID_PARAMETER")
                nwb = pynwb.NWBFile(
                    session_description=session_description or "CaLab deconvolution results",
                    identifier=str(uuid.uuid4()),
                    session_start_time=datetime.now(timezone.utc))
                seg, table = _placeholder_rois(nwb, n_rois)
                timing = {"rate": float(fs), "starting_time": 0.0}
                region_rows = list(range(n_rois))
            ophys = nwb.processing.get("ophys")
            if ophys is None:
                ophys = nwb.create_processing_module(
                    name="ophys", description="optical physiology processed data")
            if src is None:
                ophys.add(seg)
            fluo = ophys.data_interfaces.get("Fluorescence")
            if fluo is None:
                fluo = pynwb.ophys.Fluorescence(name="Fluorescence")
                ophys.add(fluo)
            elif not isinstance(fluo, pynwb.ophys.Fluorescence):
                raise FileFormatError(f"{dest}: ophys/Fluorescence is a "
                                      f"{type(fluo).__name__}, not a Fluorescence container")
            series_data: dict[str, tuple[np.ndarray, str, str]] = {
                name: (activity, _UNITS[solver], _DESCRIPTIONS[solver])}
            counts = None
            if solver == "indeca":
                counts = activity
            elif solver == "l0":
                counts = (activity != 0).astype(np.float64)
            if counts is not None and fs is not None:
                series_data[name + "SpikeCounts"] = (
                    counts, "spikes per frame", f"{_DESCRIPTIONS[solver]}; spike events per frame")
                series_data[name + "Rates"] = (
                    counts * float(fs), "spikes/s", f"{_DESCRIPTIONS[solver]}; spike counts x fs")
            clash = [n for n in [*series_data, name + "Stats"]
                     if n in fluo.roi_response_series or n in ophys.data_interfaces]
            if clash:
                raise FileExistsError(f"{dest}: ophys already holds {clash}; choose another "
                                      "name= (calab: --nwb-name)")

            def region(label: str) -> Any:
                return DynamicTableRegion(name="rois", data=region_rows, table=table,
                                          description=f"ROIs of {label}")

            for sname, (data, unit, desc) in series_data.items():
                fluo.add_roi_response_series(pynwb.ophys.RoiResponseSeries(
                    name=sname, data=np.ascontiguousarray(data.T), rois=region(sname),
                    unit=unit, description=desc, comments=comments, **timing))
            per_row = _per_row(result, n_rois)
            columns = [region(name + "Stats")] + [
                VectorData(name=k, data=v.tolist(), description=_COLUMN_DOCS.get(k, k))
                for k, v in per_row.items()]
            ophys.add(DynamicTable(
                name=name + "Stats", columns=columns, id=list(range(n_rois)),
                description=f"Per-ROI values of {name} ({solver}); parameters: {comments}"))
            io.write(nwb)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return dest


_COLUMN_DOCS = {
    "noise": "noise standard deviation of the input trace (trace units; NaN: unknown)",
    "baseline": "constant baseline of the model (trace units)",
    "converged": "the solver met its stopping rule",
    "iterations": "solver iterations",
    "cost": "attained L0 objective",
    "num_spikes": "number of L0 spikes",
    "lambda_": "penalty used",
    "objective": "attained Convar objective",
    "alphas": "fluorescence amplitude of one spike (trace units)",
    "baselines": "baseline fluorescence (trace units)",
    "pves": "proportion of variance explained",
}
