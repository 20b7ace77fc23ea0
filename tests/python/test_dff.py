"""dF/F (calab.dff, calab convert --dff): the running-percentile baseline of the core, the
CaImAn background rule, refusals where dF/F is undefined, and the Suite2p / CaImAn raw-F paths
of the README giving traces one set of parameters suits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import calab
import numpy as np
import pytest

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
FS = 30.0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=120, env=ENV)


def _raw(num_cells: int = 6, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw-F-like recording: the simulator's clean calcium (dF/F of its cells) on a resting
    level that differs 10-fold between cells and bleaches by 30 % over minutes, plus shot-like
    noise; returns (F, true dF/F, true spikes)."""
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=num_cells, num_timepoints=6000, fs=FS,
                                               seed=seed))
    truth = np.array([g.clean_calcium for g in sim.ground_truth])
    rng = np.random.default_rng(seed)
    bright = rng.uniform(150.0, 1500.0, size=(num_cells, 1))
    t = np.arange(truth.shape[1]) / FS
    rest = bright * (1.0 - 0.3 * (1.0 - np.exp(-t / 120.0)))
    f = rest * (1.0 + truth) + rng.normal(0.0, 1.0, truth.shape) * 0.03 * rest
    return f, truth, sim.spikes


def test_dff_is_relative_to_the_running_percentile() -> None:
    f, truth, _ = _raw()
    d = calab.dff(f, FS)
    f0 = calab.running_percentile(f, FS, 60.0, 8.0)
    assert np.array_equal(d, (f - f0) / f0)
    # Brightness and bleaching are gone: every cell's dF/F is the true one plus the noise (3 %
    # of the resting level), offset by less than two noise sigmas (F0 is a low percentile).
    err = d - truth
    assert np.all(np.std(err, axis=1) < 0.045), np.std(err, axis=1)
    assert np.all(np.abs(np.median(err, axis=1)) < 0.06), np.median(err, axis=1)
    one = calab.dff(f[2], FS, window_s=20.0, percentile=20.0)
    assert one.shape == (f.shape[1],)
    f0_1 = calab.running_percentile(f[2], FS, window_s=20.0, percentile=20.0)
    assert np.array_equal(one, (f[2] - f0_1) / f0_1)


def test_running_percentile_tracks_a_slow_trend() -> None:
    t = np.arange(9000) / FS
    level = 100.0 + 0.2 * t  # slow rise, 300 s
    f0 = calab.running_percentile(level, FS, window_s=30.0, percentile=50.0)
    assert np.max(np.abs(f0 - level)[450:-450]) < 0.5  # inside the ends, the median of a ramp


def test_dff_refuses_undefined_baselines() -> None:
    f, _, _ = _raw(num_cells=3)
    f[1] -= np.percentile(f[1], 50)  # background-subtracted: resting level at 0
    with pytest.raises(calab.ValueOutOfRangeError) as info:
        calab.dff(f, FS)
    assert info.value.code == "VALUE_OUT_OF_RANGE" and "rows 1 " in str(info.value)
    for kwargs in ({"window_s": 0.0}, {"window_s": float("nan")}, {"percentile": 101.0},
                   {"percentile": -1.0}):
        with pytest.raises(calab.InvalidParameterError):
            calab.dff(np.ones(100), FS, **kwargs)
    with pytest.raises(calab.InvalidParameterError):
        calab.dff(np.ones(100), 0.0)
    with pytest.raises(calab.NonFiniteInputError):
        calab.dff(np.r_[np.ones(50), np.nan], FS)
    with pytest.raises(calab.ShapeMismatchError):
        calab.dff(np.ones((2, 100)), FS, background=np.ones((3, 100)))


def _caiman_file(path: Path, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A CaImAn-style results file (cnm.save layout: A stored as CSC parts) and the F and
    background CaImAn's detrend_df_f would form from it, computed densely here."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(seed)
    n_pix, k, nb, n_t = 60, 4, 2, 3000
    a = np.zeros((n_pix, k))
    for j in range(k):
        a[rng.choice(n_pix, 8, replace=False), j] = rng.uniform(0.2, 1.0, 8)
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=k, num_timepoints=n_t, fs=FS, seed=seed))
    c = 40.0 * (sim.traces - 1.0)  # CaImAn's C: background removed, resting level 0
    yra = rng.normal(0, 0.5, size=c.shape)
    b = rng.uniform(1.0, 3.0, size=(n_pix, nb))
    f = 50.0 + rng.normal(0, 1.0, size=(nb, n_t))
    indptr = np.r_[0, np.cumsum((a != 0).sum(axis=0))]
    indices = np.concatenate([np.flatnonzero(a[:, j]) for j in range(k)])
    data = np.concatenate([a[a[:, j] != 0, j] for j in range(k)])
    with h5py.File(path, "w") as fh:
        fh["estimates/C"] = c
        fh["estimates/YrA"] = yra
        fh["estimates/b"] = b
        fh["estimates/f"] = f
        fh["estimates/A/data"] = data
        fh["estimates/A/indices"] = indices
        fh["estimates/A/indptr"] = indptr
        fh["estimates/A/shape"] = np.array([n_pix, k])
        fh["params/data/fr"] = FS
    norms = np.linalg.norm(a, axis=0)
    return norms[:, None] * (c + yra), (a / norms).T @ b @ f


