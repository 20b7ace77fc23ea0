"""The one reader of the files calab takes in: ``.npy``, ``.npz``, ``.mat`` (v4/v5 through
``scipy.io``, v7.3 through ``h5py``) and the JSON files beside them, for every entry point (the
CLI's ``tune``, ``info``, ``cadecon``, ``deconvolve``, ``convert`` and Python's
:func:`calab.io.load_traces_file`, :func:`calab.io.load_tuning_data`, the pipeline loaders).

A data file is not a trusted program, so nothing here unpickles (``allow_pickle`` is never used;
Suite2p's pickled ``ops.npy`` goes through :func:`load_plain_pickle`, which builds only plain
containers, numbers, strings and numpy arrays), and nothing is allocated before the file has been
shown to hold it: an ``.npy`` header's shape is checked against the bytes that follow it, and
every array against :func:`max_input_bytes` (``CALAB_MAX_INPUT_BYTES``, default 4 GiB) before
the first byte of data is read. Compressed members (``.npz``) are also refused when they expand
more than :data:`BOMB_RATIO` times beyond :data:`BOMB_MIN_BYTES` (a zip bomb), unless the limit
was set explicitly. Every refusal is a :class:`calab.FileFormatError` (:class:`calab.TooLargeError`
for the limits) that names the file and the problem, never numpy's advice to allow pickles.
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import pickle
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._errors import FileFormatError, TooLargeError

ENV_LIMIT = "CALAB_MAX_INPUT_BYTES"
#: Largest array (bytes as stored) read without ``CALAB_MAX_INPUT_BYTES`` set.
DEFAULT_MAX_INPUT_BYTES = 4 << 30
#: Compressed members expanding more than this ratio ...
BOMB_RATIO = 100
#: ... to more than this many bytes are refused unless the limit was set explicitly.
BOMB_MIN_BYTES = 256 << 20
#: Largest JSON file (metadata sidecar, CaTune export) read.
MAX_JSON_BYTES = 64 << 20
#: Longest ``.npy`` header accepted (numpy itself writes a few hundred bytes).
MAX_NPY_HEADER = 65536

_NPY_MAGIC = b"\x93NUMPY"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NUMPY2 = int(np.__version__.split(".")[0]) >= 2
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _conventions() -> dict[str, Any]:
    path = Path(__file__).resolve().parent / "_schemas" / "trace-files.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


_CONV = _conventions()
#: Scalar ``.mat`` variables giving the sampling rate (schemas/trace-files.json).
MAT_FS_NAMES: tuple[str, ...] = tuple(_CONV["mat_sampling_rate_names"]["value"])
#: Largest sampling rate a file may declare, Hz (schemas/trace-files.json).
MAX_FILE_FS_HZ = float(_CONV["max_sampling_rate_hz"]["value"])


# --------------------------------------------------------------------------- limits


def _human(n: int) -> str:
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if v < 1024 or unit == "PiB":
            return f"{int(v)} B" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{n} B"  # pragma: no cover


def max_input_bytes() -> int | None:
    """The size limit for one array read from a file: ``CALAB_MAX_INPUT_BYTES`` (a byte count
    with an optional K/M/G/T suffix, or ``none`` for no limit), else 4 GiB."""
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    if raw.lower() in ("none", "unlimited", "inf"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", raw.lower())
    if not m:
        raise FileFormatError(
            f"{ENV_LIMIT}={raw!r} is not a size; use e.g. 16G, 500M, 1000000 or none"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _explicit_limit() -> bool:
    return bool(os.environ.get(ENV_LIMIT, "").strip())


def check_size(nbytes: int, where: str, what: str = "an array of") -> None:
    """Refuse ``nbytes`` beyond :func:`max_input_bytes` with a message that says how to allow it."""
    limit = max_input_bytes()
    if limit is not None and nbytes > limit:
        raise TooLargeError(
            f"{where} declares {what} {_human(nbytes)}, more than calab reads by default "
            f"({_human(limit)}). If the data is real and fits in memory, set {ENV_LIMIT} "
            f"(e.g. {ENV_LIMIT}={max(1, -(-nbytes // (1 << 30)))}G, or none) and run again."
        )


# --------------------------------------------------------------------------- .npy


class NpyHeader(NamedTuple):
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool
    #: Bytes of array data the header declares.
    nbytes: int


def _read_exact(fh: IO[bytes], n: int, where: str, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise FileFormatError(f"{where} ends inside its {what} (truncated file)")
    return data


def read_npy_header(fh: IO[bytes], where: str) -> NpyHeader:
    """Parse an ``.npy`` header from ``fh`` (positioned at the magic) without reading data."""
    magic = fh.read(8)
    if len(magic) < 8 or magic[:6] != _NPY_MAGIC:
        raise FileFormatError(
            f"{where} is not a .npy file (it starts with {magic[:8]!r}, not the .npy magic "
            "\\x93NUMPY)"
        )
    major, minor = magic[6], magic[7]
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
        raise FileFormatError(f"{where}: .npy format version {major}.{minor} is not supported")
    len_bytes = _read_exact(fh, 2 if major == 1 else 4, where, "header")
    hlen = int.from_bytes(len_bytes, "little")
    if hlen > MAX_NPY_HEADER:
        raise FileFormatError(f"{where}: the .npy header claims {hlen} bytes (limit "
                              f"{MAX_NPY_HEADER}); the file is corrupt")
    raw = _read_exact(fh, hlen, where, "header")
    try:
        text = raw.decode("utf8" if major == 3 else "latin1")
        header = ast.literal_eval(text)
    except (UnicodeDecodeError, ValueError, SyntaxError, MemoryError, RecursionError,
            TypeError):
        raise FileFormatError(f"{where}: the .npy header is not readable") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise FileFormatError(f"{where}: the .npy header must have descr, fortran_order and "
                              f"shape, got {str(header)[:200]}")
    shape = header["shape"]
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                       for d in shape)):
        raise FileFormatError(f"{where}: the .npy header's shape {str(shape)[:100]} is not a "
                              "tuple of non-negative integers")
    if not isinstance(header["fortran_order"], bool):
        raise FileFormatError(f"{where}: the .npy header's fortran_order is not true/false")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except (TypeError, ValueError, KeyError, IndexError, RecursionError):
        raise FileFormatError(f"{where}: the .npy header's dtype {str(header['descr'])[:100]} "
                              "is not a valid numpy dtype") from None
    if dtype.hasobject:
        raise FileFormatError(
            f"{where} holds Python objects (dtype {dtype}), stored as a pickle; calab reads "
            "numeric arrays only and never unpickles a data file. Save the traces as a numeric "
            "array (e.g. np.save(path, np.asarray(traces, dtype=float)))."
        )
    if dtype.itemsize == 0:
        raise FileFormatError(f"{where}: the .npy dtype {dtype} has no size")
    nbytes = math.prod(shape) * dtype.itemsize
    return NpyHeader(dtype, tuple(shape), bool(header["fortran_order"]), nbytes)


def _read_body(fh: IO[bytes], head: NpyHeader, available: int, where: str) -> NDArray[Any]:
    if head.nbytes > available:
        raise FileFormatError(
            f"{where} declares a {head.dtype} array of shape {head.shape} ({_human(head.nbytes)}) "
            f"but holds only {_human(max(0, available))} after its header (truncated or corrupt)"
        )
    check_size(head.nbytes, where)
    count = head.nbytes // head.dtype.itemsize if head.dtype.itemsize else 0
    buf = bytearray(head.nbytes)
    view = memoryview(buf)
    got = 0
    while got < head.nbytes:
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise FileFormatError(f"{where} ends inside its data (truncated file)")
        got += n
    arr: NDArray[Any] = np.frombuffer(buf, dtype=head.dtype, count=count)
    if head.fortran_order:
        return arr.reshape(head.shape[::-1]).transpose()
    return arr.reshape(head.shape)


def read_npy(path: str | os.PathLike[str]) -> NDArray[Any]:
    """Read one ``.npy`` array with every check above (no pickles, no oversized allocation)."""
    p = Path(path)
    where = str(p)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = read_npy_header(fh, where)
            return _read_body(fh, head, size - fh.tell(), where)
    except IsADirectoryError:
        raise FileFormatError(f"{where} is a folder, not a .npy file") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {where}") from None
    except MemoryError:
        raise TooLargeError(f"{where}: not enough memory to read it") from None


# --------------------------------------------------------------------------- .npz


def _zip_error(where: str, exc: BaseException) -> FileFormatError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, zipfile.BadZipFile) and "not a zip file" in text:
        text = "no zip directory at its end (truncated, or not an .npz at all)"
    return FileFormatError(f"{where} is not a readable .npz (zip) file: {text}")


def npz_names(zf: zipfile.ZipFile) -> list[str]:
    return [i.filename[:-4] if i.filename.endswith(".npy") else i.filename
            for i in zf.infolist() if not i.is_dir()]


def read_npz(path: str | os.PathLike[str], key: str | None = None) -> tuple[NDArray[Any], str]:
    """One array of an ``.npz`` (``key`` picks it; the only one when omitted) and its name.

    The member's declared size is checked against the limit (and the bomb ratio) before it is
    opened; zipfile stops at the declared size and checks the CRC, which is verified here by
    reading the member to its end.
    """
    p = Path(path)
    where = str(p)
    try:
        zf = zipfile.ZipFile(p)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {where}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{where} is a folder, not an .npz file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, OverflowError) as exc:
        raise _zip_error(where, exc) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = npz_names(zf)
        if not infos:
            raise FileFormatError(f"{where} is an empty .npz (no arrays)")
        if key is None:
            if len(infos) != 1:
                raise FileFormatError(f"{where} holds arrays {names}; choose one with --key / "
                                      "key=")
            info = infos[0]
        else:
            matches = [i for i, n in zip(infos, names) if n == key or i.filename == key]
            if not matches:
                raise FileFormatError(f"{where} has no array {key!r}; it holds {names}")
            info = matches[0]
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        member = f"{where}[{name}]"
        check_size(info.file_size, member, "a member of")
        if (info.compress_type != zipfile.ZIP_STORED and not _explicit_limit()
                and info.file_size > BOMB_MIN_BYTES
                and info.file_size > BOMB_RATIO * max(1, info.compress_size)):
            raise TooLargeError(
                f"{member} expands from {_human(info.compress_size)} to "
                f"{_human(info.file_size)} ({info.file_size // max(1, info.compress_size)}x), "
                f"more than calab inflates by default (a zip bomb?). If the file is genuine, set "
                f"{ENV_LIMIT} explicitly (e.g. {ENV_LIMIT}="
                f"{max(1, -(-info.file_size // (1 << 30)))}G) and run again."
            )
        try:
            with zf.open(info) as fh:
                head = read_npy_header(fh, member)
                arr = _read_body(fh, head, info.file_size - fh.tell(), member)
                while fh.read(1 << 20):  # the rest (normally nothing): zipfile checks the CRC
                    pass
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
                ValueError, NotImplementedError, RuntimeError, OverflowError) as exc:
            if isinstance(exc, FileFormatError):
                raise
            raise _zip_error(member, exc) from None
        except MemoryError:
            raise TooLargeError(f"{member}: not enough memory to read it") from None
    return arr, name


# --------------------------------------------------------------------------- .mat


def _mat_fs(values: dict[str, Any], where: str) -> float | None:
    """The sampling rate stored in a .mat file, from the first MAT_FS_NAMES scalar present."""
    lower = {k.lower(): k for k in values}
    for name in MAT_FS_NAMES:
        if name in lower:
            value = np.asarray(values[lower[name]])
            if value.size == 1 and value.dtype.kind in "iuf":
                return check_file_fs(float(value.reshape(-1)[0]), f"{where}:{lower[name]}")
    return None


def _pick(candidates: dict[str, NDArray[Any]], key: str | None, where: str,
          others: Iterable[str]) -> tuple[NDArray[Any], str]:
    if key is not None:
        if key not in candidates:
            raise FileFormatError(f"{where} has no numeric matrix {key!r}; numeric matrices: "
                                  f"{sorted(candidates)}; other variables: {sorted(others)}")
        return candidates[key], key
    if len(candidates) == 1:
        name = next(iter(candidates))
        return candidates[name], name
    if not candidates:
        raise FileFormatError(f"{where} holds no numeric matrix with more than one value "
                              f"(variables: {sorted(others)})")
    raise FileFormatError(f"{where} holds several numeric matrices {sorted(candidates)}; "
                          "choose one with --key / key=")


_MAT_ITEMSIZE = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
                 "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "logical": 1}


def _is_mat73(head: bytes) -> bool:
    return b"MATLAB 7.3" in head[:128] or head[512:520] == _HDF5_MAGIC


def read_mat(path: str | os.PathLike[str],
             key: str | None = None) -> tuple[NDArray[Any], str, float | None]:
    """One numeric matrix of a MATLAB file (``key`` picks it), its name and the stored rate.

    v4 and v5 (``save -v7``, ``scipy.io.savemat``) files are read with ``scipy.io``, v7.3 files
    (HDF5) with ``h5py``, both optional (``pip install 'calab[loaders]'``). A scalar variable
    named like a sampling rate (:data:`MAT_FS_NAMES`) gives the rate.
    """
    p = Path(path)
    where = str(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(528)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {where}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{where} is a folder, not a .mat file") from None
    if _is_mat73(head):
        return _read_mat73(p, key)
    try:
        import scipy.io
    except ImportError:
        raise ImportError("reading .mat files needs scipy: pip install 'calab[loaders]'") from None
    try:
        listing = scipy.io.whosmat(str(p))
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on a hostile file
        raise FileFormatError(f"{where} is not a readable MATLAB file: "
                              f"{type(exc).__name__}: {str(exc)[:200]}") from None
    numeric = {}
    fs_vars = []
    for name, shape, cls in listing:
        if cls not in _MAT_ITEMSIZE:
            continue
        dims = [int(d) for d in shape]
        if any(d < 0 for d in dims):
            raise FileFormatError(f"{where}: variable {name!r} has negative dimensions {dims}")
        count = math.prod(dims)
        check_size(count * _MAT_ITEMSIZE[cls], f"{where}:{name}")
        if count > 1:
            numeric[name] = dims
        elif count == 1 and name.lower() in MAT_FS_NAMES:
            fs_vars.append(name)
    others = [name for name, _, _ in listing if name not in numeric]
    if key is not None and key not in numeric:
        raise FileFormatError(f"{where} has no numeric matrix {key!r}; numeric matrices: "
                              f"{sorted(numeric)}; other variables: {sorted(others)}")
    wanted = ([key] if key is not None else list(numeric)) + fs_vars
    try:
        values = scipy.io.loadmat(str(p), variable_names=wanted, squeeze_me=False,
                                  struct_as_record=True, mat_dtype=False)
    except MemoryError:
        raise TooLargeError(f"{where}: not enough memory to read it") from None
    except Exception as exc:  # noqa: BLE001 - as above
        raise FileFormatError(f"{where} is not a readable MATLAB file: "
                              f"{type(exc).__name__}: {str(exc)[:200]}") from None
    candidates = {}
    for name in numeric:
        v = values.get(name)
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            candidates[name] = v
    arr, name = _pick(candidates, key, where, others)
    return arr, name, _mat_fs({k: values[k] for k in fs_vars if k in values}, where)


def _read_mat73(p: Path, key: str | None) -> tuple[NDArray[Any], str, float | None]:
    where = str(p)
    try:
        import h5py
    except ImportError:
        raise ImportError("reading MATLAB v7.3 files needs h5py: pip install 'calab[loaders]'"
                          ) from None
    try:
        fh = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError and others
        raise FileFormatError(f"{where} is not a readable MATLAB v7.3 (HDF5) file: "
                              f"{str(exc)[:200]}") from None
    with fh:
        numeric: dict[str, Any] = {}
        scalars: dict[str, Any] = {}
        others = []
        for name in list(fh.keys()):
            try:
                node = fh[name]
            except Exception:  # noqa: BLE001 - a broken link in a hostile file
                others.append(name)
                continue
            cls = node.attrs.get("MATLAB_class", b"") if isinstance(node, h5py.Dataset) else b""
            cls = cls.decode("ascii", "replace") if isinstance(cls, bytes) else str(cls)
            if not isinstance(node, h5py.Dataset) or cls not in _MAT_ITEMSIZE \
                    or node.dtype.kind not in "biuf" or name.startswith("#"):
                others.append(name)
                continue
            count = math.prod(node.shape)
            check_size(count * node.dtype.itemsize, f"{where}:{name}")
            if count > 1:
                numeric[name] = node
            elif count == 1:
                scalars[name] = node
        arr_node, name = _pick(numeric, key, where, others + list(scalars))
        try:
            # MATLAB stores column-major: h5py sees the dimensions reversed.
            arr = np.asarray(arr_node[()]).T
            fs_vals = {n: np.asarray(v[()]) for n, v in scalars.items()
                       if n.lower() in MAT_FS_NAMES}
        except MemoryError:
            raise TooLargeError(f"{where}:{name}: not enough memory to read it") from None
        except Exception as exc:  # noqa: BLE001 - corrupt chunks, filters, ...
            raise FileFormatError(f"{where}:{name} could not be read: {str(exc)[:200]}"
                                  ) from None
    return arr, name, _mat_fs(fs_vals, where)


# --------------------------------------------------------------------------- JSON


def read_json(path: str | os.PathLike[str], what: str = "JSON") -> Any:
    """Parse a JSON file of at most :data:`MAX_JSON_BYTES`; deep nesting, bad UTF-8 and bad
    syntax are refused as :class:`calab.FileFormatError`."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_JSON_BYTES:
            raise TooLargeError(f"{p} is {_human(size)}; a {what} file is expected to be small "
                                f"(limit {_human(MAX_JSON_BYTES)})")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {p}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{p} is a folder, not a {what} file") from None
    return parse_json(raw, str(p), what)


