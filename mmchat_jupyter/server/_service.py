"""What the server API asks of the engine, in one place: the only module of `mmchat_jupyter.server` that calls it.

Every call goes through the server's one `ChatSession` and its facets (`chats`, `settings`, `providers`,
`templates`, turns with `chat=`), never around them, so the API validates, saves and reports exactly as `%%chat`,
the panel and `mmchat` do. Calls here are synchronous (the history is files under a cross-process lock); handlers
run them in a worker thread, except the turn, which is the engine's async path on the server's loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._format import excerpt
from ..errors import ConfigError, MMChatError
from ..export import FORMATS, normalise_format, safe_filename
from ..export.document import from_json
from ..i18n import _
from ..session import ChatSession, Turn, saved_language
from ..types import ChatRecord, ChatSummary, MessageRecord
from ._changes import Changes

log = logging.getLogger("mmchat_jupyter.server")

#: Export format -> media type of the download.
MEDIA_TYPES = {
    "ipynb": "application/x-ipynb+json",
    "md": "text/markdown; charset=UTF-8",
    "json": "application/json; charset=UTF-8",
    "txt": "text/plain; charset=UTF-8",
    "html": "text/html; charset=UTF-8",
}


@dataclass(frozen=True)
class Export:
    content: str
    filename: str
    media_type: str


class TurnBusy(MMChatError):
    """A turn is already streaming in this chat on this server."""


class Service:
    """The user's chats, settings and turns, as the server API sees them.

    One per server, over one `ChatSession` (a Jupyter Server belongs to one user: one history, one administrator's
    policy, one provider connection pool). Turns name their chat (`asend(chat=...)`); the session's own choices stay
    empty, so each request's options sit on top of the user's saved settings, as a cell's do.
    """

    def __init__(self, session: ChatSession | None = None) -> None:
        self.session = session or ChatSession(language=False)  # a server serves many languages: see _base.py
        #: chat id -> the task streaming a turn in it (at most one per chat).
        self._running: dict[str, asyncio.Task[Turn]] = {}
        #: id -> header of the chats turns were asked in: a turn's chat needs no read of the history.
        self._chats: dict[str, ChatRecord] = {}
        self._language: str | None = None
        self._language_stamp: tuple[int, int] | None = None

    # -- chats ----------------------------------------------------------------------------------------------------

    def list_chats(self, query: str = "") -> list[tuple[ChatSummary, str | None]]:
        """Every chat (newest first), or those whose name or messages contain `query`, each with a snippet of the
        first message that matched (None when the name did)."""
        text = query.strip()
        chats = self.session.chats.list(text or None)
        if not text:
            return [(chat, None) for chat in chats]
        hits: dict[str, str] = {}
        for hit in self.session.chats.search(text, limit=1000):
            hits.setdefault(hit.chat_id, excerpt(hit.message.content, text))
        return [(chat, None if text.casefold() in chat.name.casefold() else hits.get(chat.id)) for chat in chats]

    def create_chat(self, name: str | None, system: str | None) -> ChatRecord:
        return self.session.chats.create(name, system=system or None)

    def get_chat(self, chat: str) -> ChatRecord:
        return self.session.chats.get(chat)

    def change_chat(self, chat: str, name: str | None, system: str | None, clear_system: bool) -> ChatRecord:
        record = self.session.chats.get(chat)
        if name is not None and name != record.name:
            self.session.chats.rename(record.id, name)
        if system is not None or clear_system:
            self.session.chats.set_system(record.id, system or None)
        return self.session.chats.get(record.id)

    def delete_chat(self, chat: str) -> ChatRecord:
        record = self.session.chats.delete(chat)
        self._chats.pop(record.id, None)
        return record

    def clear_chat(self, chat: str) -> tuple[ChatRecord, int]:
        record = self.session.chats.get(chat)
        return record, self.session.chats.clear(record.id)

    def export(self, chat: str, format: str) -> Export:
        fmt = normalise_format(format)
        record = self.session.chats.get(chat)
        content = self.session.chats.export(record, fmt)
        assert isinstance(content, str)  # no path given: the content itself
        return Export(content, safe_filename(record.name) + FORMATS[fmt][0], MEDIA_TYPES[fmt])

    def import_chat(self, text: str) -> ChatRecord:
        (imported,) = self.session.chats.import_records([from_json(text, source=_("the request body"))])
        return imported.chat

    # -- turns ----------------------------------------------------------------------------------------------------

    def known_chat(self, chat: str) -> ChatRecord | None:
        """The chat (a header) of an earlier turn here, by its id, without reading the history."""
        return self._chats.get(chat)

    def turn_chat(self, chat: str) -> ChatRecord:
        """The chat a turn goes to, given by id or name, as a record: the engine then never creates a chat for a
        name or id it does not find (ChatNotFound, before anything is saved; a chat deleted since included)."""
        found = self.session.chats.get(chat)
        header = self._chats[found.id] = ChatRecord(found.id, found.name, found.created, found.updated, [],
                                                    dict(found.meta))
        return header

    def prompt(self, text: str, template: str | None) -> str:
        """The prompt a turn sends: `text`, wrapped in `template` when one is named (as `%%chat --template`)."""
        if template:
            text = self.session.templates.apply(template, text)
        if not text.strip():
            raise ConfigError(_("Write the question: the prompt is empty."))
        return text

    async def run_turn(self, chat_id: str, work: Callable[[], Awaitable[Turn]]) -> asyncio.Task[Turn]:
        """Start `work` (the session's `asend`) as the chat's one running turn; TurnBusy when one already runs."""
        running = self._running.get(chat_id)
        if running is not None and not running.done():
            raise TurnBusy(_("An answer is still streaming in this chat: stop it or wait for it to finish."))
        task: asyncio.Task[Turn] = asyncio.ensure_future(work())
        self._running[chat_id] = task
        task.add_done_callback(lambda done: self._running.pop(chat_id, None) if self._running.get(chat_id) is done
                               else None)
        return task

    def stop(self, chat: str) -> bool:
        """Stop the turn streaming in `chat` on this server; True if there was one. The partial answer is kept."""
        return self.session.stop(self.session.chats.get(chat).id)

    # -- providers, settings, templates, usage ---------------------------------------------------------------------

    def providers(self) -> list[dict[str, Any]]:
        default, params = self.session.resolve()
        rows = []
        for status in self.session.providers.list():
            models: list[str] = []
            default_model = None
            if status.error is None:
                cls = self.session.providers.provider_class(status.name)
                models = list(cls.known_models) or [cls.default_model]
                default_model = params.model if status.name == default else cls.default_model
                only = self.session.admin.allowed_models.get(status.name)
                models = [m for m in models if not only or m in only]
            rows.append({
                "name": status.name,
                "label": status.label,
                "configured": status.configured,
                "credentials": status.source,
                "allowed": status.allowed,
                "default": status.name == default,
                "default_model": default_model,
                "models": models,
                "error": status.error,
            })
        return rows

    def models(self, provider: str) -> tuple[list[str], str | None]:
        """The provider's models (asked from its server where it can list them, as `%chat models`) and the default."""
        name, params = self.session.resolve(provider)
        return self.session.providers.models(name), params.model

    def settings(self) -> dict[str, Any]:
        every = self.session.settings.all()
        return {
            "effective": {s.key: s.value for s in every},
            "saved": {s.key: s.value for s in every if s.source == "user"},
            "sources": {s.key: s.where() for s in every},
            "locked": [s.key for s in every if s.key in self.session.admin.locked],
        }

    def change_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Save defaults as `%chat set` does; every value is checked before any is saved."""
        settings = self.session.settings
        for key, value in changes.items():
            settings.check(key, value)
        for key, value in changes.items():
            settings.set(key, value)
        return self.settings()

    def templates(self) -> list[dict[str, str]]:
        return [{"name": t.name, "title": t.title, "text": t.text, "origin": "builtin" if t.builtin else "user"}
                for t in self.session.templates.list()]

    def save_template(self, name: str, text: str) -> None:
        self.session.templates.add(name, text)

    def remove_template(self, name: str) -> None:
        self.session.templates.remove(name)

    def usage(self) -> list[Any]:
        return self.session.usage()

    # -- the change feed and the user's language ------------------------------------------------------------------

    def change_seq(self) -> int:
        """The history's change journal position: one stat(), cheap enough to poll."""
        return self.session.chats.change_seq()

    def changes(self, since: int) -> Changes:
        """The history's changes after `since`, from every process and face."""
        return self.session.chats.changes(since)

    def saved_language(self) -> str | None:
        """The user's saved language; the settings file is read again only when it changed (one stat per request:
        every answer needs the language, and a locked history must not hold every request up)."""
        stamp = self.settings_stamp()
        if stamp != self._language_stamp:
            self._language = saved_language()
            self._language_stamp = stamp
        return self._language

    def settings_stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.session.chats.root / "settings.json")
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def language_known(self) -> bool:
        """Whether `saved_language()` can answer without reading the settings."""
        return self._language_stamp is not None and self.settings_stamp() == self._language_stamp


def message_view(record: MessageRecord) -> dict[str, Any]:
    """A stored message as the API shows it (the cache key is internal)."""
    view = record.to_dict()
    view.pop("cache_key", None)
    return view


def turn_view(turn: Turn) -> dict[str, Any]:
    """The answer a turn produced, in the shape of a stored message, from the turn itself (not re-read)."""
    return {"id": turn.assistant_id, **turn.as_message(), "cached": turn.cached}
