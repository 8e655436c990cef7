"""`%%chat` in a real kernel (one for the module): IOPub display updates, and the kernel's interrupt mid-stream."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from mmchat_jupyter.history import HistoryStore

#: The echo model answers in ~25 pieces: 1.25 s per answer, long enough to interrupt, short enough for the suite.
ECHO_DELAY = "0.05"
_CREDENTIAL_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("kernel-home")


@pytest.fixture(scope="module")
def kernel(home):
    # A kernel keeps the environment it started with: give it its own history root and no credentials.
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CREDENTIAL_PREFIXES)}
    env.update(MMCHAT_HOME=str(home), MMCHAT_LANG="en", MMCHAT_ECHO_DELAY=ECHO_DELAY)
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        execute(kc, "%load_ext mmchat_jupyter")
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, on_message: Callable[[dict], None] | None = None) -> tuple[dict, list[dict]]:
    """Run `code`; returns the execute reply and the cell's IOPub messages (outputs, updates, errors)."""
    msg_id = kc.execute(code)
    messages = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        messages.append(msg)
        if on_message is not None:
            on_message(msg)
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:  # e.g. the kernel_info reply from start-up
        reply = kc.get_shell_msg(timeout=60)
    return reply, messages


def of_type(messages: list[dict], *types: str) -> list[dict]:
    return [m for m in messages if m["msg_type"] in types]


def final_bundle(messages: list[dict]) -> dict:
    """The answer's one output once it has finished: displayed after the streaming outputs were cleared."""
    cleared = max(i for i, m in enumerate(messages) if m["msg_type"] == "clear_output")
    assert messages[cleared]["content"]["wait"] is True  # cleared when the final bundle arrives: no flicker
    (final,) = of_type(messages[cleared:], "display_data", "update_display_data")
    assert final["msg_type"] == "display_data"
    return final["content"]["data"]


def test_answer_streams_as_display_updates(kernel):
    _km, kc = kernel
    reply, messages = execute(kc, "%%chat --new streamed\nStream this, please.")
    assert reply["content"]["status"] == "ok"
    shown, *updates = of_type(messages, "display_data", "update_display_data")
    assert shown["msg_type"] == "display_data" and "mmchat-loading" in shown["content"]["data"]["text/html"]
    display_id = shown["content"]["transient"]["display_id"]
    assert len(updates) >= 3 and updates[0]["content"]["transient"]["display_id"] == display_id
    final = final_bundle(messages)
    assert set(final) == {"text/html", "text/markdown", "text/plain"}
    assert final["text/plain"].startswith("**Echo** · turn 1") and "mmchat-footer" in final["text/html"]
    assert not of_type(messages, "error", "stream")


def test_interrupt_stops_keeps_partial_answer_and_the_chat_goes_on(kernel, home):
    km, kc = kernel

    def interrupt_on_first_update(msg: dict) -> None:
        if msg["msg_type"] == "update_display_data" and not interrupted:
            interrupted.append(time.monotonic())
            km.interrupt_kernel()

    interrupted: list[float] = []
    started = time.monotonic()
    reply, messages = execute(kc, "%%chat --new stopped\nTake your time.", interrupt_on_first_update)
    assert interrupted and time.monotonic() - interrupted[0] < 1.0  # stopped at once, not at the end
    assert reply["content"]["status"] == "ok"  # the partial answer is the cell's result, not an error
    assert not of_type(messages, "error")
    final = final_bundle(messages)
    assert "interrupted" in final["text/html"]
    answer = HistoryStore(home).get_chat("stopped").messages[-1]
    assert answer.status == "interrupted" and answer.content == final["text/plain"] and answer.content
    assert time.monotonic() - started < 5

    reply, messages = execute(kc, "%%chat\nAnd now?")
    assert reply["content"]["status"] == "ok"
    final = final_bundle(messages)["text/plain"]
    assert "turn 2" in final and "Earlier in this chat you asked: “Take your time.”" in final
