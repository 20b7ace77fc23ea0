"""Our solutions against an independent dense reference (exact active-set QP) and the KKT
conditions, on small problems where the reference is cheap and exact.

The problem for each trace y:  min_{s in C, b} 1/2 ||y - K s - b||^2 + mu ||s||_1, mu = lam * G_dc,
C = {s >= 0} (with L1) or {0 <= s <= 1} (box01, mu = 0). Eliminating b leaves
1/2 ||P (y - K s)||^2 + mu sum(s) with P the centring projection; that is what the reference solves.
"""

from __future__ import annotations

import functools

import calab
import numpy as np
import pytest
from _reference import (
    conv_matrix,
    dc_gain,
    gradient,
    objective,
    path_matrix,
    reference_solution,
    spike_train,
    untruncated_kernel,
)

# The optimiser s itself of the stated problem on y as given: the default report moves part of it
# onto frame centres (checked below) and the default first removes slow drift from y.
solve_full = functools.partial(calab.run_deconvolution_full, centre_on_frames=False,
                               remove_drift=False)
solve = functools.partial(calab.run_deconvolution, centre_on_frames=False, remove_drift=False)

FAST = (0.01, 0.1, 30.0)  # tau_d * fs = 3
MEDIUM = (0.02, 0.4, 30.0)  # 12
SLOW = (0.1, 1.6, 30.0)  # 48
SLOW_100HZ = (0.05, 0.5, 100.0)  # 50
KERNELS = {"fast": FAST, "medium": MEDIUM, "slow": SLOW, "slow100hz": SLOW_100HZ}


def make_problem(kin: tuple[float, float, float], n: int, seed: int, scale: float = 1.0):
    tr, td, fs = kin
    rng = np.random.default_rng(seed)
    K = path_matrix(tr, td, fs, n, truncated=False)
    y = scale * (K @ spike_train(rng, n) + 2.0 + 0.05 * rng.standard_normal(n))
    return y


def rel_gap(f_ours: float, f_ref: float) -> float:
    return (f_ours - f_ref) / abs(f_ref)


# ---------------------------------------------------------------------------------------------
# The exact (interior-point) path: always the untruncated AR(2) kernel, whatever conv_mode says.


@pytest.mark.parametrize("conv_mode", ["fft", "banded"])
@pytest.mark.parametrize("lam", [0.0, 0.02, 0.3])
@pytest.mark.parametrize("n", [60, 150])
@pytest.mark.parametrize("kname", list(KERNELS))
def test_exact_reaches_reference_objective(kname: str, n: int, lam: float, conv_mode: str) -> None:
    tr, td, fs = KERNELS[kname]
    y = make_problem(KERNELS[kname], n, seed=n)
    K = path_matrix(tr, td, fs, n, truncated=False)
    mu = lam * dc_gain(tr, td, fs)
    ref = reference_solution(y, K, mu, box=False)
    out = solve_full(y, fs, tr, td, lam, conv_mode=conv_mode, method="exact")
    assert out.converged
    gap = rel_gap(objective(y, K, out.activity, mu), objective(y, K, ref, mu))
    # Both directions: ours is not worse, and the reference is not beaten (which would mean the
    # reference or our objective is wrong).
    assert abs(gap) < 1e-9, gap  # observed <= 7e-11
    assert np.all(out.activity >= 0)
    scale = max(1.0, float(ref.max()))
    assert np.max(np.abs(out.activity - ref)) < 1e-4 * scale  # observed <= 8e-6


