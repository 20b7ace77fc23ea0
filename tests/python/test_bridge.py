"""The browser bridge, exercised over real loopback HTTP: every endpoint, every refusal,
concurrency, session endings (export, cancel, timeout, lost heartbeat) and clean shutdown."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import calab._errors as calab_errors
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
    results = {"schema_version": "0.1.0", "cell_indices": [0, 1, 2]}
    assert client.post_json("/api/v1/results", results)[0] == 200
    assert s.done.is_set() and s.outcome == "results" and s.activity is not None


def test_export_and_cancel(served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    assert client.post_json("/api/v1/export", _export())[0] == 200
    assert server.session.outcome == "export"
    assert server.session.params is not None and server.session.params["lambda_"] == 0.3
    # later messages are refused and do not overwrite the first outcome
    status, _, body = client.post_json("/api/v1/cancel", {})
    assert status == 410 and _error_code(body) == "SESSION_ENDED"
    status, _, body = client.post_json("/api/v1/export", _export())
    assert status == 410 and _error_code(body) == "SESSION_ENDED"
    assert client.request("GET", "/api/v1/traces")[0] == 410
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


# ------------------------------------------------------------------ connections (raw sockets)


def _raw(server: BridgeServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def _head(server: BridgeServer, method: str, path: str, *, token: bool = True,
          extra: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    if token:
        lines.append(f"{P.TOKEN_HEADER}: {server.token}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return out


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body) from a kept-alive socket."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _served_nothing(sock: socket.socket, server_port: int) -> bool:
    """True when a request on ``sock`` gets no byte back (closed or reset)."""
    try:
        sock.sendall(b"GET /api/v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server_port)
    except OSError:
        return True
    try:
        return sock.recv(65536) == b""
    except OSError:
        return True


def _bridge_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("calab-bridge-")]


@pytest.mark.parametrize("ending", ["timeout", "export", "interrupt", "exception"])
def test_session_end_closes_every_connection(ending: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """However the session ends, a keep-alive connection opened during it (one in the middle of
    a heartbeat rhythm, one idle) gets nothing afterwards, no handler thread is left, and the
    port refuses new connections."""
    box: dict[str, Any] = {}
    before = threading.active_count()
    # Timers far beyond the test: only close() can end these connections.
    monkeypatch.setattr(P, "IDLE_TIMEOUT_S", 600.0)
    monkeypatch.setattr(P, "REQUEST_TIMEOUT_S", 600.0)

    def ready(url: str) -> None:
        frag = parse_qs(urlsplit(url).fragment)
        port = int(urlsplit(frag["bridge"][0]).port or 0)
        token = frag["token"][0]
        box["port"] = port
        alive = socket.create_connection(("127.0.0.1", port), timeout=10)
        alive.sendall(f"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"{P.TOKEN_HEADER}: {token}\r\n\r\n".encode())
        box["first"] = _read_response(alive)[0]
        box["alive"] = alive
        box["idle"] = socket.create_connection(("127.0.0.1", port), timeout=10)
        deadline = time.monotonic() + 10
        while len(_bridge_threads()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the serve loop plus one handler thread per connection
        box["threads_during"] = len(_bridge_threads())
        if ending == "export":
            body = json.dumps(_export()).encode()
            alive.sendall(f"POST /api/v1/export HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"{P.TOKEN_HEADER}: {token}\r\nContent-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
            box["export"] = _read_response(alive)[0]
        elif ending == "exception":
            raise RuntimeError("the caller's callback failed")

    if ending == "interrupt":
        def interrupted(self: BridgeSession, *a: Any, **k: Any) -> str:
            raise KeyboardInterrupt

        monkeypatch.setattr(BridgeSession, "wait", interrupted)
    session = BridgeSession(TRACES, 25.0)
    if ending == "exception":
        with pytest.raises(RuntimeError, match="callback"):
            run_session(session, timeout=0.2, open_browser=False, on_ready=ready)
    else:
        outcome = run_session(session, timeout=0.2, open_browser=False, on_ready=ready)
        assert outcome == {"timeout": "timeout", "export": "export",
                           "interrupt": "interrupted"}[ending]
    try:
        assert box["first"] == 200 and box["threads_during"] >= 3
        assert box.get("export", 200) == 200
        assert _bridge_threads() == [] and threading.active_count() == before
        assert _served_nothing(box["alive"], box["port"])
        assert _served_nothing(box["idle"], box["port"])
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", box["port"]), timeout=5).close()
    finally:
        box["alive"].close()
        box["idle"].close()


def test_the_request_that_ends_the_session_gets_its_whole_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The export that ends the session is answered in full before close() shuts its
    connection, however slowly its handler gets there (a loaded machine): otherwise the page
    would report an export Python did receive as lost. Other connections are shut at once."""
    from calab.bridge import server as server_mod

    real = server_mod._Handler._send_json

    def slow(self: Any, status: int, obj: Any) -> None:
        time.sleep(0.5)  # the session has ended; the caller is already closing the server
        real(self, status, obj)

    monkeypatch.setattr(server_mod._Handler, "_send_json", slow)
    box: dict[str, Any] = {}
    result = tune(TRACES, fs=25.0, timeout=20, open_browser=False,
                  on_ready=lambda url: _browser(url, ["export"], box))
    box["thread"].join(timeout=10)
    assert result is not None and box.get("status") == 200
    assert _bridge_threads() == []


