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
import contextlib
import io
import json
import math
import os
import pickle
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._errors import FileFormatError, TooLargeError
from ._schema_files import load_schema

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
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


_CONV = load_schema("trace-files.json")
#: Names of a scalar ``.mat`` variable or ``.npz`` member giving the sampling rate, first valid
#: one in this order (schemas/trace-files.json ``fs_variable_names``, as the browser reads them).
FS_NAMES: tuple[str, ...] = tuple(_CONV["fs_variable_names"])
#: Largest sampling rate a file may declare, Hz (schemas/trace-files.json).
MAX_FILE_FS_HZ = float(_CONV["max_sampling_rate_hz"])


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
    except Exception:  # noqa: BLE001 - numpy's dtype parser raises SyntaxError, TypeError, ...
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
    got = 0
    with memoryview(buf) as view:
        while got < head.nbytes:
            with view[got:] as rest:
                n = fh.readinto(rest)  # type: ignore[attr-defined]
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


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> NDArray[Any]:
    """One .npz member, its declared size checked against the limit (and the bomb ratio)
    before it is opened; zipfile stops at the declared size and checks the CRC, which is
    verified here by reading the member to its end."""
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
    return arr


def read_npz(path: str | os.PathLike[str],
             key: str | None = None) -> tuple[NDArray[Any], str, float | None]:
    """One array of an ``.npz`` (``key`` picks it; without a key, the only member that is not
    a stored sampling rate), its name and the rate stored in a member named as in
    :data:`FS_NAMES` (as the browser reads it), or None."""
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
        infos = [i for i in zf.infolist() if i.filename and not i.filename.endswith("/")]
        names = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
        if not infos:
            raise FileFormatError(f"{where} is an empty .npz (no arrays)")
        rates = {n: i for i, n in zip(infos, names) if n in FS_NAMES and i.file_size <= 4096}
        if key is None:
            rest = [i for i, n in zip(infos, names) if n not in rates]
            if len(rest) != 1:
                raise FileFormatError(f"{where} holds arrays {names}; choose one with --key / "
                                      "key=")
            info = rest[0]
        else:
            matches = [i for i, n in zip(infos, names) if n == key or i.filename == key]
            if not matches:
                raise FileFormatError(f"{where} has no array {key!r}; it holds {names}")
            info = matches[0]
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        arr = _read_member(zf, info, where)
        fs = stored_fs({n: _read_member(zf, i, where) for n, i in rates.items()
                        if i is not info})
    return arr, name, fs


# --------------------------------------------------------------------------- .mat


def stored_fs(values: dict[str, Any]) -> float | None:
    """The sampling rate stored next to the traces (a .mat scalar, an .npz member): the first
    :data:`FS_NAMES` entry, in that order, holding one real number in (0, MAX_FILE_FS_HZ] (the
    rule of ``storedFs`` in ``web/shared/parse.ts``)."""
    for name in FS_NAMES:
        if name not in values:
            continue
        value = np.asarray(values[name])
        if value.size == 1 and value.dtype.kind in "iuf":
            rate = float(value.reshape(-1)[0])
            if math.isfinite(rate) and 0 < rate <= MAX_FILE_FS_HZ:
                return rate
    return None


