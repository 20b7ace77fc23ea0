"""The ``calab`` command line. Exit codes: 0 success, 1 failure in the work, 2 bad usage."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._dff import DFF_PERCENTILE, DFF_WINDOW_S
from ._errors import SolverError
from ._schema_files import solver_defaults

if TYPE_CHECKING:
    from .cadecon import CaDeconResult

T = TypeVar("T")

_PRESETS = ["gcamp6f", "gcamp6m", "gcamp6s", "jgcamp8f", "ogb1", "clean"]


class UsageError(Exception):
    """Bad arguments or input discovered after parsing; exit code 2."""


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, simulate_demo

    sim = simulate_demo(args.preset, args.cells, args.duration, args.fs, args.seed)
    chosen: dict[str, object] = {"lambda_": args.lam}
    if not args.headless:
        from .bridge import tune

        print(f"Tune the parameters of the simulated {args.preset} recording in CaTune, then use "
              "'Export to Python' (Ctrl-C to stop).", file=sys.stderr)
        params = tune(sim.traces, fs=args.fs, timeout=args.timeout, port=args.port,
                      open_browser=not args.no_browser)
        if params is None:
            print("calab: no parameters were exported; nothing deconvolved", file=sys.stderr)
            return 1
        chosen = {"lambda_": params["lambda_"], "tau_rise": params["tau_rise"],
                  "tau_decay": params["tau_decay"], "filter_enabled": params["filter_enabled"],
                  "remove_drift": bool(params["export"].get("parameters", {}).get("remove_drift"))}
    summary = run_demo(out_dir=args.out, figure=not args.no_figure, sim=sim, **chosen)  # type: ignore[arg-type]
    print(
        f"Simulated {summary['num_cells']} {args.preset} cells x "
        f"{summary['num_timepoints']} frames at {summary['fs_hz']} Hz; deconvolved with "
        f"tau_rise={summary['tau_rise_s']:.3g} s, tau_decay={summary['tau_decay_s']:.3g} s, "
        f"lambda={summary['lambda']:.3g} in {summary['solve_seconds']:.2f} s "
        f"({summary['converged']}/{summary['num_cells']} converged); mean correlation with the "
        f"true spikes (0.2 s bins): {summary['mean_correlation_0.2s']:.3f}"
    )
    for name, path in summary["files"].items():
        print(f"  {name:9s} {path}")
    return 0


def _arg_type(convert: Callable[[str], T], what: str, ok: Callable[[T], bool],
              rule: str) -> Callable[[str], T]:
    """An argparse ``type=``: ``convert`` the text (else "expected {what}"), then check ``ok``
    (else "{rule}"); both messages quote the text given."""

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value

    return parse


_positive_float = _arg_type(float, "a number", lambda v: 0 < v < float("inf"),
                            "must be a positive number")
_non_negative_float = _arg_type(float, "a number", lambda v: 0 <= v < float("inf"),
                                "must be a finite number >= 0")
_positive_int = _arg_type(int, "an integer", lambda v: v >= 1, "must be >= 1")
_percent = _arg_type(float, "a number", lambda v: 0 <= v <= 100, "must lie in [0, 100]")
_port = _arg_type(int, "a port number", lambda v: 0 <= v <= 65535, "port must be 0-65535")


def _read(args: argparse.Namespace) -> tuple[Any, float | None, dict[str, Any]]:
    from ._outputs import recover
    from .io import load_traces_file

    recover(Path(args.file).parent)  # finish the commit of a run killed mid-way, if any
    return load_traces_file(args.file, key=getattr(args, "key", None))


def _apply_nan_policy(args: argparse.Namespace, traces: Any) -> Any:
    """--nan-policy: refuse non-finite samples (raise) or fill them as CaTune does and say how
    many frames per cell (interpolate)."""
    import numpy as np

    from ._gaps import fill_nan
    from ._validate import as_traces

    if args.nan_policy == "raise" or np.isfinite(traces).all():
        as_traces(traces)  # NON_FINITE_INPUT names the row and the first frame
        return traces
    out = fill_nan(traces)
    filled = np.atleast_1d(out.filled)
    hit = np.flatnonzero(filled)
    listing = ", ".join(f"{int(i)}: {int(filled[i])}" for i in hit[:20])
    more = f", ... ({len(hit) - 20} more cells)" if len(hit) > 20 else ""
    empty = int((filled == traces.shape[1]).sum())
    print(f"calab: filled {int(filled.sum())} missing frame(s) in {len(hit)} of {len(filled)} "
          f"cells by linear interpolation (cell: frames {listing}{more})"
          + (f"; {empty} cell(s) had no finite value and are zeros" if empty else ""),
          file=sys.stderr)
    return out.traces


def _inputs(args: argparse.Namespace) -> list[Path]:
    """Every file this command reads (so no output can overwrite one of them)."""
    found: list[Path] = []
    for name in ("file", "params"):
        value = getattr(args, name, None)
        if not value:
            continue
        p = Path(value)
        stem = p.with_suffix("") if p.suffix in (".npy", ".json") else p
        if stem.name.endswith("_metadata"):
            stem = stem.with_name(stem.name[: -len("_metadata")])
        found += [p, p.with_name(p.name + ".npy"), stem.with_name(stem.name + ".npy"),
                  stem.with_name(stem.name + "_metadata.json")]
        if p.is_dir():  # a pipeline's output folder (convert): everything in it, and plane0/
            for folder in (p, p / "plane0"):
                with contextlib.suppress(OSError):
                    found += [c for c in folder.iterdir() if c.is_file()]
    return found


def _output_set(args: argparse.Namespace, *paths: Path) -> Any:
    from ._outputs import OutputSet

    return OutputSet(paths, inputs=_inputs(args))


def _stem_arg(args: argparse.Namespace) -> Path:
    from ._outputs import output_path

    return output_path(args.output, "output (-o)")


def _cmd_tune(args: argparse.Namespace) -> int:
    from .bridge import tune

    traces, file_fs, _meta = _read(args)
    fs = args.fs if args.fs is not None else file_fs
    if fs is None:
        raise UsageError(f"the sampling rate of {args.file} is unknown; pass --fs HZ")
    params = tune(traces, fs=fs, timeout=args.timeout, port=args.port,
                  app_url=args.app_url, open_browser=not args.no_browser)
    if params is None:
        print("calab: no parameters exported (cancelled, timed out or browser closed)",
              file=sys.stderr)
        return 1
    print(json.dumps(params["export"], indent=2))
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    from ._appserver import serve_app

    serve_app(args.app, port=args.port, open_browser=not args.no_browser)
    return 0


def _cmd_deconvolve(args: argparse.Namespace) -> int:
    from .io import deconvolve_from_export, load_export_params

    if args.params is None:
        return _deconvolve_automatic(args)
    if args.fs is not None:
        raise UsageError("--fs is for the automatic path; with --params the export's rate is used")
    out = _stem_arg(args)  # a bad -o is refused before the work, not after it
    if out.suffix != ".npy":
        out = out.with_name(out.name + ".npy")
    diag = out.with_name(out.stem + "_diagnostics.npz")
    _output_set(args, *([out, diag] if args.full else [out]))
    params = load_export_params(args.params)
    traces, file_fs, meta = _read(args)
    traces = _apply_nan_policy(args, traces)
    nwb = _nwb_target(args, out.with_suffix(".nwb"), meta)  # refuse before solving, not after
    if file_fs is not None and abs(file_fs - params["fs"]) > 1e-9 * file_fs:
        print(f"calab: warning: {args.file} was recorded at {file_fs} Hz but the export was tuned "
              f"at {params['fs']} Hz; using the export's rate", file=sys.stderr)
    if args.scheduler:
        from .scale import deconvolve_export_on_cluster

        result = deconvolve_export_on_cluster(traces, params, scheduler=args.scheduler,
                                              chunk_size=args.chunk_size,
                                              progress=not args.no_progress)
    else:
        result = deconvolve_from_export(traces, params, return_full=True,
                                        chunk_size=args.chunk_size,
                                        progress=False if args.no_progress else None)
    paths = [out, diag] if args.full else [out]
    with _output_set(args, *paths) as files:  # the outputs of one run, committed together
        files.npy(out, result.activity)
        if args.full:
            files.npz(diag, **_diagnostics(result))
    written = [str(p) for p in paths]
    if nwb is not None:
        written.append(_write_nwb(nwb, result, params["fs"], params["export"], args))
    n_conv = int(sum(bool(c) for c in result.converged))
    print(f"Deconvolved {traces.shape[0]} traces x {traces.shape[1]} frames with "
          f"{result.solver.upper()} ({n_conv}/{traces.shape[0]} converged) -> "
          f"{', '.join(written)}")
    return 0


def _nwb_target(args: argparse.Namespace, default: Path,
                meta: dict[str, Any]) -> tuple[Path, Path | None, str | None] | None:
    """(output, source NWB or None, its series) for --nwb, checked before any work is done."""
    if args.nwb is None:
        return None
    dest = Path(args.nwb) if args.nwb else default
    source = series = None
    if meta.get("format") == "nwb" and meta.get("source"):
        source = Path(meta["source"])
        if not source.is_file() and not source.is_absolute():
            beside = Path(args.file).parent / source  # a sidecar written elsewhere
            source = beside if beside.is_file() else source
        if not source.is_file():
            raise UsageError(f"{args.file} came from the NWB file {meta['source']}, which is "
                             "not there any more; the results would have nowhere to attach")
        series = meta.get("series")
    if dest.exists() and not args.force:
        what = "it is the source recording" if source is not None and \
            dest.resolve() == source.resolve() else "it exists"
        raise UsageError(f"--nwb {dest}: {what}; pass --force to replace it")
    if source is not None and dest.suffix.lower() != ".nwb":
        raise UsageError(f"--nwb {dest}: give a .nwb path")
    return dest, source, series


def _write_nwb(target: tuple[Path, Path | None, str | None], result: Any, fs: float,
               parameters: dict[str, Any], args: argparse.Namespace) -> str:
    from ._nwb import save_nwb

    dest, source, series = target
    try:
        save_nwb(dest, result, fs=fs, source=source, series=series, parameters=parameters,
                 name=args.nwb_name, overwrite=args.force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    where = f" (added to a copy of {source})" if source is not None and \
        dest.resolve() != source.resolve() else ""
    return f"{dest}{where}"


def _add_nwb(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--nwb", nargs="?", const="", metavar="PATH",
                   help=f"also write the results as NWB (default PATH: {default}): ophys/"
                        "Fluorescence/Deconvolved (+ DeconvolvedSpikeCounts, DeconvolvedRates "
                        "when the solver counts spikes) and the DeconvolvedStats table (noise, "
                        "baseline, converged per ROI), parameters as JSON; when FILE came from "
                        "an NWB file (calab convert --format nwb) the output is that file with "
                        "the results added")
    p.add_argument("--nwb-name", default="Deconvolved", metavar="NAME",
                   help="base name of the NWB objects (default Deconvolved)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --nwb PATH, the source NWB file included (the way "
                        "to add the results to the original in place)")


def _diagnostics(result: Any) -> dict[str, Any]:
    """The shared fields but activity, then the solver's own fields not already among them."""
    out = {name: getattr(result, name)
           for name in ("baseline", "reconvolution", "noise", "converged")}
    for name in result._fields:
        value = getattr(result, name)
        if value is result.activity or any(value is v for v in out.values()):
            continue  # an alias (L0 spikes/calcium, Convar rates): written once
        if value is None or hasattr(value, "_fields"):
            continue  # a record such as the learned kinetics, not an array (printed instead)
        out[name] = value
    return out


