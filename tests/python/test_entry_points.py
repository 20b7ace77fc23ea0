"""Every solver through every entry point: an L1, an L0 and a Convar CaTune export each through
``deconvolve_from_export``, the ``calab deconvolve`` command (a real subprocess) and a real Dask
``LocalCluster`` (in Python and through ``calab deconvolve --scheduler``), each equal, field by
field and bit for bit, to the direct solver call; and the one result shape
(:class:`calab.ActivityResult`) they all share.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest
from calab import io as cio

FS, TAU_R, TAU_D = 30.0, 0.05, 0.4
GAMMA = calab.gamma_from_tau(TAU_D, FS)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SOLVERS = ["l1", "l0", "convar"]


def _export(solver: str, **flags: bool) -> dict[str, Any]:
    sp = {"l1": None, "l0": {"lambda": 0.4, "positive": True}, "convar": {"lambda": 0.5}}[solver]
    return cio.build_export(TAU_R, TAU_D, 0.02, FS, solver=solver, solver_params=sp, **flags)


def _direct(solver: str, traces: np.ndarray) -> Any:
    """The solver the export names, called directly with its parameters."""
    if solver == "l1":
        # The export does not ask for drift removal (CaTune's default), so neither does this.
        return calab.run_deconvolution_full(traces, FS, TAU_R, TAU_D, 0.02, remove_drift=False)
    if solver == "l0":
        return calab.run_l0(traces, GAMMA, 0.4, positive=True)
    return calab.run_convar(traces, GAMMA, 0.5)


def _assert_same(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert got._fields == want._fields
    for name in want._fields:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(want, name))
        assert a.shape == b.shape and a.dtype == b.dtype, name
        assert np.array_equal(a, b, equal_nan=True), name


@pytest.fixture(scope="module")
def traces() -> np.ndarray:
    return calab.simulate(calab.presets.gcamp6f(num_cells=7, num_timepoints=900, fs=FS,
                                                seed=11)).traces


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, traces: np.ndarray) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exports")
    cio.save_for_tuning(traces, FS, d / "rec")
    out = {"rec": d / "rec"}
    for solver in SOLVERS:
        path = d / f"{solver}.json"
        path.write_text(json.dumps(_export(solver)), encoding="utf-8")
        out[solver] = path
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=300, env=ENV)


# --------------------------------------------------------------------------- one shape


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_result_has_the_shared_fields(solver: str, traces: np.ndarray) -> None:
    res = _direct(solver, traces)
    assert isinstance(res, calab.ActivityResult)
    assert res.solver == solver
    n, t = traces.shape
    assert res.activity.shape == res.reconvolution.shape == (n, t)
    for name in ("baseline", "noise", "converged"):
        assert np.asarray(getattr(res, name)).shape == (n,), name
    assert np.asarray(res.converged).dtype == bool and all(res.converged)
    # The model fits the trace: its residual is a fraction of the trace's own spread (L0 has
    # no baseline term, so it is given the trace with its resting level taken out).
    y = traces - np.median(traces, axis=1, keepdims=True) if solver == "l0" else traces
    resid = np.std(y - _direct(solver, y).reconvolution, axis=1)
    assert np.all(resid < np.std(y, axis=1)) and np.mean(resid / np.std(y, axis=1)) < 0.9
    one = _direct(solver, traces[2])
    assert np.isscalar(one.baseline) and np.isscalar(one.noise) and np.isscalar(one.converged)
    assert np.array_equal(one.activity, res.activity[2])
    assert np.array_equal(one.reconvolution, res.reconvolution[2])


def test_aliases_are_the_solver_fields(traces: np.ndarray) -> None:
    l0 = _direct("l0", traces)
    assert l0.activity is l0.spikes and l0.reconvolution is l0.calcium
    assert np.array_equal(l0.baseline, np.zeros(traces.shape[0]))
    cv = _direct("convar", traces)
    assert cv.activity is cv.rates
    assert np.allclose(cv.reconvolution, cv.calcium + cv.baseline[:, None])
    # The historical fields come first, unchanged, so positional code keeps working.
    assert calab.L0Result._fields[:4] == ("spikes", "calcium", "cost", "num_spikes")
    assert calab.ConvarResult._fields[:7] == ("rates", "baseline", "lambda_", "iterations",
                                              "converged", "calcium", "objective")


def test_cadecon_result_has_the_shared_fields(traces: np.ndarray) -> None:
    res = calab.run_indeca(traces, FS, max_iterations=2, upsample_target=None, seed=1)
    assert isinstance(res, calab.ActivityResult) and res.solver == "indeca"
    n, t = traces.shape
    assert res.baseline is res.baselines
    assert res.converged.shape == (n,) and res.converged.all()
    assert res.noise.shape == (n,)
    assert np.array_equal(res.rates, res.activity.astype(np.float64) * FS)
    rec = res.reconvolution
    assert rec.shape == (n, t) and np.isfinite(rec).all()
    # alpha * (kernel * counts) + baseline models the trace (up to sub-frame spike positions).
    corr = [np.corrcoef(rec[i], traces[i])[0, 1] for i in range(n)]
    assert min(corr) > 0.5, corr


# --------------------------------------------------------------------------- Python


@pytest.mark.parametrize("solver", SOLVERS)
def test_deconvolve_from_export_equals_the_direct_call(solver: str, traces: np.ndarray,
                                                       files: dict[str, Path]) -> None:
    want = _direct(solver, traces)
    for chunk in (64, 3):  # one call, and three chunks stitched back together
        got = calab.deconvolve_from_export(traces, files[solver], return_full=True,
                                           chunk_size=chunk, progress=False)
        _assert_same(got, want)
    assert np.array_equal(calab.deconvolve_from_export(traces, files[solver]), want.activity)
    one = calab.deconvolve_from_export(traces[4], files[solver], return_full=True)
    _assert_same(one, _direct(solver, traces[4]))


def test_export_preprocessing_is_applied_before_the_ar1_solvers(traces: np.ndarray) -> None:
    """An L0 export with drift removal and the band-pass: the traces are preprocessed like the
    app does, then solved; ``noise`` stays that of the input."""
    export = _export("l0", filter_enabled=True, remove_drift=True)
    got = calab.deconvolve_from_export(traces, cio.params_from_export(export), return_full=True)
    pre = np.empty_like(traces)
    for i, y in enumerate(traces):
        drift = calab.estimate_drift(y, TAU_D, FS)
        pre[i] = calab.bandpass_filter(y - (drift - drift.mean()), TAU_R, TAU_D, FS)
    want = calab.run_l0(pre, GAMMA, 0.4, positive=True)
    assert np.array_equal(got.spikes, want.spikes)
    assert not np.array_equal(got.spikes, _direct("l0", traces).spikes)
    assert np.array_equal(got.noise, _direct("l0", traces).noise, equal_nan=True)


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("solver", SOLVERS)
def test_cli_deconvolve_equals_the_direct_call(solver: str, traces: np.ndarray,
                                               files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / f"act_{solver}"
    res = _cli("deconvolve", str(files["rec"]), "--params", str(files[solver]), "-o", str(out),
               "--full", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert solver.upper() in res.stdout and "7/7 converged" in res.stdout
    want = _direct(solver, traces)
    assert np.array_equal(np.load(out.with_suffix(".npy")), want.activity)
    with np.load(tmp_path / f"act_{solver}_diagnostics.npz") as z:
        for name in ("baseline", "reconvolution", "noise", "converged"):
            assert np.array_equal(z[name], np.asarray(getattr(want, name)), equal_nan=True), name
        own = {"l1": "iterations", "l0": "num_spikes", "convar": "lambda_"}[solver]
        assert np.array_equal(z[own], getattr(want, own))


# --------------------------------------------------------------------------- Dask


@pytest.mark.parametrize("solver", SOLVERS)
def test_cluster_runs_the_exports_solver(solver: str, cluster: Any, traces: np.ndarray,
                                         files: dict[str, Path]) -> None:
    from calab.scale import deconvolve_export_on_cluster

    distributed = pytest.importorskip("distributed")
    params = cio.load_export_params(files[solver])
    with distributed.get_task_stream(cluster) as ts:
        got = deconvolve_export_on_cluster(traces, params, scheduler=cluster, chunk_size=3,
                                           progress=False)
    assert any("solve" in str(rec.get("key")) for rec in ts.data)  # it ran on the workers
    _assert_same(got, _direct(solver, traces))


@pytest.mark.parametrize("solver", SOLVERS)
def test_cli_scheduler_runs_the_exports_solver(solver: str, cluster: Any, traces: np.ndarray,
                                               files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "act.npy"
    res = _cli("deconvolve", str(files["rec"]), "--params", str(files[solver]), "-o", str(out),
               "--scheduler", cluster.scheduler.address, "--chunk-size", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert solver.upper() in res.stdout
    assert np.array_equal(np.load(out), _direct(solver, traces).activity)
