"""What callers hand the store, checked and completed: chat names and message records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from ..errors import ChatNameTaken, HistoryError
from ..i18n import _
from ..types import Message, MessageRecord, now_iso
from .paths import new_id
from .storage import encode_json

MAX_NAME_LENGTH = 200
MESSAGE_FIELDS = frozenset(f.name for f in fields(MessageRecord))
ROLES = ("system", "user", "assistant")


def check_name(name: str, taken: set[str]) -> str:
    """`name` cleaned up, if it is a usable name that no other chat has."""
    if not isinstance(name, str):
        raise TypeError(f"a chat name is a str, not {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise HistoryError(_("A chat name cannot be empty; give it at least one visible character."))
    if len(clean) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in clean):
        raise HistoryError(_("A chat name must be a single line of at most {n} characters.").format(n=MAX_NAME_LENGTH))
    if clean in taken:
        raise ChatNameTaken(
            _("A chat named {name!r} already exists; choose another name or rename that chat first.").format(name=clean)
        )
    return clean


def default_name(taken: set[str]) -> str:
    """The first free "chat-<today>-<n>", n from 1 (the local date: it is what the user sees)."""
    # TRANSLATORS: the start of a default chat name such as "chat-2026-11-24-1": one lowercase word, no spaces.
    prefix = f"{_('chat')}-{date.today().isoformat()}"
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Message fields as stored: `Usage` and `GenerationParams` objects become their dicts."""
    return {key: value.as_dict() if hasattr(value, "as_dict") else value for key, value in changes.items()}


def row_of(message: MessageRecord) -> dict[str, Any]:
    """A record as a stored row: `to_dict()` without `dataclasses.asdict`'s deep recursion, a fifth of an append's
    time (the nested dicts, params and usage, are copied one level, which is all they have)."""
    row = dict(vars(message))
    for key in ("params", "usage"):
        if isinstance(row[key], dict):
            row[key] = dict(row[key])
    return row


def new_message(
    message: MessageRecord | Message | Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> tuple[MessageRecord, bool]:
    """A complete record from what `append_message` was given, with an id and `created` filled in when missing;
    and whether the caller gave the id (which must then be checked for uniqueness)."""
    if isinstance(message, MessageRecord):
        data = row_of(message)
    elif isinstance(message, Message):  # the public type a provider takes: role and content
        data = {"role": message.role, "content": message.content}
    elif isinstance(message, Mapping) or message is None:
        data = dict(message or {})
    else:
        raise TypeError(f"a message is a MessageRecord, a Message or a mapping, not {type(message).__name__}")
    data.update(overrides)
    unknown = set(data) - MESSAGE_FIELDS
    if unknown:
        raise TypeError(f"unknown message fields: {', '.join(sorted(unknown))}")
    if data.get("role") not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {data.get('role')!r}")
    if not isinstance(data.get("content"), str):
        raise TypeError("a message's content must be a str")
    id_given = bool(data.get("id"))
    data["id"] = data.get("id") or new_id()
    data["created"] = data.get("created") or now_iso()
    return MessageRecord(**jsonable(data)), id_given


def message_changes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What `update_message` was given, checked and as stored; a value that cannot be stored fails here, before
    anything is written."""
    unknown = set(fields) - (MESSAGE_FIELDS - {"id"})
    if unknown:
        raise TypeError(f"update_message() got fields it cannot change: {', '.join(sorted(unknown))}")
    changes = jsonable(fields)
    if "role" in changes and changes["role"] not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {changes['role']!r}")
    encode_json(changes)
    return changes


#: What each stored message field must hold: (type, may it be None).
_ROW_TYPES: dict[str, tuple[type, bool]] = {
    "id": (str, False),
    "role": (str, False),
    "content": (str, False),
    "created": (str, False),
    "provider": (str, True),
    "model": (str, True),
    "params": (dict, False),
    "usage": (dict, True),
    "status": (str, False),
    "finish_reason": (str, True),
    "error": (str, True),
    "cache_key": (str, True),
}
_REQUIRED = ("id", "role", "content", "created")


def row_problem(row: Any) -> str | None:
    """What is wrong with a stored message row (a hand edit, bit rot), in words; None when it is usable."""
    if not isinstance(row, dict):
        return _("it is not a mapping")
    for key in _REQUIRED:
        if key not in row:
            return _("field {field!r} is missing").format(field=key)
    for key, value in row.items():
        rule = _ROW_TYPES.get(key)
        if rule is None or isinstance(value, rule[0]) or (value is None and rule[1]):
            continue
        if rule[0] is str:
            text = _("field {field!r} should be text, not {value}")
        else:
            text = _("field {field!r} should be a mapping, not {value}")
        return text.format(field=key, value=_shown(value))
    if row["role"] not in ROLES:
        text = _("field 'role' should be one of {roles}, not {value}")
        return text.format(roles=", ".join(ROLES), value=_shown(row["role"]))
    usage = row.get("usage")
    if usage and not all(isinstance(n, int) and not isinstance(n, bool) for n in usage.values()):
        return _("field 'usage' should hold whole numbers, not {value}").format(value=_shown(usage))
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
