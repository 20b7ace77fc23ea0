"""CaDecon end to end: ``calab.decon`` serves the bundled app, real headless Chromium runs the WASM
InDeCa loop with autorun, and the results come back over the bridge. The same recording and seed
through the native ``calab.run_indeca`` give the same kernel and activity within tolerance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import calab
import numpy as np
import pytest

pytest.importorskip("playwright")
WEBAPP = Path(calab.__file__).parent / "_webapp" / "cadecon" / "index.html"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not WEBAPP.is_file(), reason="CaDecon is not built (npm run build)"),
]

SETTINGS = {"seed": 5, "max_iterations": 6}


@pytest.fixture(scope="module")
def recording() -> calab.SimulationResult:
    return calab.simulate(calab.presets.gcamp6f(num_cells=12, num_timepoints=3000, seed=11))


@pytest.fixture(scope="module")
def browser_result(recording: calab.SimulationResult) -> calab.CaDeconResult:
    res = calab.decon(recording.traces, fs=30.0, headless=True, autorun=True, timeout=240,
                      progress=False, **SETTINGS)
    assert res is not None, "CaDecon returned nothing"
    return res


def test_headless_decon_returns_shapes_indices_and_kernel(
        browser_result: calab.CaDeconResult, recording: calab.SimulationResult) -> None:
    res = browser_result
    n, t = recording.traces.shape
    assert res.activity.shape == (n, t) and res.activity.dtype == np.float32
    assert res.metadata["cell_indices"] == list(range(n))
    assert res.metadata["partial"] is False and res.metadata["config"]["seed"] == 5
    assert res.alphas.shape == res.baselines.shape == res.pves.shape == (n,)
    assert res.kernel_slow.size > 0 and res.fs == 30.0
    # the simulator's GCaMP6f kernel: tau_rise 0.02 s, tau_decay 0.4 s
    assert res.metadata["tau_decay"] == pytest.approx(0.4, rel=0.3)
    assert 0.005 < res.metadata["tau_rise"] < 0.02 + 2 / 30.0
    true = np.array([g.spikes for g in recording.ground_truth], dtype=float)
    bins = 6  # 5 Hz bins
    a = res.activity[:, : t // bins * bins].reshape(n, -1, bins).sum(-1)
    b = true[:, : t // bins * bins].reshape(n, -1, bins).sum(-1)
    corr = np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)])
    assert corr > 0.6, corr


def test_browser_and_native_agree(browser_result: calab.CaDeconResult,
                                  recording: calab.SimulationResult) -> None:
    native = calab.run_indeca(recording.traces, 30.0, **SETTINGS)
    for key in ("tau_rise", "tau_decay"):
        assert browser_result.metadata[key] == pytest.approx(native.metadata[key], rel=0.05), key
    assert browser_result.metadata["iterations"] == native.metadata["iterations"]
    # wasm32's exp/ln differ from glibc's in the last bit; the threshold search can move a
    # spike by a frame, so compare counts in 5-frame bins
    n, t = recording.traces.shape
    a = browser_result.activity[:, : t // 5 * 5].reshape(n, -1, 5).sum(-1).ravel()
    b = native.activity[:, : t // 5 * 5].reshape(n, -1, 5).sum(-1).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert abs(a.sum() - b.sum()) <= 0.03 * b.sum()


def test_reused_browser_serves_several_recordings() -> None:
    with calab.HeadlessBrowser() as hb:
        for seed in (1, 2):
            sim = calab.simulate(calab.presets.gcamp6f(num_cells=4, num_timepoints=1500,
                                                       seed=seed))
            res = calab.decon(sim.traces, fs=30.0, headless=hb, autorun=True, timeout=180,
                              progress=False, max_iterations=3, seed=seed)
            assert res is not None and res.activity.shape == (4, 1500)
            assert res.metadata["config"]["seed"] == seed


def test_cli_cadecon_headless(tmp_path: Path) -> None:
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=4, num_timepoints=1500, seed=3))
    src = tmp_path / "rec.npy"
    np.save(src, sim.traces)
    out = tmp_path / "learned"
    proc = subprocess.run(
        [sys.executable, "-m", "calab.cli", "cadecon", str(src), "--fs", "30", "--headless",
         "--max-iterations", "3", "--seed", "2", "--timeout", "180", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    activity = np.load(tmp_path / "learned_activity.npy")
    results = json.loads((tmp_path / "learned_results.json").read_text())
    assert activity.shape == (4, 1500)
    assert results["cell_indices"] == [0, 1, 2, 3] and results["config"]["seed"] == 2
    assert "tau_decay" in proc.stdout


def test_late_results_are_not_lost() -> None:
    """The run finishes in the real CaDecon tab, then decon() times out before the user sends
    the results: 'Send to Python' is answered 'NOT received by Python', Export ZIP still saves
    them. (The run itself must start during the session: the app's worker is served by it.)"""
    sim = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=900, seed=4))
    status = '[data-testid="bridge-status"]'
    with calab.HeadlessBrowser() as hb:
        page = hb.page
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and "ERR_CONNECTION_REFUSED" not in m.text else None)

        def ready(url: str) -> None:
            hb.goto(url)
            page.wait_for_function(f"document.querySelector('{status}').dataset.state"
                                   " === 'connected'", timeout=60_000)
            page.click('[data-testid="run-start"]')
            page.wait_for_selector('[data-testid="export-python"]:not([disabled])',
                                   timeout=180_000)

        assert calab.decon(sim.traces, fs=30.0, timeout=0.3, open_browser=False,
                           on_ready=ready, progress=False, max_iterations=2, seed=1) is None
        page.click('[data-testid="export-python"]')
        banner = '[data-testid="app-error"]'
        page.wait_for_function(f"document.querySelector('{banner}').textContent"
                               ".includes('NOT received by Python')", timeout=30_000)
        assert "sent to Python" not in (page.text_content(status) or "")
        assert "Export ZIP" in (page.text_content(banner) or "")
        with page.expect_download() as download:
            page.click('[data-testid="export-zip"]')
        assert Path(download.value.path()).stat().st_size > 0
        assert not errors, errors
