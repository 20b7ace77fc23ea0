"""Values shared by Rust, Python and the browser apps are defined once and agree everywhere.

* the version: ``crates/solver/Cargo.toml`` is the source (maturin gives it to the wheel and the
  native module); the web apps take theirs from ``package.json``, which must say the same;
* the solver defaults: ``schemas/solver-defaults.json`` (Rust checks its constants in
  ``crates/solver/tests/shared_defaults.rs``, the web apps import the file);
* the CaTune export: the layout version is the ``schema_version`` default of
  ``schemas/catune-export.schema.json`` and both writers use the same words.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import calab
import pytest
from calab import _compute, _schema_files, cli, demo, io

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


def test_solver_defaults_document_is_its_own_schema() -> None:
    doc = json.loads((ROOT / "schemas" / "solver-defaults.json").read_text(encoding="utf-8"))
    assert doc["properties"]
    for key, prop in doc["properties"].items():
        assert prop["const"] == doc[key], key
        assert prop["description"], key
    assert _schema_files.solver_defaults() == {k: doc[k] for k in doc["properties"]}


def test_python_defaults_come_from_the_shared_file() -> None:
    shared = _schema_files.solver_defaults()
    for func in (calab.run_deconvolution, calab.run_deconvolution_full):
        assert inspect.signature(func).parameters["max_iters"].default == shared["max_iters"]
    assert _compute.DEFAULT_MAX_ITERS == shared["max_iters"]
    assert inspect.signature(demo.run_demo).parameters["lambda_"].default == shared["demo_lambda"]


def test_cli_demo_lambda_default_is_the_shared_one() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    demo_parser = sub.choices["demo"]
    assert demo_parser.get_default("lam") == _schema_files.solver_defaults()["demo_lambda"]


def test_export_version_comes_from_the_schema() -> None:
    prop = io.export_schema()["properties"]["schema_version"]
    assert io.EXPORT_SCHEMA_VERSION == prop["default"]
    assert re.fullmatch(prop["pattern"], io.EXPORT_SCHEMA_VERSION)
    export = calab.build_export(0.02, 0.4, 0.01, 30.0)
    assert export["schema_version"] == prop["default"]


def test_export_version_is_not_written_again_in_the_web_app() -> None:
    source = ROOT / "web" / "shared" / "export.ts"
    if not source.is_file():
        pytest.skip("no web/ sources here (installed package)")
    text = source.read_text(encoding="utf-8")
    assert "schemas/catune-export.schema.json" in text
    assert re.search(r"EXPORT_SCHEMA_VERSION[^=]*=\s*exportSchema\.", text), "not read from schema"


def _ts_formulations() -> dict[str, dict[str, str]]:
    """The FORMULATIONS table of web/shared/export.ts (single-quoted literals), parsed."""
    text = (ROOT / "web" / "shared" / "export.ts").read_text(encoding="utf-8")
    block = text[text.index("const FORMULATIONS"):]
    block = block[: block.index("\n};")]
    out: dict[str, dict[str, str]] = {}
    for solver, body in re.findall(r"^  (\w+): \{(.*?)^  \},", block, re.M | re.S):
        out[solver] = dict(re.findall(r"(\w+):\s*'([^']*)'", body))
    return out


def test_python_and_browser_exports_use_the_same_words() -> None:
    if not (ROOT / "web" / "shared" / "export.ts").is_file():
        pytest.skip("no web/ sources here (installed package)")
    ts = _ts_formulations()
    assert set(ts) == {"l1", "l0", "convar"}
    for solver in ts:
        params = {"lambda": 1.0, "positive": True} if solver == "l0" else {"lambda": None}
        export = calab.build_export(0.02, 0.4, 0.01, 30.0, solver=solver,
                                    solver_params=None if solver == "l1" else params)
        assert export["formulation"] == ts[solver], solver
