"""Benchmark of the exact L0 solver and of Convar. Prints figures, asserts nothing.

    python benchmarks/bench_l0_convar.py            # full sizes (several minutes on 2 cores)
    python benchmarks/bench_l0_convar.py --quick    # smaller sizes

L0 (Jewell et al.; the paper reports under 1 s for 100,000 frames): time for T = 10^3 to 10^6
frames, positive and unconstrained variants, and against the number of traces.

Convar (Stern et al. 2020; Khavari's thesis reports 10.23 s for 10,000 traces x 400 frames on an
8-core desktop with all speed-ups, 916 s for the original): our time for 10,000 x 400 with a
fixed lambda, with the direct solver (the default) and with FISTA (the iterative path with the
thesis' speed-ups, the default before the direct solver) on a subset, the optimum both reach,
the lambda search per trace (grid and fast, both methods), the cost against T (10^3 to 10^6) and
against the number of traces, and two peers measured here on a smaller batch: the original
algorithm (dense T x T matrices, the paper's fixed step, random start, 10,000 iterations, all
traces at once through BLAS) and a dense bounded least-squares reference (scipy `lsq_linear`,
BVLS) one trace at a time. CPU times are printed next to wall times: on a shared machine they
move less.

`movie_hook` is where a movie-scale (Dask) benchmark can plug in; it is not run here.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` runs (s) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# --- data ----------------------------------------------------------------------------------


def ar1_spikes(n: int, gamma: float, rate: float, noise: float, seed: int) -> np.ndarray:
    """AR(1) calcium from Poisson spikes of random size, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    s = rng.poisson(rate, n) * rng.uniform(0.5, 1.5, n)
    c = np.empty(n)
    acc = 0.0
    for t in range(n):
        acc = gamma * acc + s[t]
        c[t] = acc
    return c + noise * rng.standard_normal(n)


def population(rows: int, n: int, gamma: float, noise: float, seed: int) -> np.ndarray:
    """Smooth population rates (Gaussian bumps on a floor) through AR(1) calcium, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rate = np.full((rows, n), 0.1)
    for _ in range(max(2, n // 60)):
        centre = rng.uniform(0, n, (rows, 1))
        width = rng.uniform(4, 15, (rows, 1))
        rate += rng.uniform(0.5, 2, (rows, 1)) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    c = np.empty_like(rate)
    acc = np.zeros(rows)
    for i in range(n):
        acc = gamma * acc + rate[:, i]
        c[:, i] = acc
    return c + 5.0 + noise * rng.standard_normal((rows, n))


# --- peers ---------------------------------------------------------------------------------


def stern_original(y: np.ndarray, gamma: float, lam: float, iters: int, seed: int) -> np.ndarray:
    """The published algorithm on a (P, T) batch: dense A, the paper's fixed step, random start."""
    p, n = y.shape
    tt = np.arange(n)
    a0 = np.where(
        tt[:, None] >= tt[None, :], gamma ** np.clip(tt[:, None] - tt[None, :], 0, None), 0
    )
    a = a0 - a0.mean(axis=0, keepdims=True)
    yt = (y - y.mean(axis=1, keepdims=True)).T  # (T, P)
    step = 0.5 * (1 - gamma) ** 2 / ((1 - gamma**n) ** 2 + 4 * lam * (1 - gamma) ** 2)
    r = np.random.default_rng(seed).uniform(0, 1, (n, p))
    aty = a.T @ yt
    ata = a.T @ a
    for _ in range(iters):
        zr = np.zeros_like(r)
        d = r[2:] - r[1:-1]
        zr[2:] += d
        zr[1:-1] -= d
        r = r + 2 * step * (aty - ata @ r) - 2 * step * lam * zr
        r[1:] = np.maximum(r[1:], 0)
    return r.T


