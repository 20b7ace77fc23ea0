"""File I/O for the CaTune workflow: traces saved for tuning, CaTune parameter exports, and
batch deconvolution from an export.

Everything written here goes to a temporary file in the target folder first and is moved into
place with ``os.replace``, so a crash or Ctrl-C never leaves a half-written file under the final
name. The export layout is defined once, in ``schemas/catune-export.schema.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _gaps, _readers
from ._errors import FileFormatError, ShapeMismatchError, UnsupportedVersionError
from ._schema_files import export_schema_version, read_schema

PathLike = Union[str, "os.PathLike[str]"]

#: Version of the ``{stem}_metadata.json`` sidecar written by :func:`save_for_tuning`.
TUNING_METADATA_VERSION = "1.0.0"
#: Version of the CaTune export layout this calab writes and fully understands (the ``default`` of
#: ``schema_version`` in ``schemas/catune-export.schema.json``, which the browser app reads too).
EXPORT_SCHEMA_VERSION = export_schema_version()
#: Exports up to this major version can be read.
_EXPORT_MAJOR = 1

__all__ = [
    "EXPORT_SCHEMA_VERSION",
    "build_export",
    "deconvolve_from_export",
    "export_schema",
    "load_export_params",
    "load_traces_file",
    "load_tuning_data",
    "save_for_tuning",
]


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def _atomic_writer(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on success fsync and move it over ``path``."""
    from ._outputs import create_temp

    fd, tmp = create_temp(path)  # mode 0666 less the umask, like any file the user writes
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable")


def write_json_atomic(path: PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=False)
    with _atomic_writer(Path(path), "w") as fh:
        fh.write(text + "\n")


def save_npy_atomic(path: PathLike, array: ArrayLike) -> None:
    """``np.save`` to ``path`` atomically (no pickles)."""
    with _atomic_writer(Path(path)) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def save_npz_atomic(path: PathLike, **arrays: ArrayLike) -> None:
    """``np.savez`` to ``path`` atomically."""
    with _atomic_writer(Path(path)) as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- traces for tuning


def _stem(path: PathLike) -> Path:
    p = Path(path)
    if p.name.endswith("_metadata.json"):
        return p.with_name(p.name[: -len("_metadata.json")])
    return p.with_suffix("") if p.suffix == ".npy" else p


def _as_saveable(traces: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(traces)
    if arr.dtype.kind not in "biuf":
        raise ShapeMismatchError(f"traces must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ShapeMismatchError(
            f"traces must be 1-D (one trace) or 2-D (cells x time), got shape {arr.shape}"
        )
    arr2 = arr.reshape(1, -1) if arr.ndim == 1 else arr
    if arr2.shape[1] == 0:
        raise ShapeMismatchError(f"traces have no time points (shape {arr.shape})")
    return np.ascontiguousarray(arr2, dtype="<f8")


def _check_fs(fs: Any, what: str = "fs") -> float:
    try:
        val = float(fs)
    except (TypeError, ValueError):
        raise FileFormatError(f"{what} must be a number in Hz, got {fs!r}") from None
    if not math.isfinite(val) or val <= 0:
        raise FileFormatError(f"{what} must be a positive, finite rate in Hz, got {fs!r}")
    return val


def _tuning_files(path: PathLike) -> tuple[Path, Path]:
    """(``STEM.npy``, ``STEM_metadata.json``) of a tuning stem."""
    stem = _stem(path)
    return stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + "_metadata.json")


def _tuning_payload(traces: ArrayLike, fs: float,
                    metadata: Mapping[str, Any] | None) -> tuple[NDArray[np.float64], str]:
    """The array and the sidecar text :func:`save_for_tuning` writes (checked, not written)."""
    arr = _as_saveable(traces)
    rate = _check_fs(fs)
    meta: dict[str, Any] = dict(metadata or {})
    meta.update(
        schema_version=TUNING_METADATA_VERSION,
        sampling_rate_hz=rate,
        num_cells=int(arr.shape[0]),
        num_timepoints=int(arr.shape[1]),
        shape=[int(arr.shape[0]), int(arr.shape[1])],
        dtype="<f8",
    )
    return arr, json.dumps(meta, indent=2, default=_json_default) + "\n"


