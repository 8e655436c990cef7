"""The panel's message window (issue 16) and its live updates (issue 14): pages instead of the whole chat, one
message at a time, and changes made by another session, face or process showing up without a click."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from mmchat_jupyter import _panel_watch
from mmchat_jupyter._panel_log import PAGE, MessageLog
from mmchat_jupyter._panel_state import MessageViews
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.widget import ChatPanel

from .test_widget import Recorder, make_panel, until


@pytest.fixture(autouse=True)
def _fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_panel_watch, "INTERVAL", 0.01)


def long_chat(name: str, turns: int) -> str:
    store = HistoryStore()
    chat = store.create_chat(name)
    for n in range(turns):
        store.append_messages(chat, [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"answer **{n}**", "provider": "echo", "model": "echo-1"},
        ])
    return chat.id


def test_a_chat_opens_with_its_newest_page_and_older_pages_come_as_asked():
    chat_id = long_chat("Long", 50)  # 100 messages
    rec = Recorder(ChatPanel(session=ChatSession(chat=chat_id, provider="echo")))
    first = rec.of("log")[-1]
    assert len(first["messages"]) == PAGE and first["more"]
    assert first["messages"][-1]["text"] == "answer **49**"
    while rec.of("older")[-1:] == [] or rec.of("older")[-1]["more"]:
        rec.panel.handle({"type": "older"})
    assert [m["text"] for m in rec.messages] == [t for n in range(50) for t in (f"question {n}", f"answer **{n}**")]
    assert len(rec.of("older")) == 2 and not rec.of("older")[-1]["more"]
    rec.panel.handle({"type": "older"})  # nothing older: nothing sent
    assert len(rec.of("older")) == 2


def test_the_end_of_a_turn_sends_the_turn_not_the_chat():
    chat_id = long_chat("Very long", 300)

    async def main() -> Recorder:
        rec = Recorder(ChatPanel(session=ChatSession(chat=chat_id, provider="echo")))
        before = len(rec.sent)
        rec.panel.handle({"type": "send", "text": "one more"})
        await until(lambda: not rec.panel.busy)
        rec.sent[:] = rec.sent[before:]
        return rec

    rec = asyncio.run(main())
    window_messages = [m for m in rec.sent if m["type"] != "delta"]
    assert [m["type"] for m in window_messages] == ["message", "message", "message"]  # question, its saved self, answer
    assert len(json.dumps(window_messages)) < 4000  # 600 messages in the chat: none of them travels again


def test_a_turn_asked_in_another_process_shows_up_without_a_click(tmp_path):
    chat_id = long_chat("Shared", 2)

    async def main() -> Recorder:
        rec = Recorder(ChatPanel(session=ChatSession(chat=chat_id, provider="echo")))
        code = ("from mmchat_jupyter.session import ChatSession; import sys\n"
                "ChatSession(chat=sys.argv[1], provider='echo').send('asked in another kernel')")
        other = await asyncio.create_subprocess_exec(sys.executable, "-c", code, chat_id, env=dict(os.environ))
        assert await other.wait() == 0
        await until(lambda: any("asked in another kernel" in m["text"] for m in rec.messages)
                    and rec.messages[-1]["role"] == "assistant" and rec.messages[-1]["status"] == "complete")
        return rec

    rec = asyncio.run(main())
    assert [m["type"] for m in rec.sent].count("log") == 1  # added one message at a time, not resent
    assert len(rec.messages) == 6


def test_clear_delete_rename_and_chat_switch_elsewhere_are_followed():
    async def main() -> None:
        rec = make_panel()
        session, store = rec.panel.session, HistoryStore()
        session.send("hello")  # as %%chat in the same kernel would
        await until(lambda: len(rec.messages) == 2)
        store.rename_chat(rec.panel.chat["id"], "Renamed elsewhere")
        await until(lambda: rec.panel.chat["name"] == "Renamed elsewhere")
        store.clear_chat(rec.panel.chat["id"])
        await until(lambda: rec.messages == [])
        other = store.create_chat("Other")
        session.use_chat(other.id)  # `%chat use Other` in this kernel
        await until(lambda: rec.panel.chat["id"] == other.id)
        store.delete_chat(other.id)
        await until(lambda: rec.panel.chat["id"] != other.id)

    asyncio.run(main())


def test_log_sync_adds_replaces_and_resets_only_when_it_must():
    store = HistoryStore()
    chat = store.create_chat("Sync")
    log = MessageLog(MessageViews())
    assert log.reset(store.page(chat.id))["messages"] == []
    log.add({"id": "pending:1", "role": "user", "text": "q"})
    question, answer = store.append_messages(chat, [{"role": "user", "content": "q"},
                                                    {"role": "assistant", "content": "a"}])
    out = log.sync(store.page(chat.id), replaces="pending:1")
    assert [(m["type"], m.get("replaces")) for m in out] == [("message", "pending:1"), ("message", None)]
    assert log.sync(store.page(chat.id)) == []  # nothing changed: nothing sent
    store.update_message(chat.id, answer, content="a, revised")
    assert [m["message"]["text"] for m in log.sync(store.page(chat.id))] == ["a, revised"]
    store.clear_chat(chat.id)
    store.append_messages(chat, [{"role": "user", "content": "new"}, {"role": "assistant", "content": "start"}])
    out = log.sync(store.page(chat.id))
    assert [m["type"] for m in out] == ["log"] and [v["text"] for v in out[0]["messages"]] == ["new", "start"]
    revs = [m["rev"] for m in out]
    assert revs == [log.rev]
    log.add({"id": "pending:2", "role": "user", "text": "never saved"})
    assert [(m["type"], m.get("ids")) for m in log.sync(store.page(chat.id), replaces="pending:2")] == [
        ("remove", ["pending:2"])]
    assert question
