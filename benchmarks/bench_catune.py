"""CaTune responsiveness and memory in headless Chromium, through the real app, workers and WASM.

On the in-app demo of 100 cells x 27,000 frames (15 min at 30 Hz, GCaMP6f, generated in the page
by the WASM simulator; ``--source bridge`` serves the same size through ``calab.tune`` instead),
with 5 cells shown, it prints:
  * time from navigation until the shown cards are first solved (demo: includes the click and
    the in-page simulation);
  * latency from a control change until every shown card is fresh again (median and 95th
    percentile over 50 changes, timed inside the page), with the solver's own time per shown
    window (the WASM solve inside the worker, as the cards report it);
  * memory after 500 changes against after the first, each read once the app has settled
    (background whole-trace solves done) and after a forced garbage collection, three ways:
      JS heap      V8's used heap of the page (JSHeapUsedSize), which includes compiled code;
      objects      the page's heap snapshot without V8's compiled code (what app data can leak);
      renderer     unique memory (USS) of the renderer process, which also holds the workers'
                   WASM memory and the typed arrays outside the JS heap.
    ``--checkpoints`` adds readings in between, to show whether growth levels off.
Targets from the CaTune issue: load < 2 s, p95 < 150 ms, memory growth < 10%. It asserts nothing.

    .venv/bin/python benchmarks/bench_catune.py [--cells 100] [--frames 27000] [--changes 500]
        [--source demo|bridge] [--checkpoints 100,250]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import threading
import time
from typing import Any, NamedTuple

import calab
import numpy as np
import psutil
from calab.bridge.server import BridgeServer
from calab.bridge.session import BridgeSession

FS = 30.0

# Resolves with the ms from the input event until all cards are fresh (observed in the page).
TIMED_CHANGE = """async ([testid, value]) => {
  const el = document.querySelector(`[data-testid="${testid}"]`);
  const cards = () => [...document.querySelectorAll('[data-testid="cell-card"]')];
  const t0 = performance.now();
  el.value = value;
  el.dispatchEvent(new Event('input', { bubbles: true }));
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cards did not become fresh in 30 s')), 30000);
    const check = () => {
      const c = cards();
      if (c.length && c.every((x) => x.dataset.status === 'fresh')) {
        clearTimeout(timer); resolve(performance.now() - t0);
      } else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
}"""

# All further changes in one call, inside the page: the memory reading then measures the app, not
# the per-call objects of the Playwright driver (0.3 MB over 500 calls on an inert page).
IN_PAGE_CHANGES = """async ([from, to, keep]) => {
  const timed = TIMED_CHANGE;
  const latencies = [];
  const solveMs = [];
  for (let i = from; i <= to; i++) {
    const lambda = i % 3 === 0;
    const v = lambda ? (0.01 + 0.001 * (i % 7)).toFixed(3) : (0.40 + 0.002 * (i % 10)).toFixed(3);
    const ms = await timed([lambda ? 'param-lambda' : 'param-tau-decay', v]);
    if (latencies.length < keep) {
      latencies.push(ms);
      const cards = document.querySelectorAll('[data-testid="cell-card"]');
      for (const c of cards) solveMs.push(Number(c.dataset.solveMs));
    }
  }
  return { latencies, solveMs };
}""".replace("TIMED_CHANGE", TIMED_CHANGE)

ALL_FRESH = """(n) => {
  const c = [...document.querySelectorAll('[data-testid="cell-card"]')];
  return c.length === n && c.every((x) => x.dataset.status === 'fresh');
}"""


# Settled: every card fresh and, where the app marks it, holding the whole-trace solution.
SETTLED = """() => [...document.querySelectorAll('[data-testid="cell-card"]')].every(
  (c) => c.dataset.status === 'fresh' && c.dataset.exact !== 'false')"""



def renderer_uss_mb(page: Any) -> float:
    """Unique memory of the renderer process that hosts the page (and its dedicated workers)."""
    page.evaluate("() => 0")  # a round trip, so the page has handled everything queued
    best = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = proc.cmdline()
            if any(a == "--type=renderer" for a in cmd) and not any("extension" in a for a in cmd):
                best = max(best, proc.memory_full_info().uss / 2**20)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return best


def snapshot_by_type(cdp: Any) -> dict[str, float]:
    """Self sizes in a heap snapshot of the page, in MB, summed by V8's node type."""
    chunks: list[str] = []

    def on_chunk(event: dict[str, str]) -> None:
        chunks.append(event["chunk"])

    cdp.on("HeapProfiler.addHeapSnapshotChunk", on_chunk)
    try:
        cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        cdp.remove_listener("HeapProfiler.addHeapSnapshotChunk", on_chunk)
    snap = json.loads("".join(chunks))
    meta = snap["snapshot"]["meta"]
    fields = meta["node_fields"]
    types = meta["node_types"][0]
    step, t_i, s_i = len(fields), fields.index("type"), fields.index("self_size")
    nodes = snap["nodes"]
    sizes = [0] * len(types)
    for k in range(0, len(nodes), step):
        sizes[nodes[k + t_i]] += nodes[k + s_i]
    return {name: size / 2**20 for name, size in zip(types, sizes, strict=True)}


class WorkerProbe:
    """Garbage-collects and reads the JS heaps of the page's workers through the browser's DevTools
    session (the page's own session cannot reach them; the pool may replace a worker at any time,
    so every reading looks the targets up again)."""

    def __init__(self, hb: Any) -> None:
        self.page = hb.page
        self.cdp = hb._browser.new_browser_cdp_session()
        self.sessions: dict[str, str] = {}
        self.replies: dict[tuple[str, int], Any] = {}
        self.next_id = 0
        self.cdp.on("Target.receivedMessageFromTarget", self._on_message)

    def _on_message(self, event: dict[str, str]) -> None:
        msg = json.loads(event["message"])
        if "id" in msg:
            self.replies[(event["sessionId"], msg["id"])] = msg.get("result", {})

    def _call(self, session: str, method: str) -> Any:
        self.next_id += 1
        key = (session, self.next_id)
        self.cdp.send("Target.sendMessageToTarget", {
            "sessionId": session, "message": json.dumps({"id": self.next_id, "method": method})})
        for _ in range(200):
            if key in self.replies:
                return self.replies.pop(key)
            self.page.wait_for_timeout(25)
        raise RuntimeError(f"worker did not answer {method}")

    def collect_and_measure(self) -> float:
        """Heap used by all current workers after a forced collection, in MB."""
        targets = self.cdp.send("Target.getTargets")["targetInfos"]
        live = {t["targetId"] for t in targets if t["type"] == "worker"}
        for tid in live - self.sessions.keys():
            self.sessions[tid] = self.cdp.send(
                "Target.attachToTarget", {"targetId": tid, "flatten": False})["sessionId"]
        used = 0.0
        for tid in live:
            self._call(self.sessions[tid], "HeapProfiler.collectGarbage")
            used += float(self._call(self.sessions[tid], "Runtime.getHeapUsage")["usedSize"])
        return used / 2**20


class Memory(NamedTuple):
    js_heap: float
    objects: float
    workers: float
    renderer: float


def read_memory(page: Any, cdp: Any, workers: WorkerProbe) -> Memory:
    cdp.send("HeapProfiler.collectGarbage")
    worker_heap = workers.collect_and_measure()
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    by_type = snapshot_by_type(cdp)
    if os.environ.get("BENCH_DEBUG"):
        print({k: round(v, 3) for k, v in by_type.items()})
    objects = sum(v for k, v in by_type.items() if k != "code")
    cdp.send("HeapProfiler.collectGarbage")
    return Memory(float(metrics["JSHeapUsedSize"]) / 2**20, objects, worker_heap,
                  renderer_uss_mb(page))


def open_demo(hb: Any, base_url: str, cells: int, frames: int) -> None:
    hb.goto(f"{base_url}/")
    page = hb.page
    page.wait_for_selector('[data-testid="demo-button"]', timeout=60_000)
    page.fill("#demo-cells", str(cells))
    page.fill('[data-testid="demo-duration"]', str(frames / FS))
    page.click('[data-testid="demo-button"]')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--frames", type=int, default=27_000)
    p.add_argument("--shown", type=int, default=5)
    p.add_argument("--latency-changes", type=int, default=50)
    p.add_argument("--changes", type=int, default=500, help="changes for the memory reading")
    p.add_argument("--source", choices=["demo", "bridge"], default="demo")
    p.add_argument("--checkpoints", default="",
                   help="comma-separated change counts with an extra memory reading")
    args = p.parse_args()
    if args.frames % int(FS) or args.cells > 200:
        p.error("the in-app demo takes whole seconds at 30 Hz and at most 200 cells")
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c} | {args.changes})

    outcome: dict[str, Any] = {}
    worker: threading.Thread | None = None
    server: BridgeServer | None = None
    if args.source == "bridge":
        sim = calab.simulate(calab.presets.gcamp6f(num_cells=args.cells,
                                                   num_timepoints=args.frames, seed=0))
        urls: queue.Queue[str] = queue.Queue()
        worker = threading.Thread(target=lambda: outcome.update(params=calab.tune(
            sim.traces, fs=FS, timeout=3600, open_browser=False, on_ready=urls.put)))
        worker.start()
        url = urls.get(timeout=120)
    else:
        # The package's own server, opened without the bridge fragment: CaTune in plain mode.
        server = BridgeServer(BridgeSession(np.zeros((1, 10)), FS)).start()
    with calab.HeadlessBrowser() as hb:
        page = hb.page
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        t0 = time.perf_counter()
        if server is not None:
            open_demo(hb, server.base_url, args.cells, args.frames)
        else:
            hb.goto(url)
        page.wait_for_selector('[data-testid="cell-count"]', timeout=60_000)
        page.wait_for_function(
            "() => { const c = [...document.querySelectorAll('[data-testid=\"cell-card\"]')];"
            " return c.length > 0 && c.every((x) => x.dataset.status === 'fresh'); }",
            timeout=60_000)
        load_s = time.perf_counter() - t0
        shown_cells = page.eval_on_selector('[data-testid="cell-count"]', "e => e.max")
        page.fill('[data-testid="cell-count"]', str(args.shown))
        page.dispatch_event('[data-testid="cell-count"]', "input")
        page.wait_for_function(ALL_FRESH, arg=args.shown, timeout=60_000)

        # Alternate between nearby values, as a slider drag does.
        first = page.evaluate(TIMED_CHANGE, ["param-tau-decay", "0.402"])
        page.wait_for_function(SETTLED, timeout=60_000)
        probe = WorkerProbe(hb)
        readings = [(1, read_memory(page, cdp, probe))]
        latencies = [first]
        solve_ms: list[float] = []
        done = 1
        for stop in checkpoints:
            keep = max(0, args.latency_changes - len(latencies))
            rest = page.evaluate(IN_PAGE_CHANGES, [done + 1, stop, keep])
            latencies += rest["latencies"]
            solve_ms += [v for v in rest["solveMs"] if v == v]
            done = stop
            page.wait_for_function(SETTLED, timeout=60_000)
            readings.append((stop, read_memory(page, cdp, probe)))
        if server is None:
            page.click('[data-testid="export-python"]')
    if worker is not None:
        worker.join(timeout=60)
    if server is not None:
        server.close()

    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    print(f"CaTune, {args.cells} cells x {args.frames} frames at 30 Hz ({args.source}), "
          f"{args.shown} shown (of {shown_cells} allowed)")
    print(f"  first results after navigation: {load_s:.2f} s   (target < 2 s)")
    print(f"  update latency over {len(lat)} changes: median {statistics.median(lat):.0f} ms, "
          f"p95 {p95:.0f} ms, max {lat[-1]:.0f} ms   (target p95 < 150 ms)")
    if solve_ms:
        s = sorted(solve_ms)
        print(f"  WASM solve per shown window (in the worker): "
              f"median {statistics.median(s):.1f} ms, "
              f"p95 {s[int(round(0.95 * (len(s) - 1)))]:.1f} ms, over {len(s)} card updates")
    base = readings[0][1]
    print("  memory after N changes, MB (growth against N = 1; target < 10%):")
    print(f"  {'N':>6}" + "".join(f"{name:>17}" for name in Memory._fields))
    for n, m in readings:
        print(f"  {n:>6}" + "".join(f"{v:8.1f} {100 * (v - b) / b:+6.1f}%"
                                    for v, b in zip(m, base, strict=True)))
    if args.source == "bridge":
        print(f"  export reached Python: {outcome.get('params') is not None}")


if __name__ == "__main__":
    main()
