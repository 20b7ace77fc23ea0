"""Exact L0 spike inference (calab.l0): brute force on tiny traces, simulated ground truth,
degenerate inputs and determinism."""

from __future__ import annotations

import itertools
import time

import calab
import numpy as np
import pytest
from calab import _errors
from calab.l0 import gamma_from_tau, l0_lambda_for_rate, run_l0
from calab.simulation import NoDrift, simulate
from scipy.optimize import lsq_linear


def _design(n: int, gamma: float, starts: list[int]) -> np.ndarray:
    """Columns: calcium from the free initial level and from a unit spike at each start."""
    t = np.arange(n)
    cols = []
    for a in starts:
        col = np.where(t >= a, gamma ** np.clip(t - a, 0, None), 0.0)
        cols.append(col)
    return np.stack(cols, axis=1)


def brute_force(y: np.ndarray, gamma: float, lam: float, positive: bool) -> float:
    """Minimum over every changepoint set of the exact (constrained) least-squares fit."""
    n = len(y)
    best = np.inf
    for k in range(n):
        for cps in itertools.combinations(range(1, n), k):
            a = _design(n, gamma, [0, *cps])
            if positive and k > 0:
                lb = np.r_[-np.inf, np.zeros(k)]
                res = lsq_linear(
                    a, y, bounds=(lb, np.full(k + 1, np.inf)), method="bvls", tol=1e-14
                )
                x = res.x
            else:
                x = np.linalg.lstsq(a, y, rcond=None)[0]
            cost = 0.5 * float(np.sum((y - a @ x) ** 2)) + lam * k
            best = min(best, cost)
    return best


def _random_trace(rng: np.random.Generator, n: int, gamma: float) -> np.ndarray:
    c = rng.uniform(-1, 2)
    out = np.empty(n)
    for t in range(n):
        if rng.random() < 0.25:
            c += rng.uniform(0, 3)
        out[t] = c + rng.uniform(-0.7, 0.7)
        c *= gamma
    return out


@pytest.mark.parametrize("positive", [False, True])
def test_matches_brute_force(positive: bool) -> None:
    rng = np.random.default_rng(42 + positive)
    for trial in range(60):
        n = int(rng.integers(1, 9))
        gamma = float(rng.uniform(0.3, 0.98))
        lam = [0.0, 1e-3, 0.05, 0.3, 1.0, 5.0][trial % 6] * float(rng.uniform(0.5, 2.0))
        y = _random_trace(rng, n, gamma)
        res = run_l0(y, gamma, lam, positive=positive)
        bf = brute_force(y, gamma, lam, positive)
        cost = float(res.cost)
        assert abs(cost - bf) <= 1e-9 * max(abs(bf), 1e-3), (trial, y.tolist(), gamma, lam)
        # The reported cost is the objective of the reported calcium.
        fit = 0.5 * float(np.sum((y - res.calcium) ** 2)) + lam * res.num_spikes
        assert res.cost == pytest.approx(fit, rel=1e-12, abs=1e-12)
        z = res.calcium[1:] - gamma * res.calcium[:-1]
        on = res.spikes[1:] != 0
        np.testing.assert_allclose(res.spikes[1:][on], z[on])
        np.testing.assert_allclose(z[~on], 0.0, atol=1e-9)
        if positive:
            assert np.all(res.spikes >= 0)


def _simulated(seed: int = 3) -> calab.SimulationResult:
    cfg = calab.presets.gcamp6f(num_cells=8, num_timepoints=3000, seed=seed, drift=NoDrift())
    sim = simulate(cfg)
    return sim


def _match(pred: np.ndarray, true: np.ndarray, window: int = 2) -> tuple[float, float]:
    """Precision and recall of spike times with a +/- window (greedy one-to-one matching)."""
    p_idx = [int(i) for i in np.flatnonzero(pred)]
    t_idx = [int(i) for i in np.flatnonzero(true)]
    used: set[int] = set()
    hits = 0
    for t in t_idx:
        for p in p_idx:
            if p not in used and abs(p - t) <= window:
                used.add(p)
                hits += 1
                break
    precision = hits / max(len(p_idx), 1)
    recall = hits / max(len(t_idx), 1)
    return precision, recall


def test_simulated_spike_recovery(capsys: pytest.CaptureFixture[str]) -> None:
    sim = _simulated()
    fs = sim.config.fs
    figures = []
    for i, gt in enumerate(sim.ground_truth):
        y = (sim.traces[i] - gt.baseline) / gt.alpha  # unit spike amplitude ~1
        gamma = gamma_from_tau(gt.tau_decay, fs)
        sigma = gt.noise_std / gt.alpha
        lam = 2.0 * sigma**2 * np.log(len(y))  # a BIC-like penalty in the noise scale
        truth = sim.spikes[i] if sim.spikes.ndim == 2 else gt.spikes
        res = run_l0(y, gamma, lam, positive=True)
        p, r = _match(res.spikes, truth)
        l1 = calab.run_deconvolution(y, fs, gt.tau_rise, gt.tau_decay, 0.02 * sigma)
        thr = np.where(l1 > 0.3 * np.max(l1), l1, 0.0)
        p1, r1 = _match(thr, truth)
        figures.append((p, r, p1, r1))
    arr = np.array(figures)
    with capsys.disabled():
        print(
            f"\nL0 (positive) precision {arr[:, 0].mean():.3f} recall {arr[:, 1].mean():.3f}; "
            f"L1 thresholded precision {arr[:, 2].mean():.3f} recall {arr[:, 3].mean():.3f}"
        )
    assert arr[:, 0].mean() > 0.7
    assert arr[:, 1].mean() > 0.7


