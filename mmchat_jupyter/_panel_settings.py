"""The panel's settings sheet, templates and exports: what they show and what a change does, through the engine's
API only (widget.py wires them to messages and traits).

A choice made in the panel (provider, model, temperature, any option the provider declares) holds for this
panel's session — and so for `%%chat` in the same kernel when the panel shares its session — but not for other
notebooks: "Save as defaults" saves the session's choices for every later session. The language is a user-wide
preference and is saved at once; the system prompt belongs to the chat.
"""

from __future__ import annotations

from typing import Any

from . import _panel_state as state
from .export import FORMATS, normalise_format, safe_filename
from .i18n import get_language
from .session import ChatSession

#: Options every provider takes under these names; any other is one of the provider's own ("PROVIDER.NAME").
COMMON = ("temperature", "max_tokens", "top_p")


def apply(session: ChatSession, chat_id: str, key: str, value: Any) -> None:
    """Change one setting from the panel; validated (a ConfigError line names what is valid)."""
    value = None if value == "" else value
    if key == "system":
        session.chats.set_system(chat_id, value)
    elif key == "lang":
        session.settings.set("lang", value)
    elif key in ("provider", "model", *COMMON):
        session.choose(key, value)
    else:
        session.choose(f"{session.resolve()[0]}.{key}", value)


def save_defaults(session: ChatSession) -> None:
    """Save this session's choices as the defaults of every later panel, `%%chat` and `Chat`."""
    choices = session.choices
    if choices.get("provider") is not None:
        session.settings.set("provider", choices["provider"])
    for provider, model in (choices.get("models") or {}).items():
        session.settings.set(f"{provider}.model", model)
    for key in COMMON:
        if key in choices:
            session.settings.set(key, choices[key])
    for provider, options in (choices.get("options") or {}).items():
        for name, value in options.items():
            session.settings.set(f"{provider}.{name}", value)


def snapshot(session: ChatSession, chat_system: str | None) -> dict[str, Any]:
    """The settings sheet and the pickers: {settings, locked, templates}. `settings` holds provider, model,
    lang, system, and `options`: the provider's declared options with their current values."""
    values = {setting.key: setting.value for setting in session.settings.all()}
    provider = values["provider"]
    options = []
    for spec in session.providers.options(provider):
        if spec.name == "model":
            continue
        value = values.get(spec.name if spec.name in COMMON else f"{provider}.{spec.name}")
        options.append({**spec.as_dict(), "value": value, "accepts": spec.accepts()})
    return {
        "settings": {"provider": provider, "model": values["model"], "lang": get_language(), "options": options,
                     "system": chat_system or values.get("system") or ""},
        "locked": list(session.admin.locked),
        "templates": [{"name": t.name, "title": t.title, "text": t.text} for t in session.templates.list()],
    }


def download(session: ChatSession, chat_id: str, format: str) -> dict[str, Any]:
    """The chat exported in `format`, as the fields of a `download` message."""
    fmt = normalise_format(format)
    return {
        "filename": safe_filename(session.chats.info(chat_id).name) + FORMATS[fmt][0],
        "mime": state.EXPORT_MIME.get(fmt, "text/plain"),
        "content": str(session.chats.export(chat_id, fmt)),
    }
