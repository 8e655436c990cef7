"""`%%chat` against the loopback fakes of YandexGPT, GigaChat and an OpenAI-compatible server: what goes over the
wire when the provider changes mid-chat, and how failures look (one line, the partial answer kept)."""

from __future__ import annotations

import pytest

from mmchat_jupyter.config import MMChat
from mmchat_jupyter.session import ChatSession

from .fakes.gigachat import FakeGigaChat
from .fakes.openai_compat import FakeOpenAI
from .fakes.yandex import FOLDER, FakeYandex
from .magic_shell import run


@pytest.fixture
def servers():
    with FakeYandex(keys={"AQVN-key"}) as yandex, FakeGigaChat() as giga, FakeOpenAI() as openai:
        yield yandex, giga, openai


@pytest.fixture
def wired(magics, servers):
    """The magics' session pointed at the fakes (no retries, so failures show at once)."""
    yandex, giga, openai = servers
    magics.session = ChatSession(provider_settings={
        "yandexgpt": {"base_url": yandex.url, "api_key": "AQVN-key", "folder_id": FOLDER, "max_retries": 0},
        "gigachat": giga.settings(max_retries=0),
        "openai": {"base_url": openai.url + "/v1", "max_retries": 0},
    })
    return servers


def test_switching_provider_mid_chat_sends_the_whole_chat(shell, wired):
    yandex, giga, openai = wired
    yandex.script(["Привет", ", мир"])
    giga.script(["Giga", " here"])
    openai.script(["Open", " here"])
    first = run(shell, "%%chat -p yandexgpt\nПервый вопрос")
    assert first.final["text/plain"] == "Привет, мир"
    assert "yandexgpt · yandexgpt-lite · " in first.final["text/html"]
    second = run(shell, "%%chat -p gigachat -m GigaChat-2\nSecond question")
    assert second.final["text/plain"] == "Giga here" and "gigachat · GigaChat-2 · " in second.final["text/html"]
    assert giga.conversations[-1] == [
        {"role": "user", "content": "Первый вопрос"},
        {"role": "assistant", "content": "Привет, мир"},
        {"role": "user", "content": "Second question"},
    ]
    run(shell, "%%chat -p openai\nThird")
    sent = openai.requests[-1].json()["messages"]
    assert [m["content"] for m in sent] == ["Первый вопрос", "Привет, мир", "Second question", "Giga here", "Third"]


def test_provider_error_is_one_line_and_the_prompt_is_kept(shell, magics, wired):
    yandex, _giga, _openai = wired
    yandex.fail(429, retry_after=120)
    ran = run(shell, "%%chat -p yandexgpt\nAre you busy?")
    assert ran.error is None
    assert ran.stderr.count("\n") == 1 and "YandexGPT is limiting requests (429" in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    assert "failed" in ran.final["text/html"]
    user, answer = magics.session.chat.messages
    assert user.content == "Are you busy?" and answer.status == "error"
    # The chat stays usable: the failed answer is left out of the next request's context.
    yandex.script(["Free", " now"])
    assert run(shell, "%%chat -p yandexgpt\nAnd now?").final["text/plain"] == "Free now"
    assert [m["text"] for m in yandex.requests[-1].json()["messages"]] == ["Are you busy?", "And now?"]


def test_dropped_stream_shows_and_saves_the_partial_answer(shell, magics, wired):
    _yandex, _giga, openai = wired
    openai.script(["one ", "two ", "three ", "four"])
    openai.tamper(drop_after=3)
    ran = run(shell, "%%chat -p openai\ncount")
    assert "dropped mid-answer" in ran.stderr and ran.stderr.count("\n") == 1
    shown = ran.final["text/plain"]
    assert shown.startswith("one") and "four" not in shown
    answer = magics.session.chat.messages[-1]
    assert (answer.content, answer.status) == (shown, "error")


def test_code_is_highlighted_and_can_become_the_next_cell(shell, wired):
    _yandex, _giga, openai = wired
    openai.script(["Here:\n\n```python\n", "def f(x):\n", "    return x\n", "```\n"])
    shell.rl_next_input = None
    ran = run(shell, "%%chat -p openai -f code\nwrite f")
    html = ran.final["text/html"]
    assert 'class="highlight"' in html and ".mmchat-md .highlight" in html  # the Pygments CSS comes with code
    assert shell.rl_next_input == "def f(x):\n    return x"
    plain = run(shell, "%%chat\nno code here").final["text/html"]
    assert ".highlight" not in plain  # ... and only with code


def test_models_asks_a_provider_configured_centrally(shell, magics, servers):
    """Regression: credentials from the administrator's configuration (not the environment) used to be ignored,
    so `%chat models` showed the built-in list instead of asking the server."""
    _yandex, giga, _openai = servers
    magics.session = ChatSession(admin=MMChat(provider_settings={"gigachat": giga.settings(max_retries=0)}))
    listed = run(shell, "%chat models gigachat").stdout
    assert "GigaChat-2-Max-preview" in listed and giga.token_requests == 1
