"""run_deconvolution on simulated recordings: ground truth, dtypes, determinism, batch layout,
method agreement and preprocessing."""

from __future__ import annotations

import calab
import numpy as np
import pytest
from _reference import binned_corr


def kin(sim: calab.SimulationResult) -> tuple[float, float, float]:
    c = sim.config
    return c.fs, c.kernel.tau_rise, c.kernel.tau_decay


def truth_corr(activity: np.ndarray, sim: calab.SimulationResult) -> np.ndarray:
    fs = sim.config.fs
    return np.array([binned_corr(a, s, fs) for a, s in zip(activity, sim.spikes)])


# ---------------------------------------------------------------------------------------------
# Ground truth


@pytest.mark.parametrize("sim_name", ["sim_gcamp6f", "sim_gcamp6s"])
@pytest.mark.parametrize("method", ["exact", "fista"])
def test_activity_tracks_true_spikes(sim_name: str, method: str, request) -> None:
    sim = request.getfixturevalue(sim_name)
    fs, tr, td = kin(sim)
    out = calab.run_deconvolution_full(sim.traces, fs, tr, td, 0.01, method=method)
    assert out.activity.shape == sim.traces.shape
    assert np.all(out.activity >= 0) and np.all(np.isfinite(out.activity))
    r = truth_corr(out.activity, sim)
    assert r.mean() > 0.8, r
    assert r.min() > 0.5, r
    # The fit explains the trace down to the simulated noise level.
    resid = np.std(sim.traces - out.reconvolution, axis=1)
    noise = np.array([g.noise_std for g in sim.ground_truth])
    assert np.all(resid < 3.0 * noise), resid / noise


def test_exact_converges_on_every_gcamp6f_trace(sim_gcamp6f) -> None:
    fs, tr, td = kin(sim_gcamp6f)
    for lam in [0.0, 0.01, 0.05]:
        out = calab.run_deconvolution_full(sim_gcamp6f.traces, fs, tr, td, lam, method="exact")
        assert out.converged.all(), (lam, np.flatnonzero(~out.converged))
        assert np.all(out.iterations < 100)


def test_exact_converges_on_every_gcamp6s_trace(sim_gcamp6s) -> None:
    fs, tr, td = kin(sim_gcamp6s)
    for lam in [0.0, 0.01, 0.05]:
        out = calab.run_deconvolution_full(sim_gcamp6s.traces, fs, tr, td, lam, method="exact")
        assert out.converged.all(), (lam, np.flatnonzero(~out.converged))


def test_lambda_trades_sparsity_for_fit(sim_gcamp6f) -> None:
    fs, tr, td = kin(sim_gcamp6f)
    y = sim_gcamp6f.traces[:4]
    prev_nnz, prev_rss = np.inf, -np.inf
    for lam in [0.0, 0.01, 0.1, 1.0]:
        out = calab.run_deconvolution_full(y, fs, tr, td, lam)
        nnz = int(np.count_nonzero(out.activity > 1e-6))
        rss = float(np.sum((y - out.reconvolution) ** 2))
        assert nnz <= prev_nnz and rss >= prev_rss * (1 - 1e-9)
        prev_nnz, prev_rss = nnz, rss
    huge = calab.run_deconvolution_full(y, fs, tr, td, 1e6)
    assert np.all(huge.activity == 0)
    np.testing.assert_allclose(huge.baseline, y.mean(axis=1), rtol=1e-12)


def test_remove_drift_improves_ground_truth_under_strong_drift() -> None:
    cfg = calab.presets.gcamp6f(
        num_cells=10, num_timepoints=3000, seed=0,
        drift={"model_type": "sinusoidal", "amplitude": 0.5, "period_s": 60.0},
    )
    sim = calab.simulate(cfg)
    fs, tr, td = kin(sim)
    plain = truth_corr(calab.run_deconvolution(sim.traces, fs, tr, td, 0.01, remove_drift=False),
                       sim)
    fixed = truth_corr(
        calab.run_deconvolution(sim.traces, fs, tr, td, 0.01, remove_drift=True), sim
    )
    assert fixed.mean() > plain.mean() + 0.2, (plain.mean(), fixed.mean())
    assert fixed.mean() > 0.75
    assert np.sum(fixed > plain) >= 9