def test_messages_after_the_end_are_refused(served: tuple[BridgeServer, Client]) -> None:
    """Between the end of a session and the server's close, a late export is refused (410)
    and the session keeps its first outcome: the page is never told 'received' for nothing."""
    server, client = served
    assert server.session.end("timeout") == "timeout"
    for path, body in (("/api/v1/export", _export()), ("/api/v1/heartbeat", {}),
                       ("/api/v1/cancel", {})):
        status, _, resp = client.post_json(path, body)
        assert status == 410 and _error_code(resp) == "SESSION_ENDED"
        assert b"timeout" in resp
    assert client.request("GET", "/api/v1/session")[0] == 410
    assert server.session.outcome == "timeout" and server.session.params is None
    assert server.session.end("interrupted") == "timeout"  # the first ending stays


def test_an_export_before_the_end_is_kept() -> None:
    session = BridgeSession(TRACES, 25.0)
    session.receive("export", _export())
    assert session.end("timeout") == "export" and session.params is not None


def test_close_drops_a_request_in_progress(served: tuple[BridgeServer, Client]) -> None:
    """A handler blocked reading a half-sent body is woken and joined by close()."""
    server, _ = served
    sock = _raw(server)
    try:
        sock.sendall(_head(server, "POST", "/api/v1/export", extra="Content-Length: 1000\r\n")
                     + b"{")
        deadline = time.monotonic() + 10
        while server.open_connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.close()
        assert server.open_connections == 0
        assert [t for t in _bridge_threads() if t.name.startswith(f"calab-bridge-{server.port}")
                ] == []
        assert _read_all(sock) == b""
    finally:
        sock.close()


SMUGGLED = b"POST /api/v1/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(("method", "path", "token"), [
    ("GET", "/api/v1/session", True), ("GET", "/api/v1/traces", True), ("HEAD", "/", False),
    ("GET", "/", False), ("OPTIONS", "/api/v1/export", False), ("PUT", "/api/v1/export", True),
    ("DELETE", "/api/v1/session", True), ("PATCH", "/api/v1/export", True),
    ("POST", "/index.html", False), ("POST", "/api/v1/nope", True),
    ("POST", "/api/v1/export", False),
])
def test_a_body_is_never_read_as_a_second_request(served: tuple[BridgeServer, Client],
                                                  method: str, path: str, token: bool) -> None:
    """A body on a request that takes none (or one refused before reading it) hides a second
    request; the server answers once, closes the connection and never runs the hidden one."""
    server, _ = served
    hidden = SMUGGLED.replace(b"Host: x", f"Host: 127.0.0.1:{server.port}\r\n"
                              f"{P.TOKEN_HEADER}: {server.token}".encode())
    sock = _raw(server)
    try:
        sock.sendall(_head(server, method, path, token=token,
                           extra=f"Content-Length: {len(hidden)}\r\n") + hidden)
        got = _read_all(sock)
    finally:
        sock.close()
    assert got.count(b"HTTP/1.1 ") == 1, got[:400]
    assert b"connection: close" in got.lower()
    assert server.session.outcome is None and not server.session.done.is_set()