@pytest.mark.parametrize("kname", list(KERNELS))
def test_exact_kkt_conditions(kname: str) -> None:
    tr, td, fs = KERNELS[kname]
    for n, lam, seed in [(60, 0.0, 0), (150, 0.02, 1), (150, 0.3, 2), (100, 0.05, 3)]:
        y = make_problem(KERNELS[kname], n, seed)
        K = path_matrix(tr, td, fs, n, truncated=False)
        mu = lam * dc_gain(tr, td, fs)
        s = solve(y, fs, tr, td, lam, method="exact")
        g = gradient(y, K, s, mu)  # d/ds of the objective, including mu
        tol = 1e-6 * (float(np.max(np.abs(gradient(y, K, np.zeros(n), 0.0)))) + mu)
        # Dual feasibility where s = 0: the objective cannot decrease by raising s.
        assert np.all(g[s == 0] >= -tol), (n, lam, float(g[s == 0].min()))
        # Stationarity on the support (entries that matter; see the leftover test below).
        big = s > 1e-3 * s.max()
        assert np.all(np.abs(g[big]) <= tol), (n, lam, float(np.abs(g[big]).max()))
        # Complementary slackness everywhere.
        assert float(np.max(np.abs(s * g))) <= tol * max(1.0, float(s.max()))
        if mu > 0:
            assert s[-1] == 0.0  # cannot affect the trace, costs mu


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: the exact solver zeroes only values below 1e-9 of the largest "
    "event, so barrier residue up to ~3e-5 can remain where the optimum is exactly 0 (objective "
    "still within 1e-9); a crossover step on the active set would remove it",
)
def test_exact_support_has_no_barrier_leftovers() -> None:
    """Where the optimum is exactly zero the exact solver must return exactly zero (its docs:
    "tiny interior values left by the barrier are zeroed at the end")."""
    tr, td, fs = SLOW
    n, lam = 150, 0.3
    y = make_problem(SLOW, n, seed=2)
    K = path_matrix(tr, td, fs, n, truncated=False)
    mu = lam * dc_gain(tr, td, fs)
    s = solve(y, fs, tr, td, lam, method="exact")
    g = gradient(y, K, s, mu)
    tol = 1e-6 * (float(np.max(np.abs(gradient(y, K, np.zeros(n), 0.0)))) + mu)
    ref = reference_solution(y, K, mu, box=False)
    # Self-check: the reference's support is clean, so the test is about our solver.
    assert np.all(np.abs(gradient(y, K, ref, mu)[ref > 0]) <= tol)
    should_be_zero = g > tol  # strictly positive gradient: KKT forces s = 0 there
    assert np.all(s[should_be_zero] == 0.0), s[should_be_zero]
    assert np.array_equal(s > 0, ref > 0)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_exact_tiny_traces_match_reference(n: int) -> None:
    tr, td, fs = MEDIUM
    y = np.array([2.5, 3.0, 2.9, 2.7, 2.8])[:n]
    K = path_matrix(tr, td, fs, n, truncated=False)
    for lam in [0.0, 0.001, 0.01]:
        mu = lam * dc_gain(tr, td, fs)
        ref = reference_solution(y, K, mu, box=False)
        out = solve_full(y, fs, tr, td, lam, method="exact")
        assert out.converged
        f_ours, f_ref = objective(y, K, out.activity, mu), objective(y, K, ref, mu)
        assert f_ours <= f_ref + 1e-9 * max(1.0, abs(f_ref)), (lam, f_ours, f_ref)


