"""Docstring examples of the calab package are executed, so they cannot go stale."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import calab
import pytest


def _modules() -> list[str]:
    names = ["calab"]
    for info in pkgutil.walk_packages(calab.__path__, prefix="calab."):
        if info.name != "calab._solver":
            names.append(info.name)
    return names


def _examples() -> list:
    params = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in _modules():
        try:
            mod = importlib.import_module(name)
        except ImportError as e:  # optional dependency of that module is missing
            params.append(pytest.param(name, None, marks=pytest.mark.skip(reason=str(e)), id=name))
            continue
        for test in finder.find(mod, name):
            if not test.examples or not test.name.startswith(name):
                continue
            params.append(pytest.param(name, test.name, id=test.name))
    return params


EXAMPLES = _examples()


def test_docstring_examples_exist() -> None:
    assert any(p.values[1] for p in EXAMPLES)


@pytest.mark.parametrize(("module", "test_name"), EXAMPLES)
def test_docstring_example(module: str, test_name: str) -> None:
    mod = importlib.import_module(module)
    (test,) = [t for t in doctest.DocTestFinder().find(mod, module) if t.name == test_name]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    result = runner.run(test, out=report.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)
