"""HistoryStore: the chat history that every kernel, panel and `mmchat` command of a user shares.

Every public method takes the store lock (one writer at a time across processes and threads, see `lock.py`), reads
what it needs fresh from disk and writes whole files atomically (`storage.py`), so a second kernel sees the first
one's writes on its next call, and a kill at any moment loses at most the write in flight. An append rewrites
only its chat's file; the index behind `list_chats()` catches up lazily (`index.py`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from ..errors import ChatNotFound, CorruptHistoryError, HistoryError
from ..i18n import _
from ..types import STATUS_COMPLETE, ChatRecord, ChatSummary, MessageRecord, now_iso
from .chatfile import MESSAGE_FIELDS, ChatFile
from .index import ChatIndex, Entry, newest_first, to_summary
from .lock import store_lock
from .migrations import SCHEMA_VERSION, migrate
from .paths import Layout, default_root, is_id, make_dir, new_id
from .records import ROLES, check_name, default_name, jsonable, new_message
from .storage import AtomicJSONStorage, fsync_dir, remove_temp_files

#: A chat as the API accepts it: the record, or its id or name.
ChatRef = ChatRecord | str


@dataclass(frozen=True)
class SearchHit:
    """One message found by `HistoryStore.search()`."""

    chat_id: str
    chat_name: str
    message: MessageRecord


@dataclass(frozen=True)
class UsageTotal:
    """Tokens used on one UTC day with one provider and model, summed over the stored messages that report usage."""

    day: str
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    messages: int


class HistoryStore:
    """The chat history under `root` (default: `$MMCHAT_HOME`, else `<jupyter data dir>/mmchat`).

    Opening a store creates the folder (0700) if needed, migrates older data once (with a backup) and removes
    temp files left by killed writers. Any number of stores, in any number of processes and threads, may use the
    same root at once. Methods taking a chat accept a `ChatRecord` or a chat's id or name.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0) -> None:
        # Absolute, so a later chdir in the notebook does not move the history.
        self.root = (Path(root).expanduser() if root is not None else default_root()).absolute()
        self.layout = Layout(self.root)
        make_dir(self.root)
        self._lock = store_lock(self.layout.lock, lock_timeout)
        self._index = ChatIndex(self.layout)
        with self._lock:
            #: Names of the migrations this open applied (empty when the data was current).
            self.migrations_applied: list[str] = migrate(self.layout)
            remove_temp_files(self.root)
            remove_temp_files(self.layout.chats)

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.root)!r})"

    # --- chats -------------------------------------------------------------------------------------------------

    def create_chat(self, name: str | None = None, **meta: Any) -> ChatRecord:
        """Create an empty chat; without a name it gets a readable unique one such as "chat-2026-11-24-1".

        `meta` holds chat-level settings (system prompt, ...). Raises `ChatNameTaken` if the name is in use.
        """
        with self._lock:
            taken = _names(self._index.refresh())
            name = default_name(taken) if name is None else check_name(name, taken)
            now = now_iso()
            record = ChatRecord(id=new_id(), name=name, created=now, updated=now, meta=dict(meta))
            self._write_new(record)
        return record

    def list_chats(self) -> list[ChatSummary]:
        """Every readable chat, most recently updated first (a damaged chat file is left out with a warning)."""
        with self._lock:
            entries = self._index.refresh()
        return [to_summary(e) for e in sorted(_readable(entries), key=newest_first)]

    def get_chat(self, chat: ChatRef) -> ChatRecord:
        """The chat with all its messages, oldest first."""
        with self._lock, self._open(chat) as file:
            return file.record()

    def rename_chat(self, chat: ChatRef, new_name: str) -> ChatRecord:
        """Give a chat a new name; raises `ChatNameTaken` if another chat has it."""
        with self._lock:
            entries = self._index.refresh()
            chat_id = self._resolve(chat, entries)
            name = check_name(new_name, _names(entries, but=chat_id))
            with self._open(chat_id) as file:
                file.set_header(name=name)
                return file.record()

    def update_chat_meta(self, chat: ChatRef, **changes: Any) -> dict[str, Any]:
        """Change chat-level settings (system prompt, ...); a value of None removes the key. Returns the new `meta`."""
        with self._lock, self._open(chat) as file:
            meta = dict(file.header().get("meta") or {})
            meta.update(changes)
            meta = {key: value for key, value in meta.items() if value is not None}
            file.set_header(meta=meta)
            return meta

    def delete_chat(self, chat: ChatRef) -> None:
        """Delete a chat and its messages."""
        with self._lock:
            path = self.layout.chat_path(self._resolve(chat))
            path.unlink()
            fsync_dir(path.parent)

    def clear_chat(self, chat: ChatRef) -> int:
        """Remove every message of a chat, keeping the chat; returns how many were removed."""
        with self._lock, self._open(chat) as file:
            removed = file.clear()
            file.set_header(updated=now_iso())
            return removed

    def import_chat(self, record: ChatRecord, *, name: str | None = None) -> ChatRecord:
        """Write a whole chat in one atomic write, keeping its timestamps; returns the stored record.

        The chat and its messages get new ids (an export imported twice must not share them). `name` (default
        `record.name`) must be free: use `unique_name()` to pick one.
        """
        messages = [new_message(message, {"id": None})[0] for message in record.messages]
        with self._lock:
            chosen = check_name(record.name if name is None else name, _names(self._index.refresh()))
            now = now_iso()
            created = record.created or now
            updated = record.updated or max([created, *(m.created for m in messages)])
            stored = ChatRecord(new_id(), chosen, created, updated, messages, dict(record.meta))
            self._write_new(stored)
        return stored

    def unique_name(self, base: str) -> str:
        """`base` if no chat has that name, else the first free of "base-2", "base-3", ..."""
        with self._lock:
            taken = _names(self._index.refresh())
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
        with self._lock, self._open(chat) as file:
            if id_given and file.has_message(record.id):
                raise HistoryError(
                    _("Chat already has a message with id {id}; leave the id out to get a new one.").format(
                        id=record.id
                    )
                )
            file.append(record)
            file.set_header(updated=now_iso())
        return record.id

    def update_message(self, chat: ChatRef, message_id: str, **fields: Any) -> MessageRecord:
        """Change fields of a stored message (content as a streamed answer grows, then status, usage, ...).

        Returns the updated record.
        """
        unknown = set(fields) - (MESSAGE_FIELDS - {"id"})
        if unknown:
            raise TypeError(f"update_message() got fields it cannot change: {', '.join(sorted(unknown))}")
        changes = jsonable(fields)
        if "role" in changes and changes["role"] not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {changes['role']!r}")
        with self._lock, self._open(chat) as file:
            updated = file.update(message_id, changes)
            if updated is None:
                raise HistoryError(
                    _("Chat {chat} has no message {id}; it may have been cleared or deleted.").format(
                        chat=file.header().get("name"), id=message_id
                    )
                )
            file.set_header(updated=now_iso())
            return updated

    def search(self, text: str, *, limit: int | None = None) -> list[SearchHit]:
        """Messages whose content contains `text` (ignoring case), newest chats first, oldest message first."""
        needle = text.casefold()
        hits: list[SearchHit] = []
        with self._lock:
            entries = sorted(_readable(self._index.refresh()), key=newest_first)
            for entry in entries:
                with self._open(entry["id"]) as file:
                    messages = file.messages()
                for message in messages:
                    if needle in message.content.casefold():
                        hits.append(SearchHit(entry["id"], entry["name"], message))
                        if limit is not None and len(hits) >= limit:
                            return hits
        return hits

    def find_cached(self, cache_key: str) -> MessageRecord | None:
        """The newest complete answer stored with `cache_key` (for `%%chat --cache`), or None.

        The index keeps each chat's cache keys, so only a chat that has the key is opened.
        """
        with self._lock:
            entries = sorted(_readable(self._index.refresh()), key=newest_first)
            for entry in entries:
                if cache_key not in entry.get("cache", ()):
                    continue
                with self._open(entry["id"]) as file:
                    for message in reversed(file.messages()):
                        if message.cache_key == cache_key and message.status == STATUS_COMPLETE:
                            return message
        return None

    def usage_totals(self) -> list[UsageTotal]:
        """Token usage per (UTC day, provider, model) over every stored message, oldest day first.

        Served from the index, so it reads only the chats changed since the last call.
        """
        with self._lock:
            entries = self._index.refresh()
        totals: dict[tuple[str, str | None, str | None], list[int]] = {}
        for entry in _readable(entries):
            for day, provider, model, *counts in entry["usage"]:
                sums = totals.setdefault((day, provider, model), [0, 0, 0, 0])
                for i, count in enumerate(counts):
                    sums[i] += count
        ordered = sorted(totals.items(), key=lambda item: tuple(part or "" for part in item[0]))
        return [UsageTotal(*key, *sums) for key, sums in ordered]

    def problems(self) -> list[CorruptHistoryError]:
        """Every damaged file in the history (for `mmchat doctor`); empty when all is well."""
        found = []
        with self._lock:
            for entry in self._index.refresh().values():
                if entry.get("damaged"):
                    found.append(CorruptHistoryError(entry["damaged"], path=str(self.layout.chat_path(entry["id"]))))
            try:
                self.get_settings()
            except CorruptHistoryError as err:
                found.append(err)
        return found

    # --- settings ----------------------------------------------------------------------------------------------

    def get_settings(self) -> dict[str, Any]:
        """The persisted settings (default provider and model, generation params per provider, language, ...)."""
        with self._lock:
            return {row["key"]: row["value"] for row in self._settings_table().all()}

    def update_settings(self, **changes: Any) -> dict[str, Any]:
        """Change settings in one atomic write; a value of None removes the key. Returns the new settings."""
        json.dumps(changes)  # a value that cannot be stored fails here, with nothing written
        with self._lock:
            table = self._settings_table()
            setting = Query()
            with table.storage.batch():
                for key, value in changes.items():
                    if value is None:
                        table.remove(setting.key == key)
                    else:
                        table.upsert({"key": key, "value": value}, setting.key == key)
                return {row["key"]: row["value"] for row in table.all()}

    # --- internals ---------------------------------------------------------------------------------------------

    def _settings_table(self) -> Any:
        db = TinyDB(self.layout.settings, storage=AtomicJSONStorage, schema=SCHEMA_VERSION, create=True)
        return db.table("settings", cache_size=0)

    def _write_new(self, record: ChatRecord) -> None:
        with ChatFile(self.layout.chat_path(record.id), create=True).transaction() as file:
            file.write_new(record)

    def _direct_id(self, chat: ChatRef) -> str | None:
        """The id when `chat` is a record or the id of an existing chat; None when it must be a name."""
        if isinstance(chat, ChatRecord):
            return chat.id
        if not isinstance(chat, str):
            raise TypeError(f"a chat is a ChatRecord, an id or a name, not {type(chat).__name__}")
        return chat if is_id(chat) and self.layout.chat_path(chat).exists() else None

    def _resolve(self, chat: ChatRef, entries: dict[str, Entry] | None = None) -> str:
        """The id of an existing chat given as a record, an id or a name; raises `ChatNotFound`."""
        chat_id = self._direct_id(chat)
        if chat_id is not None and self.layout.chat_path(chat_id).exists():
            return chat_id
        if isinstance(chat, str):
            for entry in (entries if entries is not None else self._index.refresh()).values():
                if entry.get("name") == chat.strip():
                    return str(entry["id"])
        raise self._not_found(chat)

    @contextmanager
    def _open(self, chat: ChatRef) -> Iterator[ChatFile]:
        """The chat's file, read once and written once (if changed) when the block ends; under the lock."""
        for chat_id, expected_name in self._candidates(chat):
            file = ChatFile(self.layout.chat_path(chat_id))
            with file.transaction():
                try:
                    # Validates the file before anything changes it, and checks an id guessed from a name.
                    header = file.header()
                except FileNotFoundError:
                    continue
                if expected_name is None or header["name"] == expected_name:
                    yield file
                    return
        raise self._not_found(chat)

    def _candidates(self, chat: ChatRef) -> Iterator[tuple[str, str | None]]:
        """Ids the chat may have, each with the name its file must show (None when the id is certain).

        A name is first looked up in the index as last saved, without the refresh that stats every chat: appends
        by name stay as cheap as appends by id. A rename in another kernel can make that guess wrong, which the
        file's header shows; only then is the index refreshed.
        """
        chat_id = self._direct_id(chat)
        if chat_id is not None:
            yield chat_id, None
            return
        name = chat.strip()  # type: ignore[union-attr]  # _direct_id let only a str through
        for entry in self._index.saved().values():
            if entry.get("name") == name:
                yield entry["id"], name
        yield self._resolve(chat), None

    def _not_found(self, chat: ChatRef) -> ChatNotFound:
        if isinstance(chat, ChatRecord):
            chat = chat.name
        return ChatNotFound(
            _(
                "No chat {chat!r} in the history at {root}; it may have been renamed or deleted — list the chats "
                "to see the names."
            ).format(chat=chat, root=self.root)
        )


def _readable(entries: dict[str, Entry]) -> list[Entry]:
    """The rows of chats that can be read; each damaged one is reported (once per kernel, by `warnings`)."""
    readable = []
    for entry in entries.values():
        if entry.get("damaged"):
            warnings.warn(entry["damaged"], RuntimeWarning, stacklevel=3)
        else:
            readable.append(entry)
    return readable


def _names(entries: dict[str, Entry], but: str | None = None) -> set[str]:
    """Names in use (damaged chats keep theirs), except chat `but`'s."""
    return {e["name"] for e in entries.values() if e.get("name") is not None and e["id"] != but}
