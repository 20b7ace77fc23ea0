"""Run calab 0.3.0 (the PyPI release) on a benchmark input file.

Usage: <calab030 venv>/bin/python calab030_runner.py IN.npz OUT.npz

Runs in its own venv because the released package shares the import name `calab`
with ours. Options (JSON in IN.npz): max_iters=2000, conv_mode="fft",
constraint="nonneg", per_trace=False. With per_trace=False one batch call is timed,
which is how users call it (one solver reused across cells); per_trace=True times
1-D calls one by one to get a per-trace distribution.
"""

from __future__ import annotations

import sys

import numpy as np
from _common import measure, read_input, write_output


def main(in_path: str, out_path: str) -> None:
    import calab  # imported before timing: import cost is not solver cost

    d = read_input(in_path)
    opt = d["options"]
    kw = dict(
        fs=d["fs"],
        tau_r=d["tau_rise"],
        tau_d=d["tau_decay"],
        lam=d["lam"],
        max_iters=int(opt.get("max_iters", 2000)),
        conv_mode=opt.get("conv_mode", "fft"),
        constraint=opt.get("constraint", "nonneg"),
    )
    traces = d["traces"]
    n = traces.shape[0]
    seconds = np.full(n, np.nan)

    if opt.get("per_trace", False):
        import time

        acts, iters, conv = [], [], []
        with measure() as m:
            for i in range(n):
                t0 = time.perf_counter()
                r = calab.run_deconvolution_full(traces[i], **kw)
                seconds[i] = time.perf_counter() - t0
                acts.append(r.activity)
                iters.append(r.iterations)
                conv.append(r.converged)
        activity, iterations, converged = np.stack(acts), np.array(iters), np.array(conv)
    else:
        with measure() as m:
            r = calab.run_deconvolution_full(traces, **kw)
        activity, iterations, converged = r.activity, r.iterations, r.converged

    write_output(out_path, activity, iterations, converged, seconds, m, version=calab.__version__)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