@pytest.mark.parametrize("header", [
    "Content-Length: 1_0", "Content-Length: +10", "Content-Length: -1", "Content-Length: 0x10",
    "Content-Length: 10\r\nContent-Length: 12", "Transfer-Encoding: chunked",
])
def test_unframeable_bodies_are_refused_and_closed(served: tuple[BridgeServer, Client],
                                                   header: str) -> None:
    server, _ = served
    sock = _raw(server)
    try:
        sock.sendall(_head(server, "POST", "/api/v1/heartbeat", extra=header + "\r\n")
                     + b"{}" + SMUGGLED)
        got = _read_all(sock)
    finally:
        sock.close()
    assert got.count(b"HTTP/1.1 ") == 1 and got.startswith((b"HTTP/1.1 400", b"HTTP/1.1 411"))
    assert server.session.outcome is None


def test_a_kept_alive_connection_serves_requests_in_turn(
        served: tuple[BridgeServer, Client]) -> None:
    """The framing rules leave ordinary keep-alive alone: three requests, one connection."""
    server, _ = served
    sock = _raw(server)
    try:
        body = b"{}"
        sock.sendall(_head(server, "POST", "/api/v1/heartbeat",
                           extra=f"Content-Length: {len(body)}\r\n") + body)
        assert _read_response(sock)[0] == 200
        sock.sendall(_head(server, "GET", "/api/v1/session", extra="Content-Length: 0\r\n"))
        status, headers, _ = _read_response(sock)
        assert status == 200 and headers.get("connection") != "close"
        sock.sendall(_head(server, "GET", "/api/v1/traces?dtype=f4"))
        assert _read_response(sock)[0] == 200
    finally:
        sock.close()


@pytest.mark.parametrize("path", ["/" + "a/" * 3000 + "a", "/" + "b" * 5000,
                                  "/a/%00/b", "/" + "c/" * 20 + "index.html"])
def test_deep_or_long_static_paths_are_404(served: tuple[BridgeServer, Client],
                                           path: str) -> None:
    _, client = served
    status, _, body = client.request("GET", path, token=False)
    assert status == 404 and _error_code(body) == "NOT_FOUND"
    assert client.request("GET", "/", token=False)[0] == 200


