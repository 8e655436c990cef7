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
from dataclasses import fields
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from ..i18n import _
from ..types import ChatRecord, MessageRecord
from .migrations import SCHEMA_VERSION
from .storage import AtomicJSONStorage, damaged

HEADER_TABLE = "chat"
MESSAGES_TABLE = "messages"
MESSAGE_FIELDS = frozenset(f.name for f in fields(MessageRecord))


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
        """The chat's header row; raises `CorruptHistoryError` if it is missing or malformed."""
        rows = self.header_table.all()
        header = dict(rows[0]) if len(rows) == 1 else {}
        if not all(isinstance(header.get(key), str) for key in ("id", "name", "created", "updated")):
            raise damaged(self.path, _("the chat header is missing or malformed"))
        if header["id"] != self.path.stem:  # e.g. a copy made beside the original: two files claiming one chat
            raise damaged(self.path, _("it holds chat {id}, not the chat its name says").format(id=header["id"]))
        return header

    def message_rows(self) -> list[dict[str, Any]]:
        """The stored message dicts, oldest first, straight from the file (for summaries: no objects built)."""
        tables = self.db.storage.read() or {}
        return [row for row in tables.get(MESSAGES_TABLE, {}).values() if isinstance(row, dict)]

    def messages(self) -> list[MessageRecord]:
        try:
            return [to_message(row) for row in self.message_rows()]
        except TypeError as exc:  # a row without the required fields
            raise damaged(self.path, _("a message is malformed")) from exc

    def record(self) -> ChatRecord:
        header = self.header()
        messages = self.messages()
        return ChatRecord(
            id=header["id"],
            name=header["name"],
            created=header["created"],
            updated=header["updated"],
            messages=messages,
            meta=dict(header.get("meta") or {}),
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

    def append(self, message: MessageRecord) -> None:
        self.messages_table.insert(message.to_dict())

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
