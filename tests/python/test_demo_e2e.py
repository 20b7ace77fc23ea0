"""End to end through the CLI and a real browser: ``calab demo`` serves the bundled CaTune over the
bridge, headless Chromium tunes and exports to Python, and the batch job then runs with exactly
those parameters. ``calab demo --headless`` (the README's first command) writes its outputs."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import calab
import pytest

WEBAPP = Path(calab.__file__).parent / "_webapp" / "catune" / "index.html"


def test_headless_demo_writes_results_and_figure(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "calab.cli", "demo", "--headless", "--cells", "5",
         "--duration", "30", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converged"] == 5
    assert summary["mean_correlation_0.2s"] > 0.5
    for key in ("traces", "activity", "results", "figure"):
        assert Path(summary["files"][key]).is_file()
        assert summary["files"][key] in proc.stdout


@pytest.mark.skipif(not WEBAPP.is_file(), reason="CaTune is not built (npm run build)")
def test_interactive_demo_round_trip_in_chromium(tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "calab.cli", "demo", "--no-browser", "--cells", "4",
         "--duration", "20", "--timeout", "90", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1).strip()
            except queue.Empty:
                continue
            if line.startswith("http://127.0.0.1:"):
                url = line
        assert url, "calab demo printed no URL"
        with calab.HeadlessBrowser() as hb:
            page = hb.page
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            hb.goto(url)
            page.wait_for_selector('[data-testid="cell-card"][data-status="fresh"]', timeout=30000)
            for testid, value in (("param-tau-rise", "0.03"), ("param-tau-decay", "0.5"),
                                  ("param-lambda", "0.02")):
                page.fill(f'[data-testid="{testid}"]', value)
                page.dispatch_event(f'[data-testid="{testid}"]', "input")
            page.wait_for_selector('[data-testid="cell-card"][data-status="fresh"]', timeout=30000)
            page.click('[data-testid="export-python"]')
            stdout, _ = proc.communicate(timeout=60)
            assert not errors, errors
        assert proc.returncode == 0, stdout
        summary = json.loads((out / "summary.json").read_text())
        assert summary["tau_rise_s"] == pytest.approx(0.03)
        assert summary["tau_decay_s"] == pytest.approx(0.5)
        assert summary["lambda"] == pytest.approx(0.02)
        assert summary["converged"] == 4
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
