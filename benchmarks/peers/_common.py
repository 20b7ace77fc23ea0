"""Shared I/O and measurement helpers for the benchmark runners.

Imported both by `bench_solver.py` (main interpreter) and by the peer runners, which
each run under their own venv's python, so this file needs nothing beyond numpy and
the standard library and must stay valid for every Python the venvs use.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

NA_ITERS = -1  # iterations/converged are meaningless for non-iterative peers


def write_input(
    path: str,
    traces: np.ndarray,
    fs: float,
    tau_rise: float,
    tau_decay: float,
    lam: float,
    **options: Any,
) -> None:
    """Input file of a runner: the data plus method options as one JSON string."""
    np.savez(
        path,
        traces=np.ascontiguousarray(traces, dtype=np.float64),
        fs=fs,
        tau_rise=tau_rise,
        tau_decay=tau_decay,
        lam=lam,
        options=np.array(json.dumps(options)),
    )


def read_input(path: str) -> dict[str, Any]:
    with np.load(path) as z:
        d: dict[str, Any] = {k: z[k] for k in ("traces", "fs", "tau_rise", "tau_decay", "lam")}
        d.update({k: float(d[k]) for k in ("fs", "tau_rise", "tau_decay", "lam")})
        d["options"] = json.loads(str(z["options"]))
    return d


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextmanager
def measure() -> Iterator[dict[str, float]]:
    """Wall time and peak RSS growth of the enclosed block.

    The growth is measured by resetting the kernel's RSS high-water mark (writing "5"
    to /proc/self/clear_refs, Linux >= 4.0) so that the input data already held by the
    process, and the interpreter itself, are not charged to the solver. Falls back to
    ru_maxrss minus the RSS at entry when the reset is not permitted.
    """
    out: dict[str, float] = {}
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rss0 = _status_kb("VmRSS")
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - t0
        peak = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["solve_rss_kb"] = float(max(0, peak - rss0))
        out["peak_rss_kb"] = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def write_output(
    path: str,
    activity: np.ndarray,
    iterations: np.ndarray,
    converged: np.ndarray,
    seconds: np.ndarray,
    m: dict[str, float],
    **extra: Any,
) -> None:
    np.savez(
        path,
        activity=np.asarray(activity, dtype=np.float64),
        iterations=np.asarray(iterations, dtype=np.int64),
        converged=np.asarray(converged, dtype=bool),
        seconds=np.asarray(seconds, dtype=np.float64),
        wall=m["wall"],
        peak_rss_kb=m["peak_rss_kb"],
        solve_rss_kb=m["solve_rss_kb"],
        **extra,
    )
