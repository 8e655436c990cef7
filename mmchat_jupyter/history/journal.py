"""changes.jsonl: the history's change feed, a cheap signal that something changed, in any process or face.

Every write of the store appends one line here, under the store lock and after its data write, e.g.

    {"kind": "message_added", "chat": "<id>", "name": "physics", "message": "<id>", "time": "2026-..."}

so a panel or the server API's event stream can follow every kernel, face and `mmchat` command by polling one
`stat()` (`seq()`) and reading only the bytes that arrived (`read()`), or by watching the file with inotify.

A change's `seq` is its position in the stream of every line ever written: the byte offset just past its line.
The file is rotated when it grows past `MAX_BYTES`: it becomes `changes.1.jsonl` (the one before is dropped) and
the new file's first line records where it starts (`{"base": n}`), so positions keep growing. A journal started
afresh starts at the clock (in microseconds), past any earlier position. A reader more than one rotation behind,
or whose journal vanished, is told to `resync` (re-list everything); `since=0` means "from the start".

The journal is a notification, not data: the lines are not fsynced (a crash may lose the last few; the chat files
are the truth, and a reader that missed one sees the chat as it is on its next read), and a journal that cannot
be written (a full disk) never fails the write that was already saved.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..types import now_iso
from .paths import FILE_MODE
from .storage import encode_json

MAX_BYTES = 512 * 1024

CHAT_CREATED = "chat_created"
CHAT_RENAMED = "chat_renamed"
CHAT_DELETED = "chat_deleted"
CHAT_CLEARED = "chat_cleared"
CHAT_UPDATED = "chat_updated"
MESSAGE_ADDED = "message_added"
MESSAGE_UPDATED = "message_updated"
SETTINGS_CHANGED = "settings_changed"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Change:
    """One change to the history. `chat` and `name` are set for chat changes, `message` for message ones."""

    seq: int
    kind: str
    chat: str | None = None
    name: str | None = None
    message: str | None = None
    time: str | None = None


@dataclass(frozen=True)
class Changes:
    """What `HistoryStore.changes(since)` found: the changes after `since`, and the `seq` to ask from next.

    `resync` means changes may have been missed (the journal moved on too far, or was lost): re-read the list.
    """

    seq: int
    events: list[Change] = field(default_factory=list)
    resync: bool = False


class Journal:
    """The change feed of one history root (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = path.with_name(path.name.replace(".jsonl", ".1.jsonl"))
        self._bases: dict[int, int] = {}  # inode -> base, so a poll costs one stat

    # --- writing (under the store lock) -----------------------------------------------------------------------

    def append(self, kind: str, **fields: Any) -> None:
        """Record one change; never raises for a disk that refuses (the data write already succeeded)."""
        line = {"kind": kind, **{k: v for k, v in fields.items() if v is not None}, "time": now_iso()}
        data = encode_json(line) + b"\n"
        with suppress(OSError):
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            size = os.lstat(self.path).st_size
        except FileNotFoundError:
            size = None
        # A new journal (the first, or one someone deleted) starts at the clock in microseconds: later than any
        # position of an earlier journal, so a reader of that one sees the jump and resyncs.
        start = time.time_ns() // 1000
        if size is not None and size >= MAX_BYTES:
            start = (self._base_of(self.path) or 0) + size
            os.replace(self.path, self.previous)
            size = None
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, FILE_MODE)
        try:
            if size is None:
                os.write(fd, (json.dumps({"base": start}) + "\n").encode())
            elif size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a line cut short by a full disk: never glue the next one to it
            os.write(fd, data)
        finally:
            os.close(fd)

    # --- reading (no lock: lines are only ever appended) ------------------------------------------------------

    def seq(self) -> int:
        """The position after the last change written: compare with an earlier value to know if anything changed."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return 0
        base = self._bases.get(info.st_ino)
        if base is None:
            base = self._base_of(self.path)
            if base is None:
                return 0
        return base + info.st_size

    def read(self, since: int) -> Changes:
        """The changes after position `since` (a `seq` from an earlier call)."""
        current = self._snapshot(self.path)
        if current is None:
            return Changes(0, resync=since > 0)
        base, raw = current
        end = base + len(raw)
        if since > end:
            return Changes(end, resync=True)  # the journal was lost or replaced: positions went back
        events: list[Change] = []
        if 0 < since < base:
            earlier = self._snapshot(self.previous)
            if earlier is None or since < earlier[0] or earlier[0] + len(earlier[1]) != base:
                return Changes(end, resync=True)
            events += _parse(earlier[1], earlier[0], since)
        events += _parse(raw, base, since)
        return Changes(end, events)

    def _snapshot(self, path: Path) -> tuple[int, bytes] | None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read()
            inode = os.fstat(handle.fileno()).st_ino
        base = _header_base(raw)
        if base is None:
            return None
        self._bases[inode] = base
        return base, raw

    def _base_of(self, path: Path) -> int | None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            head = handle.readline(200)
            inode = os.fstat(handle.fileno()).st_ino
        base = _header_base(head)
        if base is not None:
            self._bases[inode] = base
        return base


def _header_base(raw: bytes) -> int | None:
    first = raw.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except ValueError:
        return None
    base = header.get("base") if isinstance(header, dict) else None
    return base if isinstance(base, int) and base >= 0 else None


def _parse(raw: bytes, base: int, since: int) -> list[Change]:
    """The complete lines of `raw` (a journal file starting at position `base`) that end after `since`."""
    events = []
    position = 0
    for line in raw.splitlines(keepends=True):
        position += len(line)
        seq = base + position
        if seq <= since or not line.endswith(b"\n") or position == len(line):  # old, unfinished, or the header
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line a full disk cut short
        if isinstance(row, dict) and isinstance(row.get("kind"), str):
            text = {key: row[key] for key in ("chat", "name", "message", "time") if isinstance(row.get(key), str)}
            events.append(Change(seq, row["kind"], **text))
    return events
