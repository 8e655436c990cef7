"""The store lock: one writer at a time across every process and thread using a history root.

`filelock.FileLock` alone is not enough inside one process. With the default `thread_local=True`, two threads
holding the same instance each get their own context, and a second instance for the same path in the same thread
is refused as a deadlock; with `thread_local=False` the instance is reentrant across threads, so two threads
would both "hold" it at once. So each process keeps one `StoreLock` per root: a `threading.RLock` that orders the
threads (the kernel's main thread, the widget's tasks, executors) and is reentrant for nested store calls, in front
of one `FileLock` that orders the processes (the other kernels, the `mmchat` CLI). The file lock is taken when the
outermost holder enters and dropped when it leaves.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from ..errors import HistorySaveError
from ..i18n import _
from .paths import FILE_MODE
from .storage import unwritable

#: How often a waiting process retries the lock (filelock polls). A hold lasts one small file write, a few ms,
#: so filelock's default 50 ms would mostly be spent asleep while the lock is free; much less burns CPU.
POLL_INTERVAL = 0.005

#: How long a write waits for another process holding the history, unless $MMCHAT_LOCK_TIMEOUT says otherwise.
DEFAULT_TIMEOUT = 30.0


class StoreLock:
    """Reentrant, thread-safe and process-safe lock for one history root. Use `store_lock()` to get one.

    Only writers take it: every file is replaced atomically, so readers never need to (and a read-only history,
    where the lock file cannot even be opened, stays readable). Every failure to take it is a `HistorySaveError`.
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._file = FileLock(path, timeout=timeout, mode=FILE_MODE, thread_local=False, poll_interval=POLL_INTERVAL)
        self._depth = 0

    def __enter__(self) -> StoreLock:
        self.acquire(None)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @contextmanager
    def hold(self, wait: float) -> Iterator[StoreLock]:
        """The lock for one block, waiting at most `wait` seconds (0: no wait)."""
        self.acquire(wait)
        try:
            yield self
        finally:
            self.release()

    def acquire(self, wait: float | None) -> None:
        """Take the lock, waiting at most `wait` seconds (None: the timeout it was made with)."""
        timeout = self.timeout if wait is None else wait
        if not self._threads.acquire(timeout=timeout if timeout >= 0 else -1):
            raise self._busy(timeout)
        try:
            if self._depth == 0:
                try:
                    self._file.acquire(timeout=timeout)
                except Timeout:
                    raise self._busy(timeout) from None
                except OSError as exc:  # a read-only or foreign folder, a planted link (filelock opens O_NOFOLLOW)
                    raise self._unusable(exc) from None
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                self._file.release()
        finally:
            self._threads.release()

    def _busy(self, seconds: float) -> HistorySaveError:
        text = _(
            "The history at {root} stayed locked for {seconds:g} s (lock file {lock}); another kernel or mmchat "
            "command may be stuck — finish it and try again."
        )
        return HistorySaveError(text.format(root=self.path.parent, seconds=seconds, lock=self.path), reason="locked")

    def _unusable(self, exc: OSError) -> HistorySaveError:
        if exc.errno == errno.ELOOP:
            text = _(
                "The history lock file {lock} is a symbolic link, which mmchat-jupyter never follows: remove it "
                "(nothing is lost) and check who can write to {root}."
            )
            return HistorySaveError(text.format(lock=self.path, root=self.path.parent), reason="permission")
        return unwritable(self.path, exc)


_locks: dict[tuple[int, str], StoreLock] = {}
_locks_guard = threading.Lock()


def store_lock(path: Path, timeout: float) -> StoreLock:
    """The process's one `StoreLock` for the lock file `path` (shared by every `HistoryStore` on that root).

    Keyed by pid too: a forked child must build its own, as filelock refuses locks inherited across fork.
    """
    key = (os.getpid(), os.path.realpath(path))
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = StoreLock(path, timeout)
        return lock


def timeout_from_env() -> float:
    """Seconds a write waits for a busy history: $MMCHAT_LOCK_TIMEOUT (a slow network home may want more)."""
    try:
        return max(0.0, float(os.environ.get("MMCHAT_LOCK_TIMEOUT") or DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
