"""The engine both faces use: saving, interrupting, regenerating, switching providers, policy."""

from __future__ import annotations

import asyncio

import pytest

from mmchat_jupyter.config import MMChat
from mmchat_jupyter.errors import ConfigError
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.types import STATUS_COMPLETE, STATUS_ERROR, STATUS_INTERRUPTED
from tests.fakes.yandex import FOLDER, FakeYandex


@pytest.fixture
def session():
    return ChatSession("engine", admin=MMChat())


def test_a_turn_is_saved_with_its_route_and_usage(session):
    turn = session.send("Hello there")
    assert turn.status == STATUS_COMPLETE and "\n\nHello there\n\n" in turn.text
    user, answer = session.chat.messages
    assert (user.role, user.content) == ("user", "Hello there")
    assert (answer.content, answer.provider, answer.status) == (turn.text, "echo", STATUS_COMPLETE)
    assert answer.usage["completion_tokens"] > 0


def test_a_configuration_error_leaves_no_half_turn(session, monkeypatch):
    """Regression: a ConfigError raised while building the request used to leave the prompt and an empty
    'interrupted' answer in history."""
    monkeypatch.setenv("YANDEX_API_KEY", "some-key-value")  # credentials but no YANDEX_FOLDER_ID
    with pytest.raises(ConfigError, match="YANDEX_FOLDER_ID"):
        session.send("Hello", provider="yandexgpt", system="be brief")
    chat = session.chat
    assert chat.messages == [] and "system" not in chat.meta


def test_switching_provider_mid_chat_keeps_the_context(session):
    session.send("first question")
    with FakeYandex() as server:
        session.provider_overrides["yandexgpt"] = {
            "base_url": server.url, "api_key": "k-123456", "folder_id": FOLDER
        }
        turn = session.send("second question", provider="yandexgpt")
        sent = server.requests[-1].json()["messages"]
    assert turn.status == STATUS_COMPLETE and turn.provider == "yandexgpt"
    assert sent[0]["text"] == "first question" and sent[-1]["text"] == "second question"
    third = session.send("third question", provider="echo")
    assert "turn 3" in third.text


def test_regenerate_replaces_the_last_answer_in_place(session):
    session.send("question")
    before = session.chat.messages
    turn = session.send("", regenerate=True, model="echo-1")
    after = session.chat.messages
    assert len(after) == len(before) and after[-1].id == before[-1].id == turn.assistant_id
    assert turn.prompt == "question"


def test_provider_failure_keeps_the_partial_answer_marked(session):
    with FakeYandex() as server:
        server.script(["Part one, ", "part two, ", "part three."])
        server.tamper(drop_after=2)
        session.provider_overrides["yandexgpt"] = {
            "base_url": server.url, "api_key": "k-123456", "folder_id": FOLDER, "max_retries": 0
        }
        turn = session.send("q", provider="yandexgpt")
    assert turn.status == STATUS_ERROR and turn.text == "Part one, part two, " and "\n" not in turn.error
    saved = session.chat.messages[-1]
    assert (saved.status, saved.content, saved.error) == (STATUS_ERROR, turn.text, turn.error)


def test_cancelling_the_async_task_keeps_the_partial_answer(session, monkeypatch):
    monkeypatch.setenv("MMCHAT_ECHO_DELAY", "0.02")

    async def ask_then_stop():
        task = asyncio.create_task(session.asend("a question long enough to stream for a while"))
        await asyncio.sleep(0.15)
        assert session.stop()
        return await task

    turn = asyncio.run(ask_then_stop())
    saved = session.chat.messages[-1]
    assert turn.status == STATUS_INTERRUPTED and turn.text and saved.status == STATUS_INTERRUPTED
    assert saved.content == turn.text
    assert session.send("next").status == STATUS_COMPLETE


def test_locked_provider_cannot_be_overridden(tmp_path):
    admin = MMChat(default_provider="echo", locked=["provider"])
    session = ChatSession("locked", admin=admin, store=HistoryStore(tmp_path))
    with pytest.raises(ConfigError, match="administrator"):
        session.send("hi", provider="gigachat")
    assert session.chat.messages == []
