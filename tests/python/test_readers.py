"""The one reader (calab._readers, through calab.io.load_traces_file and the loaders): what it
reads, what it refuses and how, and that it never allocates what a file only claims."""

from __future__ import annotations

import json
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import _hostile_files as hf
import calab
import numpy as np
import pytest
from calab import _readers
from calab.io import load_traces_file, load_tuning_data


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_readers.ENV_LIMIT, raising=False)


# ---------------------------------------------------------------------------- .npy


@pytest.mark.parametrize("dtype", ["<f8", ">f4", "<i2", "|u1", "|b1"])
@pytest.mark.parametrize("fortran", [False, True])
def test_npy_round_trip(tmp_path: Path, dtype: str, fortran: bool) -> None:
    a = (np.arange(24).reshape(4, 6) % 3).astype(dtype)
    if fortran:
        a = np.asfortranarray(a)
    np.save(tmp_path / "a.npy", a)
    b = _readers.read_npy(tmp_path / "a.npy")
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_npy_header_versions(tmp_path: Path, version: tuple[int, int]) -> None:
    a = np.arange(6.0).reshape(2, 3)
    with open(tmp_path / "v.npy", "wb") as fh:
        np.lib.format.write_array(fh, a, version=version)
    assert np.array_equal(_readers.read_npy(tmp_path / "v.npy"), a)


def test_a_header_declaring_terabytes_allocates_nothing(tmp_path: Path) -> None:
    path = hf.huge_header_npy(tmp_path / "huge.npy")
    tracemalloc.start()
    try:
        with pytest.raises(calab.FileFormatError, match=r"29\.1 TiB.*truncated"):
            load_traces_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_complete_files_beyond_the_limit_are_refused_before_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = hf.sparse_npy(tmp_path / "big.npy", 5 << 30)
    with pytest.raises(calab.TooLargeError, match="CALAB_MAX_INPUT_BYTES=5G") as err:
        _readers.read_npy(path)
    assert err.value.code == "TOO_LARGE" and isinstance(err.value, ValueError)
    np.save(tmp_path / "small.npy", np.zeros((2, 1000)))
    monkeypatch.setenv(_readers.ENV_LIMIT, "1K")
    with pytest.raises(calab.TooLargeError, match="15.6 KiB"):
        _readers.read_npy(tmp_path / "small.npy")
    for value in ("16k", "1 MiB", "none", "2G"):
        monkeypatch.setenv(_readers.ENV_LIMIT, value)
        assert _readers.read_npy(tmp_path / "small.npy").shape == (2, 1000)
    monkeypatch.setenv(_readers.ENV_LIMIT, "plenty")
    with pytest.raises(calab.FileFormatError, match="not a size"):
        _readers.read_npy(tmp_path / "small.npy")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "not a .npy file"),
        (b"\x93NUMPY\x09\x00", "version 9.0"),
        (b"\x93NUMPY\x01\x00\xff\xff", "ends inside its header"),
        (b"\x93NUMPY\x02\x00\xff\xff\xff\x00", "claims"),
        (hf.npy_header((2, 3)).replace(b"{", b"["), "not readable"),
        (b"\x93NUMPY\x01\x00\x10\x00{'a': 1}        \n", "must have descr"),
        (hf.npy_header((-1, 3)), "non-negative"),
        (hf.npy_header((2, 3), "<zz"), "not a valid numpy dtype"),
        (hf.npy_header((2, 3), "|O"), "Python objects"),
        (hf.npy_header((2, 3), "|V0"), "has no size"),
        (hf.npy_header((2, 3)) + bytes(47), "truncated"),
    ],
)
def test_broken_npy_files_name_the_problem(tmp_path: Path, data: bytes, needle: str) -> None:
    (tmp_path / "x.npy").write_bytes(data)
    with pytest.raises(calab.FileFormatError, match=needle) as err:
        load_traces_file(tmp_path / "x.npy")
    assert "allow_pickle" not in str(err.value)


