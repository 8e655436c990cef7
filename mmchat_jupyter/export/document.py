"""The lossless JSON export: every field history stores, under a format name and version.

    {"format": "mmchat-chat", "version": 1, "generator": "mmchat-jupyter 0.1.0",
     "chat": {"id", "name", "created", "updated", "meta", "messages": [{...every MessageRecord field...}]}}

Reading checks the whole file before anything is imported: a wrong type anywhere is an ExportError that names
the file and the place, and a file from a newer format version asks for an upgrade instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from ..config import SECRET_SETTINGS
from ..errors import ExportError, HistoryError
from ..history.records import check_name
from ..i18n import _
from ..types import STATUS_COMPLETE, STATUS_ERROR, STATUS_INTERRUPTED, ChatRecord, MessageRecord

FORMAT_NAME = "mmchat-chat"
FORMAT_VERSION = 1

ROLES = ("system", "user", "assistant")
STATUSES = (STATUS_COMPLETE, STATUS_INTERRUPTED, STATUS_ERROR)

_OPTIONAL_STR = (str, type(None))
#: MessageRecord field -> the JSON types it may have. Timestamps and enumerations get a closer look below.
_MESSAGE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "role": (str,),
    "content": (str,),
    "created": (str,),
    "provider": _OPTIONAL_STR,
    "model": _OPTIONAL_STR,
    "params": (dict,),
    "usage": (dict, type(None)),
    "status": (str,),
    "finish_reason": _OPTIONAL_STR,
    "error": _OPTIONAL_STR,
    "cache_key": _OPTIONAL_STR,
}
_CHAT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "created": (str,),
    "updated": (str,),
    "meta": (dict,),
    "messages": (list,),
}


def to_json(chat: ChatRecord) -> str:
    """The chat as a JSON document (UTF-8 text, Cyrillic kept readable)."""
    from .. import __version__

    body = dataclasses.asdict(chat)
    body["meta"] = without_secrets(body["meta"])
    for message in body["messages"]:
        message["params"] = without_secrets(message["params"])
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": f"mmchat-jupyter {__version__}",
        "chat": body,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def without_secrets(value: Any) -> Any:
    """`value` with every key that names a credential dropped, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_SETTINGS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def from_json(text: str, source: str) -> ChatRecord:
    """The chat in a JSON export; ExportError (naming `source`) when the text is not one we can read."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _malformed(source, _("not JSON ({reason})").format(reason=exc)) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise _malformed(source, _("not an mmchat chat export"))
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _malformed(source, _("no valid format version"))
    if version > FORMAT_VERSION:
        text = _("{file} is in chat format {version}, newer than this mmchat-jupyter reads ({supported}): upgrade.")
        raise ExportError(text.format(file=source, version=version, supported=FORMAT_VERSION))
    chat = _check(document.get("chat"), _CHAT_FIELDS, "chat", source)
    try:
        check_name(chat["name"], taken=set())  # the store's own rule, checked before anything is imported
    except HistoryError as exc:
        raise _malformed(source, f"chat.name: {exc.message}") from None
    messages = []
    for index, message in enumerate(chat["messages"]):
        where = f"chat.messages[{index}]"
        _check(message, _MESSAGE_FIELDS, where, source)
        _check_message(message, where, source)
        messages.append(MessageRecord.from_dict(message))
    for field in ("created", "updated"):
        _check_time(chat[field], f"chat.{field}", source)
    return ChatRecord(
        id=chat["id"],
        name=chat["name"],
        created=chat["created"],
        updated=chat["updated"],
        messages=messages,
        meta=chat["meta"],
    )


def _check(value: Any, fields: dict[str, tuple[type, ...]], where: str, source: str) -> dict[str, Any]:
    """`value` itself once it is an object with `fields` of the right types."""
    if not isinstance(value, dict):
        raise _malformed(source, _("{where} is not an object").format(where=where))
    for name, types in fields.items():
        if name not in value:
            raise _malformed(source, _("{where}.{field} is missing").format(where=where, field=name))
        if not isinstance(value[name], types):
            raise _malformed(source, _("{where}.{field} has the wrong type").format(where=where, field=name))
    return value


def _check_message(message: dict[str, Any], where: str, source: str) -> None:
    if message["role"] not in ROLES:
        raise _malformed(source, _("{where}.role is not one of {choices}").format(where=where, choices=ROLES))
    if message["status"] not in STATUSES:
        raise _malformed(source, _("{where}.status is not one of {choices}").format(where=where, choices=STATUSES))
    usage = message["usage"]
    if usage is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in usage.values()):
        raise _malformed(source, _("{where}.usage holds something other than token counts").format(where=where))
    _check_time(message["created"], f"{where}.created", source)


def _check_time(value: str, where: str, source: str) -> None:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(source, _("{where} is not an ISO 8601 time").format(where=where)) from None


def _malformed(source: str, reason: str) -> ExportError:
    text = _("{file} is not a chat export we can import ({reason}); nothing was imported.")
    return ExportError(text.format(file=source, reason=reason))
