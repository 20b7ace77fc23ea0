"""Loaders for CaImAn, Minian, Suite2p and NWB outputs, read from files written in each real
format (h5py, zarr, numpy, pynwb)."""

from __future__ import annotations

import builtins
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from calab import loaders
from calab._errors import FileFormatError

RNG = np.random.default_rng(3)
TRACES = RNG.normal(size=(4, 50))
KEYS = {"source", "sampling_rate_hz", "cell_ids", "num_cells", "num_timepoints"}


def _check(traces: np.ndarray, meta: dict[str, Any], expected: np.ndarray) -> None:
    assert traces.dtype == np.float64 and traces.flags.c_contiguous
    np.testing.assert_allclose(traces, expected)
    assert KEYS <= set(meta)
    assert meta["num_cells"] == expected.shape[0] == len(meta["cell_ids"])
    assert meta["num_timepoints"] == expected.shape[1]


# ------------------------------------------------------------------ CaImAn


def _caiman(path: Path, fr: float = 15.0) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.create_dataset("estimates/C", data=TRACES)
        f.create_dataset("estimates/F_dff", data=TRACES * 2)
        f.create_dataset("estimates/idx_components", data=np.array([0, 2]))
        f.create_dataset("params/data/fr", data=fr)
    return path


def test_caiman(tmp_path: Path) -> None:
    path = _caiman(tmp_path / "res.hdf5")
    traces, meta = loaders.load_caiman(path)
    _check(traces, meta, TRACES)
    assert meta["sampling_rate_hz"] == 15.0 and meta["accepted_components"] == [0, 2]
    traces, meta = loaders.load_caiman(path, trace_key="estimates/F_dff", fs=20.0)
    _check(traces, meta, TRACES * 2)
    assert meta["sampling_rate_hz"] == 20.0


def test_caiman_errors(tmp_path: Path) -> None:
    path = _caiman(tmp_path / "res.hdf5")
    with pytest.raises(KeyError, match="estimates/F_dff"):
        loaders.load_caiman(path, trace_key="estimates/S")
    _, meta = loaders.load_caiman(path, fs_key="params/missing")
    assert meta["sampling_rate_hz"] is None
    with pytest.raises(FileNotFoundError):
        loaders.load_caiman(tmp_path / "nope.hdf5")
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError):
        loaders.load_caiman(tmp_path / "junk.hdf5")


# ------------------------------------------------------------------ Minian


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_minian(tmp_path: Path, zarr_format: int) -> None:
    zarr = pytest.importorskip("zarr", minversion="3")
    out = tmp_path / "minian"
    out.mkdir()
    # Minian writes each variable as its own xarray-style zarr group: C.zarr/{C, unit_id, frame}
    group = zarr.open_group(str(out / "C.zarr"), mode="w", zarr_format=zarr_format)
    arr = group.create_array("C", shape=TRACES.shape, dtype="f8")
    arr[...] = TRACES
    arr.attrs["_ARRAY_DIMENSIONS"] = ["unit_id", "frame"]
    ids = group.create_array("unit_id", shape=(4,), dtype="i8")
    ids[...] = np.array([3, 7, 8, 20])
    traces, meta = loaders.load_minian(out, fs=30.0)
    _check(traces, meta, TRACES)
    assert meta["cell_ids"] == [3, 7, 8, 20] and meta["sampling_rate_hz"] == 30.0
    # the group itself, and (frame, unit_id) storage, are also understood
    _check(*loaders.load_minian(out / "C.zarr"), TRACES)
    t_group = zarr.open_group(str(tmp_path / "T.zarr"), mode="w", zarr_format=zarr_format)
    t_arr = t_group.create_array("C", shape=TRACES.T.shape, dtype="f8")
    t_arr[...] = TRACES.T
    t_arr.attrs["_ARRAY_DIMENSIONS"] = ["frame", "unit_id"]
    _check(*loaders.load_minian(tmp_path / "T.zarr"), TRACES)


