"""The engine API every face calls (contract 2): chats, settings, providers, templates, usage and turns."""

from __future__ import annotations

import asyncio

import pytest

from mmchat_jupyter._settings import Setting
from mmchat_jupyter.config import MMChat
from mmchat_jupyter.errors import ChatNotFound, ConfigError, UnknownOption
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.types import STATUS_COMPLETE, STATUS_INTERRUPTED, Message


@pytest.fixture
def session() -> ChatSession:
    return ChatSession(admin=MMChat())


def test_chats_list_search_get_rename_delete_clear(session):
    first = session.chats.create("first", system="Be brief.")
    session.send("about graphs", chat="second")
    assert [c.name for c in session.chats.list()] == ["second", "first"]
    assert [c.name for c in session.chats.list(search="GRAPHS")] == ["second"]  # message text, any case
    assert [c.name for c in session.chats.list(search="fir")] == ["first"]  # name
    assert [c.name for c in session.chats.list(limit=1, offset=1)] == ["first"]
    assert session.chats.get(first.id).meta == {"system": "Be brief."}
    row = session.chats.list()[0]
    assert session.chats.get(row).name == "second"  # a list() row is a chat reference
    assert [m.role for m in session.chats.messages(row, offset=1)] == ["assistant"]
    assert session.chats.rename(row, "renamed").name == "renamed"
    assert session.chats.clear("renamed") == 2
    assert len(session.chats.delete("renamed").messages) == 0
    with pytest.raises(ChatNotFound):
        session.chats.get("renamed")


def test_deleting_the_current_chat_makes_the_next_turn_start_a_new_one(session):
    session.send("one")
    current = session.chat
    session.chats.delete(current)
    turn = session.send("two")
    assert turn.chat_id != current.id and "turn 1" in turn.text


def test_a_turn_in_a_named_chat_creates_it_only_when_the_turn_is_valid(session):
    with pytest.raises(ConfigError):
        session.send("hello", chat="new one", temperature=9)
    assert session.chats.list() == []
    turn = session.send("hello", chat="new one")
    assert turn.saved and turn.chat == "new one" and session.chat.id == turn.chat_id


def test_unknown_options_are_refused_like_python_refuses_keywords(session):
    with pytest.raises(UnknownOption, match="Unknown option 'colour'") as info:
        session.send("hello", colour="red")
    assert isinstance(info.value, TypeError) and isinstance(info.value, ConfigError)
    assert session.chats.list() == []
    with pytest.raises(UnknownOption, match="seed"):  # echo has no extras; openai has
        session.send("hello", seed=3)
    assert session.resolve("openai", seed="3")[1].extra == {"seed": 3}


def test_settings_say_where_each_value_comes_from(session, monkeypatch):
    monkeypatch.setenv("MMCHAT_TEMPERATURE", "0.4")
    assert session.settings.explain("temperature") == Setting("temperature", 0.4, "environment", "MMCHAT_TEMPERATURE")
    session.settings.set("temperature", "0,7")  # a decimal comma is understood
    assert session.settings.explain("temperature").value == 0.7
    session.choose("temperature", 0.1)
    assert session.settings.explain("temperature").source == "session"
    assert session.settings.explain("temperature", 1.5).source == "call"
    with pytest.raises(ConfigError, match="top_p must be a number above 0, up to 1"):
        session.settings.set("top_p", "0")
    with pytest.raises(ConfigError, match=r"Unknown provider 'nosuch': choose one of echo, .*gigachat, openai"):
        session.settings.set("provider", "nosuch")


def test_a_saved_provider_that_is_gone_is_reported_once_and_the_default_used(session):
    session.store.update_settings(provider="uninstalled-plugin")
    assert session.settings.get("provider") == "echo"
    notices = session.notices()
    assert len(notices) == 1 and "'uninstalled-plugin'" in notices[0] and "%chat set provider=echo" in notices[0]
    assert session.send("still works").status == STATUS_COMPLETE
    assert session.notices() == []  # said once


def test_provider_status_is_the_one_answer(session, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    status = session.providers.status("openai")
    assert status.configured and status.source == "no key needed (OPENAI_BASE_URL)"
    assert status.base_url == "http://127.0.0.1:9/v1" and status.default  # configured: it is the default now
    assert not session.providers.status("gigachat").configured
    assert {"echo", "gigachat", "openai", "yandexgpt"} <= {s.name for s in session.providers.list()}
    assert "seed" in [spec.name for spec in session.providers.options("openai")]


def test_a_settings_file_does_not_send_the_environments_key_elsewhere(session, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    session.store.update_settings(providers={"openai": {"base_url": "http://attacker.example/v1"}})
    assert session.providers.instance("openai").base_url == "http://127.0.0.1:9/v1"
    assert session.providers.status("openai").base_url == "http://127.0.0.1:9/v1"
    [notice] = session.notices()
    assert notice.startswith("Your saved settings: providers.openai.base_url ignored: the key comes from environment")


def test_templates_are_checked_when_saved(session):
    with pytest.raises(ConfigError, match=r"unknown placeholder \{inpt\}: did you mean \{input\}\?"):
        session.templates.add("typo", "Review {inpt}")
    with pytest.raises(ConfigError, match=r"has no \{input\}"):
        session.templates.add("bare", "Review this")
    session.templates.add("review", "Review {input} as JSON like {{\"ok\": true}}")
    assert session.templates.apply("review", "x") == 'Review x as JSON like {"ok": true}'
    assert session.send("code", template="review").prompt.startswith("Review code")
    assert not session.templates.get("review").builtin


def test_usage_and_stop(session, monkeypatch):
    monkeypatch.setenv("MMCHAT_ECHO_DELAY", "0.001")  # read when the provider is made, on the first turn
    session.send("count me")
    assert session.usage()[0].messages == 1

    async def ask_and_stop() -> None:
        task = asyncio.ensure_future(session.asend("long answer please"))
        while not session.running and not task.done():
            await asyncio.sleep(0.01)
        assert session.stop(chat=session.chat_ref)
        turn = await task
        assert turn.status == STATUS_INTERRUPTED and turn.saved and len(turn.text) < 100

    asyncio.run(ask_and_stop())
    assert session.chat.messages[-1].status == STATUS_INTERRUPTED and not session.running


def test_the_public_message_type_is_accepted_by_the_store(session):
    chat = session.chats.create("typed")
    session.store.append_message(chat, Message("user", "from the public type"))
    assert session.chats.get(chat).messages[0].content == "from the public type"


def test_pages_info_and_the_change_signal_for_faces_that_follow_a_chat(session):
    seq = session.chats.change_seq()
    for n in range(3):
        session.send(f"question {n}", chat="followed")
    assert session.chats.change_seq() > seq
    found = session.chats.changes(seq)
    assert {change.kind for change in found.events} >= {"chat_created", "message_added"} and not found.resync
    info = session.chats.info("followed")
    assert (info.name, info.total, info.messages) == ("followed", 6, [])
    page = session.chats.page("followed", before=4, limit=2)
    assert [m.content for m in page.messages] == ["question 1", session.chats.get("followed").messages[3].content]
    assert page.first == 2
