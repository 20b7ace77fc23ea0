"""State of one bridge session: the traces offered to the browser app and what it sends back.

The server's handler threads call ``receive*``; the caller's thread blocks in :meth:`wait`. All
shared state is behind one lock, and completion is a ``threading.Event``, so this works the same
from a script, a terminal or a Jupyter kernel (no event loop involved).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import FileFormatError, InvalidParameterError
from .._validate import as_traces
from ..io import params_from_export
from . import protocol as P

APPS = ("catune", "cadecon")


class BridgeSession:
    """Traces and metadata served to the app, plus the messages it posted.

    ``outcome`` becomes ``"export"`` (CaTune export received, and its activity too when the config
    asks for it with ``return_activity``), ``"results"`` (CaDecon results and activity received)
    or ``"cancel"``; :meth:`wait` adds ``"timeout"`` and ``"heartbeat_lost"``.
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
    ) -> None:
        if app not in APPS:
            raise InvalidParameterError(f"app must be one of {APPS}, got {app!r}")
        arr, _ = as_traces(traces)
        try:
            rate = float(fs)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"fs must be a number in Hz, got {fs!r}") from None
        if not np.isfinite(rate) or rate <= 0:
            raise InvalidParameterError(f"fs must be a positive, finite rate in Hz, got {fs!r}")
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

    # ----------------------------------------------------------------- posted by the app

    def receive(self, kind: str, msg: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            self.last_heartbeat = now  # any authenticated message shows the app is alive
            if self.first_heartbeat is None:
                self.first_heartbeat = now
            if kind == "progress":
                self.progress = msg
            elif kind == "export" and not self.done.is_set():
                try:
                    self.params = params_from_export(msg, "export")
                except FileFormatError as exc:
                    raise P.ProtocolError(400, "INVALID_MESSAGE", str(exc)) from None
                if not self.wants_activity or self.activity is not None:
                    self._finish("export")
            elif kind == "results" and not self.done.is_set():
                self.results = msg
                if self.activity is not None:
                    self._finish("results")
            elif kind == "cancel" and not self.done.is_set():
                self._finish("cancel")
        if kind == "progress" and self.on_progress is not None:
            self.on_progress(msg)

    @property
    def wants_activity(self) -> bool:
        """CaTune session whose caller asked for every cell's activity with the export."""
        return self.app == "catune" and self.config.get("return_activity") is True

    def receive_activity(self, activity: NDArray[np.float64]) -> None:
        if self.app == "catune":
            expected = self.traces.shape
            got = activity.reshape(1, -1).shape if activity.ndim == 1 else activity.shape
            if got != expected:
                raise P.ProtocolError(400, "INVALID_MESSAGE", f"activity has shape {got}, "
                                      f"expected {expected} (cells x frames of the traces)")
            if not np.all(np.isfinite(activity)):
                raise P.ProtocolError(400, "INVALID_MESSAGE", "activity contains NaN or Inf")
            activity = activity.reshape(expected)
        with self._lock:
            self.activity = activity
            if self.done.is_set():
                return
            if self.app == "cadecon" and self.results is not None:
                self._finish("results")
            elif self.wants_activity and self.params is not None:
                self._finish("export")

    def _finish(self, outcome: str) -> None:
        self.outcome = outcome
        self.done.set()

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
