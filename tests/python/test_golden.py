"""The native extension reproduces the shared golden fixtures (the WASM and Rust suites check
the same file with the same tolerance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "deconv_golden.json").read_text())
TOL = GOLDEN["tolerance"]


def within(got: np.ndarray, want: np.ndarray) -> bool:
    bound = TOL["atol"] + TOL["rtol"] * float(np.max(np.abs(want)))
    return float(np.max(np.abs(got - want))) <= bound


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["name"])
def test_native_matches_golden(case: dict[str, Any]) -> None:
    res = calab.run_deconvolution_full(
        np.asarray(case["trace"]), case["fs"], case["tau_rise"], case["tau_decay"], case["lam"],
        max_iters=case["max_iters"], conv_mode=case["conv_mode"], constraint=case["constraint"],
        method=case["method"], filter_enabled=case["filter_enabled"],
        remove_drift=case["remove_drift"],
    )
    exp = case["expected"]
    assert res.converged == exp["converged"]
    assert within(res.activity, np.asarray(exp["activity"]))
    assert within(res.reconvolution, np.asarray(exp["reconvolution"]))
    assert abs(res.baseline - exp["baseline"]) <= TOL["atol"] + TOL["rtol"] * abs(exp["baseline"])
