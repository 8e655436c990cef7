"""A chat's sealed segments: its older messages, in bounded files written once, so that an append costs the same in
a chat of ten messages and in one of a hundred thousand.

    chats/<id>.json                     the head: header, the newest messages, and the `sealed` row
                                        {"epoch": "3f9a0c21", "count": 1200, "last": 1024, "summary": {...}}
    chats/<id>/<epoch>-<first>.json     the sealed segments, oldest first (`first`: position of their first message)
                                        {"segment": {"1": {"chat": id, "epoch": ..., "first": 1024, "prev": 990}},
                                         "messages": {"1": {...}, ...}}

Every write of a chat rewrites its head only, and the head stays small: once its messages outweigh `HEAD_BYTES` or
number more than `HEAD_MESSAGES`, all but the newest (at least the question and answer of the last turn) are
sealed into new segment files of at most `SEGMENT_BYTES`, written and fsynced (with their folder) BEFORE the head
that no longer holds them replaces the old one. A kill between the two leaves the old head, still holding every
message, and a segment file nobody points to: its name (`first` = the head's `count`) is the one the next
roll-over writes, so it is simply overwritten. The head's `summary` adds up the sealed messages (`summary.py`), so
listing a chat reads its head alone.

Readers take no lock. A turn walks back from the head's `last` through each segment's `prev`, reading only the
segments it needs and listing nothing; a page or a whole chat lists the folder: the segments are the files of the
head's `epoch` whose `first` is below the head's `count`, in order of `first`. Each segment says whose it is, of
which epoch and where it starts, and is checked against that. Clearing a chat starts a new epoch, so a reader
holding the old head finds its files gone or foreign (`Moved`) and reads again from the new head.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..i18n import _
from .paths import is_id, make_dir
from .records import row_problem
from .storage import check_schema, damaged, fsync_dir, read_json, remove_temp_files, write_json_atomic

#: A head is rolled over when its messages weigh more than this (characters of content + per-message overhead) ...
HEAD_BYTES = 16 * 1024
#: ... or number more than this; it then keeps its newest messages up to a quarter of both.
HEAD_MESSAGES = 64
#: The question and answer of the last turn always stay in the head: the answer grows there while it streams.
MIN_KEEP = 2
#: The most one segment file holds (a single bigger message gets a segment of its own).
SEGMENT_BYTES = 256 * 1024
SEGMENT_TABLE = "segment"
MESSAGES_TABLE = "messages"
#: The first version with segments; a chat file of an older version is a head without any.
SCHEMA = 3
_OVERHEAD = 200


class Moved(Exception):
    """A read without the lock met a chat that changed under it (cleared, deleted): read it again from its head."""


def folder(head: Path) -> Path:
    """Where the segments of the chat whose head is `head` live."""
    return head.with_suffix("")


def new_epoch() -> str:
    return secrets.token_hex(4)


def weight(row: dict[str, Any]) -> int:
    """What a message costs in its file, roughly: its text plus the fields around it."""
    content = row.get("content")
    return (len(content) if isinstance(content, str) else 0) + _OVERHEAD


def to_seal(rows: list[dict[str, Any]]) -> int:
    """How many of a head's oldest `rows` to seal now (0: the head is small enough)."""
    total = sum(weight(row) for row in rows)
    if len(rows) <= MIN_KEEP or (total <= HEAD_BYTES and len(rows) <= HEAD_MESSAGES):
        return 0
    keep, kept = 0, 0
    for row in reversed(rows):
        if keep >= MIN_KEEP and (kept + weight(row) > HEAD_BYTES // 4 or keep >= HEAD_MESSAGES // 4):
            break
        keep, kept = keep + 1, kept + weight(row)
    return len(rows) - keep


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`rows` cut into runs of at most SEGMENT_BYTES (a single heavier message alone)."""
    run: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        if run and size + weight(row) > SEGMENT_BYTES:
            yield run
            run, size = [], 0
        run.append(row)
        size += weight(row)
    if run:
        yield run


def seal(head: Path, epoch: str, first: int, rows: list[dict[str, Any]], prev: int | None) -> int:
    """Write `rows` (positions `first`, `first + 1`, ...) as new segments of the chat, durably, folder included;
    `prev` is where the newest existing segment starts (None: there is none). Returns where the last new one starts.

    The caller then writes the head that points past them, under the store lock.
    """
    where = folder(head)
    if not where.is_dir():
        make_dir(where)
        fsync_dir(where.parent)
    for run in chunks(rows):
        write_json_atomic(path_of(head, epoch, first), _segment(head, epoch, first, prev, run), sync_folder=False)
        prev, first = first, first + len(run)
    fsync_dir(where)
    assert prev is not None  # rows is never empty
    return prev


def path_of(head: Path, epoch: str, first: int) -> Path:
    return folder(head) / f"{epoch}-{first:012d}.json"


def _segment(head: Path, epoch: str, first: int, prev: int | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_meta": {"1": {"schema": SCHEMA}},
        SEGMENT_TABLE: {"1": {"chat": head.stem, "epoch": epoch, "first": first, "prev": prev}},
        MESSAGES_TABLE: {str(n): row for n, row in enumerate(rows, 1)},
    }


def chain(head: Path, epoch: str, count: int) -> list[tuple[int, Path]]:
    """The chat's segments as (first position, file), oldest first: those of `epoch` that start below `count`."""
    found = []
    with suppress(FileNotFoundError), os.scandir(folder(head)) as entries:
        for entry in entries:
            stem, dot, ext = entry.name.partition(".")
            owner, dash, first = stem.partition("-")
            if dot and ext == "json" and dash and owner == epoch and first.isdigit() and int(first) < count:
                found.append((int(first), Path(entry.path)))
    found.sort()
    return found


def files(head: Path) -> list[Path]:
    """Every file in the chat's segment folder (stale ones included: for checks that may only rule things out)."""
    with suppress(FileNotFoundError), os.scandir(folder(head)) as entries:
        return [Path(entry.path) for entry in entries if entry.name.endswith(".json")]
    return []


def read(head: Path, epoch: str, first: int, path: Path | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """The message rows of the segment starting at `first`, checked, and where the one before starts (None: it
    is the oldest); `Moved` when it is not (or no longer) the one the head meant."""
    path = path or path_of(head, epoch, first)
    data = read_json(path)
    if data is None:
        raise Moved(path)
    check_schema(path, data, SCHEMA)
    row = data.get(SEGMENT_TABLE, {}).get("1")
    if not isinstance(row, dict) or row.get("chat") != head.stem:
        raise damaged(path, _("it is not a segment of chat {id}").format(id=head.stem))
    if row.get("epoch") != epoch or row.get("first") != first:
        raise Moved(path)
    prev = row.get("prev")
    if prev is not None and (not isinstance(prev, int) or not 0 <= prev < first):
        raise damaged(path, _("it is not a segment of chat {id}").format(id=head.stem))
    rows = list(data.get(MESSAGES_TABLE, {}).values())
    for n, message in enumerate(rows, first + 1):
        problem = row_problem(message)
        if problem is not None:
            raise damaged(path, _("message {n}: {problem}").format(n=n, problem=problem))
    return rows, prev


def rewrite(head: Path, epoch: str, first: int, prev: int | None, rows: list[dict[str, Any]]) -> None:
    """Replace the segment starting at `first` (one of its messages changed); it keeps its name and positions."""
    write_json_atomic(path_of(head, epoch, first), _segment(head, epoch, first, prev, rows))


def tidy(head: Path, epoch: str | None) -> None:
    """Remove segment files of other epochs than `epoch` (all of them when None): leftovers of a clear, a delete or
    an interrupted migration. Under the store lock; a failure only leaves garbage behind."""
    where = folder(head)
    if epoch is None:
        shutil.rmtree(where, ignore_errors=True)
        return
    with suppress(FileNotFoundError), os.scandir(where) as entries:
        for entry in entries:
            if not entry.name.startswith(f"{epoch}-"):
                with suppress(OSError):
                    os.unlink(entry.path)


def sweep(chats: Path) -> None:
    """Remove what killed writers left in the segment folders: temp files, and the folders of deleted chats (or
    of imports that never got their head). Under the store lock, when a store is opened for writing."""
    with suppress(FileNotFoundError), os.scandir(chats) as entries:
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or not is_id(entry.name):
                continue
            if not os.path.lexists(os.path.join(chats, entry.name + ".json")):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                remove_temp_files(Path(entry.path))
