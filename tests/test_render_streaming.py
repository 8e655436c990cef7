"""StreamingRenderer: same HTML as a one-shot render, whatever the chunking, at a cost that does not grow."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmchat_jupyter import render
from mmchat_jupyter.render import StreamingRenderer, render_markdown
from mmchat_jupyter.types import Chunk, Completion

# --- a grammar of Markdown-ish answers ---------------------------------------------------------------------------

WORDS = st.sampled_from([
    "alpha", "beta", "Привет", "мир", "*em*", "**strong**", "`code`", "[link](https://example.com/a)",
    "<b>", "a & b", "x_y", "1.", "-", "#", "|", "`", ">", "<https://example.org>", "tail  ",
])
LANGS = st.sampled_from(["", "python", "js", "nosuchlang", "{.python}", "html"])
CODE_LINES = st.sampled_from(["x = 1", "", "    indented()", "<script>alert(1)</script>", "# comment", "``", "~~"])


def words(min_size: int = 1) -> st.SearchStrategy[str]:
    return st.lists(WORDS, min_size=min_size, max_size=6).map(" ".join)


paragraph = st.lists(words(), min_size=1, max_size=3).map("\n".join)
heading = st.tuples(st.integers(1, 6), words()).map(lambda t: "#" * t[0] + " " + t[1])
setext = words().map(lambda w: f"{w}\n===")
hr = st.sampled_from(["---", "* * *", "___"])


@st.composite
def fenced(draw) -> str:
    fence = draw(st.sampled_from(["```", "````", "~~~"]))
    body = draw(st.lists(CODE_LINES, max_size=6))
    return "\n".join([fence + draw(LANGS), *body, fence])


@st.composite
def bullet_list(draw) -> str:
    ordered = draw(st.booleans())
    separator = "\n\n" if draw(st.booleans()) else "\n"  # loose or tight
    items = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        item = (f"{number}. " if ordered else "- ") + draw(words())
        extra = draw(st.sampled_from(["", "sub", "more"]))
        if extra == "sub":
            item += "\n    - " + draw(words())
        elif extra == "more":
            item += "\n\n    " + draw(words())
        items.append(item)
    return separator.join(items)


quote = st.lists(words(), min_size=1, max_size=3).map(lambda lines: "\n".join("> " + line for line in lines))
quotes = st.lists(quote, min_size=1, max_size=2).map("\n\n".join)
indented_code = st.lists(st.sampled_from(["x = 1", "", "print(x)"]), min_size=1, max_size=3).map(
    lambda lines: "\n".join("    " + line if line else "" for line in lines).strip("\n") or "    x"
)


@st.composite
def table(draw) -> str:
    columns = draw(st.integers(1, 3))
    align = draw(st.lists(st.sampled_from(["---", ":--", "--:", ":-:"]), min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(st.sampled_from(["1", "два", "*x*", "`y`"]), min_size=columns,
                                  max_size=columns), max_size=3))
    lines = ["| " + " | ".join(f"h{i}" for i in range(columns)) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


block = st.one_of(paragraph, heading, setext, hr, fenced(), bullet_list(), quotes, indented_code, table())
separator = st.sampled_from(["\n\n", "\n\n", "\n\n\n", "\n", "\n  \n", "\r\n\r\n"])


@st.composite
def document(draw, references: bool = False) -> str:
    blocks = draw(st.lists(block, min_size=1, max_size=8))
    if references:
        blocks.insert(draw(st.integers(0, len(blocks))), "See [the docs][ref] and [ref].")
        blocks.insert(draw(st.integers(0, len(blocks))), "[ref]: https://example.com/docs")
    text = blocks[0]
    for item in blocks[1:]:
        text += draw(separator) + item
    return text + draw(st.sampled_from(["", "\n", "\n\n"]))


@st.composite
def chunked(draw, text: str) -> list[str]:
    sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=50))
    chunks, position = [], 0
    while position < len(text):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(text[position:position + size])
        position += size
    return chunks


# The first unknown language makes Pygments load its plugin lexers (IPython's, which import jedi, which raises the
# recursion limit): do it now, not inside a Hypothesis example, which would warn about the changed limit.
render_markdown("```nosuchlang\nx\n```")

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ends_with_half_fence(text: str) -> bool:
    start = text[max(text.rfind("\n"), text.rfind("\r")) + 1:][:3]
    return bool(start) and (not start.strip("`") or not start.strip("~"))


def stream(chunks: list[str], every: int = 3) -> StreamingRenderer:
    """Append the chunks, rendering after every `every`-th one as a throttled display would."""
    renderer = StreamingRenderer()
    for index, chunk in enumerate(chunks):
        renderer.append(chunk)
        if index % every == 0:
            _ = renderer.html
    return renderer


# --- equivalence -------------------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=300)
@given(st.data())
def test_streamed_html_equals_one_shot_render(data):
    text = data.draw(document())
    renderer = stream(data.draw(chunked(text)))
    assert renderer.text == text
    expected = render_markdown(text)
    if not ends_with_half_fence(text):  # which the streaming view hides until its line is complete
        assert renderer.html == expected  # before finish(): the cached blocks plus the tail already agree
    assert renderer.finish() == expected


@SETTINGS
@given(st.data())
def test_finish_resolves_references_defined_anywhere(data):
    text = data.draw(document(references=True))
    renderer = stream(data.draw(chunked(text)))
    assert renderer.finish() == render_markdown(text)
    assert renderer.html == renderer.finish()


@SETTINGS
@given(st.data())
def test_replace_equals_streaming_the_new_text_afresh(data):
    old = data.draw(document())
    new = data.draw(document())
    keep = data.draw(st.integers(0, len(old)))
    new = old[:keep] + new  # a rewrite that shares a prefix (possibly all, possibly none) with the old text
    renderer = stream(data.draw(chunked(old)))
    _ = renderer.html  # render (and cache blocks) before the rewrite
    renderer.replace(new[: len(new) // 2 + 1])
    renderer.feed(new[len(new) // 2 + 1:])
    assert renderer.text == new
    assert renderer.html == stream([new]).html  # the same view as if `new` had streamed from the start
    assert renderer.finish() == render_markdown(new)


def test_one_char_chunks_of_a_rich_answer():
    text = RICH_ANSWER
    renderer = StreamingRenderer()
    for char in text:
        renderer.append(char)
        if char == "\n":
            _ = renderer.html
    assert renderer.html == render_markdown(text)


# --- the open tail -----------------------------------------------------------------------------------------------

RICH_ANSWER = """# Итоги

