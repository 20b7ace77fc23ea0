"""Exception hierarchy shared by every part of calab.

The Rust core reports errors with stable codes (``SolverError.code``); the native module builds
the exception through :func:`from_code`, so the mapping from code to class lives only here. Errors
caused by the caller's input also derive from :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable


class SolverError(Exception):
    """Base class for errors raised by calab's solvers. ``code`` is stable across releases."""

    code = "SOLVER_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidInputError(SolverError, ValueError):
    """The input (data or parameters) is invalid; the message names the offending value."""

    code = "INVALID_INPUT"


class InvalidParameterError(InvalidInputError):
    code = "INVALID_PARAMETER"


class NonFiniteInputError(InvalidInputError):
    code = "NON_FINITE_INPUT"


class TraceTooShortError(InvalidInputError):
    code = "TRACE_TOO_SHORT"


class ShapeMismatchError(InvalidInputError):
    code = "SHAPE_MISMATCH"


class InvalidStateError(InvalidInputError):
    code = "INVALID_STATE"


class UnknownOptionError(InvalidInputError):
    code = "UNKNOWN_OPTION"


class ValueOutOfRangeError(InvalidInputError):
    code = "VALUE_OUT_OF_RANGE"


class NotReadyError(SolverError):
    code = "NOT_READY"


class NumericalFailureError(SolverError):
    """A solver produced a non-finite value; never returned as a result (please report it)."""

    code = "NUMERICAL_FAILURE"


class FileFormatError(InvalidInputError):
    """A file is missing, truncated or not in the expected layout; the message says what is."""

    code = "FILE_FORMAT"


class UnsupportedVersionError(FileFormatError):
    """A file declares a schema version this calab cannot read (e.g. a newer major version)."""

    code = "UNSUPPORTED_VERSION"


class TooLargeError(FileFormatError):
    """A file declares more data than calab reads by default (``CALAB_MAX_INPUT_BYTES``), or a
    compressed member expands suspiciously far (a zip bomb?); the message says how to allow it."""

    code = "TOO_LARGE"


class OutOfMemoryError(SolverError, MemoryError):
    """The memory the work needs could not be allocated; raised instead of aborting the process.
    Also a :class:`MemoryError`."""

    code = "OUT_OF_MEMORY"


class InternalError(SolverError):
    """A bug in calab: the Rust core panicked. The panic is caught at the boundary and reported
    with this code; the process (a Jupyter kernel, a browser tab) keeps running."""

    code = "INTERNAL"


class CancelledError(SolverError):
    """The work was stopped before it finished (the caller gave up, e.g. Ctrl-C). A batch call
    interrupted from Python raises ``KeyboardInterrupt`` itself; this code is what the core
    reports for the rows it did not finish."""

    code = "CANCELLED"


class BridgeError(SolverError):
    """The browser bridge could not start or serve (port in use, server failure)."""

    code = "BRIDGE_ERROR"


class BrowserUnavailableError(SolverError):
    """Playwright or a Chromium executable needed by :class:`calab.HeadlessBrowser` is missing."""

    code = "BROWSER_UNAVAILABLE"


_BY_CODE: dict[str, type[SolverError]] = {
    cls.code: cls
    for cls in (
        InvalidParameterError,
        NonFiniteInputError,
        TraceTooShortError,
        ShapeMismatchError,
        InvalidStateError,
        UnknownOptionError,
        ValueOutOfRangeError,
        NotReadyError,
        NumericalFailureError,
        FileFormatError,
        UnsupportedVersionError,
        TooLargeError,
        OutOfMemoryError,
        InternalError,
        CancelledError,
        BridgeError,
        BrowserUnavailableError,
    )
}


class KineticsWarning(RuntimeWarning):
    """The kinetics learned from the data were corrected or are in doubt (the message says why).

    Defined here, below both :mod:`calab.kinetics` and :mod:`calab.cadecon` that issue it, so
    neither imports the other for it; importable as ``calab.KineticsWarning`` and
    ``calab.kinetics.KineticsWarning``.
    """


def from_code(code: str, message: str) -> SolverError:
    """Exception instance for a core error code (unknown codes fall back to the base class)."""
    cls = _BY_CODE.get(code, SolverError)
    return cls(message, code=code)


def raise_row_errors(errors: Iterable[tuple[int, str, str] | None], was_1d: bool = False) -> None:
    """Raise the first ``(row, code, message)`` a batch binding reported for its rows.

    The message gets a ``row N: `` prefix unless the caller's input was one 1-D trace.
    """
    for err in errors:
        if err is not None:
            row, code, message = err
            raise from_code(code, ("" if was_1d else f"row {row}: ") + message)
