"""Values shared by Rust, Python and the browser apps are defined once and agree everywhere.

* the version: ``crates/solver/Cargo.toml`` is the source (maturin gives it to the wheel and the
  native module); the web apps take theirs from ``package.json``, which must say the same;
* the solver defaults: ``schemas/solver-defaults.json`` (Rust checks its constants in
  ``crates/solver/tests/shared_defaults.rs``, the web apps import the file);
* the CaTune export: the layout version is the ``schema_version`` default of
  ``schemas/catune-export.schema.json`` and both writers use the same words.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import calab
import pytest

ROOT = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the CI runs 3.11+
    tomllib = pytest.importorskip("tomli")


def _cargo_version() -> str:
    doc = tomllib.loads((ROOT / "crates" / "solver" / "Cargo.toml").read_text(encoding="utf-8"))
    version: str = doc["package"]["version"]
    return version


def test_python_version_is_cargos() -> None:
    assert calab.__version__ == _cargo_version()
    assert metadata.version("calab") == _cargo_version()


def test_pyproject_takes_the_version_from_cargo() -> None:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in doc["project"]
    assert "version" in doc["project"]["dynamic"]


@pytest.mark.parametrize("path", ["package.json", "pkg/package.json"])
def test_package_json_version_is_cargos(path: str) -> None:
    doc = json.loads((ROOT / path).read_text(encoding="utf-8"))
    assert doc["version"] == _cargo_version(), path


def test_package_lock_version_is_cargos() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["version"] == _cargo_version()
    assert lock["packages"][""]["version"] == _cargo_version()
