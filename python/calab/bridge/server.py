"""The bridge's HTTP server: a ``ThreadingHTTPServer`` on 127.0.0.1 serving the bundled web app
and the ``/api/v1`` routes of ``schemas/bridge-protocol.json``.

Safety relies on four checks, made before any body is read: the Host header (DNS rebinding), the
Origin header, a per-session secret in ``X-CaLab-Token`` (compared in constant time), and a size
cap per body kind. Every handler is wrapped so a fault answers 500 and the server keeps going; the
access log never contains the secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from .._errors import BridgeError
from . import protocol as P
from .session import BridgeSession

log = logging.getLogger("calab.bridge")

_WEBAPP_ROOT = Path(__file__).resolve().parent.parent / "_webapp"
_EXTRA_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
                ".json": "application/json", ".svg": "image/svg+xml", ".map": "application/json"}

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{app} is not built</title></head>
<body><h1>The {app} web app is not built</h1>
<p>calab could not find <code>{where}</code>. Build the apps with <code>npm run build</code>
(in the repository's <code>web/</code> folder) and reinstall calab, or pass
<code>app_url=</code> to use a hosted copy.</p></body></html>
"""


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    protocol_version = "HTTP/1.1"
    server_version = "calab-bridge/1"
    sys_version = ""
    #: Seconds a connection may stay idle or half-sent before it is dropped.
    timeout = 10

    # ----------------------------------------------------------------- plumbing

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        msg = format % args
        token = self.server.token
        if token and token in msg:
            msg = msg.replace(token, "<redacted>")
        log.debug("%s %s", self.address_string(), msg)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in self._cors_headers().items():
            self.send_header(key, value)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _send_error(self, err: P.ProtocolError, headers: dict[str, str] | None = None) -> None:
        self._send(err.status, P.error_body(err.code, err.message), "application/json", headers)

    def _cors_headers(self) -> dict[str, str]:
        origin = (self.headers.get("Origin") or "").lower()
        if origin and origin in self.server.cors_origins:
            return {
                "Access-Control-Allow-Origin": origin,
                "Vary": "Origin",
                "Access-Control-Allow-Headers": f"{P.TOKEN_HEADER}, Content-Type",
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Max-Age": "600",
                # Chrome's Private Network Access: a hosted app may call this loopback server.
                "Access-Control-Allow-Private-Network": "true",
            }
        return {}

    # ----------------------------------------------------------------- checks

    def _check_host_origin(self) -> None:
        host = (self.headers.get("Host") or "").lower()
        if host not in self.server.allowed_hosts:
            raise P.ProtocolError(403, "FORBIDDEN_HOST", "Host header must name this bridge "
                                  f"(127.0.0.1:{self.server.port} or localhost:{self.server.port})")
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in self.server.allowed_origins:
            raise P.ProtocolError(403, "FORBIDDEN_ORIGIN", f"origin {origin!r} is not allowed")

    def _check_token(self) -> None:
        sent = self.headers.get(P.TOKEN_HEADER)
        if sent is None or not hmac.compare_digest(
            sent.encode("utf-8", "replace"), self.server.token.encode()
        ):
            raise P.ProtocolError(401, "UNAUTHORIZED", f"missing or wrong {P.TOKEN_HEADER} header")

    def _read_body(self, kind: str) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise P.ProtocolError(411, "LENGTH_REQUIRED", "send a Content-Length, not chunked")
        raw = self.headers.get("Content-Length")
        if raw is None:
            if kind == "json":
                return b""
            raise P.ProtocolError(411, "LENGTH_REQUIRED", "Content-Length header required")
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise P.ProtocolError(400, "BAD_JSON" if kind == "json" else "BAD_NPY",
                                  f"bad Content-Length {raw!r}") from None
        limit = P.MAX_JSON_BYTES if kind == "json" else P.MAX_NPY_BYTES
        if length > limit:
            raise P.ProtocolError(413, "PAYLOAD_TOO_LARGE",
                                  f"body of {length} bytes exceeds the {limit}-byte limit")
        body = self.rfile.read(length)
        if len(body) != length:
            raise P.ProtocolError(400, "BAD_JSON" if kind == "json" else "BAD_NPY",
                                  "body shorter than Content-Length")
        self._body_read = True
        return body

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self) -> None:
        self._body_read = False
        try:
            try:
                self._route()
            except P.ProtocolError as err:
                if self.command == "POST" and not self._body_read:
                    self.close_connection = True  # unread body: the stream is out of sync
                extra = {}
                if err.status == 405:
                    extra["Allow"] = self._allowed_methods()
                self._send_error(err, extra)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("bridge handler failed")
            self.close_connection = True
            try:
                self._send(500, P.error_body("INTERNAL", "internal bridge error"),
                           "application/json")
            except Exception:  # noqa: BLE001 - the client is gone; nothing more to do
                pass

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _allowed_methods(self) -> str:
        path = self._path()
        return ", ".join(sorted({m for (m, p) in P.ROUTES if p == path} | {"OPTIONS"}))

    def _route(self) -> None:
        self._check_host_origin()
        path = self._path()
        if self.command == "OPTIONS":
            self._send(204, b"", "text/plain")
            return
        if not path.startswith(P.API_PREFIX + "/") and path != P.API_PREFIX:
            if self.command in ("GET", "HEAD"):
                self._serve_static(path)
                return
            raise P.ProtocolError(405 if self.command == "POST" else 404,
                                  "METHOD_NOT_ALLOWED" if self.command == "POST" else "NOT_FOUND",
                                  f"{self.command} is not allowed on static files")
        self._check_token()
        route = P.ROUTES.get((self.command, path))
        if route is None:
            if any(p == path for (_, p) in P.ROUTES):
                raise P.ProtocolError(405, "METHOD_NOT_ALLOWED",
                                      f"{self.command} not allowed on {path}")
            raise P.ProtocolError(404, "NOT_FOUND", f"no such endpoint {path}")
        kind, def_name = route
        session = self.server.session
        if kind == "none":
            if path.endswith("/session"):
                self._send_json(200, session.describe())
            else:
                query = urlsplit(self.path).query
                f4 = "dtype=f4" in query.split("&")
                self._send(200, session.traces_npy(float32=f4), "application/octet-stream")
            return
        body = self._read_body(kind)
        if kind == "npy":
            session.receive_activity(P.parse_npy(body))
        else:
            msg = P.parse_json(body)
            assert def_name is not None
            P.check_message(msg, def_name)
            session.receive(def_name, msg)
        self._send_json(200, {"ok": True})

    def _serve_static(self, path: str) -> None:
        root = self.server.app_dir
        index = root / "index.html"
        if not index.is_file():
            page = _NOT_BUILT.format(app=self.server.session.app, where=index)
            self._send(503, page.encode(), "text/html; charset=utf-8")
            return
        rel = path.lstrip("/") or "index.html"
        target = (root / rel).resolve()
        try:
            target.relative_to(root.resolve())
        except ValueError:
            raise P.ProtocolError(404, "NOT_FOUND", "no such file") from None
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            raise P.ProtocolError(404, "NOT_FOUND", f"no such file {path}")
        ctype = _EXTRA_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        self._send(200, target.read_bytes(), ctype or "application/octet-stream")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class BridgeServer(ThreadingHTTPServer):
    """Loopback HTTP server for one :class:`BridgeSession`.

    Parameters
    ----------
    session : BridgeSession
        What to serve and where posted messages go.
    port : int, optional
        Port on 127.0.0.1; ``None`` or 0 picks a free one.
    app_url : str, optional
        Where the app is hosted when it is not served from here; its origin is allowed.
    app_dir : Path, optional
        Static app files (default ``calab/_webapp/<app>/``).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, session: BridgeSession, port: int | None = None,
                 app_url: str | None = None, app_dir: Path | None = None) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(32)
        self.app_url = app_url
        self.app_dir = Path(app_dir) if app_dir is not None else _WEBAPP_ROOT / session.app
        try:
            super().__init__(("127.0.0.1", int(port or 0)), _Handler)
        except OSError as exc:
            raise BridgeError(f"cannot listen on 127.0.0.1:{port or 0}: {exc}") from None
        self.port = int(self.server_address[1])
        own = {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        app_origin = _origin_of(app_url) if app_url else None
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.cors_origins = {app_origin} - own if app_origin else set()
        self.allowed_origins = own | self.cors_origins
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def launch_url(self) -> str:
        """App URL with ``#bridge=<base url>&token=<secret>`` (the fragment never reaches logs)."""
        frag = urlencode({"bridge": self.base_url, "token": self.token})
        base = self.app_url or f"{self.base_url}/"
        return f"{base.split('#', 1)[0]}#{frag}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)

    def start(self) -> BridgeServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"calab-bridge-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the socket and join the server thread (idempotent)."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def __enter__(self) -> BridgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BridgeServer"]
