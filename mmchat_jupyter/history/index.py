"""index.json: what `list_chats()`, name lookups and usage totals need, without opening every chat file.

The index is a cache. Each row is a summary of one chat file plus that file's stamp (inode, mtime in ns, size)
when it was summarised. An append rewrites only its chat file; the next `refresh()` (under the lock) stats every
chat file, re-reads just those whose stamp moved, drops rows whose file is gone and rewrites the index if
anything changed. So an append costs one small file, `list_chats()` with 1,000 chats costs a directory scan and
1,000 stats, and no write can leave the index and the chats disagreeing: after a crash the stamps say what to redo.

A damaged chat file gets a row with `damaged` set to the error, which the store reports each time it would have
listed the chat. A damaged index loses nothing (the chat files hold every fact), so it is set aside as
`index.json.damaged-*`, with a warning naming it, and rebuilt. An index from a newer mmchat-jupyter is refused and
left alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import CorruptHistoryError, HistorySaveError
from ..i18n import _
from ..types import ChatSummary
from .chatfile import ChatFile
from .migrations import SCHEMA_VERSION
from .paths import Layout, is_id
from .storage import check_schema, read_json, write_json_atomic
from .summary import Summary
from .views import UsageTotal

Entry = dict[str, Any]
_ROW_KEYS = frozenset({"id", "name", "stamp", "damaged"})
_SUMMARY_KEYS = frozenset({"created", "updated", "count", "provider", "model", "usage", "cache"})


def summarize(header: dict[str, Any], totals: Summary) -> Entry:
    """The index row of a chat: its header and what its messages add up to (see `summary.py`)."""
    return {
        "id": header["id"],
        "name": header["name"],
        "created": header["created"],
        "updated": header["updated"],
        "count": totals["count"],
        "provider": totals["provider"],
        "model": totals["model"],
        "usage": totals["usage"],
        "cache": totals["cache"],
        "damaged": None,
    }


def to_summary(entry: Entry) -> ChatSummary:
    return ChatSummary(
        id=entry["id"],
        name=entry["name"],
        created=entry["created"],
        updated=entry["updated"],
        message_count=entry["count"],
        last_provider=entry["provider"],
        last_model=entry["model"],
    )


def newest_first(entry: Entry) -> tuple[float, float]:
    """Sort key: most recently updated first, then most recently created (timestamps may carry any offset)."""
    return (-_timestamp(entry.get("updated")), -_timestamp(entry.get("created")))


def readable(entries: dict[str, Entry]) -> list[Entry]:
    """The rows of chats that can be read; each damaged one is reported (once per kernel, by `warnings`)."""
    found = []
    for entry in entries.values():
        if entry.get("damaged"):
            warnings.warn(entry["damaged"], RuntimeWarning, stacklevel=3)  # at the caller of the store's method
        else:
            found.append(entry)
    return found


def names(entries: dict[str, Entry], but: str | None = None) -> set[str]:
    """Names in use (damaged chats keep theirs), except chat `but`'s."""
    return {e["name"] for e in entries.values() if e.get("name") is not None and e["id"] != but}


def usage_totals(entries: list[Entry]) -> list[UsageTotal]:
    """The rows' token usage summed per (UTC day, provider, model), oldest day first."""
    totals: dict[tuple[str, str | None, str | None], list[int]] = {}
    for entry in entries:
        for day, provider, model, *counts in entry["usage"]:
            sums = totals.setdefault((day, provider, model), [0, 0, 0, 0])
            for i, count in enumerate(counts):
                sums[i] += count
    ordered = sorted(totals.items(), key=lambda item: tuple(part or "" for part in item[0]))
    return [UsageTotal(*key, *sums) for key, sums in ordered]


