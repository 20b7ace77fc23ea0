"""Solver benchmark: our `calab` against calab 0.3.0 (PyPI) and OASIS on the same data.

Ours runs in this process; each peer runs under its own venv's python
(`benchmarks/peers/setup_peers.sh` creates them) via a runner script that reads the
same input .npz. Figures are printed, never asserted: wall-clock numbers depend on
the machine and on whatever else it is running.

    python benchmarks/bench_solver.py --quick            # small sizes, ~minutes
    python benchmarks/bench_solver.py                    # full sizes
    python benchmarks/bench_solver.py --peers-only --sim standin --quick

Data: `calab.simulate` with the gcamp6f/gcamp6s presets (`--sim calab`), or a small
numpy stand-in simulator (`--sim standin`) that shares no code with any solver.
Lambda: one value per dataset, the same for ours and calab 0.3.0, which minimise the
same objective 1/2||y - K a||^2 + lam * sum(h) * |a|_1 (see `choose_lambda`).
OASIS is called the usual way: noise-constrained, with the true time constants.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

PEERS = Path(__file__).resolve().parent / "peers"
sys.path.insert(0, str(PEERS))
from _common import NA_ITERS, measure, write_input  # noqa: E402

FS = 30.0
# Preset time constants (s), as in calab 0.3.0's presets; also used by the stand-in.
TAUS = {"gcamp6f": (0.1, 0.6), "gcamp6s": (0.4, 1.8)}
# name, preset, cells, frames -- full and --quick sizes.
FULL = [
    ("gcamp6f", "gcamp6f", 100, 9_000),
    ("gcamp6s", "gcamp6s", 100, 9_000),
    ("long", "gcamp6f", 20, 108_000),
    ("one-1M", "gcamp6f", 1, 1_000_000),
]
QUICK = [
    ("gcamp6f", "gcamp6f", 10, 3_000),
    ("gcamp6s", "gcamp6s", 10, 3_000),
    ("long", "gcamp6f", 2, 30_000),
    ("one-200k", "gcamp6f", 1, 200_000),
]
BIN_S = 0.2  # correlation window for the binned score
LAM_Z = 2.0  # lambda = LAM_Z noise standard deviations of the matched filter output
# Our solver may grow an extra keyword `method`; set it with --method (None = omit it).
OURS_METHOD: str | None = None


class Dataset(NamedTuple):
    name: str
    traces: np.ndarray  # cells x T, float64
    spikes: np.ndarray  # cells x T, spike counts per frame
    fs: float
    tau_rise: float
    tau_decay: float


def kernel(tau_rise: float, tau_decay: float, fs: float) -> np.ndarray:
    """Peak-normalised double exponential with h[0] = 0, the convention of both calabs."""
    n = np.arange(int(np.ceil(np.log(1e6) * tau_decay * fs)))
    h = np.exp(-n / (tau_decay * fs)) - np.exp(-n / (tau_rise * fs))
    return h / h.max()


def simulate_standin(
    preset: str,
    cells: int,
    frames: int,
    fs: float,
    seed: int,
    rate_hz: float = 1.0,
    noise: float = 0.3,
) -> Dataset:
    """Poisson spikes, unit-peak kernel, constant offset, Gaussian noise (std relative
    to one spike's peak). A neutral check that depends on no solver's own simulator."""
    tr, td = TAUS[preset]
    rng = np.random.default_rng(seed)
    spikes = rng.poisson(rate_hz / fs, size=(cells, frames)).astype(np.float64)
    h = kernel(tr, td, fs)
    calcium = np.stack([np.convolve(s, h)[:frames] for s in spikes])
    traces = 1.0 + calcium + noise * rng.standard_normal((cells, frames))
    return Dataset(preset, traces, spikes, fs, tr, td)


def simulate_calab(preset: str, cells: int, frames: int, fs: float, seed: int) -> Dataset:
    import calab

    cfg = getattr(calab.presets, preset)(num_cells=cells, num_timepoints=frames, fs=fs, seed=seed)
    r = calab.simulate(cfg)
    spikes = np.stack([np.asarray(g.spikes, dtype=np.float64) for g in r.ground_truth])
    tr, td = r.config.kernel.tau_rise, r.config.kernel.tau_decay  # the preset's nominal kinetics
    return Dataset(preset, np.asarray(r.traces, dtype=np.float64), spikes, fs, tr, td)


def choose_lambda(d: Dataset, z: float = LAM_Z) -> float:
    """One lambda per dataset from its median noise level.

    On noise alone the solver's correlation K^T y has std sigma*||h||_2, and a frame can
    become active only once that exceeds the threshold lam*sum(h); so lam is a z-sigma
    detection level. sigma per cell is the MAD of first differences (robust to spikes
    and slow drift), the median over cells makes one value for the whole dataset.
    """
    sample = d.traces[:, : min(d.traces.shape[1], 200_000)]
    sigma = np.median(np.abs(np.diff(sample, axis=1)), axis=1) / (0.6745 * np.sqrt(2.0))
    h = kernel(d.tau_rise, d.tau_decay, d.fs)
    return float(z * np.median(sigma) * np.linalg.norm(h) / h.sum())


def _rowcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / den, np.nan)


def score(activity: np.ndarray, spikes: np.ndarray, fs: float) -> tuple[float, int, float]:
    """Mean Pearson r with ground truth: per frame at the best common lag in {-1,0,1}
    (methods differ in whether a spike shows in its own frame or the next), and on
    sums over non-overlapping BIN_S windows, where a one-frame offset hardly matters."""
    best = (-np.inf, 0)
    for lag in (-1, 0, 1):  # activity[t + lag] is compared with spikes[t]
        a = activity[:, max(lag, 0) : activity.shape[1] + min(lag, 0)]
        s = spikes[:, max(-lag, 0) : spikes.shape[1] + min(-lag, 0)]
        r = float(np.nanmean(_rowcorr(a, s)))
        best = max(best, (r, lag))
    w = max(1, round(BIN_S * fs))
    t = activity.shape[1] // w * w

    def binned(x: np.ndarray) -> np.ndarray:
        return x[:, :t].reshape(x.shape[0], -1, w).sum(axis=2)

    return best[0], best[1], float(np.nanmean(_rowcorr(binned(activity), binned(spikes))))


# Our variants, by label: keyword arguments for run_deconvolution_full. "exact" is the exact
# solver with a constant baseline; "drift" (the package default) subtracts the rolling
# low-quantile baseline first (calab 0.3.0 always subtracts one); "fista" is the iterative path
# the exact solver replaces by default (constant baseline too).
OURS_VARIANTS: dict[str, dict[str, Any]] = {
    "exact": {"remove_drift": False},
    "drift": {"remove_drift": True},
    "fista": {"method": "fista", "remove_drift": False},
}


def run_ours(d: Dataset, lam: float, max_iters: int, variant: str = "exact") -> dict[str, Any]:
    import calab

    extra = dict(OURS_VARIANTS[variant])
    if OURS_METHOD is not None:
        extra["method"] = OURS_METHOD  # <- our `method` keyword, forced from the command line
    gc.collect()
    with measure() as m:
        r = calab.run_deconvolution_full(
            d.traces,
            d.fs,
            d.tau_rise,
            d.tau_decay,
            lam,
            max_iters=max_iters,
            conv_mode="fft",
            constraint="nonneg",
            **extra,
        )
    # In-process, the whole-process peak also holds the harness's data: not comparable.
    return dict(
        activity=np.asarray(r.activity),
        iterations=np.atleast_1d(r.iterations),
        converged=np.atleast_1d(r.converged),
        wall=m["wall"],
        solve_rss_kb=m["solve_rss_kb"],
        peak_rss_kb=np.nan,
    )


def run_peer(
    python: str, runner: str, in_path: str, workdir: str, timeout: float
) -> dict[str, Any]:
    out_path = os.path.join(workdir, f"out_{Path(runner).stem}.npz")
    proc = subprocess.run(
        [python, str(PEERS / runner), in_path, out_path],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{runner} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    with np.load(out_path) as z:
        return {k: z[k] for k in z.files}


def fmt_row(name: str, d: Dataset, r: dict[str, Any], ours: dict[str, Any] | None) -> str:
    n = d.traces.shape[0]
    r_frame, lag, r_bin = score(r["activity"], d.spikes, d.fs)
    iters = np.asarray(r["iterations"])
    has_iters = iters.size and iters[0] != NA_ITERS
    it = f"{iters.mean():7.0f}" if has_iters else f"{'-':>7}"
    conv = f"{100 * np.mean(r['converged']):6.0f}%" if has_iters else f"{'-':>7}"
    peak = float(r["peak_rss_kb"])
    peak_s = f"{peak / 1024:8.0f}" if np.isfinite(peak) else f"{'-':>8}"
    ratio = ""
    if ours is not None and ours is not r:
        # Floor at 1 MB: below that RSS growth is page-level noise, not a ratio worth printing.
        mem = max(ours["solve_rss_kb"], 1024.0) / max(float(r["solve_rss_kb"]), 1024.0)
        ratio = f"{ours['wall'] / float(r['wall']):8.2f}{mem:8.2f}"
    return (
        f"{name:<16}{1e3 * float(r['wall']) / n:10.1f}{float(r['wall']):9.2f}"
        f"{float(r['solve_rss_kb']) / 1024:8.1f}{peak_s}{it}{conv}"
        f"{r_frame:8.3f}{lag:+4d}{r_bin:8.3f}{ratio}"
    )


HEADER = (
    f"{'method':<16}{'ms/trace':>10}{'wall s':>9}{'dRSS MB':>8}{'peak MB':>8}"
    f"{'iters':>7}{'conv':>7}{'r_frame':>8}{'lag':>4}{'r_bin':>8}{'t o/p':>8}{'m o/p':>8}"
)


def main(argv: list[str] | None = None) -> None:
    global OURS_METHOD
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--peers-only", action="store_true", help="skip our solver")
    p.add_argument(
        "--sim",
        choices=["auto", "calab", "standin"],
        default="auto",
        help="data source; auto = calab.simulate if `calab` imports, else stand-in",
    )
    p.add_argument("--datasets", help="comma-separated subset of dataset names")
    p.add_argument("--peers", default="calab030,oasis", help="comma-separated; '' for none")
    p.add_argument("--oasis-modes", default="ar2", help="ar2,ar1,ar2_est,ar2_lam (see runner)")
    p.add_argument("--peers-dir", default=os.environ.get("CALAB_PEERS_DIR", "/tmp/peers"))
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--lam-z", type=float, default=LAM_Z)
    p.add_argument("--method", default=None, help="value for our `method` keyword")
    p.add_argument("--ours", default="exact,drift,fista",
                   help=f"our variants, the first is the reference: {','.join(OURS_VARIANTS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600.0, help="per peer run, seconds")
    args = p.parse_args(argv)
    OURS_METHOD = args.method

    sim: Callable[..., Dataset] = simulate_standin
    if args.sim != "standin":
        try:
            import calab  # noqa: F401

            sim = simulate_calab
        except ImportError:
            if args.sim == "calab":
                raise
    if not args.peers_only:
        try:  # fail early, before any simulation
            import calab  # noqa: F401,F811
        except ImportError:
            p.error("our `calab` is not importable here; install it or pass --peers-only")

    specs = QUICK if args.quick else FULL
    if args.datasets:
        wanted = set(args.datasets.split(","))
        specs = [s for s in specs if s[0] in wanted]
    peers: list[tuple[str, str, dict[str, Any]]] = []
    for peer in filter(None, args.peers.split(",")):
        if peer == "calab030":
            peers.append(("calab 0.3.0", "calab030_runner.py", {"max_iters": args.max_iters}))
        elif peer == "oasis":
            peers += [
                (f"OASIS {m}", "oasis_runner.py", {"mode": m}) for m in args.oasis_modes.split(",")
            ]
        else:
            p.error(f"unknown peer {peer!r}")
    venv = {"calab030_runner.py": "calab030", "oasis_runner.py": "oasis"}

    print(
        f"data: {sim.__name__}; lambda = {args.lam_z:g} sigma_MAD ||h|| / sum(h)\n"
        f"dRSS: peak RSS growth during the solve; peak: whole peer process (ru_maxrss)\n"
        f"r_frame: mean Pearson r with true spikes per frame at the best lag (activity[t+lag]"
        f" vs spikes[t]); r_bin: on sums over {BIN_S:g} s windows\n"
        f"t o/p, m o/p: ours/peer ratios of wall time and dRSS"
    )
    with tempfile.TemporaryDirectory(prefix="calab_bench_") as work:
        for name, preset, cells, frames in specs:
            t0 = time.perf_counter()
            d = sim(preset, cells, frames, FS, args.seed)._replace(name=name)
            lam = choose_lambda(d, args.lam_z)
            print(
                f"\n== {name}: {cells} x {frames} at {FS:g} Hz, {preset} taus "
                f"{d.tau_rise:g}/{d.tau_decay:g} s, lambda={lam:.4g} "
                f"(simulated in {time.perf_counter() - t0:.1f} s)"
            )
            print(HEADER)
            in_base = os.path.join(work, f"{name}.npz")
            ours = None
            if not args.peers_only:
                for variant in args.ours.split(","):
                    r = run_ours(d, lam, args.max_iters, variant)
                    ours = ours or r  # ratios are against the first variant
                    print(fmt_row(f"ours {variant}", d, r, ours), flush=True)
            for label, runner, options in peers:
                in_path = in_base.replace(".npz", f"_{label.split()[0]}.npz")
                write_input(in_path, d.traces, d.fs, d.tau_rise, d.tau_decay, lam, **options)
                python = os.path.join(args.peers_dir, venv[runner], "bin", "python")
                try:
                    r = run_peer(python, runner, in_path, work, args.timeout)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    print(f"{label:<16}failed: {str(e).splitlines()[0]}")
                    continue
                print(fmt_row(label, d, r, ours), flush=True)
                os.remove(in_path)


if __name__ == "__main__":
    main()
