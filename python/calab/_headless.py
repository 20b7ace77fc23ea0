"""A Playwright-driven Chromium for running the CaTune / CaDecon apps without a visible window.

Relies on the ``playwright`` Python package (``pip install 'calab[headless]'``) and a system
Chromium (Debian's ``/usr/bin/chromium``, or ``CALAB_CHROMIUM``); Playwright's own browser download
is never used. Every step of start-up is undone if a later one fails, and each part is torn down
separately on close, so no driver or Chromium process outlives this object.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ._errors import BrowserUnavailableError

LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium(executable_path: str | os.PathLike[str] | None = None) -> str:
    """Path of the Chromium to launch: the argument, ``$CALAB_CHROMIUM``, or a system install."""
    if executable_path is not None:
        return str(executable_path)
    env = os.environ.get("CALAB_CHROMIUM")
    if env:
        return env
    for cand in _CANDIDATES:
        if Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise BrowserUnavailableError(
        "no Chromium found (looked for $CALAB_CHROMIUM, " + ", ".join(_CANDIDATES) + "); "
        "install one with `apt-get install chromium` or pass executable_path="
    )


class HeadlessBrowser:
    """Context manager owning a Playwright driver, a Chromium, a context and one page.

    Examples
    --------
    ::

        with HeadlessBrowser() as hb:
            hb.goto("http://127.0.0.1:8000/")
            print(hb.page.title())
    """

    def __init__(self, *, visible: bool = False,
                 executable_path: str | os.PathLike[str] | None = None) -> None:
        self.visible = visible
        self.executable_path = executable_path
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None

    def start(self) -> HeadlessBrowser:
        """Launch everything; on any failure, close what was started and re-raise."""
        if self._page is not None:
            return self
        try:
            from playwright.sync_api import Error as PlaywrightError
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise BrowserUnavailableError(
                "HeadlessBrowser needs the playwright package: pip install 'calab[headless]'"
            ) from None
        exe = find_chromium(self.executable_path)
        if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
            raise BrowserUnavailableError(
                f"Chromium executable {exe!r} does not exist or is not executable; "
                "install one with `apt-get install chromium` or set CALAB_CHROMIUM"
            )
        try:
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=exe, headless=not self.visible, args=list(LAUNCH_ARGS)
            )
            self._context = self._browser.new_context()
            self._page = self._context.new_page()
        except PlaywrightError as exc:
            self.close()
            raise BrowserUnavailableError(f"could not launch Chromium at {exe}: {exc}") from None
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close page, context, browser and driver, each in its own try (idempotent)."""
        for attr, method in (("_page", "close"), ("_context", "close"),
                             ("_browser", "close"), ("_pw", "stop")):
            obj = getattr(self, attr)
            setattr(self, attr, None)
            if obj is None:
                continue
            try:
                getattr(obj, method)()
            except Exception:  # noqa: BLE001, S110 - keep tearing down the remaining parts
                pass

    @property
    def page(self) -> Any:
        """The Playwright ``Page`` (raises if the browser is not started)."""
        if self._page is None:
            raise BrowserUnavailableError("HeadlessBrowser is not started; call start() first")
        return self._page

    def goto(self, url: str, **kwargs: Any) -> Any:
        """Navigate the page to ``url`` (same tab each time)."""
        return self.page.goto(url, **kwargs)

    def __enter__(self) -> HeadlessBrowser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110
            pass