def test_object_arrays_are_refused_without_pickle_advice(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(calab.FileFormatError) as err:
        load_traces_file(tmp_path / "o.npy")
    assert "never unpickles" in str(err.value) and "allow_pickle" not in str(err.value)


# ---------------------------------------------------------------------------- .npz


def test_npz_members_and_keys(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "z.npz", C=np.ones((2, 30)), S=np.zeros((2, 30)))
    with pytest.raises(calab.FileFormatError, match=r"holds arrays \['C', 'S'\]"):
        load_traces_file(tmp_path / "z.npz")
    arr, fs, meta = load_traces_file(tmp_path / "z.npz", key="S")
    assert arr.shape == (2, 30) and fs is None and meta["key"] == "S"
    with pytest.raises(calab.FileFormatError, match="no array 'X'"):
        load_traces_file(tmp_path / "z.npz", key="X")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(calab.FileFormatError, match="empty"):
        load_traces_file(tmp_path / "empty.npz")


def test_npz_bombs_lies_and_damage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(calab.TooLargeError, match="expands"):
        _readers.read_npz(hf.lying_npz(tmp_path / "lying.npz"))
    with pytest.raises(calab.FileFormatError, match="truncated"):
        _readers.read_npz(hf.small_member_big_header_npz(tmp_path / "member.npz"))
    with pytest.raises(calab.FileFormatError, match="CRC"):
        _readers.read_npz(hf.bad_crc_npz(tmp_path / "crc.npz"))
    with pytest.raises(calab.FileFormatError, match="truncated"):
        _readers.read_npz(hf.truncated_npz(tmp_path / "trunc.npz"))
    # A real bomb (smaller thresholds so the test stays small): refused by the ratio, read
    # once the limit is set explicitly.
    monkeypatch.setattr(_readers, "BOMB_MIN_BYTES", 1 << 20)
    bomb = hf.bomb_npz(tmp_path / "bomb.npz", 8 << 20)
    assert bomb.stat().st_size < 64 << 10
    with pytest.raises(calab.TooLargeError, match=r"zip bomb\?.*CALAB_MAX_INPUT_BYTES"):
        _readers.read_npz(bomb)
    monkeypatch.setenv(_readers.ENV_LIMIT, "16M")
    arr, name, _fs = _readers.read_npz(bomb)
    assert name == "traces" and arr.shape == (1, 2 << 20) and not arr.any()
    monkeypatch.setenv(_readers.ENV_LIMIT, "4M")
    with pytest.raises(calab.TooLargeError, match="member"):
        _readers.read_npz(bomb)


def test_npz_of_object_arrays_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", a=np.array([None, 1], dtype=object))
    with pytest.raises(calab.FileFormatError, match="Python objects"):
        load_traces_file(tmp_path / "o.npz")


# ---------------------------------------------------------------------------- .mat


def test_mat_v5_v4_and_v73(tmp_path: Path) -> None:
    sio = pytest.importorskip("scipy.io")
    h5py = pytest.importorskip("h5py")
    x = np.random.default_rng(0).random((3, 50))
    sio.savemat(tmp_path / "a.mat", {"traces": x, "fs": 20.0, "label": "m1", "cfg": {"a": 1}})
    sio.savemat(tmp_path / "b.mat", {"traces": x, "frame_rate": np.array([[15.0]])},
                do_compression=True)
    sio.savemat(tmp_path / "c.mat", {"traces": x.astype(np.float32), "flags": x > 0.5},
                do_compression=True)
    for name, fs in [("a.mat", 20.0), ("b.mat", 15.0)]:
        arr, got_fs, meta = load_traces_file(tmp_path / name)
        assert np.array_equal(arr, x) and got_fs == fs, name
        assert meta["key"] == "traces"
    arr, fs, _ = load_traces_file(tmp_path / "c.mat", key="traces")
    assert arr.dtype == np.float64 and np.array_equal(arr, x.astype(np.float32)) and fs is None
    assert np.array_equal(load_traces_file(tmp_path / "c.mat", key="flags")[0], x > 0.5)
    # Row and column vectors are one trace; 3-D with a singleton squeezes (as in the browser).
    sio.savemat(tmp_path / "v.mat", {"r": x[0], "c": x[0][:, None], "t": x[:, :, None]},
                oned_as="column")
    assert load_traces_file(tmp_path / "v.mat", key="c")[0].shape == (1, 50)
    assert load_traces_file(tmp_path / "v.mat", key="t")[0].shape == (3, 50)
    # MATLAB v4 files are refused with advice, as in the browser.
    sio.savemat(tmp_path / "old.mat", {"traces": x}, format="4")
    with pytest.raises(calab.FileFormatError, match="level-5"):
        load_traces_file(tmp_path / "old.mat")
    with h5py.File(tmp_path / "d.mat", "w", userblock_size=512) as fh:
        fh.create_dataset("traces", data=x.T).attrs["MATLAB_class"] = np.bytes_("double")
        fh.create_dataset("fps", data=np.array([[25.0]])).attrs["MATLAB_class"] = \
            np.bytes_("double")
        fh.create_group("notes")
    with open(tmp_path / "d.mat", "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116))
    arr, fs, _ = load_traces_file(tmp_path / "d.mat")
    assert np.array_equal(arr, x) and fs == 25.0


def test_mat_refusals(tmp_path: Path) -> None:
    sio = pytest.importorskip("scipy.io")
    x = np.ones((3, 40))
    sio.savemat(tmp_path / "two.mat", {"a": x, "b": x})
    with pytest.raises(calab.FileFormatError, match="several numeric matrices"):
        load_traces_file(tmp_path / "two.mat")
    assert load_traces_file(tmp_path / "two.mat", key="b")[0].shape == (3, 40)
    sio.savemat(tmp_path / "text.mat", {"s": "hello", "c": {"a": 1}})
    with pytest.raises(calab.FileFormatError, match="no numeric matrix"):
        load_traces_file(tmp_path / "text.mat")
    sio.savemat(tmp_path / "fs.mat", {"traces": x, "fs": -3.0})
    assert load_traces_file(tmp_path / "fs.mat")[1] is None  # not a rate: ignored, as in the app
    # A matrix declared 10^5 x 10^5 is checked against the limit from the header alone.
    sio.savemat(tmp_path / "neg.mat", {"traces": np.ones((3, 4))})
    data = bytearray((tmp_path / "neg.mat").read_bytes())
    i = data.find(np.array([3, 4], "<i4").tobytes())
    data[i: i + 8] = np.array([100_000, 100_000], "<i4").tobytes()
    (tmp_path / "big.mat").write_bytes(bytes(data))
    with pytest.raises(calab.TooLargeError):
        load_traces_file(tmp_path / "big.mat")
    data[i: i + 8] = np.array([-3, 4], "<i4").tobytes()
    (tmp_path / "neg.mat").write_bytes(bytes(data))
    with pytest.raises(calab.FileFormatError):
        load_traces_file(tmp_path / "neg.mat")


def test_fs_names_come_from_the_shared_conventions() -> None:
    conv = json.loads((Path(calab.__file__).parent / "_schemas" / "trace-files.json").read_text())
    assert list(_readers.FS_NAMES) == conv["fs_variable_names"]
    assert _readers.MAX_FILE_FS_HZ == conv["max_sampling_rate_hz"]
    assert conv["properties"]["max_sampling_rate_hz"]["const"] == conv["max_sampling_rate_hz"]
    # The browser's rule (web/shared/parse.ts storedFs): names in order, exact case, the first
    # one holding a valid rate wins; an invalid one is skipped, not an error.
    assert _readers.stored_fs({"fps": 20.0, "fs": 30.0}) == 30.0
    assert _readers.stored_fs({"fs": -1.0, "fps": 20.0}) == 20.0
    assert _readers.stored_fs({"FS": 30.0}) is None
    assert _readers.stored_fs({"fs": 1e308}) is None
    assert _readers.stored_fs({"fs": np.array([1.0, 2.0])}) is None


def test_npz_with_a_stored_rate(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((3, 40))
    np.savez(tmp_path / "r.npz", traces=x, fs=np.float64(12.5))
    arr, fs, meta = load_traces_file(tmp_path / "r.npz")
    assert np.array_equal(arr, x) and fs == 12.5 and meta["key"] == "traces"
    np.savez(tmp_path / "two.npz", a=x, b=x, fs=12.5)
    with pytest.raises(calab.FileFormatError, match="--key"):
        load_traces_file(tmp_path / "two.npz")
    assert load_traces_file(tmp_path / "two.npz", key="b")[1] == 12.5


def test_content_decides_when_the_suffix_does_not(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((2, 5)))
    (tmp_path / "traces.dat").write_bytes((tmp_path / "x.npy").read_bytes())
    assert load_traces_file(tmp_path / "traces.dat")[0].shape == (2, 5)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(calab.FileFormatError, match="unknown content"):
        load_traces_file(tmp_path / "notes.txt")
    with pytest.raises(calab.FileFormatError, match="is a folder"):
        load_traces_file(tmp_path)


# ---------------------------------------------------------------------------- metadata JSON


@pytest.mark.parametrize(
    ("meta", "raw", "needle"),
    [
        ({"sampling_rate_hz": True}, None, "must be a number"),
        ({"sampling_rate_hz": 1e308}, None, "up to"),
        ({"sampling_rate_hz": -1}, None, "positive"),
        ({"sampling_rate_hz": "30"}, None, "must be a number"),
        ({"sampling_rate_hz": None}, None, "must be a number"),
        ({"sampling_rate_hz": 30.0, "shape": 5}, None, "shape must be a list"),
        ({"sampling_rate_hz": 30.0, "shape": [2, "x"]}, None, "shape must be a list"),
        ({"sampling_rate_hz": 30.0, "shape": [3, 100]}, None, "says"),
        (None, '{"sampling_rate_hz": NaN}', "positive"),
        (None, '{"sampling_rate_hz": 30, "x": ' + hf.deep_json() + "}", "nested too deeply"),
        (None, "\xff\xfe", "not valid"),
        (None, "[1, 2]", "JSON object"),
    ],
)
def test_metadata_sidecars(tmp_path: Path, meta: object, raw: str | None, needle: str) -> None:
    stem = hf.tuning_stem(tmp_path, "rec", meta, raw)
    with pytest.raises(calab.FileFormatError, match=needle):
        load_tuning_data(stem)


def test_deep_or_huge_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deep.json").write_text(hf.deep_json())
    with pytest.raises(calab.FileFormatError, match="nested too deeply"):
        calab.load_export_params(tmp_path / "deep.json")
    monkeypatch.setattr(_readers, "MAX_JSON_BYTES", 1000)
    (tmp_path / "big.json").write_text(json.dumps({"x": "y" * 2000}))
    with pytest.raises(calab.TooLargeError, match="expected to be small"):
        calab.load_export_params(tmp_path / "big.json")
    export = calab.build_export(0.02, 0.4, 0.1, 30.0)
    export["parameters"]["sampling_rate_hz"] = 1e308
    (tmp_path / "fs.json").write_text(json.dumps(export))
    monkeypatch.setattr(_readers, "MAX_JSON_BYTES", 1 << 20)
    with pytest.raises(calab.FileFormatError, match="sampling rate"):
        calab.load_export_params(tmp_path / "fs.json")


# ---------------------------------------------------------------------------- plain pickles


def _ops() -> dict[str, object]:
    import datetime

    return {"fs": 30.0, "meanImg": np.ones((3, 3), np.float32), "tau": np.float64(1.25),
            "filelist": ["a.tif", "b.tif"], "nested": {"x": [1, (2, 3)], "s": {1, 2}},
            "flag": True, "none": None, "c": 1 + 2j, "n": np.int32(4),
            "date_proc": datetime.datetime(2024, 5, 6, 7, 8, 9)}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_pickles_of_every_protocol(tmp_path: Path, protocol: int) -> None:
    hf.write_pickled_npy(tmp_path / "ops.npy", _ops(), protocol)
    obj = _readers.load_plain_pickle(tmp_path / "ops.npy").item()
    assert obj["fs"] == 30.0 and obj["meanImg"].shape == (3, 3)
    assert obj["nested"]["s"] == {1, 2} and obj["date_proc"].year == 2024


def test_numpy1_pickles_are_read_without_the_numpy_core_shim(tmp_path: Path) -> None:
    hf.write_pickled_npy(tmp_path / "ops.npy", _ops(), 2)
    data = (tmp_path / "ops.npy").read_bytes()
    old = data.replace(b"numpy._core.", b"numpy.core.")
    assert old != data or b"numpy.core." in data
    (tmp_path / "old.npy").write_bytes(old)
    assert _readers.load_plain_pickle(tmp_path / "old.npy").item()["fs"] == 30.0


@pytest.mark.parametrize("payload", [
    (__import__("os").system, ("true",)),
    (eval, ("1",)),
    (getattr, (object, "__class__")),
    (__import__("builtins").exec, ("x=1",)),
    (__import__("subprocess").Popen, (["true"],)),
])
def test_anything_callable_is_refused_before_it_runs(tmp_path: Path, payload: object) -> None:
    class Evil:
        def __reduce__(self) -> object:
            return payload

    marker = tmp_path / "RAN"
    hf.write_pickled_npy(tmp_path / "ops.npy", {"fs": 30.0, "x": Evil(),
                                                 "y": hf._Payload(marker)}, 2)
    with pytest.raises(calab.FileFormatError, match="not a plain data type"):
        _readers.load_plain_pickle(tmp_path / "ops.npy")
    assert not marker.exists()


def test_suite2p_with_a_payload_in_ops(tmp_path: Path) -> None:
    marker = tmp_path / "RAN"
    plane = hf.suite2p_folder(tmp_path / "plane0", ops=hf.evil_ops(marker))
    with pytest.raises(calab.FileFormatError, match="fs="):
        calab.load_suite2p(plane)
    assert not marker.exists()
    traces, meta = calab.load_suite2p(plane, fs=30.0)
    assert traces.shape == (4, 300) and meta["sampling_rate_hz"] == 30.0
    assert not marker.exists()


@pytest.mark.parametrize(("iscell", "needle"), [
    (np.array(["a", "b", "c", "d"]), "must hold numbers"),
    (np.array(3.0), "must be 1-D"),
    (np.ones((4, 0)), "must be 1-D"),
    (np.ones((4, 2, 2)), "must be 1-D"),
    (np.ones(3), "3 rows"),
])
def test_suite2p_iscell_shapes(tmp_path: Path, iscell: np.ndarray, needle: str) -> None:
    plane = hf.suite2p_folder(tmp_path / "plane0", iscell=iscell)
    with pytest.raises(calab.FileFormatError, match=needle):
        calab.load_suite2p(plane, fs=30.0)


def test_caiman_declared_sizes_and_groups(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    with pytest.raises(calab.TooLargeError):
        calab.load_caiman(hf.caiman_huge(tmp_path / "huge.hdf5"))
    for where in ("estimates/C", "params/data/fr", "estimates/idx_components"):
        path = hf.caiman_group(tmp_path / f"{where.replace('/', '_')}.hdf5", where)
        with pytest.raises(calab.FileFormatError, match="is a group, not a dataset"):
            calab.load_caiman(path)
    ok = hf.caiman_group(tmp_path / "ok.hdf5", "nothing")
    traces, meta = calab.load_caiman(ok)
    assert traces.shape == (3, 200) and meta["sampling_rate_hz"] == 30.0
    assert meta["accepted_components"] == [0, 2]


# ---------------------------------------------------------------------------- missing frames


def test_fill_nan_matches_the_shared_fixture() -> None:
    root = Path(__file__).resolve().parents[1]
    fixture = json.loads((root / "fixtures" / "nan_fill.json").read_text())

    def value(v: object) -> float:
        return {None: np.nan, "inf": np.inf, "-inf": -np.inf}.get(v, v)  # type: ignore[call-overload, return-value]

    for case in fixture["cases"]:
        row = np.array([value(v) for v in case["input"]], dtype=float)
        out = calab.fill_nan(row)
        assert out.filled == case["filled"], case["name"]
        np.testing.assert_allclose(out.traces, case["expected"], rtol=fixture["tolerance"],
                                   atol=fixture["tolerance"], err_msg=case["name"])
        two = calab.fill_nan(np.vstack([row, row]))
        assert two.filled.tolist() == [case["filled"]] * 2


def test_pickles_that_crash_numpy_or_exhaust_memory_are_refused(tmp_path: Path) -> None:
    # Found by the fuzzer: a Suite2p-like ops.npy whose dtype state makes numpy's own
    # np.load(..., allow_pickle=True) die with SIGSEGV (numpy 2.4). Read in a subprocess so a
    # crash fails this test instead of ending the run.
    import subprocess
    import sys

    crash = Path(__file__).resolve().parents[1] / "fixtures" / "ops_crashes_numpy.npy"
    code = ("import calab, sys\nfrom calab import _readers\ntry:\n"
            f"    _readers.load_plain_pickle({str(crash)!r})\n"
            "except calab.FileFormatError as e:\n    print('refused:', e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "refused:" in res.stdout, res
    # LONG_BINPUT at index 2**32 - 1: pickle's C unpickler grows its memo array to that index
    # (tens of GB); the pure-Python one keeps a dict.
    hf.write_pickled_npy(tmp_path / "memo.npy", {"fs": 30.0})
    data = (tmp_path / "memo.npy").read_bytes()
    head_len = data.index(b"\n") + 1
    bomb = data[:head_len] + b"\x80\x02K\x01r\xff\xff\xff\xff."
    (tmp_path / "memo.npy").write_bytes(bomb)
    tracemalloc.start()
    try:
        assert _readers.load_plain_pickle(tmp_path / "memo.npy") == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    # Memory bombs through the allowed callables.
    for payload in (b"c__builtin__\nset\n(J\x00\xe1\xf5\x05tR.",  # set(100000000)
                    b"c__builtin__\nbytearray\n(J\x00\xe1\xf5\x05tR."):
        (tmp_path / "b.npy").write_bytes(data[:head_len] + b"\x80\x02" + payload)
        with pytest.raises(calab.FileFormatError, match="not plain data"):
            _readers.load_plain_pickle(tmp_path / "b.npy")


def test_the_browsers_mat_fixtures_read_the_same_here() -> None:
    # web/test/parsers.test.ts reads these files with web/shared/mat.ts; both sides must agree
    # on the arrays and on the stored sampling rate.
    fixtures = Path(__file__).resolve().parents[2] / "web" / "test" / "fixtures"
    expected = json.loads((fixtures / "expected.json").read_text())
    for name in ("v5.mat", "v5_compressed.mat"):
        for key in ("traces", "counts"):
            arr, fs, _ = load_traces_file(fixtures / name, key=key)
            want = expected[f"v5.mat:{key}"]
            assert list(arr.shape) == want["shape"] and arr.ravel().tolist() == want["values"]
            assert fs == 30.0
    with pytest.raises(calab.FileFormatError, match="level-5"):
        load_traces_file(fixtures / "v4.mat")
    with pytest.raises(calab.FileFormatError, match="truncated"):
        load_traces_file(fixtures / "truncated.mat", key="traces")
