"""panel.js's own code in Node: its unit tests (js/*.test.mjs) and the streamed-answer reconstruction, property-tested
against the HTML Python holds after every delta (issue 12, finding 1). The same in real Chromium: tests/e2e."""

from __future__ import annotations

import copy
import os
import random
import shutil
import subprocess

import pytest

from mmchat_jupyter._panel_stream import AnswerStream
from mmchat_jupyter.types import Chunk, Completion

from .conftest import REPO
from .panel_streams import EXPLOIT, PAYLOAD, random_texts, real_answers, run_node, splits, streamed


@pytest.fixture(autouse=True, scope="module")
def _node() -> None:
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the panel's JS tests")
        pytest.skip("node is not installed")


def test_panel_js_unit_tests():
    result = subprocess.run(
        ["node", "--test", str(REPO / "js")], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def test_reconstruction_equals_python_after_every_delta():
    rng = random.Random(12)
    texts = [EXPLOIT, EXPLOIT * 3, "😀😀😀 " + PAYLOAD, *random_texts(rng, 250), *real_answers()]
    sequences = streamed(texts, rng)
    results = run_node([messages for messages, _ in sequences])
    checked = 0
    for (messages, expected), got in zip(sequences, results, strict=True):
        for message, want, have in zip(messages, expected, got, strict=True):
            assert have == want, f"after delta {message['seq']} of turn {message['turn']}"
            checked += 1
    assert checked > 5000  # every delta of every answer, not a sample


def test_gaps_and_damage_are_refused_then_a_resync_restores_the_answer():
    rng = random.Random(7)
    cases, expect = [], []
    for text in [EXPLOIT * 2, *random_texts(rng, 60)]:
        stream, answer, messages, expected = AnswerStream(1, interval=0), Completion(), [], []
        pieces = splits(text, rng)
        lost = rng.randrange(len(pieces))
        for index, piece in enumerate(pieces):
            answer.add(Chunk(piece))
            message = stream.update(answer)
            assert message is not None
            if index == lost and index + 1 < len(pieces):
                continue  # never arrives: the next delta no longer follows
            messages.append(message)
            expected.append(list(stream.renderer.blocks) if message["at"] == 0 or index != lost + 1 else None)
            if index == lost + 1:
                messages.append(stream.delta(resend=True))
                expected.append(list(stream.renderer.blocks))
        cases.append(messages)
        expect.append(expected)
        # damaged in transit: a block changed, or one added that Python never sent
        tampered = copy.deepcopy(messages[-1])
        if tampered["blocks"]:
            tampered["blocks"][-1] = tampered["blocks"][-1].replace("<", "<x", 1) + " "
        else:
            tampered["blocks"].append("<p>never sent</p>")
        tampered["seq"] += 1
        cases.append([*messages, tampered])
        expect.append([*expected, None])
    results = run_node(cases)
    for want, have in zip(expect, results, strict=True):
        for step, (w, h) in enumerate(zip(want, have, strict=True)):
            if w is None:
                assert h is None, f"step {step}: a message that does not fit was applied"
            else:
                assert h == w, f"step {step}"


def test_a_delta_starting_past_the_end_or_of_another_turn_is_not_spliced():
    stream, answer = AnswerStream(1, interval=0), Completion()
    answer.add(Chunk("One.\n\nTwo.\n\nThree"))
    first = stream.update(answer)
    answer.add(Chunk(" and more"))
    second = stream.update(answer)
    past_end = {**second, "at": len(stream.renderer.blocks) + 1}
    other_turn = {**second, "turn": 2}
    assert run_node([[first, past_end], [first, other_turn], [first, second]]) == [
        [first["blocks"], None], [first["blocks"], None], [first["blocks"], list(stream.renderer.blocks)]]