def _dropped_within(sock: socket.socket, limit: float, trickle: bytes = b"",
                    every: float = 0.2) -> bool:
    """Trickle ``trickle`` a byte at a time (or just wait) until the server drops ``sock``."""
    deadline = time.monotonic() + limit
    sock.settimeout(every)
    i = 0
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.sendall(trickle[i % len(trickle):i % len(trickle) + 1])
                i += 1
            if sock.recv(1024) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def test_slow_and_idle_clients_are_dropped(tmp_path: Path) -> None:
    """Clients trickling a request a byte at a time, half-sent bodies and idle connections are
    all dropped once their time budget is spent, while others are served meanwhile."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "index.html").write_text("<!doctype html><title>app</title>")
    server = BridgeServer(BridgeSession(TRACES, 25.0), app_dir=app_dir, request_timeout=1.0,
                          idle_timeout=1.0).start()
    client = Client(server)
    socks = [_raw(server) for _ in range(12)]
    try:
        results: list[bool] = []
        lock = threading.Lock()
        slow_head = _head(server, "GET", "/api/v1/session") * 50  # never finishes in time
        half_body = _head(server, "POST", "/api/v1/export", extra="Content-Length: 900\r\n")

        def play(i: int, sock: socket.socket) -> None:
            if i % 3 == 1:
                sock.sendall(half_body + b"{")
                trickle = b" "
            else:
                trickle = slow_head if i % 3 == 0 else b""  # the third kind just sits idle
            dropped = _dropped_within(sock, 60.0, trickle)
            with lock:
                results.append(dropped)

        threads = [threading.Thread(target=play, args=(i, s)) for i, s in enumerate(socks)]
        for t in threads:
            t.start()
        for _ in range(3):  # the server keeps serving others meanwhile
            assert client.request("GET", "/api/v1/session")[0] == 200
        for t in threads:
            t.join(timeout=90)
        assert results == [True] * len(socks)
        deadline = time.monotonic() + 20
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.open_connections == 0
    finally:
        for s in socks:
            s.close()
        server.close()


def test_connection_cap(tmp_path: Path) -> None:
    server = BridgeServer(BridgeSession(TRACES, 25.0), max_connections=3).start()
    held = [_raw(server) for _ in range(3)]
    try:
        deadline = time.monotonic() + 10
        while server.open_connections < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        extra = _raw(server)
        got = _read_all(extra)
        extra.close()
        assert got.startswith(b"HTTP/1.1 503") and b"TOO_MANY_CONNECTIONS" in got
        for s in held:
            s.close()
        deadline = time.monotonic() + 20
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Client(server).request("GET", "/api/v1/session")[0] == 200
    finally:
        for s in held:
            s.close()
        server.close()


# ------------------------------------------------------------------ the launch file


def test_the_browser_gets_a_private_redirect_file_not_the_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """webbrowser.open (whose argument ends up on a command line, visible in ps) receives a
    file:// URL of a 0600 file in a 0700 folder; the secret is only inside that file."""
    from calab.bridge import _api

    opened: dict[str, Any] = {}

    def fake_open(url: str, *a: Any, **k: Any) -> bool:
        path = Path(urlsplit(url).path)
        opened.update(url=url, path=path, mode=path.stat().st_mode & 0o777,
                      folder_mode=path.parent.stat().st_mode & 0o777, text=path.read_text())
        launch = re.search(r'location\.replace\("([^"]+)"\)', opened["text"])
        assert launch is not None
        _browser(launch.group(1).replace("\\u0026", "&"), ["load", "export"], opened)
        return True

    monkeypatch.setattr(_api, "_has_display", lambda: True)
    monkeypatch.setattr(_api.webbrowser, "open", fake_open)
    session = BridgeSession(TRACES, 25.0)
    assert run_session(session, timeout=20) == "export"
    opened["thread"].join(timeout=5)
    token = parse_qs(urlsplit(re.search(r"#bridge=\S+", capsys.readouterr().err).group(0)
                              ).fragment)["token"][0]
    assert opened["url"].startswith("file://") and token not in opened["url"]
    assert opened["mode"] == 0o600 and opened["folder_mode"] == 0o700
    assert f"token={token}" in opened["text"]
    assert not opened["path"].exists() and not opened["path"].parent.exists()


def test_the_redirect_file_is_removed_once_the_app_is_in(
        served: tuple[BridgeServer, Client]) -> None:
    server, client = served
    path = server.write_redirect_file()
    assert path.is_file()
    assert client.request("GET", "/api/v1/session", token="wrong")[0] == 401
    assert path.is_file()  # a wrong secret does not count
    assert client.request("GET", "/api/v1/session")[0] == 200
    assert not path.exists() and not path.parent.exists()


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