def test_two_sample_closed_form() -> None:
    """T = 2: only s[0] matters; minimising 1/4 (y1 - y0 - h1 s0)^2 + mu s0 gives
    s0 = (y1 - y0 - 2 mu / h1) / h1."""
    tr, td, fs = MEDIUM
    h1 = untruncated_kernel(tr, td, fs, 2)[1]
    y = np.array([2.5, 3.0])
    for lam in [0.0, 0.001]:
        mu = lam * dc_gain(tr, td, fs)
        want = max(0.0, (y[1] - y[0] - 2 * mu / h1) / h1)
        for method in ["exact", "fista"]:
            out = solve_full(y, fs, tr, td, lam, method=method)
            assert abs(out.activity[1]) < 1e-12
            assert out.activity[0] == pytest.approx(want, rel=1e-4), method
            assert out.baseline == pytest.approx((y[0] + y[1] - h1 * want) / 2, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# FISTA: both conv modes, both constraints. K is the one each path really applies.


def fista_case(kin, n, seed, lam, constraint, conv_mode):
    tr, td, fs = kin
    box = constraint == "box01"
    y = make_problem(kin, n, seed, scale=0.7 if box else 1.0)
    K = path_matrix(tr, td, fs, n, truncated=conv_mode == "fft")
    mu = 0.0 if box else lam * dc_gain(tr, td, fs)
    ref = reference_solution(y, K, mu, box=box)
    out = solve_full(
        y, fs, tr, td, lam, max_iters=200_000, conv_mode=conv_mode, constraint=constraint,
        method="fista",
    )
    return y, K, mu, ref, out


FISTA_OK = [
    pytest.param(FAST, 60, 0, 0.0, "nonneg", id="fast-T60-lam0"),
    pytest.param(FAST, 150, 1, 0.02, "nonneg", id="fast-T150-lam0.02"),
    pytest.param(FAST, 150, 0, 0.3, "nonneg", id="fast-T150-lam0.3"),
    pytest.param(FAST, 60, 1, 0.0, "box01", id="fast-T60-box"),
    pytest.param(FAST, 150, 0, 0.0, "box01", id="fast-T150-box"),
    pytest.param(MEDIUM, 60, 0, 0.02, "nonneg", id="medium-T60-lam0.02"),
    pytest.param(MEDIUM, 150, 1, 0.3, "nonneg", id="medium-T150-lam0.3"),
]

FISTA_BUG = (
    "FISTA declares convergence far from the optimum on slow kernels: its stopping rule is a "
    "relative iterate change < 1e-6 with step 1/G_dc^2, so each step is tiny and it stops early "
    "(converged=True) with objective gaps of 1e-5..8e-2 and activity off by up to 0.6"
)
FISTA_EARLY_STOP = [
    pytest.param(MEDIUM, 60, 1, 0.0, "nonneg", id="medium-T60-lam0"),  # gap ~7e-6
    pytest.param(SLOW, 60, 0, 0.0, "nonneg", id="slow-T60-lam0"),  # gap ~4e-2
    pytest.param(SLOW, 150, 0, 0.02, "nonneg", id="slow-T150-lam0.02"),  # gap ~4e-5
    pytest.param(SLOW, 60, 0, 0.0, "box01", id="slow-T60-box"),  # gap ~1e-2
    pytest.param(SLOW_100HZ, 60, 0, 0.0, "nonneg", id="slow100-T60-lam0"),  # gap ~8e-2
    pytest.param(SLOW_100HZ, 150, 1, 0.0, "box01", id="slow100-T150-box"),  # gap ~3e-2
]


@pytest.mark.parametrize("conv_mode", ["fft", "banded"])
@pytest.mark.parametrize(("kin", "n", "seed", "lam", "constraint"), FISTA_OK)
def test_fista_reaches_reference_objective(kin, n, seed, lam, constraint, conv_mode) -> None:
    y, K, mu, ref, out = fista_case(kin, n, seed, lam, constraint, conv_mode)
    assert out.converged
    gap = rel_gap(objective(y, K, out.activity, mu), objective(y, K, ref, mu))
    assert -1e-9 < gap < 1e-6, gap
    assert np.all(out.activity >= 0)
    if constraint == "box01":
        assert np.all(out.activity <= 1)
        assert np.any(out.activity == 1.0)  # the upper bound is active in these problems


@pytest.mark.xfail(strict=True, reason=FISTA_BUG)
@pytest.mark.parametrize(("kin", "n", "seed", "lam", "constraint"), FISTA_EARLY_STOP)
def test_fista_converged_flag_means_optimal_on_slow_kernels(kin, n, seed, lam, constraint) -> None:
    y, K, mu, ref, out = fista_case(kin, n, seed, lam, constraint, "banded")
    assert out.converged and out.iterations < 200_000
    gap = rel_gap(objective(y, K, out.activity, mu), objective(y, K, ref, mu))
    assert gap < 1e-6, gap


@pytest.mark.parametrize("constraint", ["nonneg", "box01"])
def test_fista_kkt_conditions(constraint: str) -> None:
    tr, td, fs = FAST
    n, lam = 150, 0.02
    y, K, mu, _ref, out = fista_case(FAST, n, 3, lam, constraint, "banded")
    s = out.activity
    g = gradient(y, K, s, mu)
    tol = 1e-5 * (float(np.max(np.abs(gradient(y, K, np.zeros(n), 0.0)))) + mu)
    assert np.all(g[s == 0] >= -tol)
    if constraint == "box01":
        assert np.all(g[s == 1] <= tol)
        inner = (s > 0) & (s < 1)
    else:
        inner = s > 0
    assert np.all(np.abs(g[inner]) <= tol), float(np.abs(g[inner]).max())


# ---------------------------------------------------------------------------------------------
# Outputs other than the activity.


@pytest.mark.parametrize("method", ["exact", "fista"])
@pytest.mark.parametrize("conv_mode", ["fft", "banded"])
def test_baseline_and_reconvolution_are_consistent(method: str, conv_mode: str) -> None:
    """baseline = mean(y - K s) and reconvolution = K s + baseline, with K of ``conv_mode``."""
    tr, td, fs = FAST
    n = 200  # longer than the truncated kernel, so the FFT path's K really differs
    assert len(calab.build_kernel(tr, td, fs)) < n
    y = make_problem(FAST, n, seed=4)
    out = solve_full(y, fs, tr, td, 0.01, conv_mode=conv_mode, method=method)
    K = path_matrix(tr, td, fs, n, truncated=conv_mode == "fft")
    ks = K @ out.activity
    assert out.baseline == pytest.approx(float(np.mean(y - ks)), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(out.reconvolution, ks + out.baseline, rtol=1e-10, atol=1e-10)


def test_fft_path_uses_the_truncated_kernel() -> None:
    """The truncated and untruncated K differ by < 1e-6 per sample; the FFT result must match
    the truncated one to far better than that difference (sanity check of the reference)."""
    tr, td, fs = FAST
    n = 200
    h = calab.build_kernel(tr, td, fs)
    KF = conv_matrix(h, n)
    KA = path_matrix(tr, td, fs, n, truncated=False)
    assert 0 < np.max(np.abs(KF - KA)) < 1e-6



@pytest.mark.parametrize("kin", [FAST, MEDIUM, SLOW, (0.002, 0.8, 15.0)])
def test_default_report_is_the_optimum_on_frame_centres(kin: tuple[float, float, float]) -> None:
    tr, td, fs = kin
    y = make_problem(kin, 200, 3)
    s = solve(y, fs, tr, td, 0.02)
    reported = calab.run_deconvolution(y, fs, tr, td, 0.02, remove_drift=False)
    shift = calab.frame_centre_shift(tr, td, fs)
    assert 0.0 <= shift <= 0.5
    expect = s * (1 - shift)
    expect[1:] += shift * s[:-1]
    np.testing.assert_allclose(reported, expect, rtol=1e-9, atol=1e-12)


def test_frame_centre_shift_follows_the_rise() -> None:
    assert calab.frame_centre_shift(0.001, 0.8, 15.0) == pytest.approx(0.5, abs=0.03)
    assert calab.frame_centre_shift(0.1, 1.6, 100.0) < 0.03
