"""Chats: list (search, paging), create, get (messages paged), rename or change the system prompt, delete, clear,
export in every format, import."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized

from ..types import ChatRecord, ChatSummary
from . import _bodies
from ._base import MMChatHandler
from ._service import message_view

#: Paging limits: rows of the chat list and messages of a chat per page.
PAGE_DEFAULT, PAGE_MAX = 50, 1000


def summary_view(chat: ChatSummary) -> dict[str, Any]:
    return {
        "id": chat.id,
        "name": chat.name,
        "created": chat.created,
        "updated": chat.updated,
        "message_count": chat.message_count,
        "last_provider": chat.last_provider,
        "last_model": chat.last_model,
    }


def chat_view(record: ChatRecord, limit: int | None = None, before: str | None = None) -> dict[str, Any]:
    """A chat with one page of its messages: the `limit` newest (before message `before`, when given).

    Pages run back from the newest, so a client shows the latest first and asks for older ones with `before`
    set to the oldest message it has; appends in the meantime do not shift a page.
    """
    messages = record.messages
    end = len(messages)
    if before is not None:
        end = next((i for i, message in enumerate(messages) if message.id == before), end)
    start = max(0, end - limit) if limit is not None else 0
    last = next((m for m in reversed(messages) if m.provider or m.model), None)
    return {
        "id": record.id,
        "name": record.name,
        "created": record.created,
        "updated": record.updated,
        "message_count": len(messages),
        "last_provider": last.provider if last else None,
        "last_model": last.model if last else None,
        "system": record.meta.get("system"),
        "messages": [message_view(message) for message in messages[start:end]],
        "has_more": start > 0,
    }


class ChatsHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        """The chats, newest first; `q` searches names and messages; `offset`/`limit` page."""
        query = self.get_argument("q", "")
        offset = self.query_int("offset", 0, 0, 10**9)
        limit = self.query_int("limit", PAGE_DEFAULT, 1, PAGE_MAX)
        rows = await self.run(self.service.list_chats, query)
        page = [{**summary_view(chat), **({"snippet": found} if found else {})}
                for chat, found in rows[offset: offset + limit]]
        self.send({"chats": page, "total": len(rows), "offset": offset, "limit": limit})

    @authorized
    async def post(self) -> None:
        """Create a chat."""
        body = self.body(_bodies.NEW_CHAT, empty_ok=True)
        record = await self.run(self.service.create_chat, body.get("name"), body.get("system"))
        self.set_header("Location", self.chat_url(record.id))
        self.send(chat_view(record), 201)

    def chat_url(self, chat_id: str) -> str:
        return f"{self.base_url}mmchat/api/v1/chats/{quote(chat_id)}"


class ChatHandler(MMChatHandler):
    @authorized
    async def get(self, chat: str) -> None:
        """The chat and its newest `limit` messages (before message `before`)."""
        limit = self.query_int("limit", 100, 1, PAGE_MAX)
        record = await self.run(self.service.get_chat, chat)
        self.send(chat_view(record, limit, self.get_argument("before", None)))

    @authorized
    async def patch(self, chat: str) -> None:
        """Rename the chat or change its system prompt."""
        body = self.body(_bodies.CHANGE_CHAT)
        clear_system = "system" in body and body["system"] is None
        record = await self.run(self.service.change_chat, chat, body.get("name"), body.get("system"), clear_system)
        self.send(chat_view(record, 0))

    @authorized
    async def delete(self, chat: str) -> None:
        """Delete the chat and its messages."""
        record = await self.run(self.service.delete_chat, chat)
        self.send({"id": record.id, "name": record.name, "deleted_messages": len(record.messages)})


class ClearHandler(MMChatHandler):
    @authorized
    async def post(self, chat: str) -> None:
        """Remove every message, keeping the chat."""
        record, removed = await self.run(self.service.clear_chat, chat)
        self.send({"id": record.id, "name": record.name, "deleted_messages": removed})


class ExportHandler(MMChatHandler):
    @authorized
    async def get(self, chat: str) -> None:
        """The chat as a file: `format` is ipynb, md, json, txt or html."""
        export = await self.run(self.service.export, chat, self.get_argument("format", "md"))
        # An attachment, never a page of this origin: an export holds model output.
        # filename*: the chat's own name (Cyrillic too); filename: an ASCII stand-in for older clients.
        plain = export.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        self.set_header("Content-Disposition",
                        f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(export.filename)}")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(export.content, set_content_type=export.media_type)


class ImportHandler(MMChatHandler):
    @authorized
    async def post(self) -> None:
        """Import a JSON export (the body); a taken name gets a free variant."""
        text = self.request.body.decode("utf-8", errors="replace")
        record = await self.run(self.service.import_chat, text)
        self.send(chat_view(record, 0), 201)
