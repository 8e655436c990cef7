"""Write notebooks/quickstart.ipynb: `python notebooks/make_quickstart.py`.

The notebook is generated so that it stays in step with the magics (tests/test_quickstart.py checks the file on
disk is what this script writes, and that it runs top to bottom offline). Cell ids are fixed so that regenerating
gives the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PATH = Path(__file__).with_name("quickstart.ipynb")

# (kind, source): "md" for Markdown, "py" for code.
CELLS: list[tuple[str, str]] = [
    ("md", """\
# mmchat-jupyter quickstart

Chat with YandexGPT, GigaChat or any OpenAI-compatible model from a notebook. This tour runs **offline**: with
no keys configured, answers come from the built-in `echo` model, which repeats your question and counts the turns
so you can see the chat's context at work. The last section shows how to add real keys."""),
    ("py", "%load_ext mmchat_jupyter"),
    ("md", """\
## Ask a question

The body of a `%%chat` cell is the prompt. The answer streams in as rendered Markdown; the line under it says
which provider and model answered, the tokens used and the time taken. Interrupt the kernel (■) to stop an
answer: the part received so far is kept and marked *interrupted*."""),
    ("py", "%%chat\nWhat can you do? Answer with a short **list**."),
    ("md", "A follow-up goes to the same chat, so the model sees the whole conversation (echo says which turn it is):"),
    ("py", "%%chat\nAnd what did I ask first?"),
    ("md", """\
## Named chats

`-c NAME` uses (or creates) a chat by name and makes it the current one; `--new` starts a fresh chat and
`--no-history` asks a one-off question. `-p`/`-m` switch provider and model for one cell and keep the context."""),
    ("py", "%%chat -c recipes\nHow do I make blini?"),
    ("py", "%%chat -c recipes -t 0.2\nAnd how many eggs do I need?"),
    ("py", "%chat list"),
    ("py", "%chat show recipes"),
    ("py", "%chat usage"),
    ("md", """\
## Templates

Templates wrap the cell in a ready-made prompt; `{input}` marks where the cell goes. Add your own with
`%chat templates add NAME TEXT`."""),
    ("py", "%chat templates"),
    ("py", "%%chat --template explain\ndef add(a, b):\n    return a + b"),
    ("py", '%chat templates add eli5 "Explain like I am five: {input}"'),
    ("py", "%%chat --template eli5\nWhy is the sky blue?"),
    ("md", """\
## Notebook variables in the prompt

`{name}` puts a variable's value into the prompt, `{In[3]}` and `{Out[3]}` a cell's source and result;
write `{{` and `}}` for literal braces. Add `-f code` to a `%%chat` cell to get the answer's code as the next
cell."""),
    ("py", 'city = "Kazan"\npopulation = 1_300_000'),
    ("py", "%%chat\nTell me about {city} (population {population}). Braces stay as written: {{like this}}."),
    ("md", """\
## From Python code

`Chat` is the same engine without magics: `ask()` returns the answer (and shows it in a notebook),
`stream()` yields it piece by piece. Both save to the history like `%%chat` does."""),
    ("py", (
        'from mmchat_jupyter import Chat\n\nchat = Chat("from-python")\nreply = chat.ask("Hello from Python!")\n'
        'print(len(reply), "characters")'
    )),
    ("py", 'for piece in chat.stream("Stream this, please."):\n    print(piece, end="")'),
    ("py", "[(m.role, m.status) for m in chat.history]"),
    ("md", """\
## The chat panel

A chat window inside the notebook with Stop, Regenerate, Copy, provider and model switches; it continues the
same chat as `%%chat`."""),
    ("py", "%chat panel"),
    ("md", """\
## Settings

`%chat set KEY=VALUE` saves a default (`provider`, `model`, `temperature`, `max_tokens`, `system`, `lang`);
`%chat set` alone shows them. `%config ChatMagics.format = "text"` and `%config ChatMagics.update_interval = 0.2`
change how this notebook shows answers. `%chat export NAME md` saves a chat as Markdown (also ipynb, json, txt,
html). `%chat help` lists everything."""),
    ("py", "%chat set temperature=0.3"),
    ("py", "%chat providers"),
    ("md", """\
## Adding YandexGPT and GigaChat

Keys are read from the environment (or from your administrator's configuration) and are never written to the
chat history or the settings file. Set them before starting Jupyter, e.g. in your shell profile:

```bash
# YandexGPT: an API key of a service account with the ai.languageModels.user role, and its folder id
export YANDEX_API_KEY="AQVN..."
export YANDEX_FOLDER_ID="b1g..."

# GigaChat: the authorization key from the developer portal, its scope, and the Russian Trusted Root CA
export GIGACHAT_CREDENTIALS="MDE5..."
export GIGACHAT_SCOPE="GIGACHAT_API_PERS"        # or GIGACHAT_API_B2B / GIGACHAT_API_CORP
export GIGACHAT_CA_BUNDLE_FILE="$HOME/russian_trusted_root_ca.cer"
```

Then `%chat providers` shows them as configured, `%%chat -p yandexgpt` or `%%chat -p gigachat` asks one of them,
`%chat models gigachat` lists its models, and `%chat set provider=gigachat` makes it the default."""),
]


def build() -> nbformat.NotebookNode:
    """The quickstart notebook."""
    return notebook(CELLS)


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ("md" | "py", source) cells with stable ids, so regenerating it changes nothing."""
    cells = [
        (new_markdown_cell if kind == "md" else new_code_cell)(source, id=f"cell-{n:02d}")
        for n, (kind, source) in enumerate(cells, 1)
    ]
    return new_notebook(cells=cells, metadata=kernel_metadata())


def kernel_metadata() -> dict[str, Any]:
    """The kernel metadata exactly as JupyterLab and Notebook 7 write it when the notebook opens: the kernel's spec
    and its `language_info`. Anything else (the bare `{"name": "python"}` this used to write) marks the notebook
    modified the moment it opens. `language_info` names the Python version of the interpreter that generates it
    (the CI's): opened with another version, JupyterLab records that one, as it does for any notebook."""
    from ipykernel.ipkernel import IPythonKernel

    return {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": dict(IPythonKernel.language_info),
    }


def main() -> None:
    nbformat.write(build(), PATH)
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
