"""StreamingRenderer: the block protocol, the same HTML as a one-shot render whatever the chunking, bounded cost."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmchat_jupyter.render import (
    PIECE_LIMIT,
    BlockUpdate,
    StreamingRenderer,
    _streaming,
    render_blocks,
    render_markdown,
)
from mmchat_jupyter.types import Chunk, Completion
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def llm_answers() -> list[str]:
    """Every real model answer in tests/data/fixtures/llm-answers (see SOURCES.md there)."""
    return [json.loads(line)["text"] for path in sorted((FIXTURES / "llm-answers").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]

# --- a grammar of Markdown-ish answers ---------------------------------------------------------------------------

WORDS = st.sampled_from([
    "alpha", "beta", "Привет", "мир", "*em*", "**strong**", "`code`", "[link](https://example.com/a)",
    "<b>", "a & b", "x_y", "1.", "-", "#", "|", "`", ">", "<https://example.org>", "tail  ", "$x_1$", "$5",
    "\\(a\\)", "www.example.com", "😀", "𝐱",
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


class Face:
    """What a face holds: its copy of the blocks, kept with `mine[first:] = blocks` after each update."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.finished_seen: list[str] = []

    def take(self, update: BlockUpdate) -> None:
        assert update.first <= len(self.blocks)
        self.blocks[update.first:] = update.blocks
        assert len(self.blocks) == update.total and update.finished <= update.total


def stream(chunks: list[str], every: int = 3, face: Face | None = None) -> StreamingRenderer:
    """Append the chunks, updating after every `every`-th one as a throttled display would."""
    renderer = StreamingRenderer()
    for index, chunk in enumerate(chunks):
        renderer.append(chunk)
        if index % every == 0:
            update = renderer.update()
            if face is not None:
                face.take(update)
    return renderer


def is_piece(block: str) -> bool:
    return "mmchat-cut" in block or "mmchat-cont" in block


# --- the block protocol ------------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=300)
@given(st.data())
def test_a_face_applying_the_updates_ends_with_the_one_shot_blocks(data):
    text = data.draw(document())
    face = Face()
    renderer = stream(data.draw(chunked(text)), every=data.draw(st.integers(1, 4)), face=face)
    assert renderer.text == text
    assert renderer.finish() == render_markdown(text)
    face.take(renderer.update())
    assert face.blocks == render_blocks(text)
    assert renderer.update() == BlockUpdate(len(face.blocks), (), len(face.blocks))  # nothing new


@settings(SETTINGS, max_examples=200)
@given(st.data())
def test_finished_blocks_never_change_and_are_the_one_shot_blocks(data):
    text = data.draw(document())
    renderer, finished = StreamingRenderer(), []
    for chunk in data.draw(chunked(text)):
        renderer.append(chunk)
        update = renderer.update()
        blocks = renderer.blocks
        assert blocks[:len(finished)] == tuple(finished)  # a finished block is never taken back
        finished = list(blocks[:update.finished])
    renderer.finish()
    final = renderer.blocks
    assert finished == list(final[:len(finished)])  # no references, no pieces here: streamed == one-shot


@SETTINGS
@given(st.data())
def test_finish_resolves_references_defined_anywhere(data):
    text = data.draw(document(references=True))
    face = Face()
    renderer = stream(data.draw(chunked(text)), face=face)
    assert renderer.finish() == render_markdown(text)
    face.take(renderer.update())
    assert face.blocks == render_blocks(text)


