"""One spelling per concept in the public signatures: ``tau_rise``, ``tau_decay``, ``lambda_``.

The old names (``tau_r``, ``tau_d``, ``lam``, ``lam_grid``) still work as keywords, with a
DeprecationWarning, and give the very same result.
"""

from __future__ import annotations

import inspect
from typing import Any

import calab
import numpy as np
import pytest
from calab import demo

OLD = {"tau_r", "tau_d", "lam", "lam_grid", "tau_rise_s", "tau_decay_s", "lambda"}


def _public_callables() -> list[tuple[str, Any]]:
    out = [(name, getattr(calab, name)) for name in calab.__all__]
    out += [("scale." + n, getattr(calab.scale, n)) for n in calab.scale.__all__]
    out.append(("demo.run_demo", demo.run_demo))
    return [(n, f) for n, f in out if callable(f) and not isinstance(f, type)]


def test_no_public_signature_uses_an_old_spelling() -> None:
    offenders = {name: sorted(OLD & set(inspect.signature(func).parameters))
                 for name, func in _public_callables()}
    assert {k: v for k, v in offenders.items() if v} == {}


def _trace() -> np.ndarray:
    h = calab.build_kernel(0.02, 0.4, 30.0)
    y = np.zeros(300)
    y[100:100 + len(h)] += h
    y[200:200 + len(h)] += 0.5 * h[: len(y) - 200]
    return y + 0.01 * np.sin(np.arange(300))


CASES: list[tuple[Any, tuple[Any, ...], dict[str, Any], dict[str, Any]]] = [
    (calab.run_deconvolution, (_trace(), 30.0), {"tau_r": 0.02, "tau_d": 0.4, "lam": 0.01},
     {"tau_rise": 0.02, "tau_decay": 0.4, "lambda_": 0.01}),
    (calab.run_deconvolution_full, (_trace(), 30.0), {"tau_r": 0.02, "tau_d": 0.4, "lam": 0.01},
     {"tau_rise": 0.02, "tau_decay": 0.4, "lambda_": 0.01}),
    (calab.run_l0, (_trace(), 0.9), {"lam": 0.05}, {"lambda_": 0.05}),
    (calab.run_convar, (_trace(), 0.9), {"lam": 0.5}, {"lambda_": 0.5}),
    (calab.run_convar, (_trace(), 0.9), {"lam_grid": [0.1, 1.0, 10.0]},
     {"lambda_grid": [0.1, 1.0, 10.0]}),
    (calab.convar_lambda_search, (_trace(), 0.9), {"lam_grid": [0.1, 1.0, 10.0]},
     {"lambda_grid": [0.1, 1.0, 10.0]}),
]


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert type(a) is type(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(("func", "args", "old", "new"), CASES,
                         ids=[f"{c[0].__name__}-{next(iter(c[2]))}" for c in CASES])
def test_old_keyword_warns_and_gives_the_same_result(func: Any, args: tuple[Any, ...],
                                                      old: dict[str, Any],
                                                      new: dict[str, Any]) -> None:
    with pytest.warns(DeprecationWarning, match="is now called") as record:
        got = func(*args, **old)
    assert all(w.filename == __file__ for w in record)  # points at the caller
    for name in old:
        assert any(repr(name) in str(w.message) for w in record), name
    _same(got, func(*args, **new))


@pytest.mark.parametrize(("func", "args", "old", "new"), CASES[:3])
def test_old_and_new_name_together_is_an_error(func: Any, args: tuple[Any, ...],
                                               old: dict[str, Any], new: dict[str, Any]) -> None:
    name = next(iter(old))
    both = {**new, name: old[name]}
    with pytest.raises(TypeError, match="deprecated"):
        func(*args, **both)


def test_positional_calls_are_unchanged() -> None:
    y = _trace()
    _same(calab.run_deconvolution(y, 30.0, 0.02, 0.4, 0.01),
          calab.run_deconvolution(y, 30.0, tau_rise=0.02, tau_decay=0.4, lambda_=0.01))


def test_signature_and_docs_follow_the_new_names() -> None:
    params = inspect.signature(calab.run_deconvolution_full).parameters
    assert list(params)[:5] == ["traces", "fs", "tau_rise", "tau_decay", "lambda_"]
    doc = calab.run_deconvolution_full.__doc__ or ""
    assert "lambda_ : float" in doc and "tau_rise, tau_decay : float" in doc
