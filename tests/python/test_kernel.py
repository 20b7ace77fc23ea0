"""Kernel, AR(2) form, Lipschitz constant, kernel shape, bandpass filter and drift estimate,
each against its definition computed here independently."""

from __future__ import annotations

import calab
import numpy as np
import pytest
from _reference import dc_gain, kernel_peak_raw, untruncated_kernel

KINETICS = [
    (0.02, 0.4, 30.0),
    (0.1, 1.6, 30.0),
    (0.005, 0.15, 100.0),
    (0.01, 0.8, 15.0),
    (0.39, 0.4, 30.0),  # nearly equal time constants
    (0.4 * (1 - 1e-9), 0.4, 30.0),  # equal to 1e-9: d^n - r^n must not cancel
]


@pytest.mark.parametrize(("tr", "td", "fs"), KINETICS)
def test_kernel_definition(tr: float, td: float, fs: float) -> None:
    h = calab.build_kernel(tr, td, fs)
    assert h.dtype == np.float64 and h.ndim == 1
    assert h[0] == 0.0
    assert np.all(np.isfinite(h)) and np.all(h >= 0)
    assert h.max() == pytest.approx(1.0, abs=1e-12)
    # Truncated at the first sample where the decay envelope d^n / peak is below 1e-6.
    d = np.exp(-1 / (td * fs))
    envelope = d ** np.arange(len(h)) / kernel_peak_raw(tr, td, fs)
    assert h[-1] < 1e-6 and envelope[-1] <= 1e-6
    assert envelope[-2] > 1e-6 or len(h) <= 3
    # Same samples as the definition, normalised by the sampled peak.
    np.testing.assert_allclose(h, untruncated_kernel(tr, td, fs, len(h)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("tr", "td", "fs"), KINETICS)
def test_tau_to_ar2(tr: float, td: float, fs: float) -> None:
    g1, g2, d, r = calab.tau_to_ar2(tr, td, fs)
    assert d == pytest.approx(np.exp(-1 / (td * fs)), rel=1e-14)
    assert r == pytest.approx(np.exp(-1 / (tr * fs)), rel=1e-14)
    assert g1 == pytest.approx(d + r, rel=1e-14)
    assert g2 == pytest.approx(-d * r, rel=1e-14)


@pytest.mark.parametrize(("tr", "td", "fs"), KINETICS)
def test_ar2_recursion_reproduces_kernel(tr: float, td: float, fs: float) -> None:
    """c[t] = g1 c[t-1] + g2 c[t-2] + impulse at t = 1; peak-normalised it is build_kernel."""
    h = calab.build_kernel(tr, td, fs)
    g1, g2, _d, _r = calab.tau_to_ar2(tr, td, fs)
    c = np.zeros(len(h))
    c[1] = 1.0
    for t in range(2, len(h)):
        c[t] = g1 * c[t - 1] + g2 * c[t - 2]
    c /= c.max()
    np.testing.assert_allclose(c, h, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("tr", "td", "fs"), KINETICS[:5])
def test_lipschitz_is_dc_gain_squared(tr: float, td: float, fs: float) -> None:
    h = calab.build_kernel(tr, td, fs)
    L = calab.compute_lipschitz(h)
    assert L == pytest.approx(h.sum() ** 2, rel=1e-12)
    # Independently: max |H(w)|^2 on a fine grid, and the infinite kernel's DC gain.
    spec = np.abs(np.fft.rfft(h, 16 * len(h))) ** 2
    assert L == pytest.approx(spec.max(), rel=1e-12)
    assert np.sqrt(L) == pytest.approx(dc_gain(tr, td, fs), rel=1e-5)


def test_lipschitz_of_a_signed_kernel_is_not_the_dc_gain() -> None:
    """For a kernel with negative lobes the maximum is not at DC; the grid search must find it."""
    k = np.array([1.0, -1.0, 1.0, -1.0])
    L = calab.compute_lipschitz(k)
    assert L == pytest.approx(16.0, rel=1e-12)  # |H(pi)|^2 = 4^2


def test_lipschitz_rejects_bad_kernels() -> None:
    with pytest.raises(calab.TraceTooShortError):
        calab.compute_lipschitz(np.zeros(0))
    with pytest.raises(calab.NonFiniteInputError):
        calab.compute_lipschitz(np.array([0.0, np.nan]))
    with pytest.raises(calab.ShapeMismatchError):
        calab.compute_lipschitz(np.ones((2, 2)))


@pytest.mark.parametrize(("tr", "td"), [(0.02, 0.4), (0.1, 1.6), (0.05, 0.06), (0.001, 2.0)])
def test_kernel_shape_matches_fine_sampling(tr: float, td: float) -> None:
    t = np.linspace(0, 10 * td, 2_000_001)
    f = np.exp(-t / td) - np.exp(-t / tr)
    dt = t[1] - t[0]
    peak_t, fwhm = calab.kernel_shape(tr, td)
    assert peak_t == pytest.approx(t[np.argmax(f)], abs=2 * dt)
    above = t[f >= f.max() / 2]
    assert fwhm == pytest.approx(above[-1] - above[0], abs=3 * dt)
    # Continuous-time quantities: the sampling rate does not enter.
    assert calab.kernel_shape(tr, td, 100.0) == pytest.approx((peak_t, fwhm), rel=1e-12)


def test_filter_cutoffs_formula() -> None:
    for tr, td, fs in [(0.02, 0.4, 30.0), (0.1, 1.6, 30.0), (0.005, 0.15, 100.0)]:
        f_hp, f_lp = calab.filter_cutoffs(tr, td, fs)
        assert f_hp == pytest.approx(0.25 / (2 * np.pi * td), rel=1e-14)
        assert f_lp == pytest.approx(2.0 / (2 * np.pi * tr), rel=1e-14)
        assert 0 < f_hp < f_lp


def _transients(h: np.ndarray, n: int, every: int, start: int = 100) -> np.ndarray:
    clean = np.zeros(n)
    for s in range(start, n, every):
        m = min(len(h), n - s)
        clean[s : s + m] += h[:m]
    return clean


def test_bandpass_removes_slow_sinusoid_and_keeps_transients() -> None:
    tr, td, fs = 0.05, 0.5, 30.0
    n = 6000
    t = np.arange(n) / fs
    clean = _transients(calab.build_kernel(tr, td, fs), n, every=300)
    f_hp, _ = calab.filter_cutoffs(tr, td, fs)
    slow = 3.0 * np.sin(2 * np.pi * (f_hp / 5) * t)  # well below the high-pass transition
    out = calab.bandpass_filter(clean + slow + 10.0, tr, td, fs)
    assert out.shape == (n,)
    assert out.mean() == pytest.approx((clean + slow + 10.0).mean(), rel=1e-9)  # mean is kept
    # The sinusoid's frequency bin loses > 99.9 % of its power.
    freqs = np.fft.rfftfreq(n, 1 / fs)
    k = np.argmin(np.abs(freqs - f_hp / 5))
    before = np.abs(np.fft.rfft(slow))[k] ** 2
    after = np.abs(np.fft.rfft(out - out.mean()))[k] ** 2
    assert after < 1e-3 * before
    # The transients survive: shape and amplitude (away from the ends, where any FFT filter of a
    # non-periodic signal leaves some residue).
    inner = slice(600, n - 600)
    err = (out - out.mean()) - (clean - clean.mean())
    assert np.sqrt(np.mean(err[inner] ** 2)) < 0.1 * np.std(clean[inner])
    assert np.corrcoef(out, clean)[0, 1] > 0.97
    # Each transient keeps its height (within 10 %).
    for onset in range(100, n - 300, 300):
        got = np.ptp(out[onset - 20 : onset + 60])
        assert got == pytest.approx(1.0, rel=0.1), onset


def test_bandpass_removes_fast_noise_when_lowpass_applies() -> None:
    tr, td, fs = 0.02, 0.4, 100.0
    _, f_lp = calab.filter_cutoffs(tr, td, fs)
    assert f_lp < fs / 2  # the low-pass is active
    n = 4000
    t = np.arange(n) / fs
    tone = np.sin(2 * np.pi * min(2.5 * f_lp, 0.45 * fs) * t)
    out = calab.bandpass_filter(tone, tr, td, fs)
    assert np.std(out) < 0.02 * np.std(tone)


def test_bandpass_errors() -> None:
    with pytest.raises(calab.TraceTooShortError) as e:
        calab.bandpass_filter(np.ones(3), 0.02, 0.4, 30.0)
    assert e.value.code == "TRACE_TOO_SHORT" and "3" in str(e.value)
    with pytest.raises(calab.ShapeMismatchError):
        calab.bandpass_filter(np.ones((2, 10)), 0.02, 0.4, 30.0)
    with pytest.raises(calab.NonFiniteInputError):
        calab.bandpass_filter(np.r_[np.ones(10), np.nan], 0.02, 0.4, 30.0)
    with pytest.raises(calab.InvalidParameterError, match="tau_rise"):
        calab.bandpass_filter(np.ones(10), 0.5, 0.4, 30.0)


def test_estimate_drift_tracks_a_ramp_under_transients() -> None:
    fs, td = 30.0, 0.4
    n = 9000
    ramp = np.linspace(0.0, 4.0, n)
    rng = np.random.default_rng(7)
    clean = _transients(2.0 * calab.build_kernel(0.02, td, fs), n, every=45, start=10)
    y = ramp + clean + 0.02 * rng.standard_normal(n)
    drift = calab.estimate_drift(y, td, fs)
    assert drift.shape == (n,)
    w = int(max(15 * td, 10.0) * fs)  # documented window
    inner = slice(w, n - w)
    assert np.max(np.abs(drift[inner] - ramp[inner])) < 0.15
    # Transients push fluorescence up only; a low quantile must not follow them.
    assert np.mean(drift[inner] - ramp[inner]) < 0.1


def test_estimate_drift_small_and_bad_inputs() -> None:
    assert calab.estimate_drift(np.array([3.0]), 0.4, 30.0).tolist() == [3.0]
    np.testing.assert_array_equal(calab.estimate_drift(np.full(50, 2.0), 0.4, 30.0), 2.0)
    with pytest.raises(calab.NonFiniteInputError):
        calab.estimate_drift(np.array([1.0, np.inf]), 0.4, 30.0)
    with pytest.raises(calab.InvalidParameterError, match="fs"):
        calab.estimate_drift(np.ones(10), 0.4, -1.0)
    with pytest.raises(calab.TraceTooShortError):
        calab.estimate_drift(np.ones(0), 0.4, 30.0)


@pytest.mark.parametrize(
    ("tr", "td", "fs", "name"),
    [
        (0.4, 0.4, 30.0, "tau_rise"),
        (0.5, 0.4, 30.0, "tau_rise"),
        (0.0, 0.4, 30.0, "tau_rise"),
        (-0.1, 0.4, 30.0, "tau_rise"),
        (0.02, -1.0, 30.0, "tau_decay"),
        (0.02, np.nan, 30.0, "tau_decay"),
        (0.02, np.inf, 30.0, "tau_decay"),
        (0.02, 0.4, 0.0, "fs"),
        (0.02, 0.4, np.inf, "fs"),
        (0.02, 0.4, np.nan, "fs"),
        (1e-7, 1e-6, 30.0, "tau_decay"),  # vanishes within one sample
        (0.02, 1e9, 1e3, "tau_decay"),  # absurdly long kernel: refused, not allocated
    ],
)
def test_kernel_functions_reject_bad_kinetics(tr: float, td: float, fs: float, name: str) -> None:
    for fn in (calab.build_kernel, calab.tau_to_ar2, calab.kernel_shape, calab.filter_cutoffs):
        with pytest.raises(calab.InvalidParameterError) as e:
            fn(tr, td, fs)
        assert isinstance(e.value, ValueError)
        assert e.value.code == "INVALID_PARAMETER"
        assert f"`{name}`" in str(e.value)
