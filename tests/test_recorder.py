"""A save that fails never costs the answer (#15 item 1): the stream goes on, the text stays, one line says so,
and the turn is saved once the history can be written again."""

from __future__ import annotations

import fcntl
import json
import os
from itertools import pairwise

import pytest

from mmchat_jupyter import _recorder as recorder
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.types import STATUS_COMPLETE, STATUS_INTERRUPTED

from .faults.disks import fill, read_only, small_disk
from .magic_shell import assert_one_usage_line, run

PROMPT = "Explain photons in one line, please"


@pytest.fixture(autouse=True)
def save_every_chunk(monkeypatch):
    monkeypatch.setattr(recorder, "SAVE_INTERVAL", 0.0)


def stream(session: ChatSession, prompt: str = PROMPT, fault=None, at: int = 3):
    """Ask, calling `fault()` once after chunk `at`; returns the turn and the text shown after each chunk."""
    shown: list[str] = []

    def on_update(turn) -> None:
        shown.append(turn.text)
        if len(shown) == at and fault is not None:
            fault()

    return session.send(prompt, on_update=on_update), shown


def on_disk_messages(store: HistoryStore, name: str) -> list[dict]:
    """The chat's messages as its file holds them (a short chat: all in its head), not as this process shows them."""
    chat_id = store.chat_info(name).id
    data = json.loads((store.root / "chats" / f"{chat_id}.json").read_text())
    return list(data["messages"].values())


def assert_kept(turn, shown, reason: str) -> None:
    assert turn.status == STATUS_COMPLETE and turn.text == shown[-1] and len(shown) > 5
    assert all(later.startswith(earlier) for earlier, later in pairwise(shown))  # nothing shown was taken back
    assert turn.save_error is not None and turn.save_error.reason == reason
    line = str(turn.save_error)
    assert "\n" not in line and "%chat retry-save" in line


def test_a_disk_that_fills_up_mid_stream_keeps_the_answer_and_saves_it_later(tmp_path):
    """Regression: the progress save raised inside the stream; the cell's answer was erased and saved empty."""
    with small_disk(tmp_path / "disk", size="512k") as disk:
        session = ChatSession(store=HistoryStore(disk / "mmchat"))
        session.use_chat("physics")
        turn, shown = stream(session, fault=lambda: fill(disk))
        assert_kept(turn, shown, "full")
        on_disk = on_disk_messages(session.store, "physics")
        assert on_disk[-1]["status"] == STATUS_INTERRUPTED and turn.text.startswith(on_disk[-1]["content"])
        shown = session.store.get_chat("physics").messages[-1]  # every read in this kernel shows what was seen
        assert (shown.content, shown.status, shown.id) == (turn.text, STATUS_COMPLETE, turn.assistant_id)
        os.unlink(disk / ".filler")
        assert recorder.retry_save(session.store) == 1
        answer = session.store.get_chat("physics").messages[-1]
        assert (answer.content, answer.status, answer.id) == (turn.text, STATUS_COMPLETE, turn.assistant_id)
        assert recorder.retry_save(session.store) == 0


def test_a_lock_held_past_the_timeout_mid_stream_never_freezes_the_stream():
    store = HistoryStore()
    session = ChatSession(store=HistoryStore(store.root, lock_timeout=0.3))
    session.use_chat("busy")
    holder = os.open(store.root / ".lock", os.O_RDWR)
    try:
        turn, shown = stream(session, fault=lambda: fcntl.flock(holder, fcntl.LOCK_EX))
        assert_kept(turn, shown, "locked")
    finally:
        os.close(holder)
    # The next question saves the kept turn first, so the chat keeps its order.
    second, _shown = stream(session, "and electrons?")
    assert second.save_error is None
    messages = session.store.get_chat("busy").messages
    assert [(m.role, m.content) for m in messages] == [
        ("user", PROMPT), ("assistant", turn.text), ("user", "and electrons?"), ("assistant", second.text)
    ]
    assert [m.status for m in messages[1::2]] == [STATUS_COMPLETE, STATUS_COMPLETE]


def test_a_read_only_history_answers_and_remembers_the_unsaved_turn():
    store = HistoryStore()
    session = ChatSession(store=store)
    session.use_chat("ro")
    session.send("first question")
    with read_only(store.root):
        turn, shown = stream(session, "second question")
        assert_kept(turn, shown, "read-only")
        assert "MMCHAT_HOME" in str(turn.save_error)
        # The unsaved turn is part of the next turn's context (echo counts the user's turns).
        third, _ = stream(session, "third question")
        assert "turn 3" in third.text and third.save_error is not None
    assert recorder.retry_save(session.store) == 2
    assert [m.content for m in session.store.get_chat("ro").messages[::2]] == [
        "first question", "second question", "third question"
    ]


def test_the_magic_shows_the_answer_and_one_line(magics, tmp_path):
    shell = magics.shell
    with small_disk(tmp_path / "disk", size="512k") as disk:
        magics.session = ChatSession(store=HistoryStore(disk / "mmchat"))
        assert run(shell, "%%chat -c notes\nfirst").error is None
        fill(disk)
        ran = run(shell, "%%chat -c notes\nsecond question")
        assert ran.error is None and "second question" in str(ran.final)
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and "%chat retry-save" in lines[0] and "Traceback" not in ran.stdout + ran.stderr
        assert_one_usage_line(run(shell, "%chat retry-save"), "No space left on device")  # still full
        os.unlink(disk / ".filler")
        assert run(shell, "%chat retry-save").stdout.strip() == "Saved 1 answer to the history."
        assert run(shell, "%chat retry-save").stdout.strip() == "Nothing to save: every answer is in the history."
        assert run(shell, "%%chat -c notes\nthird").stderr == ""
        contents = [m.content for m in HistoryStore(disk / "mmchat").get_chat("notes").messages]
        assert contents[::2] == ["first", "second question", "third"]


def test_every_read_shows_the_unsaved_turn_with_the_ids_it_is_saved_under():
    store = HistoryStore()
    session = ChatSession(store=store)
    session.use_chat("shown")
    session.send("saved question")
    with read_only(store.root):
        turn, _shown = stream(session, "unsaved question")
        page = store.page("shown", limit=3)
        assert [m.content for m in page.messages][1:] == ["unsaved question", turn.text]
        assert (page.first, page.total) == (1, 4) and page.messages[-1].id == turn.assistant_id
        assert store.tail("shown", chars=1).messages[-1].id == turn.assistant_id
        assert store.chat_info("shown").total == 4
        assert store.page("shown", before=2, limit=5).total == 4 and len(store.page("shown", before=2).messages) == 2
    assert recorder.retry_save(store) == 1
    stored = on_disk_messages(store, "shown")
    assert [m["id"] for m in stored[2:]] == [turn.user_id, turn.assistant_id]
    assert stored[-1]["content"] == turn.text and stored[-1]["status"] == STATUS_COMPLETE
