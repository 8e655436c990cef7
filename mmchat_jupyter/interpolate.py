"""`{name}` in a `%%chat` prompt: notebook variables and cells spliced into the text.

    {df}            str() of the variable `df` in the notebook's namespace
    {In[3]} {Out[3]}  the source of cell 3, the output of cell 3
    {cfg.name} {d['k']} {xs[-1]}  attribute and item lookups on a variable
    {{ and }}       a literal brace (export escapes prompts this way so they come back unchanged)

Placeholders are filled in only in prose: never inside code (``` fences, `code spans`) or math (`$…$`, `$$…$$`,
`\\(…\\)`, `\\[…\\]`, `\begin{env}…\\end{env}`, found as the renderer finds them), where braces are syntax
(`$\\mathbf{x}$` stays as written even when `x` is defined). A placeholder whose first name is not defined is left
as it is: prose too may contain braces, and silently eating those would change the question. A lookup that fails
on a defined name (`{Out[99]}`) is the user's mistake and says so in one line. `escape(text)` is the inverse:
what to write so that `interpolate` gives `text` back (exports use it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError
from .i18n import _
from .render._delimiters import closing, opener, single_dollar

__all__ = ["escape", "interpolate", "verbatim_spans"]

_STEP = r"(?:\.[A-Za-z_]\w*|\[\s*(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\")\s*\])"
_TOKEN = re.compile(r"\{\{|\}\}|\{(?P<field>(?P<head>[A-Za-z_]\w*)" + _STEP + r"*)\}")
_STEPS = re.compile(_STEP)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
_BACKTICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def verbatim_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every code fence, code span and formula in `text`, in order: what `{name}` never touches."""
    spans: list[tuple[int, int]] = []
    at = 0
    while (fence := _FENCE.search(text, at)) is not None:
        spans += _inline_spans(text, at, fence.start())
        marker = fence.group(1)
        close = re.compile(rf"^ {{0,3}}{marker[0]}{{{len(marker)},}}[ \t]*$", re.M)
        line_end = text.find("\n", fence.end())
        closed = close.search(text, line_end + 1) if line_end >= 0 else None
        at = closed.end() if closed is not None else len(text)
        spans.append((fence.start(), at))
    return spans + _inline_spans(text, at, len(text))


def _inline_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Code spans and formulas in text[start:end] (prose between fences); none crosses a blank line."""
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        char = text[pos]
        if char not in "`$\\":
            pos += 1
            continue
        blank = _BLANK_LINE.search(text, pos, end)
        limit = blank.start() if blank is not None else end
        stop = None
        if char == "`":
            run = _BACKTICKS.match(text, pos)
            assert run is not None
            closer = re.compile(rf"(?<!`){run.group(0)}(?!`)")
            found = closer.search(text, run.end(), limit)
            stop = found.end() if found is not None else None
            if stop is None:
                pos = run.end()  # unmatched backticks are text
                continue
        elif (delimiter := opener(text, pos)) is not None:
            found_math = closing(text, pos + len(delimiter), limit, delimiter)
            stop = found_math[0] if found_math is not None else None
        elif char == "$":
            stop = single_dollar(text, pos, limit)
        elif text.startswith(("\\{", "\\}"), pos):  # an escaped brace is LaTeX or Markdown, never a placeholder
            stop = pos + 2
        if stop is None:
            pos += 2 if char == "\\" else 1
            continue
        spans.append((pos, stop))
        pos = stop
    return spans


def _prose(text: str, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to the prose between its verbatim spans."""
    out, at = [], 0
    for start, end in verbatim_spans(text):
        out += [change(text[at:start]), text[start:end]]
        at = end
    out.append(change(text[at:]))
    return "".join(out)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """`text` with its placeholders replaced from `namespace`; ConfigError (one line) when a lookup fails."""
    return _prose(text, lambda prose: _TOKEN.sub(lambda match: _replace(match, namespace), prose))


def escape(text: str) -> str:
    """What to write in a `%%chat` cell so that it asks exactly `text`: braces in prose doubled."""
    return _prose(text, lambda prose: prose.replace("{", "{{").replace("}", "}}"))


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
