"""md, txt and html exports against golden files; the properties every export has (paths, formats, no secrets).

Regenerate the golden files after an intended change with `MMCHAT_REGEN_GOLDEN=1 pytest tests/export`, then
read the diff: the tests compare, and only that variable makes them write.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mmchat_jupyter._redact import Secret
from mmchat_jupyter.errors import ChatNotFound, ExportError
from mmchat_jupyter.export import FORMATS, export_chat, safe_filename
from mmchat_jupyter.export.transcript import close_fences
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.render import pygments_css

from .chats import golden_chat, shapes

GOLDEN = Path(__file__).with_name("golden")
#: Read at import: the isolating conftest removes MMCHAT_* variables before each test runs.
REGENERATE = os.environ.get("MMCHAT_REGEN_GOLDEN") == "1"
#: Pygments' colours change between its releases; the page's inlined CSS is checked apart from the golden file.
_STYLE = re.compile(r"<style>.*</style>", re.S)


def _golden_text(fmt: str, content: str) -> str:
    return _STYLE.sub("<style>…</style>", content) if fmt == "html" else content


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_golden(fmt):
    content = _golden_text(fmt, export_chat(golden_chat(), fmt))
    path = GOLDEN / f"chat.{fmt}"
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="")
    assert content == path.read_text(encoding="utf-8"), f"{path.name} differs; see this module's docstring"


def test_markdown_keeps_code_fences_and_tables_and_names_the_route():
    md = export_chat(shapes()["code"], "md")
    assert shapes()["code"].messages[1].content.rstrip("\n") in md
    assert "yandexgpt · yandexgpt-lite · 2024-05-01 09:31 UTC" in md
    assert "| YandexGPT | yandexgpt-lite | 0,20 ₽ |" in export_chat(shapes()["tables"], "md")


def test_an_answer_cut_off_mid_code_gets_its_fence_closed():
    md = export_chat(shapes()["interrupted"], "md")
    assert md.count("```") == 2
    assert md.index("Interrupted") > md.rindex("```")
    assert close_fences("~~~~\ncode\n~~~") == "~~~~\ncode\n~~~\n~~~~"
    assert close_fences("```\ndone\n```\n") == "```\ndone\n```\n"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_standalone_sanitized_and_styled():
    page = export_chat(golden_chat(), "html")
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _attrs in parser.tags}
    assert '<meta charset="utf-8">' in page
    assert not tags & {"script", "link", "img", "iframe", "object"}
    assert not [attrs for _tag, attrs in parser.tags if any(a.startswith("on") or a == "src" for a in attrs)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert pygments_css() in page
    assert "@media (prefers-color-scheme: dark)" in page
    assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize("fmt", ["md", "txt", "html", "json", "ipynb"])
@pytest.mark.parametrize("label", ["empty", "cyrillic"])
def test_every_format_exports_every_shape(fmt, label):
    content = export_chat(shapes()[label], fmt)
    assert isinstance(content, str) and content
    if label == "cyrillic":
        assert "экспорт тест" in content


@pytest.mark.parametrize("alias,canonical", [("markdown", "md"), ("text", "txt"), ("MD", "md"), ("HTML", "html")])
def test_format_aliases(alias, canonical):
    assert export_chat(golden_chat(), alias) == export_chat(golden_chat(), canonical)


def test_unknown_format():
    with pytest.raises(ExportError, match="Unknown export format 'pdf'"):
        export_chat(golden_chat(), "pdf")


def test_a_directory_gets_a_file_named_after_the_chat(tmp_path):
    written = export_chat(golden_chat(), "md", tmp_path)
    assert written == tmp_path / "Отчёт_ план_итоги.md"
    assert written.read_text(encoding="utf-8") == export_chat(golden_chat(), "md")
    assert {fmt: ext for fmt, (ext, _fn) in FORMATS.items()}["ipynb"] == ".ipynb"


@pytest.mark.parametrize(
    "name,stem",
    [("экспорт тест", "экспорт тест"), ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"), ("...", "chat"),
     (" .hidden. ", "hidden"), ("я" * 300, "я" * 100)],
)
def test_safe_filename(name, stem):
    assert safe_filename(name) == stem


def test_an_unwritable_path_is_one_line(tmp_path):
    (tmp_path / "a file").write_text("")
    with pytest.raises(ExportError, match=r"Cannot create .*a file"):
        export_chat(golden_chat(), "txt", tmp_path / "a file" / "x.txt")


def test_a_chat_by_name_comes_from_history():
    store = HistoryStore()
    store.import_chat(golden_chat())
    assert export_chat("Отчёт: план/итоги", "txt") == export_chat(golden_chat(), "txt")
    with pytest.raises(ChatNotFound):
        export_chat("no such chat", "txt")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_exports_never_hold_a_secret(fmt, monkeypatch):
    key = "AQVN-very-secret-key-123"
    Secret(key)  # as a provider wraps its credential on creation
    record = golden_chat()
    record.messages[0].content = f"my key is {key}"
    record.meta["api_key"] = key
    record.messages[1].params["api_key"] = key
    content = export_chat(record, fmt)
    assert key not in content
    assert "api_key" not in content
