"""safe_markdown: inert by construction (random hostile documents, not just the corpus), faithful to ordinary
answers (real model answers come through unchanged but for markup-looking `<`), code and math as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmchat_jupyter.export.safe_markdown as module
from mmchat_jupyter.export.safe_markdown import escape_markdown, safe_markdown

from .corpus import markdown_hazards

ANSWERS = Path(__file__).parents[1] / "data" / "fixtures" / "llm-answers"

#: Pieces that build every construct the escaping must defeat, and the contexts that could hide one.
FRAGMENTS = [
    "<", ">", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<a href=javascript:alert(1)>",
    "<!--", "-->", "<https://e.example/x>", "![", "]", "[", "(", ")", "](", "javascript:alert(1)",
    "&#x6A;avascript:", "https://e.example/p.png", "`", "``", "```", "~~~", "$", "$$", "\\(", "\\)", "\\[", "\\]",
    "\\", "\n", "\n\n", "    ", "> ", "- ", "1. ", "| a | b |\n|---|---|\n", "|", "*", "_", "[x]: ", "\t", " ",
    "text", "&lt;", "&", '"', "'", "=",
]


@settings(max_examples=600, deadline=None, database=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_any_document_of_hostile_pieces_comes_out_inert(document: str) -> None:
    assert markdown_hazards(safe_markdown(document)) == []


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=200))
def test_any_text_comes_out_inert(document: str) -> None:
    assert markdown_hazards(safe_markdown(document)) == []


def test_the_blunt_fallback_is_inert_whatever_a_renderer_calls_code() -> None:
    document = "`<img src=x onerror=alert(1)>` ![a](https://e.example/i.png) [b](javascript:alert(1))"
    blunt = module._escape_bluntly(document)
    assert "<" not in blunt and markdown_hazards(blunt) == []
    assert markdown_hazards(blunt.replace("`", "")) == []  # even where nothing is code


@pytest.mark.parametrize(("text", "expected"), [
    ("Use `<div>` and ```\n<b>\n```", "Use `<div>` and ```\n&lt;b>\n```"),  # no fence mid-line: <b> is text
    ("```html\n<script>x</script>\n```\n", "```html\n<script>x</script>\n```\n"),
    ("$x<y$ and $$a<b$$ and x < 5", "$x\\lt y$ and $$a\\lt b$$ and x < 5"),
    ("\\(a<b\\) costs $5", "\\(a\\lt b\\) costs $5"),
    ("![chart](https://e.example/c.png)", "\\![chart](https://e.example/c.png)"),
    ("see <https://e.example/a?b=1>", "see <https://e.example/a?b=1>"),
    ("<b>bold</b>", "&lt;b>bold&lt;/b>"),
    ("[x](javascript:alert(1))", "[x\\](javascript:alert(1))"),
    ("| a | `<b>` |\n|---|---|\n| 1 | 2 |", "| a | `<b>` |\n|---|---|\n| 1 | 2 |"),
])
def test_code_math_and_links_as_written(text: str, expected: str) -> None:
    assert safe_markdown(text) == expected


def test_real_answers_come_through_unchanged_but_for_markup() -> None:
    answers = [json.loads(line)["text"] for path in sorted(ANSWERS.glob("*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines()]
    changed = [text for text in answers if safe_markdown(text) != text]
    assert len(answers) > 1000 and len(changed) <= len(answers) // 100
    assert all(safe_markdown(t).replace("&lt;", "<").replace("\\lt ", "<") == t for t in changed)


def test_our_own_values_are_text() -> None:
    assert escape_markdown("a *b* <img src=x>\n![i](u) $x$") == "a \\*b\\* &lt;img src=x> \\!\\[i\\](u) \\$x\\$"
