"""`{name}` in a `%%chat` prompt: notebook variables and cells spliced into the text.

    {df}            str() of the variable `df` in the notebook's namespace
    {In[3]} {Out[3]}  the source of cell 3, the output of cell 3
    {cfg.name} {d['k']} {xs[-1]}  attribute and item lookups on a variable
    {{ and }}       a literal brace (export escapes prompts this way so they come back unchanged)

A placeholder whose first name is not defined is left as it is: prompts often contain code with braces
(`{a: 1}`, `f"{x}"`), and silently eating those would change the question. A lookup that fails on a defined
name (`{Out[99]}`) is the user's mistake and says so in one line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .i18n import _

__all__ = ["interpolate"]

_STEP = r"(?:\.[A-Za-z_]\w*|\[\s*(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\")\s*\])"
_TOKEN = re.compile(r"\{\{|\}\}|\{(?P<field>(?P<head>[A-Za-z_]\w*)" + _STEP + r"*)\}")
_STEPS = re.compile(_STEP)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """`text` with its placeholders replaced from `namespace`; ConfigError (one line) when a lookup fails."""
    return _TOKEN.sub(lambda match: _replace(match, namespace), text)


def _replace(match: re.Match[str], namespace: Mapping[str, Any]) -> str:
    token, field, head = match.group(0), match.group("field"), match.group("head")
    if field is None:
        return token[0]  # "{{" -> "{", "}}" -> "}"
    if head not in namespace:
        return token
    value = namespace[head]
    try:
        for step in _STEPS.findall(field, len(head)):
            value = _lookup(value, step)
        return str(value)
    except Exception as exc:  # noqa: BLE001 -- the user's own objects may fail in any way: report it, never a traceback
        text = _("Cannot fill in {field} in the prompt ({error}): fix it, or write {{{{ and }}}} for literal braces.")
        raise ConfigError(text.format(field=token, error=f"{type(exc).__name__}: {exc}")) from None


def _lookup(value: Any, step: str) -> Any:
    if step.startswith("."):
        return getattr(value, step[1:])
    key = ast.literal_eval(step[1:-1].strip())  # only ints and quoted strings reach here (see _STEP)
    return value[key]