def test_lambda_for_rate() -> None:
    sim = _simulated(seed=4)
    gt = sim.ground_truth[0]
    fs = sim.config.fs
    y = (sim.traces[0] - gt.baseline) / gt.alpha
    gamma = gamma_from_tau(gt.tau_decay, fs)
    lam, rate = l0_lambda_for_rate(y, gamma, fs, 1.0, return_rate=True)
    assert lam > 0 and isinstance(lam, float)
    res = run_l0(y, gamma, lam)
    assert res.num_spikes / (len(y) / fs) == pytest.approx(rate)
    assert rate == pytest.approx(1.0, abs=0.1)
    assert l0_lambda_for_rate(y, gamma, fs, 1.0) == lam
    with pytest.raises(_errors.InvalidParameterError, match="target_rate_hz"):
        l0_lambda_for_rate(y, gamma, fs, fs * 2)
    with pytest.raises(_errors.InvalidParameterError, match="fs"):
        l0_lambda_for_rate(y, gamma, -1.0, 1.0)


@pytest.mark.parametrize("positive", [False, True])
def test_degenerate_inputs(positive: bool) -> None:
    with pytest.raises(_errors.TraceTooShortError):
        run_l0([], 0.9, 1.0, positive=positive)
    one = run_l0([2.5], 0.9, 1.0, positive=positive)
    assert one.calcium.tolist() == [2.5] and one.cost == 0.0 and one.num_spikes == 0
    const = run_l0(np.full(100, 3.0), 0.95, 10.0, positive=positive)
    assert np.isfinite(const.cost) and np.all(np.isfinite(const.calcium))
    zeros = run_l0(np.zeros(100), 0.95, 1.0, positive=positive)
    assert zeros.cost == 0.0 and zeros.num_spikes == 0
    with pytest.raises(_errors.NonFiniteInputError):
        run_l0([1.0, np.nan, 2.0], 0.9, 1.0, positive=positive)
    for g in (0.0, 1.0, -0.1, 1.5, np.nan):
        with pytest.raises(_errors.InvalidParameterError, match="gamma"):
            run_l0([1.0, 2.0], g, 1.0, positive=positive)
    for lam in (-1.0, np.inf, np.nan):
        with pytest.raises(_errors.InvalidParameterError, match="lam"):
            run_l0([1.0, 2.0], 0.9, lam, positive=positive)
    with pytest.raises(ValueError):
        run_l0(np.zeros((2, 2, 2)), 0.9, 1.0, positive=positive)


def test_lambda_zero_and_huge() -> None:
    rng = np.random.default_rng(1)
    y = _random_trace(rng, 300, 0.9)
    free = run_l0(y, 0.9, 0.0, positive=False)
    np.testing.assert_array_equal(free.calcium, y)
    assert free.cost == 0.0
    for positive in (False, True):
        single = run_l0(y, 0.9, 1e12, positive=positive)
        assert single.num_spikes == 0
        p = 0.9 ** np.arange(len(y))
        np.testing.assert_allclose(single.calcium, (y @ p / (p @ p)) * p, rtol=1e-9)


def test_batch_shapes_and_determinism() -> None:
    rng = np.random.default_rng(2)
    traces = np.stack([_random_trace(rng, 400, 0.92) for _ in range(5)])
    a = run_l0(traces, 0.92, 0.5)
    b = run_l0(traces, 0.92, 0.5)
    assert a.spikes.shape == traces.shape and a.calcium.shape == traces.shape
    assert np.shape(a.cost) == (5,) and np.shape(a.num_spikes) == (5,)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for i in range(5):
        row = run_l0(traces[i], 0.92, 0.5)
        np.testing.assert_array_equal(row.spikes, a.spikes[i])
        assert row.cost == np.asarray(a.cost)[i]
    bad = traces.copy()
    bad[3, 7] = np.inf
    with pytest.raises(_errors.NonFiniteInputError, match="row 3"):
        run_l0(bad, 0.92, 0.5)
    empty = run_l0(np.zeros((0, 10)), 0.92, 0.5)
    assert empty.spikes.shape == (0, 10)


def test_gamma_from_tau() -> None:
    assert gamma_from_tau(0.5, 30.0) == pytest.approx(np.exp(-1 / 15))
    with pytest.raises(_errors.InvalidParameterError, match="tau_decay"):
        gamma_from_tau(0.0, 30.0)
    with pytest.raises(_errors.InvalidParameterError, match="fs"):
        gamma_from_tau(0.5, 0.0)


def test_timing_growth(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints (never asserts) run time against T on simulated GCaMP6f traces."""
    lines = []
    for n in (10_000, 30_000, 100_000, 300_000):
        sim = simulate(
            calab.presets.gcamp6f(num_cells=1, num_timepoints=n, seed=9, drift=NoDrift())
        )
        gt = sim.ground_truth[0]
        y = (sim.traces[0] - gt.baseline) / gt.alpha
        gamma = gamma_from_tau(gt.tau_decay, sim.config.fs)
        lam = 2.0 * (gt.noise_std / gt.alpha) ** 2 * np.log(n)
        for positive in (False, True):
            t0 = time.perf_counter()
            res = run_l0(y, gamma, lam, positive=positive)
            dt = time.perf_counter() - t0
            lines.append(f"T={n} positive={positive}: {dt * 1e3:.1f} ms, {res.num_spikes} spikes")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
