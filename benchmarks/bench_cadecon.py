"""CaDecon / InDeCa benchmark: learned kernel and activity against ground truth and OASIS.

For each indicator preset (GCaMP6f, GCaMP6s, jGCaMP8f; default 100 cells x 9,000 frames at
30 Hz, simulated by `calab.simulate`) it runs `calab.run_indeca` natively (kernel unknown) and,
in the same run, two OASIS peers (`benchmarks/peers/setup_peers.sh` makes their venv):
  OASIS true   deconvolve(y, tau_d, tau_r, fs): AR(2) given the TRUE (nominal) kernel
  OASIS est    deconvolve(y, tau_r=None): AR(2) with the coefficients estimated per trace
Figures (printed, never asserted; wall times depend on the machine and its load):
  tau_rise / tau_decay learned by InDeCa and their relative error to the preset's values;
  r25: mean over cells of the Pearson correlation between inferred activity and the true
       spikes, both resampled to 25 Hz bins (counts per 40 ms, from the cumulative counts),
       at the best common lag in {-1, 0, +1} frames (OASIS puts a spike one frame later);
  wall: seconds for the whole recording (InDeCa: kernel loop + final pass over all cells).
With --headless the same recording and seed also go through CaDecon in headless Chromium
(`calab.decon`, one browser for all runs, as a batch user keeps one); Chromium's start and a
2-cell run (what every run pays besides its solves) are printed first.

    python benchmarks/bench_cadecon.py                 # full sizes
    python benchmarks/bench_cadecon.py --quick         # 20 cells x 3,000 frames
    python benchmarks/bench_cadecon.py --presets gcamp6f --cells 50
    python benchmarks/bench_cadecon.py --presets gcamp6f --cells 30 --frames 14400 --fs 60
    python benchmarks/bench_cadecon.py --scaling       # cost against T and against cells
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PEERS = Path(__file__).resolve().parent / "peers"
sys.path.insert(0, str(PEERS))
from _common import write_input  # noqa: E402

FS = 30.0  # default frame rate (--fs)
BIN_HZ = 25.0


def resample_counts(x: np.ndarray, fs: float, bin_hz: float) -> np.ndarray:
    """Counts per 1/bin_hz window from per-frame counts, by linear interpolation of the
    cumulative count at the window edges (frames and windows need not align)."""
    n = x.shape[1]
    cum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    t_frames = np.arange(n + 1) / fs
    edges = np.arange(0.0, n / fs + 1e-12, 1.0 / bin_hz)
    at = np.stack([np.interp(edges, t_frames, row) for row in cum])
    return np.diff(at, axis=1)


def _rowcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / den, np.nan)


def r25(activity: np.ndarray, spikes: np.ndarray, fs: float) -> tuple[float, int]:
    """Mean 25 Hz correlation at the best lag in frames (activity[t + lag] vs spikes[t])."""
    best = (-np.inf, 0)
    for lag in (-1, 0, 1):
        a = activity[:, max(lag, 0): activity.shape[1] + min(lag, 0)]
        s = spikes[:, max(-lag, 0): spikes.shape[1] + min(-lag, 0)]
        r = float(np.nanmean(_rowcorr(resample_counts(a, fs, BIN_HZ),
                                      resample_counts(s, fs, BIN_HZ))))
        best = max(best, (r, lag))
    return best


def run_oasis(python: str, traces: np.ndarray, fs: float, tr: float, td: float, mode: str,
              work: str, timeout: float) -> dict[str, Any]:
    in_path = os.path.join(work, f"in_{mode}.npz")
    out_path = os.path.join(work, f"out_{mode}.npz")
    write_input(in_path, traces, fs, tr, td, 0.0, mode=mode)
    proc = subprocess.run([python, str(PEERS / "oasis_runner.py"), in_path, out_path],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"oasis_runner {mode} failed:\n{proc.stderr[-2000:]}")
    with np.load(out_path) as z:
        return {k: z[k] for k in z.files}


def print_learned(preset: str, method: str, meta: dict[str, Any], truth: tuple[float, float],
                  r: float, lag: int, wall: float) -> None:
    """One table row for a run that learned the kernel (taus and their error against the truth)."""
    (tr, td), rise, decay = truth, meta["tau_rise"], meta["tau_decay"]
    print(f"{preset:<9}{method:<13}{rise:9.4f}{100 * (rise / tr - 1):+6.0f}%"
          f"{decay:9.4f}{100 * (decay / td - 1):+6.0f}%{meta['iterations']:6d}"
          f"{r:7.3f}{lag:+4d}{wall:8.1f}", flush=True)


def scaling(calab: Any, cfg: Any, fs: float, quick: bool) -> None:
    """How the cost grows with the work (GCaMP6f, native): one `solve_trace` against its length
    (10^3 to 10^6 frames, at the loop's spike grid), then `run_indeca` against the recording's
    length and against its number of cells."""
    k = calab.compute_upsample_factor(fs, cfg.upsample_target) if cfg.upsample_target else 1
    tr, td = 0.02, 0.4
    print(f"## solve_trace against T (one GCaMP6f trace at {fs:g} Hz, k = {k}, "
          f"lambda {cfg.lambda_:g})")
    print(f"{'frames':>10}{'ms':>10}{'us/frame':>10}{'IPM steps':>10}")
    for t in (1_000, 10_000, 100_000) if quick else (1_000, 10_000, 100_000, 1_000_000):
        sim = calab.simulate(calab.presets.gcamp6f(num_cells=1, num_timepoints=t, fs=fs, seed=2))
        repeats = max(1, min(20, 200_000 // t))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = calab.solve_trace(sim.traces[0], tr, td, fs, upsample_factor=k,
                                  lambda_=cfg.lambda_)
            times.append(time.perf_counter() - t0)
        ms = 1000 * float(np.median(times))
        print(f"{t:>10,}{ms:>10.2f}{1000 * ms / t:>10.2f}{r.iterations:>10}", flush=True)
    print("\n## run_indeca against the recording (GCaMP6f, kernel unknown, all threads)")
    print(f"{'cells':>6}{'frames':>9}{'wall s':>9}{'us/cell-frame':>15}{'iters':>7}")
    shapes = [(30, 3_000), (30, 9_000), (30, 27_000), (10, 9_000), (100, 9_000)]
    if not quick:
        shapes[3:3] = [(30, 90_000)]
        shapes.append((300, 9_000))
    for n, t in shapes:
        sim = calab.simulate(calab.presets.gcamp6f(num_cells=n, num_timepoints=t, fs=fs, seed=0))
        t0 = time.perf_counter()
        res = calab.run_indeca(sim.traces, fs, cfg)
        wall = time.perf_counter() - t0
        print(f"{n:>6}{t:>9,}{wall:>9.2f}{1e6 * wall / (n * t):>15.2f}"
              f"{res.metadata['iterations']:>7}", flush=True)


def main(argv: list[str] | None = None) -> None:
    import calab

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20 cells x 3,000 frames")
    p.add_argument("--presets", default="gcamp6f,gcamp6s,jgcamp8f")
    p.add_argument("--cells", type=int, default=None)
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--fs", type=float, default=FS, help=f"frame rate in Hz (default {FS:g})")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--indeca-seed", type=int, default=0)
    p.add_argument("--peers-dir", default=os.environ.get("CALAB_PEERS_DIR", "/tmp/peers"))
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--config", default="{}", help="InDeCa config overrides as JSON")
    p.add_argument("--headless", action="store_true",
                   help="also run CaDecon in headless Chromium (calab.decon) on the same data")
    p.add_argument("--scaling", action="store_true",
                   help="instead: the cost against T and against cells (with --quick: smaller)")
    args = p.parse_args(argv)
    cells = args.cells or (20 if args.quick else 100)
    frames = args.frames or (3000 if args.quick else 9000)
    import json

    overrides = json.loads(args.config)
    cfg = calab.DeconConfig(seed=args.indeca_seed, **overrides)
    if args.scaling:
        scaling(calab, cfg, args.fs, args.quick)
        return
    oasis_py = os.path.join(args.peers_dir, "oasis", "bin", "python")
    peers = not args.no_peers and os.path.exists(oasis_py)
    if not args.no_peers and not peers:
        print(f"(no OASIS venv at {oasis_py}; run benchmarks/peers/setup_peers.sh)")

    fs = args.fs
    browser = None
    if args.headless:
        # One Chromium for every run, as a batch user keeps one (calab.HeadlessBrowser); its
        # start and what each run pays besides its solves (loading the app and the wasm, sending
        # the traces and the results: a 2-cell run) are printed apart from the runs.
        t0 = time.perf_counter()
        browser = calab.HeadlessBrowser()
        browser.start()
        started = time.perf_counter() - t0
        tiny = calab.simulate(calab.presets.gcamp6f(num_cells=2, num_timepoints=600, fs=fs, seed=0))
        t0 = time.perf_counter()
        calab.decon(tiny.traces, fs, headless=browser, autorun=True, progress=False,
                    max_iterations=1, timeout=args.timeout)
        print(f"CaDecon web: Chromium started in {started:.1f} s (once, not in the wall times); "
              f"a 2-cell run takes {time.perf_counter() - t0:.1f} s (page, wasm and transfers, "
              f"in every 'CaDecon web' wall time)")
    print(f"{cells} cells x {frames} frames at {fs:g} Hz; r25 = mean Pearson r with true "
          f"spikes in {1000 / BIN_HZ:g} ms bins at the best lag; InDeCa config: {cfg.to_json()}")
    print(f"{'preset':<9}{'method':<13}{'tau_rise':>9}{'err':>7}{'tau_dec':>9}{'err':>7}"
          f"{'iters':>6}{'r25':>7}{'lag':>4}{'wall s':>8}")
    try:
        with tempfile.TemporaryDirectory(prefix="calab_bench_cadecon_") as work:
            for preset in args.presets.split(","):
                sim = calab.simulate(getattr(calab.presets, preset)(
                    num_cells=cells, num_timepoints=frames, fs=fs, seed=args.seed))
                tr, td = sim.config.kernel.tau_rise, sim.config.kernel.tau_decay
                spikes = sim.spikes
                t0 = time.perf_counter()
                res = calab.run_indeca(sim.traces, fs, cfg)
                wall = time.perf_counter() - t0
                m = res.metadata
                r, lag = r25(res.activity.astype(np.float64), spikes, fs)
                print_learned(preset, "InDeCa", m, (tr, td), r, lag, wall)
                if args.headless:
                    t0 = time.perf_counter()
                    hres = calab.decon(sim.traces, fs, headless=browser, autorun=True,
                                       progress=False, timeout=args.timeout, **cfg.model_dump(
                                           include={"seed", "max_iterations", "convergence_tol",
                                                    "num_subsets", "target_coverage",
                                                    "aspect_ratio", "upsample_target"}))
                    wall = time.perf_counter() - t0
                    if hres is None:
                        print(f"{preset:<9}{'CaDecon web':<13}no result")
                    else:
                        hm = hres.metadata
                        r, lag = r25(hres.activity.astype(np.float64), spikes, fs)
                        print_learned(preset, "CaDecon web", hm, (tr, td), r, lag, wall)
                if not peers:
                    continue
                for mode, label in (("ar2", "OASIS true"), ("ar2_est", "OASIS est")):
                    try:
                        o = run_oasis(oasis_py, sim.traces, fs, tr, td, mode, work, args.timeout)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                        print(f"{preset:<9}{label:<13}failed: {str(e).splitlines()[0]}")
                        continue
                    r, lag = r25(o["activity"], spikes, fs)
                    taus = f"{tr:9.4f}{'given':>7}{td:9.4f}{'given':>7}" if mode == "ar2" else \
                        f"{'-':>9}{'':>7}{'-':>9}{'':>7}"
                    print(f"{preset:<9}{label:<13}{taus}{'-':>6}{r:7.3f}{lag:+4d}"
                          f"{float(o['wall']):8.1f}", flush=True)
    finally:
        if browser is not None:
            browser.close()

if __name__ == "__main__":
    main()
