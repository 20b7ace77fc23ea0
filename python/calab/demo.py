"""The built-in demo: simulate a recording, deconvolve it natively, save the results and a figure.

``calab demo`` first lets a person tune the parameters in CaTune (through the bridge), then runs
this batch path with them; ``calab demo --headless`` runs it at once with the true kinetics.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._compute import run_deconvolution_full
from ._deprecation import renamed_parameters
from ._schema_files import solver_defaults
from .simulation import SimulationResult, presets, simulate

#: The demo's L1 sparsity weight (``schemas/solver-defaults.json`` ``demo_lambda``).
DEMO_LAMBDA: float = float(solver_defaults()["demo_lambda"])


def binned_correlation(a: NDArray[np.float64], b: NDArray[np.float64], width: int) -> float:
    """Pearson r of two series after summing them over non-overlapping windows of ``width``."""
    n = (min(len(a), len(b)) // width) * width
    if n == 0:
        return float("nan")
    ab = a[:n].reshape(-1, width).sum(axis=1)
    bb = b[:n].reshape(-1, width).sum(axis=1)
    if ab.std() == 0 or bb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ab, bb)[0, 1])


def simulate_demo(preset: str = "gcamp6f", num_cells: int = 30, duration_s: float = 300.0,
                  fs: float = 30.0, seed: int = 0) -> SimulationResult:
    """The demo recording: ``num_cells`` cells of an indicator preset, with ground truth."""
    factory = getattr(presets, preset)
    config = factory(num_cells=num_cells, num_timepoints=int(duration_s * fs), fs=fs, seed=seed)
    return simulate(config)


@renamed_parameters("lam")
def run_demo(
    out_dir: str | Path = "out/demo",
    preset: str = "gcamp6f",
    num_cells: int = 30,
    duration_s: float = 300.0,
    fs: float = 30.0,
    lambda_: float = DEMO_LAMBDA,
    seed: int = 0,
    n_plot: int = 4,
    figure: bool = True,
    *,
    sim: SimulationResult | None = None,
    tau_rise: float | None = None,
    tau_decay: float | None = None,
    filter_enabled: bool = False,
    remove_drift: bool = False,
) -> dict[str, Any]:
    """Deconvolve the demo recording and write results; return a summary dict.

    Kinetics default to the preset's true ones; pass ``tau_rise``/``tau_decay``/``lambda_`` (e.g. as
    tuned in CaTune) to use others, and ``sim`` to reuse a recording already simulated.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if sim is None:
        sim = simulate_demo(preset, num_cells, duration_s, fs, seed)
    num_cells, fs = sim.traces.shape[0], sim.config.fs
    k = sim.config.kernel
    tr = k.tau_rise if tau_rise is None else tau_rise
    td = k.tau_decay if tau_decay is None else tau_decay
    t0 = time.perf_counter()
    res = run_deconvolution_full(sim.traces, fs, tr, td, lambda_, filter_enabled=filter_enabled,
                                 remove_drift=remove_drift)
    seconds = time.perf_counter() - t0
    spikes = sim.spikes
    width = max(1, round(0.2 * fs))
    corr = [binned_correlation(res.activity[i], spikes[i], width) for i in range(num_cells)]

    paths = {
        "traces": out / "traces.npy",
        "activity": out / "activity.npy",
        "results": out / "results.npz",
        "summary": out / "summary.json",
    }
    np.save(paths["traces"], sim.traces)
    np.save(paths["activity"], res.activity)
    np.savez_compressed(
        paths["results"], activity=res.activity, baseline=res.baseline,
        reconvolution=res.reconvolution, iterations=res.iterations, converged=res.converged,
        true_spikes=spikes, fs=fs,
    )
    summary: dict[str, Any] = {
        "preset": preset,
        "num_cells": num_cells,
        "num_timepoints": int(sim.traces.shape[1]),
        "fs_hz": fs,
        "tau_rise_s": tr,
        "tau_decay_s": td,
        "true_tau_rise_s": k.tau_rise,
        "true_tau_decay_s": k.tau_decay,
        "lambda": lambda_,
        "filter_enabled": filter_enabled,
        "remove_drift": remove_drift,
        "solve_seconds": round(seconds, 4),
        "converged": int(np.sum(res.converged)),
        "mean_iterations": float(np.mean(res.iterations)),
        "mean_correlation_0.2s": float(np.nanmean(corr)),
        "files": {name: str(p) for name, p in paths.items()},
    }
    if figure:
        fig_path = out / "figure.png"
        if _plot(fig_path, sim.traces, res.reconvolution, res.activity, spikes, fs, n_plot, corr):
            summary["files"]["figure"] = str(fig_path)
    paths["summary"].write_text(json.dumps(summary, indent=2))
    return summary


def _plot(path: Path, traces: NDArray[np.float64], fit: NDArray[np.float64],
          activity: NDArray[np.float64], spikes: NDArray[np.float64], fs: float, n_plot: int,
          corr: list[float]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the figure (pip install 'calab[plot]')")
        return False
    n = min(n_plot, traces.shape[0])
    window = slice(0, min(traces.shape[1], int(60 * fs)))
    t = np.arange(traces.shape[1])[window] / fs
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.3 * n), sharex=True, squeeze=False)
    # Okabe-Ito colours: distinguishable with colour-blindness.
    raw_c, fit_c, act_c, true_c = "#999999", "#0072B2", "#D55E00", "#009E73"
    for i, ax in enumerate(axes[:, 0]):
        y = traces[i, window]
        ax.plot(t, y, color=raw_c, lw=0.8, label="raw")
        ax.plot(t, fit[i, window], color=fit_c, lw=1.0, label="fit (K s + b)")
        lo, hi = float(y.min()), float(y.max())
        span = hi - lo or 1.0
        act = activity[i, window]
        scale = act.max() or 1.0
        ax.plot(t, lo - 0.65 * span + 0.5 * span * act / scale, color=act_c, lw=0.9,
                label="activity (scaled)")
        st = np.flatnonzero(spikes[i, window])
        ax.vlines(t[st], lo - 0.8 * span, lo - 0.7 * span, color=true_c, lw=1.0,
                  label="true spikes")
        ax.set_ylabel(f"cell {i}\nr={corr[i]:.2f}")
        ax.set_yticks([])
    axes[0, 0].legend(loc="upper right", ncol=4, fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle("CaLab demo: simulated recording, native deconvolution vs ground truth")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
