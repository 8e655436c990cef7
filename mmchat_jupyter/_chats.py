"""`session.chats`: the chats in history, as every face lists, reads, changes, exports and imports them.

A chat is given as a `ChatRecord`, a `ChatSummary` (a row of `list()`) or a chat's id or name. Deleting the
session's current chat makes its next question start a new one. Import checks every record before it stores any,
and stores all or none.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ._text import check_text, strings
from .errors import ChatNotFound, CorruptHistoryError, ExportError, MMChatError
from .i18n import _
from .types import ChatRecord, ChatSummary, MessageRecord

if TYPE_CHECKING:
    from .history import Changes, ChatTail, HistoryStore, SearchHit
    from .session import ChatSession

ChatRef = ChatRecord | ChatSummary | str


class Imported(NamedTuple):
    """One imported chat: where it came from, the name it had there, and the chat as stored (renamed on a clash)."""

    source: str
    original_name: str
    chat: ChatRecord


class Chats:
    """The chats of a session's history (see the module docstring)."""

    def __init__(self, session: ChatSession) -> None:
        self._session = session

    @property
    def _store(self) -> HistoryStore:
        return self._session.store

    @property
    def root(self) -> Path:
        """Where the history lives."""
        return Path(self._store.root)

    # -- reading --------------------------------------------------------------------------------------------------

    def list(
        self, search: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[ChatSummary]:
        """Chats, most recently updated first; with `search`, those whose name or messages contain it (any case)."""
        chats = self._store.list_chats()
        needle = (search or "").strip().casefold()
        if needle:
            hits = {hit.chat_id for hit in self._store.search(needle)}
            chats = [chat for chat in chats if needle in chat.name.casefold() or chat.id in hits]
        end = None if limit is None else offset + limit
        return chats[offset:end]

    def search(self, text: str, *, limit: int | None = None) -> builtins.list[SearchHit]:
        """Messages that contain `text` (any case), newest chats first."""
        return self._store.search(text, limit=limit)

    def get(self, chat: ChatRef) -> ChatRecord:
        """The chat with all its messages; ChatNotFound when there is none."""
        return self._store.get_chat(chat)

    def find(self, chat: ChatRef) -> ChatRecord | None:
        """The chat, or None when there is none."""
        try:
            return self._store.get_chat(chat)
        except ChatNotFound:
            return None

    def messages(self, chat: ChatRef, *, offset: int = 0, limit: int | None = None) -> builtins.list[MessageRecord]:
        """The chat's messages, oldest first, `limit` of them from `offset`."""
        messages = self.get(chat).messages
        return messages[offset : None if limit is None else offset + limit]

    def page(self, chat: ChatRef, *, before: int | None = None, limit: int = 50) -> ChatTail:
        """Up to `limit` messages just before position `before` (None: the newest), oldest first, for scrolling
        back; `first`/`total` say where they are in the chat."""
        return self._store.page(chat, before=before, limit=limit)

    def info(self, chat: ChatRef) -> ChatTail:
        """The chat's header and how many messages it holds, without reading them."""
        return self._store.chat_info(chat)

    def change_seq(self) -> int:
        """A number that grows with every change to the history, from any face or process (cheap: poll it)."""
        return self._store.change_seq()

    def changes(self, since: int) -> Changes:
        """The changes after `since` (chats created, renamed, deleted, cleared; messages added, updated; settings),
        and the `seq` to ask from next; `resync` when some may have been missed (re-read the list then)."""
        return self._store.changes(since)

    def problems(self) -> builtins.list[CorruptHistoryError]:
        """Every damaged file in the history, each naming its file."""
        return self._store.problems()

    # -- changing -------------------------------------------------------------------------------------------------

    def create(self, name: str | None = None, *, system: str | None = None) -> ChatRecord:
        """A new empty chat (a readable unique name when none is given); it does not become the current chat."""
        check_text(name, _("the chat name"))
        check_text(system, _("the system prompt"))
        return self._store.create_chat(name, **({"system": system} if system else {}))

    def rename(self, chat: ChatRef, new_name: str) -> ChatRecord:
        check_text(new_name, _("the chat name"))
        return self._store.rename_chat(chat, new_name)

    def delete(self, chat: ChatRef) -> ChatRecord:
        """Delete a chat; returns what it held. Deleting the current chat makes the next question start a new one."""
        record = self.get(chat)
        self._store.delete_chat(record)
        self._session.forget_chat(record)
        return record

    def clear(self, chat: ChatRef | None = None) -> int:
        """Remove a chat's messages (the current chat's when none is given), keeping the chat; returns how many."""
        return self._store.clear_chat(self._session.chat if chat is None else chat)

    def set_system(self, chat: ChatRef, text: str | None) -> None:
        """The chat's own system prompt (None or "" removes it)."""
        check_text(text, _("the system prompt"))
        self._store.update_chat_meta(chat, system=text or None)

    # -- export and import ----------------------------------------------------------------------------------------

    def export(self, chat: ChatRef, format: str, path: str | os.PathLike[str] | None = None) -> str | Path:
        """The chat as ipynb, md, json, txt or html: the text, or the file written (see `export.export_chat`)."""
        from .export import export_chat

        return export_chat(self.get(chat), format, path)

    def import_files(self, paths: Sequence[str | os.PathLike[str]]) -> builtins.list[Imported]:
        """Import JSON exports: every file is read and checked first, then all are stored, or none."""
        from .export import read_export

        records = [read_export(path) for path in paths]
        return self._import([str(path) for path in paths], records)

    def import_records(self, records: Iterable[ChatRecord]) -> builtins.list[Imported]:
        """Import chats already read (an API request body, `export.read_export`); all or none."""
        records = list(records)
        return self._import([f"#{index + 1}" for index in range(len(records))], records)

    def _import(self, sources: builtins.list[str], records: builtins.list[ChatRecord]) -> builtins.list[Imported]:
        from .export import import_chat

        for source, record in zip(sources, records, strict=True):
            _check_record(record, source)
        stored: builtins.list[Imported] = []
        try:
            for source, record in zip(sources, records, strict=True):
                stored.append(Imported(source, record.name, import_chat(record, store=self._store)))
        except BaseException:
            for item in stored:  # all or none: take back what this call stored
                with contextlib.suppress(MMChatError):
                    self._store.delete_chat(item.chat)
            raise
        return stored


def _check_record(record: ChatRecord, source: str) -> None:
    """ExportError naming the file and the field when an imported chat holds text that cannot be stored."""
    fields: dict[str, Any] = {"name": record.name, "meta": record.meta,
                              "messages": [message.to_dict() for message in record.messages]}
    for where, text in strings(fields):
        try:
            check_text(text, where)
        except MMChatError as exc:
            raise ExportError(_("{file}: {problem}").format(file=source, problem=exc.message)) from None