def parse_json(raw: bytes | str, where: str, what: str = "JSON") -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{where} is not UTF-8 text ({what}): {exc}") from None
    except RecursionError:
        raise FileFormatError(f"{where}: the {what} is nested too deeply to parse (deeper than "
                              "Python's recursion limit)"
                              ) from None
    except ValueError as exc:
        raise FileFormatError(f"{where} is not valid {what}: {exc}") from None


# --------------------------------------------------------------------------- checks


def check_file_fs(value: Any, where: str) -> float:
    """A sampling rate read from a file: a real number (not a bool), > 0, finite and at most
    :data:`MAX_FILE_FS_HZ`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise FileFormatError(f"{where}: the sampling rate must be a number in Hz, got "
                              f"{value!r}")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_FILE_FS_HZ:
        raise FileFormatError(f"{where}: the sampling rate must be a positive number of Hz up "
                              f"to {MAX_FILE_FS_HZ:g}, got {value!r}")
    return rate


def check_shape_list(value: Any, where: str) -> list[int]:
    if (not isinstance(value, list) or len(value) > 32
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                       for d in value)):
        raise FileFormatError(f"{where}: shape must be a list of non-negative integers, got "
                              f"{str(value)[:100]}")
    return value


def sniff(path: Path) -> str:
    """``"npy"``, ``"npz"``, ``"mat"`` or ``""`` from a file's first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(528)
    except OSError:
        return ""
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"MATLAB") or _is_mat73(head):
        return "mat"
    return ""