def test_minian_errors(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr", minversion="3")
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("S", shape=(2, 3), dtype="f8")
    with pytest.raises(KeyError, match="S"):
        loaders.load_minian(tmp_path / "g.zarr")
    with pytest.raises(FileNotFoundError):
        loaders.load_minian(tmp_path / "missing")


# ------------------------------------------------------------------ Suite2p


def _suite2p(plane: Path, with_ops: bool = True) -> None:
    plane.mkdir(parents=True)
    np.save(plane / "F.npy", TRACES.astype(np.float32))
    np.save(plane / "Fneu.npy", (TRACES / 2).astype(np.float32))
    iscell = np.array([[1, 0.9], [0, 0.1], [1, 0.8], [0, 0.4]])
    np.save(plane / "iscell.npy", iscell)
    if with_ops:
        np.save(plane / "ops.npy", np.array({"fs": 9.5, "nplanes": 1}, dtype=object))


def test_suite2p(tmp_path: Path) -> None:
    plane = tmp_path / "suite2p" / "plane0"
    _suite2p(plane)
    f32 = TRACES.astype(np.float32).astype(np.float64)
    fneu = (TRACES / 2).astype(np.float32).astype(np.float64)
    traces, meta = loaders.load_suite2p(plane)
    _check(traces, meta, (f32 - 0.7 * fneu)[[0, 2]])
    assert meta["cell_ids"] == [0, 2] and meta["sampling_rate_hz"] == 9.5
    traces, meta = loaders.load_suite2p(tmp_path / "suite2p", neuropil_coefficient=None,
                                        only_cells=False, fs=3.0)
    _check(traces, meta, f32)
    assert meta["cell_ids"] == [0, 1, 2, 3] and meta["sampling_rate_hz"] == 3.0


def test_suite2p_errors(tmp_path: Path) -> None:
    plane = tmp_path / "plane0"
    _suite2p(plane, with_ops=False)
    assert loaders.load_suite2p(plane)[1]["sampling_rate_hz"] is None
    (plane / "Fneu.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"Fneu\.npy.*F\.npy"):
        loaders.load_suite2p(plane)
    assert loaders.load_suite2p(plane, neuropil_coefficient=None)[0].shape == (2, 50)
    (plane / "F.npy").write_bytes((plane / "F.npy").read_bytes()[:100])
    with pytest.raises(FileFormatError):
        loaders.load_suite2p(plane, neuropil_coefficient=None)


# ------------------------------------------------------------------ NWB


def _nwb(path: Path, two_series: bool = False, rate: float | None = 12.0) -> None:
    pynwb = pytest.importorskip("pynwb")
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    nwb = pynwb.NWBFile(session_description="test", identifier="calab-test",
                        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    device = nwb.create_device(name="scope")
    channel = OpticalChannel(name="green", description="", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=channel, description="", device=device,
        excitation_lambda=920.0, indicator="GCaMP6f", location="V1", imaging_rate=12.0,
    )
    ophys = nwb.create_processing_module(name="ophys", description="")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(name="rois", description="", imaging_plane=plane)
    for i in range(4):
        ps.add_roi(id=100 + i, image_mask=np.eye(4)[i:i + 1].repeat(4, 0))
    fl = Fluorescence()
    ophys.add(fl)
    region = ps.create_roi_table_region(region=[0, 1, 2, 3], description="all")
    kw: dict[str, Any] = {"rate": rate} if rate else {"timestamps": np.arange(50) / 8.0}
    fl.create_roi_response_series(name="raw", data=TRACES.T, rois=region, unit="a.u.", **kw)
    if two_series:
        region2 = ps.create_roi_table_region(region=[1, 3], description="two")
        fl.create_roi_response_series(name="two", data=TRACES[[1, 3]].T, rois=region2,
                                      unit="a.u.", **kw)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb(tmp_path: Path) -> None:
    path = tmp_path / "a.nwb"
    _nwb(path)
    traces, meta = loaders.load_nwb(path)
    _check(traces, meta, TRACES)
    assert meta["sampling_rate_hz"] == 12.0 and meta["cell_ids"] == [100, 101, 102, 103]
    assert meta["series"] == "ophys/Fluorescence/raw"
    _nwb(tmp_path / "b.nwb", two_series=True, rate=None)
    with pytest.raises(KeyError, match="ophys/Fluorescence/two"):
        loaders.load_nwb(tmp_path / "b.nwb")
    traces, meta = loaders.load_nwb(tmp_path / "b.nwb", series="two")
    _check(traces, meta, TRACES[[1, 3]])
    assert meta["cell_ids"] == [101, 103] and meta["sampling_rate_hz"] == pytest.approx(8.0)
    with pytest.raises(KeyError, match="available"):
        loaders.load_nwb(tmp_path / "b.nwb", series="nope")
    (tmp_path / "junk.nwb").write_bytes(b"junk")
    with pytest.raises(FileFormatError):
        loaders.load_nwb(tmp_path / "junk.nwb")


# ------------------------------------------------------------------ missing extras


@pytest.mark.parametrize("loader,module", [("load_caiman", "h5py"), ("load_minian", "zarr"),
                                           ("load_nwb", "pynwb")])
def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       loader: str, module: str) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(loaders.importlib, "import_module",
                        lambda name: fake_import(name))
    with pytest.raises(ImportError, match=r"calab\[loaders\]"):
        getattr(loaders, loader)(tmp_path)
