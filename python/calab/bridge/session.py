"""State of one bridge session: the traces offered to the browser app and what it sends back.

The server's handler threads call ``receive*``; the caller's thread blocks in :meth:`wait`. All
shared state is behind one lock, and completion is a ``threading.Event``, so this works the same
from a script, a terminal or a Jupyter kernel (no event loop involved).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import BridgeError, FileFormatError, InvalidParameterError
from .._validate import as_traces
from ..io import params_from_export
from . import protocol as P

APPS = ("catune", "cadecon")


class BridgeSession:
    """Traces and metadata served to the app, plus the messages it posted.

    ``outcome`` becomes ``"export"`` (CaTune export received, and its activity too when the config
    asks for it with ``return_activity``), ``"results"`` (CaDecon results and activity received)
    or ``"cancel"``; :meth:`wait` adds ``"timeout"`` and ``"heartbeat_lost"``, and :meth:`end`
    whatever the caller gives (``"interrupted"``). Once it has an outcome, every request is
    refused with 410 ``SESSION_ENDED``. ``check_results(results, activity)`` may raise
    :class:`calab.BridgeError` or ``ValueError`` to refuse CaDecon results (400) that cannot be
    assembled, so the page hears about it while it can still save them.
    """

    def __init__(
        self,
        traces: ArrayLike,
        fs: float,
        *,
        app: str = "catune",
        cell_ids: Sequence[int | str] | None = None,
        source: str | None = None,
        config: dict[str, Any] | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        check_results: Callable[[dict[str, Any], NDArray[np.float64]], object] | None = None,
    ) -> None:
        if app not in APPS:
            raise InvalidParameterError(f"app must be one of {APPS}, got {app!r}")
        limit = int(P.load_schema("trace-files.json")["max_values"])
        size = int(np.prod(np.shape(traces), dtype=np.float64))  # before any copy is made
        if size > limit:
            raise InvalidParameterError(
                f"traces of shape {np.shape(traces)} hold {size:,} values, more than the {limit:,} "
                "(cells x timepoints) the browser apps can hold (schemas/trace-files.json); "
                "pass fewer cells or a shorter stretch")
        arr, _ = as_traces(traces)
        try:
            rate = float(fs)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"fs must be a number in Hz, got {fs!r}") from None
        if not np.isfinite(rate) or rate <= 0:
            raise InvalidParameterError(f"fs must be a positive, finite rate in Hz, got {fs!r}")
        big = float(np.max(np.abs(arr))) if arr.size else 0.0
        if big > float(np.finfo(np.float32).max):
            raise InvalidParameterError(
                f"traces reach {big:.3g}, beyond the float32 range (3.4e38) the apps compute in;"
                " rescale them (e.g. to dF/F) first")
        ids = list(range(arr.shape[0])) if cell_ids is None else list(cell_ids)
        if len(ids) != arr.shape[0]:
            raise InvalidParameterError(
                f"cell_ids has {len(ids)} entries but traces have {arr.shape[0]} rows"
            )
        self.app = app
        self.traces: NDArray[np.float64] = arr
        self.fs = rate
        self.cell_ids = [i if isinstance(i, str) else int(i) for i in ids]
        self.source = source
        self.config = dict(config or {})
        self.on_progress = on_progress
        self.check_results = check_results
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._npy: dict[bool, bytes] = {}
        self.outcome: str | None = None
        self.params: dict[str, Any] | None = None
        self.results: dict[str, Any] | None = None
        self.activity: NDArray[np.float64] | None = None
        self.progress: dict[str, Any] | None = None
        self.first_heartbeat: float | None = None
        self.last_heartbeat: float | None = None

    # ----------------------------------------------------------------- served to the app

    def describe(self) -> dict[str, Any]:
        return {
            "protocol_version": 1,
            "app": self.app,
            "fs": self.fs,
            "num_cells": int(self.traces.shape[0]),
            "num_timepoints": int(self.traces.shape[1]),
            "cell_ids": self.cell_ids,
            "source": self.source,
            "config": self.config,
        }

    def traces_npy(self, float32: bool = False) -> bytes:
        with self._lock:
            if float32 not in self._npy:
                arr = self.traces.astype("<f4" if float32 else "<f8", order="C")
                self._npy[float32] = P.npy_bytes(arr)
            return self._npy[float32]

    def get(self, name: str, query: list[str]) -> tuple[int, bytes, str]:
        """Answer ``GET /api/v1/<name>``: (status, body, content type)."""
        self._refuse_if_ended()
        if name == "session":
            return 200, json.dumps(self.describe()).encode(), "application/json"
        if name == "traces":
            return 200, self.traces_npy(float32="dtype=f4" in query), "application/octet-stream"
        raise P.ProtocolError(404, "NOT_FOUND", f"no such endpoint {name}")

    # ----------------------------------------------------------------- posted by the app

    def _refuse_if_ended(self) -> None:
        if self.done.is_set():
            raise P.ProtocolError(410, "SESSION_ENDED", f"this {self.app} session has ended "
                                  f"({self.outcome}); nothing sent now reaches Python")

    def receive(self, kind: str, msg: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            self._refuse_if_ended()
            self.last_heartbeat = now  # any authenticated message shows the app is alive
            if self.first_heartbeat is None:
                self.first_heartbeat = now
            if kind == "progress":
                self.progress = msg
            elif kind == "export":
                try:
                    self.params = params_from_export(msg, "export")
                except FileFormatError as exc:
                    raise P.ProtocolError(400, "INVALID_MESSAGE", str(exc)) from None
                if not self.wants_activity or self.activity is not None:
                    self._finish("export")
            elif kind == "results":
                self._check_results(msg, self.activity)
                self.results = msg
                if self.activity is not None:
                    self._finish("results")
            elif kind == "cancel":
                self._finish("cancel")
        if kind == "progress" and self.on_progress is not None:
            self.on_progress(msg)

    @property
    def wants_activity(self) -> bool:
        """CaTune session whose caller asked for every cell's activity with the export."""
        return self.app == "catune" and self.config.get("return_activity") is True

    def receive_array(self, name: str, array: NDArray[np.float64]) -> None:
        if name != "activity":
            raise P.ProtocolError(404, "NOT_FOUND", f"no such endpoint {name}")
        act = array.reshape(1, -1) if array.ndim == 1 else array
        num_cells, num_timepoints = self.traces.shape
        if self.app == "catune":
            # Every cell's activity, in the traces' row order: nothing else can be attributed.
            if act.shape != self.traces.shape:
                raise P.ProtocolError(
                    400, "INVALID_MESSAGE", f"activity has shape {act.shape}, expected "
                    f"{self.traces.shape} (cells x frames of the traces)")
            if not np.all(np.isfinite(act)):
                raise P.ProtocolError(400, "INVALID_MESSAGE", "activity contains NaN or Inf")
        else:
            if act.shape[1] != num_timepoints or not 1 <= act.shape[0] <= num_cells:
                raise P.ProtocolError(
                    400, "BAD_NPY", f"activity has shape {act.shape}; expected (rows, "
                    f"{num_timepoints}) with 1 to {num_cells} rows (one per cell in cell_indices)")
            if not np.all(np.isfinite(act)):
                raise P.ProtocolError(400, "BAD_NPY", "activity contains NaN or infinite values")
        with self._lock:
            self._refuse_if_ended()
            if self.app == "cadecon" and self.results is not None:
                self._check_results(self.results, act)
            self.activity = act
            if self.app == "cadecon" and self.results is not None:
                self._finish("results")
            elif self.wants_activity and self.params is not None:
                self._finish("export")

    def _check_results(self, results: dict[str, Any],
                       activity: NDArray[np.float64] | None) -> None:
        """Refuse (400) CaDecon results that cannot be attributed to this session's cells."""
        num_cells = int(self.traces.shape[0])
        indices = results.get("cell_indices")
        if (not isinstance(indices, list) or not indices
                or any(isinstance(i, bool) or not isinstance(i, int) for i in indices)):
            raise P.ProtocolError(400, "INVALID_MESSAGE",
                                  "results need a non-empty integer 'cell_indices' list")
        outside = [i for i in indices if not 0 <= i < num_cells]
        if outside:
            raise P.ProtocolError(400, "INVALID_MESSAGE",
                                  f"cell_indices {outside[:5]} are outside 0..{num_cells - 1}"
                                  f" (the session has {num_cells} cells)")
        if len(set(indices)) != len(indices):
            raise P.ProtocolError(400, "INVALID_MESSAGE", "cell_indices lists a cell twice")
        if activity is not None and activity.shape[0] != len(indices):
            raise P.ProtocolError(400, "INVALID_MESSAGE",
                                  f"cell_indices has {len(indices)} entries but the activity "
                                  f"has {activity.shape[0]} rows")
        if activity is not None and self.check_results is not None:
            try:
                self.check_results(results, activity)
            except (BridgeError, ValueError) as exc:
                raise P.ProtocolError(400, "INVALID_MESSAGE", str(exc)) from None

    def _finish(self, outcome: str) -> None:
        self.outcome = outcome
        self.done.set()

    def end(self, outcome: str) -> str:
        """End the session as ``outcome`` unless the app ended it first; returns the outcome.

        From here on every message is refused (410 ``SESSION_ENDED``), so an export either
        arrived before the end and is returned, or is refused and the page says so.
        """
        with self._lock:
            if not self.done.is_set():
                self._finish(outcome)
            return self.outcome or outcome

    # ----------------------------------------------------------------- caller side

    def wait(self, timeout: float | None = None, heartbeat_timeout: float = 15.0,
             poll: float = 0.1) -> str:
        """Block until the session ends; returns the outcome (see the class docstring)."""
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            step = poll if left is None else max(0.0, min(poll, left))
            if self.done.wait(step):
                return self.outcome or "cancel"
            now = time.monotonic()
            with self._lock:
                last = self.last_heartbeat
            if last is not None and now - last > heartbeat_timeout:
                return "heartbeat_lost"
            if deadline is not None and now >= deadline:
                return "timeout"
