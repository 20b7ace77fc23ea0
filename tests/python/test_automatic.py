"""The automatic path: `run_deconvolution(traces, fs)` learns the kinetics and picks lambda from
the noise, with nothing to guess, and gives the same spikes whatever the units and offsets."""

from __future__ import annotations

import subprocess
import sys
import warnings

import calab
import numpy as np
import pytest


@pytest.fixture(scope="module")
def sim() -> calab.SimulationResult:
    return calab.simulate(calab.presets.gcamp6f(num_cells=10, num_timepoints=6000, seed=11))


@pytest.fixture(scope="module")
def auto(sim: calab.SimulationResult) -> calab.DeconvolutionResult:
    return calab.run_deconvolution_full(sim.traces, 30.0)


def test_learns_the_kinetics_and_tracks_the_spikes(sim, auto) -> None:
    true_rise = np.median([gt.tau_rise for gt in sim.ground_truth])
    true_decay = np.median([gt.tau_decay for gt in sim.ground_truth])
    assert 1 / 1.5 < auto.tau_decay[0] / true_decay < 1.5
    assert auto.tau_rise[0] < 3 * true_rise
    assert np.all(auto.tau_decay == auto.tau_decay[0])  # one kernel for the recording
    assert calab.estimate_kinetics(sim.traces, 30.0).fit_quality in ("good", "fair")
    assert np.all(auto.converged) and np.isfinite(auto.activity).all()
    assert np.all(auto.lam > 0) and auto.lam.shape == (10,)
    r = [np.corrcoef(a.reshape(-1, 6).sum(1), gt.spikes.reshape(-1, 6).sum(1))[0, 1]
         for a, gt in zip(auto.activity, sim.ground_truth)]
    assert np.mean(r) > 0.7


def test_units_and_offsets_change_nothing_but_the_scale(sim, auto) -> None:
    raw = 480.0 + 900.0 * sim.traces  # raw fluorescence: F0 about 500, dF/F times F0
    res = calab.run_deconvolution_full(raw, 30.0)
    np.testing.assert_allclose(res.tau_decay, auto.tau_decay, rtol=1e-3)
    np.testing.assert_allclose(res.tau_rise, auto.tau_rise, rtol=1e-3)
    np.testing.assert_allclose(res.lam, 900.0 * auto.lam, rtol=1e-6)
    np.testing.assert_allclose(res.activity / 900.0, auto.activity, rtol=1e-3,
                               atol=1e-4 * auto.activity.max())
    # The fraction of frames with activity does not depend on the units (65% on raw F before).
    assert np.mean(res.activity > 1e-3 * res.activity.max()) < 0.3


def test_given_kinetics_are_used_as_given(sim) -> None:
    res = calab.run_deconvolution_full(sim.traces[:2], 30.0, 0.02, 0.4)
    assert list(res.tau_rise) == [0.02, 0.02] and list(res.tau_decay) == [0.4, 0.4]
    with pytest.raises(calab.InvalidParameterError, match="both tau_rise and tau_decay"):
        calab.run_deconvolution(sim.traces[:2], 30.0, tau_rise=0.02)


def test_doubtful_kinetics_are_reported() -> None:
    noise = np.random.default_rng(0).standard_normal((4, 3000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = calab.estimate_kinetics(noise, 30.0)
    assert est.warnings, est
    assert [str(w.message) for w in caught if issubclass(w.category, calab.KineticsWarning)] \
        == list(est.warnings)
    assert 0.03 <= est.tau_decay <= 5.0 and 0 < est.tau_rise < est.tau_decay
    # Deconvolving such a recording still works and says why its kinetics are in doubt.
    with pytest.warns(calab.KineticsWarning):
        res = calab.run_deconvolution_full(noise, 30.0)
    assert np.isfinite(res.activity).all()


def test_cli_deconvolves_with_the_frame_rate_alone(sim, auto, tmp_path) -> None:
    src = tmp_path / "rec.npy"
    np.save(src, sim.traces)
    out = tmp_path / "act.npy"
    proc = subprocess.run([sys.executable, "-m", "calab.cli", "deconvolve", str(src), "--fs", "30",
                           "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Learned tau_rise" in proc.stdout
    np.testing.assert_allclose(np.load(out), auto.activity)
    missing = subprocess.run([sys.executable, "-m", "calab.cli", "deconvolve", str(src), "-o",
                              str(tmp_path / "x.npy")], capture_output=True, text=True,
                             timeout=600)
    assert missing.returncode == 2 and "--fs" in missing.stderr
