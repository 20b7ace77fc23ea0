"""The ``calab`` command line, run as a real subprocess: every subcommand, its --help, bad files and
bad arguments, and the exit codes (0 ok, 1 failure, 2 bad usage or input)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import calab.io as cio
import numpy as np
import pytest
from calab import cli

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ENV.pop("DISPLAY", None)
ENV.pop("WAYLAND_DISPLAY", None)


def run(*args: str, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=ENV)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stem = tmp_path_factory.mktemp("rec") / "sim"
    res = run("simulate", "--cells", "5", "--frames", "600", "--fs", "20", "--seed", "3",
              "-o", str(stem))
    assert res.returncode == 0, res.stderr
    return stem


def _run_many(cases: list[list[str]], cwd: Path | None = None) -> list[Any]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run(*args, cwd=cwd), cases))


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``calab.cli.main`` here (faster than a subprocess) and return (code, out, err)."""
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse exits for --help and usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def fast(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``in_process`` shaped like ``run`` so cases can switch between the two."""
    code, out, err = in_process(capsys, *args)
    return subprocess.CompletedProcess(list(args), code, out, err)


SUBCOMMANDS = ["tune", "deconvolve", "convert", "info", "simulate", "demo"]


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for args, res in zip([["--help"], ["tune", "--help"]],
                         _run_many([["--help"], ["tune", "--help"]])):
        assert res.returncode == 0 and "usage: calab" in res.stdout, args
    for sub in SUBCOMMANDS:
        code, out, _ = in_process(capsys, sub, "--help")
        assert code == 0 and f"usage: calab {sub}" in out, sub


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [[], ["simulate", "-o", "x", "--cells", "0"]]
    for args, res in zip(cases, _run_many(cases, cwd=tmp_path)):
        assert res.returncode == 2 and "usage:" in res.stderr, (args, res.stderr)
    for args in (["frobnicate"], ["simulate"], ["simulate", "-o", "x", "--fs", "-3"],
                 ["simulate", "-o", "x", "--frames", "many"], ["deconvolve", "f.npy"],
                 ["convert", "f", "--format", "excel"], ["tune", "f.npy", "--port", "99999"],
                 ["info"]):
        code, _, err = in_process(capsys, *args)
        assert code == 2 and "usage:" in err, args


def test_simulate_and_info(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces, meta = cio.load_tuning_data(recording)
    assert traces.shape == (5, 600) and meta["sampling_rate_hz"] == 20.0
    assert meta["preset"] == "gcamp6f" and meta["seed"] == 3
    assert np.load(f"{recording}_spikes.npy").shape == (5, 600)
    res = run("info", str(recording))
    assert res.returncode == 0 and "5 cells x 600 frames" in res.stdout and "20.0 Hz" in res.stdout
    res = fast(capsys, "info", str(recording), "--json")
    info = json.loads(res.stdout)
    assert info["shape"] == [5, 600] and info["sampling_rate_hz"] == 20.0
    assert info["nan_count"] == 0 and len(info["rows"]) == 5


def test_info_npy_npz_and_nans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    arr[1, 2] = np.nan
    np.save(tmp_path / "a.npy", arr)
    code, out, _ = in_process(capsys, "info", str(tmp_path / "a.npy"), "--json")
    info = json.loads(out)
    assert info["dtype"] == "<f4" and info["nan_count"] == 1 and info["sampling_rate_hz"] is None
    assert [r["nan"] for r in info["rows"]] == [0, 1, 0]
    code, out, _ = in_process(capsys, "info", str(tmp_path / "a.npy"))
    assert code == 0 and "1 NaN" in out and "unknown" in out
    np.savez(tmp_path / "b.npz", C=arr, S=arr)
    code, _, err = in_process(capsys, "info", str(tmp_path / "b.npz"))
    assert code == 2 and "--key" in err
    assert in_process(capsys, "info", str(tmp_path / "b.npz"), "--key", "C")[0] == 0
    code, _, err = in_process(capsys, "info", str(tmp_path / "b.npz"), "--key", "X")
    assert code == 2 and "'C'" in err


@pytest.mark.parametrize("case", ["missing", "truncated", "3d", "text", "empty"])
def test_bad_files_exit_2(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.npy"
    if case == "truncated":
        np.save(path, np.zeros((4, 100)))
        path.write_bytes(path.read_bytes()[:200])
    elif case == "3d":
        np.save(path, np.zeros((2, 3, 4)))
    elif case == "text":
        path.write_text("hello")
    elif case == "empty":
        np.save(path, np.zeros((3, 0)))
    if case == "truncated":  # one case through a real process, the rest in-process
        res = run("info", str(path))
        code, err = res.returncode, res.stderr
    else:
        code, _, err = in_process(capsys, "info", str(path))
    assert code == 2, err
    assert err.startswith("calab: error") and "Traceback" not in err


def _export_file(tmp_path: Path, **kw: Any) -> Path:
    path = tmp_path / "export.json"
    cio.write_json_atomic(path, cio.build_export(0.02, 0.4, 0.05, 20.0, **kw))
    return path


def test_deconvolve(recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = _export_file(tmp_path, remove_drift=True)
    out = tmp_path / "out" / "activity"
    res = run("deconvolve", f"{recording}.npy", "--params", str(export), "-o", str(out),
              "--full", "--chunk-size", "2")
    assert res.returncode == 0, res.stderr
    act = np.load(f"{out}.npy")
    assert act.shape == (5, 600) and np.isfinite(act).all() and (act >= 0).all()
    diag = np.load(tmp_path / "out" / "activity_diagnostics.npz")
    assert diag["reconvolution"].shape == (5, 600) and diag["converged"].shape == (5,)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    # Exact agreement with the library is checked in-process: a subprocess may load a native
    # module rebuilt since this test process started.
    res = fast(capsys, "deconvolve", f"{recording}.npy", "--params", str(export), "-o",
               str(tmp_path / "again"), "--chunk-size", "2")
    assert res.returncode == 0, res.stderr
    traces, _ = cio.load_tuning_data(recording)
    expected = cio.deconvolve_from_export(traces, export)
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), expected)


def test_deconvolve_bad_inputs(recording: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    export = _export_file(tmp_path)
    out = str(tmp_path / "o.npy")
    res = fast(capsys, "deconvolve", f"{recording}.npy", "--params",
               str(tmp_path / "nope.json"), "-o", out)
    assert res.returncode == 2 and "nope.json" in res.stderr
    (tmp_path / "bad.json").write_text('{"schema_version": "2.0.0"}')
    res = fast(capsys, "deconvolve", f"{recording}.npy", "--params",
               str(tmp_path / "bad.json"), "-o", out)
    assert res.returncode == 2 and "UNSUPPORTED_VERSION" in res.stderr
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[1.0, np.nan, 2.0] * 20]))
    res = fast(capsys, "deconvolve", str(nan), "--params", str(export), "-o", out)
    assert res.returncode == 2 and "NON_FINITE_INPUT" in res.stderr
    assert not Path(out).exists()


def test_convert_suite2p(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plane = tmp_path / "plane0"
    plane.mkdir()
    f = np.random.default_rng(0).normal(size=(3, 40))
    np.save(plane / "F.npy", f)
    np.save(plane / "Fneu.npy", f / 4)
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [1, 0.8], [0, 0.1]]))
    res = fast(capsys, "convert", str(plane), "--format", "suite2p", "-o", str(tmp_path / "s2p"))
    assert res.returncode == 2 and "--fs" in res.stderr  # no ops.npy: rate unknown
    res = run("convert", str(plane), "--format", "suite2p", "--fs", "7.5",
              "-o", str(tmp_path / "s2p"))
    assert res.returncode == 0, res.stderr
    traces, meta = cio.load_tuning_data(tmp_path / "s2p")
    np.testing.assert_allclose(traces, (f - 0.7 * f / 4)[:2])
    assert meta["sampling_rate_hz"] == 7.5 and meta["cell_ids"] == [0, 1]
    res = fast(capsys, "convert", str(tmp_path / "nowhere"), "--format", "suite2p", "--fs", "5")
    assert res.returncode == 2


def test_convert_caiman(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "c.hdf5", "w") as fh:
        fh["estimates/C"] = np.ones((2, 30))
        fh["params/data/fr"] = 12.0
    res = fast(capsys, "convert", str(tmp_path / "c.hdf5"), "--format", "caiman")
    assert res.returncode == 0, res.stderr
    assert cio.load_tuning_data(tmp_path / "c")[1]["sampling_rate_hz"] == 12.0
    res = fast(capsys, "convert", str(tmp_path / "c.hdf5"), "--format", "caiman",
               "--trace-key", "x/y")
    assert res.returncode == 2 and "estimates/C" in res.stderr


def _play_browser(url: str) -> int:
    frag = parse_qs(urlsplit(url).fragment)
    base, token = frag["bridge"][0], frag["token"][0]
    body = json.dumps(cio.build_export(0.03, 0.5, 0.2, 20.0, num_cells=5)).encode()
    req = urllib.request.Request(f"{base}/api/v1/export", data=body, method="POST",
                                 headers={"X-CaLab-Token": token})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return int(resp.status)


# `calab tune` as a user's terminal starts it: Ctrl-C raises KeyboardInterrupt. A process started
# with SIGINT ignored (a shell's background job, `nohup`, some CI runners) passes that on to its
# children, and Python then leaves SIGINT ignored: the SIGINT below would do nothing and the child
# would run until its --timeout. That, not load, is what kept it alive 15 s after SIGINT.
_AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('calab.cli', run_name='__main__', alter_sys=True)"
)


def _start_tune(recording: Path) -> tuple[subprocess.Popen[str], queue.Queue[str], str,
                                          threading.Thread]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _AS_FROM_A_TERMINAL, "tune", str(recording), "--no-browser",
         "--timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    url = None
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=0.5).strip()
        except queue.Empty:
            continue
        if line.startswith("http://127.0.0.1:"):
            url = line
    if url is None:
        proc.kill()
        proc.wait(timeout=5)
        pytest.fail("tune did not print its URL")
    return proc, lines, url, reader


def _cleanup(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_tune_ctrl_c_exits_cleanly(recording: Path) -> None:
    proc, _lines, url, reader = _start_tune(recording)
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        reader.join(timeout=5)
        err = "".join(_lines.get() for _ in range(_lines.qsize()))
        assert proc.returncode == 1 and "Traceback" not in err and "interrupted" in err
        port = int(urlsplit(url).port or 0)
        with socket.socket() as sock:  # the bridge's port is free again
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    finally:
        _cleanup(proc)
        reader.join(timeout=5)


def test_tune_round_trip(recording: Path) -> None:
    proc, _lines, url, reader = _start_tune(recording)
    try:
        assert _play_browser(url) == 200
        proc.wait(timeout=15)
        reader.join(timeout=5)
        assert proc.returncode == 0 and proc.stdout is not None
        export = json.loads(proc.stdout.read())  # stdout holds only the export JSON
        assert export["parameters"]["tau_rise_s"] == 0.03
    finally:
        _cleanup(proc)


def test_tune_subprocess_driven_by_real_chromium(recording: Path) -> None:
    """`calab tune FILE` in its own process; real Chromium opens the printed URL, moves the
    parameter controls and exports to Python; stdout is exactly the export of those values."""
    pytest.importorskip("playwright")
    from calab._headless import HeadlessBrowser

    proc, _lines, url, reader = _start_tune(recording)
    try:
        with HeadlessBrowser() as hb:
            page = hb.page
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            hb.goto(url)
            fresh = '[data-testid="cell-card"][data-status="fresh"]'
            page.wait_for_selector(fresh, timeout=30_000)
            for testid, value in (("param-tau-rise", "0.045"), ("param-tau-decay", "0.7"),
                                  ("param-lambda", "0.015")):
                page.fill(f'[data-testid="{testid}"]', value)
                page.dispatch_event(f'[data-testid="{testid}"]', "input")
            page.wait_for_selector(fresh, timeout=30_000)
            page.click('[data-testid="export-python"]')
            proc.wait(timeout=30)
            assert not errors, errors
        reader.join(timeout=5)
        assert proc.returncode == 0 and proc.stdout is not None
        export = json.loads(proc.stdout.read())
        assert export["parameters"]["tau_rise_s"] == pytest.approx(0.045)
        assert export["parameters"]["tau_decay_s"] == pytest.approx(0.7)
        assert export["parameters"]["lambda"] == pytest.approx(0.015)
        assert export["metadata"]["num_cells"] == 5  # the `recording` fixture simulates 5 cells
    finally:
        _cleanup(proc)


def test_tune_timeout_and_missing_fs(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "t.npy", np.ones((2, 50)))
    res = fast(capsys, "tune", str(tmp_path / "t.npy"), "--no-browser", "--timeout", "0.3")
    assert res.returncode == 2 and "--fs" in res.stderr
    res = run("tune", str(tmp_path / "t.npy"), "--fs", "10", "--no-browser", "--timeout", "0.3")
    assert res.returncode == 1 and "no parameters exported" in res.stderr