# --------------------------------------------------------------------------- plain pickles


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler that builds only what a Suite2p ``ops`` dict is made of."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("collections", "OrderedDict"),
        ("datetime", "datetime"),  # Suite2p stores ops["date_proc"]
        ("datetime", "date"),
        ("datetime", "timedelta"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PurePosixPath"),
        ("pathlib", "PureWindowsPath"),
    }

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle

        # Python 2 names (protocols 0-2), mapped the way pickle itself maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not a plain data type")
        if module.startswith("numpy.core.") and _NUMPY2:
            module = "numpy._core." + module[len("numpy.core."):]  # numpy 1 pickles, no shim
        elif module.startswith("numpy._core.") and not _NUMPY2:
            module = "numpy.core." + module[len("numpy._core."):]
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not plain data")


def load_plain_pickle(path: str | os.PathLike[str]) -> Any:
    """The object in a pickled ``.npy`` (Suite2p's ``ops.npy``), built only from plain
    containers, numbers, strings and numpy arrays; anything else (a class, a function to call)
    is refused with :class:`calab.FileFormatError` before it can run."""
    p = Path(path)
    where = str(p)
    size = p.stat().st_size
    check_size(size, where, "a file of")
    data = p.read_bytes()
    fh = io.BytesIO(data)
    magic = fh.read(6)
    if magic != _NPY_MAGIC:
        raise FileFormatError(f"{where} is not a .npy file")
    fh.seek(0)
    try:
        # The header says dtype object; read it with the same parser (object is allowed here).
        major = data[6]
        fh.seek(8)
        hlen = int.from_bytes(fh.read(2 if major == 1 else 4), "little")
        if hlen > MAX_NPY_HEADER:
            raise FileFormatError(f"{where}: the .npy header is corrupt")
        header = ast.literal_eval(fh.read(hlen).decode("utf8" if major == 3 else "latin1"))
        if not isinstance(header, dict) or not str(header.get("descr", "")).startswith("|O"):
            raise FileFormatError(f"{where} does not hold a pickled object (header {header})")
        obj = _PlainUnpickler(fh, encoding="latin1").load()
    except FileFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, SyntaxError, UnicodeDecodeError, RecursionError, OverflowError,
            ImportError, NotImplementedError, struct.error) as exc:
        raise FileFormatError(f"{where} holds something other than plain data, which calab "
                              f"does not unpickle: {str(exc)[:200]}") from None
    except MemoryError:
        raise TooLargeError(f"{where}: not enough memory to read it") from None
    return obj

