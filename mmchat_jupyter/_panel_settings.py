"""The panel's settings sheet, templates and exports: what they show and what a change does, as plain functions of
the session (widget.py only wires them to messages and traits)."""

from __future__ import annotations

from typing import Any

from . import _panel_state as state
from .errors import MMChatError
from .export import FORMATS, export_chat, normalise_format, safe_filename
from .i18n import _, get_language
from .providers import provider_class
from .session import ChatSession
from .templates import all_templates, apply_template

#: Settings the sheet can clear (back to the administrator's or the provider's default).
CLEARABLE = ("temperature", "max_tokens", "system")


def apply(session: ChatSession, chat_id: str, key: str, value: Any) -> None:
    """Change one setting from the panel: validated, saved as the default for the next panel and %%chat."""
    if value in (None, "") and key in CLEARABLE:
        if key in session.admin.locked:
            raise session.settings.locked_error(key)
        session.store.update_settings(**{key: None})
    elif key == "provider":
        value = session.set_default("provider", value)
        session.set_default("model", provider_class(value).default_model)
        if session.provider_name is not None:  # a panel opened with provider=... follows the switch
            session.provider_name, session.model = value, None
    else:
        value = session.set_default(key, value)
        if key == "model" and session.model is not None:
            session.model = value
    if key == "system":  # the chat's own system prompt would hide the new default: keep them the same
        session.store.update_chat_meta(chat_id, system=value or None)


def snapshot(session: ChatSession, chat_system: str | None) -> dict[str, Any]:
    """The traits of the settings sheet and the pickers; `settings` stays usable when resolving fails.

    Returns {providers, locked, templates, settings, error}: `error` is the MMChatError resolving raised, if any.
    """
    user = session.store.get_settings()
    shown = {"lang": get_language(), "system": chat_system or session.settings.get("system") or ""}
    result: dict[str, Any] = {
        "providers": state.provider_choices(session.admin),
        "locked": list(session.admin.locked),
        "templates": [{"name": name, "title": title, "text": text}
                      for name, (title, text) in all_templates(user.get("templates") or {}).items()],
        "settings": shown,
        "error": None,
    }
    try:
        name, params = session.resolve()
    except MMChatError as exc:  # e.g. a saved provider the administrator no longer allows: still switchable
        result["error"] = exc
        return result
    result["settings"] = {**shown, "provider": name, "model": params.model, "temperature": params.temperature,
                          "max_tokens": params.max_tokens}
    return result


def fill_template(session: ChatSession, name: str, text: str) -> str:
    user = session.store.get_settings().get("templates") or {}
    return apply_template(name, text, user)


def save_template(session: ChatSession, name: str, text: str) -> None:
    name = name.strip()
    if not name:
        raise MMChatError(_("A template needs a name: type one and press Save."))
    user = dict(session.store.get_settings().get("templates") or {})
    user[name] = text
    session.store.update_settings(templates=user)


def download(session: ChatSession, chat_id: str, format: str) -> dict[str, Any]:
    """The chat exported in `format`, as the fields of a `download` message."""
    fmt = normalise_format(format)
    record = session.store.get_chat(chat_id)
    return {
        "filename": safe_filename(record.name) + FORMATS[fmt][0],
        "mime": state.EXPORT_MIME.get(fmt, "text/plain"),
        "content": str(export_chat(record, fmt)),
    }
