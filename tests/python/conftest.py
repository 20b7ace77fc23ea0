"""Shared fixtures for the calab test suite. Reference computations live in _reference.py."""

from __future__ import annotations

import os

# The dense reference solves are tiny; multi-threaded BLAS only adds contention (seconds per
# solve on a loaded 2-core machine). Must happen before numpy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import calab  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def sim_gcamp6f() -> calab.SimulationResult:
    """20 cells x 100 s of GCaMP6f at 30 Hz (seed fixed)."""
    return calab.simulate(calab.presets.gcamp6f(num_cells=20, num_timepoints=3000, seed=1))


@pytest.fixture(scope="session")
def sim_gcamp6s() -> calab.SimulationResult:
    """20 cells x 100 s of GCaMP6s at 30 Hz (seed fixed)."""
    return calab.simulate(calab.presets.gcamp6s(num_cells=20, num_timepoints=3000, seed=1))


@pytest.fixture(scope="session")
def small_batch() -> np.ndarray:
    """6 short GCaMP6f traces for determinism and dtype checks."""
    return calab.simulate(calab.presets.gcamp6f(num_cells=6, num_timepoints=1500, seed=5)).traces
