"""Shared fixtures for the calab test suite. Reference computations live in _reference.py."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real dask.distributed LocalCluster (two worker processes, one thread each) and its
    client; closed, with its warnings contained, at the end of the module."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        # distributed may warn about the machine (e.g. little memory, ports) while starting or
        # stopping; those are about the host, not about calab, and would fail under -W error.
        warnings.simplefilter("ignore")
        cl = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                      dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cl)
    try:
        yield client
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            cl.close()
