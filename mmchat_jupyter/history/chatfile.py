"""One chat: its head file (TinyDB), and behind it the sealed segments that hold its older messages.

    {"_meta": {"1": {"schema": 3}},
     "chat": {"1": {"id": ..., "name": ..., "created": ..., "updated": ..., "meta": {...}}},
     "sealed": {"1": {"epoch": "3f9a0c21", "count": 1024, "last": 990, "summary": {...}}},
     "messages": {"1025": {"id": ..., "role": ..., "content": ..., "created": ..., "status": ..., ...}, ...}}

The head holds everything about its chat but the older messages: the name, the newest messages and what the sealed
ones add up to, so the index is only a cache of heads and a turn reads one small file. Writes go to the head alone,
which rolls its oldest messages over into segments when it grows (see `segments.py`). A head of schema 2 (before
segments) is a head with none, and reads as one. A `ChatFile` is opened for one operation (under the store lock if
it writes): a fresh TinyDB each time, so its caches never carry one process's view past another's write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from ..i18n import _
from ..types import ChatRecord, MessageRecord
from . import folded, segments, summary
from .records import MESSAGE_FIELDS, row_of, row_problem
from .storage import AtomicJSONStorage, damaged, read_bytes
from .views import ChatTail

HEADER_TABLE = "chat"
SEALED_TABLE = "sealed"
MESSAGES_TABLE = "messages"
#: Heads written before segments existed read as heads without any.
OLDEST_SCHEMA = 2
_LEGACY_EPOCH = "00000000"


def to_message(row: dict[str, Any]) -> MessageRecord:
    """A stored row as a record; keys a newer minor version added are ignored (as `MessageRecord.from_dict` does,
    without its per-call `dataclasses.fields()`, which dominated reading big chats)."""
    return MessageRecord(**{key: value for key, value in row.items() if key in MESSAGE_FIELDS})


class ChatFile:
    """A chat opened for one operation. Methods must run inside `transaction()`."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        self.db = TinyDB(
            path, storage=AtomicJSONStorage, schema=segments.SCHEMA, oldest=OLDEST_SCHEMA, create=create
        )
        # cache_size=0: nothing is cached between calls, even within one lock hold.
        self.header_table = self.db.table(HEADER_TABLE, cache_size=0)
        self.messages_table = self.db.table(MESSAGES_TABLE, cache_size=0)
        self._after: list[Callable[[], None]] = []

    @property
    def storage(self) -> AtomicJSONStorage:
        storage: AtomicJSONStorage = self.db.storage  # type: ignore[assignment]  # TinyDB types its base class
        return storage

    @contextmanager
    def transaction(self) -> Iterator[ChatFile]:
        """Read the head at most once and write it at most once, atomically, when the block succeeds; a head grown
        too big is rolled over first."""
        with self.storage.batch():
            yield self
            if self.storage.dirty:
                self._roll_over()
        for action in self._after:
            action()

    # --- reading -----------------------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The chat's header row (`meta` always a dict); raises `CorruptHistoryError` if it is missing or malformed."""
        rows = self.header_table.all()
        header = dict(rows[0]) if len(rows) == 1 else {}
        if not all(isinstance(header.get(key), str) for key in ("id", "name", "created", "updated")):
            raise damaged(self.path, _("the chat header is missing or malformed"))
        if header["id"] != self.path.stem:  # e.g. a copy made beside the original: two files claiming one chat
            raise damaged(self.path, _("it holds chat {id}, not the chat its name says").format(id=header["id"]))
        meta = header.get("meta")
        if meta is None:
            header["meta"] = {}
        elif not isinstance(meta, dict):
            problem = _("chat {name!r}: its settings (meta) are not a mapping").format(name=header["name"])
            raise damaged(self.path, problem)
        return header

    def sealed(self) -> dict[str, Any]:
        """{"epoch", "count", "last", "summary"} of the chat's sealed segments (none for a head of schema 2);
        `last` is where the newest segment starts."""
        tables = self.storage.read() or {}
        row = tables.get(SEALED_TABLE, {}).get("1")
        if row is None:
            return {"epoch": _LEGACY_EPOCH, "count": 0, "last": None, "summary": summary.empty()}
        if not (
            isinstance(row, dict) and isinstance(row.get("epoch"), str) and isinstance(row.get("count"), int)
            and row["count"] >= 0 and not summary.malformed(row.get("summary"))
            and (row.get("last") is None if row["count"] == 0 else isinstance(row.get("last"), int))
        ):
            raise damaged(self.path, _("its record of older messages is malformed"))
        return row

    def head_rows(self) -> list[dict[str, Any]]:
        """The message rows in the head, oldest first, each checked (a wrong-typed field makes the chat damaged)."""
        tables = self.storage.read() or {}
        rows = list(tables.get(MESSAGES_TABLE, {}).values())
        count = self.sealed()["count"]
        for n, row in enumerate(rows, count + 1):
            problem = row_problem(row)
            if problem is not None:
                text = _("chat {name!r}, message {n}: {problem}")
                raise damaged(self.path, text.format(name=self.header()["name"], n=n, problem=problem))
        return rows

    def summary(self) -> summary.Summary:
        """What `list_chats()` needs of the whole chat, from the head alone."""
        return summary.merge(self.sealed()["summary"], summary.of_rows(self.head_rows()))

    def segments(self) -> list[tuple[int, Path]]:
        sealed = self.sealed()
        return segments.chain(self.path, sealed["epoch"], sealed["count"])

    def segment_rows(self, first: int, path: Path) -> list[dict[str, Any]]:
        return segments.read(self.path, self.sealed()["epoch"], first, path)[0]

    def all_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for first, path in self.segments():
            if first != len(rows):
                raise segments.Moved(path)  # a gap: a segment vanished under a reader
            rows += self.segment_rows(first, path)
        if len(rows) != self.sealed()["count"]:
            raise segments.Moved(self.path)
        return rows + self.head_rows()

    def messages(self) -> list[MessageRecord]:
        return [to_message(row) for row in self.all_rows()]

    def record(self) -> ChatRecord:
        header = self.header()
        messages = self.messages()
        return ChatRecord(header["id"], header["name"], header["created"], header["updated"], messages, header["meta"])

    def tail(self, chars: int, at_least: int) -> ChatTail:
        """The header and the newest messages: `at_least` of them, and more until their content reaches `chars`.

        Walks back from the head segment by segment (each names the one before): no folder listing, and nothing
        read beyond the segment that completes the tail.
        """
        rows = self.head_rows()
        sealed = self.sealed()
        first, older = sealed["count"], sealed["last"]
        start, size = len(rows), 0
        while True:
            while start > 0 and (len(rows) - start < at_least or size < chars):
                start -= 1
                size += len(rows[start]["content"])
            if start > 0 or older is None or (len(rows) - start >= at_least and size >= chars):
                break
            earlier, before = segments.read(self.path, sealed["epoch"], older)
            if older + len(earlier) != first:
                raise segments.Moved(self.path)
            rows, start, first, older = earlier + rows, start + len(earlier), older, before
        return self._view(rows[start:], first + start)

    def page(self, before: int | None, limit: int) -> ChatTail:
        """The header and up to `limit` messages just before position `before` (None: the end)."""
        head = self.head_rows()
        count = self.sealed()["count"]
        total = count + len(head)
        end = total if before is None else max(0, min(before, total))
        start = max(0, end - max(0, limit))
        rows = head[max(0, start - count) : max(0, end - count)]
        if start < count:
            older: list[dict[str, Any]] = []
            bounds = [*self.segments(), (count, self.path)]
            for (first, path), (following, _next) in pairwise(bounds):
                if following > start and first < min(end, count):
                    seg = self.segment_rows(first, path)
                    if first + len(seg) != following:
                        raise segments.Moved(path)
                    older += seg[max(0, start - first) : min(end, count) - first]
            rows = older + rows
        return self._view(rows, start)

    def find(self, needle: str) -> list[MessageRecord]:
        """Messages whose content contains `needle` (already casefolded), oldest first; a segment is parsed only
        when its text may hold the needle (see `folded.py`)."""
        quick = folded.usable(needle)
        found = []
        for first, path in self.segments():
            if not quick or folded.may_hold(path, needle):
                found += [row for row in self.segment_rows(first, path) if needle in row["content"].casefold()]
        found += [row for row in self.head_rows() if needle in row["content"].casefold()]
        return [to_message(row) for row in found]

    def find_cached(self, cache_key: str, status: str) -> MessageRecord | None:
        """The newest message with `cache_key` and `status`."""
        for row in reversed(self.head_rows()):
            if row.get("cache_key") == cache_key and row.get("status") == status:
                return to_message(row)
        for first, path in reversed(self.segments()):
            if cache_key.encode() in read_bytes(path):
                for row in reversed(self.segment_rows(first, path)):
                    if row.get("cache_key") == cache_key and row.get("status") == status:
                        return to_message(row)
        return None

    def has_message(self, message_id: str) -> bool:
        if self.messages_table.contains(Query().id == message_id):
            return True
        return any(
            row["id"] == message_id for first, path in self.segments() for row in self.segment_rows(first, path)
        )

    def _view(self, rows: list[dict[str, Any]], first: int) -> ChatTail:
        header = self.header()
        total = self.sealed()["count"] + len(self.head_rows())
        messages = [to_message(row) for row in rows]
        return ChatTail(
            header["id"], header["name"], header["created"], header["updated"], header["meta"], messages, first, total
        )

    # --- writing (under the store lock) ------------------------------------------------------------------------

    def write_new(self, record: ChatRecord) -> None:
        """Fill a new chat with `record` (header and messages, in order; a long chat goes to segments at once)."""
        self.header_table.insert(
            {"id": record.id, "name": record.name, "created": record.created, "updated": record.updated,
             "meta": record.meta}
        )
        self._set_sealed({"epoch": segments.new_epoch(), "count": 0, "last": None, "summary": summary.empty()})
        self.messages_table.insert_multiple(row_of(message) for message in record.messages)

    def set_header(self, **fields: Any) -> None:
        self.header_table.update(fields)

    def append(self, messages: list[MessageRecord]) -> None:
        self.messages_table.insert_multiple(row_of(message) for message in messages)

    def update(self, message_id: str, fields: dict[str, Any]) -> MessageRecord | None:
        """Change one message; the updated record, or None when the chat has no such message.

        Almost always the message is in the head (the answer streaming now, the last one regenerated). Changing a
        sealed one rewrites its segment and sums the sealed segments up again for the head.
        """
        message = Query().id == message_id
        if self.messages_table.update(fields, message):
            return to_message(self.messages_table.get(message))  # type: ignore[arg-type]  # it was just updated
        sealed = self.sealed()
        chain = self.segments()
        for first, path in reversed(chain):
            rows, prev = segments.read(self.path, sealed["epoch"], first, path)
            for row in rows:
                if row["id"] == message_id:
                    row.update(fields)
                    segments.rewrite(self.path, sealed["epoch"], first, prev, rows)
                    totals = summary.empty()
                    for each_first, each_path in chain:
                        totals = summary.merge(totals, summary.of_rows(self.segment_rows(each_first, each_path)))
                    self._set_sealed({**sealed, "summary": totals})
                    return to_message(row)
        return None

    def clear(self) -> int:
        """Remove every message; returns how many there were."""
        count: int = self.sealed()["count"] + len(self.messages_table)
        epoch = segments.new_epoch()
        self.messages_table.truncate()
        self._set_sealed({"epoch": epoch, "count": 0, "last": None, "summary": summary.empty()})
        self._after.append(lambda: segments.tidy(self.path, epoch))
        return count

    def _set_sealed(self, row: dict[str, Any]) -> None:
        tables = dict(self.storage.read() or {})
        tables[SEALED_TABLE] = {"1": row}
        self.storage.write(tables)

    def _roll_over(self) -> None:
        """Seal the oldest messages of a head that grew too big (see `segments.py`)."""
        tables = self.storage.read() or {}
        stored = tables.get(MESSAGES_TABLE, {})
        seal = segments.to_seal(list(stored.values()))
        if not seal:
            return
        keys = list(stored)[:seal]
        rows = [stored[key] for key in keys]
        sealed = self.sealed()
        last = segments.seal(self.path, sealed["epoch"], sealed["count"], rows, sealed["last"])
        self.messages_table.remove(doc_ids=[int(key) for key in keys])
        self._set_sealed(
            {
                "epoch": sealed["epoch"],
                "count": sealed["count"] + len(rows),
                "last": last,
                "summary": summary.merge(sealed["summary"], summary.of_rows(rows)),
            }
        )
        self._after.append(lambda: segments.tidy(self.path, sealed["epoch"]))
