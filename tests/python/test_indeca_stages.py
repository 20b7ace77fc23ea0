"""The InDeCa stage wrappers: shapes, dtypes, ground truth on simulated data, error classes."""

from __future__ import annotations

import calab
import numpy as np
import pytest


@pytest.fixture(scope="module")
def sim() -> calab.SimulationResult:
    return calab.simulate(
        calab.presets.gcamp6s(
            num_cells=3,
            num_timepoints=4000,
            seed=3,
            kernel={"tau_rise": 0.1, "tau_decay": 1.6, "tau_rise_cv": 0.0, "tau_decay_cv": 0.0},
            drift={"model_type": "none"},
        )
    )


def test_exports() -> None:
    for name in (
        "BiexpFitResult",
        "SolveTraceResult",
        "compute_upsample_factor",
        "estimate_kernel",
        "fit_biexponential",
        "solve_trace",
    ):
        assert name in calab.__all__
        assert hasattr(calab, name)


def test_upsample_factor() -> None:
    assert calab.compute_upsample_factor(30.0, 100.0) == 3
    assert calab.compute_upsample_factor(30.0, 10.0) == 1
    with pytest.raises(calab.InvalidParameterError):
        calab.compute_upsample_factor(0.0, 100.0)


def test_solve_trace_shapes_and_truth(sim: calab.SimulationResult) -> None:
    gt = sim.ground_truth[0]
    res = calab.solve_trace(sim.traces[0], 0.1, 1.6, 30.0)
    assert isinstance(res, calab.SolveTraceResult)
    assert res.s_counts.shape == (4000,) and res.s_counts.dtype == np.float32
    assert np.all(res.s_counts == np.round(res.s_counts)) and res.s_counts.min() >= 0
    n_true = float(np.sum(gt.spikes))
    assert abs(float(res.s_counts.sum()) - n_true) <= 0.1 * n_true
    assert abs(res.alpha - gt.alpha) <= 0.15 * gt.alpha
    assert 0.5 < res.pve <= 1.0
    assert isinstance(res.iterations, int) and isinstance(res.converged, bool)
    warm = calab.solve_trace(sim.traces[0], 0.1, 1.6, 30.0, warm_counts=res.s_counts)
    assert warm.iterations < res.iterations
    up = calab.solve_trace(sim.traces[0], 0.1, 1.6, 30.0, upsample_factor=3, hp_enabled=True)
    assert up.s_counts.shape == (4000,) and up.s_counts.max() <= 3


def test_estimate_kernel_and_fit_from_true_spikes(sim: calab.SimulationResult) -> None:
    traces = sim.traces
    spikes = np.stack([g.spikes for g in sim.ground_truth])
    alphas = np.array([g.alpha for g in sim.ground_truth])
    bases = np.array([g.baseline for g in sim.ground_truth])
    h = calab.estimate_kernel(
        traces.ravel(), spikes.ravel(), [4000] * 3, alphas, bases, 240, max_iters=500, tol=1e-6
    )
    assert h.shape == (240,) and h.dtype == np.float32 and (h >= 0).all()
    fit = calab.fit_biexponential(h, 30.0)
    assert isinstance(fit, calab.BiexpFitResult)
    assert abs(fit.tau_decay - 1.6) < 0.16
    assert 0.08 < fit.tau_rise < 0.1 + 1 / 30
    assert fit.quality == "good"
    again = calab.fit_biexponential(h, 30.0, warm=fit)
    assert abs(again.tau_decay - fit.tau_decay) < 1e-3
    h2 = calab.estimate_kernel(
        traces.ravel(), spikes.ravel(), np.array([4000] * 3), alphas, bases, 240, warm_kernel=h
    )
    assert np.allclose(h2, h, atol=0.05 * h.max())


def test_biexp_flags_garbage() -> None:
    rng = np.random.default_rng(0)
    assert calab.fit_biexponential(rng.random(100), 30.0).quality == "poor"


def test_errors_map_to_calab_classes() -> None:
    y = np.ones(100)
    with pytest.raises(calab.NonFiniteInputError):
        calab.solve_trace(np.r_[y, np.nan], 0.1, 1.0, 30.0)
    with pytest.raises(calab.ShapeMismatchError):
        calab.solve_trace(np.ones((2, 50)), 0.1, 1.0, 30.0)
    with pytest.raises(calab.ShapeMismatchError):
        calab.solve_trace(y, 0.1, 1.0, 30.0, warm_counts=np.zeros(5))
    with pytest.raises(calab.InvalidParameterError):
        calab.solve_trace(y, 1.0, 0.1, 30.0)
    with pytest.raises(calab.InvalidParameterError):
        calab.solve_trace(y, 0.1, 1.0, 30.0, upsample_factor=0)
    with pytest.raises(calab.TraceTooShortError):
        calab.solve_trace(np.ones(3), 0.1, 1.0, 30.0)
    s = np.zeros(100)
    with pytest.raises(calab.InvalidParameterError):
        calab.estimate_kernel(y, s, [100], [1.0], [0.0], 0)
    with pytest.raises(calab.InvalidParameterError):
        calab.estimate_kernel(y, s, [100], [1.0], [0.0], 101)
    with pytest.raises(calab.ShapeMismatchError):
        calab.estimate_kernel(y, s, [60, 30], [1.0, 1.0], [0.0, 0.0], 10)
    with pytest.raises(calab.ShapeMismatchError):
        calab.estimate_kernel(y, s[:50], [100], [1.0], [0.0], 10)
    with pytest.raises(calab.InvalidParameterError):
        calab.fit_biexponential(np.ones(30), -1.0)
    with pytest.raises(calab.TraceTooShortError):
        calab.fit_biexponential(np.ones(3), 30.0)
    # Input errors are ValueErrors too.
    with pytest.raises(ValueError):
        calab.fit_biexponential(np.ones(30), 30.0, skip=28)
