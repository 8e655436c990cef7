"""Every third-party payload through every path that shows model output: 0 executable constructs, 0 loads.

Paths: render_markdown; the streaming renderer after every delta at random chunk boundaries; the `%%chat` output
(every display update, and the Markdown a viewer may prefer); every export format, with the payloads as answers,
questions, notes and chat names; and the inert Markdown (`safe_markdown`) on its own. HTML is judged as a browser
builds it (corpus.hazards), Markdown as two renderers that pass raw HTML show it (corpus.markdown_hazards).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from mmchat_jupyter.export import FORMATS, export_chat
from mmchat_jupyter.export.safe_markdown import safe_markdown
from mmchat_jupyter.render import StreamingRenderer, render_markdown
from mmchat_jupyter.types import STATUS_ERROR, ChatRecord, MessageRecord

from .corpus import Payload, hazards, markdown_hazards, payloads

T0 = "2024-05-01T09:30:00+00:00"


def failures(found: Iterator[tuple[Payload, list[str]]]) -> list[tuple[str, list[str]]]:
    return [(payload.source, problems[:3]) for payload, problems in found if problems]


def test_the_corpus_is_large_and_third_party() -> None:
    sources = {payload.source.split("/")[0] for payload in payloads()}
    assert len(payloads()) >= 1000
    assert sources == {"payloadsallthethings", "h5sc", "markdown-sanitizers"}


def test_the_judge_sees_what_a_browser_would_run_or_fetch() -> None:
    """The judge is not a rubber stamp: on raw payloads it finds hazards in most of them."""
    raw = [payload for payload in payloads() if hazards(payload.text) or markdown_hazards(payload.text)]
    assert len(raw) > len(payloads()) // 2


def test_render_markdown() -> None:
    assert failures((p, hazards(render_markdown(p.text))) for p in payloads()) == []


def _stream_states(text: str, rng: random.Random) -> Iterator[str]:
    """The HTML a face could show after each delta of `text` cut at random places (code point boundaries)."""
    renderer = StreamingRenderer()
    position = 0
    while position < len(text):
        step = rng.choice((1, 2, 3, 7, 16, 64))
        renderer.append(text[position:position + step])
        position += step
        yield renderer.html
    yield renderer.finish()


def test_streaming_after_every_delta_at_random_splits() -> None:
    rng = random.Random(20251205)
    found = ((p, [h for state in _stream_states(p.text, rng) for h in hazards(state)]) for p in payloads())
    assert failures(found) == []


def test_safe_markdown_alone() -> None:
    assert failures((p, markdown_hazards(safe_markdown(p.text))) for p in payloads()) == []


def _chat(batch: list[Payload], name: str) -> ChatRecord:
    messages = []
    for n, payload in enumerate(batch):
        messages.append(MessageRecord(id=f"q{n}", role="user", content=payload.text, created=T0))
        failed = n % 5 == 4
        messages.append(MessageRecord(
            id=f"a{n}", role="assistant", content=payload.text, created=T0, provider="echo",
            model=payload.text[:40] if n % 7 == 0 else "echo-1", status=STATUS_ERROR if failed else "complete",
            error=payload.text[:200] if failed else None,
        ))
    messages.insert(0, MessageRecord(id="orphan", role="assistant", content=batch[0].text, created=T0))
    return ChatRecord(id="c", name=name, created=T0, updated=T0, messages=messages, meta={"system": batch[-1].text})


def _batches(size: int = 100) -> Iterator[list[Payload]]:
    every = list(payloads())
    for start in range(0, len(every), size):
        yield every[start:start + size]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_export_format(fmt: str) -> None:
    problems: list[str] = []
    for batch in _batches():
        name = " ".join(p.text for p in batch[:3]).replace("\n", " ")[:150].strip() or "chat"
        content = str(export_chat(_chat(batch, name), fmt))
        if fmt == "html":
            problems += hazards(content)
        elif fmt == "md":
            problems += markdown_hazards(content)
        elif fmt == "ipynb":
            notebook = json.loads(content)
            for cell in notebook["cells"]:
                source = "".join(cell["source"])
                if cell["cell_type"] == "markdown":
                    problems += markdown_hazards(source)
                for output in cell.get("outputs", ()):
                    data = {k: "".join(v) for k, v in output["data"].items()}
                    problems += hazards(data["text/html"]) + markdown_hazards(data["text/markdown"])
        elif fmt == "json":
            assert json.loads(content)["chat"]["messages"][1]["content"] == batch[0].text
        else:  # txt is shown as text by every viewer; it must hold the text as written
            assert batch[0].text.strip()[:20] in content
    assert problems == []


def test_chat_magic_output(shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """%%chat with a provider whose answer is the payload (streamed in echo's word-sized chunks): every display
    update's HTML and the final Markdown are inert."""
    from IPython.utils.capture import capture_output

    from mmchat_jupyter.providers.echo import EchoProvider

    monkeypatch.setattr(EchoProvider, "answer", lambda self, messages, params: messages[-1].content)
    problems: list[str] = []
    for batch in _batches(50):
        prompt = "\n\n".join(p.text for p in batch).replace("{", "{{").replace("}", "}}")
        with capture_output() as captured:
            shell.run_cell(f"%%chat -p echo --no-history\n{prompt}")
        assert captured.outputs, captured.stderr
        for output in captured.outputs:
            data = output.data
            problems += hazards(data.get("text/html", ""))
            problems += markdown_hazards(data.get("text/markdown", ""))
    assert problems == []


def test_the_panels_reconstruction() -> None:
    """The panel's own JavaScript (panel.js foldStream, run in node) rebuilding each answer from the widget's
    deltas at random chunk boundaries: after every delta the blocks it holds are inert, and equal Python's."""
    from tests.panel_streams import run_node, streamed

    sequences = streamed([payload.text for payload in payloads()], random.Random(1205))
    results = run_node([messages for messages, _expected in sequences])
    problems: list[tuple[str, list[str]]] = []
    for payload, (_messages, expected), held in zip(payloads(), sequences, results, strict=True):
        assert held == expected, payload.source
        problems += [(payload.source, found) for blocks in held if blocks for found in [hazards("".join(blocks))]
                     if found]
    assert problems == []
