"""Pixel-wise deconvolution of a wide-field movie through Dask, with bounded memory.

Writes a simulated frames x height x width float32 movie to a temporary ``.zarr`` (or ``.npy``)
band by band, so it is never whole in memory, then runs :func:`calab.deconvolve_movie` on a
``dask.distributed.LocalCluster`` (or on ``--scheduler ADDRESS``) and prints wall time, pixels per
second and the peak resident memory of the client and of every worker, sampled while it runs,
next to the size of the movie. A few pixels are then checked against the single-process solver
(they must be equal exactly). Nothing is asserted about time: it depends on the machine.

    python benchmarks/bench_dask_movie.py                      # 256 x 256 x 3000, 2 workers
    python benchmarks/bench_dask_movie.py --quick              # 64 x 64 x 3000
    python benchmarks/bench_dask_movie.py --method l1 --chunk-pixels 2048 --workers 2

Needs ``calab[dask]``, zarr, scipy and psutil.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import resource
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

FS, TAU_R, TAU_D = 30.0, 0.05, 0.4
MB = 1024.0 * 1024.0


def _band_traces(rng: np.random.Generator, n_pixels: int, n_frames: int) -> np.ndarray:
    """Independent pixel traces (pixels x frames): Poisson spikes through the double-exponential
    kernel, a per-pixel baseline and amplitude, white noise. Plain numpy/scipy, no calab code."""
    from scipy.signal import lfilter

    rate = rng.uniform(0.2, 2.0, size=(n_pixels, 1))  # Hz
    spikes = rng.poisson(rate / FS, size=(n_pixels, n_frames)).astype(np.float64)
    d, r = np.exp(-1.0 / (TAU_D * FS)), np.exp(-1.0 / (TAU_R * FS))
    calcium = lfilter([0.0, d - r], [1.0, -(d + r), d * r], spikes, axis=1)
    amp = rng.uniform(0.5, 2.0, size=(n_pixels, 1))
    base = rng.uniform(50.0, 150.0, size=(n_pixels, 1))
    out: np.ndarray = base * (1.0 + amp * calcium) + rng.normal(0.0, 5.0, size=spikes.shape)
    return out


def write_movie(path: Path, frames: int, height: int, width: int, band_rows: int,
                seed: int) -> None:
    """Simulate the movie band of rows by band of rows straight into ``path``."""
    rng = np.random.default_rng(seed)
    if path.suffix == ".zarr":
        import zarr

        movie: Any = zarr.create_array(str(path), shape=(frames, height, width),
                                       chunks=(min(frames, 500), band_rows, width),
                                       dtype="float32", overwrite=True)
    else:
        movie = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                          shape=(frames, height, width))
    for h0 in range(0, height, band_rows):
        h1 = min(height, h0 + band_rows)
        band = _band_traces(rng, (h1 - h0) * width, frames)
        movie[:, h0:h1, :] = band.T.reshape(frames, h1 - h0, width).astype(np.float32)
    if isinstance(movie, np.memmap):
        movie.flush()
    del movie


class RssSampler:
    """Peak RSS of this process and of each of its child processes (the local workers)."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.client_peak = 0
        self.child_peak: dict[int, int] = {}
        self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        own = self._proc.memory_info().rss
        total = own
        self.client_peak = max(self.client_peak, own)
        for child in self._proc.children(recursive=True):
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            self.child_peak[child.pid] = max(self.child_peak.get(child.pid, 0), rss)
            total += rss
        self.total_peak = max(self.total_peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _worker_maxrss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--quick", action="store_true", help="64 x 64 pixels instead of 256 x 256")
    default_method = "convar" if importlib.util.find_spec("calab.convar") else "l1"
    ap.add_argument("--method", choices=["convar", "l1", "l0"], default=default_method,
                    help=f"solver (default here: {default_method})")
    ap.add_argument("--lam", type=float, default=None,
                    help="sparsity weight (default: l1 0.01, l0 1000, convar automatic)")
    ap.add_argument("--chunk-pixels", type=int, default=1024, help="pixels per task (1024)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (2)")
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--scheduler", help="use this Dask scheduler instead of a LocalCluster")
    ap.add_argument("--format", choices=["zarr", "npy"], default="zarr", help="input format")
    ap.add_argument("--out-format", choices=["zarr", "npy"], default="zarr")
    ap.add_argument("--workdir", help="folder for the movie and the result (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    ap.add_argument("--local-too", action="store_true",
                    help="also time the same run without a scheduler, in this process")
    ap.add_argument("--check", type=int, default=32, help="pixels checked exactly (32)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.height = args.width = 64

    # Each worker solves one tile at a time; native threads beyond that only fight for cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import calab
    import distributed

    frames, height, width = args.frames, args.height, args.width
    n_pixels = height * width
    movie_mb = frames * n_pixels * 4 / MB
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="calab-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"movie.{args.format}"
    dst = work / f"result.{args.out_format}"
    band_rows = max(1, args.chunk_pixels // width)
    layout = f"chunks of {band_rows} rows" if args.format == "zarr" else "memory-mapped"
    print(f"movie: {frames} frames x {height} x {width} pixels, float32 {movie_mb:.0f} MB, "
          f"input {src.suffix} ({layout})")
    t0 = time.perf_counter()
    write_movie(src, frames, height, width, band_rows, args.seed)
    print(f"simulated and written in {time.perf_counter() - t0:.1f} s")

    lam = args.lam
    if lam is None:
        lam = {"l1": 0.01, "l0": 1000.0, "convar": None}[args.method]
    params: dict[str, Any] = {"fs": FS, "tau_decay": TAU_D, "lam": lam}
    if args.method == "l1":
        params["tau_rise"] = TAU_R

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.scheduler:
            cluster = None
            client = distributed.Client(args.scheduler)
        else:
            cluster = distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                processes=True, dashboard_address=None, silence_logs=logging.ERROR,
                # The native batch solver spreads rows over a thread pool; one pool per worker
                # as wide as the worker's threads avoids oversubscribing the cores.
                env={"RAYON_NUM_THREADS": str(args.threads_per_worker)},
            )
            client = distributed.Client(cluster)
    try:
        pids = client.run(os.getpid)
        with RssSampler() as rss:
            t0 = time.perf_counter()
            res = calab.deconvolve_movie(src, dst, method=args.method,
                                         chunk_pixels=args.chunk_pixels, scheduler=client,
                                         progress=True, **params)
            wall = time.perf_counter() - t0
        maxrss = client.run(_worker_maxrss)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            if cluster is not None:
                cluster.close()

    local_wall = None
    if args.local_too:
        local_dst = dst.with_name("result_local" + dst.suffix)
        t0 = time.perf_counter()
        calab.deconvolve_movie(src, local_dst, method=args.method, chunk_pixels=args.chunk_pixels,
                               progress=True, **params)
        local_wall = time.perf_counter() - t0

    n_workers = len(pids)
    print(f"\nmethod {args.method}, {n_workers} workers x {args.threads_per_worker} thread, "
          f"tiles {res.tile[0]} x {res.tile[1]} ({res.n_tiles} tasks)")
    print(f"wall time            {wall:8.1f} s")
    print(f"throughput           {n_pixels / wall:8.0f} pixels/s "
          f"({n_pixels * frames / wall / 1e6:.2f} M samples/s)")
    if local_wall is not None:
        print(f"same, no scheduler   {local_wall:8.1f} s in this process "
              f"({n_pixels / local_wall:.0f} pixels/s; dask speed-up x{local_wall / wall:.2f})")
    print(f"movie size           {movie_mb:8.0f} MB (float32; result the same)")
    print(f"client peak RSS      {rss.client_peak / MB:8.0f} MB")
    for addr in sorted(pids):
        if pids[addr] in rss.child_peak:  # a local worker: sampled while it ran
            print(f"worker peak RSS      {rss.child_peak[pids[addr]] / MB:8.0f} MB  "
                  f"(sampled every 0.2 s; {addr})")
        else:  # a remote worker: the kernel's high-water mark (may include its parent's)
            print(f"worker max RSS       {maxrss[addr] / MB:8.0f} MB  (ru_maxrss; {addr})")
    if rss.child_peak:
        print(f"all processes, peak  {rss.total_peak / MB:8.0f} MB (client + its children)")

    # Exactness on a few pixels: the single-process solver on the same traces.
    rng = np.random.default_rng(1)
    picks = rng.choice(n_pixels, size=min(args.check, n_pixels), replace=False)
    ys, xs = np.unravel_index(np.sort(picks), (height, width))
    if src.suffix == ".zarr":
        import zarr

        movie: Any = zarr.open_array(str(src), mode="r")
    else:
        movie = np.load(src, mmap_mode="r")
    traces = np.stack([np.asarray(movie[:, y, x], dtype=np.float64) for y, x in zip(ys, xs)])
    if args.method == "l1":
        want = calab.run_deconvolution(traces, FS, TAU_R, TAU_D, lam)
    elif args.method == "l0":
        want = calab.run_l0(traces, calab.gamma_from_tau(TAU_D, FS), lam).spikes
    else:
        from calab.convar import run_convar

        want = np.asarray(run_convar(traces, calab.gamma_from_tau(TAU_D, FS), lambda_=lam)[0])
    if dst.suffix == ".zarr":
        import zarr

        out: Any = zarr.open_group(str(dst), mode="r")[res.activity]
    else:
        out = np.load(dst, mmap_mode="r")
    got = np.stack([np.asarray(out[:, y, x]) for y, x in zip(ys, xs)])
    same = np.array_equal(got, want.astype(got.dtype))
    print(f"exact check          {len(picks)} pixels equal to the single-process solver: {same}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    elif args.keep:
        print(f"files kept in {work}")


if __name__ == "__main__":
    main()
