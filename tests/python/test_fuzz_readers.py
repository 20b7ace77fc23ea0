"""Fuzz targets for every file reader (``_fuzz.py``): random and mutated .npy, .npz, .mat,
metadata JSON, Suite2p folders and CaImAn HDF5 files, each for a few seconds in its own process
(so a crash is caught, not suffered). Every input must be read as a 2-D float64 array or refused
with a calab error. The counts of inputs tried are printed and kept as test properties."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FUZZ = Path(__file__).with_name("_fuzz.py")
TARGETS = ["npy", "npz", "mat", "metadata", "suite2p", "ops_pickle", "caiman"]
SECONDS = float(os.environ.get("CALAB_FUZZ_SECONDS", "3"))


def _one(target: str, work: Path) -> tuple[int, dict[str, object] | None, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(FUZZ), target, str(SECONDS), "20240514",
                           str(work / target)], capture_output=True, text=True,
                          timeout=SECONDS + 120, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return proc.returncode, (json.loads(lines[-1]) if lines else None), proc.stderr[-3000:]


def test_every_reader_survives_random_and_mutated_files(
        tmp_path: Path, record_property: pytest.RecordProperty,
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("h5py")
    pytest.importorskip("scipy.io")
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(TARGETS, pool.map(lambda t: _one(t, tmp_path), TARGETS)))
    lines = []
    for target, (code, report, err) in results.items():
        assert code == 0 and report is not None, (
            f"fuzz target {target} crashed (exit {code}); the input is in "
            f"{tmp_path / target}: {err}")
        assert report["failures"] == [], f"{target}: {report['failures']}"
        assert int(report["tried"]) > 20, report  # it really ran
        assert int(report["refused"]) > 0 and int(report["accepted"]) > 0, report
        record_property(f"fuzz_{target}_inputs", report["tried"])
        lines.append(f"{target}: {report['tried']} inputs ({report['accepted']} read, "
                     f"{report['refused']} refused)")
    with capsys.disabled():
        print(f"\nfuzzed readers for {SECONDS:g} s each: " + "; ".join(lines))