def _pick(candidates: dict[str, Any], key: str | None, where: str,
          others: Iterable[str]) -> tuple[Any, str]:
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

    Level-5 files (``save -v7``, ``scipy.io.savemat``) are parsed here, with every size checked
    against the bytes present (the way ``web/shared/mat.ts`` reads them in the browser: numeric
    and logical matrices, compressed or not; cells, structs, text and sparse matrices are
    skipped); v7.3 files (HDF5) are read with ``h5py`` (``pip install 'calab[loaders]'``). A
    scalar variable named like a sampling rate (:data:`FS_NAMES`) gives the rate.
    """
    p = Path(path)
    where = str(p)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(528)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {where}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{where} is a folder, not a .mat file") from None
    if _is_mat73(head):
        return _read_mat73(p, key)
    if len(head) < 128:
        raise FileFormatError(f"{where}: only {len(head)} bytes, too short for a .mat file")
    endian = head[126:128]
    if endian not in (b"IM", b"MI"):
        raise FileFormatError(f"{where} is not a MATLAB level-5 file (perhaps a v4 file, or not "
                              "a .mat at all); save it with save(..., '-v7') or '-v7.3', or "
                              "scipy.io.savemat")
    check_size(size, where, "a file of")
    data = p.read_bytes()
    arrays, skipped = _Mat5(data, endian == b"IM", where).variables()
    numeric = {n: a for n, a in arrays.items() if a.size > 1}
    scalars = {n: a for n, a in arrays.items() if a.size == 1}
    others = list(scalars) + [f"{n} ({why})" for n, why in skipped]
    arr, name = _pick(numeric, key, where, others)
    return arr, name, stored_fs(scalars)


_MI = {1: "i1", 2: "u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<f4", 9: "<f8",
       12: "<i8", 13: "<u8"}
_MX_NUMERIC = {6: "double", 7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16",
               12: "int32", 13: "uint32", 14: "int64", 15: "uint64"}
_MX_NAMES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse"}
_MI_MATRIX, _MI_COMPRESSED = 14, 15


class _Mat5:
    """Level-5 MAT parser: tags and sizes checked against the bytes present, decompression
    bounded by the size limit, no allocation larger than what the file holds."""

    def __init__(self, data: bytes, little: bool, where: str) -> None:
        self.data, self.where = data, where
        self.order: Literal["<", ">"] = "<" if little else ">"

    def _elements(self, buf: bytes | memoryview) -> Iterable[tuple[int, memoryview]]:
        view = memoryview(buf)
        p, n = 0, len(view)
        while p + 8 <= n:
            first, count = struct.unpack_from(self.order + "II", view, p)
            small = first >> 16
            if small:
                if small > 4:
                    raise FileFormatError(f"{self.where}: a small data element claims {small} "
                                          "bytes (at most 4 fit)")
                yield first & 0xFFFF, view[p + 4: p + 4 + small]
                p += 8
                continue
            if p + 8 + count > n:
                raise FileFormatError(f"{self.where}: an element at byte {p} needs {count} bytes "
                                      "but the data ends first (truncated file)")
            yield first, view[p + 8: p + 8 + count]
            p += 8 + (count if first == _MI_COMPRESSED else -(-count // 8) * 8)

    def _inflate(self, raw: memoryview) -> bytes:
        limit = max_input_bytes()
        d = zlib.decompressobj()
        try:
            out = d.decompress(raw, (limit + 1) if limit is not None else 0)
        except zlib.error as exc:
            raise FileFormatError(f"{self.where}: a compressed variable is corrupt ({exc})"
                                  ) from None
        if limit is not None and len(out) > limit:
            check_size(len(out), self.where, "a compressed variable of at least")
        if (not _explicit_limit() and len(out) > BOMB_MIN_BYTES
                and len(out) > BOMB_RATIO * max(1, len(raw))):
            raise TooLargeError(
                f"{self.where}: a compressed variable expands from {_human(len(raw))} to "
                f"{_human(len(out))}, more than calab inflates by default (a zip bomb?). If the "
                f"file is genuine, set {ENV_LIMIT} explicitly and run again.")
        return out

    def variables(self) -> tuple[dict[str, NDArray[Any]], list[tuple[str, str]]]:
        arrays: dict[str, NDArray[Any]] = {}
        skipped: list[tuple[str, str]] = []

        def visit(kind: int, body: memoryview, depth: int) -> None:
            if kind == _MI_COMPRESSED and depth == 0:
                for sub_kind, sub in self._elements(self._inflate(body)):
                    visit(sub_kind, sub, depth + 1)
            elif kind == _MI_MATRIX and len(body):
                name, out = self._matrix(body)
                if isinstance(out, str):
                    skipped.append((name, out))
                elif name not in arrays:
                    arrays[name] = out

        for kind, body in self._elements(memoryview(self.data)[128:]):
            visit(kind, body, 0)
        return arrays, skipped

    def _matrix(self, body: memoryview) -> tuple[str, NDArray[Any] | str]:
        parts = list(self._elements(body))
        if len(parts) < 3:
            raise FileFormatError(f"{self.where}: a matrix element is incomplete")
        (ft, flags_b), (dt, dims_b), (_nt, name_b) = parts[:3]
        if len(flags_b) < 4 or len(dims_b) % 4:
            raise FileFormatError(f"{self.where}: a matrix element has a malformed header")
        flags = struct.unpack_from(self.order + "I", flags_b, 0)[0]
        cls, complex_, logical = flags & 0xFF, bool(flags & 0x0800), bool(flags & 0x0200)
        dims = list(struct.unpack(self.order + f"{len(dims_b) // 4}i", dims_b))
        name = bytes(name_b).decode("latin1", "replace") or "(unnamed)"
        if cls not in _MX_NUMERIC:
            return name, f"{_MX_NAMES.get(cls, f'class {cls}')} variables are not matrices"
        if complex_:
            return name, "complex values are not supported"
        if any(d < 0 for d in dims):
            raise FileFormatError(f"{self.where}: variable {name!r} has negative dimensions "
                                  f"{dims}")
        if len(parts) < 4:
            raise FileFormatError(f"{self.where}: variable {name!r} has no data (truncated)")
        kind, real = parts[3]
        code = _MI.get(kind)
        if code is None:
            return name, f"storage type {kind} is not supported"
        dtype = np.dtype(code).newbyteorder(self.order) if code[0] in "<>" else np.dtype(code)
        count = math.prod(dims)
        check_size(count * dtype.itemsize, f"{self.where}:{name}")
        if len(real) < count * dtype.itemsize:
            raise FileFormatError(f"{self.where}: variable {name!r} has fewer values than its size "
                                  f"{'x'.join(map(str, dims))} (truncated file)")
        values = np.frombuffer(real, dtype=dtype, count=count).astype(dtype.newbyteorder("="))
        kept = dims if len(dims) <= 2 else [d for d in dims if d != 1] or [1]
        if len(kept) > 2:
            return name, f"size {'x'.join(map(str, dims))} is not 1-D or 2-D"
        shape = kept if len(kept) == 2 else kept + [1]
        out = values.reshape(shape, order="F")
        if out.shape[0] == 1 or out.shape[1] == 1:
            out = out.reshape(-1)  # a row or column vector is one trace
        if logical:
            out = out.astype(bool)
        return name, out


@contextlib.contextmanager
def hdf5_damage(path: Path, kind: str, keep: tuple[type[BaseException], ...],
                out_of_memory: type[FileFormatError | TooLargeError]) -> Iterator[None]:
    """Errors libhdf5 raises while walking a damaged ``kind`` file (RuntimeError, OSError,
    KeyError, ...) become FileFormatError; the ``keep`` exceptions pass through, and running out
    of memory raises ``out_of_memory``."""
    try:
        yield
    except keep:
        raise
    except MemoryError:
        raise out_of_memory(f"{path}: not enough memory to read it") from None
    except Exception as exc:  # noqa: BLE001 - libhdf5 raises almost anything on a damaged file
        raise FileFormatError(f"{path} is a damaged {kind} file: {type(exc).__name__}: "
                              f"{str(exc)[:200]}") from None


def _read_mat73(p: Path, key: str | None) -> tuple[NDArray[Any], str, float | None]:
    with hdf5_damage(p, "MATLAB v7.3 (HDF5)", (FileFormatError, ImportError), TooLargeError):
        return _read_mat73_unchecked(p, key)


def _read_mat73_unchecked(p: Path, key: str | None) -> tuple[NDArray[Any], str, float | None]:
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
            fs_vals = {n: np.asarray(v[()]) for n, v in scalars.items() if n in FS_NAMES}
        except MemoryError:
            raise TooLargeError(f"{where}:{name}: not enough memory to read it") from None
        except Exception as exc:  # noqa: BLE001 - corrupt chunks, filters, ...
            raise FileFormatError(f"{where}:{name} could not be read: {str(exc)[:200]}"
                                  ) from None
    return arr, name, stored_fs(fs_vals)


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


_SIMPLE_DTYPE = re.compile(r"[<>|=]?(?:[biufcOSUV]\d{0,3}|[Mm]8(?:\[\w+\])?|bool|object|"
                           r"float\d{0,3}|u?int\d{0,2}|complex\d{0,3}|str|bytes)")


class _DtypeSpec:
    """Stands in for ``numpy.dtype`` while unpickling: numpy's own ``dtype.__setstate__``
    trusts its state (a crafted one crashes the process), so the state is only read for the
    byte order and the dtype is built from its type string."""

    def __init__(self, obj: Any = None, align: Any = False, copy: Any = False) -> None:
        if not isinstance(obj, str) or not _SIMPLE_DTYPE.fullmatch(obj):
            raise pickle.UnpicklingError(f"dtype {str(obj)[:40]!r} is not a plain type")
        self.obj, self.byteorder = obj, "="

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in "<>|=" or \
                not isinstance(state[1], str) or any(x is not None for x in state[2:5]):
            raise pickle.UnpicklingError("a dtype with fields or subarrays is not plain data")
        self.byteorder = state[1]

    def get(self) -> np.dtype[Any]:
        try:
            d = np.dtype(self.obj)
        except TypeError:
            raise pickle.UnpicklingError(f"dtype {self.obj!r} is not valid") from None
        if self.byteorder in "<>" and d.byteorder not in "|":
            d = d.newbyteorder("<" if self.byteorder == "<" else ">")
        if d.hasobject and d.kind != "O":
            raise pickle.UnpicklingError("structured object dtypes are not plain data")
        return d


class _ArraySpec:
    """Stands in for an ``ndarray`` while unpickling (``_reconstruct`` + ``__setstate__``);
    checked and built afterwards by :func:`_materialize`."""

    def __init__(self, *_args: Any) -> None:
        self.state: tuple[Any, ...] | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("an ndarray state is malformed")
        self.state = state[-4:]


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > 32 or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**62 for d in value):
        raise pickle.UnpicklingError(f"shape {str(value)[:60]} is not a tuple of sizes")
    return value


def _buffer_array(data: Any, dtype: np.dtype[Any], shape: tuple[int, ...],
                  fortran: bool) -> NDArray[Any]:
    if isinstance(data, pickle.PickleBuffer):
        data = bytes(data.raw())
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("array data is not bytes")
    count = math.prod(shape)
    if dtype.itemsize == 0 or len(data) != count * dtype.itemsize:
        raise pickle.UnpicklingError(f"array data of {len(data)} bytes does not fit shape "
                                     f"{shape} of {dtype}")
    arr = np.frombuffer(bytes(data), dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).T.copy() if fortran else arr.reshape(shape).copy()


def _materialize(obj: Any, depth: int = 0) -> Any:
    """Replace the stand-ins by real numpy objects, checking every array's state."""
    if depth > 200:
        raise pickle.UnpicklingError("the object is nested too deeply")
    if isinstance(obj, _ArraySpec):
        if obj.state is None:
            raise pickle.UnpicklingError("an ndarray without state")
        shape, spec, fortran, raw = obj.state
        shape = _shape(shape)
        if not isinstance(spec, _DtypeSpec) or not isinstance(fortran, bool):
            raise pickle.UnpicklingError("an ndarray state is malformed")
        dtype = spec.get()
        if dtype.kind == "O":
            if not isinstance(raw, list) or len(raw) != math.prod(shape):
                raise pickle.UnpicklingError("an object array's items do not fit its shape")
            out = np.empty(len(raw), dtype=object)
            for i, item in enumerate(raw):
                out[i] = _materialize(item, depth + 1)
            return out.reshape(shape[::-1]).T if fortran else out.reshape(shape)
        return _buffer_array(raw, dtype, shape, fortran)
    if isinstance(obj, _DtypeSpec):
        return obj.get()
    if isinstance(obj, dict):
        return type(obj)((_materialize(k, depth + 1), _materialize(v, depth + 1))
                         for k, v in obj.items())
    if isinstance(obj, list):
        return [_materialize(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, depth + 1) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(_materialize(v, depth + 1) for v in obj)
    return obj


def _np_scalar(spec: Any, data: Any = None) -> Any:
    if not isinstance(spec, _DtypeSpec):
        raise pickle.UnpicklingError("a numpy scalar without a dtype")
    dtype = spec.get()
    if dtype.kind == "O":
        return data
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("a numpy scalar's bytes do not fit its dtype")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _np_frombuffer(buf: Any, spec: Any, shape: Any, order: Any) -> NDArray[Any]:
    if not isinstance(spec, _DtypeSpec) or order not in ("C", "F"):
        raise pickle.UnpicklingError("an array buffer is malformed")
    dtype = spec.get()
    if dtype.kind == "O":
        raise pickle.UnpicklingError("object arrays cannot come from a buffer")
    return _buffer_array(buf, dtype, _shape(shape), order == "F")


def _from_items(kind: type) -> Any:
    def make(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple)):
            raise pickle.UnpicklingError(f"{kind.__name__} from {type(items).__name__} is not "
                                         "plain data")
        return kind(items)

    return make


