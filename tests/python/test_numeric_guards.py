"""Numerical inputs that used to abort, hang or slip through (issue 14): memory exhaustion and
panics in the Rust core become typed errors, long solves stop on Ctrl-C, pathological inputs
have a bounded cost, bad arguments are named, and missing frames follow one policy."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import calab
import numpy as np
import pytest


def _python(code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout,
                          env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


# ---------------------------------------------------------------------------- panics


@pytest.mark.parametrize("place", ["here", "threads"])
def test_a_panic_in_the_core_arrives_as_internal_error(place: str) -> None:
    with pytest.raises(calab.InternalError, match="deliberate panic") as err:
        calab._solver._test_panic(place)
    assert err.value.code == "INTERNAL" and not isinstance(err.value, ValueError)
    # The process and the solver carry on.
    y = calab.simulate(calab.presets.gcamp6f(num_cells=2, num_timepoints=300, seed=1)).traces
    assert calab.run_deconvolution(y, 30.0, 0.02, 0.4, 0.1).shape == (2, 300)


# ---------------------------------------------------------------------------- memory


def test_running_out_of_memory_raises_instead_of_aborting() -> None:
    # Under an address-space cap, work that needs more than the cap allows must raise
    # MemoryError (calab.OutOfMemoryError) and leave the interpreter running; before, Rust's
    # allocation failure aborted the process (SIGABRT: a Jupyter kernel dies).
    res = _python("""
        import json, resource, numpy as np, calab
        rng = np.random.default_rng(0)
        big = rng.normal(size=(200, 100_000))          # 160 MB, allocated before the cap
        small = rng.normal(size=(2, 3000))
        calab.run_deconvolution(small, 30.0, 0.02, 0.4, 0.1)   # threads started
        vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1])
        cap = vm * 1024 + (300 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        out = {}
        cases = {
            "indeca_fs_1e9": lambda: calab.run_indeca(small, fs=1e9, progress=False),
            "deconvolution_full": lambda: calab.run_deconvolution_full(big, 30.0, 0.02, 0.4,
                                                                       0.1),
            "simulate": lambda: calab.simulate(calab.presets.gcamp6f(
                num_cells=100, num_timepoints=1_000_000)),
            "l0": lambda: calab.run_l0(big, 0.95, 1.0),
            "convar": lambda: calab.run_convar(big, 0.95, 1.0),
        }
        for name, call in cases.items():
            try:
                call()
                out[name] = "ok"
            except MemoryError as e:
                out[name] = [type(e).__name__, getattr(e, "code", None), str(e)[:200]]
        out["after"] = calab.run_deconvolution(small, 30.0, 0.02, 0.4, 0.1).shape
        print(json.dumps(out))
    """)
    assert res.returncode == 0, (res.returncode, res.stderr[-3000:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for name in ("indeca_fs_1e9", "deconvolution_full", "simulate", "l0", "convar"):
        assert out[name][0] == "OutOfMemoryError" and out[name][1] == "OUT_OF_MEMORY", out
        assert "bytes" in out[name][2]
    assert "peak-averaging window" in out["indeca_fs_1e9"][2]
    assert out["after"] == [2, 3000]


# ---------------------------------------------------------------------------- cost, Ctrl-C


def test_l0_on_a_huge_alternating_trace_stays_linear() -> None:
    # 200,000 frames of +-1e6: the DP values used to outgrow lambda's resolution and the
    # envelope filled with slivers (over a minute; 38 s already at 20,000 frames). The Rust
    # test `large_values_on_long_traces_keep_the_envelope_small` bounds the work per step.
    n = 200_000
    y = np.where(np.arange(n) % 2 == 0, 1e6, -1e6)
    res = calab.run_l0(y, 0.95, 1.0)
    assert res.num_spikes == n // 2 - 1
    assert np.all(res.spikes[2::2] > 0) and not res.spikes[1::2].any()


def test_ctrl_c_stops_a_long_convar_lambda_search() -> None:
    # One 200,000-frame trace with lambda_=None and the iterative method runs for minutes (the
    # direct method needs well under a second); SIGINT must end it at once with
    # KeyboardInterrupt and leave the interpreter usable.
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time, numpy as np, calab
        y = calab.simulate(calab.presets.gcamp6f(num_cells=1, num_timepoints=200_000,
                                                 seed=1)).traces[0]
        print("solving", flush=True)
        t = time.monotonic()
        try:
            calab.run_convar(y, 0.95, None, progress=False, method="fista")
            print("finished", flush=True)
        except KeyboardInterrupt:
            print(f"interrupted {time.monotonic() - t:.2f}", flush=True)
        print("after", calab.run_convar(y[:500], 0.95, 1.0).rates.shape, flush=True)
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "solving"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # the search alone takes minutes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "interrupted" in out and "after (500,)" in out, (out, err)


def test_convar_reports_progress_while_it_searches() -> None:
    y = calab.simulate(calab.presets.gcamp6f(num_cells=2, num_timepoints=4000, seed=1)).traces
    seen: list[tuple[int, int]] = []
    res = calab._solver.convar_batch(
        y, 0.95, None, [float(v) for v in calab.convar.default_lambda_grid()], "grid",
        calab.convar.DEFAULT_MAX_ITERS, calab.convar.DEFAULT_TOL, "first_differences",
        calab.convar.DEFAULT_SMOOTH_WINDOW, True, None, None, None, "direct",
        lambda done, total: seen.append((done, total)))
    assert all(e is None for e in res[-1])
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and all(t == 2000 for _, t in seen)
    assert seen[-1] == (2000, 2000)  # the last report says done (the bar ends at 100%)


# ---------------------------------------------------------------------------- arguments


def test_arguments_are_named_when_they_are_wrong() -> None:
    y = np.random.default_rng(0).random((2, 300))
    ragged = [[1.0, 2.0, 3.0], [1.0, 2.0]]
    for call in (lambda: calab.run_deconvolution(ragged, 30.0, 0.02, 0.4, 0.1),
                 lambda: calab.run_l0(ragged, 0.9, 1.0),
                 lambda: calab.run_convar(ragged, 0.9, 1.0),
                 lambda: calab.run_indeca(ragged, 30.0)):
        with pytest.raises(calab.ShapeMismatchError, match="traces is ragged"):
            call()
    for fs in (np.array([30.0]), np.array([30.0, 31.0]), "30", True, None):
        with pytest.raises(calab.InvalidParameterError, match="fs must be"):
            calab.run_deconvolution(y, fs, 0.02, 0.4, 0.1)  # type: ignore[arg-type]
        with pytest.raises(calab.InvalidParameterError, match="fs must be"):
            calab.run_indeca(y, fs)  # type: ignore[arg-type]
    assert calab.run_deconvolution(y, np.float32(30.0), 0.02, 0.4, np.array(0.1)).shape == y.shape
    with pytest.raises(calab.InvalidParameterError, match="lambda_ must be a single real number"):
        calab.run_deconvolution(y, 30.0, 0.02, 0.4, np.array([0.1, 0.2]))  # type: ignore[arg-type]
    assert calab.run_deconvolution(y, 30.0, 0.02, 0.4, None).shape == y.shape  # automatic lam
    with pytest.raises(calab.InvalidParameterError, match="spikes_flat"):
        calab.estimate_kernel(y[0].astype(np.float32), np.zeros(300), [300], [1.0], [0.0], 30)
    with pytest.raises(calab.ShapeMismatchError, match="traces is None"):
        calab.run_deconvolution(None, 30.0, 0.02, 0.4, 0.1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- missing frames


@pytest.fixture(scope="module")
def gappy() -> tuple[np.ndarray, np.ndarray]:
    y = calab.simulate(calab.presets.gcamp6f(num_cells=4, num_timepoints=1500, seed=6)).traces
    g = y.copy()
    g[0, 100:110] = np.nan
    g[2, :3] = np.inf
    g[2, -1] = np.nan
    return g, calab.fill_nan(g).traces


ENTRY_POINTS = {
    "run_deconvolution": lambda t, **k: calab.run_deconvolution(t, 30.0, 0.02, 0.4, 0.1, **k),
    "run_deconvolution_full": lambda t, **k: calab.run_deconvolution_full(
        t, 30.0, 0.02, 0.4, 0.1, **k).activity,
    "run_l0": lambda t, **k: calab.run_l0(t, 0.95, 0.5, **k).spikes,
    "run_convar": lambda t, **k: calab.run_convar(t, 0.95, 1.0, **k).rates,
    "deconvolve_from_export": lambda t, **k: calab.deconvolve_from_export(
        t, calab.io.params_from_export(calab.build_export(0.02, 0.4, 0.1, 30.0)), **k),
    "run_indeca": lambda t, **k: calab.run_indeca(t, 30.0, max_iterations=2, seed=1,
                                                  upsample_target=None, **k).activity,
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_nan_policy_of_every_entry_point(name: str, gappy: tuple[np.ndarray, np.ndarray]
                                         ) -> None:
    g, filled = gappy
    call = ENTRY_POINTS[name]
    with pytest.raises(calab.NonFiniteInputError, match="nan_policy='interpolate'"):
        call(g)
    with pytest.raises(calab.UnknownOptionError, match="nan_policy"):
        call(g, nan_policy="drop")
    with pytest.warns(calab.FilledFramesWarning) as record:
        got = call(g, nan_policy="interpolate")
    warning = record[0].message
    assert isinstance(warning, calab.FilledFramesWarning)
    assert warning.filled.tolist() == [10, 0, 4, 0] and warning.empty == []
    assert record[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to fill: no warning
        want = call(filled, nan_policy="interpolate")
    np.testing.assert_array_equal(got, want)


def test_fill_nan_reports_empty_cells() -> None:
    x = np.vstack([np.full(20, np.nan), np.arange(20.0)])
    with pytest.warns(calab.FilledFramesWarning, match="no finite value") as record:
        calab.run_deconvolution(x, 30.0, 0.02, 0.4, 0.1, nan_policy="interpolate")
    assert record[0].message.empty == [0]  # type: ignore[union-attr]
    out = calab.fill_nan(x)
    assert out.filled.tolist() == [20, 0] and not out.traces[0].any()  # type: ignore[union-attr]


def test_nan_fill_fixture_is_the_browsers_too() -> None:
    # The same fixture drives web/test/traces.test.ts; make sure both name it.
    root = Path(__file__).resolve().parents[2]
    assert "tests/fixtures/nan_fill.json" in (root / "web" / "test" / "traces.test.ts").read_text()
    assert "nan_fill.json" in (root / "crates" / "solver" / "src" / "gaps.rs").read_text()
