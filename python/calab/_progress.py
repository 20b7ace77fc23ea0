"""Progress bars for the native batch calls.

The Rust batch entry points (``calab._solver.*_batch``) run on a worker thread while the calling
thread waits, checks for Ctrl-C (cancelling the work cleanly) and, given a ``progress`` callable,
reports ``(done, total)`` in thousandths of a row every 50 ms. This turns those reports into a
tqdm bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

#: Units of progress per row in the native reports (``crate::cancel::UNITS_PER_ROW``).
UNITS_PER_ROW = 1000


@contextlib.contextmanager
def native_bar(show: bool | None, rows: int, desc: str, *,
               long: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress`` callable driving a tqdm bar over ``rows``, or None.

    ``show=None`` shows it only when the work is ``long`` and stderr is a terminal (tqdm's
    ``disable=None``); ``True`` always, ``False`` never.
    """
    if show is False or (show is None and not long):
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=rows, desc=desc, unit="trace", leave=False,
              disable=None if show is None else False) as bar:

        def report(done: int, _total: int) -> None:
            bar.update(done / UNITS_PER_ROW - bar.n)

        yield report