Here is a list:

- first
- second

1. one

2. two

   still two

> quoted
> text

```python
def f(x):

    return x * 2
```

| col | value |
|:----|------:|
| a   | 1     |

Done.
"""


def test_unclosed_fence_renders_as_code_while_streaming():
    renderer = StreamingRenderer()
    html = renderer.feed("Text\n\n```python\ndef f():\n    return <b>\n")
    assert '<code class="language-python">' in html
    assert '<span class="o">&lt;</span><span class="n">b</span>' in html and "<b>" not in html
    assert renderer.finish() == render_markdown("Text\n\n```python\ndef f():\n    return <b>\n")


def test_half_arrived_fences_are_not_shown():
    renderer = StreamingRenderer()
    assert "``" not in renderer.feed("Intro\n\n``")  # an opening fence in the making
    html = renderer.feed("`py\nx = 1\n``")  # now a closing one
    assert "``" not in html and '<span class="n">x</span>' in html
    assert renderer.feed("`\n") == render_markdown("Intro\n\n```py\nx = 1\n```\n")


def test_partial_table_and_list_render_and_settle():
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n\n- x\n\n- y\n"
    renderer = StreamingRenderer()
    for end in range(1, len(text) + 1):
        renderer.replace(text[:end])
    assert renderer.html == render_markdown(text)
    assert "<table>" in renderer.html and renderer.html.count("<li>") == 2


def test_html_is_cached_until_the_text_changes():
    renderer = StreamingRenderer()
    first = renderer.feed("Hello")
    assert renderer.html is first
    assert renderer.feed("") is first
    assert renderer.feed(" world") != first


def test_feeding_after_finish_resumes_streaming():
    renderer = StreamingRenderer()
    renderer.feed("one")
    assert renderer.finish() == render_markdown("one")
    assert renderer.feed("\n\ntwo") == render_markdown("one\n\ntwo")


def test_empty_answer():
    assert StreamingRenderer().html == render_markdown("") == '<div class="mmchat-md"></div>'
    assert StreamingRenderer().finish() == render_markdown("")


# --- cost --------------------------------------------------------------------------------------------------------


def long_answer(paragraphs: int) -> str:
    rng = random.Random(7)
    parts = []
    for index in range(paragraphs):
        kind = index % 4
        if kind == 0:
            parts.append(" ".join(rng.choice(["alpha", "beta", "gamma", "дельта"]) for _ in range(40)))
        elif kind == 1:
            parts.append("\n".join(f"- item {i}" for i in range(5)))
        elif kind == 2:
            parts.append("```python\n" + "\n".join(f"x{i} = {i}" for i in range(8)) + "\n```")
        else:
            parts.append("| a | b |\n|---|---|\n| 1 | 2 |")
    return "\n\n".join(parts) + "\n"


def test_each_update_renders_only_the_tail(monkeypatch):
    rendered: list[int] = []
    original = render._fragment

    def counting(text: str) -> str:
        rendered.append(len(text))
        return original(text)

    monkeypatch.setattr(render, "_fragment", counting)
    text = long_answer(600)
    renderer = StreamingRenderer()
    for start in range(0, len(text), 50):
        renderer.append(text[start:start + 50])
        _ = renderer.html
    assert len(text) > 50_000
    assert max(rendered) < 400  # no render sees more than about one block plus a chunk
    assert sum(rendered) < 6 * len(text)  # each block once when it finishes, plus a few tail renders of it
    assert renderer.html == original.__globals__["render_markdown"](text)


def test_replace_keeps_the_blocks_before_the_change(monkeypatch):
    text = long_answer(40)
    renderer = stream([text])
    _ = renderer.html
    rendered: list[int] = []
    original = render._fragment
    monkeypatch.setattr(render, "_fragment", lambda t: rendered.append(len(t)) or original(t))
    changed = text[:-30] + "rewritten ending\n"
    renderer.replace(changed)
    assert sum(rendered) < 200
    monkeypatch.undo()
    assert renderer.html == render_markdown(changed)


@pytest.mark.parametrize("text", ["a\r", "a\r\nb", "```\rcode\r```\r", "x\r\r\ry"])
def test_carriage_returns(text):
    renderer = StreamingRenderer()
    for char in text:
        renderer.feed(char)
    assert renderer.finish() == render_markdown(text)


# --- a long open code fence --------------------------------------------------------------------------------------


def long_code(lines: int) -> str:
    rng = random.Random(3)
    out = []
    for index in range(lines):
        out.append(rng.choice([
            f"def f{index}(x):", f"    return x * {index}", "", f'    s = "<script>alert({index})</script>"',
            '    """doc', '    string"""', f"\tvalue = [{index}, 'два']",
        ]))
    return "\n".join(out) + "\n"


def code_text(html: str) -> str:
    """The text inside the <code> of the last code block, as a browser would show it."""
    from html import unescape

    start = html.rindex('<code class="language-')
    inner = html[html.index(">", start) + 1:html.index("</code>", start)]
    return unescape(re.sub(r"<[^>]+>", "", inner))


def test_long_open_fence_is_highlighted_piecewise(monkeypatch):
    pieces: list[int] = []
    original = render.highlight_lines
    monkeypatch.setattr(render, "highlight_lines", lambda code, lang: pieces.append(len(code)) or original(code, lang))
    code = long_code(700)
    text = "Here:\n\n```python\n" + code + "```\n\nAfter.\n"
    renderer = StreamingRenderer()
    for start in range(0, len(text), 37):
        renderer.append(text[start:start + 37])
        html = renderer.html
        so_far = renderer.text
        if "```\n\nAfter" not in so_far and so_far.count("\n") > 3:
            shown = code_text(html)
            received = so_far.split("```python\n", 1)[1].expandtabs(4)
            assert shown.rstrip(" \n`") == received.rstrip(" \n`")
    assert len(code) > 10_000
    assert max(pieces) < 3 * render._CODE_PIECE  # no update re-highlights the whole fence
    assert renderer.html == render_markdown(text) == renderer.finish()


def test_long_fence_in_unknown_language_and_tildes():
    text = "~~~~nosuchlang\n" + "<b>x</b>\n" * 400
    renderer = StreamingRenderer()
    for start in range(0, len(text), 100):
        html = renderer.feed(text[start:start + 100])
    assert '<code class="language-nosuchlang">' in html and "<span" not in html
    assert code_text(html) == "<b>x</b>\n" * 400
    assert renderer.feed("~~~~") == render_markdown(text + "~~~~")


def test_follow_takes_each_delta_and_resyncs_when_out_of_step():
    renderer, answer = StreamingRenderer(), Completion()
    for piece in ["# Title\n\n", "Some ", "text."]:
        answer.add(Chunk(piece))
        renderer.follow(answer)
    assert renderer.text == "# Title\n\nSome text."
    renderer.follow(answer)  # the final call of a face repeats the last chunk: nothing is taken twice
    assert renderer.text == answer.text
    answer.add(Chunk(" Skipped."))
    answer.add(Chunk(" Seen."))
    renderer.follow(answer)  # a chunk was not followed: the whole text is taken
    assert renderer.text == answer.text
    answer.add(Chunk("Rewritten.", replace=True))
    renderer.follow(answer)
    assert renderer.text == "Rewritten." and renderer.finish() == render_markdown("Rewritten.")
    cached, fresh = Completion("A cached answer."), StreamingRenderer()
    fresh.follow(cached)  # arrives whole, with no chunks
    assert fresh.text == "A cached answer."
