"""Makers of hostile input files, shared by the reader tests, the CLI regression tests and the
fuzz targets. Each writes a small file that claims (or would cost) far more than it holds."""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def npy_header(shape: tuple[int, ...], descr: str = "<f8", fortran: bool = False) -> bytes:
    """A version 1.0 .npy header (magic + length + padded dict)."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": shape})
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def huge_header_npy(path: Path, shape: tuple[int, ...] = (2_000_000, 2_000_000)) -> Path:
    """Declares terabytes, holds 64 bytes."""
    path.write_bytes(npy_header(shape) + bytes(64))
    return path


def sparse_npy(path: Path, nbytes: int) -> Path:
    """A complete, well-formed .npy of ``nbytes`` of zeros, written sparse (no disk used)."""
    n = nbytes // 8
    head = npy_header((1, n))
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + 8 * n)
    return path


def bomb_npz(path: Path, inflated: int, dtype: str = "<f4") -> Path:
    """A deflated .npz whose one member inflates from ~inflated/1000 to ``inflated`` bytes."""
    n = inflated // np.dtype(dtype).itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("traces.npy", "w", force_zip64=True) as fh:
        fh.write(npy_header((1, n), dtype))
        block = bytes(1 << 22)
        left = n * np.dtype(dtype).itemsize
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def _patch_sizes(data: bytearray, name: bytes, size: int) -> None:
    """Set the uncompressed size of member ``name`` in its local header and central entry."""
    i = data.find(b"PK\x03\x04")
    assert data[i + 30: i + 30 + len(name)] == name
    data[i + 22: i + 26] = struct.pack("<I", size)
    j = data.find(b"PK\x01\x02")
    assert data[j + 46: j + 46 + len(name)] == name
    data[j + 24: j + 28] = struct.pack("<I", size)


def lying_npz(path: Path, declared: int = 3_000_000_000) -> Path:
    """A small deflated .npz whose zip directory declares ``declared`` bytes uncompressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("traces.npy", "w") as fh:
            np.save(fh, np.zeros((2, 1000)))
    data = bytearray(path.read_bytes())
    _patch_sizes(data, b"traces.npy", declared)
    path.write_bytes(bytes(data))
    return path


def small_member_big_header_npz(path: Path) -> Path:
    """A stored .npz member of a few bytes whose npy header declares a huge array."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("traces.npy", npy_header((100_000, 100_000)) + bytes(16))
    return path


def bad_crc_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, traces=rng.random((3, 200)))
    data = bytearray(path.read_bytes())
    i = data.find(b"traces.npy") + 400  # inside the stored array data
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def truncated_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, traces=rng.random((3, 200)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def deep_json(depth: int = 100_000, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def tuning_stem(folder: Path, name: str, meta: Any, raw_meta: str | None = None) -> Path:
    """``name.npy`` (2 x 100) and ``name_metadata.json`` holding ``meta`` (or ``raw_meta``)."""
    np.save(folder / f"{name}.npy", np.random.default_rng(1).random((2, 100)))
    text = raw_meta if raw_meta is not None else json.dumps(meta)
    (folder / f"{name}_metadata.json").write_text(text)
    return folder / name


class _Payload:
    """Unpickling this runs ``os.system`` (touches a marker file) under a general unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


def suite2p_folder(folder: Path, *, iscell: Any = None, ops: Any = None,
                   n: int = 4, t: int = 300) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    f = rng.random((n, t)) + 1.0
    np.save(folder / "F.npy", f)
    np.save(folder / "Fneu.npy", 0.1 * f)
    if iscell is None:
        iscell = np.array([[1.0, 0.9]] * n)
    np.save(folder / "iscell.npy", np.asarray(iscell), allow_pickle=False)
    if ops is not None:
        write_pickled_npy(folder / "ops.npy", ops)
    return folder


def write_pickled_npy(path: Path, obj: Any, protocol: int = 3) -> None:
    """An object .npy (what np.save(..., allow_pickle=True) writes) at any pickle protocol."""
    with open(path, "wb") as fh:
        fh.write(npy_header((), "|O"))
        pickle.dump(np.array(obj, dtype=object), fh, protocol=protocol)


def evil_ops(marker: Path) -> dict[str, Any]:
    return {"fs": 30.0, "nplanes": 1, "payload": _Payload(marker)}


def caiman_huge(path: Path) -> Path:
    """estimates/C declared 10^6 x 10^6 float64 (chunked, never written: a tiny file)."""
    import h5py

    with h5py.File(path, "w") as fh:
        fh.create_dataset("estimates/C", shape=(10**6, 10**6), dtype="f8", chunks=(1, 1024))
        fh["params/data/fr"] = 30.0
    return path


def caiman_group(path: Path, where: str = "estimates/C") -> Path:
    """A CaImAn file with a group where ``where`` should be a dataset."""
    import h5py

    with h5py.File(path, "w") as fh:
        for key in ("estimates/C", "params/data/fr", "estimates/idx_components"):
            if key == where:
                fh.create_group(key).create_dataset("x", data=[1.0])
            elif key == "estimates/C":
                fh[key] = np.random.default_rng(3).random((3, 200))
            elif key == "params/data/fr":
                fh[key] = 30.0
            else:
                fh[key] = np.array([0, 2])
    return path
