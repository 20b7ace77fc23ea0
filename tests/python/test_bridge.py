"""The browser bridge, exercised over real loopback HTTP: every endpoint, every refusal,
concurrency, session endings (export, cancel, timeout, lost heartbeat) and clean shutdown."""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import calab.io as cio
import numpy as np
import pytest
from calab.bridge import BridgeServer, BridgeSession, run_session, tune
from calab.bridge import protocol as P

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
TRACES = np.arange(24, dtype=np.float64).reshape(3, 8) / 7.0


def _export(**kw: Any) -> dict[str, Any]:
    args = {"num_cells": 3, "num_timepoints": 8, "cell_indices": [0, 2]}
    args.update(kw)
    return cio.build_export(0.05, 0.6, 0.3, 25.0, **args)


class Client:
    """A tiny HTTP client that can send any Host/Origin/token (http.client, one connection each)."""

    def __init__(self, server: BridgeServer) -> None:
        self.port = server.port
        self.token = server.token

    def request(self, method: str, path: str, body: bytes | None = None, *,
                token: str | None | bool = True, host: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host or f"127.0.0.1:{self.port}")
            if token is True:
                conn.putheader(P.TOKEN_HEADER, self.token)
            elif isinstance(token, str):
                conn.putheader(P.TOKEN_HEADER, token)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None and "Content-Length" not in (headers or {}):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def post_json(self, path: str, obj: Any, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, json.dumps(obj).encode(), **kw)


def _error_code(body: bytes) -> str:
    doc = json.loads(body)
    assert not P.schema_errors(doc, P.protocol_schema()["$defs"]["error"], P.protocol_schema())
    return str(doc["error"]["code"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[BridgeServer, Client]]:
    session = BridgeSession(TRACES, 25.0, cell_ids=[10, 11, 12], source="test")
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "index.html").write_text("<!doctype html><title>app</title>")
    (app_dir / "solver.wasm").write_bytes(b"\0asm")
    server = BridgeServer(session, app_url="https://apps.example.org/catune/", app_dir=app_dir)
    server.start()
    try:
        yield server, Client(server)
    finally:
        server.close()


# ------------------------------------------------------------------ protocol file


