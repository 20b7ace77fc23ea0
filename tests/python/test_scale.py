"""Scale-out with Dask (calab.scale): dask arrays through the solvers, pixel-wise movies and the
``--scheduler`` CLI options, on a real ``dask.distributed.LocalCluster`` with worker processes.

Every result is compared with the single-process numpy call with ``np.array_equal``: a block is
the same native call on the same rows, so nothing may differ, not even in the last bit.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest
from calab import io as cio
from calab import scale

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
h5py = pytest.importorskip("h5py")

HAS_CONVAR = importlib.util.find_spec("calab.convar") is not None
needs_convar = pytest.mark.skipif(not HAS_CONVAR, reason="calab.convar not built yet")

FS, TAU_R, TAU_D, LAM = 30.0, 0.05, 0.4, 0.01
GAMMA = calab.gamma_from_tau(TAU_D, FS)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def traces() -> np.ndarray:
    return calab.simulate(calab.presets.gcamp6f(num_cells=23, num_timepoints=900, fs=FS,
                                                seed=4)).traces


def _solve_names(stream: list[dict[str, Any]]) -> set[str]:
    return {rec["worker"] for rec in stream if "solve" in str(rec.get("key"))}


# --------------------------------------------------------------------------- dask arrays


def test_run_deconvolution_dask_equals_numpy(cluster: Any, traces: np.ndarray) -> None:
    x = da.from_array(traces, chunks=(5, 300))  # uneven rows, time split: must be rechunked
    lazy = calab.run_deconvolution_full(x, FS, TAU_R, TAU_D, LAM)
    assert isinstance(lazy, calab.DeconvolutionResult)
    assert all(isinstance(v, da.Array) for v in lazy)
    assert lazy.activity.shape == traces.shape and lazy.baseline.shape == (23,)
    with distributed.get_task_stream(cluster) as ts:
        got = scale.compute(lazy, progress=False)
    assert len(_solve_names(ts.data)) >= 1  # the blocks ran on the cluster's workers
    want = calab.run_deconvolution_full(traces, FS, TAU_R, TAU_D, LAM)
    for name, a, b in zip(want._fields, got, want):
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b, equal_nan=True), name
    act = calab.run_deconvolution(da.from_array(traces.astype(np.float32), chunks=(4, -1)), FS,
                                  TAU_R, TAU_D, LAM, method="fista", max_iters=300).compute()
    assert np.array_equal(act, calab.run_deconvolution(traces.astype(np.float32), FS, TAU_R,
                                                       TAU_D, LAM, method="fista",
                                                       max_iters=300))


def test_run_deconvolution_dask_1d(cluster: Any, traces: np.ndarray) -> None:
    lazy = calab.run_deconvolution_full(da.from_array(traces[7], chunks=200), FS, TAU_R, TAU_D,
                                        LAM, remove_drift=True)
    assert lazy.activity.shape == (900,) and lazy.baseline.shape == ()
    got = scale.compute(lazy, progress=False)
    want = calab.run_deconvolution_full(traces[7], FS, TAU_R, TAU_D, LAM, remove_drift=True)
    assert np.array_equal(got.activity, want.activity)
    assert float(got.baseline) == want.baseline and bool(got.converged) == want.converged


def test_run_l0_dask_equals_numpy(cluster: Any, traces: np.ndarray) -> None:
    for positive in (True, False):
        got = scale.compute(calab.run_l0(da.from_array(traces, chunks=(6, -1)), GAMMA, 0.3,
                                         positive=positive), progress=False)
        want = calab.run_l0(traces, GAMMA, 0.3, positive=positive)
        assert isinstance(got, calab.L0Result)
        for name, a, b in zip(want._fields, got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name


@needs_convar
def test_run_convar_dask_equals_numpy(cluster: Any, traces: np.ndarray) -> None:
    from calab.convar import run_convar

    got = scale.compute(run_convar(da.from_array(traces, chunks=(6, -1)), GAMMA),
                        progress=False)
    want = run_convar(traces, GAMMA)
    for name, a, b in zip(want._fields, got, want):
        assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True), name


def test_dask_bad_inputs(cluster: Any, traces: np.ndarray) -> None:
    with pytest.raises(calab.ShapeMismatchError, match="1-D .* or 2-D"):
        calab.run_deconvolution(da.zeros((2, 3, 100), chunks=1), FS, TAU_R, TAU_D, LAM)
    with pytest.raises(calab.ShapeMismatchError, match="real numbers"):
        calab.run_l0(da.from_array(np.array([["a", "b"]])), GAMMA, 0.1)
    with pytest.raises(calab.TraceTooShortError):
        calab.run_deconvolution(da.zeros((3, 0)), FS, TAU_R, TAU_D, LAM)
    # Parameters are checked when the graph is built, not later on a worker.
    x = da.from_array(traces, chunks=(5, -1))
    with pytest.raises(calab.InvalidParameterError, match="tau_rise"):
        calab.run_deconvolution(x, FS, 0.5, 0.4, LAM)
    with pytest.raises(calab.InvalidParameterError, match="gamma"):
        calab.run_l0(x, 1.5, 0.1)
    with pytest.raises(calab.UnknownOptionError):
        calab.run_deconvolution(x, FS, TAU_R, TAU_D, LAM, conv_mode="nope")
    bad = traces.copy()
    bad[17, 250] = np.nan
    lazy = calab.run_deconvolution(da.from_array(bad, chunks=(5, -1)), FS, TAU_R, TAU_D, LAM)
    # Raised on a worker, re-raised here with its class and the row of the whole array.
    with pytest.raises(calab.NonFiniteInputError, match="row 17 .* index 250") as info:
        scale.compute(lazy, progress=False)
    assert info.value.code == "NON_FINITE_INPUT"


# --------------------------------------------------------------------------- movies


T, H, W = 300, 9, 14


@pytest.fixture(scope="module")
def movie_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=H * W, num_timepoints=T, fs=FS, seed=8))
    movie = (sim.traces.T.reshape(T, H, W) * 100).astype(np.float32)
    d = tmp_path_factory.mktemp("movies")
    np.save(d / "m.npy", movie)
    z = zarr.create_array(str(d / "m.zarr"), shape=movie.shape, chunks=(64, 3, 7),
                          dtype="float32")
    z[...] = movie
    with h5py.File(d / "m.h5", "w") as fh:
        fh.create_dataset("junk", data=np.zeros(3))
        fh.create_dataset("imaging/movie", data=movie, chunks=(100, 2, 14))
    return {"npy": d / "m.npy", "zarr": d / "m.zarr", "h5": d / "m.h5"}


def _pixels(path: Path) -> np.ndarray:
    movie = np.load(path)
    return movie.reshape(T, H * W).T.astype(np.float64)


def _read_out(res: scale.MovieResult) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if res.path.suffix == ".zarr":
        g = zarr.open_group(str(res.path), mode="r")
        return g[res.activity][...], {n: g[n][...] for n in res.pixel_fields}
    assert res.pixels_path is not None
    with np.load(res.pixels_path) as z:
        return np.load(res.path), {n: z[n] for n in res.pixel_fields}


@pytest.mark.parametrize("kind", ["npy", "zarr", "h5"])
def test_movie_l1_on_cluster(cluster: Any, movie_files: dict[str, Path], tmp_path: Path,
                             kind: str) -> None:
    out = tmp_path / "out.zarr"
    res = calab.deconvolve_movie(movie_files[kind], out, method="l1", fs=FS, tau_rise=TAU_R,
                                 tau_decay=TAU_D, lambda_=LAM, chunk_pixels=20, scheduler=cluster,
                                 progress=False)
    want = calab.run_deconvolution_full(_pixels(movie_files["npy"]), FS, TAU_R, TAU_D, LAM)
    act, per_pixel = _read_out(res)
    assert act.dtype == np.float32 and act.shape == (T, H, W)
    assert np.array_equal(act, want.activity.T.reshape(T, H, W).astype(np.float32))
    assert res.pixel_fields == ("baseline", "iterations", "converged", "noise", "lam")
    assert np.array_equal(per_pixel["baseline"], want.baseline.reshape(H, W))
    assert np.array_equal(per_pixel["converged"], want.converged.reshape(H, W))
    # Tiles are whole read chunks of the input, and each tile is exactly one output chunk column.
    expected_tile = {"npy": (1, 14), "zarr": (3, 7), "h5": (2, 14)}[kind]
    assert res.tile == expected_tile
    assert res.n_tiles == -(-H // res.tile[0]) * -(-W // res.tile[1])
    g = zarr.open_group(str(out), mode="r")
    assert tuple(g[res.activity].chunks[1:]) == res.tile
    assert g.attrs["calab_method"] == "l1" and g.attrs["fs"] == FS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]  # no temporary left


def test_movie_l0_npy_out_by_address(cluster: Any, movie_files: dict[str, Path],
                                     tmp_path: Path) -> None:
    out = tmp_path / "spikes.npy"
    res = calab.deconvolve_movie(movie_files["zarr"], out, method="l0", fs=FS, tau_decay=TAU_D,
                                 lambda_=50.0, dtype="float64", chunk_pixels=42,
                                 scheduler=cluster.scheduler.address, progress=False)
    want = calab.run_l0(_pixels(movie_files["npy"]), GAMMA, 50.0)
    spikes, per_pixel = _read_out(res)
    assert res.activity == "spikes" and spikes.dtype == np.float64
    assert np.array_equal(spikes, want.spikes.T.reshape(T, H, W))
    assert np.array_equal(per_pixel["num_spikes"], want.num_spikes.reshape(H, W))
    assert np.array_equal(per_pixel["cost"], want.cost.reshape(H, W))
    assert res.pixels_path == tmp_path / "spikes_pixels.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spikes.npy", "spikes_pixels.npz"]


def test_movie_without_scheduler(movie_files: dict[str, Path], tmp_path: Path) -> None:
    res = calab.deconvolve_movie(movie_files["h5"], tmp_path / "o.npy", method="l1", fs=FS,
                                 tau_rise=TAU_R, tau_decay=TAU_D, lambda_=LAM,
                                 dataset="imaging/movie", progress=False, remove_drift=True)
    want = calab.run_deconvolution(_pixels(movie_files["npy"]), FS, TAU_R, TAU_D, LAM,
                                   remove_drift=True)
    act, _ = _read_out(res)
    assert np.array_equal(act, want.T.reshape(T, H, W).astype(np.float32))
    # Existing output: refused unless asked, then replaced.
    with pytest.raises(FileExistsError):
        calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.npy", method="l0", fs=FS,
                               gamma=GAMMA, lambda_=50.0, progress=False)
    res = calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.npy", method="l0", fs=FS,
                                 gamma=GAMMA, lambda_=50.0, progress=False, overwrite=True)
    assert res.activity == "spikes"


@needs_convar
def test_movie_convar_on_cluster(cluster: Any, movie_files: dict[str, Path],
                                 tmp_path: Path) -> None:
    from calab.convar import run_convar

    res = calab.deconvolve_movie(movie_files["npy"], tmp_path / "c.zarr", method="convar",
                                 fs=FS, tau_decay=TAU_D, chunk_pixels=30, scheduler=cluster,
                                 progress=False, dtype="float64")
    want = run_convar(_pixels(movie_files["npy"]), GAMMA)
    act, per_pixel = _read_out(res)
    assert np.array_equal(act, np.asarray(want[0]).T.reshape(T, H, W))
    assert "noise" in res.pixel_fields
    for name in res.pixel_fields:
        assert np.array_equal(per_pixel[name], np.asarray(getattr(want, name)).reshape(H, W),
                              equal_nan=True)


def test_movie_bad_inputs(cluster: Any, movie_files: dict[str, Path], tmp_path: Path) -> None:
    kw: dict[str, Any] = {"method": "l0", "fs": FS, "gamma": GAMMA, "lambda_": 1.0,
                          "progress": False}
    np.save(tmp_path / "flat.npy", np.zeros((10, 20), np.float32))
    with pytest.raises(calab.ShapeMismatchError, match="frames x height x width"):
        calab.deconvolve_movie(tmp_path / "flat.npy", tmp_path / "o.zarr", **kw)
    with pytest.raises(calab.FileFormatError, match="no dataset 'nope'"):
        calab.deconvolve_movie(movie_files["h5"], tmp_path / "o.zarr", dataset="nope", **kw)
    with h5py.File(tmp_path / "two.h5", "w") as fh:
        fh["a"] = np.zeros((5, 2, 2))
        fh["b"] = np.zeros((5, 2, 2))
    with pytest.raises(calab.FileFormatError, match="choose one"):
        calab.deconvolve_movie(tmp_path / "two.h5", tmp_path / "o.zarr", **kw)
    with pytest.raises(FileNotFoundError):
        calab.deconvolve_movie(tmp_path / "missing.npy", tmp_path / "o.zarr", **kw)
    with pytest.raises(calab.FileFormatError, match=r"\.tif"):
        calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.tif", **kw)
    with pytest.raises(calab.UnknownOptionError, match="method"):
        calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.zarr", **{**kw, "method": "x"})
    with pytest.raises(calab.InvalidParameterError, match="tau_rise, tau_decay"):
        calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.zarr",
                               **{**kw, "method": "l1"})
    with pytest.raises(calab.InvalidParameterError, match="gamma"):
        calab.deconvolve_movie(movie_files["npy"], tmp_path / "o.zarr", **{**kw, "gamma": 2.0})
    movie = np.load(movie_files["npy"])
    movie[123, 5, 11] = np.inf
    np.save(tmp_path / "inf.npy", movie)
    for sched in (None, cluster):
        with pytest.raises(calab.NonFiniteInputError, match=r"y=5, x=11.*frame 123"):
            calab.deconvolve_movie(tmp_path / "inf.npy", tmp_path / "o.zarr", scheduler=sched,
                                   chunk_pixels=14, **kw)
    # Nothing half-written is left behind, under the final name or a temporary one.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.npy", "inf.npy", "two.h5"]


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=300, env=ENV)


def test_cli_deconvolve_on_scheduler(cluster: Any, traces: np.ndarray, tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", traces)
    export = tmp_path / "export.json"
    cio.write_json_atomic(export, cio.build_export(TAU_R, TAU_D, LAM, FS, remove_drift=True))
    res = run_cli("deconvolve", str(tmp_path / "t.npy"), "--params", str(export), "-o",
                  str(tmp_path / "act"), "--full", "--chunk-size", "4", "--scheduler",
                  cluster.scheduler.address)
    assert res.returncode == 0, res.stderr
    assert "Deconvolved 23 traces x 900 frames" in res.stdout
    want = cio.deconvolve_from_export(traces, export, return_full=True)
    assert np.array_equal(np.load(tmp_path / "act.npy"), want.activity)
    with np.load(tmp_path / "act_diagnostics.npz") as diag:
        assert np.array_equal(diag["baseline"], want.baseline)
    # The same through the library helper, in this process, on the same cluster.
    got = scale.deconvolve_export_on_cluster(traces, cio.load_export_params(export),
                                             scheduler=cluster, chunk_size=5, progress=False)
    assert np.array_equal(got.activity, want.activity)


def test_cli_movie_on_scheduler(cluster: Any, movie_files: dict[str, Path],
                                tmp_path: Path) -> None:
    out = tmp_path / "m_out.zarr"
    res = run_cli("movie", str(movie_files["h5"]), "-o", str(out), "--method", "l0", "--fs",
                  str(FS), "--tau-decay", str(TAU_D), "--lam", "50", "--chunk-pixels", "30",
                  "--scheduler", cluster.scheduler.address)
    assert res.returncode == 0, res.stderr
    assert "9 x 14 pixels x 300 frames" in res.stdout
    want = calab.run_l0(_pixels(movie_files["npy"]), GAMMA, 50.0)
    g = zarr.open_group(str(out), mode="r")
    assert np.array_equal(g["spikes"][...], want.spikes.T.reshape(T, H, W).astype(np.float32))
    # Refuses to overwrite (usage error, 2); --overwrite replaces.
    again = ["movie", str(movie_files["npy"]), "-o", str(out), "--method", "l0", "--fs", "30",
             "--gamma", "0.9", "--lam", "1", "--no-progress"]
    res = run_cli(*again)
    assert res.returncode == 2 and "--overwrite" in res.stderr
    assert run_cli(*again, "--overwrite").returncode == 0


def test_cli_errors(movie_files: dict[str, Path], tmp_path: Path) -> None:
    res = run_cli("movie", "--help")
    assert res.returncode == 0 and "--scheduler" in res.stdout and "--chunk-pixels" in res.stdout
    res = run_cli("deconvolve", "--help")
    assert res.returncode == 0 and "--scheduler" in res.stdout
    base = ["movie", str(movie_files["npy"]), "-o", str(tmp_path / "o.zarr"), "--fs", "30"]
    res = run_cli(*base, "--method", "l1", "--no-progress")
    assert res.returncode == 2 and "INVALID_PARAMETER" in res.stderr and "tau_rise" in res.stderr
    res = run_cli("movie", str(tmp_path / "nope.npy"), "-o", str(tmp_path / "o.zarr"), "--fs",
                  "30", "--method", "l0", "--gamma", "0.9", "--lam", "1")
    assert res.returncode == 2 and "no such movie" in res.stderr
    # Nothing listens there: a clear connection error, exit 2 (an address that serves nothing).
    res = run_cli(*base, "--method", "l0", "--gamma", "0.9", "--lam", "1", "--scheduler",
                  "tcp://127.0.0.1:9")
    assert res.returncode == 2 and "could not connect to the Dask scheduler" in res.stderr
    assert not (tmp_path / "o.zarr").exists()