def save_for_tuning(
    traces: ArrayLike, fs: float, path: PathLike, metadata: Mapping[str, Any] | None = None,
    *, inputs: Iterable[PathLike] = (),
) -> None:
    """Save traces for CaTune: ``{path}.npy`` plus a ``{path}_metadata.json`` sidecar.

    Parameters
    ----------
    traces : array_like
        Shape ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``; stored as a 2-D, C-ordered,
        little-endian float64 (``<f8``) array, the layout CaTune's ``.npy`` reader expects.
    fs : float
        Sampling rate in Hz.
    path : str or Path
        Output stem (a trailing ``.npy`` is dropped).
    metadata : dict, optional
        Extra JSON-serialisable keys for the sidecar; the built-in keys (``schema_version``,
        ``sampling_rate_hz``, ``num_cells``, ``num_timepoints``, ``shape``, ``dtype``) win.
    inputs : paths, optional
        Files that must not be overwritten (the sources of a conversion): an output that is the
        same file as one of them is refused.

    The two files are written as one set (temporary files renamed together; see
    ``calab._outputs``), so an interrupted save leaves the old pair or the new one.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from calab.io import save_for_tuning, load_tuning_data
    >>> stem = os.path.join(tempfile.mkdtemp(), "rec")
    >>> save_for_tuning(np.zeros((2, 50)), 30.0, stem, {"animal": "m1"})
    >>> traces, meta = load_tuning_data(stem)
    >>> traces.shape, meta["sampling_rate_hz"], meta["animal"]
    ((2, 50), 30.0, 'm1')
    """
    from ._outputs import OutputSet

    arr, text = _tuning_payload(traces, fs, metadata)  # fail before writing anything
    npy, side = _tuning_files(path)
    with OutputSet([npy, side], inputs=list(inputs)) as files:
        files.npy(npy, arr)
        with files.open(side, "w") as fh:
            fh.write(text)


