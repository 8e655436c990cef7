"""The one schema a chat export must pass before anything of it reaches history.

An export file is input from anywhere (a colleague, a hand edit, an attacker), and what it holds is replayed later
into prompts, listings, exports and the panel. So every value is checked here, once, for everything later code
assumes: types, ranges, sizes, nesting depth, real dates, finite numbers, valid Unicode, no unknown fields.
A value that cannot be trusted rejects the whole file with one line naming the field; what is merely unusual is
normalised (timestamps to UTC, credentials dropped), so an accepted file imports into a chat that works like any
other. NaN and Infinity never get past the parser, so they can never be written to history.

    parse(text) -> document                    JSON, strictly: no NaN/Infinity, no duplicate keys, bounded depth
    check(document) -> ChatRecord              the schema; raises Invalid(field, reason)
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, NoReturn

from .._redact import mask_credentials
from ..config import SECRET_SETTINGS
from ..errors import HistoryError
from ..history.records import MAX_NAME_LENGTH, check_name
from ..i18n import _
from ..types import STATUS_COMPLETE, STATUS_ERROR, STATUS_INTERRUPTED, ChatRecord, MessageRecord

FORMAT_NAME = "mmchat-chat"
FORMAT_VERSION = 1

ROLES = ("system", "user", "assistant")
STATUSES = (STATUS_COMPLETE, STATUS_INTERRUPTED, STATUS_ERROR)
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")

#: Limits no real chat comes near; they bound what one hostile file can make us hold, write and re-read.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_MESSAGES = 200_000
MAX_CONTENT = 32 * 1024 * 1024
MAX_SHORT = 200  # ids, provider and model names, finish reasons
MAX_ERROR = 4000
MAX_DEPTH = 16  # inside meta and params
MAX_FREE_VALUES = 1000  # keys and items inside meta or one message's params
MAX_TOKENS = 10**12
#: The JSON decoder recurses once per level; deeper documents are refused before they could exhaust the stack.
MAX_JSON_DEPTH = 64

_TOP_FIELDS = {"format", "version", "generator", "chat"}
_CHAT_FIELDS = {"id", "name", "created", "updated", "meta", "messages"}
_MESSAGE_FIELDS = {
    "id", "role", "content", "created", "provider", "model", "params", "usage", "status", "finish_reason", "error",
    "cache_key",
}
_OPTIONAL = {"provider", "model", "usage", "finish_reason", "error", "cache_key", "params"}
#: Generation parameters that later code reads, with their ranges.
_PARAM_RANGES: dict[str, tuple[float, float]] = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


class Invalid(Exception):
    """A field of the document is not acceptable: `field` is its path (`chat.messages[3].created`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}" if field else reason)
        self.field, self.reason = field, reason


