"""notebooks/quickstart.ru.ipynb: generated from the English quickstart, and runs top to bottom offline in Russian."""

from __future__ import annotations

import os
import re
import runpy

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ru.ipynb"
_CREDENTIAL_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_")


def test_notebook_is_what_the_generator_writes():
    generator = runpy.run_path(str(REPO / "notebooks" / "make_quickstart_ru.py"))
    assert nbformat.writes(generator["build"]()) + "\n" == NOTEBOOK.read_text(encoding="utf-8")


def test_same_code_as_the_english_quickstart_plus_the_language():
    english = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    russian = nbformat.read(NOTEBOOK, as_version=4)
    code = [c.source for c in russian.cells if c.cell_type == "code"]
    assert code[1] == "%chat set lang=ru"
    assert [code[0], *code[2:]] == [c.source for c in english.cells if c.cell_type == "code"]
    for cell in russian.cells:
        if cell.cell_type == "markdown":
            assert re.search("[а-яё]", cell.source, re.IGNORECASE), cell.source


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    home = tmp_path_factory.mktemp("quickstart-ru-home")
    # The kernel starts in English (as on a machine with an English locale): the notebook itself switches to Russian.
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CREDENTIAL_PREFIXES)}
    env.update(MMCHAT_HOME=str(home), MMCHAT_LANG="en")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path_factory.mktemp("quickstart-ru-cwd")
    NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(workdir)}}).execute(
        env=env
    )
    return {cell.source: cell.outputs for cell in nb.cells if cell.cell_type == "code"}


def _text(outputs) -> str:
    parts = []
    for output in outputs:
        parts.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_runs_offline_without_errors(executed):
    for source, outputs in executed.items():
        assert not [o for o in outputs if o.output_type == "error"], source
        assert not [o for o in outputs if o.get("name") == "stderr"], source


def test_the_tour_speaks_russian(executed):
    by_start = {source.splitlines()[0] + (source.splitlines()[1] if "\n" in source else ""): outs
                for source, outs in executed.items()}
    assert "ход 2" in _text(by_start["%%chatAnd what did I ask first?"])
    assert "* recipes — 4 сообщения · обновлён " in _text(by_start["%chat list"])
    assert "список" in _text(by_start["%chat templates"]).lower() or "Объяснить код" in _text(by_start["%chat templates"])
    assert "токен" in _text(by_start["%chat usage"])
    answer = by_start["%%chatWhat can you do? Answer with a short **list**."][-1]
    assert {"text/html", "text/markdown", "text/plain"} <= set(answer["data"])
    assert "модель" in answer["data"]["text/markdown"]
    panel = by_start["%chat panel"]
    assert "application/vnd.jupyter.widget-view+json" in panel[-1]["data"]
