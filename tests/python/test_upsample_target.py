"""``upsample_target=None`` means the same everywhere in Python: the frame rate, no upsampling.

That is the meaning of ``null`` in ``schemas/cadecon-config.schema.json`` (Rust, CaDecon), of
:class:`calab.DeconConfig` and of :func:`calab.run_indeca`; :func:`calab.decon` used to read a
``None`` as "keep the app's default (90 Hz)". Leaving the argument out is how to get the
default, in every entry point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import calab
import numpy as np
import pytest
from calab.bridge import _decon

SCHEMA = json.loads((Path(calab.__file__).parent / "_schemas" /
                     "cadecon-config.schema.json").read_text(encoding="utf-8"))
DEFAULT = SCHEMA["properties"]["upsample_target"]["default"]


def test_schema_default_and_null() -> None:
    assert DEFAULT == 90
    assert "null" in SCHEMA["properties"]["upsample_target"]["type"]
    assert calab.DeconConfig().upsample_target == DEFAULT
    assert calab.DeconConfig(upsample_target=None).upsample_target is None


def _traces() -> np.ndarray:
    sim = calab.simulate(calab.SimulationConfig(num_cells=2, num_timepoints=600, seed=3))
    return np.asarray(sim.traces)


def test_run_indeca_none_is_no_upsampling_and_omitted_is_the_default(sim_gcamp6f: Any) -> None:
    y = np.asarray(sim_gcamp6f.traces[:3])
    off = calab.run_indeca(y, 30.0, max_iterations=2, upsample_target=None, seed=1,
                           progress=False)
    assert off.metadata["upsample_factor"] == 1
    default = calab.run_indeca(y, 30.0, max_iterations=2, seed=1, progress=False)
    assert default.metadata["upsample_factor"] == calab.compute_upsample_factor(30.0, DEFAULT)
    assert default.metadata["upsample_factor"] == 3


def _sent_config(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> dict[str, Any]:
    """The config calab.decon hands the app (the session is stopped before any server runs)."""
    seen: dict[str, Any] = {}

    def fake_run_session(session: Any, **_: Any) -> str:
        seen.update(session.config)
        return "cancelled"

    monkeypatch.setattr(_decon, "run_session", fake_run_session)
    assert calab.decon(_traces(), 30.0, open_browser=False, **kwargs) is None
    return seen


def test_decon_omitted_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "upsample_target" not in _sent_config(monkeypatch)  # the app applies its 90 Hz


def test_decon_none_means_no_upsampling(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _sent_config(monkeypatch, upsample_target=None)
    assert "upsample_target" in sent and sent["upsample_target"] is None


def test_decon_value_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _sent_config(monkeypatch, upsample_target=120.0)["upsample_target"] == 120.0
    with pytest.raises(calab.InvalidParameterError):
        _sent_config(monkeypatch, upsample_target=-1.0)
