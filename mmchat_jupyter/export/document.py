"""The lossless JSON export: every field history stores, under a format name and version.

    {"format": "mmchat-chat", "version": 1, "generator": "mmchat-jupyter 0.1.0",
     "chat": {"id", "name", "created", "updated", "meta", "messages": [{...every MessageRecord field...}]}}

Reading goes through `schema` (one set of rules for every import): a file that breaks them is an ExportError
naming the file and the field; a file from a newer format version asks for an upgrade instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..config import SECRET_SETTINGS
from ..errors import ExportError
from ..i18n import _
from ..types import ChatRecord
from . import schema
from .schema import FORMAT_NAME, FORMAT_VERSION


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
    # allow_nan=False: history never holds NaN or Infinity, and an export must stay standard JSON if it ever did.
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def without_secrets(value: Any) -> Any:
    """`value` with every key that names a credential dropped, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_SETTINGS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def from_json(text: str, source: str) -> ChatRecord:
    """The chat in a JSON export; ExportError (one line naming `source` and the field) when it must not be imported."""
    try:
        return schema.check(schema.parse(text))
    except schema.NewerFormat as newer:
        message = _("{file} is in chat format {version}, newer than this mmchat-jupyter reads ({supported}): upgrade.")
        raise ExportError(message.format(file=source, version=newer.version, supported=FORMAT_VERSION)) from None
    except schema.Invalid as invalid:
        raise malformed(source, str(invalid)) from None


def malformed(source: str, reason: str) -> ExportError:
    """The one line for a file that cannot be imported."""
    text = _("{file} is not a chat export we can import ({reason}); nothing was imported.")
    return ExportError(text.format(file=source, reason=reason))


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "from_json", "malformed", "to_json", "without_secrets"]