def dense_bvls(y: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    from scipy.optimize import lsq_linear

    n = len(y)
    tt = np.arange(n)
    a0 = np.where(
        tt[:, None] >= tt[None, :], gamma ** np.clip(tt[:, None] - tt[None, :], 0, None), 0
    )
    a = a0 - a0.mean(axis=0, keepdims=True)
    d = np.zeros((n - 2, n))
    d[np.arange(n - 2), np.arange(2, n)] = 1
    d[np.arange(n - 2), np.arange(1, n - 1)] = -1
    m = np.vstack([a, np.sqrt(lam) * d, 1e-7 * np.eye(n)])  # ridge: the objective has a flat ray
    b = np.r_[y - y.mean(), np.zeros(2 * n - 2)]
    lb = np.r_[-np.inf, np.zeros(n - 1)]
    return lsq_linear(m, b, bounds=(lb, np.full(n, np.inf)), method="bvls", tol=1e-12).x


def objective(y: np.ndarray, r: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Convar objective per row of (P, T) arrays."""
    c = np.empty_like(r)
    acc = np.zeros(r.shape[0])
    for t in range(r.shape[1]):
        acc = gamma * acc + r[:, t]
        c[:, t] = acc
    res = (y - y.mean(1, keepdims=True)) - (c - c.mean(1, keepdims=True))
    return np.sum(res**2, axis=1) + lam * np.sum(np.diff(r[:, 1:], axis=1) ** 2, axis=1)


# --- sections ------------------------------------------------------------------------------


def bench_l0(sizes: list[int], cells: list[int]) -> None:
    from calab.l0 import run_l0

    gamma, noise = 0.95, 0.3
    lam = 2 * noise**2 * 4  # about four noise variances per spike (a typical choice)
    print("\n## L0 (exact, functional pruning), gamma 0.95, spike rate 0.02/frame")
    print(f"{'T':>9} {'positive s':>11} {'free s':>9} {'us/frame (pos)':>15} {'spikes (pos)':>13}")
    for n in sizes:
        y = ar1_spikes(n, gamma, 0.02, noise, seed=n)
        reps = 5 if n <= 100_000 else 2
        t_pos, res = timed(lambda y=y: run_l0(y, gamma, lam, positive=True), repeat=reps)
        t_free, _ = timed(lambda y=y: run_l0(y, gamma, lam, positive=False), repeat=reps)
        print(
            f"{n:>9,} {t_pos:>11.4f} {t_free:>9.4f} {1e6 * t_pos / n:>15.2f} {res.num_spikes:>13,}"
        )
    n = 10_000
    print(f"{'cells x ' + f'{n:,}':>16} {'positive s':>11} {'free s':>9} {'ms/trace (pos)':>15}")
    for count in cells:
        y = np.stack([ar1_spikes(n, gamma, 0.02, noise, seed=i) for i in range(count)])
        t_pos, _ = timed(lambda y=y: run_l0(y, gamma, lam, positive=True), repeat=2)
        t_free, _ = timed(lambda y=y: run_l0(y, gamma, lam, positive=False), repeat=2)
        print(f"{count:>16,} {t_pos:>11.4f} {t_free:>9.4f} {1e3 * t_pos / count:>15.3f}")


def cpu_time() -> float:
    """CPU seconds used by this process so far (all threads): steadier than wall time on a
    shared machine."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_cpu(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """Best wall time, the CPU time of that run (s) and the last result."""
    best, best_cpu, out = float("inf"), 0.0, None
    for _ in range(repeat):
        c0, t0 = cpu_time(), time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, best_cpu = wall, cpu_time() - c0
    return best, best_cpu, out


def bench_convar(rows: int, n: int, peer_rows: int, search_rows: int, fista_rows: int,
                 lengths: list[int]) -> None:
    from calab.convar import convar_lambda_search, run_convar

    gamma, noise = 0.92, 0.4  # the thesis' 15 Hz recording: 0.97 per frame at 40 Hz
    y = population(rows, n, gamma, noise, seed=1)
    # One lambda for the batch, chosen on a few traces (as Stern et al. suggest).
    lams = [convar_lambda_search(y[i], gamma, search="fast").lambda_ for i in range(8)]
    lam = float(np.median(lams))
    print(
        f"\n## Convar, {rows:,} traces x {n} frames, gamma {gamma}, lambda {lam:.3g} "
        f"(median of 8 fast searches), {os.cpu_count()} cores"
    )
    t_dir, c_dir, res = timed_cpu(lambda: run_convar(y, gamma, lam), repeat=3)
    print(
        f"direct (default; one banded solve per trace):   {t_dir:.3f} s wall, {c_dir:.3f} s CPU, "
        f"{1e3 * t_dir / rows:.4f} ms/trace"
    )
    f_sub = y[:fista_rows]
    t_fi, c_fi, rf = timed_cpu(lambda: run_convar(f_sub, gamma, lam, method="fista"))
    scale = np.max(np.abs(res.rates[:fista_rows, 1:]), axis=1)
    gap = np.max(np.abs(res.rates[:fista_rows, 1:] - rf.rates[:, 1:]), axis=1) / scale
    f_gap = (rf.objective - res.objective[:fista_rows]) / res.objective[:fista_rows]
    per = t_fi / fista_rows
    print(
        f"FISTA (before; first differences + early stop, tol 1e-7), {fista_rows:,} traces: "
        f"{per * rows:.2f} s per {rows:,} ({1e3 * per:.3f} ms/trace, {per / (t_dir / rows):.0f}x "
        f"direct), iterations median {np.median(rf.iterations):.0f}, converged "
        f"{np.mean(rf.converged):.1%}"
    )
    print(
        f"  FISTA vs direct: rates (t >= 1) differ by up to {np.max(gap):.1e} of the row's "
        f"largest rate; objective FISTA - direct in [{np.min(f_gap):+.1e}, {np.max(f_gap):+.1e}] "
        "(relative)"
    )
    print("  thesis (8-core desktop): 10.23 s with all speed-ups, 916.41 s original")

    sub = y[:search_rows]
    t_grid, _, rg = timed_cpu(lambda: run_convar(sub, gamma, None, search="grid"))
    t_fast, _, rfs = timed_cpu(lambda: run_convar(sub, gamma, None, search="fast"))
    k = min(search_rows, max(fista_rows // 10, 10))
    t_fgrid, _, rfg = timed_cpu(
        lambda: run_convar(sub[:k], gamma, None, search="grid", method="fista")
    )
    t_ffast, _, _ = timed_cpu(
        lambda: run_convar(sub[:k], gamma, None, search="fast", method="fista")
    )
    same = np.mean(rfg.lambda_ == rg.lambda_[:k])
    print(
        f"lambda search per trace + final solve ({search_rows:,} traces): grid (25 lambdas) "
        f"{1e3 * t_grid / search_rows:.3f} ms/trace, fast {1e3 * t_fast / search_rows:.3f} "
        f"ms/trace; fast and grid within one grid step: "
        f"{np.mean(np.abs(np.log10(rfs.lambda_ / rg.lambda_)) <= 0.25):.0%}"
    )
    print(
        f"  FISTA ({k} traces): grid {1e3 * t_fgrid / k:.2f} ms/trace "
        f"({t_fgrid / k / (t_grid / search_rows):.0f}x direct), fast {1e3 * t_ffast / k:.2f} "
        f"ms/trace; same lambda as the direct grid search on {same:.0%}"
    )

    print("\ncost against T (one trace, population model) and against the number of traces:")
    print(f"{'T':>10} {'fixed lambda ms':>16} {'grid search ms':>15} {'us/frame (search)':>18}")
    for length in lengths:
        one = population(1, length, gamma, noise, seed=length)[0]
        t_fix, _ = timed(lambda one=one: run_convar(one, gamma, lam), repeat=3)
        t_s, _ = timed(lambda one=one: run_convar(one, gamma, None), repeat=2)
        print(f"{length:>10,} {1e3 * t_fix:>16.3f} {1e3 * t_s:>15.3f} {1e6 * t_s / length:>18.3f}")
    print(f"{'traces x ' + str(n):>14} {'fixed lambda ms':>16} {'grid search ms':>15}")
    for count in [c for c in (100, 1_000, 10_000) if c <= rows]:
        part = y[:count]
        t_fix, _ = timed(lambda part=part: run_convar(part, gamma, lam), repeat=3)
        t_s, _ = timed(lambda part=part: run_convar(part, gamma, None), repeat=1)
        print(f"{count:>14,} {1e3 * t_fix:>16.3f} {1e3 * t_s:>15.3f}")

    # Peers on a smaller batch (the thesis' example dataset is 400 x 50).
    p = y[:peer_rows]
    t_ours, _, ro = timed_cpu(lambda: run_convar(p, gamma, lam), repeat=3)
    t_orig, r_orig = timed(lambda: stern_original(p, gamma, lam, 10_000, seed=0))
    f_ours = objective(p, ro.rates, gamma, lam)
    f_orig = objective(p, r_orig, gamma, lam)
    print(f"\npeers on {peer_rows} x {n} (ours, direct: {t_ours:.4f} s):")
    print(
        f"  original algorithm, dense numpy, 10,000 iterations: {t_orig:.2f} s "
        f"({t_orig / t_ours:.0f}x ours); its objective exceeds ours by up to "
        f"{np.max((f_orig - f_ours) / f_ours):.1e} (relative)"
    )
    k = 1  # BVLS takes seconds to minutes per 400-frame trace
    t_dense, refs = timed(lambda: [dense_bvls(p[i], gamma, lam) for i in range(k)])
    f_ref = objective(p[:k], np.asarray(refs), gamma, lam)
    one_ours, _ = timed(lambda: [run_convar(p[i], gamma, lam) for i in range(k)], 3)
    print(
        f"  dense BVLS reference (scipy), one trace at a time: {1e3 * t_dense / k:.1f} ms/trace "
        f"vs ours {1e3 * one_ours / k:.3f} ms/trace ({t_dense / one_ours:.0f}x); "
        f"objective gap ours - BVLS: {np.max((f_ours[:k] - f_ref) / f_ref):+.1e} (relative)"
    )


def movie_hook(movie: Any, gamma: float, lam: float | None) -> Any:
    """Entry point for a movie-scale benchmark (pixels as rows, e.g. through Dask); not run."""
    from calab.convar import run_convar

    frames = np.asarray(movie)
    flat = frames.reshape(frames.shape[0], -1).T
    return run_convar(flat, gamma, lam)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--skip-l0", action="store_true")
    ap.add_argument("--skip-convar", action="store_true")
    args = ap.parse_args()
    if not args.skip_l0:
        if args.quick:
            bench_l0([1_000, 10_000, 100_000], cells=[10, 100])
        else:
            bench_l0([1_000, 10_000, 30_000, 100_000, 300_000, 1_000_000], cells=[10, 100, 1_000])
    if not args.skip_convar:
        if args.quick:
            bench_convar(rows=1_000, n=400, peer_rows=20, search_rows=200, fista_rows=200,
                         lengths=[1_000, 10_000, 100_000])
        else:
            bench_convar(rows=10_000, n=400, peer_rows=20, search_rows=1_000, fista_rows=2_000,
                         lengths=[1_000, 10_000, 100_000, 1_000_000])


if __name__ == "__main__":
    main()
