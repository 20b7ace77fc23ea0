"""``calab app catune|cadecon``: serve a bundled web app on 127.0.0.1 for use with local files.

Browsers refuse the apps' module scripts and WebAssembly on ``file://`` pages, so the apps need an
http origin even when no Python session is involved. This is the smallest such server: read-only
(GET and HEAD), files of ``calab/_webapp/<app>/`` only, loopback only, with the Host header
checked so another site cannot reach it through DNS rebinding. Nothing is uploaded anywhere: the
apps read the files the user picks inside the browser.
"""

from __future__ import annotations

import mimetypes
import sys
import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ._errors import BridgeError, InvalidParameterError

APPS = ("catune", "cadecon")
WEBAPP_ROOT = Path(__file__).resolve().parent / "_webapp"
_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
          ".css": "text/css", ".html": "text/html; charset=utf-8", ".json": "application/json",
          ".svg": "image/svg+xml"}


class _Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"
    server_version = "calab-app/1"
    sys_version = ""
    timeout = 10
    # Headers and body are two writes: without TCP_NODELAY the body waits ~40 ms for the ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        host = (self.headers.get("Host") or "").lower()
        if host not in self.server.allowed_hosts:
            self._send(403, b"Host not allowed\n", "text/plain")
            return
        root = self.server.app_dir.resolve()
        rel = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
        target = (root / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            self._send(404, b"Not found\n", "text/plain")
            return
        ctype = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        self._send(200, target.read_bytes(), ctype or "application/octet-stream")

    do_HEAD = do_GET

    def _refuse(self) -> None:
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


class AppServer(ThreadingHTTPServer):
    """Serves ``calab/_webapp/<app>/`` (or ``app_dir``) on 127.0.0.1; a context manager."""

    daemon_threads = True

    def __init__(self, app: str = "catune", port: int | None = None,
                 app_dir: Path | None = None) -> None:
        if app not in APPS:
            raise InvalidParameterError(f"app must be one of {APPS}, got {app!r}")
        self.app = app
        self.app_dir = Path(app_dir) if app_dir is not None else WEBAPP_ROOT / app
        if not (self.app_dir / "index.html").is_file():
            raise BridgeError(f"the {app} web app is not built: {self.app_dir / 'index.html'} "
                              "is missing (run `npm run build` in the repository)")
        try:
            super().__init__(("127.0.0.1", int(port or 0)), _Handler)
        except OSError as exc:
            raise BridgeError(f"cannot listen on 127.0.0.1:{port or 0}: {exc}") from None
        self.port = int(self.server_address[1])
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> AppServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"calab-app-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_app(app: str = "catune", port: int | None = None, open_browser: bool = True,
              on_ready: Callable[[str], None] | None = None,
              stop: threading.Event | None = None) -> None:
    """Serve ``app`` until Ctrl-C (or ``stop`` is set); opens it in the browser unless told not."""
    with AppServer(app, port=port) as server:
        url = server.url
        if on_ready is not None:
            on_ready(url)
        name = "CaTune" if app == "catune" else "CaDecon"
        from .bridge._api import _has_display

        if open_browser and _has_display() and webbrowser.open(url):
            print(f"Opened {name} at {url} (Ctrl-C to stop).", file=sys.stderr, flush=True)
        else:
            print(f"{name} is at {url} (Ctrl-C to stop).", file=sys.stderr, flush=True)
        event = stop or threading.Event()
        try:
            while not event.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("calab: stopped serving", file=sys.stderr)
