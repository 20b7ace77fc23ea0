"""Writes the small parser fixtures in web/test/fixtures/ and their expected values (expected.json).

Run with the project venv (numpy, scipy, h5py): `.venv/bin/python web/test/make_fixtures.py`.
The vitest parser tests read the files and compare shapes and row-major values with expected.json,
so the TypeScript parsers are checked against what numpy/scipy actually write.
"""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

OUT = Path(__file__).parent / "fixtures"
OUT.mkdir(exist_ok=True)
expected: dict[str, dict] = {}


def base(rows=3, cols=5):
    return (np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) - 4.0) * 1.5


def record(name, arr, **extra):
    arr = np.asarray(arr)
    expected[name] = {
        "shape": list(arr.shape),
        "values": [float(v) for v in arr.astype(np.float64).ravel(order="C")],
        **extra,
    }


def save_npy(name, arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    (OUT / name).write_bytes(buf.getvalue())
    record(name, arr)


# Every numeric dtype, little-endian C order.
for dt in ["f8", "f4", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]:
    a = base()
    if dt[0] == "u":
        a = np.abs(a)
    save_npy(f"{dt}_2d.npy", a.astype(dt))
save_npy("bool_2d.npy", base() > 0)
save_npy("f8_1d.npy", np.linspace(0.0, 1.0, 7))
save_npy("f8_be.npy", base().astype(">f8"))
save_npy("i4_be.npy", base().astype(">i4"))
save_npy("f8_fortran.npy", np.asfortranarray(base(4, 6)))
save_npy("f4_fortran_be.npy", np.asfortranarray(base(2, 3).astype(">f4")))
save_npy("f8_v2.npy", base(), version=(2, 0))
save_npy("f8_v3.npy", base(), version=(3, 0))
save_npy("f8_3d_singleton.npy", base().reshape(3, 1, 5))
record("f8_3d_singleton.npy", base())  # squeezed on load

# Broken files: the parser must raise a typed error, not throw something else.
good = (OUT / "f8_2d.npy").read_bytes()
(OUT / "truncated.npy").write_bytes(good[: len(good) - 13])
(OUT / "truncated_header.npy").write_bytes(good[:20])
(OUT / "bad_magic.npy").write_bytes(b"NOTNUMPY" + good[8:])
(OUT / "random.bin").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8)))
buf = io.BytesIO()
np.lib.format.write_array(buf, np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]))
(OUT / "structured.npy").write_bytes(buf.getvalue())
buf = io.BytesIO()
np.lib.format.write_array(buf, np.zeros((2, 2, 2)))
(OUT / "f8_3d.npy").write_bytes(buf.getvalue())

# .npz: stored and deflated, two arrays each.
np.savez(OUT / "stored.npz", traces=base(), fs=np.array(30.0))
np.savez_compressed(OUT / "deflated.npz", traces=base(4, 6).astype("f4"), spikes=base(4, 6) > 2)
expected["stored.npz"] = {"names": ["traces", "fs"]}
record("stored.npz:traces", base())
expected["deflated.npz"] = {"names": ["traces", "spikes"]}
record("deflated.npz:traces", base(4, 6).astype("f4"))
record("deflated.npz:spikes", base(4, 6) > 2)
zbytes = (OUT / "deflated.npz").read_bytes()
(OUT / "truncated.npz").write_bytes(zbytes[: len(zbytes) // 2])

# .mat v5 (uncompressed and miCOMPRESSED), v4, and v7.3 (HDF5).
mat = {"traces": base(), "fs": 30.0, "label": "cells", "counts": base(2, 4).astype(np.int16)}
scipy.io.savemat(OUT / "v5.mat", mat, do_compression=False)
scipy.io.savemat(OUT / "v5_compressed.mat", mat, do_compression=True)
expected["v5.mat"] = {"names": ["traces", "fs", "counts"]}
expected["v5_compressed.mat"] = {"names": ["traces", "fs", "counts"]}
record("v5.mat:traces", base())
record("v5.mat:counts", base(2, 4).astype(np.int16))
scipy.io.savemat(OUT / "v4.mat", {"traces": base()}, format="4")
mbytes = (OUT / "v5_compressed.mat").read_bytes()
(OUT / "truncated.mat").write_bytes(mbytes[: len(mbytes) - 40])
try:
    import h5py

    path = OUT / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["traces"] = base().T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM")
except ImportError:  # pragma: no cover - h5py is optional; fake the signature
    (OUT / "v73.mat").write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 384 + b"\x89HDF\r\n\x1a\n")

# A realistic traces file for the end-to-end test: 12 cells x 1500 frames at 30 Hz.
rng = np.random.default_rng(1)
t = np.arange(1500) / 30.0
kernel = np.exp(-np.arange(60) / 30.0 / 0.4) - np.exp(-np.arange(60) / 30.0 / 0.02)
kernel /= kernel.max()
rows = []
for _ in range(12):
    spikes = (rng.random(1500) < 0.03).astype(float)
    rows.append(1.0 + 0.3 * np.convolve(spikes, kernel)[:1500] + 0.03 * rng.standard_normal(1500))
np.save(OUT / "e2e_traces.npy", np.array(rows, dtype=np.float32))

# Non-finite values and a constant row, for the import checks.
bad = np.array(rows[:3], dtype=np.float64)[:, :400].copy()
bad[0, [5, 6, 7, 100, 399]] = np.nan
bad[1, 50] = np.inf
bad[2, :] = 1.0
np.save(OUT / "nan_traces.npy", bad)

(OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")
