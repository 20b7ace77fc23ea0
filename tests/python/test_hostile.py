"""Regression tests for hostile files, outputs and arguments, driving the real ``calab`` command
line in subprocesses (issue 14): every refusal is a typed error with exit code 2 and no
traceback, no input is overwritten, no code in a data file runs, and a run killed at any moment
leaves the old outputs or the complete new ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _hostile_files as hf
import calab
import numpy as np
import pytest

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ENV.pop(calab._readers.ENV_LIMIT, None)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    pre = (lambda: os.umask(umask)) if umask is not None else None  # type: ignore[func-returns-value]
    return subprocess.run([sys.executable, "-m", "calab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env or ENV,
                          preexec_fn=pre)  # noqa: PLW1509


def refused(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, one clean ``calab: error`` line, no traceback, the message names the problem."""
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("calab: error"), res.stderr
    assert "allow_pickle" not in res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "params.json"
    path.write_text(json.dumps(calab.build_export(0.02, 0.4, 0.05, 30.0)))
    return path


# ---------------------------------------------------------------------------- code execution


def test_convert_suite2p_never_runs_code_from_ops_npy(tmp_path: Path) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    # First prove the file is a live payload: a general unpickle runs it.
    probe = tmp_path / "probe.npy"
    hf.write_pickled_npy(probe, hf.evil_ops(marker))
    np.load(probe, allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    plane = hf.suite2p_folder(tmp_path / "plane0", ops=hf.evil_ops(marker))
    res = run("convert", str(plane), "--format", "suite2p", "-o", str(tmp_path / "rec"))
    refused(res, "ops.npy", "not a plain data type", "--fs")
    assert not marker.exists(), "the payload in ops.npy ran"
    assert not (tmp_path / "rec.npy").exists()
    # With the rate given, ops.npy is not read at all and the conversion works.
    ok = run("convert", str(plane), "--format", "suite2p", "--fs", "30", "-o",
             str(tmp_path / "rec"))
    assert ok.returncode == 0, ok.stderr
    assert not marker.exists()


def test_convert_suite2p_reads_fs_from_a_plain_ops_npy(tmp_path: Path) -> None:
    ops = {"fs": 12.5, "meanImg": np.ones((4, 4), np.float32), "filelist": ["a.tif"],
           "date_proc": __import__("datetime").datetime(2024, 1, 2), "nchannels": np.int64(1)}
    plane = hf.suite2p_folder(tmp_path / "plane0", ops=ops)
    res = run("convert", str(plane), "--format", "suite2p", "-o", str(tmp_path / "rec"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "rec_metadata.json").read_text())["sampling_rate_hz"] == 12.5


# ---------------------------------------------------------------------------- outputs


def test_an_output_that_is_an_input_is_refused(tmp_path: Path, export: Path) -> None:
    victim = tmp_path / "victim.npy"
    np.save(victim, np.random.default_rng(0).random((3, 300)))
    before = victim.read_bytes()
    (tmp_path / "link.npy").symlink_to(victim)
    os.link(victim, tmp_path / "hard.npy")
    cases = [str(victim), str(tmp_path / "victim"), str(tmp_path / "link.npy"),
             str(tmp_path / "hard")]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda out: run("deconvolve", str(victim), "--params",
                                                str(export), "-o", out), cases))
    for res in results:
        refused(res, "is the input", "victim.npy")
    assert victim.read_bytes() == before
    # The export is an input too.
    exp_copy = tmp_path / "p.npy"
    exp_copy.write_text(export.read_text())
    res = run("deconvolve", str(victim), "--params", str(exp_copy), "-o", str(exp_copy))
    refused(res, "is the input")
    # convert's outputs are checked the same way (an output inside the Suite2p folder).
    res = run("convert", str(hf.suite2p_folder(tmp_path / "plane0")), "--format", "suite2p",
              "--fs", "30", "-o", str(tmp_path / "plane0" / "F"))
    refused(res, "is the input")
    assert np.load(tmp_path / "plane0" / "F.npy").shape == (4, 300)


@pytest.mark.parametrize("out", ["/", ".", "", "..", "sub/", "sub/.."])
def test_output_names_that_are_folders_or_nothing(tmp_path: Path, export: Path,
                                                  out: str) -> None:
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).random((2, 200)))
    before = sorted(p.name for p in tmp_path.iterdir())
    parent_before = sorted(p.name for p in tmp_path.parent.iterdir())
    res = run("deconvolve", "rec.npy", "--params", str(export), "-o", out, cwd=tmp_path)
    refused(res, "output")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == parent_before


