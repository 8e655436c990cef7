"""What the server API asks of the engine, in one place: the only module of `mmchat_jupyter.server` that imports it.

Every call goes through `ChatSession` and the engine's own helpers (export, templates, settings), never around them,
so the API validates, saves and reports exactly as `%%chat`, the panel and `mmchat` do. Calls here are synchronous
(the history is files under a cross-process lock); handlers run them in a worker thread, except the turn, which is
the engine's async path on the server's loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..config import SETTING_KEYS, MMChat, load_admin_config
from ..errors import ConfigError, MMChatError
from ..export import FORMATS, export_chat, import_chat, normalise_format, safe_filename
from ..export.document import from_json
from ..history import Changes, HistoryStore
from ..i18n import _
from ..providers import Provider, list_providers, provider_class
from ..session import ChatSession, Turn
from ..templates import BUILTIN, all_templates, apply_template
from ..types import ChatRecord, ChatSummary, MessageRecord

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

    One per server: a Jupyter Server belongs to one user, so one history root and one administrator's policy.
    A turn runs in the chat's own `ChatSession`, kept for the server's life so its provider connections are reused.
    """

    def __init__(self, store: HistoryStore | None = None, admin: MMChat | None = None) -> None:
        self.store = store or HistoryStore()
        self.admin = admin or load_admin_config()
        self._sessions: dict[str, ChatSession] = {}
        self._providers: dict[str, Provider] = {}
        #: chat id -> the task streaming a turn in it (at most one per chat).
        self._running: dict[str, asyncio.Task[Turn]] = {}
        self._language: str | None = None
        self._language_stamp: tuple[int, int] | None = None

    # -- chats ----------------------------------------------------------------------------------------------------

    def list_chats(self, query: str = "") -> list[tuple[ChatSummary, str | None]]:
        """Every chat (newest first), or those whose name or messages contain `query`, each with a snippet of the
        first message that matched (None when the name did)."""
        chats = self.store.list_chats()
        needle = query.strip().casefold()
        if not needle:
            return [(chat, None) for chat in chats]
        found: dict[str, str | None] = {chat.id: None for chat in chats if needle in chat.name.casefold()}
        for hit in self.store.search(query.strip(), limit=1000):
            found.setdefault(hit.chat_id, snippet(hit.message.content, query.strip()))
        return [(chat, found[chat.id]) for chat in chats if chat.id in found]

    def create_chat(self, name: str | None, system: str | None) -> ChatRecord:
        return self.store.create_chat(name, **({"system": system} if system else {}))

    def get_chat(self, chat: str) -> ChatRecord:
        return self.store.get_chat(chat)

    def change_chat(self, chat: str, name: str | None, system: str | None, clear_system: bool) -> ChatRecord:
        record = self.store.get_chat(chat)
        if name is not None and name != record.name:
            record = self.store.rename_chat(record.id, name)
        if system is not None or clear_system:
            record.meta = self.store.update_chat_meta(record.id, system=system or None)
        return record

    def delete_chat(self, chat: str) -> ChatRecord:
        record = self.store.get_chat(chat)
        self.store.delete_chat(record.id)
        self._sessions.pop(record.id, None)
        return record

    def clear_chat(self, chat: str) -> tuple[ChatRecord, int]:
        record = self.store.get_chat(chat)
        return record, self.store.clear_chat(record.id)

    def export(self, chat: str, format: str) -> Export:
        fmt = normalise_format(format)
        record = self.store.get_chat(chat)
        content = export_chat(record, fmt)
        assert isinstance(content, str)  # no path given: the content itself
        return Export(content, safe_filename(record.name) + FORMATS[fmt][0], MEDIA_TYPES[fmt])

    def import_chat(self, text: str) -> ChatRecord:
        return import_chat(from_json(text, source=_("the request body")), store=self.store)

    # -- turns ----------------------------------------------------------------------------------------------------

    def known_session(self, chat: str) -> ChatSession | None:
        """The session of a chat given by the id of an earlier turn here, without reading the history (a chat deleted
        since is found missing when the turn starts, before anything is saved)."""
        return self._sessions.get(chat)

    def session(self, chat: str) -> ChatSession:
        """The chat's session (ChatNotFound when there is no such chat)."""
        record = self.store.get_chat(chat)
        session = self._sessions.get(record.id)
        if session is None:
            session = ChatSession(store=self.store, admin=self.admin)
            # One provider instance (one connection pool, one TLS context) for every chat's session: making them
            # per chat costs ~40 ms per first turn. Goes away with the engine's `asend(chat=...)`.
            session.providers._instances = self._providers
            session.use_chat(record.id, create=False)
            self._sessions[record.id] = session
        return session

    def prompt(self, text: str, template: str | None) -> str:
        """The prompt a turn sends: `text`, wrapped in `template` when one is named (as `%%chat --template`)."""
        if template:
            text = apply_template(template, text, self.store.get_settings().get("templates"))
        if not text.strip():
            raise ConfigError(_("Write the question: the prompt is empty."))
        return text

    async def run_turn(
        self, chat_id: str, session: ChatSession, work: Callable[[], Awaitable[Turn]]
    ) -> asyncio.Task[Turn]:
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
        record = self.store.get_chat(chat)
        task = self._running.get(record.id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    # -- providers, settings, templates, usage ---------------------------------------------------------------------

    def providers(self) -> list[dict[str, Any]]:
        settings = ChatSession(store=self.store, admin=self.admin)
        default, params = settings.resolve()
        effective = settings.settings
        rows = []
        for name in list_providers():
            allowed = not self.admin.allowed_providers or name in self.admin.allowed_providers
            try:
                cls = provider_class(name)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the list down
                log.warning("provider %r cannot be loaded: %s", name, exc)
                continue
            source = (_("none needed") if not cls.credential_env
                      else effective.credential_source(name, cls.credential_env))
            models = list(cls.known_models) or [cls.default_model]
            only = self.admin.allowed_models.get(name)
            rows.append({
                "name": name,
                "label": cls.label,
                "configured": not cls.credential_env or effective.configured(name),
                "credentials": source,
                "allowed": allowed,
                "default": name == default,
                "default_model": params.model if name == default else cls.default_model,
                "models": [m for m in models if not only or m in only],
            })
        return rows

    def models(self, provider: str) -> tuple[list[str], str | None]:
        """The provider's models (asked from the server when it is configured, as `%chat models`) and the default."""
        session = ChatSession(store=self.store, admin=self.admin)
        name, params = session.resolve(provider)
        return session.providers.models(name), params.model

    def settings(self) -> dict[str, Any]:
        effective = ChatSession(store=self.store, admin=self.admin).settings
        saved = self.store.get_settings()
        return {
            "effective": {key: effective.get(key) for key in SETTING_KEYS},
            "saved": {key: saved[key] for key in SETTING_KEYS if key in saved},
            "locked": [key for key in SETTING_KEYS if key in self.admin.locked],
        }

    def change_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Save defaults as `%chat set` does; every value is checked before any is saved."""
        session = ChatSession(store=self.store, admin=self.admin)
        checked = {key: session.settings.check(key, value)[2] for key, value in changes.items()}
        for key, value in checked.items():
            session.set_default(key, value)
        return self.settings()

    def templates(self) -> list[dict[str, str]]:
        user = dict(self.store.get_settings().get("templates") or {})
        return [{"name": name, "title": title, "text": text, "origin": "user" if name in user else "builtin"}
                for name, (title, text) in all_templates(user).items()]

    def save_template(self, name: str, text: str) -> None:
        user = dict(self.store.get_settings().get("templates") or {})
        user[name] = text
        self.store.update_settings(templates=user)

    def remove_template(self, name: str) -> None:
        user = dict(self.store.get_settings().get("templates") or {})
        if name not in user:
            text = (_("{name!r} is a built-in template and cannot be removed.") if name in BUILTIN
                    else _("No template of yours is called {name!r} (%chat templates lists them)."))
            raise ConfigError(text.format(name=name))
        del user[name]
        self.store.update_settings(templates=user)

    def usage(self) -> list[Any]:
        return self.store.usage_totals()

    def change_seq(self) -> int:
        """The history's change journal position: one stat(), cheap enough to poll."""
        return self.store.change_seq()

    def changes(self, since: int) -> Changes:
        """The history's changes after `since`, from every process and face."""
        return self.store.changes(since)

    def saved_language(self) -> str | None:
        """The user's saved language; the settings file is read again only when it changed (one stat per request:
        every answer needs the language, and a locked history must not hold every request up)."""
        stamp = self.settings_stamp()
        if stamp != self._language_stamp:
            self._language = self.store.get_settings().get("lang")
            self._language_stamp = stamp
        return self._language

    def settings_stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.store.layout.settings)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def language_known(self) -> bool:
        """Whether `saved_language()` can answer without reading the settings."""
        return self._language_stamp is not None and self.settings_stamp() == self._language_stamp


def snippet(text: str, needle: str, width: int = 80) -> str:
    """A one-line excerpt of `text` around the first match of `needle`."""
    flat = " ".join(text.split())
    at = max(flat.casefold().find(needle.casefold()), 0)
    start = max(at - width // 3, 0)
    excerpt = flat[start: start + width]
    return ("…" if start else "") + excerpt + ("…" if start + width < len(flat) else "")


def message_view(record: MessageRecord) -> dict[str, Any]:
    """A stored message as the API shows it (the cache key is internal)."""
    view = record.to_dict()
    view.pop("cache_key", None)
    return view


def turn_view(turn: Turn) -> dict[str, Any]:
    """The answer a turn produced, in the shape of a stored message, from the turn itself (not re-read)."""
    return {
        "id": turn.assistant_id,
        "role": "assistant",
        "content": turn.text,
        "provider": turn.provider,
        "model": turn.model,
        "params": turn.params.as_dict(),
        "usage": turn.usage.as_dict() if turn.usage else None,
        "status": turn.status,
        "finish_reason": turn.finish_reason,
        "error": turn.error,
        "cached": turn.cached,
    }