def test_caiman_inputs_match_caimans_formula(tmp_path: Path) -> None:
    want_f, want_bg = _caiman_file(tmp_path / "cm.hdf5")
    got_f, got_bg = calab.caiman_dff_inputs(tmp_path / "cm.hdf5")
    assert np.allclose(got_f, want_f) and np.allclose(got_bg, want_bg)
    d = calab.dff(got_f, FS, background=got_bg)
    f0 = calab.running_percentile(got_f, FS)
    b0 = calab.running_percentile(got_bg, FS)
    assert np.allclose(d, (got_f - f0) / (f0 + b0))
    with pytest.raises(calab.ValueOutOfRangeError):  # C alone has no resting level to divide by
        calab.dff(got_f, FS)


def test_convert_dff_suite2p_and_caiman(tmp_path: Path) -> None:
    f, truth, spikes = _raw(num_cells=4)
    plane = tmp_path / "plane0"
    plane.mkdir()
    fneu = 0.3 * np.median(f, axis=1, keepdims=True) * np.ones_like(f)
    np.save(plane / "F.npy", (f + 0.7 * fneu).astype(np.float32))
    np.save(plane / "Fneu.npy", fneu.astype(np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9]] * 4))
    res = _cli("convert", str(plane), "--format", "suite2p", "--fs", str(FS), "--dff",
               "-o", str(tmp_path / "s2p"))
    assert res.returncode == 0, res.stderr
    assert "dF/F traces" in res.stdout
    got = np.load(tmp_path / "s2p.npy")
    corrected = (f + 0.7 * fneu).astype(np.float32).astype(np.float64) - 0.7 * fneu.astype(
        np.float32).astype(np.float64)
    assert np.allclose(got, calab.dff(corrected, FS))
    meta = json.loads((tmp_path / "s2p_metadata.json").read_text())
    assert meta["dff"]["window_s"] == 60.0 and meta["dff"]["percentile"] == 8.0

    want_f, want_bg = _caiman_file(tmp_path / "cm.hdf5")
    res = _cli("convert", str(tmp_path / "cm.hdf5"), "--format", "caiman", "--dff",
               "--dff-window", "30", "-o", str(tmp_path / "cm"))
    assert res.returncode == 0, res.stderr
    assert np.allclose(np.load(tmp_path / "cm.npy"),
                       calab.dff(want_f, FS, window_s=30.0, background=want_bg))
    # Without a background model CaImAn's C has no baseline: a clear refusal, exit 2.
    import h5py

    with h5py.File(tmp_path / "cm.hdf5", "r+") as fh:
        del fh["estimates/b"]
    res = _cli("convert", str(tmp_path / "cm.hdf5"), "--format", "caiman", "--dff",
               "-o", str(tmp_path / "cm2"))
    assert res.returncode == 2 and "VALUE_OUT_OF_RANGE" in res.stderr
    assert not (tmp_path / "cm2.npy").exists()
    res = _cli("convert", str(plane), "--format", "suite2p", "--dff", "--dff-percentile", "120")
    assert res.returncode == 2 and "[0, 100]" in res.stderr


def test_dff_gives_one_lambda_for_all_cells() -> None:
    """The point of dF/F on the raw-F path: with cells of very different brightness one L1
    lambda (the demo's default) suits them all after dF/F, and not before."""
    f, _, spikes = _raw(num_cells=6)
    lam, bins = 0.02, 6  # 0.2 s bins

    def corr(traces: np.ndarray) -> np.ndarray:
        act = calab.run_deconvolution(traces, FS, 0.02, 0.4, lam, remove_drift=True)
        t = act.shape[1] // bins * bins
        a = act[:, :t].reshape(len(act), -1, bins).sum(-1)
        s = spikes[:, :t].reshape(len(act), -1, bins).sum(-1)
        return np.array([np.corrcoef(a[i], s[i])[0, 1] for i in range(len(act))])

    via_dff = corr(calab.dff(f, FS))
    assert via_dff.min() > 0.6, via_dff
    raw = np.nan_to_num(corr(f), nan=0.0)
    assert raw.min() < via_dff.min() - 0.1, (raw, via_dff)