def _deconvolve_automatic(args: argparse.Namespace) -> int:
    """``calab deconvolve FILE --fs HZ``: kinetics learned, lambda from the noise, L1."""
    import numpy as np

    from ._compute import run_deconvolution_full
    from .kinetics import estimate_kinetics

    if args.scheduler:
        raise UsageError("--scheduler needs --params (learn the parameters once, e.g. with "
                         "calab deconvolve on a sample, then give them as an export)")
    out = _stem_arg(args)  # a bad -o is refused before the work, not after it
    if out.suffix != ".npy":
        out = out.with_name(out.name + ".npy")
    diag = out.with_name(out.stem + "_diagnostics.npz")
    paths = [out, diag] if args.full else [out]
    _output_set(args, *paths)
    traces, file_fs, meta = _read(args)
    fs = args.fs if args.fs is not None else file_fs
    if fs is None:
        raise UsageError(f"the sampling rate of {args.file} is unknown; pass --fs HZ "
                         "(or --params EXPORT.json)")
    traces = _apply_nan_policy(args, traces)
    nwb = _nwb_target(args, out.with_suffix(".nwb"), meta)
    kinetics = estimate_kinetics(traces, fs, warn=False)
    for message in kinetics.warnings:
        print(f"calab: warning: {message}", file=sys.stderr)
    result = run_deconvolution_full(traces, fs, kinetics.tau_rise, kinetics.tau_decay)
    with _output_set(args, *paths) as files:  # the outputs of one run, committed together
        files.npy(out, result.activity)
        if args.full:
            files.npz(diag, **_diagnostics(result))
    written = [str(p) for p in paths]
    parameters = {"solver": "l1", "tau_rise_s": kinetics.tau_rise,
                  "tau_decay_s": kinetics.tau_decay,
                  "lambda": "per cell from the noise (2 sigma)", "sampling_rate_hz": fs,
                  "kinetics": "learned from the data (InDeCa loop)"}
    if nwb is not None:
        written.append(_write_nwb(nwb, result, fs, parameters, args))
    n_conv = int(sum(bool(c) for c in np.atleast_1d(result.converged)))
    print(f"Learned tau_rise={kinetics.tau_rise:.4g} s, tau_decay={kinetics.tau_decay:.4g} s "
          f"({kinetics.fit_quality} fit); lambda from "
          f"each cell's noise. Deconvolved {traces.shape[0]} traces x {traces.shape[1]} frames "
          f"({n_conv}/{traces.shape[0]} converged) -> {', '.join(written)}")
    return 0