def _load_npy(path: Path) -> NDArray[Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if _readers.sniff(path) == "npz":
        raise FileFormatError(f"{path} holds several arrays (an .npz), not one .npy array")
    return _readers.read_npy(path)


def load_tuning_data(path: PathLike) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Load traces and sidecar written by :func:`save_for_tuning` (``path`` is the stem).

    Returns ``(traces, metadata)``: a 2-D float64 array and the sidecar dict.
    """
    stem = _stem(path)
    npy = stem.with_name(stem.name + ".npy")
    side = stem.with_name(stem.name + "_metadata.json")
    missing = [str(p) for p in (npy, side) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing {' and '.join(missing)} (expected a save_for_tuning stem)"
        )
    meta = _readers.read_json(side, "metadata JSON")
    if not isinstance(meta, dict):
        raise FileFormatError(f"{side} must hold a JSON object, got {type(meta).__name__}")
    shape = meta.get("shape")
    if shape is not None:
        _readers.check_shape_list(shape, str(side))
    meta["sampling_rate_hz"] = _readers.check_file_fs(meta.get("sampling_rate_hz"),
                                                      f"{side}: sampling_rate_hz")
    arr = _load_npy(npy)
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise FileFormatError(f"{npy} must hold a 2-D numeric array, got {arr.dtype} {arr.shape}")
    if shape is not None and list(shape) != list(arr.shape):
        raise FileFormatError(f"{npy} has shape {arr.shape} but {side} says {shape}")
    return np.ascontiguousarray(arr, dtype=np.float64), meta


def load_traces_file(
    path: PathLike, key: str | None = None
) -> tuple[NDArray[np.float64], float | None, dict[str, Any]]:
    """Read traces from a ``.npy``, a ``.npz`` or ``.mat`` (``key`` picks the array) or a tuning
    stem (``save_for_tuning``).

    Returns ``(traces 2-D float64, fs or None, metadata)``: the rate comes from a stem's sidecar
    or from a ``.mat`` file's scalar (an ``.npz`` file's member) ``fs`` (or ``Fs``, ``fps``,
    ``frame_rate``, ...: the names in ``schemas/trace-files.json``, as the browser reads them).
    Non-finite values are kept. This is the reader of every CLI command; a file is never
    unpickled, and arrays larger than ``CALAB_MAX_INPUT_BYTES`` (default 4 GiB) are refused
    before anything is allocated (:class:`calab.TooLargeError`).
    """
    p = Path(path)
    stem = _stem(p)
    if stem.with_name(stem.name + "_metadata.json").is_file() and p.suffix in ("", ".npy", ".json"):
        traces, side = load_tuning_data(stem)
        return traces, float(side["sampling_rate_hz"]), side
    if not p.exists() and p.suffix != ".npy" and p.with_name(p.name + ".npy").is_file():
        p = p.with_name(p.name + ".npy")
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if p.is_dir():
        raise FileFormatError(f"{p} is a folder, not a traces file (for a pipeline's output "
                              "folder use `calab convert`)")
    kind = {".npy": "npy", ".npz": "npz", ".mat": "mat"}.get(p.suffix.lower()) or _readers.sniff(p)
    fs: float | None = None
    name = None
    if kind == "npz":
        arr, name, fs = _readers.read_npz(p, key)
    elif kind == "mat":
        arr, name, fs = _readers.read_mat(p, key)
    elif kind == "npy":
        arr = _load_npy(p)
    else:
        raise FileFormatError(f"{p} is not a .npy, .npz or .mat file (unknown content)")
    if arr.dtype.kind not in "biuf":
        raise FileFormatError(f"{p} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FileFormatError(
            f"{p} must hold a 1-D trace or a 2-D (cells x time) array, got shape {arr.shape}"
        )
    meta: dict[str, Any] = {"source": str(p), "dtype": arr.dtype.str}
    if name is not None:
        meta["key"] = name
    if fs is not None:
        meta["sampling_rate_hz"] = fs
    return np.ascontiguousarray(arr, dtype=np.float64), fs, meta


# --------------------------------------------------------------------------- CaTune exports


def export_schema() -> dict[str, Any]:
    """The CaTune export JSON Schema (``schemas/catune-export.schema.json``) as a dict."""
    return read_schema("catune-export.schema.json")


def _parse_version(value: Any, where: str) -> tuple[int, int, int]:
    parts = str(value).split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        major, minor, patch = (int(x) for x in parts)
    except ValueError:
        msg = f"{where}: schema_version must look like 1.2.0, got {value!r}"
        raise FileFormatError(msg) from None
    return major, minor, patch


def _number(section: Mapping[str, Any], key: str, where: str) -> float:
    if key not in section:
        raise FileFormatError(f"{where}: parameters.{key} is missing; present: {sorted(section)}")
    val = section[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise FileFormatError(f"{where}: parameters.{key} must be a finite number, got {val!r}")
    return float(val)


def params_from_export(export: Any, where: str = "export") -> dict[str, Any]:
    """Check an export dict (schema 1.x) and return the flat parameter dict.

    Keys: ``tau_rise``, ``tau_decay``, ``lambda_``, ``fs``, ``filter_enabled`` and the full
    export under ``export``.
    """
    if not isinstance(export, dict):
        raise FileFormatError(
            f"{where}: a CaTune export is a JSON object, got {type(export).__name__}"
        )
    if "schema_version" in export:
        major, _, _ = _parse_version(export["schema_version"], where)
        if major > _EXPORT_MAJOR or major < 1:
            raise UnsupportedVersionError(
                f"{where}: export schema_version {export['schema_version']} is not supported; "
                f"this calab reads 1.x (writes {EXPORT_SCHEMA_VERSION}); upgrade calab"
            )
    elif "catune_version" not in export:
        raise FileFormatError(
            f"{where}: not a CaTune export (no schema_version or catune_version); "
            f"top-level keys: {sorted(export)}"
        )
    params = export.get("parameters")
    if not isinstance(params, dict):
        raise FileFormatError(f"{where}: 'parameters' object is missing; keys: {sorted(export)}")
    tau_r = _number(params, "tau_rise_s", where)
    tau_d = _number(params, "tau_decay_s", where)
    lam = _number(params, "lambda", where)
    fs = _number(params, "sampling_rate_hz", where)
    if not 0 < tau_r < tau_d:
        raise FileFormatError(f"{where}: need 0 < tau_rise_s < tau_decay_s, got {tau_r}, {tau_d}")
    if lam < 0:
        raise FileFormatError(f"{where}: lambda must be >= 0, got {lam}")
    fs = _readers.check_file_fs(fs, f"{where}: parameters.sampling_rate_hz")
    flt = params.get("filter_enabled", False)
    if not isinstance(flt, bool):
        raise FileFormatError(f"{where}: parameters.filter_enabled must be true/false, got {flt!r}")
    out: dict[str, Any] = {
        "tau_rise": tau_r,
        "tau_decay": tau_d,
        "lambda_": lam,
        "fs": fs,
        "filter_enabled": flt,
        "export": export,
    }
    solver = params.get("solver", "l1")
    if solver not in _SOLVERS:
        raise FileFormatError(f"{where}: parameters.solver must be one of {list(_SOLVERS)}, "
                              f"got {solver!r}")
    if solver != "l1":  # an L1 export keeps exactly the keys it always had
        out["solver"] = solver
        out["solver_params"] = _solver_params(solver, params.get("solver_params"), where)
    return out


_SOLVERS = ("l1", "l0", "convar")


def _solver_params(solver: str, sp: Any, where: str) -> dict[str, Any]:
    """Check parameters.solver_params of an l0 / convar export (schema 1.3)."""
    if not isinstance(sp, dict):
        raise FileFormatError(f"{where}: parameters.solver_params is missing for solver "
                              f"{solver!r} (needs lambda and gamma)")
    gamma = _number(sp, "gamma", where)
    if not 0 < gamma < 1:
        raise FileFormatError(f"{where}: solver_params.gamma must be in (0, 1), got {gamma}")
    if solver == "l0":
        lam = _number(sp, "lambda", where)
        positive = sp.get("positive")
        if not isinstance(positive, bool):
            raise FileFormatError(f"{where}: solver_params.positive must be true/false, "
                                  f"got {positive!r}")
        if lam < 0:
            raise FileFormatError(f"{where}: solver_params.lambda must be >= 0, got {lam}")
        return {"lambda": lam, "positive": positive, "gamma": gamma}
    lam_c = None if sp.get("lambda") is None else _number(sp, "lambda", where)
    if lam_c is not None and lam_c < 0:
        raise FileFormatError(f"{where}: solver_params.lambda must be >= 0 or null, got {lam_c}")
    return {"lambda": lam_c, "gamma": gamma}


def load_export_params(path: PathLike) -> dict[str, Any]:
    """Load deconvolution parameters from a CaTune export JSON (schema 1.1.0 to 1.3.x).

    Returns a dict with ``tau_rise`` and ``tau_decay`` (seconds), ``lambda_``, ``fs`` (Hz),
    ``filter_enabled`` and the whole parsed file under ``export``. Exports of the L0 or Convar
    solver (schema 1.3) also have ``solver`` (``"l0"`` / ``"convar"``) and ``solver_params``
    (``lambda``, ``gamma`` and, for L0, ``positive``); an export without a solver means L1. An
    export with a newer major ``schema_version`` raises :class:`~calab.UnsupportedVersionError`.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such export file: {p}")
    export = _readers.read_json(p, "CaTune export JSON")
    return params_from_export(export, str(p))


