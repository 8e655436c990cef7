"""%%chat's display while an answer streams: finished blocks sent once, only the open tail updated, one output at
the end that looks exactly like the single output a saved notebook has always had."""

from __future__ import annotations

import html
import json
import random
import time
from typing import Any

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from mmchat_jupyter import display as display_module
from mmchat_jupyter import i18n
from mmchat_jupyter.display import AnswerView
from mmchat_jupyter.render import render_markdown
from mmchat_jupyter.session import Turn
from mmchat_jupyter.types import Chunk, GenerationParams


class Browser(DisplayPublisher):
    """What a notebook front end keeps of the display messages (display_id updates, clear_output(wait=True)),
    and how many bytes reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[dict[str, Any]] = []
        self.sent = 0
        self.messages = 0
        self.clearing = False

    def publish(self, data: dict[str, Any], metadata: Any = None, source: Any = None, *,
                transient: dict[str, Any] | None = None, update: bool = False, **kwargs: Any) -> None:
        self.sent += len(json.dumps(data, ensure_ascii=False).encode())  # as jupyter_client packs it
        self.messages += 1
        display_id = (transient or {}).get("display_id")
        if update:
            for output in self.outputs:
                if output["id"] == display_id:
                    output["data"] = data
            return
        if self.clearing:
            self.outputs, self.clearing = [], False
        self.outputs.append({"id": display_id, "data": data})

    def clear_output(self, wait: bool = False) -> None:
        self.messages += 1
        if wait:
            self.clearing = True
        else:
            self.outputs = []

    def html(self) -> str:
        return "".join(output["data"].get("text/html", "") for output in self.outputs)


@pytest.fixture
def browser(monkeypatch) -> Browser:
    shell = InteractiveShell.instance()
    publisher = Browser()
    monkeypatch.setattr(shell, "display_pub", publisher)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    publisher.clock = clock  # type: ignore[attr-defined]
    return publisher


def stream(browser: Browser, text: str, chunk: int = 5, rate: float = 1000.0, check=None) -> Turn:
    """`text` arriving `chunk` characters at a time at `rate` characters a second into a %%chat view."""
    view = AnswerView(InteractiveShell.instance(), own_output=True)
    turn = Turn("q", "echo", "echo-1", GenerationParams())
    for start in range(0, len(text), chunk):
        browser.clock[0] += chunk / rate  # type: ignore[attr-defined]
        turn.add(Chunk(text[start:start + chunk]))
        view.update(turn)
        if check is not None:
            check(browser, turn)
    turn.status = "complete"
    view.finish(turn)
    return turn


def visible(html_text: str) -> str:
    """The text a reader sees, whitespace folded (the <style> element's text left out)."""
    import re

    html_text = re.sub(r"<style>.*?</style>", "", html_text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", html_text)).split())


def answer(paragraphs: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    words = ["the", "model", "streams", "tokens", "and", "every", "block", "is", "shown", "once,", "while",
             "the", "tail", "grows", "ответ"]
    parts = []
    for index in range(paragraphs):
        if index % 5 == 3:
            parts.append("```python\n" + "\n".join(f"x{i} = {i} * {rng.randint(1, 9)}" for i in range(6)) + "\n```")
        elif index % 5 == 1:
            parts.append("\n".join(f"- {' '.join(rng.choices(words, k=6))}" for _ in range(4)))
        else:
            parts.append(" ".join(rng.choices(words, k=40)) + f" $x_{index}$.")
    return "\n\n".join(parts) + "\n"


def test_the_end_is_one_output_like_a_saved_notebook_always_had(browser):
    text = answer(30)
    turn = stream(browser, text)
    (final,) = browser.outputs
    assert set(final["data"]) == {"text/html", "text/markdown", "text/plain"}
    assert final["data"]["text/plain"] == text
    page = final["data"]["text/html"]
    assert page.startswith("<style>") and render_markdown(text) in page
    assert page.endswith(f'<div class="mmchat-footer">{display_module.footer_html(turn)}</div>')


def test_while_streaming_finished_blocks_sit_in_outputs_of_their_own_and_read_as_the_answer(browser):
    text = answer(30)
    seen: list[int] = []

    def check(browser: Browser, turn: Turn) -> None:
        shown = visible(browser.html())
        if shown != "Waiting for the answer…":
            assert visible(render_markdown(turn.text)).startswith(shown[:max(0, len(shown) - 400)])
        seen.append(len(browser.outputs))
        assert sum("<style>" in output["data"].get("text/html", "") for output in browser.outputs) <= 1

    stream(browser, text, check=check)
    assert max(seen) > 10  # finished blocks went into outputs of their own


@pytest.mark.parametrize("seconds_per_word", [0.02, 0.1, 0.3])
def test_a_block_is_frozen_whole_when_updates_were_paced_out_before_it_finished(browser, seconds_per_word):
    # A word at a time, as models stream: the pacing skips some tail updates, and a block that finishes after a
    # skipped one must still be frozen as the renderer has it, not as the tail last showed it.
    import re

    text = ("**Echo** · turn 1 · model `echo-1`\n\n# A long answer here\n\nSome **bold** text and a list:\n\n"
            "- one item\n- two item\n\n" + " ".join(["final paragraph with several words"] * 20) + "\n")
    view = AnswerView(InteractiveShell.instance(), own_output=True)
    turn = Turn("q", "echo", "echo-1", GenerationParams())
    for piece in re.findall(r"\S+\s*|\s+", text):
        browser.clock[0] += seconds_per_word  # type: ignore[attr-defined]
        turn.add(Chunk(piece))
        view.update(turn)
        frozen = browser.outputs[:-1]
        shown = "".join(output["data"]["text/html"] for output in frozen)
        assert visible(render_markdown(turn.text)).startswith(visible(shown))
    frozen_text = visible("".join(output["data"]["text/html"] for output in browser.outputs[:-1]))
    assert frozen_text == "Echo · turn 1 · model echo-1 A long answer here Some bold text and a list: one item two item"


def test_real_answers_streamed_a_word_at_a_time_freeze_only_what_they_say(browser):
    # Real model answers (tests/data/fixtures/llm-answers, see SOURCES.md there) at a model's pace: whatever has
    # gone into the outputs above the tail reads as the start of the answer. Before 6871335 it failed for 88 of a
    # 150-answer sample.
    import re

    from tests.conftest import FIXTURES

    texts = [json.loads(line)["text"] for path in sorted((FIXTURES / "llm-answers").glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(1)
    for text in rng.sample(texts, 60):
        browser.outputs = []
        view = AnswerView(InteractiveShell.instance(), own_output=True)
        turn = Turn("q", "echo", "echo-1", GenerationParams())
        for piece in re.findall(r"\S+\s*|\s+", text):
            browser.clock[0] += rng.choice([0.02, 0.1, 0.3])  # type: ignore[attr-defined]
            turn.add(Chunk(piece))
            view.update(turn)
        frozen = visible("".join(output["data"]["text/html"] for output in browser.outputs[:-1]))
        assert visible(render_markdown(turn.text)).startswith(frozen), text[:200]


def test_bytes_sent_do_not_grow_with_the_answer(browser):
    text = answer(200)
    sizes: list[int] = []
    last = [0]

    def check(browser: Browser, turn: Turn) -> None:
        sizes.append(browser.sent - last[0])
        last[0] = browser.sent

    stream(browser, text, check=check)
    final_html = len(render_markdown(text))
    streaming = sum(sizes)
    assert streaming < 3 * final_html, (streaming, final_html)
    nonzero = [size for size in sizes if size]
    early, late = nonzero[: len(nonzero) // 10], nonzero[-len(nonzero) // 10:]
    assert max(late) < 3 * max(early) + 2000  # an update at the end is no bigger than one at the start


def test_a_rewrite_of_frozen_text_starts_the_outputs_over(browser):
    view = AnswerView(InteractiveShell.instance(), own_output=True)
    turn = Turn("q", "yandexgpt", "m", GenerationParams())
    for piece in ["First para.\n\n", "Second para.\n\n", "Third"]:
        browser.clock[0] += 1  # type: ignore[attr-defined]
        turn.add(Chunk(piece))
        view.update(turn)
    assert "First para." in browser.html()
    browser.clock[0] += 1  # type: ignore[attr-defined]
    turn.add(Chunk("Rewritten.\n\nAll of it.", replace=True))
    view.update(turn)
    assert "First para." not in browser.html() and "Rewritten." in visible(browser.html())
    turn.status = "complete"
    view.finish(turn)
    assert len(browser.outputs) == 1 and "All of it." in browser.outputs[0]["data"]["text/plain"]


def test_chat_ask_keeps_one_output_and_never_clears_the_cell(browser):
    browser.outputs.append({"id": None, "data": {"text/plain": "printed before"}})
    view = AnswerView(InteractiveShell.instance())
    turn = Turn("q", "echo", "echo-1", GenerationParams())
    for piece in ["One.\n\n", "Two.\n\n", "Three."]:
        browser.clock[0] += 1  # type: ignore[attr-defined]
        turn.add(Chunk(piece))
        view.update(turn)
    turn.status = "complete"
    view.finish(turn)
    assert [o["data"].get("text/plain") for o in browser.outputs] == ["printed before", "One.\n\nTwo.\n\nThree."]


@pytest.mark.parametrize(("lang", "word"), [("en", "interrupted"), ("ru", "прервано")])
def test_an_interrupted_answer_is_marked_by_a_word_every_font_has(monkeypatch, lang, word):
    # Debian's default fonts have no U+23F9 (a missing-glyph box where the mark was "⏹ interrupted").
    monkeypatch.setattr(i18n, "_chosen", None)
    monkeypatch.setenv("MMCHAT_LANG", lang)
    turn = Turn("q", "echo", "echo-1", GenerationParams())
    turn.status = "interrupted"
    footer = display_module.footer_html(turn)
    assert footer.endswith(f'<span class="mmchat-mark">{word}</span>')
    assert all(ord(char) < 0x2000 for char in footer), footer  # letters and the "·" separator, no symbols
