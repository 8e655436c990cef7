"""Durable JSON files and the TinyDB `Storage` built on them.

Every history file is written the same way: serialise, write a hidden temp file beside the target (0600), fsync
it, `os.replace` it over the target. A reader therefore sees the old file or the new one, never a mix, whatever
happens to the writer (kill -9, full disk, power cut after the fsync). The directory is fsynced only when a file
is created: replacing an existing file needs no directory fsync for consistency, only for durability of the
very last write, and skipping it halves the cost of an append.

Callers hold the store lock (`lock.py`) around every read-modify-write; this module only makes single writes
atomic and reads honest: a damaged file raises `CorruptHistoryError` naming it and is never rewritten.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from ..errors import CorruptHistoryError, HistoryError, HistorySaveError
from ..i18n import _
from .paths import FILE_MODE, TEMP_SUFFIX

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

#: TinyDB keeps tables at the top level of a file; ours add a `_meta` table whose one row holds the schema.
META_TABLE = "_meta"


def damaged(path: Path, reason: str) -> CorruptHistoryError:
    """The error for a file we cannot read: what happened, and that the file was not touched."""
    return CorruptHistoryError(
        _(
            "History file {path} is damaged ({reason}); it was left untouched — move it away or restore it "
            "from a backup, the rest of the history stays usable."
        ).format(path=path, reason=reason),
        path=str(path),
    )


#: errno -> HistorySaveError.reason: what the user can do about a refused write.
_REASONS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EFBIG: "full",
    errno.EROFS: "read-only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
}


def unwritable(path: Path, exc: OSError) -> HistorySaveError:
    """The one-line error for a write the disk refused (full, read-only, no permission); nothing saved is lost."""
    reason = _REASONS.get(exc.errno or 0, "io")
    if reason == "full":
        advice = _("free some disk space")
    elif reason == "read-only":
        advice = _("the history folder is read-only: set MMCHAT_HOME to a folder you can write to")
    else:
        advice = _("check the permissions of the history folder (MMCHAT_HOME)")
    text = _("Cannot write the history file {path} ({reason}): {advice}; what was saved before is unchanged.")
    return HistorySaveError(
        text.format(path=path, reason=exc.strerror or type(exc).__name__, advice=advice), reason=reason
    )


def read_bytes(path: Path) -> bytes:
    """The bytes of `path`, never through a symbolic link (a link in the history is someone else's plant)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def read_json(path: Path) -> dict[str, Any] | None:
    """The tables in `path`, or None when there is no such file. Raises `CorruptHistoryError` when unreadable."""
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = _("it is a symbolic link") if exc.errno == errno.ELOOP else exc.strerror or type(exc).__name__
        raise damaged(path, reason) from exc
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise damaged(path, _("the file is empty"))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # A file cut short fails at its very end, or inside a string that never closes.
        if exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            reason = _("unexpected end of data")
        else:
            reason = _("invalid JSON at line {line}, column {column}").format(line=exc.lineno, column=exc.colno)
        raise damaged(path, reason) from exc
    if not isinstance(data, dict) or not all(isinstance(table, dict) for table in data.values()):
        raise damaged(path, _("not a TinyDB file"))
    return data


def schema_of(data: dict[str, Any]) -> int | None:
    """The schema version stored in a file's `_meta` table, None when absent."""
    row = data.get(META_TABLE, {}).get("1")
    version = row.get("schema") if isinstance(row, dict) else None
    return version if isinstance(version, int) else None


def check_schema(path: Path, data: dict[str, Any], expected: int, oldest: int | None = None) -> None:
    """Refuse a file whose schema is not `expected` (or between `oldest` and `expected`, for files whose format
    a later schema only extended): we neither misread an old file nor overwrite a newer one."""
    found = schema_of(data)
    if found is None:
        raise damaged(path, _("no schema version"))
    if oldest is not None and oldest <= found <= expected:
        return
    if found > expected:
        raise CorruptHistoryError(
            _(
                "History file {path} was written by a newer mmchat-jupyter (schema {found}, this one reads "
                "{expected}); it was left untouched — upgrade mmchat-jupyter to use it."
            ).format(path=path, found=found, expected=expected),
            path=str(path),
        )
    if found < expected:
        raise CorruptHistoryError(
            _(
                "History file {path} has the old schema {found} (expected {expected}); it was left untouched — "
                "restore the whole history folder from the same backup so it is migrated as a whole."
            ).format(path=path, found=found, expected=expected),
            path=str(path),
        )


def fsync_dir(path: Path) -> None:
    """Make a file creation, rename or removal in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_json(data: Any) -> bytes:
    """`data` as the standard JSON every history file holds (UTF-8, compact).

    A float JSON cannot spell (NaN, infinity) is refused with a one-line HistoryError naming the field: Python's
    json would write `NaN` / `Infinity`, which strict readers (JavaScript's JSON.parse, jq, the server API's
    clients) reject, so no history file may ever hold one. A value that is not JSON at all is a TypeError.
    """
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        found = _non_finite(data)
        if found is None:
            raise
        raise HistoryError(
            _("Nothing was saved: {field} is {value}, a number history cannot store (JSON has no NaN or "
              "infinity).").format(field=found[0], value=found[1])
        ) from None
    return text.encode("utf-8")


def _non_finite(value: Any, where: str = "") -> tuple[str, float] | None:
    """The first NaN or infinity in `value`, with its field path ("params.temperature"), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "the value", value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = _non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def write_json_atomic(path: Path, data: dict[str, Any], *, durable: bool = True, sync_folder: bool = True) -> None:
    """Replace `path` with `data` as JSON: temp file, fsync, `os.replace` (see the module docstring).

    `durable=False` skips the fsync, for caches that are rebuilt when a crash leaves them damaged.
    `sync_folder=False` leaves the folder's fsync (needed when the file is new) to a caller writing several.
    """
    # Serialise first: a value that is not JSON fails here, before anything touches the disk.
    payload = encode_json(data)
    try:
        previous_mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        previous_mtime = None
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if previous_mtime is not None:
            # The index notices a changed chat by (inode, mtime, size). Inodes are recycled and coarse clocks
            # repeat, so make each version's mtime strictly later than the one it replaces.
            now = time.time_ns()
            os.utime(temp, ns=(now, max(now, previous_mtime + 1)))
        os.replace(temp, path)
        if previous_mtime is None and durable and sync_folder:
            fsync_dir(path.parent)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise unwritable(path, exc) from None
        raise


def remove_temp_files(directory: Path) -> int:
    """Delete temp files a killed writer left in `directory`; the caller holds the lock, so none is in use."""
    removed = 0
    with suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


class AtomicJSONStorage(Storage):
    """A TinyDB storage over one JSON file, written with `write_json_atomic` and stamped with a schema version.

    `create=False` means the file must exist: a chat deleted by another kernel raises `FileNotFoundError` rather
    than coming back empty on the next write. Inside `batch()`, reads after the first come from memory and the
    writes are held back to one atomic write at the end, so a change that touches several tables (append a
    message and bump the chat's `updated`) costs one read and one write.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, schema: int, oldest: int | None = None, create: bool = False
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.schema = schema
        self.oldest = oldest
        self.create = create
        self._batching = False
        self._pending: dict[str, Any] | None = None
        self._dirty = False

    def read(self) -> dict[str, Any] | None:
        if self._pending is not None:
            return self._pending
        data = read_json(self.path)
        if data is None:
            if not self.create:
                raise FileNotFoundError(self.path)
            return None
        check_schema(self.path, data, self.schema, self.oldest)
        if self._batching:
            self._pending = data
        return data

    def write(self, data: dict[str, Any]) -> None:
        # The version goes with every write, first in the file where a person opening it looks.
        data = {META_TABLE: {"1": {"schema": self.schema}}, **{k: v for k, v in data.items() if k != META_TABLE}}
        if self._batching:
            self._pending = data
            self._dirty = True
        else:
            write_json_atomic(self.path, data)

    @property
    def dirty(self) -> bool:
        """Whether the current batch changed anything (it will be written when the batch ends)."""
        return self._dirty

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect the reads and writes of the block into one read and (if anything changed) one atomic write.

        If the block raises, nothing is written.
        """
        self._batching, self._pending, self._dirty = True, None, False
        try:
            yield
            if self._dirty and self._pending is not None:
                write_json_atomic(self.path, self._pending)
        finally:
            self._batching, self._pending, self._dirty = False, None, False
