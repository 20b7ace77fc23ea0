"""Simulator configs against the one JSON Schema, overrides, presets, determinism and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import calab
import jsonschema
import numpy as np
import pytest
from calab import _solver
from calab import simulation as sim_mod
from pydantic import BaseModel

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "simulation-config.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PRESETS = list(_solver.PRESET_NAMES)

# Which schema definition describes each typed section.
SECTION_DEFS = {
    "kernel": {"KernelConfig": calab.KernelConfig},
    "spike_model": {"PoissonConfig": calab.PoissonConfig, "MarkovConfig": calab.MarkovConfig},
    "noise": {"NoiseConfig": calab.NoiseConfig},
    "drift": {
        "RandomWalkDrift": calab.RandomWalkDrift,
        "SinusoidalDrift": calab.SinusoidalDrift,
        "NoDrift": calab.NoDrift,
    },
    "photobleaching": {"PhotobleachingConfig": calab.PhotobleachingConfig},
    "saturation": {"SaturationConfig": calab.SaturationConfig},
}


def small(**kw: Any) -> calab.SimulationConfig:
    return calab.presets.gcamp6f(**{"num_cells": 3, "num_timepoints": 300, "seed": 7, **kw})


# ---------------------------------------------------------------------------------------------
# One schema for every language


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_default_config_validates() -> None:
    VALIDATOR.validate(calab.SimulationConfig().model_dump())
    VALIDATOR.validate(json.loads(calab.SimulationConfig().model_dump_json()))
    VALIDATOR.validate(json.loads(_solver.default_config_json()))


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_validates(name: str) -> None:
    cfg = getattr(calab.presets, name)()
    assert isinstance(cfg, calab.SimulationConfig)
    VALIDATOR.validate(cfg.model_dump())
    VALIDATOR.validate(json.loads(_solver.preset_json(name)))


def test_preset_names_match_the_presets_class() -> None:
    public = {n for n in vars(calab.presets) if not n.startswith("_")}
    assert public == set(PRESETS)


def test_model_fields_equal_schema_properties() -> None:
    assert set(calab.SimulationConfig.model_fields) == set(SCHEMA["properties"])
    for section, defs in SECTION_DEFS.items():
        assert section in SCHEMA["properties"]
        for def_name, model in defs.items():
            props = SCHEMA["$defs"][def_name]["properties"]
            assert set(model.model_fields) == set(props), def_name
    # Every nested object of the schema is covered by a typed model.
    covered = {d for defs in SECTION_DEFS.values() for d in defs}
    assert covered == set(SCHEMA["$defs"])


def test_model_defaults_equal_schema_defaults() -> None:
    def check(model: type[BaseModel], props: dict[str, Any], where: str) -> None:
        for name, spec in props.items():
            if "default" in spec:
                assert model.model_fields[name].default == spec["default"], f"{where}.{name}"

    check(calab.SimulationConfig, SCHEMA["properties"], "root")
    for defs in SECTION_DEFS.values():
        for def_name, model in defs.items():
            check(model, SCHEMA["$defs"][def_name]["properties"], def_name)


def test_schema_rejects_what_the_models_reject() -> None:
    bad = calab.SimulationConfig().model_dump()
    bad["kernel"]["typo"] = 1
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(bad)
    with pytest.raises(ValueError):
        calab.SimulationConfig.model_validate(bad)


def test_effective_config_round_trips() -> None:
    cfg = small(drift={"model_type": "sinusoidal", "amplitude": 0.3})
    res = calab.simulate(cfg)
    assert res.config == cfg
    VALIDATOR.validate(res.config.model_dump())


# ---------------------------------------------------------------------------------------------
# Overrides and presets


def test_overrides() -> None:
    assert calab.presets.gcamp6f(num_cells=3).num_cells == 3
    cfg = calab.presets.gcamp6s(kernel={"tau_decay": 1.0})
    base = calab.presets.gcamp6s()
    assert cfg.kernel.tau_decay == 1.0
    assert cfg.kernel.tau_rise == base.kernel.tau_rise  # nested sections merge
    assert cfg.kernel.tau_rise_cv == base.kernel.tau_rise_cv
    res = calab.simulate(num_cells=2, num_timepoints=50)
    assert res.traces.shape == (2, 50)
    # A model instance works as an override too.
    cfg = calab.simulate(small(), noise=calab.NoiseConfig(gaussian_std=0.0)).config
    assert cfg.noise.gaussian_std == 0.0


def test_switching_model_type_starts_from_that_models_defaults() -> None:
    cfg = small(drift={"model_type": "sinusoidal", "period_s": 5.0})
    assert isinstance(cfg.drift, calab.SinusoidalDrift)
    assert cfg.drift.period_s == 5.0
    assert cfg.drift.amplitude == calab.SinusoidalDrift().amplitude
    cfg = small(spike_model={"model_type": "markov"})
    assert cfg.spike_model == calab.MarkovConfig()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_fs_override_really_changes_fs(name: str) -> None:
    cfg = getattr(calab.presets, name)(fs=60.0, num_cells=2, num_timepoints=120)
    assert cfg.fs == 60.0
    res = calab.simulate(cfg)
    assert res.config.fs == 60.0
    # 120 frames at 60 Hz = 2 s: the recorded kernel is sampled at 60 Hz, i.e. a transient
    # spans twice as many frames as at 30 Hz.
    one = dict(num_cells=1, num_timepoints=600, seed=3, alpha_cv=0.0, baseline_cv=0.0,
               noise={"gaussian_std": 0.0, "gaussian_std_cv": 0.0},
               kernel={"tau_rise_cv": 0.0, "tau_decay_cv": 0.0},
               drift={"model_type": "none"})
    slow_fs = calab.simulate(getattr(calab.presets, name)(fs=30.0, **one)).ground_truth[0]
    fast_fs = calab.simulate(getattr(calab.presets, name)(fs=60.0, **one)).ground_truth[0]

    def decay_frames(g: calab.CellGroundTruth) -> float:
        c = g.clean_calcium
        return float(c.sum() / max(g.spikes.sum(), 1.0))  # ~ alpha * G_dc, G_dc ∝ fs

    ratio = decay_frames(fast_fs) / decay_frames(slow_fs)
    assert 1.6 < ratio < 2.4, ratio


def test_presets_have_their_documented_kinetics() -> None:
    table = {"gcamp6f": (0.02, 0.4), "gcamp6m": (0.05, 0.9), "gcamp6s": (0.1, 1.6),
             "jgcamp8f": (0.01, 0.15), "ogb1": (0.01, 0.8), "clean": (0.02, 0.4)}
    for name, (tr, td) in table.items():
        k = getattr(calab.presets, name)().kernel
        assert (k.tau_rise, k.tau_decay) == (tr, td), name
    assert isinstance(calab.presets.clean().drift, calab.NoDrift)


# ---------------------------------------------------------------------------------------------
# Determinism and output


def test_same_seed_same_output_different_seed_different_output() -> None:
    a = calab.simulate(small())
    b = calab.simulate(small())
    c = calab.simulate(small(seed=8))
    assert np.array_equal(a.traces, b.traces)
    assert np.array_equal(a.spikes, b.spikes)
    assert not np.array_equal(a.traces, c.traces)


def test_output_structure() -> None:
    res = calab.simulate(small(num_cells=4, num_timepoints=500))
    assert res.traces.shape == (4, 500) and res.traces.dtype == np.float64
    assert np.all(np.isfinite(res.traces))
    assert len(res.ground_truth) == 4
    assert res.spikes.shape == (4, 500)
    for g in res.ground_truth:
        assert g.spikes.shape == g.clean_calcium.shape == (500,)
        assert np.all(g.spikes >= 0) and np.all(g.spikes == np.round(g.spikes))
        assert np.all(g.clean_calcium >= 0)


def test_noise_free_trace_is_baseline_plus_calcium() -> None:
    res = calab.simulate(calab.presets.clean(num_cells=1, num_timepoints=900, seed=2,
                                             noise={"gaussian_std": 0.0}))
    g = res.ground_truth[0]
    np.testing.assert_allclose(res.traces[0], g.baseline + g.clean_calcium, rtol=1e-12, atol=1e-12)
    # Spikes are drawn in continuous time, so the frame-rate convolution is only close.
    h = calab.build_kernel(g.tau_rise, g.tau_decay, res.config.fs)
    model = g.alpha * np.convolve(g.spikes, h)[:900]
    assert np.corrcoef(g.clean_calcium, model)[0, 1] > 0.9
    assert g.clean_calcium.sum() == pytest.approx(model.sum(), rel=0.1)


# ---------------------------------------------------------------------------------------------
# Errors


def test_unknown_override_raises_unknown_option() -> None:
    with pytest.raises(calab.UnknownOptionError) as e:
        calab.simulate(bogus=1)
    assert isinstance(e.value, ValueError) and e.value.code == "UNKNOWN_OPTION"
    assert "`bogus`" in str(e.value)
    with pytest.raises(calab.UnknownOptionError, match="num_cell"):
        calab.presets.gcamp6f(num_cell=3)


def test_unknown_nested_field_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="bogus"):
        calab.simulate(small(), kernel={"bogus": 1})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (dict(fs=-1.0), "fs"),
        (dict(fs=0.0), "fs"),
        (dict(num_cells=0), "num_cells"),
        (dict(num_timepoints=0), "num_timepoints"),
        (dict(alpha=0.0), "alpha"),
        (dict(baseline=-1.0), "baseline"),
        (dict(kernel={"tau_rise": 0.5, "tau_decay": 0.4}), "kernel.tau_rise"),
        (dict(kernel={"tau_decay": -1.0}), "kernel.tau_decay"),
        (dict(noise={"gaussian_std": -0.1}), "noise.gaussian_std"),
        (dict(drift={"model_type": "sinusoidal", "period_s": 0.0}), "drift.period_s"),
        (dict(spike_model={"rate_hz": 5000.0}), "spike_model.rate_hz"),
        (dict(spike_model={"model_type": "markov", "p_silent_to_active": 1.0}),
         "spike_model.p_silent_to_active"),
        (dict(photobleaching={"amplitude": 2.0}), "photobleaching.amplitude"),
        (dict(saturation={"n": 11.0}), "saturation.n"),
        (dict(seed=2**60), "seed"),
        (dict(num_cells=2.5), "num_cells"),
        (dict(fs="fast"), "fs"),
    ],
)
def test_bad_values_are_value_errors_naming_the_field(override, field) -> None:
    with pytest.raises(ValueError) as e:
        calab.simulate(small(), **override)
    assert field in str(e.value)
    if isinstance(e.value, calab.SolverError):
        assert e.value.code == "INVALID_PARAMETER"


@pytest.mark.parametrize(
    ("override", "field"),
    [(dict(alpha=float("nan")), "alpha"), (dict(fs=float("inf")), "fs"), (dict(seed=-1), "seed")],
)
def test_non_finite_and_negative_values_name_the_field(override, field) -> None:
    with pytest.raises(calab.InvalidParameterError) as e:
        calab.simulate(small(), **override)
    assert field in str(e.value)


def test_simulation_json_errors_are_solver_errors() -> None:
    with pytest.raises(calab.InvalidStateError):
        _solver.simulate_json("{not json")
    with pytest.raises(calab.UnknownOptionError, match="gcamp99"):
        _solver.preset_json("gcamp99")


def test_config_models_forbid_extra_fields_and_validate_assignment() -> None:
    with pytest.raises(ValueError):
        calab.KernelConfig(tau_rise=0.01, typo=1)
    cfg = calab.SimulationConfig()
    with pytest.raises(ValueError):
        cfg.num_cells = "many"  # type: ignore[assignment]
    assert sim_mod.SimulationConfig is calab.SimulationConfig
