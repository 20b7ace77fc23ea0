"""The browser apps from Python: ``calab app`` serving a bundled app read-only on loopback, and
``calab.tune(..., return_activity=True)`` receiving every cell's activity over the bridge (the
session logic against a scripted client, and the real CaTune in Chromium against the native
solver)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import calab
import calab.io as cio
import numpy as np
import pytest
from calab import cli
from calab._appserver import AppServer, serve_app
from calab.bridge import BridgeServer, BridgeSession, TuneResult, tune
from calab.bridge import protocol as P

WEBAPP = Path(__file__).resolve().parents[2] / "python" / "calab" / "_webapp"
TRACES = np.arange(24, dtype=np.float64).reshape(3, 8) / 7.0


def _get(port: int, path: str, *, method: str = "GET", host: str | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{port}")
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ------------------------------------------------------------------ calab app


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    d = tmp_path / "app"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>CaTune</title>")
    (d / "assets" / "solver.wasm").write_bytes(b"\0asm\1\0\0\0")
    (d / "assets" / "main.js").write_text("export {};")
    (tmp_path / "secret.txt").write_text("outside the app folder")
    return d


def test_app_server_serves_the_app_read_only(app_dir: Path) -> None:
    with AppServer("catune", app_dir=app_dir) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, headers, body = _get(server.port, "/")
        assert status == 200 and b"CaTune" in body
        assert headers["content-type"].startswith("text/html")
        status, headers, body = _get(server.port, "/assets/solver.wasm")
        assert (status, headers["content-type"]) == (200, "application/wasm")
        assert body == b"\0asm\1\0\0\0"
        assert _get(server.port, "/assets/main.js")[1]["content-type"] == "text/javascript"
        assert _get(server.port, "/", host=f"localhost:{server.port}")[0] == 200
        # Nothing outside the app folder, whatever the spelling; only GET and HEAD.
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt",
                     "/missing.js"):
            assert _get(server.port, path)[0] == 404, path
        assert _get(server.port, "/", host="evil.example:80")[0] == 403
        assert _get(server.port, "/", method="POST", body=b"x")[0] == 405
        assert _get(server.port, "/", method="HEAD")[2] == b""
    port = server.port
    with pytest.raises(OSError):
        _get(port, "/")


def test_app_server_refuses_unknown_and_unbuilt_apps(tmp_path: Path) -> None:
    with pytest.raises(calab.InvalidParameterError, match="catune"):
        AppServer("catnip")
    with pytest.raises(calab.BridgeError, match="npm run build"):
        AppServer("cadecon", app_dir=tmp_path)


def test_serve_app_prints_the_url_and_stops(app_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import calab._appserver as appserver

    monkeypatch.setattr(appserver, "WEBAPP_ROOT", app_dir.parent)
    (app_dir.parent / "catune").symlink_to(app_dir)
    stop = threading.Event()
    seen: dict[str, Any] = {}

    def ready(url: str) -> None:
        seen["status"] = _get(int(urlsplit(url).port or 0), "/")[0]
        stop.set()

    serve_app("catune", open_browser=False, on_ready=ready, stop=stop)
    assert seen["status"] == 200
    assert "CaTune is at http://127.0.0.1:" in capsys.readouterr().err


def test_cli_app_rejects_an_unknown_app(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["app", "catnip"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.skipif(not (WEBAPP / "catune" / "index.html").is_file(), reason="apps not built")
def test_bundled_apps_explain_file_urls() -> None:
    """Opened from disk, the page says how to start it instead of staying blank."""
    for app in ("catune", "cadecon"):
        html = (WEBAPP / app / "index.html").read_text()
        assert "location.protocol !== 'file:'" in html and f"data-app=\"{app}\"" in html
        assert "calab app ' + app" in html


# ------------------------------------------------------------------ return_activity


class FakeApp:
    """Plays CaTune over the real bridge: loads the session, posts activity and export."""

    def __init__(self, url: str) -> None:
        frag = parse_qs(urlsplit(url).fragment)
        base = urlsplit(frag["bridge"][0])
        self.port = int(base.port or 0)
        self.token = frag["token"][0]

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"127.0.0.1:{self.port}")
            conn.putheader(P.TOKEN_HEADER, self.token)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def session(self) -> dict[str, Any]:
        return dict(json.loads(self.call("GET", "/api/v1/session")[1]))

    def activity(self, arr: np.ndarray) -> tuple[int, bytes]:
        return self.call("POST", "/api/v1/activity", P.npy_bytes(arr))

    def export(self) -> int:
        doc = cio.build_export(0.05, 0.6, 0.3, 25.0, num_cells=3, num_timepoints=8,
                               cell_indices=[0, 1])
        return self.call("POST", "/api/v1/export", json.dumps(doc).encode())[0]


def _code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_session_waits_for_the_activity_it_asked_for() -> None:
    session = BridgeSession(TRACES, 25.0, config={"return_activity": True})
    with BridgeServer(session) as server:
        app = FakeApp(server.launch_url)
        assert app.session()["config"] == {"return_activity": True}
        assert app.export() == 200
        assert not session.done.is_set(), "the export alone does not end the session"
        # Activity that could be misattributed is refused, and the session goes on.
        status, body = app.activity(np.zeros((2, 8), np.float32))
        assert (status, _code(body)) == (400, "INVALID_MESSAGE") and b"(3, 8)" in body
        bad = np.zeros((3, 8), np.float32)
        bad[1, 2] = np.nan
        assert _code(app.activity(bad)[1]) == "INVALID_MESSAGE"
        assert not session.done.is_set()
        good = np.arange(24, dtype=np.float32).reshape(3, 8)
        assert app.activity(good)[0] == 200
        assert session.wait(timeout=5) == "export"
    np.testing.assert_array_equal(session.activity, good)
    assert session.params is not None and session.params["tau_decay"] == 0.6


def test_session_without_return_activity_ends_on_the_export() -> None:
    session = BridgeSession(TRACES, 25.0)
    with BridgeServer(session) as server:
        app = FakeApp(server.launch_url)
        assert app.session()["config"] == {}
        assert app.export() == 200
        assert session.wait(timeout=5) == "export"


@pytest.mark.parametrize("activity_first", [True, False])
def test_tune_return_activity(activity_first: bool) -> None:
    sent = np.linspace(0, 1, 24, dtype=np.float32).reshape(3, 8)

    def play(url: str) -> None:
        def run() -> None:
            app = FakeApp(url)
            app.session()
            if activity_first:
                app.activity(sent)
            app.export()
            if not activity_first:
                app.activity(sent)
        threading.Thread(target=run, daemon=True).start()

    got = tune(TRACES, fs=25.0, timeout=10, open_browser=False, on_ready=play,
               return_activity=True)
    assert isinstance(got, TuneResult)
    params, activity = got
    assert params["lambda_"] == 0.3 and params["fs"] == 25.0
    assert activity.dtype == np.float32 and activity.shape == TRACES.shape
    np.testing.assert_array_equal(activity, sent)


def test_tune_return_activity_none_on_timeout() -> None:
    assert tune(TRACES, timeout=0.3, open_browser=False, return_activity=True) is None


# ------------------------------------------------------------------ the real app in Chromium


def _headless_available() -> bool:
    try:
        import playwright  # noqa: F401
        from calab._headless import find_chromium

        find_chromium()
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.skipif(not _headless_available(), reason="playwright or Chromium missing")
@pytest.mark.skipif(not (WEBAPP / "catune" / "index.html").is_file(), reason="apps not built")
def test_real_catune_sends_every_cells_activity() -> None:
    """CaTune in Chromium with return_activity: 'Export to Python' solves all 9 cells (only 8
    are shown) in its workers and the activity equals the native solver's for the same
    parameters."""
    from calab._headless import HeadlessBrowser

    sim = calab.simulate(calab.presets.gcamp6f(num_cells=9, num_timepoints=1500, seed=4))
    traces = sim.traces.astype(np.float64)
    session = BridgeSession(traces, 30.0, source="pytest", config={"return_activity": True})
    server = BridgeServer(session).start()
    try:
        with HeadlessBrowser() as hb:
            errors: list[str] = []
            hb.page.on("pageerror", lambda e: errors.append(str(e)))
            hb.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            hb.goto(server.launch_url)
            hb.page.wait_for_selector('[data-testid="cell-card"][data-status="fresh"]',
                                      timeout=30_000)
            assert hb.page.locator('[data-testid="cell-card"]').count() == 8
            hb.page.fill('[data-testid="param-lambda"]', "0.02")
            hb.page.get_by_role("button", name="Export to Python").click(timeout=10_000)
            deadline = time.monotonic() + 60
            while not session.done.is_set() and time.monotonic() < deadline:
                hb.page.wait_for_timeout(100)
            assert session.wait(timeout=1) == "export", errors
            assert not errors
    finally:
        server.close()
    params, activity = session.params, session.activity
    assert params is not None and activity is not None and params["lambda_"] == 0.02
    native = calab.run_deconvolution(traces, fs=30.0, tau_rise=params["tau_rise"],
                                     tau_decay=params["tau_decay"], lambda_=params["lambda_"],
                                     remove_drift=False)  # CaTune's default: drift kept
    assert activity.shape == native.shape == (9, 1500)
    scale = float(np.abs(native).max())
    assert np.abs(activity - native).max() <= 2e-3 * scale
    assert np.allclose(activity.sum(axis=1), native.sum(axis=1), rtol=2e-3, atol=1e-3 * scale)