def build_export(
    tau_rise: float,
    tau_decay: float,
    lambda_: float,
    fs: float,
    *,
    filter_enabled: bool = False,
    remove_drift: bool = False,
    solver: str = "l1",
    solver_params: Mapping[str, Any] | None = None,
    num_cells: int = 0,
    num_timepoints: int = 0,
    cell_indices: list[int] | None = None,
    source_filename: str | None = None,
    catune_version: str | None = None,
) -> dict[str, Any]:
    """Build a schema-1.3.0 CaTune export dict (the same layout the browser app writes).

    For ``solver="l0"`` give ``solver_params={"lambda": ..., "positive": ...}``, for
    ``solver="convar"`` ``{"lambda": ... or None}``; ``gamma`` defaults to
    ``exp(-1 / (tau_decay fs))``.
    """
    from . import _solver
    from ._compute import build_kernel, kernel_shape

    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {list(_SOLVERS)}, got {solver!r}")
    extra: dict[str, Any] = {}
    if solver != "l1":
        sp = dict(solver_params or {})
        sp.setdefault("gamma", math.exp(-1.0 / (float(tau_decay) * float(fs))))
        sp.setdefault("lambda", None if solver == "convar" else float(lambda_))
        if solver == "l0":
            sp.setdefault("positive", True)
        extra["solver_params"] = _solver_params(solver, sp, "build_export")
    g1, g2, d, r, _gain, dc_gain = _solver.tau_to_ar2(float(tau_rise), float(tau_decay), float(fs))
    peak, fwhm = kernel_shape(tau_rise, tau_decay, fs)
    kern = build_kernel(tau_rise, tau_decay, fs)
    if catune_version is None:
        catune_version = f"calab-python {_solver.__version__}"
    return {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "catune_version": catune_version,
        "export_date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {
            "tau_rise_s": float(tau_rise),
            "tau_decay_s": float(tau_decay),
            "lambda": float(lambda_),
            "sampling_rate_hz": float(fs),
            "filter_enabled": bool(filter_enabled),
            "remove_drift": bool(remove_drift),
            "solver": solver,
            **extra,
        },
        "ar2_coefficients": {"g1": g1, "g2": g2, "d": d, "r": r, "dt": 1.0 / float(fs)},
        "kernel": {
            "peak_time_s": float(peak),
            "fwhm_s": float(fwhm),
            "length_samples": int(kern.size),
            "dc_gain": float(dc_gain),
        },
        "formulation": dict(_FORMULATIONS[solver]),
        "metadata": {
            "source_filename": source_filename,
            "num_cells": int(num_cells),
            "num_timepoints": int(num_timepoints),
            "cell_indices": [int(i) for i in (cell_indices or [])],
        },
    }