def _timestamp(value: Any) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class ChatIndex:
    """The index of one history root. `refresh(save=True)` only under the store lock."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # The index as last read or written by this process, with the file's stamp then: rereading 1,000 rows
        # costs milliseconds, a stat microseconds.
        self._memo: tuple[list[int] | None, dict[str, Entry]] | None = None
        # The rows as this process last summarised them, saved or not: reads never write the index, so a
        # process that only reads keeps its catch-up here instead.
        self._view: dict[str, Entry] = {}

    def saved(self) -> dict[str, Entry]:
        """The rows as last saved, possibly behind the chat files (for guesses that the caller then checks)."""
        return self._load(set_aside=False)

    def check(self) -> None:
        """Set a damaged index file aside (a writer, under the lock), so the next refresh rebuilds it."""
        self._load(set_aside=True)

    def refresh(self, *, save: bool = False) -> dict[str, Entry]:
        """Chat id -> index row for every chat file, damaged ones included (their row has `damaged` set).

        Rows are re-summarised only for chat files changed since they were last summarised. With `save` (a
        writer, under the lock) a stale index file is rewritten; a reader never writes.
        """
        saved = self._load(set_aside=save)
        view = self._view
        entries: dict[str, Entry] = {}
        try:
            scan = os.scandir(self.layout.chats)
        except FileNotFoundError:
            scan = None
        with scan if scan is not None else _nothing() as items:
            for item in items:
                chat_id, ext = os.path.splitext(item.name)
                if ext != ".json" or not is_id(chat_id):
                    continue
                stamp = _stamp(item.path)
                if stamp is None:
                    continue
                for old in (view.get(chat_id), saved.get(chat_id)):
                    if old is not None and old.get("stamp") == stamp:
                        entries[chat_id] = old
                        break
                else:
                    entries[chat_id] = self._summarize(Path(item.path), chat_id, saved.get(chat_id))
                    entries[chat_id]["stamp"] = stamp
        self._view = entries
        if save and _differs(entries, saved):
            self._save(entries)
        return entries

    def forget(self, chat_id: str) -> None:
        """Drop what this process knows of a chat, so the next refresh reads it afresh (after a rename)."""
        self._view.pop(chat_id, None)

    def _summarize(self, path: Path, chat_id: str, old: Entry | None) -> Entry:
        try:
            with ChatFile(path).transaction() as chat:
                entry = summarize(chat.header(), chat.summary())
        except CorruptHistoryError as err:
            # Keep the name we last knew, so the chat can still be found by it (and the error shown),
            # and stays taken.
            entry = {"id": chat_id, "name": old.get("name") if old else None, "damaged": err.message}
        return entry

    def _load(self, *, set_aside: bool) -> dict[str, Entry]:
        path = self.layout.index
        stamp = _stamp(path)
        if self._memo is not None and self._memo[0] == stamp:
            return self._memo[1]
        try:
            data = read_json(path)
        except CorruptHistoryError as err:
            # A cache: nothing is lost. A writer sets it aside (and rebuilds it); a reader just does without.
            if set_aside:
                aside = path.with_name(f"{path.name}.damaged-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}")
                os.replace(path, aside)
                text = _("{error} It was moved to {aside}; the index is rebuilt from the chat files.")
                warnings.warn(text.format(error=err.message, aside=aside), RuntimeWarning, stacklevel=4)
            return {}
        if data is None:
            return {}
        check_schema(path, data, SCHEMA_VERSION, oldest=2)  # rows have not changed since version 2
        rows = data.get("chats", {}).values()
        # A row lacking a field (written before that field existed) is dropped, so its chat is summarised afresh.
        entries = {row["id"]: row for row in rows if _complete(row)}
        self._memo = (stamp, entries)
        return entries

    def _save(self, entries: dict[str, Entry]) -> None:
        # A TinyDB-format file, but only ever rewritten whole, so it is written directly rather than row by row.
        # Not fsynced: it is a cache of the chat files, rebuilt if a crash leaves it damaged.
        rows = {str(n): entry for n, entry in enumerate(entries.values(), 1)}
        data = {"_meta": {"1": {"schema": SCHEMA_VERSION}}, "chats": rows}
        try:
            write_json_atomic(self.layout.index, data, durable=False)
        except HistorySaveError:
            return  # a full disk: the index stays behind, which costs the next reader time, never data
        self._memo = (_stamp(self.layout.index), dict(entries))


def _differs(entries: dict[str, Entry], saved: dict[str, Entry]) -> bool:
    return entries.keys() != saved.keys() or any(saved[k].get("stamp") != e.get("stamp") for k, e in entries.items())


@contextmanager
def _nothing() -> Iterator[list[os.DirEntry[str]]]:
    yield []


def _complete(row: Any) -> bool:
    return isinstance(row, dict) and row.keys() >= _ROW_KEYS and (bool(row["damaged"]) or row.keys() >= _SUMMARY_KEYS)


def _stamp(path: str | Path) -> list[int] | None:
    """What changes whenever `path` is rewritten (`write_json_atomic` makes each mtime later than the last)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return [info.st_ino, info.st_mtime_ns, info.st_size]
