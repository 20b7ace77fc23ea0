"""``calab.decon`` over the real bridge server on loopback.

A scripted HTTP client plays the CaDecon app here (session, traces, progress, activity, results)
so the Python side's checks can be exercised one by one; the real app in real Chromium is driven
in ``test_decon_e2e.py``.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import calab
import numpy as np
import pytest
from calab.bridge._decon import decon


class FakeApp:
    """Speaks the bridge protocol the way CaDecon does, from the launch URL."""

    def __init__(self, url: str) -> None:
        frag = parse_qs(urlsplit(url).fragment)
        self.base = unquote(frag["bridge"][0]).rstrip("/")
        self.token = frag["token"][0]

    def call(self, method: str, path: str, body: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"X-CaLab-Token": self.token,
                                              "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def post_json(self, path: str, obj: Any) -> int:
        return self.call("POST", path, json.dumps(obj).encode())[0]

    def post_npy(self, path: str, arr: np.ndarray) -> int:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return self.call("POST", path, buf.getvalue(), "application/octet-stream")[0]


def _results(n: int, fs: float, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "schema_version": "1.0.0", "app": "cadecon", "fs": fs, "num_cells": n,
        "num_timepoints": 40, "cell_indices": list(range(n)), "tau_rise": 0.05,
        "tau_decay": 0.6, "kernel_slow": [0.0, 1.0, 0.5], "kernel_fast": [],
        "alphas": [1.0] * n, "baselines": [0.1] * n, "pves": [0.9] * n,
        "cell_errors": [], "partial": False,
    }
    res.update(extra)
    return res


def _run_with_app(script: Any, traces: np.ndarray, **kw: Any) -> tuple[Any, list[Any]]:
    """Run decon() in this thread while ``script(app, seen)`` plays the app in another."""
    seen: list[Any] = []
    threads: list[threading.Thread] = []

    def ready(url: str) -> None:
        app = FakeApp(url)
        t = threading.Thread(target=script, args=(app, seen), daemon=True)
        threads.append(t)
        t.start()

    result = decon(traces, fs=20.0, open_browser=False, timeout=20, on_ready=ready,
                   progress=seen.append, **kw)
    for t in threads:
        t.join(timeout=10)
    return result, seen


def test_decon_round_trip_builds_the_result() -> None:
    traces = np.random.default_rng(0).normal(size=(3, 40)) + 2.0

    def app(app: FakeApp, seen: list[Any]) -> None:
        status, body = app.call("GET", "/api/v1/session")
        session = json.loads(body)
        seen.append(session)
        assert app.call("GET", "/api/v1/traces")[0] == 200
        app.post_json("/api/v1/progress", {"phase": "iterating", "fraction": 0.5})
        act = np.arange(120, dtype=np.float32).reshape(3, 40) % 2
        seen.append(app.post_npy("/api/v1/activity", act))
        seen.append(app.post_json("/api/v1/results", _results(
            3, 20.0, alphas=[1.0, None, 2.0], cell_errors=[
                {"cell": 1, "code": "NON_FINITE_INPUT", "message": "x"}])))

    result, seen = _run_with_app(app, traces, autorun=True, seed=7, num_subsets=3)
    session = seen[0]
    assert session["app"] == "cadecon"
    # only what the caller set goes to the app; the rest falls through to its defaults
    assert session["config"] == {"autorun": True, "seed": 7, "num_subsets": 3}
    assert {"phase": "iterating", "fraction": 0.5} in seen
    assert isinstance(result, calab.CaDeconResult)
    assert result.activity.shape == (3, 40) and result.activity.dtype == np.float32
    assert np.isnan(result.alphas[1]) and result.alphas[2] == 2.0
    assert result.metadata["cell_indices"] == [0, 1, 2]
    assert result.metadata["cell_errors"][0]["cell"] == 1
    assert result.kernel_slow.dtype == np.float32 and result.kernel_fast.size == 0
    assert result.fs == 20.0


def test_decon_passes_workers_to_the_app() -> None:
    def app(app: FakeApp, seen: list[Any]) -> None:
        seen.append(json.loads(app.call("GET", "/api/v1/session")[1]))
        app.post_npy("/api/v1/activity", np.zeros((2, 40), dtype=np.float32))
        app.post_json("/api/v1/results", _results(2, 20.0))

    _, seen = _run_with_app(app, np.ones((2, 40)), autorun=True, workers=3)
    assert seen[0]["config"] == {"autorun": True, "workers": 3}


def test_decon_partial_results_are_flagged() -> None:
    def app(app: FakeApp, seen: list[Any]) -> None:
        app.post_npy("/api/v1/activity", np.zeros((2, 40), np.float32))
        app.post_json("/api/v1/results", _results(2, 20.0, partial=True))

    result, _ = _run_with_app(app, np.ones((2, 40)) + np.arange(40) * 0.01)
    assert result is not None and result.metadata["partial"] is True


def _refusal(app: FakeApp, path: str, body: Any) -> tuple[int, str, str]:
    if isinstance(body, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, body, allow_pickle=False)
        status, raw = app.call("POST", path, buf.getvalue(), "application/octet-stream")
    else:
        status, raw = app.call("POST", path, json.dumps(body).encode())
    err = json.loads(raw).get("error", {}) if status != 200 else {}
    return status, err.get("code", ""), err.get("message", "")


@pytest.mark.parametrize(("activity_shape", "refused_at", "code", "reason"), [
    ((2, 40), "results", "INVALID_MESSAGE", "cell_indices has 3 entries but the activity has 2"),
    ((3, 39), "activity", "BAD_NPY", "expected (rows, 40)"),
    ((4, 40), "activity", "BAD_NPY", "1 to 3 rows"),
])
def test_misattributed_rows_are_refused_while_the_page_is_there(
        activity_shape: tuple[int, int], refused_at: str, code: str, reason: str) -> None:
    """Rows that cannot belong to the session's cells are refused (400 and a reason) when
    posted, not after the session ended, so the page can say so and keep its results."""
    def app(app: FakeApp, seen: list[Any]) -> None:
        seen.append(("activity", *_refusal(app, "/api/v1/activity",
                                           np.zeros(activity_shape, np.float32))))
        seen.append(("results", *_refusal(app, "/api/v1/results", _results(3, 20.0))))
        app.post_json("/api/v1/cancel", {})

    result, seen = _run_with_app(app, np.ones((3, 40)) + np.arange(40) * 0.01)
    assert result is None
    refused = [s for s in seen if s[1] != 200]
    assert len(refused) == 1, seen
    where, status, got_code, message = refused[0]
    assert (where, status, got_code) == (refused_at, 400, code) and reason in message


@pytest.mark.parametrize(("indices", "reason"), [
    ([0, 1, 3], "outside 0..2"), ([-1, 0, 1], "outside 0..2"), ([0, 1, 10**6], "outside 0..2"),
    ([0, 0, 1], "twice"), ([True, 0, 1], "integer"), ([], "non-empty"),
])
def test_out_of_range_cell_indices_are_refused(indices: list[Any], reason: str) -> None:
    def app(app: FakeApp, seen: list[Any]) -> None:
        n = max(len(indices), 1)
        assert app.post_npy("/api/v1/activity", np.zeros((n, 40), np.float32)) == 200
        seen.append(_refusal(app, "/api/v1/results", _results(3, 20.0, cell_indices=indices)))
        app.post_json("/api/v1/cancel", {})

    result, seen = _run_with_app(app, np.ones((3, 40)) + np.arange(40) * 0.01)
    assert result is None
    status, code, message = seen[0]
    assert (status, code) == (400, "INVALID_MESSAGE") and reason in message, message


def test_results_that_cannot_be_assembled_are_refused() -> None:
    """The same assembly decon() returns is tried on receipt: a short 'alphas' list is a 400."""
    def app(app: FakeApp, seen: list[Any]) -> None:
        assert app.post_npy("/api/v1/activity", np.zeros((3, 40), np.float32)) == 200
        seen.append(_refusal(app, "/api/v1/results", _results(3, 20.0, alphas=[1.0])))
        app.post_json("/api/v1/cancel", {})

    result, seen = _run_with_app(app, np.ones((3, 40)) + np.arange(40) * 0.01)
    assert result is None and seen[0][:2] == (400, "INVALID_MESSAGE") and "alphas" in seen[0][2]


def test_non_finite_activity_is_refused() -> None:
    def app(app: FakeApp, seen: list[Any]) -> None:
        act = np.zeros((3, 40), np.float32)
        act[1, 5] = np.nan
        seen.append(_refusal(app, "/api/v1/activity", act))
        app.post_json("/api/v1/cancel", {})

    result, seen = _run_with_app(app, np.ones((3, 40)) + np.arange(40) * 0.01)
    assert result is None and seen[0][:2] == (400, "BAD_NPY") and "NaN" in seen[0][2]


def test_cancel_returns_none() -> None:
    def app(app: FakeApp, seen: list[Any]) -> None:
        app.post_json("/api/v1/cancel", {})

    result, _ = _run_with_app(app, np.ones((2, 40)) + np.arange(40) * 0.01)
    assert result is None


@pytest.mark.parametrize("kw", [
    {"num_subsets": 0}, {"target_coverage": 1.5}, {"max_iterations": -1},
    {"convergence_tol": float("nan")}, {"aspect_ratio": 0.0},
    {"workers": 0}, {"workers": 1.5}, {"workers": True},
])
def test_bad_config_is_rejected_before_anything_starts(kw: dict[str, Any]) -> None:
    started: list[str] = []
    with pytest.raises(calab.InvalidParameterError):
        decon(np.ones((2, 40)), fs=20.0, open_browser=False, timeout=5,
              on_ready=started.append, **kw)
    assert started == []


def test_headless_needs_autorun() -> None:
    with pytest.raises(calab.InvalidParameterError, match="autorun"):
        decon(np.ones((2, 40)), fs=20.0, headless=True)


def test_bad_traces_are_rejected() -> None:
    with pytest.raises(calab.NonFiniteInputError):
        decon(np.array([[1.0, np.nan, 2.0] * 10]), fs=20.0, open_browser=False, timeout=1)
