"""Moving from upstream calab 0.3.0: result fields named and ordered as there (ours come after),
``fit_mode`` and ``noise_constrained``. The upstream orders below were read from calab 0.3.0 as
installed from PyPI (``NamedTuple._fields``); positional unpacking written for it must give the
same values here.
"""

from __future__ import annotations

import calab
import numpy as np
import pytest

UPSTREAM_030 = {
    "DeconvolutionResult": ("activity", "baseline", "reconvolution", "iterations", "converged"),
    "SolveTraceResult": ("s_counts", "alpha", "baseline", "threshold", "pve", "iterations",
                         "converged"),
    "BiexpFitResult": ("tau_rise", "tau_decay", "beta", "residual", "tau_rise_fast",
                       "tau_decay_fast", "beta_fast", "fit_mode"),
    "CaDeconResult": ("activity", "alphas", "baselines", "pves", "kernel_slow", "kernel_fast",
                      "fs", "metadata"),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_030))
def test_upstream_fields_come_first_in_upstream_order(name: str) -> None:
    fields = getattr(calab, name)._fields
    assert fields[: len(UPSTREAM_030[name])] == UPSTREAM_030[name]


def test_solve_trace_unpacks_as_upstream() -> None:
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=1, num_timepoints=1500, seed=2))
    res = calab.solve_trace(sim.traces[0], 0.05, 0.4, 30.0)
    s_counts, alpha, baseline, threshold, pve, iterations, converged = res
    assert threshold == res.threshold and pve == res.pve
    assert 0.0 < threshold <= 2.5  # the rounding threshold (at most the core's MAX_THRESHOLD)
    assert 0.3 < pve <= 1.0  # and a proportion of variance


def test_fit_mode_labels_the_fit() -> None:
    t = np.arange(150) / 30.0
    slow = np.exp(-t / 0.8) - np.exp(-t / 0.05)
    fit = calab.fit_biexponential(slow, 30.0)
    assert fit.fit_mode == "SlowOnly" and fit.beta_fast == 0.0
    tau_rise, tau_decay, beta, residual, *_fast, fit_mode = fit[:8]
    assert (tau_rise, tau_decay, fit_mode) == (fit.tau_rise, fit.tau_decay, "SlowOnly")
    two = slow + 0.8 * (np.exp(-t / 0.1) - np.exp(-t / 0.01))
    fit2 = calab.fit_biexponential(two, 30.0, refine=True)
    assert (fit2.fit_mode == "TwoComponent") == (fit2.beta_fast > 0 and fit2.tau_decay_fast > 0)
    assert calab.fit_biexponential(-slow, 30.0).fit_mode == "Degenerate"
    # A fit record (with its fit_mode) warm-starts the next fit, as upstream's does.
    assert calab.fit_biexponential(slow, 30.0, warm=fit).fit_mode == "SlowOnly"
    # Upstream builds the record positionally from its eight values; that still works.
    assert calab.BiexpFitResult(*fit[:8]).r2 != calab.BiexpFitResult(*fit[:8]).r2  # NaN


def test_noise_constrained_picks_the_noise_floor_rule() -> None:
    """The flag reaches the core's threshold rule: on noisy fast-indicator traces it changes
    the chosen threshold (and spike count) on some traces, and never the inputs' validation."""
    changed = 0
    for seed in range(1, 4):
        y = calab.simulate(calab.presets.jgcamp8f(num_cells=1, num_timepoints=3000,
                                                  seed=seed)).traces[0]
        default = calab.solve_trace(y, 0.01, 0.2, 30.0)
        noise = calab.solve_trace(y, 0.01, 0.2, 30.0, noise_constrained=True)
        assert noise.converged and np.isfinite(noise.alpha)
        changed += int(default.threshold != noise.threshold
                       and default.s_counts.sum() != noise.s_counts.sum())
        explicit = calab.solve_trace(y, 0.01, 0.2, 30.0, noise_constrained=False)
        assert np.array_equal(explicit.s_counts, default.s_counts)
    assert changed >= 1
    with pytest.raises(calab.InvalidParameterError):
        calab.solve_trace(np.zeros(100), 0.5, 0.1, 30.0, noise_constrained=True)
