"""The quickstart notebooks (English and Russian): what their generators write, and a run top to bottom offline."""

from __future__ import annotations

import os
import re
import runpy

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO

NOTEBOOKS = {
    "en": (REPO / "notebooks" / "quickstart.ipynb", REPO / "notebooks" / "make_quickstart.py"),
    "ru": (REPO / "notebooks" / "quickstart.ru.ipynb", REPO / "notebooks" / "make_quickstart_ru.py"),
}
_CREDENTIAL_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_")


@pytest.mark.parametrize("lang", NOTEBOOKS)
def test_notebook_is_what_the_generator_writes(lang):
    notebook, generator = NOTEBOOKS[lang]
    built = runpy.run_path(str(generator))["build"]()
    committed = nbformat.reads(notebook.read_text(encoding="utf-8"), as_version=4)
    # The generator writes the language version of the Python it runs on; the committed files, the CI's.
    built.metadata.language_info.version = committed.metadata.language_info.version
    assert nbformat.writes(built) + "\n" == notebook.read_text(encoding="utf-8")


def test_russian_has_the_english_code_plus_the_language():
    english = nbformat.read(NOTEBOOKS["en"][0], as_version=4)
    russian = nbformat.read(NOTEBOOKS["ru"][0], as_version=4)
    code = [c.source for c in russian.cells if c.cell_type == "code"]
    assert code[1] == "%chat set lang=ru"
    assert [code[0], *code[2:]] == [c.source for c in english.cells if c.cell_type == "code"]
    for cell in russian.cells:
        if cell.cell_type == "markdown":
            assert re.search("[а-яё]", cell.source, re.IGNORECASE), cell.source


@pytest.fixture(scope="module", params=list(NOTEBOOKS))
def executed(request, tmp_path_factory):
    """(lang, {first two lines of a code cell: its outputs}) after running the notebook in a fresh kernel."""
    lang = request.param
    home = tmp_path_factory.mktemp(f"quickstart-{lang}-home")
    # A kernel keeps the environment it started with: no credentials, so everything runs on the echo model; it
    # starts in English (as on a machine with an English locale) and the Russian notebook switches itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CREDENTIAL_PREFIXES)}
    env.update(MMCHAT_HOME=str(home), MMCHAT_LANG="en")
    nb = nbformat.read(NOTEBOOKS[lang][0], as_version=4)
    workdir = tmp_path_factory.mktemp(f"quickstart-{lang}-cwd")
    NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(workdir)}}).execute(
        env=env
    )
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    return lang, {"".join(cell.source.splitlines()[:2]): cell.outputs for cell in cells}


def _text(outputs) -> str:
    return "".join(output.get("text") or output.get("data", {}).get("text/plain", "") for output in outputs)


def test_runs_offline_without_errors(executed):
    _lang, cells = executed
    for source, outputs in cells.items():
        assert not [o for o in outputs if o.output_type == "error"], source
        assert not [o for o in outputs if o.get("name") == "stderr"], source


EXPECTED = {
    "en": {"turn": "turn 2", "list": "* recipes — 4 messages", "answer": "model", "usage": "token"},
    "ru": {"turn": "ход 2", "list": "* recipes — 4 сообщения · обновлён ", "answer": "модель", "usage": "токен"},
}


def test_the_tour_shows_context_named_chats_and_the_panel_in_its_language(executed):
    lang, cells = executed
    expected = EXPECTED[lang]
    assert expected["turn"] in _text(cells["%%chatAnd what did I ask first?"])
    assert expected["list"] in _text(cells["%chat list"])
    assert expected["usage"] in _text(cells["%chat usage"])
    eli5 = _text(cells["%%chat --template eli5Why is the sky blue?"])
    assert "\nExplain like I am five: Why is the sky blue?" in eli5
    interpolated = next(outputs for source, outputs in cells.items() if "{city}" in source)
    assert "Tell me about Kazan (population 1300000). Braces stay as written: {like this}." in _text(interpolated)
    answer = cells["%%chatWhat can you do? Answer with a short **list**."][-1]
    assert {"text/html", "text/markdown", "text/plain"} <= set(answer["data"])
    assert expected["answer"] in answer["data"]["text/markdown"]
    assert "application/vnd.jupyter.widget-view+json" in cells["%chat panel"][-1]["data"]
