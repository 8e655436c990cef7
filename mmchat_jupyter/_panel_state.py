"""What the ChatPanel shows, as plain data for its traits: strings, messages, chat rows, provider choices. No widget
here, so it is easy to test and keeps widget.py about wiring (the answer in flight is `_panel_stream`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._format import excerpt, format_datetime
from .i18n import SUPPORTED, _, ngettext
from .render import render_markdown
from .types import FINISH_CONTENT_FILTER, FINISH_LENGTH, STATUS_ERROR, STATUS_INTERRUPTED, MessageRecord

if TYPE_CHECKING:
    from .session import ChatSession

log = logging.getLogger("mmchat_jupyter.widget")

#: Language names are shown in their own language, so they are not translated.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

#: Export format -> MIME type of the download.
EXPORT_MIME = {
    "md": "text/markdown",
    "json": "application/json",
    "ipynb": "application/x-ipynb+json",
    "txt": "text/plain",
    "html": "text/html",
}


def ui_strings() -> dict[str, str]:
    """Every string the front end shows, in the current language (the one catalog is Python's)."""
    return {
        "auto": _("auto"),
        "cancel": _("Cancel"),
        "chats": _("Chats"),
        "clear": _("Clear"),
        "clear_chat": _("Clear chat"),
        "clear_confirm": _("Remove every message of this chat?"),
        "copied": _("Copied"),
        "copy": _("Copy answer (Markdown)"),
        "copy_code": _("Copy code"),
        "copy_failed": _("Copy failed: select the text and copy it by hand"),
        "delete": _("Delete"),
        "dismiss": _("Dismiss"),
        # shown when the kernel is already gone, so it travels with the others, in advance
        "disconnected": _("The kernel restarted or stopped, so this panel is disconnected: run its cell again."),
        "empty": _("Ask anything. Enter sends, Shift+Enter starts a new line."),
        "lang": _("Language"),
        "max_tokens": _("Max answer length (tokens)"),
        "model": _("Model"),
        "more": _("Export and more"),
        "new_chat": _("New chat"),
        "no_chats": _("No chats found"),
        "placeholder": _("Message…"),
        "provider": _("Provider"),
        "regenerate": _("Regenerate answer"),
        "rename": _("Rename chat"),
        "save": _("Save"),
        "save_defaults": _("Save as defaults"),
        "save_defaults_hint": _("Use these choices in new panels, and in %%chat in other notebooks too"),
        "saved": _("Saved"),
        "save_template": _("Save input as a template"),
        "search_chats": _("Search chats"),
        "send": _("Send"),
        "settings": _("Settings"),
        "stop": _("Stop"),
        "system": _("System prompt"),
        "system_placeholder": _("How the assistant should behave, for every question in this chat"),
        "temperature": _("Temperature (0–2)"),
        "template_name": _("Template name"),
        "templates": _("Templates"),
        "thinking": _("Waiting for the answer"),
        "top_p": _("Top P (0–1)"),
    }


def languages() -> list[dict[str, str]]:
    return [{"code": code, "label": LANGUAGE_NAMES.get(code, code)} for code in SUPPORTED]


def export_formats() -> list[dict[str, str]]:
    """The formats the export module offers, labelled for the menu."""
    from .export import FORMATS

    labels = {
        "md": _("Export as Markdown"),
        "json": _("Export as JSON"),
        "ipynb": _("Export as a notebook"),
        "txt": _("Export as plain text"),
        "html": _("Export as a web page"),
    }
    return [{"id": fmt, "label": labels.get(fmt, fmt)} for fmt in FORMATS]


def provider_choices(session: ChatSession, models: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The providers the administrator allows, each with its models (`models` holds the lists fetched from the
    servers so far; the others show their known models). Unconfigured ones are labelled so; broken plugins are
    left out (`session.providers.problems()` says why)."""
    choices = []
    allowed_models = session.admin.allowed_models
    for status in session.providers.list():
        if not status.allowed or status.error:
            continue
        cls = session.providers.provider_class(status.name)
        label = status.label if status.configured else _("{label} (not set up)").format(label=status.label)
        names = models.get(status.name) or list(cls.known_models) or [cls.default_model]
        allowed = allowed_models.get(status.name)
        choices.append({"name": status.name, "label": label,
                        "models": [m for m in names if not allowed or m in allowed]})
    return choices


class MessageViews:
    """Stored messages as the front end shows them; answer HTML is cached per message and content."""

    def __init__(self) -> None:
        self._html: dict[str, tuple[str, str]] = {}

    def remember(self, message_id: str, text: str, html: str) -> None:
        """Cache HTML rendered elsewhere (the streaming renderer's final render) to skip rendering it again."""
        self._html[message_id] = (text, html)

    def html(self, record: MessageRecord) -> str:
        cached = self._html.get(record.id)
        if cached is None or cached[0] != record.content:
            cached = self._html[record.id] = (record.content, render_markdown(record.content))
        return cached[1]

    def keep(self, ids: Iterable[str]) -> None:
        """Forget the HTML of every message but these (those the front end still shows)."""
        self._html = {message_id: self._html[message_id] for message_id in ids if message_id in self._html}

    def view(self, record: MessageRecord) -> dict[str, Any]:
        if record.role == "user":
            return {"id": record.id, "role": "user", "text": record.content}
        meta = " · ".join(part for part in (record.provider, record.model) if part)
        if record.usage and record.usage.get("total_tokens"):
            count = record.usage["total_tokens"]
            meta += " · " + ngettext("{n} token", "{n} tokens", count).format(n=count)
        return {
            "id": record.id,
            "role": "assistant",
            "text": record.content,
            "html": self.html(record),
            "status": record.status,
            "meta": meta,
            "badge": badge(record),
            "error": record.error,
        }


def badge(record: MessageRecord) -> str:
    """The mark on an answer that did not simply complete ("" when it did)."""
    if record.status == STATUS_INTERRUPTED:
        return _("Interrupted")  # the same word as %%chat's footer and the exports
    if record.status == STATUS_ERROR:
        return _("Failed")
    if record.finish_reason == FINISH_CONTENT_FILTER:
        return _("Filtered by the provider")
    if record.finish_reason == FINISH_LENGTH:
        return _("Cut at the length limit")
    return ""


def chat_rows(session: ChatSession, search: str) -> list[dict[str, str]]:
    """The drawer's rows: every chat, or those whose name or messages contain `search`. `detail` is the message
    count (or the matching text), `when` the whole date and time of the last change: each has a line of its own."""
    needle = search.strip()
    rows: dict[str, dict[str, str]] = {}
    for chat in session.chats.list():
        if needle.casefold() in chat.name.casefold():
            detail = ngettext("{n} message", "{n} messages", chat.message_count).format(n=chat.message_count)
            rows[chat.id] = {**_row(chat.id, chat.name, detail), "when": format_datetime(chat.updated)}
    if needle:
        for hit in session.chats.search(needle, limit=200):
            rows.setdefault(hit.chat_id, _row(hit.chat_id, hit.chat_name, excerpt(hit.message.content, needle, 60)))
    return list(rows.values())


def _row(chat_id: str, name: str, detail: str) -> dict[str, str]:
    prompt = _("Delete chat “{name}” and all its messages? This cannot be undone.").format(name=name)
    return {"id": chat_id, "name": name, "detail": detail, "delete_prompt": prompt}