# The same words as the browser's export (web/shared/export.ts FORMULATIONS), so a file reads the
# same whoever wrote it; tests/python/test_shared_values.py checks the two agree.
_AR1 = "AR(1): c_t = gamma c_{t-1} + s_t, gamma = exp(-1/(tau_decay fs))"
_FORMULATIONS: dict[str, dict[str, str]] = {
    "l1": {
        "objective": "minimize_s 1/2 ||y - (K s + b)||^2 + lambda * dc_gain * ||s||_1 "
                     "subject to s >= 0",
        "kernel": "h(t) = exp(-t/tau_decay) - exp(-t/tau_rise), sampled at 1/fs and normalised "
                  "to peak 1",
        "convergence": "exact non-negative L1 solve (interior point), the method "
                       "calab.run_deconvolution uses",
    },
    "l0": {
        "objective": "minimize_c 1/2 ||y - c||^2 + lambda * #{t >= 2 : s_t != 0}, "
                     "s_t = c_t - gamma c_{t-1} (s_t >= 0 when positive)",
        "kernel": _AR1,
        "convergence": "exact L0 solution by dynamic programming with functional pruning, "
                       "as calab.run_l0",
    },
    "convar": {
        "objective": "Convar: AR(1) deconvolution with a baseline, sparsity lambda "
                     "(searched when null)",
        "kernel": _AR1,
        "convergence": "as calab.run_convar",
    },
}


def _preprocess(arr: NDArray[np.float64], params: Mapping[str, Any],
                remove_drift: bool) -> NDArray[np.float64]:
    """The app's preprocessing (drift removal, then the kernel band-pass), row by row, for the
    solvers that do not apply it themselves (L0, Convar).

    Both steps are the native ones, in the order of ``crates/solver/src/preprocess.rs``; the
    native module has no binding for that function itself yet, so the two are composed here.
    """
    from ._compute import bandpass_filter, estimate_drift

    if not (remove_drift or params["filter_enabled"]):
        return arr
    out = np.empty_like(arr)
    for i, y in enumerate(arr):
        if remove_drift:
            drift = estimate_drift(y, params["tau_decay"], params["fs"])
            y = y - (drift - drift.mean())
        if params["filter_enabled"]:
            y = bandpass_filter(y, params["tau_rise"], params["tau_decay"], params["fs"])
        out[i] = y
    return out


def export_spec(params: Mapping[str, Any]) -> dict[str, Any]:
    """What an export asks to run, as a small picklable dict (sent to Dask workers as is).

    ``params`` comes from :func:`load_export_params` or :func:`calab.tune`. Keys: ``solver``
    (``"l1"``, ``"l0"``, ``"convar"``), ``fs``, ``tau_rise``, ``tau_decay``, ``lambda_``,
    ``filter_enabled``, ``remove_drift`` and ``solver_params`` (None for L1).
    """
    if "export" not in params:
        raise FileFormatError("parameter dict must come from load_export_params (no 'export')")
    if params.get("solver", "l1") != "l1" and "solver_params" not in params:
        params = params_from_export(params["export"])  # a dict from calab.tune(): read it
    exp_params = params["export"].get("parameters", {})
    return {
        "solver": params.get("solver", "l1"),
        "fs": float(params["fs"]),
        "tau_rise": float(params["tau_rise"]),
        "tau_decay": float(params["tau_decay"]),
        "lambda_": float(params["lambda_"]),
        "filter_enabled": bool(params["filter_enabled"]),
        "remove_drift": bool(exp_params.get("remove_drift", False)),
        "solver_params": params.get("solver_params"),
    }


