"""Accuracy on real recordings with electrophysiological ground truth.

Every ``*.npz`` in a folder (default ``../shared/groundtruth`` beside the repository; the CASCADE
layout: ``traces``/``spikes`` NaN-padded rows, ``lengths``, ``fs``, ``indicator``) is scored the
spikefinder way (Berens et al. 2018): inferred activity and true spike counts summed in bins of
``round(fs / 25)`` frames (40 ms), Pearson r per row, mean over rows; a method's score is the mean
over datasets. Nothing is tuned here: every method gets the trace and its frame rate, plus, for
the "literature" rows, the indicator's published time constants.

    python benchmarks/bench_groundtruth.py                     # everything, a few minutes
    python benchmarks/bench_groundtruth.py --quick             # at most 6 rows per dataset
    python benchmarks/bench_groundtruth.py --data DIR --methods l1-auto,oasis-ar2
    python benchmarks/bench_groundtruth.py --decay-profile     # which tau_decay the data favour

Peers run in their own venvs (``benchmarks/peers/setup_peers.sh``): OASIS (AR(1) and AR(2),
time constants, noise and sparsity all estimated by OASIS, L1 penalty) and calab 0.3.0 with the
literature time constants. Besides the score the script prints the learned time constants next
to the literature values and to the kernel fitted to the true spikes, and, for the methods that
report spikes, the inferred total spike count over the true one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
DEFAULT_DATA = ROOT.parent / "shared" / "groundtruth"

# Published single-indicator kinetics (tau_rise, tau_decay in s), for the "literature" rows and
# for judging learned values. Approximate: in vivo values vary with cell type, expression and
# temperature by a factor of about 1.5.
LITERATURE: dict[str, tuple[float, float, str]] = {
    "OGB-1": (0.01, 0.8, "Stosiek et al. 2003; calab presets"),
    "GCaMP6f": (0.02, 0.4, "Chen et al. 2013; calab presets"),
    "GCaMP6s": (0.1, 1.6, "Chen et al. 2013; calab presets"),
    "R-CaMP1.07": (0.05, 0.8, "Ohkura et al. 2012"),
    "jGCaMP7f": (0.02, 0.5, "Dana et al. 2019"),
    "jGCaMP8f": (0.01, 0.15, "Zhang et al. 2023; calab presets"),
}
CALAB030_LAMBDA = 0.01  # calab 0.3.0 has no automatic sparsity; its CaTune default


class Recording(NamedTuple):
    name: str
    indicator: str
    fs: float
    rows: list[np.ndarray]  # traces, valid part only
    spikes: list[np.ndarray]


class Outcome(NamedTuple):
    """What one method returned for one recording: activity per row, and what it learned."""

    activity: list[np.ndarray]
    seconds: float
    taus: tuple[float, float] | None = None  # learned (tau_rise, tau_decay)
    counts: bool = False  # activity is in spikes per frame (count ratio is meaningful)
    note: str = ""


# --- the score (identical to gt_utils.corr_at from the data folder) ------------------------


def block_sum(x: np.ndarray, factor: int) -> np.ndarray:
    n = (len(x) // factor) * factor
    return np.asarray(x[:n], dtype=float).reshape(-1, factor).sum(1)


def corr_at(pred: np.ndarray, truth: np.ndarray, fs: float, target_hz: float = 25.0) -> float:
    factor = max(1, int(round(fs / target_hz)))
    n = min(len(pred), len(truth))
    pred, truth = np.asarray(pred[:n], float), np.asarray(truth[:n], float)
    ok = ~(np.isnan(pred) | np.isnan(truth))
    a, b = block_sum(pred[ok], factor), block_sum(truth[ok], factor)
    if a.std() == 0 or b.std() == 0:
        return 0.0  # a flat prediction (or a silent cell) carries no timing information
    return float(np.corrcoef(a, b)[0, 1])


def load_recordings(folder: Path, max_rows: int | None) -> list[Recording]:
    out = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as d:
            lengths = d["lengths"].astype(int)
            n = len(lengths) if max_rows is None else min(max_rows, len(lengths))
            rows = [np.asarray(d["traces"][i, : lengths[i]], float) for i in range(n)]
            spikes = [np.asarray(d["spikes"][i, : lengths[i]], float) for i in range(n)]
            name = path.stem.split("_")[1] if path.stem.startswith("cascade_") else path.stem
            out.append(Recording(name, str(d["indicator"]), float(d["fs"]), rows, spikes))
    return out


def groups_by_length(rec: Recording) -> list[list[int]]:
    """Row indices grouped by length: InDeCa takes a cells x time matrix."""
    by: dict[int, list[int]] = {}
    for i, r in enumerate(rec.rows):
        by.setdefault(len(r), []).append(i)
    return list(by.values())


# --- our methods ---------------------------------------------------------------------------


def ours_l1_auto(rec: Recording) -> Outcome:
    import calab

    t0 = time.perf_counter()
    acts, taus, notes, largest = [], None, [], 0
    for idx in groups_by_length(rec):  # one call per group of equal-length rows (a matrix)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", calab.KineticsWarning)
            res = calab.run_deconvolution_full(np.stack([rec.rows[i] for i in idx]), rec.fs)
        notes.extend(str(w.message) for w in caught)
        acts.extend((i, a) for i, a in zip(idx, res.activity))
        if len(idx) > largest:  # the kernel learned from the most rows is the one shown
            largest, taus = len(idx), (float(res.tau_rise[0]), float(res.tau_decay[0]))
    return Outcome(_ordered(acts), time.perf_counter() - t0, taus, note="; ".join(notes))


def ours_l1_literature(rec: Recording) -> Outcome:
    import calab

    tr, td, _ = LITERATURE[rec.indicator]
    t0 = time.perf_counter()
    acts = [calab.run_deconvolution(y, rec.fs, tr, td) for y in rec.rows]
    return Outcome(acts, time.perf_counter() - t0)


def ours_indeca(rec: Recording) -> Outcome:
    import calab

    t0 = time.perf_counter()
    acts, taus, notes = [], [], []
    for idx in groups_by_length(rec):
        res = calab.run_indeca(np.stack([rec.rows[i] for i in idx]), rec.fs)
        acts.extend((i, a) for i, a in zip(idx, res.activity))
        taus.append((res.metadata["tau_rise"], res.metadata["tau_decay"], len(idx)))
        notes.extend(res.metadata.get("warnings", []))
    n = sum(t[2] for t in taus)
    tr = sum(t[0] * t[2] for t in taus) / n
    td = sum(t[1] * t[2] for t in taus) / n
    return Outcome(_ordered(acts), time.perf_counter() - t0, (tr, td), counts=True,
                   note="; ".join(sorted(set(map(str, notes)))))


def _ordered(pairs: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    return [a for _, a in sorted(pairs, key=lambda p: p[0])]


# --- peers, each in its own venv -------------------------------------------------------------


def run_peer(python: Path, runner: str, rec: Recording, options: dict[str, Any],
             taus: tuple[float, float] = (0.0, 0.0)) -> Outcome:
    sys.path.insert(0, str(PEERS))
    from _common import write_input

    acts: list[tuple[int, np.ndarray]] = []
    seconds = 0.0
    extra: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, idx in enumerate(groups_by_length(rec)):
            inp, out = Path(tmp) / f"in{k}.npz", Path(tmp) / f"out{k}.npz"
            write_input(str(inp), np.stack([rec.rows[i] for i in idx]), rec.fs, taus[0], taus[1],
                        CALAB030_LAMBDA, **options)
            subprocess.run([str(python), str(PEERS / runner), str(inp), str(out)], check=True)
            with np.load(out) as z:
                acts.extend(zip(idx, np.asarray(z["activity"])))
                seconds += float(z["wall"])
                for key in ("tau_rise", "tau_decay"):
                    if key in z.files:
                        extra.setdefault(key, []).extend(np.asarray(z[key]).ravel().tolist())
    learned = None
    if extra.get("tau_decay"):
        learned = (float(np.nanmedian(extra["tau_rise"])), float(np.nanmedian(extra["tau_decay"])))
    return Outcome(_ordered(acts), seconds, learned)


def peer_methods(peers_dir: Path) -> dict[str, Callable[[Recording], Outcome]]:
    oasis = peers_dir / "oasis" / "bin" / "python"
    c030 = peers_dir / "calab030" / "bin" / "python"
    methods: dict[str, Callable[[Recording], Outcome]] = {}
    if oasis.exists():
        methods["oasis-ar1"] = lambda rec: run_peer(oasis, "oasis_runner.py", rec,
                                                    {"mode": "ar1_est"})
        methods["oasis-ar2"] = lambda rec: run_peer(oasis, "oasis_runner.py", rec,
                                                    {"mode": "ar2_est"})
    if c030.exists():
        methods["calab030-lit"] = lambda rec: run_peer(c030, "calab030_runner.py", rec, {},
                                                       LITERATURE[rec.indicator][:2])
    return methods


OURS: dict[str, Callable[[Recording], Outcome]] = {
    "l1-auto": ours_l1_auto,
    "indeca-auto": ours_indeca,
    "l1-lit": ours_l1_literature,
}
LABELS = {
    "l1-auto": "CaLab L1, automatic",
    "indeca-auto": "CaLab InDeCa, automatic",
    "l1-lit": "CaLab L1, literature taus",
    "oasis-ar1": "OASIS AR(1), automatic",
    "oasis-ar2": "OASIS AR(2), automatic",
    "calab030-lit": "calab 0.3.0, literature taus",
}


# --- reference kernel from the true spikes ----------------------------------------------------


def double_exponential(tau_rise: float, tau_decay: float, fs: float) -> np.ndarray:
    """exp(-t/tau_decay) - exp(-t/tau_rise) over 10 decays (at most 20,000 samples), unscaled."""
    t = np.arange(int(min(10 * tau_decay * fs, 20_000)) + 2) / fs
    return np.exp(-t / tau_decay) - np.exp(-t / tau_rise)


def fit_residual(y: np.ndarray, spikes: np.ndarray, h: np.ndarray) -> np.ndarray:
    """y minus its least-squares fit by amplitude * (spikes * h) + baseline."""
    c = np.convolve(spikes, h)[: len(y)]
    a = np.c_[c, np.ones_like(c)]
    return y - a @ np.linalg.lstsq(a, y, rcond=None)[0]


def kernel_from_truth(rec: Recording) -> tuple[float, float]:
    """(tau_rise, tau_decay) of the double exponential that best maps the true spikes to the
    traces (least squares over all rows, one amplitude and baseline per row): what the data say
    the kernel is, as a reference for learned values."""
    from scipy.optimize import least_squares

    def residuals(p: np.ndarray) -> np.ndarray:
        tr, td = np.exp(p)
        if tr >= td:
            tr = td * 0.999
        h = double_exponential(tr, td, rec.fs)
        return np.concatenate([fit_residual(y, s, h) for y, s in zip(rec.rows, rec.spikes)])

    fit = least_squares(residuals, np.log([0.02, 0.5]), bounds=(np.log([1e-4, 0.02]),
                                                                  np.log([1.0, 10.0])))
    tr, td = np.exp(fit.x)
    return float(tr), float(td)


DECAY_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8)


def decay_profile(rec: Recording, rows: int, factors: tuple[float, ...] = DECAY_FACTORS
                  ) -> list[tuple[float, float, float, float]]:
    """InDeCa's own criterion against tau_decay: for each decay (the literature value times each
    factor; rise from the literature, at most a third of the decay) solve the binary model on the
    first `rows` rows of the largest equal-length group (`calab.solve_trace`, upsampled as
    `run_indeca` does) and sum, in units of each row's noise variance, the residual of a
    least-squares amplitude and baseline plus ln(T) per spike: the penalised score the trace stage
    minimises. Returns (tau_decay, criterion, count / true count, score) per decay."""
    import calab

    rise, decay, _ = LITERATURE[rec.indicator]
    defaults = calab.DeconConfig()
    k = calab.compute_upsample_factor(rec.fs, float(defaults.upsample_target or rec.fs))
    idx = max(groups_by_length(rec), key=len)[:rows]
    noise_var = [float(calab.estimate_noise(rec.rows[i])) ** 2 for i in idx]
    true = float(sum(np.sum(rec.spikes[i]) for i in idx))
    out = []
    for f in factors:
        td = decay * f
        tr = min(rise, td / 3)
        h = double_exponential(tr, td, rec.fs)
        crit = found = 0.0
        scores = []
        for i, sigma2 in zip(idx, noise_var):
            y, s_true = rec.rows[i], rec.spikes[i]
            sol = calab.solve_trace(y, tr, td, rec.fs, upsample_factor=k,
                                    lambda_=defaults.lambda_)
            rss = float(np.sum(fit_residual(y, sol.s_counts, h) ** 2))
            crit += rss / sigma2 + np.log(len(y)) * float(sol.s_counts.sum())
            found += float(sol.s_counts.sum())
            scores.append(corr_at(sol.s_counts, s_true, rec.fs))
        out.append((td, crit, found / true if true else float("nan"), float(np.nanmean(scores))))
    return out


def print_decay_profiles(recs: list[Recording], rows: int) -> None:
    print("## Penalised fit of the binary model against tau_decay\n")
    print(f"(first {rows} rows of each dataset's largest group; criterion relative to its minimum; "
          "* marks the minimum, L the literature value)\n")
    print("| dataset | tau_decay (s) | criterion | spikes / true | score |")
    print("|---|---|---|---|---|")
    for rec in recs:
        prof = decay_profile(rec, rows)
        best = min(p[1] for p in prof)
        lit = LITERATURE[rec.indicator][1]
        for td, crit, ratio, score in prof:
            mark = ("*" if crit == best else "") + ("L" if abs(td - lit) < 1e-12 else "")
            print(f"| {rec.name} | {td:.3g} {mark} | +{100 * (crit / best - 1):.1f} % | "
                  f"{ratio:.2f} | {score:.3f} |")
        print(f"{rec.name}: profile done", file=sys.stderr, flush=True)


# --- report -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"folder of ground-truth .npz files (default {DEFAULT_DATA})")
    ap.add_argument("--peers-dir", type=Path, default=Path("/tmp/peers"),
                    help="venvs made by benchmarks/peers/setup_peers.sh")
    ap.add_argument("--methods", default="",
                    help="comma-separated subset of: " + ", ".join([*OURS, *LABELS]))
    ap.add_argument("--quick", action="store_true", help="at most 6 rows per dataset")
    ap.add_argument("--max-rows", type=int, default=None)
    ap.add_argument("--no-truth-kernel", action="store_true",
                    help="skip fitting the reference kernel to the true spikes")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--decay-profile", action="store_true",
                    help="instead: InDeCa's penalised fit against tau_decay (--max-rows rows "
                         "per dataset, default 8)")
    args = ap.parse_args(argv)

    max_rows = 6 if args.quick else args.max_rows
    recs = load_recordings(args.data, max_rows)
    if not recs:
        print(f"no .npz recordings in {args.data}", file=sys.stderr)
        return 2
    if args.decay_profile:
        print_decay_profiles(recs, max_rows or 8)
        return 0
    methods = {**OURS, **peer_methods(args.peers_dir)}
    if args.methods:
        wanted = args.methods.split(",")
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            print(f"unknown or unavailable methods: {unknown}; have {list(methods)}",
                  file=sys.stderr)
            return 2
        methods = {m: methods[m] for m in wanted}

    results: dict[str, dict[str, Any]] = {}
    for rec in recs:
        res: dict[str, Any] = {}
        for name, fn in methods.items():
            try:
                out = fn(rec)
            except Exception as exc:  # a failing method is a result too
                res[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"{rec.name} {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            scores = [corr_at(a, s, rec.fs) for a, s in zip(out.activity, rec.spikes)]
            true_total = float(sum(np.nansum(s) for s in rec.spikes))
            inferred = float(sum(np.sum(a) for a in out.activity))
            res[name] = {
                "score": float(np.mean(scores)),
                "seconds": out.seconds,
                "taus": out.taus,
                "count_ratio": inferred / true_total if out.counts and true_total else None,
                "note": out.note,
            }
            print(f"{rec.name} {name}: {res[name]['score']:.3f} ({out.seconds:.1f} s)",
                  file=sys.stderr, flush=True)
        if not args.no_truth_kernel:
            res["truth-kernel"] = kernel_from_truth(rec)
        results[rec.name] = res

    print_tables(recs, results, list(methods))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def print_tables(recs: list[Recording], results: dict[str, dict[str, Any]],
                 names: list[str]) -> None:
    def cell(r: dict[str, Any] | None) -> str:
        if r is None:
            return "-"
        return "error" if "error" in r else f"{r['score']:.3f}"

    print("\n## Score (spikefinder correlation, 40 ms bins, mean over rows)\n")
    print("| dataset (indicator, fs) | " + " | ".join(LABELS.get(n, n) for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for rec in recs:
        row = [cell(results[rec.name].get(n)) for n in names]
        print(f"| {rec.name} ({rec.indicator}, {rec.fs:.1f} Hz) | " + " | ".join(row) + " |")
    means = []
    for n in names:
        vals = [results[r.name][n]["score"] for r in recs
                if n in results[r.name] and "error" not in results[r.name][n]]
        means.append(f"**{np.mean(vals):.3f}**" if len(vals) == len(recs) else "-")
    print("| **mean** | " + " | ".join(means) + " |")

    learners = [n for n in names
                if any((results[r.name].get(n) or {}).get("taus") for r in recs)]
    if learners:
        print("\n## Learned time constants (tau_rise / tau_decay, s)\n")
        head = ["literature", "fitted to the true spikes"] + [LABELS.get(n, n) for n in learners]
        print("| dataset | " + " | ".join(head) + " |")
        print("|---|" + "---|" * len(head))
        for rec in recs:
            tr, td, _src = LITERATURE.get(rec.indicator, (np.nan, np.nan, ""))
            row = [f"{tr:.3f} / {td:.2f}"]
            truth = results[rec.name].get("truth-kernel")
            row.append(f"{truth[0]:.3f} / {truth[1]:.2f}" if truth else "-")
            for n in learners:
                t = (results[rec.name].get(n) or {}).get("taus")
                row.append(f"{t[0]:.3f} / {t[1]:.2f} ({t[1] / td:.2f}x)" if t else "-")
            print(f"| {rec.name} ({rec.indicator}) | " + " | ".join(row) + " |")

    counters = [n for n in names
                if any((results[r.name].get(n) or {}).get("count_ratio") for r in recs)]
    if counters:
        print("\n## Total inferred spikes / true spikes\n")
        print("| dataset | " + " | ".join(LABELS.get(n, n) for n in counters) + " |")
        print("|---|" + "---|" * len(counters))
        for rec in recs:
            row = []
            for n in counters:
                c = (results[rec.name].get(n) or {}).get("count_ratio")
                row.append(f"{c:.2f}" if c is not None else "-")
            print(f"| {rec.name} | " + " | ".join(row) + " |")

    notes = [(r.name, n, results[r.name][n]["note"]) for r in recs for n in names
             if (results[r.name].get(n) or {}).get("note")]
    if notes:
        print("\nWarnings reported by the methods:")
        for rec_name, n, note in notes:
            print(f"- {rec_name}, {LABELS.get(n, n)}: {note}")


if __name__ == "__main__":
    sys.exit(main())