@SETTINGS
@given(st.data())
def test_replace_equals_streaming_the_new_text_afresh(data):
    old = data.draw(document())
    new = data.draw(document())
    keep = data.draw(st.integers(0, len(old)))
    new = old[:keep] + new  # a rewrite that shares a prefix (possibly all, possibly none) with the old text
    face = Face()
    renderer = stream(data.draw(chunked(old)), face=face)
    renderer.replace(new[: len(new) // 2 + 1])
    face.take(renderer.update())
    renderer.append(new[len(new) // 2 + 1:])
    face.take(renderer.update())
    assert renderer.text == new
    assert face.blocks == list(stream([new]).blocks)  # the same view as if `new` had streamed from the start
    assert renderer.finish() == render_markdown(new)


def test_update_reports_only_what_changed():
    renderer = StreamingRenderer()
    renderer.append("# Title\n\nFirst para")
    assert renderer.update() == BlockUpdate(0, ("<h1>Title</h1>\n", "<p>First para</p>\n"), 1)
    renderer.append("graph.")
    assert renderer.update() == BlockUpdate(1, ("<p>First paragraph.</p>\n",), 1)
    renderer.append("\n\nNext")
    assert renderer.update() == BlockUpdate(2, ("<p>Next</p>\n",), 2)  # block 1 finished unchanged: not resent
    assert renderer.update() == BlockUpdate(3, (), 2)


def test_a_rewrite_restarts_from_the_first_changed_block():
    renderer = StreamingRenderer()
    renderer.append("One.\n\nTwo.\n\nThree.\n\nFour")
    renderer.update()
    renderer.replace("One.\n\nTwo!\n\nThree.")
    update = renderer.update()
    assert update.first == 1 and update.blocks == ("<p>Two!</p>\n", "<p>Three.</p>\n")
    renderer.replace("Zero.")
    assert renderer.update() == BlockUpdate(0, ("<p>Zero.</p>\n",), 0)


def test_the_sample_of_real_answers_streams_to_the_one_shot_render(llm_answers):
    rng = random.Random(13)
    for text in llm_answers:
        chunks, at = [], 0
        while at < len(text):
            size = rng.randint(1, 150)
            chunks.append(text[at:at + size])
            at += size
        face = Face()
        renderer = stream(chunks, every=rng.randint(2, 6), face=face)
        update = renderer.update()
        face.take(update)
        settled = [block for block in face.blocks[:update.finished] if not is_piece(block)]
        renderer.finish()
        face.take(renderer.update())
        assert face.blocks == render_blocks(text)
        assert set(settled) <= set(face.blocks)  # what streamed as finished is what the one-shot render has


# --- no flashes of wrong structure --------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "arriving"), [
    ("Some text\n", "-"), ("Some text\n", "="), ("Some text\n", "1."), ("Some text\n", "#"),
    ("Some text\n", "---"), ("- item\n", "  -"), ("```py\nx = 1\n", "``"), ("Text\n", "> "),
])
def test_a_line_of_markers_only_is_held_back(before, arriving):
    renderer = StreamingRenderer()
    renderer.append(before)
    shown = renderer.blocks
    renderer.append(arriving)
    assert renderer.blocks == shown  # "Some text" never flashes as a heading, a fence never shows "``"


def test_a_list_item_never_flashes_as_a_heading():
    text = "Steps:\n- first step\n- second step\n"
    renderer = StreamingRenderer()
    for char in text:
        renderer.append(char)
        html = "".join(renderer.blocks)
        assert "<h2>" not in html and "<h1>" not in html


def test_a_table_header_waits_for_its_delimiter_row():
    renderer = StreamingRenderer()
    for char in "Data:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n":
        renderer.append(char)
        html = "".join(renderer.blocks)
        assert "| a" not in html  # never shown as a paragraph of pipes
    assert "<table" in "".join(renderer.blocks)


def test_unclosed_fence_and_display_math_render_as_such_while_streaming():
    renderer = StreamingRenderer()
    renderer.append("Text\n\n```python\ndef f():\n    return <b>\n")
    html = "".join(renderer.blocks)
    assert '<code class="language-python"' in html and "<b>" not in html
    renderer.append("```\n\n$$\n\\frac{a}{b}\n")
    assert '<div class="mmchat-math mmchat-display mathjax_process">$$\n\\frac{a}{b}</div>' in renderer.blocks[-1]
    renderer.append("$$\n")
    assert renderer.finish() == render_markdown(renderer.text)


@pytest.mark.parametrize("text", ["a\r", "a\r\nb", "```\rcode\r```\r", "x\r\r\ry", "a\r\n\r\nb\r\n- c"])
def test_carriage_returns(text):
    face = Face()
    renderer = stream(list(text), every=1, face=face)
    renderer.finish()
    face.take(renderer.update())
    assert face.blocks == render_blocks(text)


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


def test_empty_answer():
    assert StreamingRenderer().html == render_markdown("") == '<div class="mmchat-md mathjax_ignore"></div>'
    assert StreamingRenderer().update() == BlockUpdate(0, (), 0)


# --- bounded cost: the open tail --------------------------------------------------------------------------------


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


def parsed_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    original = _streaming.parse
    monkeypatch.setattr(_streaming, "parse", lambda text, env: sizes.append(len(text)) or original(text, env))
    return sizes


def test_each_update_parses_only_the_tail(monkeypatch):
    sizes = parsed_sizes(monkeypatch)
    text = long_answer(600)
    face = Face()
    renderer = stream([text[start:start + 50] for start in range(0, len(text), 50)], every=1, face=face)
    assert len(text) > 50_000
    assert max(sizes) < 500  # no parse sees more than about one block plus a chunk
    assert sum(sizes) < 8 * len(text)
    renderer.finish()
    face.take(renderer.update())
    assert face.blocks == render_blocks(text)


def giant(kind: str) -> str:
    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "дельта", "`code`", "*em*", "x_y", "3.", "-", "|", "$5"]
    if kind == "paragraph":
        return " ".join(rng.choice(words) for _ in range(4_000)) + "\n"
    if kind == "lines":
        return "\n".join("Line " + " ".join(rng.choice(words) for _ in range(8)) for _ in range(600)) + "\n"
    if kind == "table":
        return "| n | name | value |\n|--:|:-----|:-----:|\n" + "".join(
            f"| {i} | {rng.choice(words)} | {rng.randint(0, 999)} |\n" for i in range(1000))
    if kind == "fence":
        return "```python\n" + "".join(f"def f{i}(x):\n    return x * {i}  # <b>\n" for i in range(600)) + "```\n"
    if kind == "list":
        return "".join(f"{i + 1}. item {rng.choice(words)}\n" for i in range(1200))
    if kind == "quote":
        return "".join(f"> line {i} {rng.choice(words)}\n>\n" for i in range(800))
    assert kind == "indented"
    return "Code:\n\n" + "".join(f"    x{i} = {i}\n" for i in range(1200))


@pytest.mark.parametrize("kind", ["paragraph", "lines", "table", "fence", "list", "quote", "indented"])
def test_a_giant_open_block_streams_in_bounded_pieces(monkeypatch, kind):
    text = "Intro.\n\n" + giant(kind)
    sizes = parsed_sizes(monkeypatch)
    face, updates = Face(), []
    renderer = StreamingRenderer()
    for start in range(0, len(text), 197):
        renderer.append(text[start:start + 197])
        update = renderer.update()
        face.take(update)
        updates.append(sum(map(len, update.blocks)))
    assert len(text) > 6 * PIECE_LIMIT
    assert max(sizes) < 3 * PIECE_LIMIT  # the tail never grows past a piece
    assert max(updates[len(updates) // 2:]) < 12 * PIECE_LIMIT  # bytes per update do not grow with the answer
    pieces = [block for block in face.blocks if is_piece(block)]
    assert len(pieces) >= 4
    monkeypatch.undo()
    renderer.finish()
    face.take(renderer.update())
    assert face.blocks == render_blocks(text)  # the pieces give way to the one-shot render at the end