def test_unwritable_outputs_say_why(tmp_path: Path, export: Path) -> None:
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).random((2, 200)))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for out, needle in [(str(blocker / "act"), "is a file, not a folder"),
                        ("/proc/calab-nope/act", "/proc")]:
        res = run("deconvolve", str(tmp_path / "rec.npy"), "--params", str(export), "-o", out)
        refused(res, needle)
        assert res.stderr.strip() not in ("calab: error: 2", "calab: error: 13")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask(tmp_path: Path, export: Path, umask: int) -> None:
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).random((2, 200)))
    res = run("deconvolve", str(tmp_path / "rec.npy"), "--params", str(export), "-o",
              str(tmp_path / "act"), "--full", umask=umask)
    assert res.returncode == 0, res.stderr
    for name in ("act.npy", "act_diagnostics.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    res = run("simulate", "--cells", "2", "--frames", "100", "-o", str(tmp_path / "sim"),
              umask=umask)
    assert res.returncode == 0, res.stderr
    for name in ("sim.npy", "sim_metadata.json", "sim_spikes.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def _pair(tmp_path: Path) -> tuple[bytes, bytes]:
    return (tmp_path / "act.npy").read_bytes(), (tmp_path / "act_diagnostics.npz").read_bytes()


@pytest.fixture()
def two_sets(tmp_path: Path) -> tuple[Path, list[str], list[str], tuple[bytes, bytes],
                                      tuple[bytes, bytes]]:
    """A recording, the commands for an old and a new output set, and both sets' bytes."""
    rec = tmp_path / "rec.npy"
    np.save(rec, calab.simulate(calab.presets.gcamp6f(num_cells=40, num_timepoints=3000,
                                                      seed=4)).traces)
    old_p, new_p = tmp_path / "old.json", tmp_path / "new.json"
    old_p.write_text(json.dumps(calab.build_export(0.02, 0.4, 0.05, 30.0)))
    new_p.write_text(json.dumps(calab.build_export(0.03, 0.6, 0.2, 30.0)))
    base = ["deconvolve", str(rec), "-o", str(tmp_path / "act"), "--full", "--no-progress"]
    old_cmd, new_cmd = base + ["--params", str(old_p)], base + ["--params", str(new_p)]
    assert run(*new_cmd).returncode == 0
    new = _pair(tmp_path)
    assert run(*old_cmd).returncode == 0
    old = _pair(tmp_path)
    assert old[0] != new[0] and old[1] != new[1]
    return tmp_path, old_cmd, new_cmd, old, new


def _start(cmd: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "calab.cli", *cmd], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**ENV, **env})


def test_sigkill_between_the_renames_is_completed_by_the_next_command(two_sets) -> None:  # type: ignore[no-untyped-def]
    folder, _old_cmd, new_cmd, old, new = two_sets
    proc = _start(new_cmd, CALAB_TEST_COMMIT_PAUSE="60")
    deadline = time.monotonic() + 120
    journal = None
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(folder.glob(".*.calab-commit"))
        moved = (folder / "act.npy").read_bytes() == new[0]
        if journals and moved:  # the activity is new, the diagnostics still old
            journal = journals[0]
            break
        time.sleep(0.05)
    assert journal is not None, "the run never reached its commit"
    proc.kill()
    proc.communicate(timeout=30)
    assert _pair(folder) == (new[0], old[1])  # the mixed state a kill can leave on disk ...
    assert journal.exists()  # ... with its journal
    res = run("info", str(folder / "act.npy"))  # any calab command in the folder completes it
    assert res.returncode == 0, res.stderr
    assert _pair(folder) == new
    assert not list(folder.glob(".*.calab-commit")) and not list(folder.glob(".*.tmp"))


