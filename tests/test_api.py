"""`mmchat_jupyter.Chat`: the engine from Python code, offline (echo) and against a loopback OpenAI-compatible fake."""

from __future__ import annotations

import _thread
import threading

import pytest
from IPython.utils.capture import capture_output

import mmchat_jupyter
import mmchat_jupyter.session as session_module
from mmchat_jupyter import Chat
from mmchat_jupyter.errors import AuthError, ConfigError
from mmchat_jupyter.session import ChatSession

from .fakes.openai_compat import FakeOpenAI


@pytest.fixture
def script(monkeypatch):
    """Run as a plain script would: no IPython in sight, nothing displayed."""
    monkeypatch.setattr("mmchat_jupyter.api._shell", lambda: None)


@pytest.fixture
def fake():
    with FakeOpenAI(api_key="sk-right") as server:
        yield server


def openai_chat(server: FakeOpenAI, api_key: str = "sk-right", name: str = "api") -> Chat:
    settings = {"openai": {"base_url": server.url + "/v1", "api_key": api_key, "max_retries": 0}}
    return Chat(name, provider="openai", session=ChatSession(provider_settings=settings))


def test_chat_is_exported_lazily():
    assert mmchat_jupyter.Chat is Chat and "Chat" in mmchat_jupyter.__all__


def test_ask_returns_text_and_saves_the_turn(script):
    chat = Chat("notes", temperature=0.2)
    reply = chat.ask("hello")
    assert reply.startswith("**Echo** · turn 1") and "\n\nhello\n\n" in reply
    assert chat.name == "notes" and repr(chat) == "Chat('notes', provider=None, model=None)"
    user, answer = chat.history
    assert (user.role, user.content) == ("user", "hello")
    assert (answer.content, answer.status, answer.params["temperature"]) == (reply, "complete", 0.2)
    assert "turn 2" in Chat("notes").ask("again", max_tokens=500)
    assert chat.clear() == 4 and chat.history == []


def test_unnamed_chat_continues_the_kernel_session(script, monkeypatch):
    monkeypatch.setattr(session_module, "_default", None)
    first = Chat()
    first.ask("one")
    assert Chat().session is first.session is session_module.default_session()
    assert "turn 2" in Chat().ask("two")


def test_unknown_keyword_is_a_type_error(script):
    with pytest.raises(TypeError, match="colour"):
        Chat("x", colour="red")
    with pytest.raises(TypeError, match="top_k"):
        Chat("x").ask("q", top_k=3)


def test_bad_value_raises_config_error_and_saves_nothing(script):
    chat = Chat("strict")
    with pytest.raises(ConfigError, match="temperature"):
        chat.ask("q", temperature=9)
    assert chat.history == []


def test_stream_yields_deltas_and_saves(script):
    chat = Chat("streamed")
    deltas = list(chat.stream("stream me"))
    assert len(deltas) > 5
    assert "".join(deltas) == chat.history[-1].content and chat.history[-1].status == "complete"


def test_stream_stopped_early_keeps_the_partial_answer(script):
    chat = Chat("partial")
    stream = chat.stream("stop soon")
    first = next(stream)
    stream.close()
    assert (chat.history[-1].content, chat.history[-1].status) == (first, "interrupted")


def test_ask_displays_in_a_notebook(shell):
    chat = Chat("shown", session=ChatSession())
    with capture_output() as captured:
        reply = chat.ask("show me")
    final = captured.outputs[-1].data
    assert final["text/markdown"] == reply and "mmchat-footer" in final["text/html"]
    assert len(captured.outputs) >= 2  # the loading line, then the answer in its place


def test_interrupt_returns_the_partial_text(script, monkeypatch):
    monkeypatch.setenv("MMCHAT_ECHO_DELAY", "0.05")
    chat = Chat("slow")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    reply = chat.ask("take your time")
    timer.join()
    assert reply and (chat.history[-1].content, chat.history[-1].status) == (reply, "interrupted")


def test_provider_answer_and_context_go_over_the_wire(script, fake):
    fake.script(["Hi", " there"])
    chat = openai_chat(fake)
    assert chat.ask("first") == "Hi there"
    assert chat.ask("second", temperature=0.5) == "Hi there"
    sent = fake.requests[-1].json()
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("user", "first"), ("assistant", "Hi there"), ("user", "second")]
    assert sent["temperature"] == 0.5
    assert chat.history[-1].usage["total_tokens"] > 0


def test_failed_call_raises_provider_error_and_keeps_the_prompt(script, fake):
    chat = openai_chat(fake, api_key="sk-wrong")
    with pytest.raises(AuthError) as raised:
        chat.ask("are you there?")
    assert raised.value.provider == "openai" and raised.value.status == 401
    user, answer = chat.history
    assert user.content == "are you there?" and answer.status == "error" and answer.error == raised.value.message
    with pytest.raises(AuthError):
        list(chat.stream("and now?"))
    assert chat.history[-1].status == "error"
