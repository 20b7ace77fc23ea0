"""Run OASIS (oasis-deconv on PyPI) on a benchmark input file.

Usage: <oasis venv>/bin/python oasis_runner.py IN.npz OUT.npz

Option `mode` (JSON in IN.npz) selects the call:
  ar2      deconvolve(y, tau_d, tau_r, framerate)  usual OASIS use: AR(2) with the true
           time constants, noise-constrained L1, baseline and noise level estimated
  ar1      deconvolve(y, tau_d, framerate)          same with AR(1), decay only
  ar1_est  deconvolve(y)                            AR(1) with g estimated from the data
  ar2_est  deconvolve(y, tau_r=None)                AR(2) with g estimated from the data
  ar2_lam  oasisAR2 on y - 20th percentile with lam converted to ours (fixed-lambda,
           approximately our objective; OASIS does not estimate the baseline here)
OASIS has no batch call, so traces are solved one by one and each is timed. Its
kernel has no one-frame delay: s[t+1] here corresponds to our activity[t].
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np
from _common import NA_ITERS, measure, read_input, write_output


def main(in_path: str, out_path: str) -> None:
    from oasis.functions import deconvolve, tau_to_ar2
    from oasis.oasis_methods import oasisAR2

    d = read_input(in_path)
    fs, tr, td, lam = d["fs"], d["tau_rise"], d["tau_decay"], d["lam"]
    mode = d["options"].get("mode", "ar2")
    learned: list[tuple[float, float]] = []

    def taus_of(g: Any) -> tuple[float, float]:
        """(tau_rise, tau_decay) in s of OASIS's AR coefficients (rise 0 for AR(1))."""
        coefs = [-float(v) for v in np.atleast_1d(g)]
        roots = np.sort(np.abs(np.real(np.roots([1.0, *coefs]))))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = [-1.0 / (fs * np.log(r)) if 0 < r < 1 else np.nan for r in roots]
        return (t[0] if len(t) > 1 else 0.0), t[-1]

    def solve(y: np.ndarray) -> tuple[np.ndarray, float]:
        if mode in ("ar1_est", "ar2_est"):
            r = deconvolve(y) if mode == "ar1_est" else deconvolve(y, tau_r=None)
            learned.append(taus_of(r.g))
            return r.s, r.lam
        if mode == "ar2":
            r = deconvolve(y, tau_d=td, tau_r=tr, framerate=fs)
        elif mode == "ar1":
            r = deconvolve(y, tau_d=td, framerate=fs)
        elif mode == "ar2_lam":
            # Our penalty is lam * sum(h) * |a|_1 with a peak-normalised kernel; in OASIS units
            # (unit impulse, no delay) that is lam / (1 - g1 - g2) * |s|_1.
            g1, g2 = tau_to_ar2(td, tr, fs)
            lam_oasis = lam / (1.0 - g1 - g2)
            _, s = oasisAR2(y - np.percentile(y, 20), g1, g2, lam=lam_oasis)
            return s, lam_oasis
        else:
            raise SystemExit(
                f"unknown OASIS mode {mode!r}; use ar2, ar1, ar1_est, ar2_est or ar2_lam")
        return r.s, r.lam

    traces = d["traces"]
    n = traces.shape[0]
    activity = np.empty_like(traces)
    seconds = np.empty(n)
    lams = np.empty(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-trace deprecation/experimental chatter
        with measure() as m:
            for i in range(n):
                t0 = time.perf_counter()
                activity[i], lams[i] = solve(traces[i])
                seconds[i] = time.perf_counter() - t0

    write_output(
        out_path,
        activity,
        np.full(n, NA_ITERS),
        np.ones(n, dtype=bool),
        seconds,
        m,
        lam=lams,
        mode=mode,
        **({"tau_rise": np.array([t[0] for t in learned]),
            "tau_decay": np.array([t[1] for t in learned])} if learned else {}),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