def _cmd_cadecon(args: argparse.Namespace) -> int:
    from .io import _json_default

    stem = _stem_arg(args)
    activity_path = stem.with_name(stem.name + "_activity.npy")
    results_path = stem.with_name(stem.name + "_results.json")
    _output_set(args, activity_path, results_path)  # refuse a bad -o before the work
    traces, file_fs, meta = _read(args)
    traces = _apply_nan_policy(args, traces)
    fs = args.fs if args.fs is not None else file_fs
    if fs is None:
        raise UsageError(f"the sampling rate of {args.file} is unknown; pass --fs HZ")
    nwb = _nwb_target(args, stem.with_name(stem.name + ".nwb"), meta)
    settings = {
        "upsample_target": args.upsample_target, "hp_filter_enabled": args.hp_filter,
        "lp_filter_enabled": args.lp_filter, "max_iterations": args.max_iterations,
        "convergence_tol": args.convergence_tol, "num_subsets": args.num_subsets,
        "target_coverage": args.coverage, "aspect_ratio": args.aspect_ratio, "seed": args.seed,
    }
    # Options not given keep the defaults (for upsample_target None would mean "no upsampling").
    chosen: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    result: CaDeconResult | None
    if args.native:
        from .cadecon import run_indeca

        result = run_indeca(traces, fs, progress=not args.no_progress, **chosen)
    else:
        from .bridge._decon import decon

        result = decon(traces, fs=fs, timeout=args.timeout, port=args.port,
                       app_url=args.app_url, open_browser=not args.no_browser,
                       headless=True if args.headless else None,
                       autorun=args.headless or args.autorun,
                       progress=not args.no_progress, **chosen)
    if result is None:
        print("calab: CaDecon returned no results (cancelled, timed out or browser closed)",
              file=sys.stderr)
        return 1
    with _output_set(args, activity_path, results_path) as files:
        files.npy(activity_path, result.activity)
        files.json(results_path, result.metadata, default=_json_default)
    res_meta = result.metadata
    written = [str(activity_path), str(results_path)]
    if nwb is not None:
        summary = {k: res_meta[k] for k in _CADECON_PARAMS if k in res_meta}
        written.append(_write_nwb(nwb, result, float(fs), summary, args))
    partial = " (partial: the run was stopped early)" if res_meta.get("partial") else ""
    print(f"CaDecon: tau_rise {res_meta.get('tau_rise', float('nan')):.4f} s, tau_decay "
          f"{res_meta.get('tau_decay', float('nan')):.4f} s, {result.activity.shape[0]} cells"
          f"{partial} -> {', '.join(written)}")
    return 0