def test_protocol_schema_is_valid_and_matches_routes() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    proto = json.loads((SCHEMAS / "bridge-protocol.json").read_text())
    export = json.loads((SCHEMAS / "catune-export.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(proto)
    jsonschema.Draft202012Validator.check_schema(export)
    declared = {(e["method"], e["path"]) for e in proto["endpoints"]}
    assert declared == set(P.ROUTES)
    assert proto["security"]["max_json_bytes"] == P.MAX_JSON_BYTES
    assert proto["security"]["max_npy_bytes"] == P.MAX_NPY_BYTES
    assert proto["security"]["token_header"] == P.TOKEN_HEADER


def test_builtin_checker_agrees_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    proto, export = P.protocol_schema(), P.export_schema()
    registry = referencing.Registry().with_resources([
        (export["$id"], referencing.Resource.from_contents(export)),
        (proto["$id"], referencing.Resource.from_contents(proto)),
    ])
    good = _export()
    bad_cases: list[Any] = [
        {**good, "parameters": {**good["parameters"], "tau_rise_s": -1}},
        {**good, "parameters": {**good["parameters"], "solver": "l2"}},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "kernel"},
        {**good, "schema_version": "2.0.0"},
        {**good, "metadata": {**good["metadata"], "cell_indices": [1.5]}},
        [],
    ]
    for name, inst in [("export", good), *[("export", b) for b in bad_cases],
                       ("progress", {"phase": "solve", "fraction": 0.5, "message": "x"}),
                       ("progress", {"phase": "solve", "fraction": 1.5}),
                       ("cancel", {}), ("cancel", {"why": 1})]:
        schema = {"$ref": f"{proto['$id']}#/$defs/{name}"}
        theirs = jsonschema.Draft202012Validator(schema, registry=registry).is_valid(inst)
        ours = not P.schema_errors(inst, proto["$defs"][name], proto)
        assert ours == theirs, (name, inst)


# ------------------------------------------------------------------ endpoints


def test_session_and_traces(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    status, headers, body = client.request("GET", "/api/v1/session")
    assert status == 200 and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert not P.schema_errors(doc, P.protocol_schema()["$defs"]["session"], P.protocol_schema())
    assert doc["cell_ids"] == [10, 11, 12] and doc["num_timepoints"] == 8 and doc["fs"] == 25.0
    for query, dtype in (("", "<f8"), ("?dtype=f4", "<f4")):
        status, headers, body = client.request("GET", "/api/v1/traces" + query)
        assert status == 200 and headers["content-type"] == "application/octet-stream"
        arr = np.load(io.BytesIO(body), allow_pickle=False)
        assert arr.dtype.str == dtype and arr.flags.c_contiguous
        np.testing.assert_allclose(arr, TRACES, rtol=1e-6)


def test_posts_update_session(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    s = server.session
    assert client.post_json("/api/v1/heartbeat", {})[0] == 200
    assert s.last_heartbeat is not None
    status, _, body = client.post_json("/api/v1/progress", {"phase": "load", "fraction": 0.25})
    assert status == 200 and json.loads(body) == {"ok": True}
    assert s.progress == {"phase": "load", "fraction": 0.25}
    act = np.ones((3, 8), dtype="<f4")
    assert client.request("POST", "/api/v1/activity", P.npy_bytes(act))[0] == 200
    assert not s.done.is_set()
    assert client.post_json("/api/v1/results", {"schema_version": "0.1.0", "pve": [1]})[0] == 200
    assert s.done.is_set() and s.outcome == "results" and s.activity is not None


def test_export_and_cancel(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    assert client.post_json("/api/v1/export", _export())[0] == 200
    assert server.session.outcome == "export"
    assert server.session.params is not None and server.session.params["lambda_"] == 0.3
    # later messages do not overwrite the first outcome
    assert client.post_json("/api/v1/cancel", {})[0] == 200
    assert server.session.outcome == "export"


def test_static_files_and_unbuilt_app(served: tuple[BridgeServer, Client], tmp_path: Path) -> None:
    server, client = served
    status, headers, body = client.request("GET", "/", token=False)
    assert status == 200 and b"<title>app" in body
    status, headers, _ = client.request("GET", "/solver.wasm", token=False)
    assert status == 200 and headers["content-type"] == "application/wasm"
    assert client.request("GET", "/../../etc/passwd", token=False)[0] == 404
    assert client.request("GET", "/missing.js", token=False)[0] == 404
    empty = BridgeServer(BridgeSession(TRACES, 25.0), app_dir=tmp_path / "nothing").start()
    try:
        status, headers, body = Client(empty).request("GET", "/", token=False)
        assert status == 503 and b"npm run build" in body
    finally:
        empty.close()


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("token", [False, "", "wrong-token", "x" * 43])
def test_bad_token_is_401(served: tuple[BridgeServer, Client], token: Any) -> None:
    _, client = served
    for method, path in (("GET", "/api/v1/session"), ("GET", "/api/v1/traces"),
                         ("POST", "/api/v1/export")):
        status, _, body = client.request(method, path, b"{}" if method == "POST" else None,
                                         token=token)
        assert status == 401 and _error_code(body) == "UNAUTHORIZED"


@pytest.mark.parametrize("host", ["evil.example:80", "127.0.0.1", "127.0.0.1:1", "localhost"])
def test_bad_host_is_403(served: tuple[BridgeServer, Client], host: str) -> None:
    _, client = served
    status, _, body = client.request("GET", "/api/v1/session", host=host)
    assert status == 403 and _error_code(body) == "FORBIDDEN_HOST"
    assert client.request("GET", "/", token=False, host=host)[0] == 403


def test_localhost_host_is_accepted(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    assert client.request("GET", "/api/v1/session", host=f"localhost:{server.port}")[0] == 200


def test_origin_rules_and_cors(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    status, _, body = client.request("GET", "/api/v1/session",
                                     headers={"Origin": "https://evil.example"})
    assert status == 403 and _error_code(body) == "FORBIDDEN_ORIGIN"
    status, headers, _ = client.request("GET", "/api/v1/session",
                                        headers={"Origin": server.base_url})
    assert status == 200 and "access-control-allow-origin" not in headers
    app = "https://apps.example.org"
    status, headers, _ = client.request("GET", "/api/v1/session", headers={"Origin": app})
    assert status == 200 and headers["access-control-allow-origin"] == app
    # preflight: no token needed, allows the token header
    status, headers, _ = client.request(
        "OPTIONS", "/api/v1/export", token=False,
        headers={"Origin": app, "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and P.TOKEN_HEADER in headers["access-control-allow-headers"]
    status, headers, _ = client.request("OPTIONS", "/api/v1/export", token=False,
                                        headers={"Origin": "https://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers


def test_oversized_bodies_are_413_unread(served: tuple[BridgeServer, Client]) -> None:
    _, client = served
    for path, limit in (("/api/v1/export", P.MAX_JSON_BYTES), ("/api/v1/activity",
                                                               P.MAX_NPY_BYTES)):
        # Claim a huge body but send none: the server must answer without waiting for it.
        start = time.monotonic()
        status, headers, body = client.request(
            "POST", path, b"", headers={"Content-Length": str(limit + 1)}
        )
        assert status == 413 and _error_code(body) == "PAYLOAD_TOO_LARGE"
        assert headers.get("connection") == "close"
        assert time.monotonic() - start < 4


def test_malformed_bodies_are_400(served: tuple[BridgeServer, Client]) -> None:
    _, client = served
    cases = [
        ("/api/v1/export", b"{not json", "BAD_JSON"),
        ("/api/v1/export", b"\xff\xfe", "BAD_JSON"),
        ("/api/v1/export", json.dumps({"parameters": {}}).encode(), "INVALID_MESSAGE"),
        ("/api/v1/export", json.dumps({**_export(), "schema_version": "9.0.0"}).encode(),
         "INVALID_MESSAGE"),
        ("/api/v1/progress", json.dumps({"phase": "x", "fraction": "half"}).encode(),
         "INVALID_MESSAGE"),
        ("/api/v1/activity", b"\x93NUMPY garbage", "BAD_NPY"),
        ("/api/v1/activity", P.npy_bytes(np.array(["a", "b"])), "BAD_NPY"),
        ("/api/v1/activity", P.npy_bytes(np.zeros((2, 2, 2))), "BAD_NPY"),
    ]
    for path, body, code in cases:
        status, _, resp = client.request("POST", path, body)
        assert status == 400 and _error_code(resp) == code, (path, body[:20])
    # tau_rise >= tau_decay passes the schema but not the reader's checks
    bad = _export()
    bad["parameters"]["tau_rise_s"] = 2.0
    status, _, resp = client.post_json("/api/v1/export", bad)
    assert status == 400 and _error_code(resp) == "INVALID_MESSAGE"


def test_unknown_path_and_wrong_method(served: tuple[BridgeServer, Client]) -> None:
    _, client = served
    status, _, body = client.request("GET", "/api/v1/nope")
    assert status == 404 and _error_code(body) == "NOT_FOUND"
    status, headers, body = client.request("GET", "/api/v1/export")
    assert status == 405 and _error_code(body) == "METHOD_NOT_ALLOWED"
    assert "POST" in headers["allow"]
    assert client.request("POST", "/api/v1/session", b"{}")[0] == 405
    assert client.request("DELETE", "/api/v1/session")[0] == 405
    assert client.request("POST", "/index.html", b"{}", token=False)[0] == 405


def test_handler_exception_is_500_and_server_survives(
    served: tuple[BridgeServer, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = served

    def boom() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.session, "describe", boom)
    status, _, body = client.request("GET", "/api/v1/session")
    assert status == 500 and _error_code(body) == "INTERNAL"
    assert client.request("GET", "/api/v1/traces")[0] == 200


def test_access_log_never_contains_token(
    served: tuple[BridgeServer, Client], caplog: pytest.LogCaptureFixture
) -> None:
    server, client = served
    with caplog.at_level(logging.DEBUG, logger="calab.bridge"):
        client.request("GET", "/api/v1/session")
        client.request("GET", f"/api/v1/session?token={server.token}")
        client.request("GET", "/api/v1/session", token="wrong")
    assert caplog.records, "expected access-log records"
    assert all(server.token not in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ concurrency


def test_concurrent_clients(served: tuple[BridgeServer, Client]) -> None:
    _, client = served
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            status = client.request("GET", "/api/v1/traces")[0]
            with lock:
                results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == [200] * 40


def test_slow_client_does_not_stall_others(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        slow.sendall(b"POST /api/v1/export HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
        start = time.monotonic()
        for _ in range(3):
            assert client.request("GET", "/api/v1/session")[0] == 200
        assert time.monotonic() - start < 4
    finally:
        slow.close()


# ------------------------------------------------------------------ tune()


def _browser(url: str, actions: list[str], box: dict[str, Any]) -> threading.Thread:
    """A thread that plays the app: parses the fragment and performs ``actions``."""

    def run() -> None:
        frag = parse_qs(urlsplit(url).fragment)
        base = urlsplit(frag["bridge"][0])
        assert base.hostname == "127.0.0.1"
        assert "token" not in urlsplit(url).path + urlsplit(url).query
        fake = Client.__new__(Client)
        fake.port, fake.token = int(base.port or 0), frag["token"][0]
        for action in actions:
            if action == "load":
                box["session"] = json.loads(fake.request("GET", "/api/v1/session")[2])
                box["traces"] = np.load(io.BytesIO(fake.request("GET", "/api/v1/traces")[2]))
            elif action == "heartbeat":
                fake.post_json("/api/v1/heartbeat", {})
            elif action == "export":
                box["posted"] = _export()
                box["status"] = fake.post_json("/api/v1/export", box["posted"])[0]
            elif action == "cancel":
                fake.post_json("/api/v1/cancel", {"reason": "user"})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    box["thread"] = thread
    return thread


def test_tune_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    box: dict[str, Any] = {}
    result = tune(TRACES, fs=25.0, timeout=10, open_browser=False,
                  on_ready=lambda url: _browser(url, ["load", "heartbeat", "export"], box))
    box["thread"].join(timeout=5)
    assert box["status"] == 200
    np.testing.assert_array_equal(box["traces"], TRACES)
    assert box["session"]["num_cells"] == 3 and box["session"]["app"] == "catune"
    assert result is not None
    assert result["export"] == box["posted"]
    expected = {"tau_rise": 0.05, "tau_decay": 0.6, "lambda_": 0.3, "fs": 25.0,
                "filter_enabled": False}
    assert {k: v for k, v in result.items() if k != "export"} == expected
    assert "#bridge=" in capsys.readouterr().err


def test_tune_cancel_returns_none() -> None:
    box: dict[str, Any] = {}
    assert tune(TRACES, timeout=10, open_browser=False,
                on_ready=lambda url: _browser(url, ["load", "cancel"], box)) is None


def test_tune_timeout_returns_none() -> None:
    start = time.monotonic()
    assert tune(TRACES, timeout=0.3, open_browser=False) is None
    assert time.monotonic() - start < 5


def test_tune_heartbeat_loss_returns_none() -> None:
    box: dict[str, Any] = {}
    start = time.monotonic()
    result = tune(TRACES, timeout=10, open_browser=False, heartbeat_timeout=0.4,
                  on_ready=lambda url: _browser(url, ["heartbeat"], box))
    assert result is None and time.monotonic() - start < 5


def test_tune_ctrl_c_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: BridgeSession, *a: Any, **k: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(BridgeSession, "wait", interrupted)
    assert tune(TRACES, timeout=10, open_browser=False) is None


def test_tune_rejects_bad_traces() -> None:
    with pytest.raises(ValueError):
        tune(np.zeros((2, 2, 2)), open_browser=False, timeout=0.1)
    with pytest.raises(ValueError):
        tune(np.array([1.0, np.nan, 2.0]), open_browser=False, timeout=0.1)


def test_clean_shutdown_frees_port() -> None:
    box: dict[str, Any] = {}

    def grab(url: str) -> None:
        box["port"] = int(urlsplit(parse_qs(urlsplit(url).fragment)["bridge"][0]).port or 0)
        box["threads"] = {t.name for t in threading.enumerate()}

    before = {t.name for t in threading.enumerate()}
    assert run_session(BridgeSession(TRACES, 30.0), timeout=0.1, open_browser=False,
                       on_ready=grab) == "timeout"
    assert any(n.startswith("calab-bridge-") for n in box["threads"])
    after = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("calab-bridge-") for n in after - before)
    # the same port can be bound again, by a plain socket and by a new bridge
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", box["port"]))
    again = BridgeServer(BridgeSession(TRACES, 30.0), port=box["port"]).start()
    try:
        assert again.port == box["port"]
        assert Client(again).request("GET", "/api/v1/session")[0] == 200
    finally:
        again.close()
    assert again.thread is None


def test_server_binds_loopback_only() -> None:
    server = BridgeServer(BridgeSession(TRACES, 30.0))
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server.launch_url.startswith(f"http://127.0.0.1:{server.port}/#bridge=")
    finally:
        server.close()


# ------------------------------------------------------------------ headless browser


def _children() -> list[Any]:
    psutil = pytest.importorskip("psutil")
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def _wait_no_children(limit: float = 10.0) -> list[Any]:
    deadline = time.monotonic() + limit
    left = _children()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _children()
    return left


def _headless_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
        from calab._headless import find_chromium

        find_chromium()
    except Exception:
        return False
    return True


needs_browser = pytest.mark.skipif(not _headless_available(),
                                   reason="playwright or a system Chromium is not installed")


@needs_browser
def test_headless_start_close_twice_leaks_nothing() -> None:
    from calab._headless import HeadlessBrowser

    assert _wait_no_children() == []
    for _ in range(2):
        with HeadlessBrowser() as hb:
            hb.goto("data:text/html,<title>calab</title>")
            assert hb.page.title() == "calab"
            assert _children(), "expected a browser process while open"
        assert _wait_no_children() == []
    hb.close()  # idempotent
    with pytest.raises(Exception, match="not started"):
        _ = hb.page


@needs_browser
def test_headless_bad_executable_leaks_nothing(tmp_path: Path) -> None:
    from calab import _errors
    from calab._headless import HeadlessBrowser

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    for exe in (tmp_path / "missing-chromium", fake):
        hb = HeadlessBrowser(executable_path=exe)
        with pytest.raises(_errors.BrowserUnavailableError, match="chromium|Chromium"):
            hb.start()
        assert hb._pw is None and hb._browser is None
        assert _wait_no_children() == []


@needs_browser
def test_real_browser_drives_the_bridge(tmp_path: Path) -> None:
    """A minimal page, served by the bridge, reads the fragment and talks to the API from
    Chromium: checks the fragment format, the token header and same-origin rules for real."""
    from calab._headless import HeadlessBrowser

    app = tmp_path / "app"
    app.mkdir()
    export = _export()
    (app / "index.html").write_text(
        "<!doctype html><title>fake app</title><script type=module>\n"
        "const p = new URLSearchParams(location.hash.slice(1));\n"
        "const base = p.get('bridge'), h = {'X-CaLab-Token': p.get('token')};\n"
        "const s = await (await fetch(base + '/api/v1/session', {headers: h})).json();\n"
        "const buf = await (await fetch(base + '/api/v1/traces', {headers: h})).arrayBuffer();\n"
        "await fetch(base + '/api/v1/heartbeat', {method: 'POST', headers: h, body: '{}'});\n"
        f"const e = {json.dumps(export)};\n"
        "e.metadata.num_cells = s.num_cells; e.metadata.num_timepoints = buf.byteLength;\n"
        "const r = await fetch(base + '/api/v1/export', {method: 'POST', headers: h,"
        " body: JSON.stringify(e)});\n"
        "document.title = 'done ' + r.status;\n"
        "</script>"
    )
    session = BridgeSession(TRACES, 25.0)
    server = BridgeServer(session, app_dir=app).start()
    try:
        with HeadlessBrowser() as hb:
            errors: list[str] = []
            hb.page.on("pageerror", lambda e: errors.append(str(e)))
            hb.goto(server.launch_url)
            assert session.wait(timeout=15) == "export", errors
            assert session.params is not None
            assert session.params["export"]["metadata"]["num_cells"] == 3
            assert not errors
    finally:
        server.close()
    assert _wait_no_children() == []


def test_headless_missing_playwright_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from calab._errors import BrowserUnavailableError
    from calab._headless import HeadlessBrowser

    real_import = builtins.__import__

    def no_playwright(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("playwright"):
            raise ImportError("No module named 'playwright'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_playwright)
    with pytest.raises(BrowserUnavailableError) as info:
        HeadlessBrowser().start()
    assert "pip install 'calab[headless]'" in str(info.value)
    assert "playwright install" not in str(info.value)


def test_headless_missing_chromium_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from calab import _headless
    from calab._errors import BrowserUnavailableError

    monkeypatch.delenv("CALAB_CHROMIUM", raising=False)
    monkeypatch.setattr(_headless, "_CANDIDATES", ("/nonexistent/chromium",))
    monkeypatch.setattr(_headless.shutil, "which", lambda name: None)
    with pytest.raises(BrowserUnavailableError) as info:
        _headless.find_chromium()
    assert "apt-get install chromium" in str(info.value)
    assert "playwright install" not in str(info.value)
    monkeypatch.setenv("CALAB_CHROMIUM", "/opt/my/chrome")
    assert _headless.find_chromium() == "/opt/my/chrome"


def test_port_in_use_is_a_bridge_error() -> None:
    from calab._errors import BridgeError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(BridgeError, match=str(port)) as info:
            tune(TRACES, port=port, timeout=0.1, open_browser=False)
        assert info.value.code == "BRIDGE_ERROR"


_BUILT_APP = Path(__file__).resolve().parents[2] / "python" / "calab" / "_webapp" / "catune"


@needs_browser
@pytest.mark.skipif(not (_BUILT_APP / "index.html").is_file(),
                    reason="CaTune is not built (npm run build)")
def test_bundled_catune_round_trip() -> None:
    """The real CaTune app, served by the bridge in Chromium: loads the traces, sends
    heartbeats, and its 'Export to Python' button ends the session with a valid export."""
    from calab._headless import HeadlessBrowser

    session = BridgeSession(np.random.default_rng(0).normal(size=(3, 600)) + 1.0, 30.0,
                            source="pytest")
    server = BridgeServer(session).start()
    try:
        with HeadlessBrowser() as hb:
            errors: list[str] = []
            hb.page.on("pageerror", lambda e: errors.append(str(e)))
            hb.page.on("console",
                       lambda m: errors.append(m.text) if m.type == "error" else None)
            hb.goto(server.launch_url)
            deadline = time.monotonic() + 20
            while session.first_heartbeat is None and time.monotonic() < deadline:
                hb.page.wait_for_timeout(100)
            assert session.first_heartbeat is not None, errors
            hb.page.get_by_role("button", name="Export to Python").click(timeout=10_000)
            assert session.wait(timeout=15) == "export", errors
            assert not errors
    finally:
        server.close()
    params = session.params
    assert params is not None
    assert params["fs"] == 30.0 and params["tau_rise"] < params["tau_decay"]
    meta = params["export"]["metadata"]
    assert meta["num_cells"] == 3 and meta["num_timepoints"] == 600