def test_filter_and_drift_options_change_the_fitted_trace(sim_gcamp6f) -> None:
    fs, tr, td = kin(sim_gcamp6f)
    y = sim_gcamp6f.traces[0]
    plain = calab.run_deconvolution_full(y, fs, tr, td, 0.01, remove_drift=False)
    filt = calab.run_deconvolution_full(y, fs, tr, td, 0.01, filter_enabled=True,
                                        remove_drift=False)
    drift = calab.run_deconvolution_full(y, fs, tr, td, 0.01)  # drift removal is the default
    expected = calab.bandpass_filter(y, tr, td, fs)
    # With the bandpass the reconvolution models the filtered trace, so it follows that one.
    assert np.std(filt.reconvolution - expected) < np.std(filt.reconvolution - y)
    # With drift removal it has the removed drift added back: it overlays the trace as given.
    removed = y - calab.estimate_drift(y, td, fs)
    assert np.std(drift.reconvolution - y) < np.std(drift.reconvolution - removed)
    assert not np.array_equal(plain.activity, filt.activity)
    assert not np.array_equal(plain.activity, drift.activity)


# ---------------------------------------------------------------------------------------------
# dtypes, layout, determinism


METHODS = [
    ("exact", "nonneg", "fft"),
    ("fista", "nonneg", "fft"),
    ("fista", "nonneg", "banded"),
    ("fista", "box01", "fft"),
    ("auto", "box01", "banded"),
]


@pytest.mark.parametrize(("method", "constraint", "conv_mode"), METHODS)
def test_float32_matches_float64(small_batch, method, constraint, conv_mode) -> None:
    y = small_batch * (1.5 if constraint == "box01" else 1.0)
    kw = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01, method=method,
              constraint=constraint, conv_mode=conv_mode)
    a64 = calab.run_deconvolution(y, **kw)
    y32 = y.astype(np.float32)
    a32 = calab.run_deconvolution(y32, **kw)
    assert a32.dtype == np.float64
    assert np.max(np.abs(a32 - a64)) <= 1e-5 * np.max(np.abs(a64))
    # float32 input is promoted exactly: same as passing the promoted float64 array.
    assert np.array_equal(a32, calab.run_deconvolution(y32.astype(np.float64), **kw))


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint8, np.uint16])
def test_integer_input(dtype) -> None:
    rng = np.random.default_rng(1)
    h = calab.build_kernel(0.02, 0.4, 30.0)
    s = (rng.random(600) < 0.03) * 1.0
    y = np.round(100 + 50 * np.convolve(s, h)[:600] + 2 * rng.standard_normal(600))
    yi = y.astype(dtype)
    a_int = calab.run_deconvolution(yi, 30.0, 0.02, 0.4, 0.01)
    a_flt = calab.run_deconvolution(yi.astype(np.float64), 30.0, 0.02, 0.4, 0.01)
    assert np.array_equal(a_int, a_flt)
    assert binned_corr(a_int, s, 30.0) > 0.8


def test_bool_and_list_inputs() -> None:
    y = [0.0, 0.0, 1.0, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1]
    a_list = calab.run_deconvolution(y, 30.0, 0.02, 0.4, 0.0)
    assert np.array_equal(a_list, calab.run_deconvolution(np.array(y), 30.0, 0.02, 0.4, 0.0))
    b = np.array(y) > 0.45
    assert np.array_equal(
        calab.run_deconvolution(b, 30.0, 0.02, 0.4, 0.0),
        calab.run_deconvolution(b.astype(float), 30.0, 0.02, 0.4, 0.0),
    )