#: The CaDecon results fields recorded as the NWB parameters (not the per-cell arrays/history).
_CADECON_PARAMS = ("schema_version", "app", "fs", "tau_rise", "tau_decay", "beta", "tau_rise_fast",
                   "tau_decay_fast", "beta_fast", "fit_quality", "kernel_dt", "iterations",
                   "converged", "partial", "upsample_factor", "config")


def _cmd_convert(args: argparse.Namespace) -> int:
    from . import loaders
    from .io import save_for_tuning

    if args.output:
        _stem_arg(args)
    fmt = args.format
    if fmt == "caiman":
        traces, meta = loaders.load_caiman(args.file, trace_key=args.trace_key or "estimates/C",
                                           fs=args.fs)
    elif fmt == "minian":
        traces, meta = loaders.load_minian(args.file, trace_key=args.trace_key or "C", fs=args.fs)
    elif fmt == "suite2p":
        coef = None if args.no_neuropil else args.neuropil
        traces, meta = loaders.load_suite2p(args.file, fs=args.fs, neuropil_coefficient=coef,
                                            only_cells=not args.all_rois)
    else:
        traces, meta = loaders.load_nwb(args.file, series=args.series, fs=args.fs)
    fs = meta["sampling_rate_hz"]
    if fs is None:
        raise UsageError(f"{args.file} does not record its sampling rate; pass --fs HZ")
    if args.dff:
        from ._dff import caiman_dff_inputs, dff

        background = None
        if fmt == "caiman":  # C has its background removed: rebuild CaImAn's F and background
            traces, background = caiman_dff_inputs(args.file, args.trace_key or "estimates/C")
        traces = dff(traces, fs, window_s=args.dff_window, percentile=args.dff_percentile,
                     background=background)
        meta["dff"] = {"window_s": args.dff_window, "percentile": args.dff_percentile,
                       "baseline": "running percentile" + (" + CaImAn background"
                                                           if background is not None else "")}
    src = Path(args.file)
    stem = _stem_arg(args) if args.output else Path(src.stem if src.suffix else src.name)
    save_for_tuning(traces, fs, stem, metadata=meta, inputs=_inputs(args))
    what = "dF/F traces" if args.dff else "traces"
    print(f"Wrote {traces.shape[0]} {what} x {traces.shape[1]} frames at {fs} Hz to "
          f"{stem}.npy and {stem}_metadata.json")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import numpy as np

    traces, fs, meta = _read(args)
    finite = np.isfinite(traces)
    rows = []
    for i, row in enumerate(traces):
        ok = row[finite[i]]
        rows.append({
            "row": i,
            "nan": int(np.isnan(row).sum()),
            "min": float(ok.min()) if ok.size else None,
            "max": float(ok.max()) if ok.size else None,
            "mean": float(ok.mean()) if ok.size else None,
            "std": float(ok.std()) if ok.size else None,
        })
    info = {
        "file": str(args.file),
        "shape": list(traces.shape),
        "dtype": meta.get("dtype", "<f8"),
        "sampling_rate_hz": fs,
        "duration_s": traces.shape[1] / fs if fs else None,
        "nan_count": int(np.isnan(traces).sum()),
        "inf_count": int(np.isinf(traces).sum()),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"file:        {info['file']}")
    print(f"shape:       {traces.shape[0]} cells x {traces.shape[1]} frames")
    print(f"dtype:       {info['dtype']}")
    rate = f"{fs} Hz ({info['duration_s']:.2f} s)" if fs else "unknown (pass --fs when tuning)"
    print(f"sampling:    {rate}")
    print(f"non-finite:  {info['nan_count']} NaN, {info['inf_count']} Inf")
    shown = rows if args.all_rows else rows[:20]
    print(f"{'row':>5} {'nan':>6} {'min':>11} {'max':>11} {'mean':>11} {'std':>11}")

    def fmt(v: float | None) -> str:
        return f"{v:11.4g}" if v is not None else f"{'-':>11}"

    for r in shown:
        print(f"{r['row']:5d} {r['nan']:6d} {fmt(r['min'])} {fmt(r['max'])} {fmt(r['mean'])} "
              f"{fmt(r['std'])}")
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more rows (--all-rows to show them)")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from . import simulation
    from .io import _tuning_files, _tuning_payload

    stem = _stem_arg(args)
    config = getattr(simulation.presets, args.preset)(
        num_cells=args.cells, num_timepoints=args.frames, fs=args.fs, seed=args.seed
    )
    sim = simulation.simulate(config)
    arr, text = _tuning_payload(sim.traces, args.fs,
                                {"source": "calab simulate", "preset": args.preset,
                                 "seed": args.seed, "simulation_config": config.model_dump()})
    npy, side = _tuning_files(stem)
    spikes = stem.with_name(stem.name + "_spikes.npy")
    with _output_set(args, npy, side, spikes) as files:
        files.npy(npy, arr)
        with files.open(side, "w") as fh:
            fh.write(text)
        files.npy(spikes, sim.spikes)
    print(f"Simulated {args.cells} {args.preset} cells x {args.frames} frames at {args.fs} Hz -> "
          f"{stem}.npy, {stem}_metadata.json, {stem}_spikes.npy (ground truth)")
    return 0