class NewerFormat(Exception):
    """The file is in a format version this release does not know."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _fail(field: str, reason: str) -> NoReturn:
    raise Invalid(field, reason)


def parse(text: str) -> Any:
    """The JSON document in `text`; Invalid for anything a strict parser would refuse."""
    if _nesting(text) > MAX_JSON_DEPTH:
        _fail("", _("nested more than {n} levels deep").format(n=MAX_JSON_DEPTH))

    def no_constants(name: str) -> NoReturn:
        _fail("", _("{value} is not a JSON number").format(value=name))

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            keys = [key for key, _value in pairs]
            _fail(next(key for key in keys if keys.count(key) > 1), _("appears twice in one object"))
        return result

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, Invalid):
            raise
        _fail("", _("not JSON ({reason})").format(reason=exc))


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped (a cheap scan ahead of the recursive decoder)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def check(document: Any) -> ChatRecord:
    """The chat in a parsed export document, normalised; Invalid (or NewerFormat) when it must not be imported."""
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        _fail("format", _("not an mmchat chat export"))
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail("version", _("no valid format version"))
    if version > FORMAT_VERSION:
        raise NewerFormat(version)
    _only(document, _TOP_FIELDS, "")
    if "generator" in document:
        _text(document["generator"], "generator", MAX_SHORT)
    chat = _object(document.get("chat"), "chat", _CHAT_FIELDS, required=_CHAT_FIELDS)
    name = _text(chat["name"], "chat.name", MAX_NAME_LENGTH * 4)
    try:
        name = check_name(name, taken=set())  # the store's own rule
    except HistoryError as exc:
        _fail("chat.name", exc.message)
    messages = chat["messages"]
    if not isinstance(messages, list):
        _fail("chat.messages", _("is not a list"))
    if len(messages) > MAX_MESSAGES:
        _fail("chat.messages", _("holds more than {n} messages").format(n=MAX_MESSAGES))
    records = [_message(message, f"chat.messages[{index}]") for index, message in enumerate(messages)]
    return ChatRecord(
        id=_short(chat["id"], "chat.id"),
        name=name,
        created=_time(chat["created"], "chat.created"),
        updated=_time(chat["updated"], "chat.updated"),
        messages=records,
        meta=_meta(chat["meta"]),
    )


def _message(value: Any, where: str) -> MessageRecord:
    message = _object(value, where, _MESSAGE_FIELDS, required=_MESSAGE_FIELDS - _OPTIONAL)
    role = message["role"]
    if role not in ROLES:
        _fail(f"{where}.role", _("is not one of {choices}").format(choices=", ".join(ROLES)))
    status = message.get("status", STATUS_COMPLETE)
    if status not in STATUSES:
        _fail(f"{where}.status", _("is not one of {choices}").format(choices=", ".join(STATUSES)))
    error = message.get("error")
    return MessageRecord(
        id=_short(message["id"], f"{where}.id"),
        role=role,
        content=_text(message["content"], f"{where}.content", MAX_CONTENT),
        created=_time(message["created"], f"{where}.created"),
        provider=_optional_short(message.get("provider"), f"{where}.provider"),
        model=_optional_short(message.get("model"), f"{where}.model"),
        params=_params(message.get("params", {}), f"{where}.params"),
        usage=_usage(message.get("usage"), f"{where}.usage"),
        status=status,
        finish_reason=_optional_short(message.get("finish_reason"), f"{where}.finish_reason"),
        # A failure message may quote what a server said: no credential comes back in through it.
        error=None if error is None else mask_credentials(_text(error, f"{where}.error", MAX_ERROR)),
        cache_key=_optional_short(message.get("cache_key"), f"{where}.cache_key"),
    )


def _object(value: Any, where: str, allowed: set[str], *, required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(where, _("is not an object"))
    missing = sorted(required - value.keys())
    if missing:
        _fail(f"{where}.{missing[0]}", _("is missing"))
    _only(value, allowed, where)
    return value


def _only(value: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(value.keys() - allowed)
    if unknown:
        field = f"{where}.{unknown[0]}" if where else unknown[0]
        _fail(field, _("is not a field of this format version"))


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        _fail(where, _("is not a string"))
    if len(value) > limit:
        _fail(where, _("is longer than {n} characters").format(n=limit))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(where, _("holds a lone surrogate (not valid Unicode)"))
    return value


def _short(value: Any, where: str) -> str:
    text = _text(value, where, MAX_SHORT)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        _fail(where, _("holds control characters"))
    return text


def _optional_short(value: Any, where: str) -> str | None:
    return None if value is None else _short(value, where)


def _time(value: Any, where: str) -> str:
    """An ISO 8601 time, as UTC with an offset (what history writes); a time without an offset is taken as UTC."""
    text = _short(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(where, _("is not an ISO 8601 time"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:
        _fail(where, _("is out of range"))
    if not 1970 <= moment.year <= 9998:  # later code adds and subtracts hours and days: keep room on both sides
        _fail(where, _("is out of range"))
    return moment.isoformat()


def _usage(value: Any, where: str) -> dict[str, int] | None:
    if value is None:
        return None
    usage = _object(value, where, set(USAGE_KEYS), required=set())
    for key, count in usage.items():
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_TOKENS:
            _fail(f"{where}.{key}", _("is not a token count"))
    return dict(usage)


def _params(value: Any, where: str) -> dict[str, Any]:
    params = _free(value, where)
    if not isinstance(params, dict):
        _fail(where, _("is not an object"))
    for key, (low, high) in _PARAM_RANGES.items():
        number = params.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                                   or not low <= number <= high):
            _fail(f"{where}.{key}", _("is not a number from {low} to {high}").format(low=low, high=high))
    tokens = params.get("max_tokens")
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or not 0 < tokens <= MAX_TOKENS):
        _fail(f"{where}.max_tokens", _("is not a token count"))
    if params.get("model") is not None:
        _short(params["model"], f"{where}.model")
    return params


def _meta(value: Any) -> dict[str, Any]:
    meta = _free(value, "chat.meta")
    if not isinstance(meta, dict):
        _fail("chat.meta", _("is not an object"))
    system = meta.get("system")
    if system is not None:
        _text(system, "chat.meta.system", MAX_CONTENT)
    return meta


def _free(value: Any, where: str) -> Any:
    """A free-form JSON value (meta, params) within the limits, credentials left out at any depth."""
    budget = [MAX_FREE_VALUES]

    def walk(item: Any, path: str, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            _fail(where, _("holds more than {n} values").format(n=MAX_FREE_VALUES))
        if depth > MAX_DEPTH:
            _fail(path, _("is nested more than {n} levels deep").format(n=MAX_DEPTH))
        if isinstance(item, dict):
            return {key: walk(v, f"{path}.{key}", depth + 1) for key, v in item.items()
                    if _text(key, path, MAX_SHORT) not in SECRET_SETTINGS}
        if isinstance(item, list):
            return [walk(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item)]
        if isinstance(item, str):
            return _text(item, path, MAX_CONTENT)
        if isinstance(item, float) and not math.isfinite(item):  # e.g. 1e999 parses as inf
            _fail(path, _("is not a finite number"))
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**63:
            _fail(path, _("is out of range"))
        return item

    return walk(value, where, 0)
