"""The exception hierarchy: one class per core error code, ValueError for input faults, and the
codes the Rust core actually raises arrive in Python as those classes."""

from __future__ import annotations

import calab
import numpy as np
import pytest
from calab import _errors, _solver

CODES = list(_solver.ERROR_CODES)
NOT_INPUT_FAULTS = {"NOT_READY", "NUMERICAL_FAILURE", "OUT_OF_MEMORY", "INTERNAL", "CANCELLED"}
INPUT_FAULTS = [c for c in CODES if c not in NOT_INPUT_FAULTS]


def test_core_codes_are_the_documented_set() -> None:
    assert set(CODES) == {
        "INVALID_PARAMETER", "NON_FINITE_INPUT", "TRACE_TOO_SHORT", "SHAPE_MISMATCH",
        "INVALID_STATE", "UNKNOWN_OPTION", "VALUE_OUT_OF_RANGE", "NOT_READY",
        "NUMERICAL_FAILURE", "OUT_OF_MEMORY", "INTERNAL", "CANCELLED",
    }
    assert len(CODES) == len(set(CODES))


def test_every_core_code_maps_to_its_own_class() -> None:
    classes = {}
    for code in CODES:
        err = _errors.from_code(code, f"message for {code}")
        cls = type(err)
        assert cls is not calab.SolverError, code  # a dedicated subclass, not the fallback
        assert cls.code == code and err.code == code
        assert str(err) == f"message for {code}"
        assert isinstance(err, calab.SolverError)
        classes[code] = cls
    assert len(set(classes.values())) == len(CODES)
    # Public names point at the same classes.
    assert classes["INVALID_PARAMETER"] is calab.InvalidParameterError
    assert classes["NON_FINITE_INPUT"] is calab.NonFiniteInputError
    assert classes["TRACE_TOO_SHORT"] is calab.TraceTooShortError
    assert classes["SHAPE_MISMATCH"] is calab.ShapeMismatchError
    assert classes["INVALID_STATE"] is calab.InvalidStateError
    assert classes["UNKNOWN_OPTION"] is calab.UnknownOptionError
    assert classes["NOT_READY"] is calab.NotReadyError
    assert classes["NUMERICAL_FAILURE"] is calab.NumericalFailureError
    assert classes["OUT_OF_MEMORY"] is calab.OutOfMemoryError
    assert classes["INTERNAL"] is calab.InternalError
    assert classes["CANCELLED"] is calab.CancelledError


@pytest.mark.parametrize("code", INPUT_FAULTS)
def test_input_faults_are_value_errors(code: str) -> None:
    err = _errors.from_code(code, "x")
    assert isinstance(err, ValueError)
    assert isinstance(err, calab.InvalidInputError)
    with pytest.raises(ValueError):
        raise err


@pytest.mark.parametrize("code", sorted(NOT_INPUT_FAULTS))
def test_faults_not_caused_by_the_input_are_not_value_errors(code: str) -> None:
    err = _errors.from_code(code, "x")
    assert isinstance(err, calab.SolverError)
    assert not isinstance(err, ValueError)
    assert not issubclass(type(err), ValueError)


def test_out_of_memory_is_a_memory_error() -> None:
    assert issubclass(calab.OutOfMemoryError, MemoryError)
    assert issubclass(calab.TooLargeError, calab.FileFormatError)
    assert calab.TooLargeError.code == "TOO_LARGE"


def test_unknown_code_falls_back_to_the_base_class_and_keeps_the_code() -> None:
    err = _errors.from_code("SOMETHING_NEW", "x")
    assert type(err) is calab.SolverError
    assert err.code == "SOMETHING_NEW"


def test_instance_code_overrides_only_that_instance() -> None:
    err = calab.InvalidParameterError("x", code="CUSTOM")
    assert err.code == "CUSTOM"
    assert calab.InvalidParameterError.code == "INVALID_PARAMETER"
    assert calab.InvalidParameterError("y").code == "INVALID_PARAMETER"


@pytest.mark.parametrize(
    ("call", "cls"),
    [
        (lambda: calab.build_kernel(0.5, 0.4, 30.0), calab.InvalidParameterError),
        (lambda: calab.run_deconvolution(np.array([1.0, np.nan]), 30.0, 0.02, 0.4, 0.1),
         calab.NonFiniteInputError),
        (lambda: calab.bandpass_filter(np.ones(2), 0.02, 0.4, 30.0), calab.TraceTooShortError),
        (lambda: calab.run_deconvolution(np.ones((1, 1, 3)), 30.0, 0.02, 0.4, 0.1),
         calab.ShapeMismatchError),
        (lambda: _solver.simulate_json('{"fs": "fast"}'), calab.InvalidStateError),
        (lambda: calab.run_deconvolution(np.ones(5), 30.0, 0.02, 0.4, 0.1, method="x"),
         calab.UnknownOptionError),
    ],
    ids=["param", "nonfinite", "short", "shape", "state", "option"],
)
def test_core_errors_arrive_as_their_class(call, cls) -> None:
    with pytest.raises(cls) as e:
        call()
    assert type(e.value) is cls
    assert e.value.code == cls.code
    assert str(e.value)  # a message, not an empty exception


def test_all_public_names_exist() -> None:
    for name in calab.__all__:
        assert hasattr(calab, name), name
    assert isinstance(calab.__version__, str) and calab.__version__
