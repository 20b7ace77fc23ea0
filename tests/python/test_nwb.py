"""NWB out (calab.save_nwb, --nwb on calab deconvolve / calab cadecon): real NWB files written
with pynwb, read back with pynwb. The results sit where roiextractors / neuroconv look for
deconvolved traces (ophys/Fluorescence/Deconvolved); a recording that came from an NWB file keeps
everything it held and gets the results next to its own series, referencing its ROIs and timing;
the original is never modified without --force."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest
from calab import io as cio

pynwb = pytest.importorskip("pynwb")

FS, TAU_R, TAU_D = 30.0, 0.05, 0.4
GAMMA = calab.gamma_from_tau(TAU_D, FS)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=300, env=ENV)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def traces() -> np.ndarray:
    return calab.simulate(calab.presets.gcamp6f(num_cells=5, num_timepoints=900, fs=FS,
                                                seed=21)).traces


def _source_nwb(path: Path, traces: np.ndarray, *, timestamps: bool = False) -> None:
    """An NWB file as a pipeline writes it: an imaging plane, a PlaneSegmentation with image
    masks (one more ROI than traces, to check the region), raw fluorescence for ROIs 1..n."""
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    nwb = pynwb.NWBFile(session_description="test session", identifier="src-1",
                        session_start_time=datetime(2024, 1, 2, tzinfo=timezone.utc))
    device = nwb.create_device(name="Microscope")
    channel = OpticalChannel(name="Green", description="green", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(name="ImagingPlane", optical_channel=channel,
                                     device=device, description="L2/3", excitation_lambda=920.0,
                                     indicator="GCaMP6f", location="V1", imaging_rate=FS)
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="rois",
                                       imaging_plane=plane)
    n = traces.shape[0]
    for i in range(n + 1):
        mask = np.zeros((8, 8))
        mask[i % 8, i // 8] = 1.0
        ps.add_roi(image_mask=mask)
    ophys = nwb.create_processing_module(name="ophys", description="processed")
    ophys.add(seg)
    region = ps.create_roi_table_region(region=list(range(1, n + 1)), description="cells")
    fl = Fluorescence(name="Fluorescence")
    ophys.add(fl)
    timing: dict[str, Any] = (
        {"timestamps": 5.0 + np.arange(traces.shape[1]) / FS} if timestamps
        else {"rate": FS, "starting_time": 5.0})
    fl.create_roi_response_series(name="RoiResponseSeries", data=traces.T.copy(), rois=region,
                                  unit="a.u.", **timing)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def _read(path: Path) -> Any:
    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


# --------------------------------------------------------------------------- save_nwb


@pytest.mark.parametrize("solver", ["l1", "l0", "convar"])
def test_save_nwb_new_file(solver: str, traces: np.ndarray, tmp_path: Path) -> None:
    res = {"l1": lambda: calab.run_deconvolution_full(traces, FS, TAU_R, TAU_D, 0.02),
           "l0": lambda: calab.run_l0(traces, GAMMA, 0.4),
           "convar": lambda: calab.run_convar(traces, GAMMA, 0.5)}[solver]()
    out = calab.save_nwb(tmp_path / "out.nwb", res, fs=FS, parameters={"lam": 0.02})
    assert out == tmp_path / "out.nwb"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nwb"]  # no temporary left behind
    io, nwb = _read(out)
    with io:
        ophys = nwb.processing["ophys"]
        series = ophys["Fluorescence"]["Deconvolved"]
        assert isinstance(series, pynwb.ophys.RoiResponseSeries)
        assert np.array_equal(series.data[()], res.activity.T)
        assert series.rate == FS and series.starting_time == 0.0
        assert len(series.rois.table) == traces.shape[0]
        # What roiextractors' NwbSegmentationExtractor needs to read the file: a
        # PlaneSegmentation named so, with image masks (checked with roiextractors 0.10).
        table = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert series.rois.table is table and "image_mask" in table.colnames
        record = json.loads(series.comments)
        assert record["solver"] == solver and record["parameters"] == {"lam": 0.02}
        assert record["calab_version"] == calab.__version__
        stats = ophys["DeconvolvedStats"].to_dataframe()
        assert np.array_equal(stats["noise"].to_numpy(), res.noise, equal_nan=True)
        assert np.array_equal(stats["baseline"].to_numpy(), res.baseline)
        assert stats["converged"].to_numpy().dtype == bool and stats["converged"].all()
        names = set(ophys["Fluorescence"].roi_response_series)
        if solver == "l0":
            counts = ophys["Fluorescence"]["DeconvolvedSpikeCounts"].data[()]
            assert np.array_equal(counts, (res.spikes != 0).T.astype(float))
            rates = ophys["Fluorescence"]["DeconvolvedRates"]
            assert rates.unit == "spikes/s" and np.array_equal(rates.data[()], counts * FS)
            assert np.array_equal(stats["num_spikes"].to_numpy(), res.num_spikes)
        else:
            assert names == {"Deconvolved"}


def test_save_nwb_refusals(traces: np.ndarray, tmp_path: Path) -> None:
    res = calab.run_deconvolution_full(traces, FS, TAU_R, TAU_D, 0.02)
    calab.save_nwb(tmp_path / "a.nwb", res, fs=FS)
    before = _digest(tmp_path / "a.nwb")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        calab.save_nwb(tmp_path / "a.nwb", res, fs=FS)
    assert _digest(tmp_path / "a.nwb") == before
    with pytest.raises(calab.InvalidParameterError, match="fs"):
        calab.save_nwb(tmp_path / "b.nwb", res)  # a new file needs the rate
    with pytest.raises(calab.InvalidParameterError, match="ActivityResult"):
        calab.save_nwb(tmp_path / "b.nwb", res.activity, fs=FS)
    with pytest.raises(calab.InvalidParameterError, match="JSON"):
        calab.save_nwb(tmp_path / "b.nwb", res, fs=FS, parameters={"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nwb"]


def test_save_nwb_appends_to_a_copy_of_the_source(traces: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "src.nwb"
    _source_nwb(src, traces, timestamps=True)
    before = _digest(src)
    res = calab.run_l0(traces, GAMMA, 0.4)
    out = calab.save_nwb(tmp_path / "with_results.nwb", res, source=src)
    assert _digest(src) == before
    io, nwb = _read(out)
    with io:
        raw = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        dec = nwb.processing["ophys"]["Fluorescence"]["Deconvolved"]
        assert np.array_equal(raw.data[()], traces.T)  # the source's own data are kept
        assert nwb.identifier == "src-1" and nwb.imaging_planes["ImagingPlane"].indicator == \
            "GCaMP6f"
        assert dec.rois.table is raw.rois.table
        assert list(dec.rois.data[()]) == list(raw.rois.data[()]) == [1, 2, 3, 4, 5]
        assert np.array_equal(dec.timestamps[()], raw.timestamps[()])  # linked timing
        assert dec.timestamp_link is not None or dec.timestamps is raw.timestamps
    # One series of several must be named; names already used are refused.
    with pytest.raises(calab.FileFormatError, match="several series"):
        calab.save_nwb(tmp_path / "again.nwb", res, source=out)
    with pytest.raises(FileExistsError, match="already holds"):
        calab.save_nwb(tmp_path / "again.nwb", res, source=out, series="RoiResponseSeries")
    assert not (tmp_path / "again.nwb").exists()
    calab.save_nwb(tmp_path / "again.nwb", res, source=out, series="RoiResponseSeries",
                   name="DeconvolvedL0")
    with pytest.raises(calab.ShapeMismatchError):
        calab.save_nwb(tmp_path / "short.nwb", calab.run_l0(traces[:, :500], GAMMA, 0.4),
                       source=src)
    with pytest.raises(calab.ShapeMismatchError):
        calab.save_nwb(tmp_path / "rows.nwb", res, source=src, rows=[0, 1, 2, 3, 9])


def test_save_nwb_in_place_only_with_overwrite(traces: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "src.nwb"
    _source_nwb(src, traces)
    before = _digest(src)
    res = calab.run_deconvolution_full(traces, FS, TAU_R, TAU_D, 0.02)
    with pytest.raises(FileExistsError, match="source recording"):
        calab.save_nwb(src, res, source=src)
    assert _digest(src) == before
    calab.save_nwb(src, res, source=src, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.nwb"]
    io, nwb = _read(src)
    with io:
        fl = nwb.processing["ophys"]["Fluorescence"]
        assert np.array_equal(fl["RoiResponseSeries"].data[()], traces.T)
        dec = fl["Deconvolved"]
        assert np.array_equal(dec.data[()], res.activity.T)
        assert dec.rate == FS and dec.starting_time == 5.0


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def nwb_recording(traces: np.ndarray, tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "session.nwb"
    _source_nwb(src, traces)
    res = _cli("convert", str(src), "--format", "nwb", "-o", str(tmp_path / "rec"))
    assert res.returncode == 0, res.stderr
    for solver, sp in (("l1", None), ("l0", {"lambda": 0.4, "positive": True})):
        (tmp_path / f"{solver}.json").write_text(json.dumps(cio.build_export(
            TAU_R, TAU_D, 0.02, FS, solver=solver, solver_params=sp)), encoding="utf-8")
    return {"src": src, "rec": tmp_path / "rec", "l1": tmp_path / "l1.json",
            "l0": tmp_path / "l0.json", "dir": tmp_path}


def test_cli_deconvolve_nwb_from_an_nwb_recording(nwb_recording: dict[str, Path],
                                                  traces: np.ndarray) -> None:
    d, src = nwb_recording["dir"], nwb_recording["src"]
    before = _digest(src)
    res = _cli("deconvolve", str(nwb_recording["rec"]), "--params", str(nwb_recording["l0"]),
               "-o", str(d / "act"), "--nwb", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"added to a copy of {src}" in res.stdout
    assert _digest(src) == before
    want = calab.run_l0(traces, GAMMA, 0.4)
    io, nwb = _read(d / "act.nwb")
    with io:
        fl = nwb.processing["ophys"]["Fluorescence"]
        assert np.array_equal(fl["Deconvolved"].data[()], want.spikes.T)
        assert np.array_equal(fl["RoiResponseSeries"].data[()], traces.T)
        assert list(fl["Deconvolved"].rois.data[()]) == [1, 2, 3, 4, 5]
        record = json.loads(fl["DeconvolvedRates"].comments)
        assert record["parameters"]["parameters"]["solver"] == "l0"
    # The source itself: refused without --force (before solving: no activity written) ...
    res = _cli("deconvolve", str(nwb_recording["rec"]), "--params", str(nwb_recording["l1"]),
               "-o", str(d / "act2"), "--nwb", str(src), "--no-progress")
    assert res.returncode == 2 and "--force" in res.stderr and "source" in res.stderr
    assert not (d / "act2.npy").exists() and _digest(src) == before
    # ... and added to in place with it.
    res = _cli("deconvolve", str(nwb_recording["rec"]), "--params", str(nwb_recording["l1"]),
               "-o", str(d / "act2"), "--nwb", str(src), "--force", "--no-progress")
    assert res.returncode == 0, res.stderr
    io, nwb = _read(src)
    with io:
        fl = nwb.processing["ophys"]["Fluorescence"]
        assert np.array_equal(fl["Deconvolved"].data[()], np.load(d / "act2.npy").T)
        assert np.array_equal(fl["RoiResponseSeries"].data[()], traces.T)
    # A second result of the same name is refused (exit 2); another name is fine.
    res = _cli("deconvolve", str(nwb_recording["rec"]), "--params", str(nwb_recording["l1"]),
               "-o", str(d / "act3"), "--nwb", str(src), "--force", "--no-progress")
    assert res.returncode == 2 and "--nwb-name" in res.stderr


def test_cli_deconvolve_nwb_from_npy_and_existing_output(traces: np.ndarray,
                                                         tmp_path: Path) -> None:
    cio.save_for_tuning(traces, FS, tmp_path / "rec")
    (tmp_path / "l1.json").write_text(json.dumps(cio.build_export(TAU_R, TAU_D, 0.02, FS)))
    args = ["deconvolve", str(tmp_path / "rec"), "--params", str(tmp_path / "l1.json"),
            "-o", str(tmp_path / "act"), "--nwb", str(tmp_path / "res.nwb"), "--no-progress"]
    res = _cli(*args)
    assert res.returncode == 0, res.stderr
    io, nwb = _read(tmp_path / "res.nwb")
    with io:
        dec = nwb.processing["ophys"]["Fluorescence"]["Deconvolved"]
        assert np.array_equal(dec.data[()], np.load(tmp_path / "act.npy").T)
        assert "Placeholder" in dec.rois.table.description
    res = _cli(*args)
    assert res.returncode == 2 and "exists" in res.stderr and "--force" in res.stderr


def test_cli_cadecon_native_nwb(traces: np.ndarray, tmp_path: Path) -> None:
    cio.save_for_tuning(traces, FS, tmp_path / "rec")
    res = _cli("cadecon", str(tmp_path / "rec"), "-o", str(tmp_path / "learned"), "--native",
               "--max-iterations", "2", "--upsample-target", "30", "--no-progress", "--nwb")
    assert res.returncode == 0, res.stderr
    counts = np.load(tmp_path / "learned_activity.npy")
    meta = json.loads((tmp_path / "learned_results.json").read_text())
    io, nwb = _read(tmp_path / "learned.nwb")
    with io:
        ophys = nwb.processing["ophys"]
        fl = ophys["Fluorescence"]
        assert np.array_equal(fl["Deconvolved"].data[()], counts.T)
        assert fl["Deconvolved"].unit == "spikes per frame"
        assert np.array_equal(fl["DeconvolvedSpikeCounts"].data[()], counts.T)
        assert np.allclose(fl["DeconvolvedRates"].data[()], counts.T * FS)
        record = json.loads(fl["Deconvolved"].comments)
        assert record["solver"] == "indeca"
        assert record["parameters"]["tau_decay"] == meta["tau_decay"]
        assert "history" not in record["parameters"]
        stats = ophys["DeconvolvedStats"].to_dataframe()
        assert np.allclose(stats["alphas"].to_numpy(), meta["alphas"])
        assert stats["converged"].all()
