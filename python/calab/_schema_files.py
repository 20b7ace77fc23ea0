"""The JSON files shared with Rust and the browser apps, as shipped in ``calab/_schemas``.

The repository's top-level ``schemas/`` is a symlink to that folder, so there is exactly one copy
of each file: the schemas (exports, bridge protocol, configs) and the constant documents
(``trace-files.json``, ``solver-defaults.json``). Relies on nothing but the standard library, so
any module may import it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["export_schema_version", "load_schema", "read_schema", "schema_path", "solver_defaults"]

SCHEMA_DIR = Path(__file__).resolve().parent / "_schemas"


def schema_path(name: str) -> Path:
    """Path of a shipped schema file; a clear error if the installation lacks it."""
    path = SCHEMA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"schema {name} is missing from the calab package ({path})")
    return path


def read_schema(name: str) -> dict[str, Any]:
    """A shipped schema file, parsed afresh (the caller may change it)."""
    data: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return data


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema file, parsed once and shared: do not modify the result."""
    return read_schema(name)


def solver_defaults() -> dict[str, Any]:
    """The values of ``schemas/solver-defaults.json`` (``tau_rise``, ``lambda``, ``max_iters``)."""
    doc = load_schema("solver-defaults.json")
    return {key: doc[key] for key in doc["properties"]}


def export_schema_version() -> str:
    """The CaTune export layout version writers put in ``schema_version``: the ``default`` of
    that property in ``schemas/catune-export.schema.json`` (the browser reads the same one)."""
    prop = load_schema("catune-export.schema.json")["properties"]["schema_version"]
    version: str = prop["default"]
    return version