def test_sigint_during_the_commit_waits_for_the_whole_set(two_sets) -> None:  # type: ignore[no-untyped-def]
    folder, _old_cmd, new_cmd, old, new = two_sets
    proc = _start(new_cmd, CALAB_TEST_COMMIT_PAUSE="1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(folder.glob(".*.calab-commit")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert _pair(folder) == new  # Ctrl-C was held back until the set was complete


def test_killed_at_random_moments_leaves_the_old_or_the_new_set(two_sets) -> None:  # type: ignore[no-untyped-def]
    folder, old_cmd, new_cmd, old, new = two_sets
    rng = np.random.default_rng(7)
    start = time.monotonic()
    assert run(*new_cmd).returncode == 0
    runtime = time.monotonic() - start
    assert run(*old_cmd).returncode == 0
    seen = set()
    for trial in range(8):
        cmd = new_cmd if trial % 2 == 0 else old_cmd
        before = _pair(folder)
        proc = _start(cmd)
        time.sleep(float(rng.uniform(0.0, runtime * 1.2)))
        proc.send_signal(signal.SIGKILL if trial % 3 else signal.SIGINT)
        proc.communicate(timeout=60)
        run("info", str(folder / "act.npy"))  # recovery, if a journal was left
        after = _pair(folder)
        assert after in (old, new), f"trial {trial}: a mixed set"
        assert after == before or after == (new if cmd is new_cmd else old)
        seen.add(after == before)
        assert not list(folder.glob(".*.tmp")), "temporary files left behind"
    assert seen  # at least one trial ran


# ---------------------------------------------------------------------------- files refused


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    hf.huge_header_npy(d / "huge.npy")
    hf.sparse_npy(d / "big.npy", 5 << 30)  # a complete 5 GiB file, stored sparse
    hf.bomb_npz(d / "bomb.npz", 300 << 20)
    hf.lying_npz(d / "lying.npz")
    hf.small_member_big_header_npz(d / "member.npz")
    hf.bad_crc_npz(d / "badcrc.npz")
    hf.truncated_npz(d / "trunc.npz")
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "garbage.npy").write_bytes(os.urandom(300))
    (d / "garbage.mat").write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(400))
    hf.tuning_stem(d, "deep", None, raw_meta='{"sampling_rate_hz": 30, "x": '
                   + hf.deep_json() + "}")
    hf.tuning_stem(d, "shape_int", {"sampling_rate_hz": 30.0, "shape": 5})
    hf.tuning_stem(d, "fs_true", {"sampling_rate_hz": True})
    hf.tuning_stem(d, "fs_huge", {"sampling_rate_hz": 1e308})
    hf.tuning_stem(d, "fs_text", {"sampling_rate_hz": "30"})
    hf.tuning_stem(d, "not_object", [1, 2])
    (d / "deep_params.json").write_text(hf.deep_json())
    hf.caiman_huge(d / "caiman_huge.hdf5")
    hf.caiman_group(d / "caiman_group.hdf5")
    hf.caiman_group(d / "caiman_fs_group.hdf5", "params/data/fr")
    hf.caiman_group(d / "caiman_idx_group.hdf5", "estimates/idx_components")
    hf.suite2p_folder(d / "s2p_str", iscell=np.array(["a", "b", "c", "d"]))
    hf.suite2p_folder(d / "s2p_0d", iscell=np.array(3.0))
    return d


CASES = [
    (["info", "huge.npy"], ["29.1 TiB", "truncated"]),
    (["info", "big.npy"], ["TOO_LARGE", "CALAB_MAX_INPUT_BYTES"]),
    (["info", "bomb.npz"], ["TOO_LARGE", "zip bomb"]),
    (["info", "lying.npz"], ["TOO_LARGE"]),
    (["info", "member.npz"], ["truncated"]),
    (["info", "badcrc.npz"], ["CRC"]),
    (["info", "trunc.npz"], ["truncated"]),
    (["info", "obj.npy"], ["Python objects", "never unpickles"]),
    (["info", "garbage.npy"], ["not a .npy file"]),
    (["info", "garbage.mat"], ["not a MATLAB level-5 file"]),
    (["info", "deep"], ["nested too deeply"]),
    (["info", "shape_int"], ["shape must be a list"]),
    (["info", "fs_true"], ["sampling rate must be a number"]),
    (["info", "fs_huge"], ["up to 1e+06"]),
    (["info", "fs_text"], ["must be a number"]),
    (["info", "not_object"], ["JSON object"]),
    (["tune", "huge.npy", "--no-browser", "--fs", "30"], ["truncated"]),
    (["cadecon", "bomb.npz", "--native", "--fs", "30", "-o", "out"], ["zip bomb"]),
    (["deconvolve", "obj.npy", "--params", "deep_params.json", "-o", "out"],
     ["nested too deeply"]),
    (["convert", "caiman_huge.hdf5", "--format", "caiman", "-o", "out"], ["TOO_LARGE"]),
    (["convert", "caiman_group.hdf5", "--format", "caiman", "-o", "out"],
     ["is a group, not a dataset"]),
    (["convert", "caiman_fs_group.hdf5", "--format", "caiman", "-o", "out"],
     ["is a group, not a dataset"]),
    (["convert", "caiman_idx_group.hdf5", "--format", "caiman", "-o", "out"],
     ["is a group, not a dataset"]),
    (["convert", "s2p_str", "--format", "suite2p", "--fs", "30", "-o", "out"],
     ["iscell.npy must hold numbers"]),
    (["convert", "s2p_0d", "--format", "suite2p", "--fs", "30", "-o", "out"],
     ["iscell.npy must be 1-D"]),
    (["demo", "--fs", "nan", "--headless"], ["--fs"]),
    (["demo", "--fs", "inf", "--headless"], ["--fs"]),
    (["demo", "--cells", "0", "--headless"], ["--cells"]),
    (["demo", "--duration", "-1", "--headless"], ["--duration"]),
]


