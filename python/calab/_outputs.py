"""Writing the outputs of one run as one set: a kill at any moment leaves either the old set or
the complete new one, and no input is ever overwritten.

Every output goes first to a temporary file beside its final name (``.NAME.calab-PID-XXXX.tmp``,
created with the user's umask, so results are as readable as any file the user writes). When all
of them are written and flushed to disk, a small journal (``.NAME.calab-commit``) listing the
renames is written atomically, the temporary files are renamed over the final names, and the
journal is removed. Ctrl-C and SIGTERM are held back during those renames. A SIGKILL or a power
cut can still land between two renames; then the journal is on disk and the next calab command
that touches the folder (:func:`recover`) completes the renames, so the set that is seen is always
whole. Temporary files of a run killed before its journal existed are removed the same way (the
old set was never touched).

Before anything is written, :func:`check_outputs` refuses output names that are folders or
empty, and any output that is the same file as an input (compared by device and inode, so
symbolic and hard links are caught too).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

_JOURNAL = ".calab-commit"
_TMP_TAG = ".calab-"


class OutputError(ValueError):
    """An output name that cannot be used (a folder, empty, the same file as an input)."""


def output_path(text: str | os.PathLike[str], what: str = "output") -> Path:
    """``text`` as an output name, or :class:`OutputError` if it names a folder or nothing."""
    raw = os.fspath(text)
    if not raw.strip():
        raise OutputError(f"the {what} name is empty; give a file name such as out/activity")
    p = Path(raw)
    if raw.endswith(("/", os.sep)) or p.name in ("", ".", "..") or p.is_dir():
        raise OutputError(f"the {what} {raw!r} is a folder; give a file name inside it, such as "
                          f"{os.path.join(raw, 'activity')!r}")
    # The nearest existing folder above it must be a folder we can write in.
    up = p.parent if str(p.parent) else Path(".")
    while not up.exists() and up != up.parent:
        up = up.parent
    if up.exists() and not up.is_dir():
        raise OutputError(f"cannot write the {what} {raw!r}: {up} is a file, not a folder")
    if up.is_dir() and not os.access(up, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} {raw!r}: no permission to write in {up}")
    return p


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_outputs(outputs: Iterable[Path], inputs: Iterable[str | os.PathLike[str] | None]
                  ) -> None:
    """Refuse an output that is (a link to) an input, or two outputs that are the same file."""
    ins: dict[tuple[int, int], str] = {}
    for i in inputs:
        if i is None:
            continue
        ident = _identity(Path(i))
        if ident is not None:
            ins[ident] = os.fspath(i)
    seen: dict[str, Path] = {}
    for out in outputs:
        key = os.path.abspath(out)
        if key in seen:
            raise OutputError(f"two outputs of this run would both be {out}")
        seen[key] = out
        ident = _identity(out)
        if ident is not None and ident in ins:
            raise OutputError(f"the output {out} is the input {ins[ident]} (the same file); "
                              "choose another output name so the input is not overwritten")


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would race with other threads)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def create_temp(final: Path) -> tuple[int, Path]:
    """Open a new temporary file beside ``final`` (mode 0666 less the umask), as (fd, path)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create the folder for {final}: {exc.strerror}",
                      exc.filename) from None
    for _ in range(100):
        tmp = final.with_name(f".{final.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {final}: {exc.strerror}",
                          str(final.parent)) from None
        return fd, tmp
    raise FileExistsError(f"could not create a temporary file beside {final}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT / SIGTERM for the few renames of a commit, then deliver them.

    Python handlers (which always run in the main thread, whichever thread the kernel picked)
    rather than a signal mask, which would cover only this thread: a solver thread could take
    the signal and the KeyboardInterrupt would still land between two renames.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, _frame: Any) -> None:
        pending.append(signum)

    held = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None]
    old = {s: signal.signal(s, hold) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def recover(folder: str | os.PathLike[str]) -> list[Path]:
    """Finish the commits a killed calab run left in ``folder`` and delete its stray temporary
    files; returns the outputs completed. Runs that are still alive are left alone."""
    d = Path(folder) if os.fspath(folder) else Path(".")
    done: list[Path] = []
    try:
        entries = list(d.iterdir())
    except OSError:
        return done
    for j in entries:
        if not (j.name.startswith(".") and j.name.endswith(_JOURNAL)):
            continue
        try:
            journal = json.loads(j.read_text(encoding="utf-8"))
            pid = int(journal["pid"])
            renames = [(str(a), str(b)) for a, b in journal["renames"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid != os.getpid() and _pid_alive(pid):
            continue
        for tmp, final in renames:
            src, dst = d / Path(tmp).name, d / Path(final).name
            if src.exists():
                with contextlib.suppress(OSError):
                    os.replace(src, dst)
                    done.append(dst)
        _fsync_dir(d)
        with contextlib.suppress(OSError):
            j.unlink()
    for t in entries:
        name = t.name
        if name.startswith(".") and _TMP_TAG in name and name.endswith(".tmp"):
            try:
                pid = int(name.rsplit(_TMP_TAG, 1)[1].split("-")[0])
            except (ValueError, IndexError):
                continue
            if not _pid_alive(pid) and t.exists():
                with contextlib.suppress(OSError):
                    t.unlink()
    return done


class OutputSet:
    """The outputs of one run, written to temporary files and committed together.

    Use as a context manager: on a clean exit everything is committed (renamed into place) at
    once; on an exception (Ctrl-C included) the temporary files are removed and the old outputs
    are untouched::

        with OutputSet([act, diag], inputs=[traces_file, params_file]) as out:
            out.npy(act, activity)
            out.npz(diag, baseline=...)
    """

    def __init__(self, outputs: Iterable[Path], inputs: Iterable[Any] = ()) -> None:
        self.outputs = [Path(o) for o in outputs]
        check_outputs(self.outputs, list(inputs))
        for folder in {o.parent for o in self.outputs}:
            recover(folder)
        self._temps: dict[Path, Path] = {}

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    @contextlib.contextmanager
    def open(self, final: Path, mode: str = "wb") -> Iterator[IO[Any]]:
        """A file object for output ``final`` (written to its temporary file)."""
        final = Path(final)
        if final not in self.outputs:
            raise ValueError(f"{final} is not one of this run's outputs")
        if final in self._temps:
            raise ValueError(f"{final} was already written in this run")
        fd, tmp = create_temp(final)
        self._temps[final] = tmp
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())

    def npy(self, final: Path, array: Any) -> None:
        import numpy as np

        with self.open(final) as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)

    def npz(self, final: Path, **arrays: Any) -> None:
        import numpy as np

        with self.open(final) as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]

    def json(self, final: Path, data: Any, default: Any = None) -> None:
        text = json.dumps(data, indent=2, default=default, allow_nan=False)
        with self.open(final, "w") as fh:
            fh.write(text + "\n")

    def commit(self) -> None:
        missing = [str(o) for o in self.outputs if o not in self._temps]
        if missing:
            self.discard()
            raise RuntimeError(f"outputs never written: {missing}")
        by_dir: dict[Path, list[tuple[Path, Path]]] = {}
        for final, tmp in self._temps.items():
            by_dir.setdefault(final.parent, []).append((tmp, final))
        with _signals_held():
            for folder, renames in by_dir.items():
                first = renames[0][1]
                journal = folder / f".{first.name}{_JOURNAL}"
                fd, jtmp = create_temp(journal)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"pid": os.getpid(),
                               "renames": [[t.name, f.name] for t, f in renames]}, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(jtmp, journal)
                _fsync_dir(folder)
                for tmp, final in renames:
                    os.replace(tmp, final)
                    _pause_for_tests()
                _fsync_dir(folder)
                os.unlink(journal)
        self._temps.clear()

    def discard(self) -> None:
        for tmp in self._temps.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._temps.clear()


def _pause_for_tests() -> None:
    # The kill tests stop a real run after each rename; nothing else sets this.
    delay = os.environ.get("CALAB_TEST_COMMIT_PAUSE")
    if delay:
        import time

        time.sleep(float(delay))
