"""One chat's TinyDB file: a `chat` table with the header row and a `messages` table, oldest first.

    {"_meta": {"1": {"schema": 2}},
     "chat": {"1": {"id": ..., "name": ..., "created": ..., "updated": ..., "meta": {...}}},
     "messages": {"1": {"id": ..., "role": ..., "content": ..., "created": ..., "status": ..., ...}, ...}}

The file holds everything about its chat, the name included, so the index is only a cache of it. A `ChatFile`
is opened inside the store lock and dropped before the lock is released: a fresh TinyDB each time means its
per-instance caches (next doc id, query cache) never carry one process's view past another's write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from ..i18n import _
from ..types import ChatRecord, MessageRecord
from .migrations import SCHEMA_VERSION
from .records import MESSAGE_FIELDS, row_problem
from .storage import AtomicJSONStorage, damaged
from .views import ChatTail

HEADER_TABLE = "chat"
MESSAGES_TABLE = "messages"


def to_message(row: dict[str, Any]) -> MessageRecord:
    """A stored row as a record; keys a newer minor version added are ignored (as `MessageRecord.from_dict` does,
    without its per-call `dataclasses.fields()`, which dominated reading big chats)."""
    return MessageRecord(**{key: value for key, value in row.items() if key in MESSAGE_FIELDS})


class ChatFile:
    """A chat file opened for one locked operation. Methods must run inside `transaction()`."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        self.db = TinyDB(path, storage=AtomicJSONStorage, schema=SCHEMA_VERSION, create=create)
        # cache_size=0: nothing is cached between calls, even within one lock hold.
        self.header_table = self.db.table(HEADER_TABLE, cache_size=0)
        self.messages_table = self.db.table(MESSAGES_TABLE, cache_size=0)

    @contextmanager
    def transaction(self) -> Iterator[ChatFile]:
        """Read the file at most once and write it at most once, atomically, when the block succeeds."""
        storage: AtomicJSONStorage = self.db.storage  # type: ignore[assignment]
        with storage.batch():
            yield self

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

    def message_rows(self) -> list[dict[str, Any]]:
        """The stored message dicts, oldest first, each checked (a wrong-typed field makes the chat damaged)."""
        tables = self.db.storage.read() or {}
        rows = list(tables.get(MESSAGES_TABLE, {}).values())
        for n, row in enumerate(rows, 1):
            problem = row_problem(row)
            if problem is not None:
                name = self.header()["name"]
                text = _("chat {name!r}, message {n}: {problem}")
                raise damaged(self.path, text.format(name=name, n=n, problem=problem))
        return rows

    def messages(self) -> list[MessageRecord]:
        return [to_message(row) for row in self.message_rows()]

    def record(self) -> ChatRecord:
        header = self.header()
        return ChatRecord(
            id=header["id"],
            name=header["name"],
            created=header["created"],
            updated=header["updated"],
            messages=self.messages(),
            meta=header["meta"],
        )

    def tail(self, chars: int, at_least: int) -> ChatTail:
        """The header and the newest messages: `at_least` of them, and more until their content reaches `chars`."""
        rows = self.message_rows()
        start, size = len(rows), 0
        while start > 0 and (len(rows) - start < at_least or size < chars):
            start -= 1
            size += len(rows[start]["content"])
        return self._view(rows, start, len(rows))

    def page(self, before: int | None, limit: int) -> ChatTail:
        """The header and up to `limit` messages just before position `before` (None: the end)."""
        rows = self.message_rows()
        end = len(rows) if before is None else max(0, min(before, len(rows)))
        return self._view(rows, max(0, end - max(0, limit)), end)

    def _view(self, rows: list[dict[str, Any]], start: int, end: int) -> ChatTail:
        header = self.header()
        messages = [to_message(row) for row in rows[start:end]]
        return ChatTail(
            header["id"], header["name"], header["created"], header["updated"], header["meta"], messages, start,
            len(rows),
        )

    def write_new(self, record: ChatRecord) -> None:
        """Fill a new file with `record` (header and messages, in order)."""
        self.header_table.insert(
            {
                "id": record.id,
                "name": record.name,
                "created": record.created,
                "updated": record.updated,
                "meta": record.meta,
            }
        )
        self.messages_table.insert_multiple(message.to_dict() for message in record.messages)

    def set_header(self, **fields: Any) -> None:
        self.header_table.update(fields)

    def has_message(self, message_id: str) -> bool:
        return self.messages_table.contains(Query().id == message_id)

    def append(self, messages: list[MessageRecord]) -> None:
        self.messages_table.insert_multiple(message.to_dict() for message in messages)

    def update(self, message_id: str, fields: dict[str, Any]) -> MessageRecord | None:
        """Change one message; the updated record, or None when the chat has no such message."""
        message = Query().id == message_id
        if not self.messages_table.update(fields, message):
            return None
        return to_message(self.messages_table.get(message))  # type: ignore[arg-type]

    def clear(self) -> int:
        count = len(self.messages_table)
        self.messages_table.truncate()
        return count
