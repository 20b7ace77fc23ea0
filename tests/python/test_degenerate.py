"""Degenerate and hostile inputs: each gives a correct finite answer or a calab.SolverError with
the right code (and ValueError for input faults) whose message names the offending value."""

from __future__ import annotations

import calab
import numpy as np
import pytest

KW = dict(fs=30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01)
ALL_PATHS = [
    dict(method="exact", conv_mode="fft"),
    dict(method="exact", conv_mode="banded"),
    dict(method="fista", conv_mode="fft"),
    dict(method="fista", conv_mode="banded"),
    dict(method="fista", constraint="box01", conv_mode="fft"),
    dict(method="auto", constraint="box01", conv_mode="banded"),
]
PATH_IDS = ["exact-fft", "exact-banded", "fista-fft", "fista-banded", "box-fft", "box-banded"]


def run(y, **kw):
    return calab.run_deconvolution_full(y, **{**KW, **kw})


def trace(n: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = calab.build_kernel(0.02, 0.4, 30.0)
    s = (rng.random(n) < 0.05) * 1.0
    return np.convolve(s, h)[:n] + 1.0 + 0.02 * rng.standard_normal(n)


def expect(exc_type, code: str, *fragments: str):
    """Context manager: raises exc_type (a SolverError) with ``code`` and every fragment."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(exc_type)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *args):
            handled = self._ctx.__exit__(*args)
            err = self.info.value
            assert isinstance(err, calab.SolverError)
            assert err.code == code
            if code != "NOT_READY":
                assert isinstance(err, ValueError)
            for frag in fragments:
                assert frag in str(err), (frag, str(err))
            return handled

    return _Check()


# ---------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize(
    ("override", "name", "shown"),
    [
        (dict(tau_rise=0.5, tau_decay=0.4), "tau_rise", "0.5"),
        (dict(tau_rise=0.4, tau_decay=0.4), "tau_rise", "0.4"),
        (dict(tau_rise=0.0), "tau_rise", "0"),
        (dict(tau_rise=-0.02), "tau_rise", "-0.02"),
        (dict(tau_rise=float("nan")), "tau_rise", "NaN"),
        (dict(tau_rise=float("inf"), tau_decay=float("inf")), "tau_rise", "inf"),
        (dict(tau_decay=0.0), "tau_decay", "0"),
        (dict(tau_decay=-1.0), "tau_decay", "-1"),
        (dict(tau_decay=float("nan")), "tau_decay", "NaN"),
        (dict(tau_decay=float("inf")), "tau_decay", "inf"),
        (dict(fs=0.0), "fs", "0"),
        (dict(fs=-30.0), "fs", "-30"),
        (dict(fs=float("nan")), "fs", "NaN"),
        (dict(fs=float("inf")), "fs", "inf"),
        (dict(lambda_=-0.1), "lambda", "-0.1"),
        (dict(lambda_=float("nan")), "lambda", "NaN"),
        (dict(lambda_=float("inf")), "lambda", "inf"),
        (dict(tau_rise=1e-7, tau_decay=1e-6), "tau_decay", "too short"),
        (dict(tau_rise=0.01, tau_decay=1e9), "tau_decay", "limit"),
    ],
)
@pytest.mark.parametrize("path", ALL_PATHS[::2], ids=PATH_IDS[::2])
def test_invalid_parameters(override, name, shown, path) -> None:
    with expect(calab.InvalidParameterError, "INVALID_PARAMETER", f"`{name}`", shown):
        run(trace(), **{**path, **override})


def test_invalid_parameters_checked_even_for_empty_batches() -> None:
    with expect(calab.InvalidParameterError, "INVALID_PARAMETER", "`tau_rise`"):
        run(np.zeros((0, 10)), tau_rise=1.0)


@pytest.mark.parametrize(
    ("override", "kind", "value"),
    [
        (dict(conv_mode="fftw"), "conv_mode", "fftw"),
        (dict(conv_mode="FFT"), "conv_mode", "FFT"),
        (dict(constraint="positive"), "constraint", "positive"),
        (dict(method="admm"), "method", "admm"),
        (dict(method="exact", constraint="box01"), "box01", "exact"),
    ],
)
def test_unknown_options(override, kind, value) -> None:
    with expect(calab.UnknownOptionError, "UNKNOWN_OPTION", kind, f"`{value}`"):
        run(trace(), **override)


def test_option_aliases_are_accepted() -> None:
    y = trace()
    assert np.array_equal(run(y, conv_mode="ar2").activity, run(y, conv_mode="banded").activity)
    assert np.array_equal(
        run(y, constraint="box").activity, run(y, constraint="box01").activity
    )


@pytest.mark.parametrize("bad", [0, -1, -1000, True, False, 2.5, "100", np.float64(0.5)])
def test_invalid_max_iters(bad) -> None:
    with expect(calab.InvalidParameterError, "INVALID_PARAMETER", "max_iters", repr(bad)):
        run(trace(), max_iters=bad)


@pytest.mark.parametrize("bad", [None, float("nan"), 2**40], ids=["None", "nan", "2**40"])
def test_max_iters_of_the_wrong_kind_is_a_solver_error(bad) -> None:
    with expect(calab.InvalidParameterError, "INVALID_PARAMETER", "max_iters"):
        run(trace(), method="fista", max_iters=bad)


@pytest.mark.parametrize("ok", [1, 7, np.int64(50), np.uint16(3), 5.0])
def test_valid_max_iters_variants(ok) -> None:
    out = run(trace(), method="fista", max_iters=ok)
    assert out.iterations <= int(ok)


# ---------------------------------------------------------------------------------------------
# Shapes and dtypes


@pytest.mark.parametrize("shape", [(0,), (3, 0), (1, 0)])
def test_empty_traces(shape) -> None:
    with expect(calab.TraceTooShortError, "TRACE_TOO_SHORT", str(shape)):
        run(np.zeros(shape))


def test_zero_rows_give_empty_results() -> None:
    out = run(np.zeros((0, 25)))
    assert out.activity.shape == out.reconvolution.shape == (0, 25)
    assert out.baseline.shape == out.converged.shape == (0,)


@pytest.mark.parametrize("shape", [(), (2, 3, 4), (1, 1, 10)])
def test_wrong_dimensionality(shape) -> None:
    with expect(calab.ShapeMismatchError, "SHAPE_MISMATCH", str(shape)):
        run(np.ones(shape))


@pytest.mark.parametrize(
    ("arr", "dtype_name"),
    [
        (np.array([1.0, "a", 3.0], dtype=object), "object"),
        (np.array([1.0, 2.0, 3.0], dtype=object), "object"),
        (np.ones(10, dtype=complex), "complex128"),
        (np.ones(10, dtype=np.complex64), "complex64"),
        (np.array(["1", "2", "3"]), "<U1"),
        (np.array([b"1", b"2"]), "S1"),
        (np.zeros(3, dtype="V8"), "V8"),
    ],
)
def test_non_real_dtypes(arr, dtype_name) -> None:
    with expect(calab.ShapeMismatchError, "SHAPE_MISMATCH", dtype_name):
        run(arr)


def test_ragged_list_is_rejected_cleanly() -> None:
    with pytest.raises((calab.SolverError, ValueError)):
        run([[1.0, 2.0, 3.0], [1.0, 2.0]])


# ---------------------------------------------------------------------------------------------
# Non-finite data


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_1d(bad) -> None:
    y = trace()
    y[17] = bad
    y[40] = bad
    with expect(calab.NonFiniteInputError, "NON_FINITE_INPUT", "index 17", "2 non-finite"):
        run(y)


def test_non_finite_2d_names_row_and_index() -> None:
    y = np.vstack([trace(seed=i) for i in range(4)])
    y[2, 33] = np.nan
    y[3, 5] = np.inf
    with expect(calab.NonFiniteInputError, "NON_FINITE_INPUT", "row 2", "index 33", "2 rows"):
        run(y)
    y[3, 5] = 1.0
    with expect(calab.NonFiniteInputError, "NON_FINITE_INPUT", "row 2", "index 33"):
        run(y)


# ---------------------------------------------------------------------------------------------
# Tiny and constant traces


@pytest.mark.parametrize("path", ALL_PATHS, ids=PATH_IDS)
def test_length_one_trace(path) -> None:
    out = run(np.array([2.5]), **path)
    assert out.activity.tolist() == [0.0]
    assert out.baseline == 2.5
    assert out.reconvolution.tolist() == [2.5]
    assert out.converged


@pytest.mark.parametrize("path", ALL_PATHS, ids=PATH_IDS)
def test_length_two_trace(path) -> None:
    out = run(np.array([2.5, 3.0]), **path, centre_on_frames=False)
    assert np.all(np.isfinite(out.activity)) and np.all(out.activity >= 0)
    assert abs(out.activity[1]) < 1e-12  # the last sample cannot be seen in the trace
    assert out.activity[0] > 0  # the rise from 2.5 to 3.0 needs an event
    np.testing.assert_allclose(out.reconvolution.mean(), 2.75, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_bandpass_needs_four_samples(n) -> None:
    with expect(calab.TraceTooShortError, "TRACE_TOO_SHORT", f"{n} sample", "4"):
        run(np.arange(n, dtype=float), filter_enabled=True)


@pytest.mark.parametrize("opts", [dict(remove_drift=False), dict(),
                                  dict(filter_enabled=True, remove_drift=False)],
                         ids=["plain", "drift", "filter"])
@pytest.mark.parametrize("path", ALL_PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("value", [0.0, 7.0, -3.25, 1e9])
def test_constant_trace(path, opts, value) -> None:
    y = np.full(80, value)
    out = run(y, **path, **opts)
    drift = opts.get("remove_drift", True)  # on by default
    if drift or opts.get("filter_enabled"):
        # Preprocessing may leave rounding-level ripple (1e-16 relative) for the solver to fit.
        assert np.all(np.abs(out.activity) <= 1e-12 * max(1.0, abs(value)))
    else:
        assert np.all(out.activity == 0)
    assert out.baseline == pytest.approx(value, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(out.reconvolution, value, rtol=1e-12, atol=1e-12)
    if not (drift and path.get("constraint") == "box01"):
        assert out.converged


@pytest.mark.parametrize(("value", "conv_mode"), [(7.0, "fft"), (-3.25, "fft"), (-3.25, "banded")])
def test_constant_trace_box01_with_drift_removal_converges(value, conv_mode) -> None:
    out = run(np.full(80, value), constraint="box01", conv_mode=conv_mode, remove_drift=True)
    assert out.converged


def test_constant_rows_in_a_batch_do_not_disturb_others() -> None:
    y = np.vstack([trace(seed=1), np.full(120, 4.0), trace(seed=2)])
    out = run(y)
    assert np.all(out.activity[1] == 0) and out.baseline[1] == pytest.approx(4.0)
    assert np.array_equal(out.activity[0], run(y[0]).activity)
    assert np.array_equal(out.activity[2], run(y[2]).activity)


# ---------------------------------------------------------------------------------------------
# Amplitude scaling: 1/2||k y - K s - b||^2 + lam G ||s||_1 with s = k s', b = k b', lam = k lam'
# is k^2 times the problem for (y, lam'), so activity(k y, k lam) = k activity(y, lam); with
# lam = 0 the activity is simply proportional to the data.


@pytest.mark.parametrize("k", [1e-12, 1e-6, 1e6, 1e12])
@pytest.mark.parametrize("lam", [0.0, 0.02])
@pytest.mark.parametrize("path", ALL_PATHS[:4], ids=PATH_IDS[:4])
def test_scale_equivariance(path, lam, k) -> None:
    y = trace(300, seed=3)
    base = run(y, **path, lambda_=lam, max_iters=20_000)
    scaled = run(k * y, **path, lambda_=k * lam, max_iters=20_000)
    assert np.all(np.isfinite(scaled.activity))
    assert scaled.converged
    np.testing.assert_allclose(scaled.activity / k, base.activity, rtol=0,
                               atol=1e-6 * base.activity.max())
    assert scaled.baseline / k == pytest.approx(base.baseline, rel=1e-6)


def test_fixed_lambda_is_not_scale_invariant() -> None:
    """With the same lam the penalty weighs differently at a different amplitude (documented
    behaviour of the objective, not a normalisation)."""
    y = trace(300, seed=3)
    a = run(y, lambda_=0.05).activity
    b = run(100 * y, lambda_=0.05).activity / 100
    assert np.count_nonzero(b > 1e-9) > np.count_nonzero(a > 1e-9)


@pytest.mark.parametrize("k", [1e-12, 1e12])
def test_box01_at_extreme_amplitudes(k) -> None:
    out = run(k * trace(300, seed=3), constraint="box01", max_iters=5000)
    assert np.all(np.isfinite(out.activity))
    assert np.all((out.activity >= 0) & (out.activity <= 1))
    if k > 1:
        assert out.activity.max() == 1.0  # events far above one kernel peak saturate the box


@pytest.mark.parametrize(("method", "k"), [("exact", 1e200), ("fista", 1e200), ("fista", 1e-300)])
def test_extreme_finite_amplitudes(method, k) -> None:
    y = trace(300, seed=3)
    base = run(y, method=method, lambda_=0.0, max_iters=20_000)
    try:
        out = run(k * y, method=method, lambda_=0.0, max_iters=20_000)
    except calab.SolverError as e:
        assert isinstance(e, ValueError)
        return
    assert np.all(np.isfinite(out.activity)) and np.isfinite(out.baseline)
    np.testing.assert_allclose(out.activity / k, base.activity, atol=1e-4 * base.activity.max())


def test_huge_lambda_and_tiny_lambda() -> None:
    y = trace()
    out = run(y, lambda_=1e300)
    assert np.all(out.activity == 0) and out.baseline == pytest.approx(y.mean())
    out = run(y, lambda_=1e-300)
    assert np.all(np.isfinite(out.activity)) and out.converged


def test_negative_and_offset_data() -> None:
    """Data far below zero is just an offset: same activity as the shifted trace."""
    y = trace(200, seed=4)
    a = run(y).activity
    b = run(y - 1e4).activity
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * a.max())
