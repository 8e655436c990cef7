"""How a chat given as a record, an id or a name becomes its file, for reads and writes alike.

Reads take no lock, so a chat may be renamed, cleared or deleted by another process while it is being found:
a name is checked against the header of the file it led to, and a read whose older segments moved under it is
read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from ..errors import ChatNotFound
from ..i18n import _
from ..types import ChatRecord, ChatSummary
from . import segments
from .chatfile import ChatFile
from .index import ChatIndex, Entry
from .paths import Layout, is_id
from .storage import damaged

T = TypeVar("T")

#: A chat as the API accepts it: the record, a row of `list_chats()`, or its id or name.
ChatRef = ChatRecord | ChatSummary | str


class ChatLookup:
    """Finds and opens the chats of one history root."""

    def __init__(self, layout: Layout, index: ChatIndex) -> None:
        self.layout = layout
        self._index = index

    def direct_id(self, chat: ChatRef) -> str | None:
        """The id when `chat` is a record or the id of an existing chat; None when it must be a name."""
        if isinstance(chat, (ChatRecord, ChatSummary)):  # a record, or a row of list_chats()
            return chat.id
        if not isinstance(chat, str):
            raise TypeError(f"a chat is a ChatRecord, a ChatSummary, an id or a name, not {type(chat).__name__}")
        return chat if is_id(chat) and self.layout.chat_path(chat).exists() else None

    def resolve(self, chat: ChatRef, entries: dict[str, Entry] | None = None) -> str:
        """The id of an existing chat given as a record, an id or a name; raises `ChatNotFound`."""
        chat_id = self.direct_id(chat)
        if chat_id is not None and self.layout.chat_path(chat_id).exists():
            return chat_id
        if isinstance(chat, str):
            for entry in (entries if entries is not None else self._index.refresh()).values():
                if entry.get("name") == chat.strip():
                    return str(entry["id"])
        raise self.not_found(chat)

    def header_record(self, chat: ChatRef) -> ChatRecord:
        """The chat's header as a record with no messages (nothing but the header is read)."""
        with self.open(chat) as file:
            info = file.header()
        return ChatRecord(info["id"], info["name"], info["created"], info["updated"], [], info["meta"])

    def reading(self, chat: ChatRef, read: Callable[[ChatFile], T]) -> T:
        """`read(file)` of the chat, without the lock: a chat cleared or deleted under the read is read again."""
        for _attempt in range(5):
            try:
                with self.open(chat) as file:
                    return read(file)
            except segments.Moved:
                continue
        path = self.layout.chat_path(self.resolve(chat))
        raise damaged(path, _("its older messages keep changing or are missing"))

    @contextmanager
    def open(self, chat: ChatRef) -> Iterator[ChatFile]:
        """The chat's file, read once; written at the end of the block only if a writer changed it (under the
        store lock: only writers change it)."""
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
        raise self.not_found(chat)

    def not_found(self, chat: ChatRef) -> ChatNotFound:
        if isinstance(chat, (ChatRecord, ChatSummary)):
            chat = chat.name
        return ChatNotFound(
            _(
                "No chat {chat!r} in the history at {root}; it may have been renamed or deleted — list the chats "
                "to see the names."
            ).format(chat=chat, root=self.layout.root)
        )

    def _candidates(self, chat: ChatRef) -> Iterator[tuple[str, str | None]]:
        """Ids the chat may have, each with the name its file must show (None when the id is certain).

        A name is first looked up in the index as last saved, without the refresh that stats every chat: appends
        by name stay as cheap as appends by id. A rename in another kernel can make that guess wrong, which the
        file's header shows; only then is the index refreshed.
        """
        chat_id = self.direct_id(chat)
        if chat_id is not None:
            yield chat_id, None
            return
        name = chat.strip()  # type: ignore[union-attr]  # direct_id let only a str through
        for entry in self._index.saved().values():
            if entry.get("name") == name:
                yield entry["id"], name
        yield self.resolve(chat), None
