"""The InDeCa and simulator configs have one source, their JSON Schemas in ``schemas/``.

Rust (``crates/solver/src/indeca/config.rs``, ``simulate``), the pydantic models
(:class:`calab.DeconConfig`, :class:`calab.SimulationConfig` and its sections) and the browser
apps all follow ``cadecon-config.schema.json`` and ``simulation-config.schema.json``. Fields and
defaults of both are checked in test_indeca_run.py and test_simulation.py; here the bounds:
the pydantic constraints equal the schema's, and every bound the schema states is enforced.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import calab
import pytest
from annotated_types import Ge, Gt, Le, Lt
from calab import _solver
from pydantic import BaseModel

SCHEMAS = Path(calab.__file__).resolve().parent / "_schemas"
DECON = json.loads((SCHEMAS / "cadecon-config.schema.json").read_text(encoding="utf-8"))
SIM = json.loads((SCHEMAS / "simulation-config.schema.json").read_text(encoding="utf-8"))
BOUNDS = ("exclusiveMinimum", "minimum", "exclusiveMaximum", "maximum")
_PYDANTIC = {Gt: ("exclusiveMinimum", "gt"), Ge: ("minimum", "ge"),
             Lt: ("exclusiveMaximum", "lt"), Le: ("maximum", "le")}


def _model_bounds(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, field in model.model_fields.items():
        found: dict[str, Any] = {}
        for meta in field.metadata:
            for cls, (key, attr) in _PYDANTIC.items():
                if isinstance(meta, cls):
                    found[key] = getattr(meta, attr)
        out[field.alias or name] = found
    return out


def _schema_bounds(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {k: p[k] for k in BOUNDS if k in p} for name, p in props.items()}


def test_decon_config_bounds_equal_the_schema() -> None:
    assert _model_bounds(calab.DeconConfig) == _schema_bounds(DECON["properties"])


def test_decon_config_defaults_are_the_schema_defaults() -> None:
    cfg = json.loads(calab.DeconConfig().to_json())
    assert cfg == {k: p["default"] for k, p in DECON["properties"].items()}
    assert cfg == json.loads(_solver.indeca_default_config_json())  # and Rust agrees


def test_decon_config_refuses_every_value_outside_a_schema_bound() -> None:
    checked = 0
    for name, prop in DECON["properties"].items():
        for value in _outside(prop):
            with pytest.raises(ValueError):
                calab.DeconConfig(**{name: value})
            checked += 1
    assert checked >= 20


def _outside(prop: dict[str, Any]) -> list[float]:
    """Values just beyond each bound of a numeric schema property."""
    step = 1 if prop.get("type") == "integer" else 1e-3
    out: list[float] = []
    if "exclusiveMinimum" in prop:
        out.append(prop["exclusiveMinimum"])
    if "minimum" in prop:
        out.append(prop["minimum"] - step)
    if "exclusiveMaximum" in prop:
        out.append(prop["exclusiveMaximum"])
    if "maximum" in prop:
        out.append(prop["maximum"] + step * max(1.0, abs(prop["maximum"]) * 1e-3))
    return out


def _base(**sections: Any) -> dict[str, Any]:
    cfg = calab.presets.gcamp6f(num_cells=2, num_timepoints=200, seed=1).model_dump()
    cfg.update(sections)
    return cfg


# Each schema definition, with the root config it is reached from.
SIM_CASES: list[tuple[str, dict[str, Any], list[str]]] = [("root", _base(), [])]
_SECTIONS = {
    "KernelConfig": ("kernel", None),
    "PoissonConfig": ("spike_model", {"model_type": "poisson"}),
    "MarkovConfig": ("spike_model", {"model_type": "markov"}),
    "NoiseConfig": ("noise", None),
    "RandomWalkDrift": ("drift", {"model_type": "random_walk"}),
    "SinusoidalDrift": ("drift", {"model_type": "sinusoidal"}),
    "PhotobleachingConfig": ("photobleaching", {"enabled": True}),
    "SaturationConfig": ("saturation", {"enabled": True}),
}


def _sim_cases() -> list[tuple[str, dict[str, Any], list[str], float]]:
    cases = []
    for name, prop in SIM["properties"].items():
        cases += [(f"root.{name}", _base(), [name], v) for v in _outside(prop)]
    for def_name, (section, switch) in _SECTIONS.items():
        base = _base()
        if switch is not None:
            base[section] = {**({} if "model_type" in switch else base[section]), **switch}
        for name, prop in SIM["$defs"][def_name]["properties"].items():
            cases += [(f"{def_name}.{name}", base, [section, name], v) for v in _outside(prop)]
    return cases


CASES = _sim_cases()


def test_every_simulation_definition_has_bounds_checked() -> None:
    defs = {case[0].split(".")[0] for case in CASES}
    assert defs == {"root"} | {d for d in _SECTIONS if any(
        set(BOUNDS) & set(p) for p in SIM["$defs"][d]["properties"].values())}


@pytest.mark.parametrize(("where", "base", "path", "value"), CASES,
                         ids=[f"{c[0]}={c[3]:g}" for c in CASES])
def test_simulation_refuses_every_value_outside_a_schema_bound(
        where: str, base: dict[str, Any], path: list[str], value: float) -> None:
    cfg = copy.deepcopy(base)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with warnings.catch_warnings(), pytest.raises(calab.InvalidParameterError):
        warnings.simplefilter("ignore")
        calab.simulate(**cfg)


def test_the_base_configs_themselves_simulate() -> None:
    """So a refusal above is the out-of-bounds value's doing, not the base config's."""
    bases = {json.dumps(c[1], sort_keys=True): c[1] for c in CASES}
    assert len(bases) >= 5  # root, Markov, sinusoidal drift, photobleaching, saturation on
    for base in bases.values():
        res = calab.simulate(**copy.deepcopy(base))
        assert res.traces.shape == (2, 200)