def _cmd_movie(args: argparse.Namespace) -> int:
    from .scale import deconvolve_movie

    extra = {"positive": False} if args.method == "l0" and args.unconstrained else {}
    try:
        res = deconvolve_movie(
            args.movie, args.output, method=args.method, fs=args.fs, tau_decay=args.tau_decay,
            tau_rise=args.tau_rise, gamma=args.gamma, lambda_=args.lam, dataset=args.dataset,
            chunk_pixels=args.chunk_pixels, dtype="float64" if args.float64 else "float32",
            scheduler=args.scheduler, progress=not args.no_progress, overwrite=args.overwrite,
            **extra,
        )
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    frames, height, width = res.shape
    extra_out = f" (+ {res.pixels_path})" if res.pixels_path is not None else ""
    print(f"Deconvolved {height} x {width} pixels x {frames} frames with {args.method} in "
          f"{res.n_tiles} tiles of {res.tile[0]} x {res.tile[1]} -> {res.path} "
          f"[{res.activity}; per pixel: {', '.join(res.pixel_fields)}]{extra_out}")
    return 0


def _add_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE",
                   help="traces: .npy (cells x time), .npz or .mat (with --key when it holds "
                        "several arrays) or a save_for_tuning stem")
    p.add_argument("--key", help="array / variable name inside a .npz or .mat file")