def _bytearray(data: Any = b"", encoding: Any = None) -> bytearray:
    if isinstance(data, (bytes, bytearray)) and encoding is None:
        return bytearray(data)
    if isinstance(data, str) and encoding in ("latin1", "latin-1"):
        return bytearray(data, "latin1")
    raise pickle.UnpicklingError("a bytearray from anything but bytes is not plain data")


def _latin1(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text encodes to bytes here")
    return text.encode("latin1")


class _PlainUnpickler(pickle._Unpickler):
    """Unpickler that builds only what a Suite2p ``ops`` dict is made of. numpy objects are
    built by stand-ins (see :class:`_DtypeSpec`) so that no numpy ``__setstate__`` ever sees a
    state from the file. It is pickle's pure-Python unpickler: its memo is a dict, so a
    ``LONG_BINPUT`` of index 2**32 costs one entry (the C unpickler grows an array to that
    index: tens of GB), and lengths are read from an in-memory copy of a size-checked file."""

    _NUMPY = {
        "_reconstruct": _ArraySpec,
        "scalar": _np_scalar,
        "_frombuffer": _np_frombuffer,
        "dtype": _DtypeSpec,
        "ndarray": _ArraySpec,
    }
    _PLAIN: dict[tuple[str, str], Any] = {
        ("_codecs", "encode"): _latin1,
        ("builtins", "set"): _from_items(set),
        ("builtins", "frozenset"): _from_items(frozenset),
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): _bytearray,
        ("collections", "OrderedDict"): _from_items(__import__("collections").OrderedDict),
        ("datetime", "datetime"): __import__("datetime").datetime,  # Suite2p's date_proc
        ("datetime", "date"): __import__("datetime").date,
        ("datetime", "timedelta"): __import__("datetime").timedelta,
        ("pathlib", "PosixPath"): __import__("pathlib").PurePosixPath,
        ("pathlib", "PurePosixPath"): __import__("pathlib").PurePosixPath,
        ("pathlib", "WindowsPath"): __import__("pathlib").PureWindowsPath,
        ("pathlib", "PureWindowsPath"): __import__("pathlib").PureWindowsPath,
    }
    _NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                      "numpy.core.numeric", "numpy._core.numeric")

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle

        # Python 2 names (protocols 0-2), mapped the way pickle itself maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if module in self._NUMPY_MODULES and name in self._NUMPY:
            return self._NUMPY[name]
        if (module, name) in self._PLAIN:
            return self._PLAIN[(module, name)]
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain data type")

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
        obj = _materialize(_PlainUnpickler(fh, encoding="latin1").load())
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

