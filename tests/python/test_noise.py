"""calab.estimate_noise and the `noise` field every result carries."""

from __future__ import annotations

import calab
import numpy as np
import pytest


def test_recovers_the_noise_of_a_simulated_recording() -> None:
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=6, num_timepoints=9000, seed=4,
                                               noise={"gaussian_std": 0.05, "gaussian_std_cv": 0.0,
                                                      "shot_noise": False}))
    sigma = calab.estimate_noise(sim.traces)
    assert sigma.shape == (6,)
    # Transients leak a little power into the upper band; the estimate stays within 15%.
    np.testing.assert_allclose(sigma, 0.05, rtol=0.15)


def test_one_trace_gives_a_float_and_offsets_do_not_matter() -> None:
    y = np.random.default_rng(1).standard_normal(4000)
    a = calab.estimate_noise(y)
    assert isinstance(a, float)
    assert calab.estimate_noise(y + 1e6) == pytest.approx(a, rel=1e-6)
    assert calab.estimate_noise(3.0 * y) == pytest.approx(3.0 * a, rel=1e-12)


def test_refuses_unmeasurable_input() -> None:
    with pytest.raises(calab.TraceTooShortError):
        calab.estimate_noise([1.0, 2.0])
    with pytest.raises(calab.NonFiniteInputError):
        calab.estimate_noise([1.0, np.nan, 2.0, 3.0])


def test_every_solver_reports_the_input_noise() -> None:
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=2000, seed=2))
    want = calab.estimate_noise(sim.traces)
    gamma = calab.gamma_from_tau(0.4, 30.0)
    results = [
        calab.run_deconvolution_full(sim.traces, 30.0, 0.02, 0.4, 0.02),
        calab.run_l0(sim.traces, gamma, 0.05),
        calab.run_convar(sim.traces, gamma, 1.0),
    ]
    for res in results:
        np.testing.assert_array_equal(res.noise, want)
