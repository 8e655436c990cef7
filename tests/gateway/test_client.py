"""The kernel side: with the gateway configured (MMCHAT_GATEWAY_URL or c.MMChat.gateway_url), every face reaches
every provider but echo through it with the user's own JupyterHub token, says so, and shows its refusals as they
are; a gateway killed mid-answer leaves the text so far."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from mmchat_jupyter.config import MMChat
from mmchat_jupyter.session import ChatSession

from .harness import ProcessGateway, wait_for

pytestmark = pytest.mark.gateway


@pytest.fixture
def as_user(monkeypatch, tokens):
    def become(user: str, gateway_url: str) -> None:
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", tokens[user])
        monkeypatch.setenv("MMCHAT_GATEWAY_URL", gateway_url)
    return become


def test_every_provider_but_echo_goes_through_the_gateway_with_the_users_token(start_gateway, as_user, upstream):
    gateway = start_gateway()
    as_user("ann", gateway.url)
    session = ChatSession()
    status = session.providers.status("yandexgpt")
    assert (status.configured, status.source, status.base_url) == (True, "via the hub's gateway", gateway.url[:-1])
    assert session.providers.status("echo").source != "via the hub's gateway"
    turn = session.send("Hello", provider="yandexgpt", model="yandexgpt-lite")
    assert (turn.status, turn.text) == ("complete", "You said: Hello")
    upstream.gigachat.script(["Привет"])
    assert session.send("Hi", provider="gigachat").text == "Привет"
    sent = upstream.yandex.requests[-1]
    assert sent.header("authorization").startswith("Api-Key AQVN-gateway-canary")  # the gateway's key upstream
    assert "yandexgpt-lite" in session.providers.models("yandexgpt")
    assert session.send("offline", provider="echo").status == "complete"


def test_the_gateways_refusal_is_shown_as_it_is_in_the_users_language(start_gateway, as_user, upstream):
    gateway = start_gateway(limits={"*": {"tokens_per_day": 40}})
    as_user("ann", gateway.url)
    upstream.yandex.script(["word "] * 30)
    session = ChatSession()
    assert session.send("Hello", provider="yandexgpt").status == "complete"
    refused = session.send("Hello again", provider="yandexgpt")
    assert refused.status == "error"
    assert refused.error.startswith("You have used your daily limit of 40 tokens on the hub's LLM gateway: it renews")
    session.settings.set("lang", "ru")
    russian = session.send("Ещё", provider="yandexgpt")
    assert russian.error.startswith("Вы израсходовали суточный лимит токенов в LLM-шлюзе хаба (40)")
    as_user("vic", gateway.url)
    assert "vic нет доступа к LLM-шлюзу хаба" in ChatSession().send("x", provider="yandexgpt").error


def test_a_revised_yandex_answer_is_replaced_not_appended(start_gateway, as_user, upstream):
    gateway = start_gateway()
    as_user("sam", gateway.url)
    upstream.yandex.script_texts(["Helo", "Hello, world"])
    assert ChatSession().send("x", provider="yandexgpt").text == "Hello, world"


def test_mmchat_usage_and_doctor_show_the_gateway(start_gateway, as_user, tokens):
    gateway = start_gateway()
    as_user("sam", gateway.url)
    ChatSession().send("Hello", provider="yandexgpt")
    usage = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "usage", "--by", "model"],
                           capture_output=True, text=True, check=False)
    assert usage.returncode == 0, usage.stderr
    assert "Usage recorded by the hub's LLM gateway for sam" in usage.stdout
    assert "yandexgpt · yandexgpt-lite" in usage.stdout
    doctor = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "doctor"], capture_output=True, text=True,
                            check=False)
    assert "via the hub's gateway" in doctor.stdout, doctor.stdout + doctor.stderr
    assert tokens["sam"] not in doctor.stdout + usage.stdout


def test_a_gateway_killed_mid_answer_leaves_the_text_so_far(hub, upstream, as_user, tmp_path):
    config = hub.gateway_config(db_url=f"sqlite:///{tmp_path / 'usage.sqlite'}", providers=upstream.providers())
    gateway = ProcessGateway(config, tmp_path).start()
    try:
        as_user("ann", gateway.url)
        upstream.yandex.script([f"piece {i} " for i in range(40)])
        upstream.yandex.tamper(delay=0.1)
        seen = threading.Event()
        session = ChatSession()
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault(
            "turn", session.send("long", provider="yandexgpt", on_update=lambda *a: seen.set())))
        worker.start()
        assert seen.wait(10)
        assert wait_for(lambda: len(upstream.yandex.requests) == 1)
        gateway.kill()
        worker.join(20)
        turn = result["turn"]
        assert turn.status == "error" and turn.text.startswith("piece 0 ")
        assert "\n" not in turn.error
        stored = session.chats.messages(turn.chat_id)[-1]
        assert stored.content == turn.text
    finally:
        gateway.kill()


def test_a_users_profile_cannot_turn_the_gateway_off():
    from mmchat_jupyter.config import POLICY_KNOBS

    assert "gateway_url" in POLICY_KNOBS
    assert MMChat(gateway_url="http://hub/services/mmchat-gateway").gateway_url
