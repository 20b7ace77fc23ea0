"""The built wheel is self-sufficient: schemas, the web app and the native module are inside it.

`pip install .` on a fresh machine must be enough to validate exports, speak the bridge protocol
and serve CaTune offline, so this builds the real wheel with maturin, unpacks it, and imports calab
from the unpacked tree only (PYTHONPATH first, so the editable checkout cannot answer instead).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    maturin = Path(sys.executable).with_name("maturin")
    if not maturin.exists():
        pytest.fail("maturin is not installed in the test environment (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([str(maturin), "build", "--release", "-q", "-o", str(out)], cwd=ROOT,
                   check=True, capture_output=True, timeout=1800)
    wheels = list(out.glob("calab-*.whl"))
    assert len(wheels) == 1, wheels
    dest = out / "site"
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(dest)
    return dest


def test_wheel_ships_every_schema_as_a_real_file(unpacked_wheel: Path) -> None:
    shipped = sorted(p.name for p in (unpacked_wheel / "calab" / "_schemas").glob("*.json"))
    in_repo = sorted(p.name for p in (ROOT / "schemas").glob("*.json"))
    assert shipped == in_repo and shipped, (shipped, in_repo)
    for name in shipped:
        path = unpacked_wheel / "calab" / "_schemas" / name
        assert not path.is_symlink()
        json.loads(path.read_text(encoding="utf-8"))


def test_wheel_ships_the_built_web_app(unpacked_wheel: Path) -> None:
    index = unpacked_wheel / "calab" / "_webapp" / "catune" / "index.html"
    assert index.is_file()
    wasm = list((unpacked_wheel / "calab" / "_webapp").rglob("*.wasm"))
    assert wasm, "no WebAssembly in the wheel"


def test_unpacked_wheel_validates_exports_and_serves_the_app(unpacked_wheel: Path) -> None:
    script = r"""
import json, urllib.request
import calab
from calab.bridge.protocol import protocol_schema
from calab.bridge.server import BridgeServer
from calab.bridge.session import BridgeSession
import numpy as np
assert calab.__file__.startswith(SITE), calab.__file__
assert calab.io.export_schema()["title"]
assert protocol_schema()["endpoints"]
session = BridgeSession(app="catune", traces=np.zeros((2, 50)), fs=30.0)
with BridgeServer(session) as server:
    with urllib.request.urlopen(server.base_url + "/") as resp:
        body = resp.read().decode()
        print(resp.status, "<div" in body or "<script" in body)
"""
    env = dict(os.environ, PYTHONPATH=str(unpacked_wheel))
    proc = subprocess.run([sys.executable, "-c", f"SITE={str(unpacked_wheel)!r}\n" + script],
                          env=env, capture_output=True, text=True, timeout=120, cwd=unpacked_wheel)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["200", "True"], proc.stdout
