"""``calab.tune``: open CaTune on local traces and block until the user exports parameters
(and, with ``return_activity=True``, the deconvolved activity of every cell)."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .server import BridgeServer
from .session import BridgeSession

if TYPE_CHECKING:
    from .._headless import HeadlessBrowser


def _has_display() -> bool:
    if sys.platform.startswith("linux") and not os.environ.get("BROWSER"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run_session(
    session: BridgeSession,
    *,
    timeout: float | None = None,
    port: int | None = None,
    app_url: str | None = None,
    open_browser: bool = True,
    headless: HeadlessBrowser | bool | None = None,
    heartbeat_timeout: float = 15.0,
    on_ready: Callable[[str], None] | None = None,
) -> str:
    """Serve ``session`` until it ends; returns the outcome ("export", "cancel", "timeout",
    "heartbeat_lost", "results" or "interrupted").

    However it ends (a result, the timeout, Ctrl-C, an exception), the session is ended first
    (later messages are refused, so the page can say they were not received) and the server is
    closed: no connection, handler thread, port or launch file is left.

    The system browser is given a private redirect file (``file://``, mode 0600), never the URL
    with the secret, which would show on its command line to every local user.
    """
    server = BridgeServer(session, port=port, app_url=app_url).start()
    own_browser = None
    outcome = "interrupted"
    try:
        # One handler for Ctrl-C from here on: whether it lands while the browser starts, while
        # the URL is printed or while waiting, the outcome is the same "interrupted".
        try:
            url = server.launch_url
            if on_ready is not None:
                on_ready(url)
            if headless is True:
                from .._headless import HeadlessBrowser

                own_browser = HeadlessBrowser().start()
                own_browser.goto(url)
            elif headless not in (None, False):
                headless.goto(url)  # type: ignore[union-attr]
            elif open_browser and _has_display() and _open_in_browser(server):
                print(f"Opened {session.app} in your browser; waiting for it (Ctrl-C to stop). "
                      f"If it did not open, paste this URL into a browser:\n  {url}",
                      file=sys.stderr, flush=True)
            else:
                # stderr, so that stdout stays clean for results (`calab tune f.npy > out.json`)
                print(f"Open this URL in a browser to use {session.app} (Ctrl-C to stop):\n"
                      f"  {url}", file=sys.stderr, flush=True)
            outcome = session.wait(timeout=timeout, heartbeat_timeout=heartbeat_timeout)
        except KeyboardInterrupt:
            outcome = "interrupted"
    finally:
        # First end the session (an export that made it in before this line is kept, one after
        # it is refused), then close every connection; both before anything that can block.
        outcome = session.end(outcome)
        server.close()
        if own_browser is not None:
            own_browser.close()
    if outcome == "interrupted":
        print("calab: bridge session interrupted", file=sys.stderr)
    return outcome


def _open_in_browser(server: BridgeServer) -> bool:
    """Open the app through a private redirect file, as Jupyter Server does."""
    try:
        path = server.write_redirect_file()
    except OSError:
        return False
    return bool(webbrowser.open(path.as_uri()))


class TuneResult(NamedTuple):
    """What :func:`tune` returns with ``return_activity=True``."""

    #: The same dict as without ``return_activity`` (see :func:`tune`).
    params: dict[str, Any]
    #: ``(n_cells, n_timepoints)`` float32: every cell's deconvolved activity, solved in the
    #: browser over its whole trace with exactly ``params`` (rows in the order of ``traces``).
    activity: NDArray[np.float32]


@overload
def tune(traces: ArrayLike, fs: float = ..., timeout: float | None = ..., port: int | None = ...,
         app_url: str | None = ..., open_browser: bool = ..., *,
         headless: HeadlessBrowser | bool | None = ..., heartbeat_timeout: float = ...,
         on_ready: Callable[[str], None] | None = ...,
         return_activity: Literal[False] = ...) -> dict[str, Any] | None: ...


@overload
def tune(traces: ArrayLike, fs: float = ..., timeout: float | None = ..., port: int | None = ...,
         app_url: str | None = ..., open_browser: bool = ..., *,
         headless: HeadlessBrowser | bool | None = ..., heartbeat_timeout: float = ...,
         on_ready: Callable[[str], None] | None = ...,
         return_activity: Literal[True]) -> TuneResult | None: ...


def tune(
    traces: ArrayLike,
    fs: float = 30.0,
    timeout: float | None = None,
    port: int | None = None,
    app_url: str | None = None,
    open_browser: bool = True,
    *,
    headless: HeadlessBrowser | bool | None = None,
    heartbeat_timeout: float = 15.0,
    on_ready: Callable[[str], None] | None = None,
    return_activity: bool = False,
) -> dict[str, Any] | TuneResult | None:
    """Open CaTune on ``traces`` and wait for the user to export parameters.

    Starts a bridge server on 127.0.0.1, opens the app with ``#bridge=<url>&token=<secret>``
    (through a private redirect file, so the secret is not on the browser's command line), or
    prints that URL when ``open_browser=False`` or there is no display, and blocks. When it
    returns, for whatever reason, the server has closed every connection and serves nothing
    more; an export sent after that is refused and the page says it was not received.

    Parameters
    ----------
    traces : array_like
        ``(n_timepoints,)`` or ``(n_cells, n_timepoints)``, finite values.
    fs : float
        Sampling rate in Hz.
    timeout : float, optional
        Seconds to wait; ``None`` waits until export, cancel or Ctrl-C.
    port : int, optional
        Port on 127.0.0.1 (default: any free port).
    app_url : str, optional
        Hosted app to open instead of the bundled copy; its origin is allowed to call the bridge.
    open_browser : bool
        Open the system browser (otherwise just print the URL).
    headless : HeadlessBrowser or bool, optional
        Drive the app in a Playwright browser instead (``True`` starts one for this call).
    heartbeat_timeout : float
        Seconds without any message, after the first heartbeat, before giving up.
    on_ready : callable, optional
        Called with the launch URL once the server listens.
    return_activity : bool
        Also receive the activity: "Export to Python" then solves every cell over its whole
        trace in the browser's workers (with progress) and sends the activity matrix before
        the parameters.

    Returns
    -------
    dict, TuneResult or None
        The same dict as :func:`calab.load_export_params` (``tau_rise``, ``tau_decay``,
        ``lambda_``, ``fs``, ``filter_enabled``, ``export``); with ``return_activity=True`` a
        :class:`TuneResult` ``(params, activity)``. ``None`` on timeout, cancel, Ctrl-C or lost
        heartbeat.
    """
    config = {"return_activity": True} if return_activity else None
    session = BridgeSession(traces, fs, app="catune", source="calab.tune", config=config)
    outcome = run_session(
        session, timeout=timeout, port=port, app_url=app_url, open_browser=open_browser,
        headless=headless, heartbeat_timeout=heartbeat_timeout, on_ready=on_ready,
    )
    if outcome != "export" or session.params is None:
        return None
    if not return_activity:
        return session.params
    if session.activity is None:  # pragma: no cover - the session only finishes with both
        return None
    return TuneResult(session.params, session.activity.astype(np.float32))
