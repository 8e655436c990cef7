"""The ipynb export: a notebook that shows the conversation when opened and continues it when run.

    [markdown]  # chat name, what the notebook is
    [code]      %load_ext mmchat_jupyter
    [code]      %%chat -c "chat name" -p provider -m model     one cell per question; its saved output is the
                question text, braces doubled                  answer (text/html, text/markdown, text/plain)

Each cell pins the provider and model that answered, so running it again takes the same route. Prompts are
escaped so that the magic hands the provider exactly the text that was asked: `{`/`}` are doubled (`%%chat`
fills in `{name}` placeholders), a final newline is doubled (the magic drops the one IPython adds), and the chat
name is quoted for the magic's option parser (which takes its line verbatim, so `$` and `{` need nothing).

The notebook is safe to open anywhere, trusted or not: an answer's saved output is the sanitized HTML of
`render_markdown` (which JupyterLab and nbconvert prefer), with Markdown made inert by `safe_markdown` (for viewers
that prefer Markdown) and plain text; Markdown cells are inert the same way. So "Trust Notebook" runs nothing from
an answer and no answer fetches anything. The JSON is written here (nbformat's own layout: sorted keys, one-space
indent, multi-line strings as lists of lines) rather than by nbformat, whose import alone costs most of a second.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from ..i18n import _
from ..render import render_markdown
from ..types import ChatRecord, MessageRecord
from .safe_markdown import escape_markdown, safe_markdown
from .transcript import notes, title

#: Option values that need no quoting for a shell-like parser.
_BARE = re.compile(r"[\w@%+=:,./-]+")


def quote(value: str) -> str:
    """`value` as one shell-like word: bare when safe, else double-quoted with `\\` and `"` escaped."""
    if _BARE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def option(flag: str, value: str) -> str:
    """A short option and its value; a value that looks like an option is attached (`-c-x`) so argparse takes it."""
    return f"{flag}{quote(value)}" if value.startswith("-") else f"{flag} {quote(value)}"


def escape_prompt(prompt: str) -> str:
    """The cell body that `%%chat` turns back into `prompt`: braces in prose doubled so no placeholder is filled
    in (code and math are never interpolated, so they stay as written)."""
    from ..interpolate import escape

    return escape(prompt)


def chat_cell_source(chat_name: str, prompt: str, answer: MessageRecord | None) -> str:
    """`%%chat` with the chat, provider and model options, then the escaped prompt."""
    options = [option("-c", chat_name)]
    if answer is not None and answer.provider:
        options.append(option("-p", answer.provider))
        if answer.model:
            options.append(option("-m", answer.model))
    # The magic drops the one newline IPython ends every cell body with; a prompt that ends with a newline of
    # its own needs a second one to keep it.
    ending = "\n" if prompt.endswith("\n") else ""
    return f"%%chat {' '.join(options)}\n{escape_prompt(prompt)}{ending}"


def turns(chat: ChatRecord) -> list[tuple[MessageRecord | None, MessageRecord | None]]:
    """(question, answer) pairs, oldest first; either side may be missing (a question never answered)."""
    pairs: list[tuple[MessageRecord | None, MessageRecord | None]] = []
    for record in chat.messages:
        if record.role == "user":
            pairs.append((record, None))
        elif record.role == "assistant":
            if pairs and pairs[-1][1] is None:
                pairs[-1] = (pairs[-1][0], record)
            else:
                pairs.append((None, record))
    return pairs


def answer_output(answer: MessageRecord) -> dict[str, Any]:
    """The answer as the magic's saved display: sanitized HTML, inert Markdown, and plain text."""
    remarks = list(notes(answer))
    html = render_markdown(answer.content) + "".join(f"\n<p><em>{escape(remark)}</em></p>" for remark in remarks)
    markdown = answer.content + "".join(f"\n\n*{escape_markdown(remark)}*" for remark in remarks)
    plain = answer.content + "".join(f"\n\n[{remark}]" for remark in remarks)
    data = {"text/html": html, "text/markdown": safe_markdown(markdown), "text/plain": plain}
    return {"output_type": "display_data", "data": {k: _lines(v) for k, v in data.items()}, "metadata": {}}


def _lines(text: str) -> list[str] | str:
    """A multi-line string as nbformat stores it: a list of lines, each with its newline."""
    lines = text.splitlines(keepends=True)
    return lines if len(lines) > 1 else text


def _cell(kind: str, source: str, cell_id: str, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": _lines(source)}
    if kind == "code":
        cell.update(execution_count=None, outputs=outputs or [])
    return cell


def to_notebook(chat: ChatRecord) -> str:
    """The chat as an nbformat 4.5 notebook (JSON text) that passes `nbformat.validate`."""
    name, line = title(chat)
    intro = [
        f"# {escape_markdown(name)}",
        f"*{escape_markdown(line)}*",
        escape_markdown(_(
            "Run all cells to ask these questions again: each answer is added to the chat “{name}” in your "
            "history, and the route (provider and model) is the one that answered here."
        ).format(name=name)),
    ]
    if chat.meta.get("system"):
        intro.append(escape_markdown(_("The chat's system prompt is kept in history, not in this notebook.")))
    # Cell ids are numbered rather than random, so exporting the same chat twice gives the same file.
    cells = [_cell("markdown", "\n\n".join(intro), "title"), _cell("code", "%load_ext mmchat_jupyter", "setup")]
    for n, (question, answer) in enumerate(turns(chat), 1):
        if question is None:
            # An answer with no question before it cannot be asked again: show it as text.
            assert answer is not None  # turns() never pairs two missing sides
            cells.append(_cell("markdown", safe_markdown(answer.content), f"turn-{n}"))
            continue
        outputs = [answer_output(answer)] if answer is not None else []
        cells.append(_cell("code", chat_cell_source(chat.name, question.content, answer), f"turn-{n}", outputs))
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "mmchat": {"chat": chat.name},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
