"""File I/O: traces saved for tuning, CaTune exports (schema 1.1.0 and 1.2.x), atomic writes and
batch deconvolution from an export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest
from calab import _compute
from calab import io as cio
from calab._errors import FileFormatError, ShapeMismatchError, UnsupportedVersionError

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "catune-export.schema.json"

#: An export in the older 1.1.0 layout (no schema_version, kernel or new parameter fields).
LEGACY_1_1 = {
    "catune_version": "1.1.0",
    "export_date": "2025-03-01T10:00:00.000Z",
    "parameters": {"tau_rise_s": 0.05, "tau_decay_s": 0.7, "lambda": 0.25,
                   "sampling_rate_hz": 15.0, "filter_enabled": True},
    "ar2_coefficients": {"g1": 1.8, "g2": -0.81, "d": 0.9, "r": 0.9},
    "formulation": {"model": "FISTA", "objective": "..."},
    "metadata": {"source_filename": "rec.npy", "num_cells": 10, "num_timepoints": 900},
}


def _write(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj))
    return path


# ------------------------------------------------------------------ save / load for tuning


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    traces = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    cio.save_for_tuning(traces, 20, tmp_path / "rec",
                        {"animal": "m1", "num_cells": 99, "gain": np.float32(2.5)})
    raw = np.load(tmp_path / "rec.npy")
    assert raw.dtype.str == "<f8" and raw.flags.c_contiguous and raw.shape == (3, 4)
    header = (tmp_path / "rec.npy").read_bytes()[:128]
    assert b"'fortran_order': False" in header
    loaded, meta = cio.load_tuning_data(tmp_path / "rec")
    np.testing.assert_array_equal(loaded, traces)
    assert meta["num_cells"] == 3 and meta["animal"] == "m1" and meta["gain"] == 2.5
    assert meta["sampling_rate_hz"] == 20.0 and meta["schema_version"] == "1.0.0"
    # the .npy path and the sidecar path name the same stem
    assert cio.load_tuning_data(tmp_path / "rec.npy")[1] == meta
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_save_1d_and_npy_suffix(tmp_path: Path) -> None:
    cio.save_for_tuning(np.ones(10), 30.0, tmp_path / "one.npy")
    arr, meta = cio.load_tuning_data(tmp_path / "one")
    assert arr.shape == (1, 10) and meta["shape"] == [1, 10]


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.array(["a", "b"]), np.zeros((2, 0))])
def test_save_rejects_bad_traces(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ShapeMismatchError):
        cio.save_for_tuning(bad, 30.0, tmp_path / "x")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fs", [0, -1, float("nan"), "fast", None])
def test_save_rejects_bad_fs(tmp_path: Path, fs: Any) -> None:
    with pytest.raises(ValueError, match="Hz"):
        cio.save_for_tuning(np.ones((1, 5)), fs, tmp_path / "x")


def test_save_rejects_unserialisable_metadata_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="JSON"):
        cio.save_for_tuning(np.ones((1, 5)), 30.0, tmp_path / "x", {"bad": object()})
    assert not list(tmp_path.iterdir())


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cio.save_for_tuning(np.ones((2, 5)), 30.0, tmp_path / "rec")
    before = (tmp_path / "rec.npy").read_bytes()

    def broken_save(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cio.np, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cio.save_for_tuning(np.zeros((3, 7)), 30.0, tmp_path / "rec")
    assert (tmp_path / "rec.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npy", "rec_metadata.json"]


def test_load_tuning_data_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="_metadata.json"):
        cio.load_tuning_data(tmp_path / "none")
    cio.save_for_tuning(np.ones((2, 50)), 30.0, tmp_path / "rec")
    good = (tmp_path / "rec.npy").read_bytes()
    (tmp_path / "rec.npy").write_bytes(good[:150])
    with pytest.raises(FileFormatError, match="truncated"):
        cio.load_tuning_data(tmp_path / "rec")
    np.save(tmp_path / "rec.npy", np.ones((3, 50)))
    with pytest.raises(FileFormatError, match="shape"):
        cio.load_tuning_data(tmp_path / "rec")
    np.save(tmp_path / "rec.npy", np.ones((2, 50)))
    (tmp_path / "rec_metadata.json").write_text("{oops")
    with pytest.raises(FileFormatError, match="JSON"):
        cio.load_tuning_data(tmp_path / "rec")


def test_load_traces_file(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(5, dtype=np.int16))
    arr, fs, meta = cio.load_traces_file(tmp_path / "a.npy")
    assert arr.shape == (1, 5) and arr.dtype == np.float64 and fs is None
    assert meta["dtype"] == "<i2"
    np.savez(tmp_path / "b.npz", C=np.ones((2, 3)))
    assert cio.load_traces_file(tmp_path / "b.npz")[0].shape == (2, 3)
    cio.save_for_tuning(np.ones((2, 3)), 12.0, tmp_path / "c")
    assert cio.load_traces_file(tmp_path / "c")[1] == 12.0
    with pytest.raises(FileNotFoundError):
        cio.load_traces_file(tmp_path / "zzz.npy")


# ------------------------------------------------------------------ exports


def test_built_export_matches_schema_file() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    export = cio.build_export(0.02, 0.4, 0.1, 30.0, filter_enabled=True, num_cells=4,
                              num_timepoints=100, cell_indices=[0, 3], source_filename="r.npy")
    jsonschema.Draft202012Validator(schema).validate(export)
    assert export["schema_version"] == cio.EXPORT_SCHEMA_VERSION
    g1, g2, d, r = calab.tau_to_ar2(0.02, 0.4, 30.0)
    assert export["ar2_coefficients"] == {"g1": g1, "g2": g2, "d": d, "r": r, "dt": 1 / 30.0}
    assert export["kernel"]["length_samples"] == calab.build_kernel(0.02, 0.4, 30.0).size
    assert cio.export_schema() == schema


def test_schema_1_2_is_a_superset_of_1_1() -> None:
    """Every field of the 1.1.0 layout keeps its place and type, so 1.1 readers still work."""
    schema = json.loads(SCHEMA.read_text())
    required = set(schema["required"])
    assert {"catune_version", "export_date", "parameters", "ar2_coefficients", "formulation",
            "metadata"} <= required
    params = schema["$defs"]["parameters"]
    assert set(LEGACY_1_1["parameters"]) <= set(params["required"])
    assert {"g1", "g2", "d", "r"} <= set(schema["$defs"]["ar2_coefficients"]["required"])
    assert {"source_filename", "num_cells", "num_timepoints"} <= set(
        schema["$defs"]["metadata"]["required"])


def test_load_our_export(tmp_path: Path) -> None:
    export = cio.build_export(0.03, 0.5, 0.2, 25.0, remove_drift=True)
    params = cio.load_export_params(_write(tmp_path / "e.json", export))
    assert params == {"tau_rise": 0.03, "tau_decay": 0.5, "lambda_": 0.2, "fs": 25.0,
                      "filter_enabled": False, "export": export}


def test_load_legacy_1_1_export(tmp_path: Path) -> None:
    params = cio.load_export_params(_write(tmp_path / "old.json", LEGACY_1_1))
    assert {k: v for k, v in params.items() if k != "export"} == {
        "tau_rise": 0.05, "tau_decay": 0.7, "lambda_": 0.25, "fs": 15.0, "filter_enabled": True}
    assert params["export"] == LEGACY_1_1


def test_newer_minor_is_read_newer_major_is_refused(tmp_path: Path) -> None:
    export = cio.build_export(0.03, 0.5, 0.2, 25.0)
    export["schema_version"] = "1.9.3"
    export["something_new"] = {"x": 1}
    assert cio.load_export_params(_write(tmp_path / "m.json", export))["fs"] == 25.0
    export["schema_version"] = "2.0.0"
    with pytest.raises(UnsupportedVersionError, match=r"2\.0\.0.*upgrade") as info:
        cio.load_export_params(_write(tmp_path / "M.json", export))
    assert info.value.code == "UNSUPPORTED_VERSION" and isinstance(info.value, ValueError)


@pytest.mark.parametrize("mutate,match", [
    (lambda e: e.pop("parameters"), "parameters"),
    (lambda e: e["parameters"].pop("lambda"), "lambda"),
    (lambda e: e["parameters"].update(tau_rise_s=1.0), "tau_rise_s < tau_decay_s"),
    (lambda e: e["parameters"].update(lambda_=1, **{"lambda": -1}), "lambda"),
    (lambda e: e["parameters"].update(sampling_rate_hz="30"), "sampling_rate_hz"),
    (lambda e: e["parameters"].update(filter_enabled="yes"), "filter_enabled"),
    (lambda e: e.update(schema_version="one"), "schema_version"),
    (lambda e: [e.pop("schema_version"), e.pop("catune_version")], "not a CaTune export"),
])
def test_bad_exports(tmp_path: Path, mutate: Any, match: str) -> None:
    export = cio.build_export(0.03, 0.5, 0.2, 25.0)
    mutate(export)
    with pytest.raises(FileFormatError, match=match):
        cio.load_export_params(_write(tmp_path / "bad.json", export))


def test_export_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cio.load_export_params(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(FileFormatError, match="JSON"):
        cio.load_export_params(tmp_path / "x.json")
    _write(tmp_path / "y.json", [1, 2])
    with pytest.raises(FileFormatError, match="object"):
        cio.load_export_params(tmp_path / "y.json")


# ------------------------------------------------------------------ deconvolve_from_export


@pytest.fixture(scope="module")
def sim() -> np.ndarray:
    return calab.simulate(calab.presets.gcamp6f(num_cells=7, num_timepoints=600, seed=2)).traces


@pytest.mark.parametrize("flt,drift", [(False, False), (True, True)])
def test_deconvolve_from_export_applies_flags(tmp_path: Path, sim: np.ndarray, flt: bool,
                                              drift: bool) -> None:
    export = cio.build_export(0.02, 0.4, 0.05, 30.0, filter_enabled=flt, remove_drift=drift)
    path = _write(tmp_path / "e.json", export)
    expected = calab.run_deconvolution_full(sim, 30.0, 0.02, 0.4, 0.05, filter_enabled=flt,
                                            remove_drift=drift)
    full = cio.deconvolve_from_export(sim, path, return_full=True, chunk_size=3)
    np.testing.assert_allclose(full.activity, expected.activity, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(full.baseline, expected.baseline, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(full.iterations, expected.iterations)
    np.testing.assert_array_equal(full.converged, expected.converged)
    act = cio.deconvolve_from_export(sim, cio.load_export_params(path))
    np.testing.assert_allclose(act, expected.activity, rtol=1e-12, atol=1e-12)
    one = cio.deconvolve_from_export(sim[0], path)
    assert one.shape == (600,)


def test_legacy_export_deconvolves_with_filter(tmp_path: Path, sim: np.ndarray) -> None:
    path = _write(tmp_path / "old.json", LEGACY_1_1)
    got = cio.deconvolve_from_export(sim[:2], path)
    # A 1.1 export has no drift flag: it ran without drift removal.
    expected = calab.run_deconvolution(sim[:2], 15.0, 0.05, 0.7, 0.25, filter_enabled=True,
                                       remove_drift=False)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_ctrl_c_stops_between_chunks(tmp_path: Path, sim: np.ndarray,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "e.json", cio.build_export(0.02, 0.4, 0.05, 30.0))
    calls: list[int] = []
    real = _compute.run_deconvolution_full

    def interrupt_second(traces: Any, *a: Any, **k: Any) -> Any:
        calls.append(len(traces))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(traces, *a, **k)

    monkeypatch.setattr(_compute, "run_deconvolution_full", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        cio.deconvolve_from_export(sim, path, chunk_size=2, progress=True)
    assert calls == [2, 2]


# ------------------------------------------------------------------ solver choice (schema 1.3)


def test_solver_exports_match_schema_and_load(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    l0 = cio.build_export(0.02, 0.4, 0.05, 30.0, solver="l0", remove_drift=True,
                          solver_params={"lambda": 0.03, "positive": False})
    validator.validate(l0)
    params = cio.load_export_params(_write(tmp_path / "l0.json", l0))
    assert params["solver"] == "l0"
    assert params["solver_params"] == {"lambda": 0.03, "positive": False,
                                       "gamma": calab.gamma_from_tau(0.4, 30.0)}
    cv = cio.build_export(0.02, 0.4, 0.05, 30.0, solver="convar")
    validator.validate(cv)
    cv_params = cio.load_export_params(_write(tmp_path / "cv.json", cv))
    assert cv_params["solver_params"]["lambda"] is None
    # An L1 export (and a 1.2.0 one) keeps exactly the keys it always had.
    l1 = cio.build_export(0.02, 0.4, 0.05, 30.0)
    assert "solver_params" not in l1["parameters"]
    assert set(cio.load_export_params(_write(tmp_path / "l1.json", l1))) == {
        "tau_rise", "tau_decay", "lambda_", "fs", "filter_enabled", "export"}
    l1["schema_version"] = "1.2.0"
    validator.validate(l1)
    bad = json.loads(json.dumps(l0))
    del bad["parameters"]["solver_params"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)
    with pytest.raises(FileFormatError, match="solver_params"):
        cio.load_export_params(_write(tmp_path / "bad.json", bad))
    bad["parameters"]["solver"] = "l3"
    with pytest.raises(FileFormatError, match="solver"):
        cio.load_export_params(_write(tmp_path / "bad2.json", bad))


@pytest.mark.parametrize("drift,positive", [(False, True), (True, False)])
def test_deconvolve_from_export_runs_l0(tmp_path: Path, sim: np.ndarray, drift: bool,
                                       positive: bool) -> None:
    export = cio.build_export(0.02, 0.4, 0.05, 30.0, solver="l0", remove_drift=drift,
                              solver_params={"lambda": 0.02, "positive": positive})
    path = _write(tmp_path / "l0.json", export)
    gamma = calab.gamma_from_tau(0.4, 30.0)
    y = sim
    if drift:  # the app's drift removal: subtract the rolling baseline's deviation from its mean
        y = np.array([t - (d - d.mean()) for t, d in
                      ((t, calab.estimate_drift(t, 0.4, 30.0)) for t in sim)])
    expected = calab.run_l0(y, gamma, 0.02, positive=positive)
    full = cio.deconvolve_from_export(sim, path, return_full=True)
    np.testing.assert_array_equal(full.spikes, expected.spikes)
    np.testing.assert_array_equal(full.calcium, expected.calcium)
    np.testing.assert_array_equal(cio.deconvolve_from_export(sim, path), expected.spikes)
    np.testing.assert_array_equal(cio.deconvolve_from_export(sim[0], path), expected.spikes[0])
    assert expected.num_spikes.sum() > 0
    # The L1 solution for the same file would be something else entirely.
    l1 = _write(tmp_path / "l1.json", cio.build_export(0.02, 0.4, 0.05, 30.0))
    assert not np.allclose(cio.deconvolve_from_export(sim, l1), expected.spikes)


def test_deconvolve_from_export_runs_convar(tmp_path: Path, sim: np.ndarray) -> None:
    convar = pytest.importorskip("calab.convar")
    export = cio.build_export(0.02, 0.4, 0.05, 30.0, solver="convar",
                              solver_params={"lambda": 0.5})
    path = _write(tmp_path / "cv.json", export)
    expected = convar.run_convar(sim[:3], calab.gamma_from_tau(0.4, 30.0), 0.5)
    got = cio.deconvolve_from_export(sim[:3], path, return_full=True)
    np.testing.assert_array_equal(got.rates, expected.rates)
    np.testing.assert_array_equal(cio.deconvolve_from_export(sim[:3], path), expected.rates)