@pytest.mark.parametrize(("method", "constraint", "conv_mode"), METHODS)
def test_bit_identical_runs_and_layouts(small_batch, method, constraint, conv_mode) -> None:
    kw = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01, method=method,
              constraint=constraint, conv_mode=conv_mode)
    y = small_batch
    a = calab.run_deconvolution(y, **kw)
    assert np.array_equal(a, calab.run_deconvolution(y, **kw))
    # 1-D call on one row == that row of the 2-D call.
    for i in (0, 3):
        assert np.array_equal(calab.run_deconvolution(y[i], **kw), a[i])
    # Row order does not change a row's result.
    perm = [3, 0, 5, 2, 1, 4]
    assert np.array_equal(calab.run_deconvolution(y[perm], **kw), a[perm])
    # Memory layout does not matter: Fortran order, strided views, read-only arrays.
    assert np.array_equal(calab.run_deconvolution(np.asfortranarray(y), **kw), a)
    wide = np.repeat(y, 2, axis=1)
    assert np.array_equal(calab.run_deconvolution(wide[:, ::2], **kw), a)
    ro = y.copy()
    ro.flags.writeable = False
    assert np.array_equal(calab.run_deconvolution(ro, **kw), a)
    # The input is not modified.
    before = y.copy()
    calab.run_deconvolution(y, **kw)
    assert np.array_equal(y, before)


def test_full_result_types() -> None:
    y = np.vstack([np.linspace(0, 1, 50), np.linspace(1, 0, 50)])
    full = calab.run_deconvolution_full(y, 30.0, 0.02, 0.4, 0.01)
    assert full.activity.shape == full.reconvolution.shape == (2, 50)
    assert full.baseline.shape == full.iterations.shape == full.converged.shape == (2,)
    assert full.converged.dtype == np.bool_
    one = calab.run_deconvolution_full(y[1], 30.0, 0.02, 0.4, 0.01)
    assert isinstance(one.baseline, float)
    assert isinstance(one.iterations, int) and isinstance(one.converged, bool)
    assert one.activity.shape == (50,)
    assert one.baseline == full.baseline[1]


def test_exact_and_fista_agree_when_both_converge(small_batch) -> None:
    kw = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01)
    ex = calab.run_deconvolution_full(small_batch, **kw, method="exact")
    fi = calab.run_deconvolution_full(small_batch, **kw, method="fista", max_iters=50_000)
    assert ex.converged.all() and fi.converged.all()
    for a, b in zip(ex.activity, fi.activity):
        assert np.max(np.abs(a - b)) <= 2e-3 * np.max(a)
        assert np.corrcoef(a, b)[0, 1] > 0.9999
    np.testing.assert_allclose(ex.baseline, fi.baseline, rtol=1e-4)


def test_auto_picks_exact_for_nonneg_and_fista_for_box(small_batch) -> None:
    kw = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01)
    auto = calab.run_deconvolution(small_batch, **kw)
    assert np.array_equal(auto, calab.run_deconvolution(small_batch, **kw, method="exact"))
    box = dict(kw, constraint="box01")
    assert np.array_equal(
        calab.run_deconvolution(small_batch, **box),
        calab.run_deconvolution(small_batch, **box, method="fista"),
    )


def test_conv_modes_agree(small_batch) -> None:
    kw = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01, method="fista", max_iters=20_000)
    a = calab.run_deconvolution_full(small_batch, **kw, conv_mode="fft")
    b = calab.run_deconvolution_full(small_batch, **kw, conv_mode="banded")
    assert np.max(np.abs(a.activity - b.activity)) <= 1e-4 * np.max(a.activity)
    np.testing.assert_allclose(a.reconvolution, b.reconvolution, rtol=0, atol=1e-5)


def test_max_iters_caps_fista(small_batch) -> None:
    out = calab.run_deconvolution_full(
        small_batch, 30.0, 0.02, 0.4, 0.01, method="fista", max_iters=3
    )
    assert np.all(out.iterations <= 3)
    assert not out.converged.any()
