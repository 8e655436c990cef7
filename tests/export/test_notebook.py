"""The ipynb export: valid, readable without a kernel, and continuing the chat when run.

The property tests run exported cells in an in-process IPython shell (fast, many prompts); one test starts a real
kernel with nbclient and runs a whole exported notebook against the echo provider and the fake YandexGPT server.
"""

from __future__ import annotations

import nbformat
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from IPython.core.inputtransformer2 import classic_prompt, ipython_prompt

from mmchat_jupyter._magic_args import parse_cell_line
from mmchat_jupyter.export import export_chat
from mmchat_jupyter.export.notebook import chat_cell_source, turns
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.types import ChatRecord
from tests.fakes.yandex import FOLDER, FakeYandex
from tests.magic_shell import run

from .chats import answer, chat, question, shapes


def route(source: str):
    """The options of a `%%chat` cell as the magic reads them."""
    return parse_cell_line(source.partition("\n")[0].removeprefix("%%chat "))


def read(record: ChatRecord) -> nbformat.NotebookNode:
    return nbformat.reads(export_chat(record, "ipynb"), as_version=4)


@pytest.mark.parametrize("label", list(shapes()))
def test_every_shape_is_a_valid_notebook(label):
    notebook = read(shapes()[label])
    nbformat.validate(notebook)
    first, load, *asked = notebook.cells
    assert first.cell_type == "markdown" and first.source.startswith(f"# {shapes()[label].name}")
    assert load.source == "%load_ext mmchat_jupyter"
    assert len(asked) == len(turns(shapes()[label]))


def test_cells_pin_the_route_and_save_the_answer():
    record = shapes()["provider switch"]
    cells = read(record).cells[2:]
    routes = [route(cell.source) for cell in cells]
    assert [(r.chat, r.provider, r.model) for r in routes] == [
        ("provider switch", "yandexgpt", "yandexgpt-lite"),
        ("provider switch", "gigachat", "GigaChat-2"),
        ("provider switch", "openai", "qwen2.5:7b"),
        ("provider switch", "echo", "echo-1"),
    ]
    output = cells[1].outputs[0]
    assert output.output_type == "display_data"
    assert output.data["text/markdown"].startswith("From GigaChat.") and output.data["text/plain"].startswith("From")


def test_failed_and_interrupted_answers_say_so():
    error = read(shapes()["error"]).cells[2].outputs[0].data
    assert "Error: YandexGPT failed on its side" in error["text/markdown"]
    interrupted = read(shapes()["interrupted"]).cells[2].outputs[0].data["text/plain"]
    assert interrupted.endswith("[Interrupted: the answer is incomplete.]")
    unanswered = read(chat("x", [question(0, "never answered")])).cells[2]
    assert unanswered.outputs == [] and unanswered.source == "%%chat -c x\nnever answered"


@pytest.mark.parametrize("name", ["экспорт тест", 'say "hi"', "back\\slash", "it's", "a  b", "-dash", "%%chat"])
def test_chat_names_are_quoted_for_the_option_parser(name):
    assert route(chat_cell_source(name, "q\n", None)).chat == name


def _unchanged_by_ipython(prompt: str) -> bool:
    """IPython strips `>>> ` and `In [1]: ` prompts from pasted cells before any magic sees them; nothing an
    export writes can protect a question that starts like that."""
    lines = ["%%chat\n", *prompt.splitlines(keepends=True)]
    return classic_prompt(lines) == lines and ipython_prompt(lines) == lines


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_a_rerun_cell_asks_exactly_the_stored_prompt(prompt, shell):
    assume(prompt.strip() and _unchanged_by_ipython(prompt))
    # Placeholders that would be filled in, in the prompt or the chat name, if they were not escaped.
    shell.user_ns.update(x=1, name="NAME")
    record = chat("prop {x} $name", [question(0, prompt), answer(1, "ok", provider="echo", model="echo-1")])
    ran = run(shell, read(record).cells[2].source)
    assert ran.error is None, ran.stderr
    asked = [m for m in HistoryStore().get_chat("prop {x} $name").messages if m.role == "user"]
    assert asked[-1].content == prompt


PROMPTS = [
    "Explain {x} and {{x}} and {In[1]} — “кавычки”, `code`, $HOME",
    "Сколько будет {2+2}? Ответь одной строкой.\n",
    "Refactor:\n\n```python\nd = {'a': {1, 2}}\nprint(f\"{d!r}\")\n```\n\n  trailing spaces  ",
]


@pytest.mark.slow
def test_the_notebook_reruns_in_a_kernel_and_continues_the_chat(monkeypatch, tmp_path):
    from nbclient import NotebookClient

    name = 'экспорт "тест" {x} $HOME'
    original = chat(name, [
        question(0, PROMPTS[0]), answer(1, "…", provider="echo", model="echo-1"),
        question(2, PROMPTS[1]), answer(3, "4", provider="yandexgpt", model="yandexgpt-lite"),
        question(4, PROMPTS[2]), answer(5, "…", provider="echo", model="echo-1"),
    ])
    store = HistoryStore()
    store.import_chat(original)
    notebook = read(original)
    with FakeYandex(keys={"AQVN-kernel-key"}) as server:
        monkeypatch.setenv("YANDEX_API_KEY", "AQVN-kernel-key")
        monkeypatch.setenv("YANDEX_FOLDER_ID", FOLDER)
        monkeypatch.setenv("YANDEX_BASE_URL", server.url)
        NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                       ).execute()
        sent = [request.json() for request in server.requests]
    nbformat.validate(notebook)

    rerun = store.get_chat(name).messages[len(original.messages):]
    assert [m.content for m in rerun if m.role == "user"] == PROMPTS
    assert [(m.provider, m.model, m.status) for m in rerun if m.role == "assistant"] == [
        ("echo", "echo-1", "complete"), ("yandexgpt", "yandexgpt-lite", "complete"), ("echo", "echo-1", "complete")
    ]
    # The fake was asked the prompt byte for byte, with the imported chat as context.
    assert sent[0]["messages"][-1]["text"] == PROMPTS[1]
    assert [m["text"] for m in sent[0]["messages"][:4]] == [m.content for m in original.messages[:4]]

    outputs = [cell.outputs for cell in notebook.cells[2:]]
    echo_first = outputs[0][-1]["data"]["text/plain"]
    assert "turn 4" in echo_first  # the three imported questions came first
    assert "\n\n" + PROMPTS[0].rstrip("\n") + "\n\n" in echo_first
    assert outputs[1][-1]["data"]["text/plain"].startswith("You said: " + PROMPTS[1].rstrip("\n"))
    assert PROMPTS[2].strip("\n") in outputs[2][-1]["data"]["text/plain"]  # echo answers with the prompt as written