def test_hostile_files_and_arguments_are_refused_cleanly(bad_files: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: run(*case[0], cwd=bad_files), CASES))
    for (args, needles), res in zip(CASES, results):
        if args[0] == "demo":  # argparse's own usage error: exit 2, no traceback
            assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
            assert all(n in res.stderr for n in needles), res.stderr
            continue
        try:
            refused(res, *needles)
        except AssertionError as exc:
            raise AssertionError(f"calab {' '.join(args)}: {exc}") from None
    assert not (bad_files / "out.npy").exists()


def test_the_size_limit_can_be_raised(tmp_path: Path) -> None:
    np.save(tmp_path / "rec.npy", np.zeros((4, 1 << 20)))  # 32 MiB
    refused(run("info", "rec.npy", cwd=tmp_path, env={**ENV, calab._readers.ENV_LIMIT: "16M"}),
            "TOO_LARGE", "32.0 MiB", "16.0 MiB", "CALAB_MAX_INPUT_BYTES=1G")
    res = run("info", "rec.npy", "--json", cwd=tmp_path,
              env={**ENV, calab._readers.ENV_LIMIT: "64M"})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["shape"] == [4, 1 << 20]
    res = run("info", "rec.npy", cwd=tmp_path, env={**ENV, calab._readers.ENV_LIMIT: "lots"})
    refused(res, "not a size")


def test_scheduler_that_is_not_an_address_fails_fast(tmp_path: Path, export: Path) -> None:
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).random((2, 200)))
    for address, needle in [("not-an-address", "expected tcp://HOST:PORT"),
                            ("tcp://calab-no-such-host.invalid:8786", "not found"),
                            ("tcp://127.0.0.1:1", "could not connect")]:
        res = run("deconvolve", str(tmp_path / "rec.npy"), "--params", str(export), "-o",
                  str(tmp_path / "act"), "--scheduler", address, timeout=60)
        refused(res, needle)
    assert not (tmp_path / "act.npy").exists()


def test_nan_policy_on_the_command_line(tmp_path: Path, export: Path) -> None:
    y = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=600, seed=2)).traces
    y[1, 100:104] = np.nan
    np.save(tmp_path / "gaps.npy", y)
    res = run("deconvolve", str(tmp_path / "gaps.npy"), "--params", str(export), "-o",
              str(tmp_path / "a"))
    refused(res, "NON_FINITE_INPUT", "row 1", "--nan-policy interpolate")
    res = run("deconvolve", str(tmp_path / "gaps.npy"), "--params", str(export), "-o",
              str(tmp_path / "a"), "--nan-policy", "interpolate")
    assert res.returncode == 0, res.stderr
    assert "filled 4 missing frame(s) in 1 of 3 cells" in res.stderr and "1: 4" in res.stderr
    filled = calab.fill_nan(y).traces
    want = calab.deconvolve_from_export(filled, str(export))
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), want, rtol=1e-9, atol=1e-12)


def test_mat_files_through_every_reading_command(tmp_path: Path, export: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    y = calab.simulate(calab.presets.gcamp6f(num_cells=3, num_timepoints=600, seed=2)).traces
    scipy_io.savemat(tmp_path / "rec.mat", {"traces": y, "Fs": 20.0, "note": "x"})
    res = run("info", str(tmp_path / "rec.mat"), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["shape"] == [3, 600] and info["sampling_rate_hz"] == 20.0
    res = run("deconvolve", str(tmp_path / "rec.mat"), "--params", str(export), "-o",
              str(tmp_path / "act"))
    assert res.returncode == 0, res.stderr
    assert "recorded at 20.0 Hz but the export was tuned at 30.0 Hz" in res.stderr
    res = run("cadecon", str(tmp_path / "rec.mat"), "--native", "-o", str(tmp_path / "cd"),
              "--max-iterations", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "cd_results.json").read_text())
    assert meta.get("fs", meta.get("config", {}).get("fs", 20.0)) == 20.0
    res = run("tune", str(tmp_path / "rec.mat"), "--no-browser", "--timeout", "0.5")
    assert res.returncode == 1 and "Traceback" not in res.stderr  # read, served, timed out
    scipy_io.savemat(tmp_path / "two.mat", {"a": y, "b": y})
    refused(run("info", str(tmp_path / "two.mat")), "several numeric matrices", "--key")
    assert run("info", str(tmp_path / "two.mat"), "--key", "b").returncode == 0
