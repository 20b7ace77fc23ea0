"""How fast CaDecon answers its controls in headless Chromium: the real app, worker and WASM.

On the in-app demo (--cells x --seconds at 30 Hz, GCaMP6f, generated in the page) it starts a run
and prints, timed inside the page:
  * how long until the progress bar first moves after Start, and how often it moves during the
    first iteration (the worker reports after every slice of work);
  * Pause: from the click until the run shows "Paused" (the worker has stopped working), at a
    few moments during the iterations;
  * Stop: from the click until the run is complete with its partial results, once during the
    iterations and once during the final pass (where a pause is timed too).
``--peer-webapp DIR`` measures another build of the apps (for example the main branch's
``python/calab/_webapp``) the same way in the same run, for comparison. Target from the issue:
pause and stop within 1 s. It asserts nothing.

    .venv/bin/python benchmarks/bench_cadecon_controls.py [--cells 30] [--seconds 900]
        [--pauses 3] [--peer-webapp DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

import calab
import numpy as np
from calab.bridge.server import BridgeServer
from calab.bridge.session import BridgeSession

# Clicks a run control and resolves with the ms until the run status reaches `want`.
TIMED_CLICK = """async ([testid, want]) => {
  const status = document.querySelector('[data-testid="run-status"]');
  const t0 = performance.now();
  document.querySelector(`[data-testid="${testid}"]`).click();
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${want} within 120 s`)), 120000);
    const check = () => {
      if (status.dataset.state === want) { clearTimeout(timer); resolve(performance.now() - t0); }
      else requestAnimationFrame(check);
    };
    check();
  });
}"""

# Starts the run; resolves with the ms until the progress value first changes and the progress
# updates seen before the first iteration completed.
TIMED_START = """async () => {
  const bar = document.querySelector('[data-testid="progress"]');
  const conv = document.querySelector('[data-testid="convergence-chart"]');
  const seen = [];
  const t0 = performance.now();
  let first = null;
  const obs = new MutationObserver(() => {
    const v = Number(bar.value);
    if (first === null && v > 0) first = performance.now() - t0;
    if (Number(conv.dataset.points) === 0) seen.push(v);
  });
  obs.observe(document.querySelector('[data-testid="progress-label"]'),
    { childList: true, characterData: true, subtree: true });
  document.querySelector('[data-testid="run-start"]').click();
  await new Promise((resolve) => {
    const check = () => (Number(conv.dataset.points) >= 1 ? resolve() : setTimeout(check, 20));
    check();
  });
  obs.disconnect();
  return { first, updates: new Set(seen).size, iteration: performance.now() - t0 };
}"""

WAIT_PHASE = """(phase) =>
  document.querySelector('[data-testid="progress"]').dataset.phase === phase"""


def measure(webapp: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    server = BridgeServer(BridgeSession(np.zeros((1, 10)), 30.0, app="cadecon"),
                          app_dir=None if webapp is None else webapp / "cadecon").start()
    try:
        with calab.HeadlessBrowser() as hb:
            page = hb.page
            hb.goto(server.base_url + "/")
            page.wait_for_selector('[data-testid="demo-button"]', timeout=60_000)
            page.fill("#demo-cells", str(args.cells))
            page.fill('[data-testid="demo-duration"]', str(args.seconds))
            page.click('[data-testid="demo-button"]')
            page.wait_for_selector('[data-testid="run-start"]', timeout=60_000)
            # Many iterations, so the pauses fall inside the iterations.
            page.fill('[data-testid="setting-max-iterations"]', "50")
            summary = page.locator('[data-testid="advanced-settings"] summary')
            if summary.count():
                summary.click()
            page.fill('[data-testid="setting-convergence-tol"]', "0.000001")
            start = page.evaluate(TIMED_START)
            pauses = []
            for _ in range(args.pauses):
                page.wait_for_timeout(700)
                pauses.append(page.evaluate(TIMED_CLICK, ["run-pause", "paused"]))
                page.evaluate(TIMED_CLICK, ["run-resume", "running"])
            page.wait_for_timeout(700)
            stop_iter = page.evaluate(TIMED_CLICK, ["run-stop", "complete"])
            # Once more, stopped during the final pass this time.
            page.fill('[data-testid="setting-max-iterations"]', "1")
            page.click('[data-testid="run-start"]')
            page.wait_for_function(WAIT_PHASE, arg="final-pass", timeout=600_000)
            page.wait_for_timeout(300)
            pause_final = page.evaluate(TIMED_CLICK, ["run-pause", "paused"])
            page.evaluate(TIMED_CLICK, ["run-resume", "running"])
            page.wait_for_timeout(300)
            stop_final = page.evaluate(TIMED_CLICK, ["run-stop", "complete"])
            return {"start": start, "pauses": pauses, "stop_iter": stop_iter,
                    "pause_final": pause_final, "stop_final": stop_final}
    finally:
        server.close()


def show(name: str, m: dict[str, Any]) -> None:
    s = m["start"]
    first = "never" if s["first"] is None else f"{s['first'] / 1000:.2f} s"
    print(f"  {name}: progress first moves after {first}; {s['updates']} progress steps in the "
          f"first iteration ({s['iteration'] / 1000:.1f} s)")
    p = m["pauses"]
    pad = " " * len(name)
    print(f"  {pad}  during the iterations: pause median {statistics.median(p) / 1000:.2f} s, "
          f"max {max(p) / 1000:.2f} s over {len(p)}; stop {m['stop_iter'] / 1000:.2f} s")
    print(f"  {pad}  during the final pass: pause {m['pause_final'] / 1000:.2f} s, "
          f"stop {m['stop_final'] / 1000:.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=30)
    p.add_argument("--seconds", type=int, default=900)
    p.add_argument("--pauses", type=int, default=3)
    p.add_argument("--peer-webapp", default=None,
                   help="another build's _webapp folder, measured in the same run")
    args = p.parse_args()
    ours = measure(None, args)
    peer = measure(Path(args.peer_webapp), args) if args.peer_webapp else None
    print(f"CaDecon controls, demo of {args.cells} cells x {args.seconds} s at 30 Hz, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (target: within 1 s)")
    show("this build", ours)
    if peer:
        show("peer build", peer)


if __name__ == "__main__":
    main()
