"""Convar (calab.convar): against a dense scipy bounded least-squares reference, shapes, errors
with codes, the lambda search, chunking, f32 input and row independence."""

from __future__ import annotations

import calab
import numpy as np
import pytest
from calab import _errors
from calab.convar import convar_lambda_search, default_lambda_grid, run_convar
from scipy.optimize import lsq_linear


def _dense(y: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Stacked system [A; sqrt(lam) D] r ~ [y~; 0] of the Convar objective."""
    n = len(y)
    t = np.arange(n)
    a0 = np.where(t[:, None] >= t[None, :], gamma ** np.clip(t[:, None] - t[None, :], 0, None), 0.0)
    a = a0 - a0.mean(axis=0, keepdims=True)
    d = np.zeros((n - 2, n))
    for k, tt in enumerate(range(2, n)):
        d[k, tt] = 1.0
        d[k, tt - 1] = -1.0
    return np.vstack([a, np.sqrt(lam) * d]), np.r_[y - y.mean(), np.zeros(n - 2)]


def _canonical(r: np.ndarray, gamma: float) -> np.ndarray:
    """Move along the flat direction (1, 1-gamma, ...) so the smallest rate is zero."""
    r = r.copy()
    m = r[1:].min()
    r[1:] -= m
    r[0] -= m / (1 - gamma)
    return r


def _objective(y: np.ndarray, r: np.ndarray, gamma: float, lam: float) -> float:
    m, b = _dense(y, gamma, lam)
    return float(np.sum((m @ r - b) ** 2))


def _reference(y: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    m, b = _dense(y, gamma, lam)
    n = len(y)
    # The objective is flat along (1, 1-gamma, ...), which stalls BVLS; a tiny ridge makes the
    # minimiser unique (its bias is far below the tolerances used here), then canonicalise.
    m = np.vstack([m, 1e-7 * np.eye(n)])
    b = np.r_[b, np.zeros(n)]
    lb = np.r_[-np.inf, np.zeros(n - 1)]
    res = lsq_linear(m, b, bounds=(lb, np.full(n, np.inf)), method="bvls", tol=1e-14)
    return _canonical(res.x, gamma)


def _population(seed: int, n: int, gamma: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rate = np.full(n, 0.1)
    for _ in range(max(2, n // 60)):
        rate += rng.uniform(0.5, 2) * np.exp(
            -0.5 * ((t - rng.uniform(0, n)) / rng.uniform(4, 15)) ** 2
        )
    c = np.zeros(n)
    for i in range(n):
        c[i] = (gamma * c[i - 1] if i else 0.0) + rate[i]
    return rate, c + 5.0 + noise * rng.standard_normal(n)


@pytest.mark.parametrize("method", ["direct", "fista"])
@pytest.mark.parametrize(
    ("n", "gamma", "lam"), [(15, 0.5, 0.0), (30, 0.8, 0.5), (40, 0.9, 3.0), (50, 0.95, 20.0)]
)
def test_matches_dense_scipy_reference(n: int, gamma: float, lam: float, method: str) -> None:
    rng = np.random.default_rng(n)
    for _ in range(3):
        rate = np.maximum(np.cumsum(rng.uniform(-0.3, 0.3, n)) + 0.5, 0)
        c = np.zeros(n)
        for i in range(n):
            c[i] = (gamma * c[i - 1] if i else 0.0) + rate[i]
        y = c + 10 + rng.uniform(-0.5, 0.5, n)
        ref = _reference(y, gamma, lam)
        res = run_convar(y, gamma, lam, tol=1e-10, max_iters=200_000, method=method)
        assert res.converged
        assert (res.iterations == 1) == (method == "direct")
        f_zero = _objective(y, np.zeros(n), gamma, lam)
        gap = (res.objective - _objective(y, ref, gamma, lam)) / f_zero
        assert abs(gap) <= 1e-9, gap
        assert res.objective == pytest.approx(_objective(y, res.rates, gamma, lam), rel=1e-10)
        assert np.max(np.abs(res.rates - ref)) <= 1e-5 * np.max(np.abs(ref))
        assert res.baseline == pytest.approx(np.mean(y - res.calcium), abs=1e-10)
        assert res.rates[1:].min() == 0.0


def test_shapes_1d_and_2d() -> None:
    traces = np.stack([_population(s, 200, 0.9, 0.3)[1] for s in range(4)])
    one = run_convar(traces[0], 0.9, 1.0)
    assert one.rates.shape == (200,) and one.calcium.shape == (200,)
    assert isinstance(one.baseline, float) and isinstance(one.lambda_, float)
    assert isinstance(one.iterations, int) and isinstance(one.converged, bool)
    many = run_convar(traces, 0.9, 1.0)
    assert many.rates.shape == (4, 200) and many.calcium.shape == (4, 200)
    for field in ("baseline", "lambda_", "iterations", "converged", "objective"):
        assert np.shape(getattr(many, field)) == (4,)
    np.testing.assert_array_equal(many.rates[0], one.rates)
    assert many.baseline[0] == one.baseline
    empty = run_convar(np.zeros((0, 50)), 0.9, 1.0)
    assert empty.rates.shape == (0, 50)


def test_rows_are_independent() -> None:
    # Blocks of rows give bit-identical results to the whole matrix (Dask-style splitting).
    traces = np.stack([_population(s, 240, 0.9, 0.3)[1] for s in range(6)])
    whole = run_convar(traces, 0.9, None, search="fast")
    parts = [run_convar(traces[i : i + 2], 0.9, None, search="fast") for i in (0, 2, 4)]
    np.testing.assert_array_equal(whole.rates, np.vstack([p.rates for p in parts]))
    np.testing.assert_array_equal(whole.lambda_, np.concatenate([p.lambda_ for p in parts]))
    again = run_convar(traces, 0.9, None, search="fast")
    np.testing.assert_array_equal(whole.rates, again.rates)


def test_float32_input() -> None:
    _, y = _population(3, 300, 0.9, 0.3)
    r64 = run_convar(y, 0.9, 2.0, tol=1e-9)
    r32 = run_convar(y.astype(np.float32), 0.9, 2.0, tol=1e-9)
    y32 = y.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(r32.rates, run_convar(y32, 0.9, 2.0, tol=1e-9).rates)
    assert np.max(np.abs(r32.rates - r64.rates)) <= 1e-4 * np.max(r64.rates)


@pytest.mark.parametrize(
    ("kwargs", "exc", "code"),
    [
        ({"gamma": 1.0}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"gamma": 0.0}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"gamma": float("nan")}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"lambda_": -1.0}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"lambda_": float("inf")}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"tol": 0.0}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"max_iters": 0}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        ({"init": "random"}, _errors.UnknownOptionError, "UNKNOWN_OPTION"),
        ({"method": "newton"}, _errors.UnknownOptionError, "UNKNOWN_OPTION"),
        ({"lambda_": None, "search": "binary"}, _errors.UnknownOptionError, "UNKNOWN_OPTION"),
        ({"lambda_": None, "lambda_grid": []}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        (
            {"lambda_": None, "lambda_grid": [1.0, -1.0]},
            _errors.InvalidParameterError,
            "INVALID_PARAMETER",
        ),
        ({"chunk_size": 2}, _errors.InvalidParameterError, "INVALID_PARAMETER"),
        (
            {"chunk_size": 50, "overlap": 10, "blend": 20},
            _errors.InvalidParameterError,
            "INVALID_PARAMETER",
        ),
    ],
)
def test_bad_parameters(kwargs: dict, exc: type, code: str) -> None:
    args = {"gamma": 0.9, "lambda_": 1.0} | kwargs
    y = _population(0, 100, 0.9, 0.3)[1]
    with pytest.raises(exc) as info:
        run_convar(y, **args)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)


def test_bad_data() -> None:
    y = _population(0, 100, 0.9, 0.3)[1]
    bad = np.stack([y, y])
    bad[1, 7] = np.nan
    with pytest.raises(_errors.NonFiniteInputError, match="row 1") as info:
        run_convar(bad, 0.9, 1.0)
    assert info.value.code == "NON_FINITE_INPUT"
    with pytest.raises(_errors.TraceTooShortError) as info:
        run_convar(y[:2], 0.9, 1.0)
    assert info.value.code == "TRACE_TOO_SHORT"
    with pytest.raises(_errors.TraceTooShortError):
        run_convar(y[:5], 0.9, None)
    with pytest.raises(_errors.ShapeMismatchError) as info:
        run_convar(np.zeros((2, 3, 4)), 0.9, 1.0)
    assert info.value.code == "SHAPE_MISMATCH"
    with pytest.raises(_errors.ValueOutOfRangeError):
        run_convar(np.r_[1e200, y], 0.9, 1.0)


def test_lambda_search_recovers_the_rate() -> None:
    gamma = 0.95
    rate, y = _population(101, 2000, gamma, 0.5)
    grid = run_convar(y, gamma, None)
    grid_lams = default_lambda_grid()
    assert grid_lams[0] < grid.lambda_ < grid_lams[-1]

    def corr(lam: float) -> float:
        return float(np.corrcoef(run_convar(y, gamma, lam).rates[1:], rate[1:])[0, 1])

    c_best = corr(grid.lambda_)
    assert c_best > 0.95
    assert c_best > corr(grid_lams[0]) and c_best > corr(grid_lams[-1])
    fast = run_convar(y, gamma, None, search="fast")
    s_grid = convar_lambda_search(y, gamma)
    s_fast = convar_lambda_search(y, gamma, search="fast")
    assert s_grid.lambda_ == grid.lambda_ and s_fast.lambda_ == fast.lambda_
    assert len(s_fast.lambdas) < len(s_grid.lambdas) == len(grid_lams)
    # The fast search's choice scores within 1% of the grid's best.
    assert s_fast.score <= 1.01 * s_grid.score
    assert s_grid.score == pytest.approx(s_grid.scores.min())


def test_chunked_matches_whole() -> None:
    gamma, lam = 0.9, 2.0
    _, y = _population(5, 4000, gamma, 0.3)
    whole = run_convar(y, gamma, lam, tol=1e-10, max_iters=100_000)
    chunked = run_convar(y, gamma, lam, tol=1e-10, max_iters=100_000, chunk_size=500)
    scale = np.max(whole.rates[1:])
    assert np.max(np.abs(chunked.rates[1:] - whole.rates[1:])) <= 1e-3 * scale
    fit_w = whole.calcium + whole.baseline
    fit_c = chunked.calcium + chunked.baseline
    assert np.max(np.abs(fit_w - fit_c)) <= 1e-3 * np.ptp(fit_w)
    small = run_convar(y, gamma, lam, chunk_size=300, overlap=40, blend=20)
    assert small.converged and small.rates.shape == y.shape


def test_zeros_init_and_no_early_stop_reach_the_same_optimum() -> None:
    gamma, lam = 0.95, 1.0
    _, y = _population(11, 800, gamma, 0.4)
    ref = run_convar(
        y, gamma, lam, init="zeros", early_stop=False, max_iters=20_000, tol=1e-10, method="fista"
    )
    fd = run_convar(y, gamma, lam, tol=1e-8, method="fista")
    assert fd.iterations < 20_000
    assert np.max(np.abs(fd.rates - ref.rates)) <= 1e-4 * np.max(ref.rates)
    assert fd.objective == pytest.approx(ref.objective, rel=1e-9)
    # The direct solve (the default) is the same optimum, at or below FISTA's objective.
    direct = run_convar(y, gamma, lam)
    assert np.max(np.abs(direct.rates - ref.rates)) <= 1e-4 * np.max(ref.rates)
    assert direct.objective <= ref.objective * (1 + 1e-12)
    assert direct.objective == pytest.approx(ref.objective, rel=1e-9)


def test_search_picks_the_same_lambda_with_either_method() -> None:
    gamma = 0.95
    _, y = _population(7, 600, gamma, 0.4)
    direct = convar_lambda_search(y, gamma)
    fista = convar_lambda_search(y, gamma, method="fista", tol=1e-10, max_iters=100_000)
    assert direct.lambda_ == fista.lambda_
    np.testing.assert_array_equal(direct.lambdas, fista.lambdas)
    np.testing.assert_allclose(direct.scores, fista.scores, rtol=1e-6)
    assert direct.iterations == len(direct.lambdas) < fista.iterations


def test_public_exports() -> None:
    for name in ("run_convar", "ConvarResult", "convar_lambda_search", "ConvarLambdaSearch"):
        assert name in calab.__all__
        assert getattr(calab, name) is getattr(calab.convar, name)


def test_golden_fixture() -> None:
    # tests/fixtures/convar_golden.json is what the Rust and WASM suites check too.
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / "fixtures" / "convar_golden.json"
    golden = json.loads(path.read_text())
    rtol, atol = golden["tolerance"]["rtol"], golden["tolerance"]["atol"]
    for case in golden["cases"]:
        lam = None if case["lam"] < 0 else case["lam"]
        res = run_convar(np.asarray(case["trace"]), case["gamma"], lam, max_iters=case["max_iters"])
        exp = case["expected"]
        for field in ("rates", "calcium"):
            want = np.asarray(exp[field])
            bound = atol + rtol * np.max(np.abs(want))
            assert np.max(np.abs(getattr(res, field) - want)) <= bound, (case["name"], field)
        assert res.lambda_ == pytest.approx(exp["lambda"], rel=1e-12)
        assert res.baseline == pytest.approx(exp["baseline"], rel=rtol, abs=atol)
        assert res.converged == exp["converged"]
