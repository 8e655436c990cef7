"""Streamed answers for the panel's reconstruction tests (node and Chromium): a corpus of texts full of what breaks
string offsets (characters outside the BMP, combining marks, CRLF, ZWJ sequences), real model answers, and the
exact exploit of issue 12, each split at random chunk boundaries and run through the widget's own `AnswerStream`.

    sequences = streamed(texts, rng)   # [(messages, expected)]: expected[i] = the blocks Python holds after message i
    run_node(sequences_of_messages)    # what panel.js's foldStream makes of them (js/reconstruct.mjs)
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from mmchat_jupyter._panel_stream import AnswerStream
from mmchat_jupyter.types import Chunk, Completion

from .conftest import FIXTURES, REPO

#: The payload of issue 12, finding 1: harmless text, unless a cut turns the `<p>` before it into `<p/style=...`.
PAYLOAD = (
    "Z /style='display:block;content-visibility:auto'/oncontentvisibilityautostatechange='alert(document.domain)'/x="
)
#: Three emoji, then the payload, in the two chunks that made the old panel (offsets in code points, sliced in
#: UTF-16 units) build `<p/style='...'/oncontentvisibilityautostatechange='alert(document.domain)'...>` and run it.
EXPLOIT_CHUNKS = ["😀😀😀\n\nZ ", PAYLOAD[2:]]
EXPLOIT = "".join(EXPLOIT_CHUNKS)

PIECES = [
    "😀", "👩‍👩‍👧", "🇷🇺", "𝐀𝐁𝐂 𝑥 + 𝑦", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱𠝹", "e\u0301 a\u0308 o\u0328\u0301", "Ѐ й\u0306",
    "\r\n", "\r\n\r\n", "\n\n", "\n", " ", "**bold 😀**", "`code 𝐱`", "_it_", "[link](https://example.com/😀)",
    "```python\nprint('😀')\r\nx = '𝐀'\n```\n", "| a | 𝐛 |\n|---|---|\n| 1 | 😀 |\n", "- item 😀\n- item 2\n",
    "> quote 𝔮\n", "# Title 🎉\n", "1. one\n2. two\n", "<b>not html</b>", "&amp; &lt;x&gt; &#128512;", "a < b > c",
    "='\"/x=", "/style='display:block'/onload='alert(1)'/", EXPLOIT, "😀😀😀 " + PAYLOAD, PAYLOAD, "Привет, мир",
    "α β γ", "\t", "~~~\ncode\n~~~\n",
]


def real_answers(limit: int = 40) -> list[str]:
    """Real model answers (English and Russian) from the fixtures."""
    texts: list[str] = []
    for path in sorted((FIXTURES / "llm-answers").glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for _, line in zip(range(limit // 7 + 1), lines, strict=False)]
    return texts[:limit]


def random_texts(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def splits(text: str, rng: random.Random) -> list[str]:
    """`text` cut at random code-point boundaries (a provider's chunks), 1 to 40 characters each."""
    pieces, at = [], 0
    while at < len(text):
        size = rng.choice((1, 1, 2, 3, 5, 8, 13, 40))
        pieces.append(text[at : at + size])
        at += size
    return pieces


def streamed(texts: Iterable[str], rng: random.Random) -> list[tuple[list[dict[str, Any]], list[list[str]]]]:
    """Each text streamed chunk by chunk through AnswerStream, a delta after each chunk (no throttle)."""
    sequences = []
    for turn, text in enumerate(texts, 1):
        stream, answer = AnswerStream(turn, interval=0), Completion()
        messages, expected = [], []
        for piece in splits(text, rng):
            answer.add(Chunk(piece))
            message = stream.update(answer)
            assert message is not None
            messages.append(message)
            expected.append(list(stream.renderer.blocks))
        sequences.append((messages, expected))
    return sequences


def run_node(sequences: list[list[dict[str, Any]]]) -> list[list[list[str] | None]]:
    """Feed each sequence of messages to panel.js's foldStream (js/reconstruct.mjs); the panel's blocks after each."""
    node = shutil.which("node")
    assert node is not None, "node is needed for the panel's JS tests"
    result = subprocess.run(
        [node, str(REPO / "js" / "reconstruct.mjs")], input=json.dumps(sequences), capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