def solve_with_spec(traces: ArrayLike, spec: Mapping[str, Any]) -> Any:
    """Run the solver an :func:`export_spec` names on 1-D or 2-D numpy traces.

    The one place an export turns into a solver call: :func:`deconvolve_from_export` runs it
    chunk by chunk, ``calab deconvolve --scheduler`` runs it on each Dask block, so both give the
    same answer. L0 and Convar get the app's preprocessing here (the L1 core applies its own);
    ``noise`` is always that of the input traces.
    """
    from ._compute import run_deconvolution_full
    from ._result import input_noise
    from ._validate import as_traces

    if spec["solver"] == "l1":
        return run_deconvolution_full(traces, spec["fs"], spec["tau_rise"], spec["tau_decay"],
                                      spec["lambda_"], filter_enabled=spec["filter_enabled"],
                                      remove_drift=spec["remove_drift"])
    arr, was_1d = as_traces(traces)
    sp = spec["solver_params"]
    y = _preprocess(arr, spec, spec["remove_drift"])
    res: Any
    if spec["solver"] == "l0":
        from .l0 import run_l0

        res = run_l0(y[0] if was_1d else y, sp["gamma"], sp["lambda"], positive=sp["positive"])
    else:
        from .convar import run_convar

        res = run_convar(y[0] if was_1d else y, sp["gamma"], sp["lambda"])
    return res._replace(noise=input_noise(arr, was_1d))


def deconvolve_from_export(
    traces: ArrayLike,
    params_path: PathLike | Mapping[str, Any],
    return_full: bool = False,
    *,
    chunk_size: int = 64,
    progress: bool | None = None,
    nan_policy: str = "raise",
) -> Any:
    """Deconvolve traces with the parameters of a CaTune export.

    The export's ``filter_enabled`` and (schema 1.2) ``remove_drift`` flags are applied, and the
    recorded solver runs (schema 1.3): L1 (:func:`calab.run_deconvolution_full`; also every export
    without a solver), L0 (:func:`calab.run_l0` with the recorded ``lambda``, ``positive`` and
    ``gamma``) or Convar (:func:`calab.run_convar`). Whatever ran, the full result is an
    :class:`calab.ActivityResult` (``activity``, ``baseline``, ``reconvolution``, ``noise``,
    ``converged``, then the solver's own fields), and the default return value is its
    ``activity`` (L0: the spikes, Convar: the rates). Rows are solved in chunks of
    ``chunk_size`` with a tqdm progress bar (``progress=None`` shows it only for more than one
    chunk on a terminal); Ctrl-C stops between chunks and raises ``KeyboardInterrupt`` with
    nothing half-done left behind.

    Parameters
    ----------
    traces : array_like
        ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``.
    params_path : str, Path or dict
        Export JSON path, or a dict returned by :func:`load_export_params` / :func:`calab.tune`.
    return_full : bool
        Return the solver's full result (a :class:`~calab.DeconvolutionResult`,
        :class:`~calab.L0Result` or :class:`~calab.ConvarResult`) instead of only the activity.
    nan_policy : {"raise", "interpolate"}
        Refuse NaN / Inf samples (the default) or fill them as CaTune does (see
        :func:`calab.fill_nan`), with a :class:`~calab.FilledFramesWarning` per call.
    """
    from tqdm.auto import tqdm

    from ._result import concat_rows
    from ._validate import as_traces

    params = dict(params_path) if isinstance(params_path, Mapping) else \
        load_export_params(params_path)
    spec = export_spec(params)
    arr, was_1d = as_traces(_gaps.apply(traces, nan_policy))
    if was_1d:
        res = solve_with_spec(arr[0], spec)
        return res if return_full else res.activity
    chunk = max(1, int(chunk_size))
    n = arr.shape[0]
    parts: list[Any] = []
    disable = (n <= chunk) if progress is None else not progress
    with tqdm(total=n, unit="cell", desc="deconvolving", disable=disable, leave=False) as bar:
        for start in range(0, n, chunk):
            parts.append(solve_with_spec(arr[start : start + chunk], spec))
            bar.update(min(chunk, n - start))
    res = concat_rows(parts)
    return res if return_full else res.activity
