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

import os
import threading
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from ..errors import HistoryError
from ..i18n import _
from .paths import FILE_MODE

#: How often a waiting process retries the lock (filelock polls). A hold lasts one small file write, a few ms,
#: so filelock's default 50 ms would mostly be spent asleep while the lock is free; much less burns CPU.
POLL_INTERVAL = 0.005


class StoreLock:
    """Reentrant, thread-safe and process-safe lock for one history root. Use `store_lock()` to get one."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._file = FileLock(path, timeout=timeout, mode=FILE_MODE, thread_local=False, poll_interval=POLL_INTERVAL)
        self._depth = 0

    def __enter__(self) -> StoreLock:
        if not self._threads.acquire(timeout=self.timeout if self.timeout >= 0 else -1):
            raise self._busy()
        try:
            if self._depth == 0:
                try:
                    self._file.acquire()
                except Timeout:
                    raise self._busy() from None
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                self._file.release()
        finally:
            self._threads.release()

    def _busy(self) -> HistoryError:
        return HistoryError(
            _(
                "The history at {root} stayed locked for {seconds:g} s (lock file {lock}); another kernel or "
                "mmchat command may be stuck — finish it and try again."
            ).format(root=self.path.parent, seconds=self.timeout, lock=self.path)
        )


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
