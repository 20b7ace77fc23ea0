"""Fuzz targets for calab's file readers: random and mutated .npy, .npz, .mat, metadata JSON,
Suite2p folders and CaImAn HDF5 files, run for a time budget.

Run as ``python _fuzz.py TARGET SECONDS SEED WORKDIR`` (TARGET: npy, npz, mat, metadata, suite2p,
ops_pickle, caiman); prints one JSON line
``{"target", "tried", "accepted", "refused", "failures": [...]}``. Each input is written to
WORKDIR before it is read, so an input that crashes the process is left there. A reader passes
an input when it returns a 2-D float64 array (with its metadata) or raises a calab error
(``calab.SolverError``; the loaders also raise ``KeyError`` for a missing dataset, as
documented); anything else - another exception, a crash - is a failure. The run is deterministic
for a seed: only how far it gets depends on the machine's speed.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import shutil
import struct
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ["CALAB_MAX_INPUT_BYTES"] = "16M"  # a mutated header must not make us allocate GBs

import calab  # noqa: E402
from calab import _readers  # noqa: E402
from calab.io import load_traces_file, load_tuning_data  # noqa: E402

DESCRS = ["<f8", ">f8", "<f4", "<f2", "<i8", "<i4", "|i1", "|u1", "|b1", "<c16", "|O", "|S5",
          "<U3", "|V8", "<M8[s]", "<m8[D]", [("a", "<f8"), ("b", "<i4")], "<f16", "|V0", 7,
          "zz", None]
SHAPES: list[Any] = [(), (0,), (3,), (2, 5), (5, 2), (1, 1), (2, 3, 4), (-1,), (2**40, 2**40),
                     (7, 2**31), "x", (1.5, 2), (True,), [2, 3], None, (2,) * 40]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if not b:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
            continue
        i = rng.randrange(len(b))
        if op == 0:  # flip bits
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random run
            n = rng.randint(1, 16)
            b[i:i + n] = bytes(rng.randrange(256) for _ in range(n))
        elif op == 2:  # truncate
            del b[i:]
        elif op == 3:  # insert
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif op == 4:  # duplicate a chunk
            n = rng.randint(1, 64)
            b[i:i] = b[i:i + n]
        else:  # an interesting integer
            v = rng.choice([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1])
            b[i:i + 4] = struct.pack("<Q", v)[:4]
    return bytes(b)


def _npy_bytes(arr: np.ndarray) -> bytes:
    fh = io.BytesIO()
    np.save(fh, arr, allow_pickle=False)
    return fh.getvalue()


def _random_header(rng: random.Random) -> bytes:
    descr = rng.choice(DESCRS)
    shape = rng.choice(SHAPES)
    header = {"descr": descr, "fortran_order": rng.choice([False, True, 1, "no"]),
              "shape": shape}
    if rng.random() < 0.1:
        header["extra"] = 1
    text = repr(header) if rng.random() < 0.9 else repr(header)[: rng.randrange(40)]
    text += " " * (rng.randrange(64)) + "\n"
    major = rng.choice([1, 1, 2, 3, 9])
    raw = text.encode("utf8" if major == 3 else "latin1", "replace")
    length = struct.pack("<H" if major == 1 else "<I", len(raw) if rng.random() < 0.9
                         else rng.randrange(1 << 16))
    body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 8, 64, 512])))
    return b"\x93NUMPY" + bytes([major, 0]) + length + raw + body


def _seed_arrays(rng: random.Random) -> list[np.ndarray]:
    g = np.random.default_rng(rng.randrange(1 << 30))
    return [g.random((3, 40)), g.random(25).astype(np.float32), (g.random((2, 30)) * 100).astype(
        np.int16), np.asfortranarray(g.random((4, 9))), np.array([[np.nan, 1.0, np.inf]]),
        np.zeros((0, 5)), g.random((2, 3, 4))]


# ---------------------------------------------------------------------------- targets

def gen_npy(rng: random.Random, work: Path) -> Path:
    p = work / "x.npy"
    kind = rng.random()
    if kind < 0.3:
        data = _random_header(rng)
    elif kind < 0.95:
        data = _mutate(rng, _npy_bytes(rng.choice(_seed_arrays(rng))))
    else:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    p.write_bytes(data)
    return p


def gen_npz(rng: random.Random, work: Path) -> Path:
    p = work / "x.npz"
    fh = io.BytesIO()
    arrays = {f"a{i}": a for i, a in enumerate(rng.sample(_seed_arrays(rng), rng.randint(1, 2)))}
    method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    with zipfile.ZipFile(fh, "w", method) as zf:
        for name, a in arrays.items():
            zf.writestr(name + ".npy", _random_header(rng) if rng.random() < 0.2
                        else _npy_bytes(a))
    data = fh.getvalue()
    if rng.random() < 0.85:
        data = _mutate(rng, data)
    p.write_bytes(data)
    return p


_MAT_SEEDS: list[bytes] = []


def _mat_seeds() -> list[bytes]:
    if not _MAT_SEEDS:
        import h5py
        import scipy.io

        x = np.random.default_rng(0).random((3, 30))
        for kwargs in ({}, {"do_compression": True}, {"format": "4"}):
            fh = io.BytesIO()
            extra = {} if kwargs.get("format") == "4" else {"s": "txt", "c": {"a": 1.0}}
            scipy.io.savemat(fh, {"traces": x, "fs": 20.0, **extra}, **kwargs)
            _MAT_SEEDS.append(fh.getvalue())
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"calab-fuzz-seed-{os.getpid()}.mat"
        with h5py.File(tmp, "w", userblock_size=512) as f:
            f.create_dataset("traces", data=x.T).attrs["MATLAB_class"] = np.bytes_("double")
            f.create_dataset("fs", data=np.array([[20.0]])).attrs["MATLAB_class"] = \
                np.bytes_("double")
        with open(tmp, "r+b") as f:
            f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116))
        _MAT_SEEDS.append(tmp.read_bytes())
        tmp.unlink()
    return _MAT_SEEDS


def gen_mat(rng: random.Random, work: Path) -> Path:
    p = work / "x.mat"
    seed = rng.choice(_mat_seeds())
    p.write_bytes(_mutate(rng, seed) if rng.random() < 0.95 else seed)
    return p


def gen_meta(rng: random.Random, work: Path) -> Path:
    np.save(work / "rec.npy", np.random.default_rng(1).random((2, 20)))
    values: list[Any] = [30.0, 0, -1, 1e308, float("nan"), True, "30", None, [30], {"a": 1},
                         2**70, 1e-300]
    meta: Any = {"sampling_rate_hz": rng.choice(values)}
    if rng.random() < 0.5:
        meta["shape"] = rng.choice([[2, 20], [20, 2], 5, "x", [2, "y"], [True, 20], None, [-1]])
    if rng.random() < 0.2:
        depth = rng.choice([10, 500, 5000, 100_000])
        meta["deep"] = json.loads("[" * 10 + "]" * 10) if depth == 10 else None
        text = json.dumps(meta)[:-1] + ', "d": ' + "[" * depth + "]" * depth + "}"
    else:
        text = json.dumps(meta, allow_nan=True)
    if rng.random() < 0.5:
        text = _mutate(rng, text.encode()).decode("utf8", "replace")
    if rng.random() < 0.05:
        text = json.dumps(rng.choice([[1, 2], "s", 3, None]))
    (work / "rec_metadata.json").write_text(text, encoding="utf8", errors="replace")
    return work / "rec"


def _pickle_seed(rng: random.Random) -> bytes:
    ops = {"fs": rng.choice([30.0, np.float64(20.0), "x", -1.0, [1]]),
           "img": np.ones((2, 2), np.float32), "names": ["a"], "n": np.int64(1)}
    fh = io.BytesIO()
    fh.write(b"\x93NUMPY\x01\x00")
    text = repr({"descr": "|O", "fortran_order": False, "shape": ()})
    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
    fh.write(struct.pack("<H", len(text)) + text.encode())
    pickle.dump(np.array(ops, dtype=object), fh, protocol=rng.randint(0, 5))
    return fh.getvalue()


def gen_suite2p(rng: random.Random, work: Path) -> Path:
    plane = work / "plane0"
    if plane.exists():
        shutil.rmtree(plane)
    plane.mkdir()
    g = np.random.default_rng(rng.randrange(1 << 30))
    f = g.random((4, 50))
    files = {"F.npy": _npy_bytes(f), "Fneu.npy": _npy_bytes(0.1 * f),
             "iscell.npy": _npy_bytes(np.array([[1.0, 0.9]] * 4)), "ops.npy": _pickle_seed(rng)}
    victim = rng.choice(list(files))
    for name, data in files.items():
        if name == victim:
            data = _random_header(rng) if rng.random() < 0.2 else _mutate(rng, data)
        if rng.random() < 0.05 and name != "F.npy":
            continue  # a missing file
        (plane / name).write_bytes(data)
    return plane


_H5_SEED: list[bytes] = []


def gen_caiman(rng: random.Random, work: Path) -> Path:
    import h5py

    p = work / "x.hdf5"
    if not _H5_SEED:
        with h5py.File(p, "w") as fh:
            fh["estimates/C"] = np.random.default_rng(0).random((3, 40))
            fh["params/data/fr"] = 30.0
            fh["estimates/idx_components"] = np.array([0, 2])
        _H5_SEED.append(p.read_bytes())
    p.write_bytes(_mutate(rng, _H5_SEED[0]))
    return p


def _check(arr: Any) -> None:
    assert isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.dtype == np.float64, arr


def gen_pickle(rng: random.Random, work: Path) -> Path:
    p = work / "ops.npy"
    p.write_bytes(_mutate(rng, _pickle_seed(rng)))
    return p


def read_pickle(p: Path) -> None:
    _readers.load_plain_pickle(p)


def read_traces(p: Path) -> None:
    arr, fs, meta = load_traces_file(p)
    _check(arr)
    assert fs is None or (np.isfinite(fs) and 0 < fs <= _readers.MAX_FILE_FS_HZ)
    assert isinstance(meta, dict)


def read_meta(p: Path) -> None:
    arr, meta = load_tuning_data(p)
    _check(arr)
    assert 0 < meta["sampling_rate_hz"] <= _readers.MAX_FILE_FS_HZ


def read_suite2p(p: Path) -> None:
    arr, meta = calab.load_suite2p(p)
    _check(arr)
    assert meta["sampling_rate_hz"] is None or meta["sampling_rate_hz"] > 0


def read_caiman(p: Path) -> None:
    arr, _meta = calab.load_caiman(p)
    _check(arr)


TARGETS: dict[str, tuple[Callable[[random.Random, Path], Path], Callable[[Path], None],
                         tuple[type[BaseException], ...]]] = {
    "npy": (gen_npy, read_traces, ()),
    "npz": (gen_npz, read_traces, ()),
    "mat": (gen_mat, read_traces, ()),
    "metadata": (gen_meta, read_meta, ()),
    "suite2p": (gen_suite2p, read_suite2p, (FileNotFoundError,)),  # a missing F.npy etc.
    "ops_pickle": (gen_pickle, read_pickle, ()),
    "caiman": (gen_caiman, read_caiman, (KeyError,)),  # documented: no such dataset
}


def main() -> None:
    target, seconds, seed, work = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), \
        Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    gen, read, allowed = TARGETS[target]
    rng = random.Random(seed)
    tried = accepted = refused = 0
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(failures) < 5:
        path = gen(rng, work)
        tried += 1
        try:
            read(path)
            accepted += 1
        except calab.SolverError:
            refused += 1
        except allowed:
            refused += 1
        except Exception:  # noqa: BLE001 - the point: nothing else may escape
            keep = work / f"failure-{seed}-{tried}"
            if keep.exists():
                shutil.rmtree(keep) if keep.is_dir() else keep.unlink()
            if path.is_dir():
                shutil.copytree(path, keep)
            else:
                shutil.copy(path, keep)
            failures.append(f"input {tried} (kept as {keep}): {traceback.format_exc()[-1500:]}")
    print(json.dumps({"target": target, "tried": tried, "accepted": accepted,
                      "refused": refused, "failures": failures}))


if __name__ == "__main__":
    main()
