"""Request bodies: declared once, validated with one-line messages, and described in the OpenAPI document.

A body is a JSON object whose fields are declared here; anything else (not JSON, not an object, an unknown field,
a value of the wrong kind) is refused before the engine is asked, in the user's language. Generation settings
(temperature, max_tokens) are checked by the engine's own `coerce`, so the words are those `%chat set` uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._settings import coerce
from ..errors import ConfigError
from ..i18n import _

#: The largest prompt, system prompt or template the API takes, in characters (a whole book is about 1e6).
MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class Field:
    """One field of a body. `kind`: "text", "name" (one line of text), "number" or "whole" (a generation setting,
    checked by `config.coerce` under the field's own name), "bool", or "any" (a setting's value, checked by the
    engine)."""

    kind: str
    required: bool = False
    #: null is accepted (meaning "unset" where the endpoint says so).
    nullable: bool = False
    description: str = ""

    def schema(self) -> dict[str, Any]:
        kinds: dict[str, dict[str, Any]] = {
            "text": {"type": "string", "maxLength": MAX_TEXT},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "number": {"type": "number", "minimum": 0, "maximum": 2},
            "whole": {"type": "integer", "minimum": 1},
            "bool": {"type": "boolean"},
            "any": {"type": ["string", "number", "integer"]},
        }
        base = kinds[self.kind]
        if self.nullable:
            base = {**base, "type": [*_listed(base["type"]), "null"]}
        return {**base, "description": self.description} if self.description else base


Body = dict[str, Field]

TURN: Body = {
    "prompt": Field("text", required=True, description="The question (with a template: the text it wraps)."),
    "provider": Field("name", description="Provider for this turn (else the saved or configured default)."),
    "model": Field("name", description="Model for this turn."),
    "temperature": Field("number", description="Sampling temperature, 0 to 2."),
    "max_tokens": Field("whole", description="Answer length limit in tokens."),
    "system": Field("text", description="System prompt; saved as this chat's system prompt."),
    "template": Field("name", description="Wrap the prompt in this prompt template."),
}
REGENERATE: Body = {key: TURN[key] for key in ("provider", "model", "temperature", "max_tokens")}
NEW_CHAT: Body = {
    "name": Field("name", description="The chat's name (a free one is made up when left out)."),
    "system": Field("text", description="The chat's system prompt."),
}
CHANGE_CHAT: Body = {
    "name": Field("name", description="A new name."),
    "system": Field("text", nullable=True, description="A new system prompt; null removes it."),
}
TEMPLATE: Body = {"text": Field("text", required=True, description="The template; {input} marks where the text goes.")}


def parse(raw: bytes, body: Body, *, empty_ok: bool = False) -> dict[str, Any]:
    """The fields of a JSON request body, checked against `body`; ConfigError (one line) for anything wrong."""
    if not raw.strip():
        if empty_ok:
            data: Any = {}
        else:
            raise ConfigError(_("Send a JSON object in the request body."))
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ConfigError(_("The request body is not valid JSON ({reason}).").format(reason=reason)) from None
    if not isinstance(data, dict):
        raise ConfigError(_("Send a JSON object in the request body."))
    unknown = sorted(set(data) - set(body))
    if unknown:
        text = _("Unknown field {name!r}: use one of {choices}.")
        raise ConfigError(text.format(name=unknown[0], choices=", ".join(body) or "—"))
    for name, field in body.items():
        if field.required and data.get(name) is None:
            raise ConfigError(_("{field} is required.").format(field=name))
    return {name: check(name, body[name], value) for name, value in data.items()}


def check(name: str, field: Field, value: Any) -> Any:
    """`value` as `field` takes it; ConfigError naming the field otherwise."""
    if value is None:
        if field.nullable or not field.required:
            return None
    elif field.kind in ("text", "name"):
        if isinstance(value, str) and len(value) <= MAX_TEXT and (field.kind == "text" or _one_line(value)):
            return value
    elif field.kind in ("number", "whole"):
        if not isinstance(value, bool) and isinstance(value, (int, float)):
            return coerce(name, value)
    elif field.kind == "bool":
        if isinstance(value, bool):
            return value
    elif field.kind == "any" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    what = {
        "text": _("text"),
        "name": _("one line of text"),
        "number": _("a number from 0 to 2"),
        "whole": _("a whole number above 0"),
        "bool": _("true or false"),
        "any": _("text or a number"),
    }[field.kind]
    raise ConfigError(_("{key} must be {what}, not {value!r}.").format(key=name, what=what, value=_shown(value)))


def schema(body: Body) -> dict[str, Any]:
    """The JSON Schema of a body, for the OpenAPI document."""
    described: dict[str, Any] = {
        "type": "object",
        "properties": {name: field.schema() for name, field in body.items()},
        "additionalProperties": False,
    }
    required = [name for name, field in body.items() if field.required]
    return {**described, "required": required} if required else described


def _one_line(value: str) -> bool:
    return bool(value.strip()) and "\n" not in value and "\r" not in value and len(value) <= 200


def _shown(value: Any) -> Any:
    """A value as an error quotes it: long text cut, so that the message stays one short line."""
    if isinstance(value, str) and len(value) > 40:
        return value[:40] + "…"
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return value


def _listed(kind: str | list[str]) -> list[str]:
    return kind if isinstance(kind, list) else [kind]
