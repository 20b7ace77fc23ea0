"""The package's modules form layers: no import cycle, even through imports inside functions.

A cycle hidden by a function-level import (``scale`` and ``_compute`` used to import each other
that way) works until someone moves the import to the top; these tests make it a failure now.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import calab
import pytest

PKG = Path(calab.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py") if "_webapp" not in p.parts}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The calab modules ``name`` imports anywhere in its body (module level or in functions).

    Imports of the package itself (``from . import __version__``) are left out: every submodule
    import runs ``calab/__init__.py`` anyway, and the façade importing everything is its job.
    """
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:
                found |= {f"{target}.{a.name}" for a in node.names} & modules.keys()
            elif target in modules:
                found.add(target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("calab."):
            if node.module in modules:
                found.add(node.module)
    return found - {name, "calab"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [node, dep] if dep in path else [node, dep]
            if dep not in state and (found := visit(dep, path + [node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_level_imports() -> None:
    graph = _graph()
    assert "calab._compute" in graph["calab.io"]  # imported inside build_export only
    assert "calab._dask" in graph["calab._compute"]


def test_no_import_cycle_in_the_package() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_dask_layer_imports_no_solver() -> None:
    assert _graph()["calab._dask"] <= {"calab._errors", "calab._validate"}


@pytest.mark.parametrize("module", ["calab._dask", "calab.movie", "calab.scale",
                                    "calab._compute", "calab.l0", "calab.convar",
                                    "calab.kinetics", "calab.cadecon"])
def test_module_imports_alone(module: str) -> None:
    """Imported first, in a fresh interpreter, each module loads (no partial-import failure)."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=120)


def test_scale_keeps_its_public_names() -> None:
    from calab import _dask, movie, scale

    for name in ("compute", "is_dask_array", "map_rows", "solve_rows_on_cluster"):
        assert getattr(scale, name) is getattr(_dask, name)
    assert scale.deconvolve_movie is movie.deconvolve_movie
    assert scale.MovieResult is movie.MovieResult
    assert callable(scale.deconvolve_export_on_cluster)
    assert set(scale.__all__) == {"MovieResult", "compute", "deconvolve_movie", "is_dask_array",
                                  "map_rows"}
