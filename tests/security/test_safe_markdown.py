"""safe_markdown: inert by construction (random hostile documents, not just the corpus), faithful to ordinary
answers (real model answers come through unchanged but for markup-looking `<`), code and math as written."""

from __future__ import annotations

import json
import os
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


#: Documents that once came out hazardous (found by the property test below); each stays a fixed example.
FOUND = [
    # A tab in the indentation of a quote or list: markdown-it reads an indented code block (as CommonMark has
    # it), mistune raw HTML or an image.
    "> > \t<img src=x onerror=alert(1)>",
    "> - \t![a](https://e.example/p.png)",
    ">1. \t<img src=x onerror=alert(1)>",
    "- a\n\n  > \t<script>alert(1)</script>",
    # A code span over lines that mistune reads as a table (3 header cells, 2 delimiters: not a GFM table), so
    # for mistune the span ends at the first line and the last line is raw HTML.
    "`| a | b |\n|---|---|\n<img src=x onerror=alert(1)>`",
    # ... and where that span ends, mistune pairs the backticks after it differently: `<` is code for
    # markdown-it, `<img>` raw HTML for mistune.
    "`| a | b |\n|---|---|\n`<`<img src=x onerror=alert(1)>`",
    # An indented line right after a table markdown-it reads (`\|` is a cell's text) and mistune does not: code
    # for one, the paragraph's raw HTML for the other.
    "\\| a | b |\n|---|---|\n\t<img src=x onerror=alert(1)>",
    # A fence whose info string holds `|`, right after such a table: mistune's table takes the fence's line as a
    # row, so the fence's content is raw HTML there.
    "<| a | b |\n|---|---|\n```| a | b |\n|---|---|\n<img src=x onerror=alert(1)>",
    "a | b\n--|--\n``` x | y\n<img src=x onerror=alert(1)>\n```\n",
    # A code span holding `~~` after a `~~`: mistune's strikethrough closes inside the span (code spans do not
    # come first for it), so the rest of the span is raw HTML there.
    "<~~~`~~~~~~<img src=x onerror=alert(1)>`",
    "~~a`~~<img src=x onerror=alert(1)>`",
    # A fence right after `[x]:`: mistune reads the fence's line as the definition's destination, so the fence's
    # content is raw HTML there.
    "[x]: \n```\n<img src=x onerror=alert(1)>",
]


#: The same 600 documents on every run, so CI never fails by chance. Searching for new ones is a random run with
#: many more, e.g. MMCHAT_FUZZ_EXAMPLES=40000 (five such runs passed when the last found one was fixed); each
#: document a search finds joins FOUND.
SEARCH = int(os.environ.get("MMCHAT_FUZZ_EXAMPLES", "0"))


@settings(max_examples=SEARCH or 600, deadline=None, database=None, derandomize=not SEARCH)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_any_document_of_hostile_pieces_comes_out_inert(document: str) -> None:
    assert markdown_hazards(safe_markdown(document)) == []


@pytest.mark.parametrize("document", FOUND)
def test_documents_that_parsers_read_differently_come_out_inert(document: str) -> None:
    assert markdown_hazards(safe_markdown(document)) == []


def test_text_the_parser_fails_on_is_escaped_without_it() -> None:
    # markdown-it-py 4.x raises IndexError on these (a JavaScript port's out-of-range read): safe_markdown is on
    # every %%chat answer's final bundle and every export, so it must still answer, inert.
    for document in (">- <!--\n>", "<img src=x onerror=alert(1)>\n\n>- <!--\n>"):
        safe = safe_markdown(document)
        assert "<" not in safe and markdown_hazards(safe) == []


def test_after_a_code_span_over_a_line_end_no_code_span_in_that_paragraph_is_trusted() -> None:
    # Which backticks pair after such a span is up to each parser (see FOUND): no `<` stays until the blank line.
    document = "`a\nb` and `<b>`, ` c `<i>`\n\n`<u>`"
    assert safe_markdown(document) == "`a\nb` and `&lt;b>`, ` c `&lt;i>`\n\n`<u>`"


def test_a_parser_that_fails_everywhere_leaves_nothing_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Code is trusted, and the result accepted, only on the parser's word: without it, the blunt escape.
    class Broken:
        def parse(self, text: str) -> list:
            raise IndexError("string index out of range")

    monkeypatch.setattr(module, "_parser", Broken)
    document = "```\n<b>code</b>\n```\n\n[a](https://e.example) <i>"
    assert safe_markdown(document) == module._escape_bluntly(document)


def test_code_lines_are_counted_as_commonmark_counts_them() -> None:
    # U+2028 and form feed end a line for str.splitlines, not for CommonMark: the code block stays as written.
    for separator in ("\u2028", "\x0c", "\x85"):
        document = f"a{separator}b\n\n    <b>code</b>\n"
        assert safe_markdown(document) == document


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
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
