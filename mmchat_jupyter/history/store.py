"""HistoryStore: the chat history that every kernel, panel and `mmchat` command of a user shares.

Writers take the store lock (one at a time across processes and threads, see `lock.py`), read what they change
fresh from disk and replace files atomically (`storage.py`), so a second kernel sees the first one's writes on
its next call, and a kill at any moment loses at most the write in flight. Readers take no lock and write nothing:
every file they read is replaced whole, never changed in place, so a read-only, full or locked history can still be
listed, shown and exported. Each write also appends a line to the change journal (`journal.py`), which the panel
and the server API poll to follow changes made elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ChatNotFound, CorruptHistoryError, HistoryError, HistorySaveError
from ..i18n import _
from ..types import STATUS_COMPLETE, ChatRecord, ChatSummary, Message, MessageRecord, now_iso
from . import folded, segments, settingsfile, trust, unsaved
from . import journal as kinds
from .chatfile import ChatFile
from .index import ChatIndex, Entry, names, newest_first, readable, to_summary, usage_totals
from .journal import Changes, Journal
from .lock import store_lock, timeout_from_env
from .lookup import ChatLookup, ChatRef
from .migrations import SCHEMA_VERSION, migrate, stored_version
from .paths import Layout, default_root, make_dir, new_id
from .records import check_name, default_name, message_changes, new_message
from .storage import encode_json, fsync_dir, remove_temp_files
from .views import ChatTail, SearchHit, UsageTotal

__all__ = ["ChatRef", "HistoryStore"]


class HistoryStore:
    """The chat history under `root` (default: `$MMCHAT_HOME`, else `<jupyter data dir>/mmchat`).

    Opening a store creates the folder (0700) if it can, migrates older data once (with a backup) and removes
    temp files left by killed writers. A folder that cannot be written is opened read-only: reads work, each
    write raises `HistorySaveError`. Any number of stores, in any number of processes and threads, may use the
    same root at once. Methods taking a chat accept a `ChatRecord` or a chat's id or name.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None) -> None:
        # Absolute, so a later chdir in the notebook does not move the history.
        self.root = (Path(root).expanduser() if root is not None else default_root()).absolute()
        trust.check_folder(self.root)  # another user's folder could redirect providers: refused, one line
        self.layout = Layout(self.root)
        #: How long a write waits for another process holding the history before `HistorySaveError`
        #: (default: $MMCHAT_LOCK_TIMEOUT, else 30 s; a slow network home may want more).
        self.lock_timeout = lock_timeout if lock_timeout is not None else timeout_from_env()
        self._lock = store_lock(self.layout.lock, self.lock_timeout)
        self._index = ChatIndex(self.layout)
        self._chats = ChatLookup(self.layout, self._index)
        self._journal = Journal(self.layout.changes)
        self._unsaved = unsaved.of(self.root)
        self._ready = False
        #: Names of the migrations this open applied (empty when the data was current).
        self.migrations_applied: list[str] = []
        current = stored_version(self.layout) == SCHEMA_VERSION and self.layout.chats.is_dir()
        try:
            # Tidying up a current history may wait for nobody; a migration waits for the lock like any write.
            with self._write(wait=0 if current else None):
                pass
        except HistorySaveError:
            if not current and self.layout.root.exists():
                raise  # older data we cannot bring up to date: reading it as current would misread it

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.root)!r})"

    # --- chats -------------------------------------------------------------------------------------------------

    def create_chat(self, name: str | None = None, **meta: Any) -> ChatRecord:
        """Create an empty chat; without a name it gets a readable unique one such as "chat-2026-11-24-1".

        `meta` holds chat-level settings (system prompt, ...). Raises `ChatNameTaken` if the name is in use.
        """
        with self._write():
            return self._create(name, meta, self._index.refresh(save=True))

    def get_or_create_chat(self, name: str, **meta: Any) -> ChatRecord:
        """The chat called `name` as a record of its header (`messages` left empty: nothing is read), created with
        `meta` when there is none.

        One lock hold, so two processes asking for the same new name at once get the same chat.
        """
        try:
            return self._chats.header_record(name)  # most calls: the chat exists, and finding it needs no write
        except ChatNotFound:
            pass
        with self._write():
            entries = self._index.refresh(save=True)
            for entry in entries.values():
                if entry.get("name") == name.strip():
                    return self._chats.header_record(entry["id"])
            return self._create(name, meta, entries)

    def list_chats(self) -> list[ChatSummary]:
        """Every readable chat, most recently updated first (a damaged chat file is left out with a warning)."""
        return [to_summary(e) for e in sorted(readable(self._index.refresh()), key=newest_first)]

    # Reads show turns this process could not save yet as if they were saved (see `unsaved.py`): what the user saw
    # stays on every face until it is.

    def get_chat(self, chat: ChatRef) -> ChatRecord:
        """The chat with all its messages, oldest first."""
        record = self._chats.reading(chat, ChatFile.record)
        record.messages = self._unsaved.overlay(record.id, record.messages)
        return record

    def chat_info(self, chat: ChatRef) -> ChatTail:
        """The chat's header and message count, without its messages."""
        info = self._chats.reading(chat, lambda file: file.tail(0, 0))
        total = info.total + self._unsaved.added(info.id)
        return replace(info, first=total, total=total)

    def tail(self, chat: ChatRef, *, chars: int, at_least: int = 1) -> ChatTail:
        """The chat's header and its newest messages: at least `at_least` of them, and as many more as it takes for
        their content to reach `chars` characters (or the whole chat). What a turn reads to build its context."""
        return self._unsaved.view(self._chats.reading(chat, lambda file: file.tail(chars, at_least)), at_end=True)

    def page(self, chat: ChatRef, *, before: int | None = None, limit: int = 50) -> ChatTail:
        """Up to `limit` messages just before position `before` (None: the newest), for scrolling back."""
        stored = self._chats.reading(chat, lambda file: file.page(before, limit))
        total = stored.total + self._unsaved.added(stored.id)
        end = total if before is None else max(0, min(before, total))
        view = self._unsaved.view(stored, at_end=end > stored.total)
        reach = view.messages[: max(0, end - view.first)]  # the messages before `end`
        messages = reach[len(reach) - min(len(reach), max(0, limit)) :]
        return replace(view, messages=messages, first=end - len(messages))

    def rename_chat(self, chat: ChatRef, new_name: str) -> ChatRecord:
        """Give a chat a new name; raises `ChatNameTaken` if another chat has it. Returns the chat's header as a
        record (`messages` left empty: a rename reads no messages)."""
        with self._write():
            entries = self._index.refresh(save=True)
            chat_id = self._chats.resolve(chat, entries)
            name = check_name(new_name, names(entries, but=chat_id))
            with self._chats.open(chat_id) as file:
                file.set_header(name=name)
                header = file.header()
            self._index.forget(chat_id)
            self._note(kinds.CHAT_RENAMED, chat=chat_id, name=name)
        return ChatRecord(header["id"], name, header["created"], header["updated"], [], header["meta"])

    def update_chat_meta(self, chat: ChatRef, **changes: Any) -> dict[str, Any]:
        """Change chat-level settings (system prompt, ...); a value of None removes the key. Returns the new `meta`."""
        with self._write(), self._chats.open(chat) as file:
            header = file.header()
            meta = dict(header["meta"])
            meta.update(changes)
            meta = {key: value for key, value in meta.items() if value is not None}
            file.set_header(meta=meta)
        self._note(kinds.CHAT_UPDATED, chat=header["id"], name=header["name"])
        return meta

    def delete_chat(self, chat: ChatRef) -> None:
        """Delete a chat and its messages."""
        with self._write():
            chat_id = self._chats.resolve(chat)
            path = self.layout.chat_path(chat_id)
            path.unlink()
            fsync_dir(path.parent)
            segments.tidy(path, None)  # the head is gone, so these are unreachable: a failure leaves mere garbage
            self._index.forget(chat_id)
            self._note(kinds.CHAT_DELETED, chat=chat_id)

    def clear_chat(self, chat: ChatRef) -> int:
        """Remove every message of a chat, keeping the chat; returns how many were removed."""
        with self._write(), self._chats.open(chat) as file:
            removed = file.clear()
            file.set_header(updated=now_iso())
            header = file.header()
        self._note(kinds.CHAT_CLEARED, chat=header["id"], name=header["name"])
        return removed

    def import_chat(self, record: ChatRecord, *, name: str | None = None) -> ChatRecord:
        """Write a whole chat in one atomic write, keeping its timestamps; returns the stored record.

        The chat and its messages get new ids (an export imported twice must not share them). `name` (default
        `record.name`) must be free: use `unique_name()` to pick one.
        """
        messages = [new_message(message, {"id": None})[0] for message in record.messages]
        with self._write():
            chosen = check_name(record.name if name is None else name, names(self._index.refresh(save=True)))
            now = now_iso()
            created = record.created or now
            updated = record.updated or max([created, *(m.created for m in messages)])
            stored = ChatRecord(new_id(), chosen, created, updated, messages, dict(record.meta))
            self._write_new(stored)
            self._note(kinds.CHAT_CREATED, chat=stored.id, name=stored.name)
        return stored

    def unique_name(self, base: str) -> str:
        """`base` if no chat has that name, else the first free of "base-2", "base-3", ..."""
        taken = names(self._index.refresh())
        base = base.strip() or _("chat")
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    # --- messages ----------------------------------------------------------------------------------------------

    def append_message(
        self, chat: ChatRef, message: MessageRecord | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> str:
        """Add a message at the end of a chat and return its id.

        `message` is a `MessageRecord` or a mapping; keyword fields are merged over it, so
        `append_message(chat, role="user", content="Hi")` works too. A missing id or `created` is filled in.
        """
        record, id_given = new_message(message, fields)
        self._append(chat, [(record, id_given)], None)
        return record.id

    def append_messages(
        self,
        chat: ChatRef,
        messages: Sequence[MessageRecord | Message | Mapping[str, Any]],
        *,
        wait: float | None = None,
    ) -> list[str]:
        """Add several messages at the end of a chat in one write, so they are stored all or none (a question and
        its answer placeholder); returns their ids. Each is completed as `append_message` completes one.

        `wait`: seconds to wait for a history another process holds (None: the store's lock timeout).
        """
        records = [new_message(message, {}) for message in messages]
        self._append(chat, records, wait)
        return [record.id for record, _given in records]

    def update_message(
        self, chat: ChatRef, message_id: str, *, wait: float | None = None, **fields: Any
    ) -> MessageRecord:
        """Change fields of a stored message (content as a streamed answer grows, then status, usage, ...).

        Returns the updated record. `wait`: seconds to wait for a busy history (None: the store's lock timeout).
        """
        changes = message_changes(fields)
        with self._write(wait), self._chats.open(chat) as file:
            updated = file.update(message_id, changes)
            header = file.header()
            if updated is None:
                raise HistoryError(
                    _("Chat {chat} has no message {id}; it may have been cleared or deleted.").format(
                        chat=header["name"], id=message_id
                    )
                )
            file.set_header(updated=now_iso())
        self._note(kinds.MESSAGE_UPDATED, chat=header["id"], name=header["name"], message=message_id)
        return updated

    def search(self, text: str, *, limit: int | None = None) -> list[SearchHit]:
        """Messages whose content contains `text` (ignoring case), newest chats first, oldest message first."""
        needle = text.casefold()
        quick = folded.usable(needle)
        hits: list[SearchHit] = []
        for entry in sorted(readable(self._index.refresh()), key=newest_first):
            head = self.layout.chat_path(entry["id"])
            if quick and not any(folded.may_hold(path, needle) for path in [head, *segments.files(head)]):
                continue  # nothing in this chat can match: no file of it parsed
            try:
                found = self._chats.reading(entry["id"], lambda file: file.find(needle))
            except ChatNotFound:
                continue  # deleted since the listing
            hits += [SearchHit(entry["id"], entry["name"], message) for message in found]
            if limit is not None and len(hits) >= limit:
                return hits[:limit]
        return hits

    def find_cached(self, cache_key: str) -> MessageRecord | None:
        """The newest complete answer stored with `cache_key` (for `%%chat --cache`), or None.

        The index keeps each chat's cache keys, so only a chat that has the key is opened.
        """
        for entry in sorted(readable(self._index.refresh()), key=newest_first):
            if cache_key not in entry.get("cache", ()):
                continue
            try:
                found = self._chats.reading(entry["id"], lambda file: file.find_cached(cache_key, STATUS_COMPLETE))
            except ChatNotFound:
                continue
            if found is not None:
                return found
        return None

    def usage_totals(self) -> list[UsageTotal]:
        """Token usage per (UTC day, provider, model) over every stored message, oldest day first.

        Served from the index, so it reads only the chats changed since the last call.
        """
        return usage_totals(readable(self._index.refresh()))

    def problems(self) -> list[CorruptHistoryError]:
        """Every damaged file in the history (for `mmchat doctor`); empty when all is well."""
        found = [
            CorruptHistoryError(entry["damaged"], path=str(self.layout.chat_path(entry["id"])))
            for entry in self._index.refresh().values()
            if entry.get("damaged")
        ]
        try:
            self.get_settings()
        except CorruptHistoryError as err:
            found.append(err)
        return found

    # --- change feed -------------------------------------------------------------------------------------------

    def change_seq(self) -> int:
        """A number that grows with every change to the history, from any process (one `stat()`: poll it)."""
        return self._journal.seq()

    def changes(self, since: int) -> Changes:
        """The changes made after `since` (a `change_seq()` or `Changes.seq` from before), oldest first."""
        return self._journal.read(since)

    # --- settings ----------------------------------------------------------------------------------------------

    def get_settings(self) -> dict[str, Any]:
        """The persisted settings (default provider and model, generation params per provider, language, ...)."""
        return settingsfile.read(self.layout.settings)

    def update_settings(self, **changes: Any) -> dict[str, Any]:
        """Change settings in one atomic write; a value of None removes the key. Returns the new settings."""
        encode_json(changes)  # a value that cannot be stored fails here, with nothing written
        with self._write():
            settings = settingsfile.update(self.layout.settings, changes)
            self._note(kinds.SETTINGS_CHANGED)
            return settings

    # --- internals ---------------------------------------------------------------------------------------------

    @contextmanager
    def _write(self, wait: float | None = None) -> Iterator[None]:
        """Hold the lock for a write; the first one also creates the folder, migrates and tidies up."""
        if not self._ready:
            make_dir(self.root)  # before the lock, whose library would create a missing folder with its own mode
        with self._lock.hold(self.lock_timeout if wait is None else wait):
            if not self._ready:
                self.migrations_applied = migrate(self.layout)
                remove_temp_files(self.root)
                remove_temp_files(self.layout.chats)
                segments.sweep(self.layout.chats)
                self._index.check()
                self._ready = True
            yield

    def _note(self, kind: str, **fields: Any) -> None:
        self._journal.append(kind, **fields)

    def _create(self, name: str | None, meta: dict[str, Any], entries: dict[str, Entry]) -> ChatRecord:
        taken = names(entries)
        name = default_name(taken) if name is None else check_name(name, taken)
        now = now_iso()
        record = ChatRecord(id=new_id(), name=name, created=now, updated=now, meta=dict(meta))
        self._write_new(record)
        self._note(kinds.CHAT_CREATED, chat=record.id, name=name)
        return record

    def _append(self, chat: ChatRef, messages: list[tuple[MessageRecord, bool]], wait: float | None) -> None:
        with self._write(wait), self._chats.open(chat) as file:
            for record, id_given in messages:
                if id_given and file.has_message(record.id):
                    raise HistoryError(
                        _("Chat already has a message with id {id}; leave the id out to get a new one.").format(
                            id=record.id
                        )
                    )
            file.append([record for record, _given in messages])
            file.set_header(updated=now_iso())
            header = file.header()
        for record, _given in messages:
            self._note(kinds.MESSAGE_ADDED, chat=header["id"], name=header["name"], message=record.id)

    def _write_new(self, record: ChatRecord) -> None:
        with ChatFile(self.layout.chat_path(record.id), create=True).transaction() as file:
            file.write_new(record)