@needs_browser
def test_redirect_file_opens_the_app_in_real_chromium(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium given only the file:// URL lands on the app with the fragment intact and the
    app's requests authenticate."""
    from calab._headless import HeadlessBrowser
    from calab.bridge import _api

    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text(
        "<!doctype html><title>fake app</title><script type=module>\n"
        "const p = new URLSearchParams(location.hash.slice(1));\n"
        "const r = await fetch(p.get('bridge') + '/api/v1/heartbeat', {method: 'POST',"
        " headers: {'X-CaLab-Token': p.get('token')}, body: '{}'});\n"
        "document.title = 'beat ' + r.status;\n</script>")
    session = BridgeSession(TRACES, 25.0)
    server = BridgeServer(session, app_dir=app).start()
    try:
        with HeadlessBrowser() as hb:
            monkeypatch.setattr(_api.webbrowser, "open", lambda url, *a, **k: hb.goto(url) or True)
            assert _api._open_in_browser(server)
            hb.page.wait_for_function("document.title.startsWith('beat')", timeout=20_000)
            assert hb.page.title() == "beat 200"
            assert hb.page.url.startswith(server.base_url + "/#bridge=")
            assert session.first_heartbeat is not None
    finally:
        server.close()


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


def test_readme_states_the_protocol_limits() -> None:
    """The README's bridge section quotes the limits of schemas/bridge-protocol.json."""
    readme = (SCHEMAS.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The browser apps and the bridge", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.split())
    sec = P.protocol_schema()["security"]
    assert (sec["request_timeout_s"], sec["idle_timeout_s"], sec["max_connections"]) == (
        P.REQUEST_TIMEOUT_S, P.IDLE_TIMEOUT_S, P.MAX_CONNECTIONS)
    for phrase in (f"within {sec['request_timeout_s']:g} s", f"after {sec['idle_timeout_s']:g} s",
                   f"at most {sec['max_connections']} connections", "0600", "SESSION_ENDED",
                   "NOT received by Python"):
        assert phrase in section, phrase


def _network_noise(message: str) -> bool:
    """Chromium's own console line for a request that got no answer or a refusal."""
    return "ERR_CONNECTION_REFUSED" in message or "status of 410" in message


@needs_browser
@pytest.mark.skipif(not (_BUILT_APP / "index.html").is_file(),
                    reason="CaTune is not built (npm run build)")
def test_bundled_catune_late_export_is_not_lost() -> None:
    """tune() times out while the real CaTune tab is open and connected. The tab then exports:
    the page says the parameters were NOT received (never 'sent to Python'), soon stops saying
    'Connected to Python', and Export JSON still downloads the same parameters."""
    from calab._headless import HeadlessBrowser

    traces = np.random.default_rng(1).normal(size=(3, 600)) + 1.0
    status = '[data-testid="bridge-status"]'
    with HeadlessBrowser() as hb:
        page = hb.page
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and not _network_noise(m.text) else None)

        def ready(url: str) -> None:  # the tab is connected before the timeout starts counting
            hb.goto(url)
            page.wait_for_function(f"document.querySelector('{status}').dataset.state"
                                   " === 'connected'", timeout=30_000)
            page.wait_for_selector('[data-testid="export-python"]:not([disabled])',
                                   timeout=30_000)

        assert tune(traces, fs=30.0, timeout=0.3, open_browser=False, on_ready=ready) is None
        page.click('[data-testid="export-python"]')
        banner = '[data-testid="app-error"]'
        page.wait_for_function(f"document.querySelector('{banner}').textContent"
                               ".includes('NOT received by Python')", timeout=20_000)
        assert "sent to Python" not in (page.text_content(status) or "")
        assert "Export JSON" in (page.text_content(banner) or "")
        # within a heartbeat or two the status no longer claims a live connection
        page.wait_for_function(f"!document.querySelector('{status}').textContent"
                               ".includes('Connected')", timeout=30_000)
        assert "NOT received" in (page.text_content(status) or "") or \
            "not answering" in (page.text_content(status) or "")
        with page.expect_download() as download:
            page.click('[data-testid="export-json"]')
        doc = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert doc["metadata"]["num_cells"] == 3 and doc["parameters"]["tau_decay_s"] > 0
        assert not errors, errors


def test_traces_the_app_could_not_hold_are_refused_up_front() -> None:
    """The browser refuses more than max_values values and computes in float32: tune() says so
    before any server starts, instead of a tab that fails to load."""
    limits = P.load_schema("trace-files.json")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(limits).validate(limits)  # the document obeys its own consts
    big = np.lib.stride_tricks.as_strided(np.ones(1), shape=(2, limits["max_values"] // 2 + 1),
                                          strides=(0, 0))
    with pytest.raises(calab_errors.InvalidParameterError, match="apps can hold"):
        BridgeSession(big, 30.0)
    with pytest.raises(calab_errors.InvalidParameterError, match="float32"):
        tune(np.array([[1.0, 1e39, 2.0] * 10]), open_browser=False, timeout=0.1)
