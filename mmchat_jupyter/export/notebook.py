"""The ipynb export: a notebook that shows the conversation when opened and continues it when run.

    [markdown]  # chat name, what the notebook is
    [code]      %load_ext mmchat_jupyter
    [code]      %%chat -c "chat name" -p provider -m model     one cell per question; its saved output is the
                question text, braces doubled                  answer (text/markdown + text/plain)

Each cell pins the provider and model that answered, so running it again takes the same route. Prompts are
escaped so that the magic hands the provider exactly the text that was asked: `{`/`}` are doubled (`%%chat`
fills in `{name}` placeholders), a final newline is doubled (the magic drops the one IPython adds), and the chat
name is quoted for the magic's option parser (which takes its line verbatim, so `$` and `{` need nothing).
"""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ..i18n import _
from ..types import ChatRecord, MessageRecord
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
    """The cell body that `%%chat` turns back into `prompt`: braces doubled so no placeholder is filled in."""
    return prompt.replace("{", "{{").replace("}", "}}")


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


def answer_output(answer: MessageRecord) -> nbformat.NotebookNode:
    """The answer as the magic's saved display: Markdown for readers, plain text for everything else."""
    remarks = list(notes(answer))
    markdown = answer.content + "".join(f"\n\n*{remark}*" for remark in remarks)
    plain = answer.content + "".join(f"\n\n[{remark}]" for remark in remarks)
    return new_output("display_data", data={"text/markdown": markdown, "text/plain": plain})


def to_notebook(chat: ChatRecord) -> str:
    """The chat as an nbformat 4 notebook (JSON text) that passes `nbformat.validate`."""
    name, line = title(chat)
    intro = [
        f"# {name}",
        f"*{line}*",
        _(
            "Run all cells to ask these questions again: each answer is added to the chat “{name}” in your "
            "history, and the route (provider and model) is the one that answered here."
        ).format(name=name),
    ]
    if chat.meta.get("system"):
        intro.append(_("The chat's system prompt is kept in history, not in this notebook."))
    # Cell ids are numbered rather than random, so exporting the same chat twice gives the same file.
    cells = [new_markdown_cell("\n\n".join(intro), id="title"), new_code_cell("%load_ext mmchat_jupyter", id="setup")]
    for n, (question, answer) in enumerate(turns(chat), 1):
        if question is None:
            # An answer with no question before it cannot be asked again: show it as text.
            cells.append(new_markdown_cell(answer.content, id=f"turn-{n}"))
            continue
        cell = new_code_cell(chat_cell_source(chat.name, question.content, answer), id=f"turn-{n}")
        if answer is not None:
            cell.outputs.append(answer_output(answer))
        cells.append(cell)
    notebook = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "mmchat": {"chat": chat.name},
        },
    )
    return nbformat.writes(notebook)