def _add_nan_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nan-policy", choices=["raise", "interpolate"], default="raise",
                   help="NaN/Inf samples (missing frames): refuse them (raise, default) or fill "
                        "them as CaTune does, a line across each gap (interpolate)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calab", description="Calcium-imaging deconvolution (CaLab)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="tune a simulated recording in CaTune, then deconvolve it and write results",
        description="Simulate a recording with ground truth, open CaTune on it through the local "
        "bridge, and once parameters are exported deconvolve every cell with them, writing "
        "results and a figure. --headless skips the browser and uses the true kinetics.",
    )
    demo.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--preset", default="gcamp6f",
                      choices=["gcamp6f", "gcamp6m", "gcamp6s", "jgcamp8f", "ogb1", "clean"])
    demo.add_argument("--cells", type=_positive_int, default=30,
                      help="number of cells (default 30)")
    demo.add_argument("--duration", type=_positive_float, default=300.0,
                      help="seconds (default 300)")
    demo.add_argument("--fs", type=_positive_float, default=30.0,
                      help="sampling rate, Hz (default 30)")
    demo_lambda = float(solver_defaults()["demo_lambda"])
    demo.add_argument("--lam", type=_non_negative_float, default=demo_lambda,
                      help=f"sparsity lambda (default {demo_lambda:g})")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    demo.add_argument("--headless", action="store_true",
                      help="no browser: deconvolve with the true kinetics and --lam at once")
    demo.add_argument("--no-browser", action="store_true",
                      help="print the CaTune URL instead of opening a browser")
    demo.add_argument("--port", type=_port, default=None, help="bridge port (default: any free)")
    demo.add_argument("--timeout", type=_positive_float, default=None,
                      help="seconds to wait for an export (default: no limit)")
    demo.set_defaults(func=_cmd_demo)

    tune = sub.add_parser(
        "tune", help="open CaTune on a traces file and print the exported parameters (JSON)",
        description="Serve FILE to CaTune over a local bridge (127.0.0.1) and wait for an export. "
                    "The export JSON is printed to stdout; exit 1 if nothing was exported.",
    )
    _add_file(tune)
    tune.add_argument("--fs", type=_positive_float, help="sampling rate, Hz (default: from FILE)")
    tune.add_argument("--port", type=_port, help="bridge port (default: any free port)")
    tune.add_argument("--no-browser", action="store_true", help="print the URL, do not open it")
    tune.add_argument("--timeout", type=_positive_float, help="give up after this many seconds")
    tune.add_argument("--app-url", help="hosted CaTune URL to use instead of the bundled app")
    tune.set_defaults(func=_cmd_tune)

    app = sub.add_parser(
        "app", help="serve CaTune or CaDecon on 127.0.0.1 to open your own files, offline",
        description="Serve the bundled app on http://127.0.0.1 (browsers do not run it from a "
                    "file:// page) and open it; load .npy, .npz or .mat files in the page. "
                    "Nothing is uploaded. Runs until Ctrl-C.",
    )
    app.add_argument("app", choices=["catune", "cadecon"], help="which app")
    app.add_argument("--port", type=_port, help="port on 127.0.0.1 (default: any free port)")
    app.add_argument("--no-browser", action="store_true", help="print the URL, do not open it")
    app.set_defaults(func=_cmd_app)

    dec = sub.add_parser(
        "deconvolve", help="deconvolve a traces file, automatically or with a CaTune export",
        description="Without --params: learn the kernel from FILE, choose the sparsity from each "
                    "cell's noise and deconvolve every row with L1 (needs the frame rate: "
                    "--fs, or stored in FILE). With --params: apply a CaTune export (its solver, "
                    "L1, L0 or Convar, with the filter and drift flags). The activity is written "
                    "as .npy (atomically): L1 activity, L0 spikes or Convar rates.",
    )
    _add_file(dec)
    dec.add_argument("--params", metavar="EXPORT.json",
                     help="CaTune export JSON (default: everything from the data)")
    dec.add_argument("--fs", type=_positive_float,
                     help="sampling rate, Hz, for the automatic path (default: from FILE)")
    dec.add_argument("-o", "--output", required=True, metavar="OUT",
                     help="activity output (.npy added if missing)")
    dec.add_argument("--full", action="store_true",
                     help="also write OUT_diagnostics.npz (baseline, reconvolution, noise, "
                          "converged, then the solver's own values, e.g. iterations)")
    dec.add_argument("--chunk-size", type=_positive_int, default=64,
                     help="rows per solver call (default 64)")
    dec.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_nan_policy(dec)
    dec.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the batch on this Dask scheduler (e.g. tcp://host:8786), "
                          "--chunk-size rows per task; needs pip install 'calab[dask]'")
    _add_nwb(dec, "OUT.nwb")
    dec.set_defaults(func=_cmd_deconvolve)

    mov = sub.add_parser(
        "movie", help="deconvolve a frames x height x width movie pixel by pixel",
        description="Deconvolve every pixel of MOVIE (.npy, .zarr or .h5/.hdf5, frames x height x "
                    "width) tile by tile, without loading it whole, and write the result with the "
                    "same layout to OUT (.zarr group, or .npy plus OUT_pixels.npz with per-pixel "
                    "baseline etc.), under a temporary name renamed at the end. With --scheduler "
                    "the tiles run on a Dask cluster that sees the same files.",
    )
    mov.add_argument("movie", metavar="MOVIE", help="input movie (.npy, .zarr, .h5/.hdf5)")
    mov.add_argument("-o", "--output", required=True, metavar="OUT", help="output .zarr or .npy")
    mov.add_argument("--method", choices=["convar", "l1", "l0"], default="convar",
                     help="solver (default convar): convar and l0 use an AR(1) decay gamma, l1 "
                          "the double-exponential kernel (needs --tau-rise, --tau-decay, --lam)")
    mov.add_argument("--fs", type=_positive_float, required=True, help="frame rate, Hz")
    mov.add_argument("--tau-decay", type=_positive_float, metavar="S",
                     help="decay time constant, s (gives gamma for convar/l0)")
    mov.add_argument("--tau-rise", type=_positive_float, metavar="S",
                     help="rise time constant, s (l1)")
    mov.add_argument("--gamma", type=float, help="AR(1) decay per frame (convar, l0)")
    mov.add_argument("--lam", type=float,
                     help="sparsity weight (required for l1 and l0; convar picks one per pixel "
                          "when omitted)")
    mov.add_argument("--unconstrained", action="store_true",
                     help="l0: allow negative jumps (positive=False)")
    mov.add_argument("--dataset", help="array/dataset name inside a .zarr group or .h5 file")
    mov.add_argument("--chunk-pixels", type=_positive_int, default=1024,
                     help="pixels per tile/task (default 1024; rounded to the input's chunks)")
    mov.add_argument("--float64", action="store_true", help="write float64 (default float32)")
    mov.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (default: solve here, tile by tile)")
    mov.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    mov.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    mov.set_defaults(func=_cmd_movie)

    cad = sub.add_parser(
        "cadecon", help="learn the kernel and activity automatically (InDeCa)",
        description="Run CaDecon (InDeCa: kernel and activity learned from the data) on FILE, in "
                    "the browser app over the local bridge (--headless: in headless Chromium, "
                    "started automatically) or natively (--native), and write STEM_activity.npy "
                    "(spike counts per frame) and STEM_results.json (and STEM.nwb with --nwb).")
    _add_file(cad)
    cad.add_argument("-o", "--output", required=True, metavar="STEM", help="output stem")
    cad.add_argument("--fs", type=_positive_float, help="sampling rate, Hz (default: from FILE)")
    mode = cad.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true",
                      help="run in headless Chromium (starts the run by itself)")
    mode.add_argument("--native", action="store_true",
                      help="run the same algorithm natively, without a browser")
    cad.add_argument("--autorun", action="store_true",
                     help="start the run as soon as the app has loaded the data")
    cad.add_argument("--port", type=_port, help="bridge port (default: any free port)")
    cad.add_argument("--no-browser", action="store_true", help="print the URL, do not open it")
    cad.add_argument("--timeout", type=_positive_float, help="give up after this many seconds")
    cad.add_argument("--app-url", help="hosted CaDecon URL to use instead of the bundled app")
    cad.add_argument("--no-progress", action="store_true", help="do not print progress")
    _add_nan_policy(cad)
    cad.add_argument("--upsample-target", type=_positive_float, metavar="HZ",
                     help="infer spikes on a grid of about this rate "
                          "(default 90; at or below the frame rate: none)")
    cad.add_argument("--hp-filter", action=argparse.BooleanOptionalAction, default=None,
                     help="high-pass filter derived from the kernel")
    cad.add_argument("--lp-filter", action=argparse.BooleanOptionalAction, default=None,
                     help="low-pass filter derived from the kernel")
    cad.add_argument("--max-iterations", type=_positive_int)
    cad.add_argument("--convergence-tol", type=_positive_float)
    cad.add_argument("--num-subsets", type=_positive_int)
    cad.add_argument("--coverage", type=_positive_float, help="target coverage of the subsets")
    cad.add_argument("--aspect-ratio", type=_positive_float, help="subset aspect ratio")
    cad.add_argument("--seed", type=int)
    _add_nwb(cad, "STEM.nwb")
    cad.set_defaults(func=_cmd_cadecon)

    conv = sub.add_parser(
        "convert", help="convert CaImAn / Minian / Suite2p / NWB output for tuning",
        description="Read a pipeline's traces and write STEM.npy + STEM_metadata.json, with "
                    "--dff as dF/F against a running-percentile baseline (raw Suite2p F, NWB "
                    "raw fluorescence, CaImAn with its background) (needs: pip install "
                    "'calab[loaders]' for caiman, minian and nwb).",
    )
    conv.add_argument("file", metavar="FILE",
                      help="CaImAn .hdf5, Minian folder, Suite2p plane folder or .nwb file")
    conv.add_argument("--format", required=True, choices=["caiman", "minian", "suite2p", "nwb"])
    conv.add_argument("-o", "--output", metavar="STEM", help="output stem (default: FILE's name)")
    conv.add_argument("--fs", type=_positive_float, help="sampling rate, Hz (overrides the file)")
    conv.add_argument("--trace-key", help="dataset/array with the traces (caiman, minian)")
    conv.add_argument("--series", help="RoiResponseSeries name or path (nwb)")
    conv.add_argument("--neuropil", type=float, default=0.7,
                      help="suite2p neuropil coefficient (default 0.7)")
    conv.add_argument("--no-neuropil", action="store_true", help="suite2p: use F as is")
    conv.add_argument("--all-rois", action="store_true", help="suite2p: keep non-cell ROIs too")
    conv.add_argument("--dff", action="store_true",
                      help="write dF/F = (F - F0) / F0, F0 the running percentile of each trace "
                           "(caiman: of F = C + YrA plus the background under the component, "
                           "as CaImAn's detrend_df_f)")
    conv.add_argument("--dff-window", type=_positive_float, default=DFF_WINDOW_S, metavar="S",
                      help=f"--dff: running-percentile window, seconds (default {DFF_WINDOW_S:g}, "
                           "Suite2p's)")
    conv.add_argument("--dff-percentile", type=_percent, default=DFF_PERCENTILE, metavar="P",
                      help=f"--dff: baseline percentile, 0-100 (default {DFF_PERCENTILE:g}, "
                           "Suite2p's and CaImAn's)")
    conv.set_defaults(func=_cmd_convert)

    info = sub.add_parser("info", help="describe a traces file",
                          description="Shape, dtype, sampling rate, non-finite counts and "
                                      "per-row statistics of FILE.")
    _add_file(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.add_argument("--all-rows", action="store_true", help="show every row, not just 20")
    info.set_defaults(func=_cmd_info)

    sim = sub.add_parser("simulate", help="write a simulated recording for tuning",
                         description="Simulate a recording with ground truth and save it as "
                                     "STEM.npy, STEM_metadata.json and STEM_spikes.npy.")
    sim.add_argument("--preset", default="gcamp6f", choices=_PRESETS)
    sim.add_argument("--cells", type=_positive_int, default=20, help="number of cells (20)")
    sim.add_argument("--frames", type=_positive_int, default=3000, help="frames (3000)")
    sim.add_argument("--fs", type=_positive_float, default=30.0, help="sampling rate, Hz (30)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("-o", "--output", required=True, metavar="STEM", help="output stem")
    sim.set_defaults(func=_cmd_simulate)
    return parser


def _os_message(exc: OSError) -> str:
    """``Permission denied: out/act.npy`` rather than ``2`` or ``[Errno 13] ...``."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return exc.strerror or str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 1 no result (cancelled, timed out, browser closed,
    a missing optional package, not enough memory, an internal error); 2 refused: bad arguments,
    bad or missing input files, outputs that cannot be written, an unreachable scheduler."""
    from ._outputs import OutputError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SolverError as exc:
        print(f"calab: error [{exc.code}]: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except (UsageError, OutputError) as exc:
        print(f"calab: error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"calab: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"calab: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"calab: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"calab: error: not enough memory ({exc or 'an allocation failed'})",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("calab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
