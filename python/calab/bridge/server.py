"""The bridge's HTTP server: a ``ThreadingHTTPServer`` on 127.0.0.1 serving the bundled web app
and the ``/api/v1`` routes of ``schemas/bridge-protocol.json``.

Safety relies on four checks, made before any body is read: the Host header (DNS rebinding), the
Origin header, a per-session secret in ``X-CaLab-Token`` (compared in constant time), and a size
cap per body kind. Every handler is wrapped so a fault answers 500 and the server keeps going; the
access log never contains the secret.

Connections are bounded in number (``max_connections``) and in time: a request must arrive whole
(line, headers and body) within ``request_timeout`` seconds of its first byte, and a kept-alive
connection is dropped after ``idle_timeout`` seconds without a new request. A body the route does
not read is never parsed as a further request: the connection is closed after the answer.
:meth:`BridgeServer.close` stops accepting, shuts every open connection (kept-alive ones too) and
joins every handler thread, so nothing is served once a session is over.
"""

from __future__ import annotations

import hmac
import html
import io
import json
import logging
import mimetypes
import os
import re
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
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
#: Longest static path served, and its most segments: the bundled app is two levels deep.
_MAX_STATIC_PATH = 512
_MAX_STATIC_DEPTH = 16
_DIGITS = re.compile(r"[0-9]{1,20}")

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{app} is not built</title></head>
<body><h1>The {app} web app is not built</h1>
<p>calab could not find <code>{where}</code>. Build the apps with <code>npm run build</code>
(in the repository's <code>web/</code> folder) and reinstall calab, or pass
<code>app_url=</code> to use a hosted copy.</p></body></html>
"""

_REDIRECT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={attr}">
<title>Opening {app}</title></head>
<body><p>Opening {app}. If nothing happens, <a href="{attr}">follow this link</a>.</p>
<script>location.replace({js});</script></body></html>
"""


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked reading or writing
    except OSError:
        pass


class _Conn:
    """One open connection: its handler thread, and whether it is answering a request it has read
    whole (close() lets that answer finish, so an export that ended the session hears its 200)."""

    __slots__ = ("thread", "answering")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.answering = False


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class _RequestClock(io.RawIOBase):
    """Reads a connection's socket against two clocks.

    Between requests a read may wait ``idle`` seconds for the first byte (then the connection is
    dropped). From that first byte on, the whole request (line, headers, body) must arrive within
    ``budget`` seconds in total, however the bytes trickle in: each read gets only the time left.
    """

    def __init__(self, sock: socket.socket, idle: float, budget: float) -> None:
        super().__init__()
        self.sock = sock
        self.idle = idle
        self.budget = budget
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def next_request(self) -> None:
        self.deadline = None

    def readinto(self, buf: Any) -> int:
        if self.deadline is None:
            self.sock.settimeout(self.idle)
        else:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("request took longer than its time budget")
            self.sock.settimeout(left)
        n = self.sock.recv_into(buf)
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self.budget
        return n


class _SendAll(io.BufferedIOBase):
    """Unbuffered writes that always send everything (``SocketIO.write`` may send a part)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    protocol_version = "HTTP/1.1"
    server_version = "calab-bridge/1"
    sys_version = ""

    # ----------------------------------------------------------------- plumbing

    def setup(self) -> None:
        self.connection = self.request
        # Headers and body go out in two writes; with Nagle's algorithm the body then waits for
        # the client's delayed ACK of the headers, about 40 ms on every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._clock = _RequestClock(self.connection, self.server.idle_timeout,
                                    self.server.request_timeout)
        self.rfile = io.BufferedReader(self._clock)
        self.wfile = _SendAll(self.connection)

    def finish(self) -> None:
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except OSError:
                pass

    def handle_one_request(self) -> None:
        self._clock.next_request()
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        msg = format % args
        token = self.server.token
        if token and token in msg:
            msg = msg.replace(token, "<redacted>")
        log.debug("%s %s", self.address_string(), msg)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        # Writing gets its own total budget (sendall honours it as a whole since Python 3.5).
        self.connection.settimeout(self.server.request_timeout)
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
        self.server.authenticated()

    def _declared_length(self) -> int:
        """The body length the request declares (0 for none); refuses what cannot be framed."""
        if self.headers.get("Transfer-Encoding") is not None:
            raise P.ProtocolError(411, "LENGTH_REQUIRED", "send a Content-Length, not chunked")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        if len(set(values)) != 1 or not _DIGITS.fullmatch(values[0].strip()):
            raise P.ProtocolError(400, "BAD_REQUEST", f"bad Content-Length {values!r}")
        return int(values[0])

    def _read_body(self, kind: str, length: int) -> bytes:
        limit = P.MAX_JSON_BYTES if kind == "json" else P.MAX_NPY_BYTES
        if length > limit:
            raise P.ProtocolError(413, "PAYLOAD_TOO_LARGE",
                                  f"body of {length} bytes exceeds the {limit}-byte limit")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise P.ProtocolError(400, "BAD_JSON" if kind == "json" else "BAD_NPY",
                                  "body shorter than Content-Length")
        self._body_read = True
        return body

    # ----------------------------------------------------------------- dispatch

    def _answer(self) -> None:
        """From here the request has been read whole: close() lets its answer finish."""
        self._answering = True
        self.server.answering(self.request, True)

    def _dispatch(self) -> None:
        if self.server.closing:  # the session is over: answer nothing more
            self.close_connection = True
            return
        self._answering = False
        try:
            self._dispatch_request()
        finally:
            if self._answering:
                self.server.answering(self.request, False)
            if self.server.closing:
                self.close_connection = True

    def _dispatch_request(self) -> None:
        self._body_read = False
        declared = (self.headers.get("Content-Length") or "0").strip()
        self._has_body = bool(self.headers.get("Transfer-Encoding")) or declared not in ("", "0")
        try:
            try:
                self._route()
            except P.ProtocolError as err:
                extra = {}
                if err.status == 405:
                    extra["Allow"] = self._allowed_methods()
                if self._has_body and not self._body_read:
                    self.close_connection = True  # unread body: never parse it as a request
                self._send_error(err, extra)
            if self._has_body and not self._body_read:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
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
        length = self._declared_length()
        path = self._path()
        if self.command == "OPTIONS":
            if length:
                raise P.ProtocolError(400, "BAD_REQUEST", "an OPTIONS request takes no body")
            self._answer()
            self._send(204, b"", "text/plain")
            return
        if not path.startswith(P.API_PREFIX + "/") and path != P.API_PREFIX:
            if self.command not in ("GET", "HEAD"):
                raise P.ProtocolError(405 if self.command == "POST" else 404,
                                      "METHOD_NOT_ALLOWED" if self.command == "POST"
                                      else "NOT_FOUND",
                                      f"{self.command} is not allowed on static files")
            if length:
                raise P.ProtocolError(400, "BAD_REQUEST", f"a {self.command} request takes no body")
            self._answer()
            self._serve_static(path)
            return
        self._check_token()
        route = P.ROUTES.get((self.command, path))
        if route is None:
            if any(p == path for (_, p) in P.ROUTES):
                raise P.ProtocolError(405, "METHOD_NOT_ALLOWED",
                                      f"{self.command} not allowed on {path}")
            raise P.ProtocolError(404, "NOT_FOUND", f"no such endpoint {path}")
        kind, def_name = route
        name = path[len(P.API_PREFIX) + 1:]
        session = self.server.session
        if kind == "none":
            if length:
                raise P.ProtocolError(400, "BAD_REQUEST", f"{self.command} {path} takes no body")
            query = urlsplit(self.path).query.split("&")
            self._answer()
            status, body, ctype = session.get(name, query)
            self._send(status, body, ctype)
            return
        body = self._read_body(kind, length)
        self._answer()
        if kind == "npy":
            session.receive_array(name, P.parse_npy(body))
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
        if len(rel) > _MAX_STATIC_PATH or rel.count("/") > _MAX_STATIC_DEPTH or "\0" in rel:
            raise P.ProtocolError(404, "NOT_FOUND", "no such file")
        try:
            target = (root / rel).resolve()
            target.relative_to(root.resolve())
            if target.is_dir():
                target = target / "index.html"
            found = target.is_file()
        except (OSError, ValueError, RuntimeError):  # too long, a loop, or outside the app
            found = False
        if not found:
            raise P.ProtocolError(404, "NOT_FOUND", f"no such file {path[:200]}")
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
    request_timeout, idle_timeout : float, optional
        Seconds a request may take to arrive whole, and a kept-alive connection may wait for
        the next one (defaults in ``schemas/bridge-protocol.json``, ``security``).
    max_connections : int, optional
        Open connections served at once; more are answered 503 and closed.
    """

    daemon_threads = True
    block_on_close = False  # close() joins the handler threads itself, after shutting them down
    allow_reuse_address = True

    def __init__(self, session: BridgeSession, port: int | None = None,
                 app_url: str | None = None, app_dir: Path | None = None, *,
                 request_timeout: float | None = None, idle_timeout: float | None = None,
                 max_connections: int | None = None) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(32)
        self.app_url = app_url
        self.app_dir = Path(app_dir) if app_dir is not None else _WEBAPP_ROOT / session.app
        self.request_timeout = float(request_timeout or P.REQUEST_TIMEOUT_S)
        self.idle_timeout = float(idle_timeout or P.IDLE_TIMEOUT_S)
        self.max_connections = int(max_connections or P.MAX_CONNECTIONS)
        self.closing = False
        self._conns: dict[socket.socket, _Conn] = {}
        self._conn_lock = threading.Condition()
        self._serial = 0
        self._redirect: Path | None = None
        self._on_auth: list[Callable[[], None]] = []
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

    # ----------------------------------------------------------------- the launch file

    def write_redirect_file(self) -> Path:
        """A private HTML file that sends the browser on to :attr:`launch_url`.

        Opening this file rather than the URL keeps the secret off the browser's command line
        (visible to every local user in ``ps``). It lives in a fresh 0700 directory, is written
        0600, and is deleted once the app has authenticated and when the server closes.
        """
        if self._redirect is not None:
            return self._redirect
        folder = Path(tempfile.mkdtemp(prefix="calab-bridge-"))  # mode 0700
        path = folder / f"open-{self.session.app}.html"
        url = self.launch_url
        text = _REDIRECT.format(app=html.escape(self.session.app),
                                attr=html.escape(url, quote=True),
                                js=json.dumps(url).replace("<", "\\u003c"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        self._redirect = path
        return path

    def remove_redirect_file(self) -> None:
        path, self._redirect = self._redirect, None
        if path is None:
            return
        for remove in (path.unlink, path.parent.rmdir):
            try:
                remove()
            except OSError:
                pass

    def authenticated(self) -> None:
        """Called on each request with the right secret: the launch file has done its job."""
        if self._redirect is not None:
            self.remove_redirect_file()

    # ----------------------------------------------------------------- connections

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            refuse = self.closing or len(self._conns) >= self.max_connections
            if not refuse:
                self._serial += 1
                thread = threading.Thread(target=self._serve_connection,
                                          args=(request, client_address), daemon=True,
                                          name=f"calab-bridge-{self.port}-conn{self._serial}")
                self._conns[request] = _Conn(thread)
        if refuse:
            self._refuse(request)
            return
        thread.start()

    def _refuse(self, request: socket.socket) -> None:
        if not self.closing:
            body = P.error_body("TOO_MANY_CONNECTIONS",
                                f"the bridge serves at most {self.max_connections} connections")
            head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            try:
                request.settimeout(0)
                request.send(head + body)  # a fresh socket's buffer takes this without blocking
            except OSError:
                pass
        self.shutdown_request(request)

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._conns.pop(request, None)
                self._conn_lock.notify_all()

    def answering(self, request: socket.socket, now: bool) -> None:
        """Mark ``request``'s connection as answering a fully read request (or done with it)."""
        with self._conn_lock:
            conn = self._conns.get(request)
            if conn is not None:
                conn.answering = now
            self._conn_lock.notify_all()

    @property
    def open_connections(self) -> int:
        with self._conn_lock:
            return len(self._conns)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)

    # ----------------------------------------------------------------- life cycle

    def start(self) -> BridgeServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"calab-bridge-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: no new connection, every open one (kept-alive too) shut, every handler
        thread joined, the socket and the launch file removed (idempotent)."""
        with self._conn_lock:
            self.closing = True
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
        self.remove_redirect_file()
        # Connections waiting for (or still sending) a request are shut at once; one answering a
        # request it has read whole (the export that ended the session, say) finishes its answer
        # first, within one bound for all.
        deadline = time.monotonic() + 5
        with self._conn_lock:
            for sock, conn in self._conns.items():
                if not conn.answering:
                    _shut(sock)
            while any(c.answering for c in self._conns.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._conn_lock.wait(left)
            open_now = list(self._conns.items())
        for sock, _ in open_now:
            _shut(sock)
        for _, conn in open_now:
            conn.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def __enter__(self) -> BridgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BridgeServer"]
