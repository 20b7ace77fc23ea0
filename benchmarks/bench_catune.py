"""CaTune responsiveness and memory in headless Chromium, through the real app, workers and WASM.

On a recording of --cells x --frames at 30 Hz (GCaMP6f; the in-app demo generated in the page by
the WASM simulator, or ``--source bridge``: the same size simulated in Python and served through
the bridge as ``calab.tune`` does), with the app's default number of cards shown, it prints:
  * time from navigation until the shown cards are first solved (demo: includes the click and
    the in-page simulation);
  * latency from a control change until every shown card is fresh again (median, 95th percentile
    and max over --latency-changes changes per kind, timed inside the page), for each kind of
    change a user makes:
      drag        the λ slider moved by small steps, as a drag does;
      jump        the λ slider jumping between 0.003 and 0.3, and τ_decay between 0.2 and 1 s;
      typed       values typed into the τ_decay field, alternating 0.4 / 0.6 s (the issue's test);
    with the solver's own time per card (the WASM solve inside the worker, as the cards report);
  * memory after --changes drag changes against after the first, each read once the app has
    settled (background whole-trace solves done) and after a forced garbage collection:
      JS heap      V8's used heap of the page (JSHeapUsedSize), which includes compiled code;
      objects      the page's heap snapshot without V8's compiled code (what app data can leak);
      renderer     unique memory (USS) of the renderer process, which also holds the workers'
                   WASM memory and the typed arrays outside the JS heap.
    ``--checkpoints`` adds readings in between, to show whether growth levels off.
``--peer-webapp DIR`` measures the latencies of another build of the apps (for example the main
branch's ``python/calab/_webapp``) in the same run, same data and same machine load, and prints
the ratios. Targets from the issues: load < 2 s, p95 < 100 ms, memory growth < 10%. It asserts
nothing.

    .venv/bin/python benchmarks/bench_catune.py [--cells 100] [--frames 27000]
        [--source demo|bridge] [--latency-changes 30] [--changes 500] [--checkpoints 100,250]
        [--peer-webapp DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
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

# The controls and values of each kind of change, as (data-testid, value) for change i. Sliders take
# log10 positions (both builds' sliders are logarithmic); typed values go into the number fields.
KINDS = """(kind, i) => {
  const lg = (v) => String(Math.log10(v));
  if (kind === 'drag') return ['param-lambda-range', lg(0.01 * 10 ** (0.02 * (i % 7)))];
  if (kind === 'jump') {
    return i % 2 ? ['param-lambda-range', lg(i % 4 === 1 ? 0.003 : 0.3)]
      : ['param-tau-decay-range', lg(i % 4 === 0 ? 0.2 : 1.0)];
  }
  return ['param-tau-decay', i % 2 ? '0.4' : '0.6'];
}"""

# Changes from..to of one kind in one call, inside the page: the memory reading then measures the
# app, not the per-call objects of the Playwright driver (0.3 MB over 500 calls on an inert page).
IN_PAGE_CHANGES = """async ([kind, from, to, keep]) => {
  const timed = TIMED_CHANGE;
  const next = KINDS;
  const latencies = [];
  const solveMs = [];
  for (let i = from; i <= to; i++) {
    const ms = await timed(next(kind, i));
    if (latencies.length < keep) {
      latencies.push(ms);
      const cards = document.querySelectorAll('[data-testid="cell-card"]');
      for (const c of cards) solveMs.push(Number(c.dataset.solveMs));
    }
    // A person does not change a control faster than a frame: let this one settle first.
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  return { latencies, solveMs };
}""".replace("TIMED_CHANGE", TIMED_CHANGE).replace("KINDS", KINDS)

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


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Latency(NamedTuple):
    p50: float
    p95: float
    max: float
    solve_p50: float
    solve_p95: float

    @classmethod
    def of(cls, lat: list[float], solve: list[float]) -> Latency:
        solve = [v for v in solve if v == v] or [float("nan")]
        return cls(statistics.median(lat), pct(lat, 0.95), max(lat), statistics.median(solve),
                   pct(solve, 0.95))


KIND_NAMES = ("drag", "jump", "typed")


def serve(args: argparse.Namespace, traces: np.ndarray | None, app_dir: Path | None
          ) -> tuple[BridgeServer, BridgeSession | None, str]:
    """The package's bridge server for one build: with the traces (bridge mode, as calab.tune
    serves them) or without (plain mode; the page generates the demo)."""
    if traces is not None:
        session = BridgeSession(traces, FS, app="catune", source="bench_catune")
        server = BridgeServer(session, app_dir=app_dir).start()
        return server, session, server.launch_url
    server = BridgeServer(BridgeSession(np.zeros((1, 10)), FS), app_dir=app_dir).start()
    return server, None, server.base_url


def open_app(hb: Any, args: argparse.Namespace, url: str, bridge: bool) -> float:
    """Navigates and waits for the first solved cards; returns the seconds that took."""
    page = hb.page
    t0 = time.perf_counter()
    if bridge:
        hb.goto(url)
    else:
        open_demo(hb, url, args.cells, args.frames)
    page.wait_for_selector('[data-testid="cell-count"]', timeout=60_000)
    page.wait_for_function(ALL_FRESH_ANY, timeout=120_000)
    return time.perf_counter() - t0


ALL_FRESH_ANY = """() => { const c = [...document.querySelectorAll('[data-testid="cell-card"]')];
  return c.length > 0 && c.every((x) => x.dataset.status === 'fresh'); }"""


def latencies(page: Any, n: int) -> dict[str, Latency]:
    out: dict[str, Latency] = {}
    for kind in KIND_NAMES:
        page.wait_for_function(SETTLED, timeout=120_000)
        # Two untimed changes first, so each kind starts from its own steady state.
        page.evaluate(IN_PAGE_CHANGES, [kind, 0, 1, 0])
        got = page.evaluate(IN_PAGE_CHANGES, [kind, 2, n + 1, n])
        out[kind] = Latency.of(got["latencies"], got["solveMs"])
    return out


def run_peer(args: argparse.Namespace, traces: np.ndarray | None) -> dict[str, Latency]:
    server, _session, url = serve(args, traces, Path(args.peer_webapp) / "catune")
    try:
        with calab.HeadlessBrowser() as hb:
            open_app(hb, args, url, traces is not None)
            return latencies(hb.page, args.latency_changes)
    finally:
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--frames", type=int, default=27_000)
    p.add_argument("--latency-changes", type=int, default=30, help="timed changes per kind")
    p.add_argument("--changes", type=int, default=500, help="changes for the memory reading")
    p.add_argument("--source", choices=["demo", "bridge"], default="demo")
    p.add_argument("--checkpoints", default="",
                   help="comma-separated change counts with an extra memory reading")
    p.add_argument("--peer-webapp", default=None,
                   help="another build's _webapp folder, measured in the same run")
    args = p.parse_args()
    if args.frames % int(FS) or args.cells > 200:
        p.error("the in-app demo takes whole seconds at 30 Hz and at most 200 cells")
    if args.peer_webapp and not (Path(args.peer_webapp) / "catune" / "index.html").is_file():
        p.error(f"--peer-webapp {args.peer_webapp}: no catune/index.html there "
                "(give a _webapp folder)")
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c} | {args.changes})
    traces = None
    if args.source == "bridge":
        sim = calab.simulate(calab.presets.gcamp6f(num_cells=args.cells,
                                                   num_timepoints=args.frames, seed=0))
        traces = sim.traces

    server, session, url = serve(args, traces, None)
    try:
        with calab.HeadlessBrowser() as hb:
            page = hb.page
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            load_s = open_app(hb, args, url, traces is not None)
            shown = page.eval_on_selector_all('[data-testid="cell-card"]', "c => c.length")
            lat = latencies(page, args.latency_changes)

            # Memory: drag changes, read after the first and at each checkpoint, once settled.
            page.evaluate(IN_PAGE_CHANGES, ["drag", 0, 0, 0])
            page.wait_for_function(SETTLED, timeout=120_000)
            probe = WorkerProbe(hb)
            readings = [(1, read_memory(page, cdp, probe))]
            done = 1
            for stop in checkpoints:
                page.evaluate(IN_PAGE_CHANGES, ["drag", done + 1, stop, 0])
                done = stop
                page.wait_for_function(SETTLED, timeout=120_000)
                readings.append((stop, read_memory(page, cdp, probe)))
            if session is not None:
                page.click('[data-testid="export-python"]')
                session.wait(timeout=30)
    finally:
        server.close()
    peer = run_peer(args, traces) if args.peer_webapp else None

    load = os.getloadavg()[0]
    print(f"CaTune, {args.cells} cells x {args.frames} frames at 30 Hz ({args.source}), "
          f"{shown} cards shown (the default), load average {load:.1f} on {os.cpu_count()} cores")
    print(f"  first results after navigation: {load_s:.2f} s   (target < 2 s)")
    print(f"  update latency over {args.latency_changes} changes per kind, ms (target p95 < 100):")
    head = f"  {'change':>8} {'p50':>6} {'p95':>6} {'max':>6}   WASM solve/card p50 p95"
    print(head + ("   peer p50   p95  p95 ratio" if peer else ""))
    for kind in KIND_NAMES:
        m = lat[kind]
        row = (f"  {kind:>8} {m.p50:6.0f} {m.p95:6.0f} {m.max:6.0f}   "
               f"{m.solve_p50:19.1f} {m.solve_p95:4.1f}")
        if peer:
            q = peer[kind]
            row += f"   {q.p50:8.0f} {q.p95:5.0f}  {q.p95 / m.p95:9.2f}x"
        print(row)
    base = readings[0][1]
    print("  memory after N changes, MB (growth against N = 1; target < 10%):")
    print(f"  {'N':>6}" + "".join(f"{name:>17}" for name in Memory._fields))
    for n, m in readings:
        print(f"  {n:>6}" + "".join(f"{v:8.1f} {100 * (v - b) / b:+6.1f}%"
                                    for v, b in zip(m, base, strict=True)))
    if session is not None:
        print(f"  export reached Python: {session.params is not None}")


if __name__ == "__main__":
    main()
