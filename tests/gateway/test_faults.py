"""What a client gets when something fails: the provider down, limiting, failing or cut off mid-answer, GigaChat's
token refresh refused, the usage database or the hub unreachable, the client itself leaving, an answer too long."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.fakes.gigachat import OAUTH_PATH
from tests.fakes.server import Reply

from .conftest import ask
from .harness import free_port, read_audit, wait_for

pytestmark = pytest.mark.gateway


def test_a_provider_that_is_down(start_gateway, tokens, upstream):
    down = f"http://127.0.0.1:{free_port()}"
    gateway = start_gateway(
        providers=upstream.providers(openai={"base_url": down, "api_key": "sk-x", "max_retries": 0}))
    answer = ask(gateway, tokens["ann"], model="openai/gpt-4o-mini")
    assert answer.status == 502
    assert answer.error["message"] == (
        "The hub's LLM gateway cannot reach OpenAI API: try again later, or tell your administrator.")
    assert down not in answer.body.decode()


def test_a_provider_limiting_requests_passes_its_retry_after_on(start_gateway, tokens, upstream):
    gateway = start_gateway()
    upstream.yandex.fail(429, retry_after=7)
    answer = ask(gateway, tokens["ann"])
    assert answer.status == 429 and answer.headers["retry-after"] == "7"
    assert answer.error["message"].startswith("YandexGPT is limiting requests (429:")
    assert answer.error["message"].endswith("retry in 7 s.")
    upstream.yandex.fail(429, retry_after=7)
    russian = ask(gateway, tokens["ann"], lang="ru")
    assert russian.error["message"].startswith("YandexGPT ограничивает")


@pytest.mark.parametrize("status", [500, 503])
def test_a_provider_failing_on_its_side(start_gateway, tokens, upstream, status):
    gateway = start_gateway()
    upstream.openai.fail(status)
    answer = ask(gateway, tokens["sam"], model="openai/gpt-4o-mini", stream=False)
    assert answer.status == 502 and answer.error["type"] == "upstream_error"
    assert answer.error["message"].startswith(f"OpenAI API failed on its side ({status}:")


def test_an_answer_cut_off_mid_stream_keeps_its_text_and_ends_with_an_error_event(start_gateway, tokens, upstream,
                                                                                 tmp_path):
    gateway = start_gateway()
    upstream.yandex.script(["one ", "two ", "three ", "four ", "five"])
    upstream.yandex.tamper(drop_after=2)
    answer = ask(gateway, tokens["ann"])
    assert answer.status == 200
    assert answer.text == "one two "
    error = answer.error
    assert error["code"] == 502 and "dropped mid-answer" in error["message"]
    assert "[DONE]" not in answer.events
    gateway.stop()
    (entry,) = read_audit(tmp_path / "audit.jsonl")
    assert (entry["status"], entry["http_status"]) == ("error", 502)
    assert entry["usage"]["completion_tokens"] == 3  # estimated from the 8 characters that got through


def test_gigachat_refusing_the_token_refresh(start_gateway, tokens, upstream):
    gateway = start_gateway()
    upstream.gigachat.script(["fine"])
    assert ask(gateway, tokens["ann"], model="gigachat/GigaChat").status == 200
    upstream.gigachat.expire_tokens()
    upstream.gigachat.fail_next(Reply.json(401, {"code": 6, "message": "credentials doesn't match db data"}),
                                path=OAUTH_PATH)
    refused = ask(gateway, tokens["ann"], model="gigachat/GigaChat")
    assert refused.status == 502
    assert refused.error["message"] == "The hub's LLM gateway could not sign in to GigaChat: tell your administrator."
    upstream.gigachat.fail_next(Reply.json(500, {"message": "oauth is down"}), path=OAUTH_PATH)
    assert ask(gateway, tokens["ann"], model="gigachat/GigaChat").status == 502
    # Once the OAuth host is back, the next request gets a new token by itself.
    assert ask(gateway, tokens["ann"], model="gigachat/GigaChat").text == "fine"


def test_an_unreachable_usage_database_refuses_requests_with_one_line(start_gateway, tokens, upstream):
    gateway = start_gateway(db_url=f"postgresql://mmchat@127.0.0.1:{free_port()}/usage",
                            limits={"*": {"tokens_per_day": 1000}})
    answer = ask(gateway, tokens["ann"])
    assert answer.status == 503
    assert answer.error["message"] == (
        "The hub's LLM gateway cannot record usage right now, so it is not answering: try again in a few minutes, "
        "or tell your administrator.")
    assert upstream.yandex.requests == []  # not served unmetered
    assert ask(gateway, tokens["ann"], lang="ru").error["message"].startswith("LLM-шлюз хаба сейчас не может")
    assert httpx.get(f"{gateway.url}usage/me", headers={"Authorization": f"Bearer {tokens['ann']}"}).status_code == 503


def test_fail_open_serves_and_keeps_the_usage_to_record_later(start_gateway, tokens, upstream):
    gateway = start_gateway(db_url=f"postgresql://mmchat@127.0.0.1:{free_port()}/usage", fail_open=True,
                            limits={"*": {"tokens_per_day": 1000}})
    assert ask(gateway, tokens["ann"]).status == 200
    assert gateway.gateway.unsettled == 1


def test_a_client_that_leaves_mid_answer_cancels_the_upstream_request(start_gateway, tokens, upstream, tmp_path):
    gateway = start_gateway()
    upstream.yandex.script([f"piece {i} " for i in range(50)])
    upstream.yandex.tamper(delay=0.1)
    with httpx.stream("POST", f"{gateway.url}v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {tokens['ann']}"},
                      json={"model": "yandexgpt/yandexgpt-lite", "stream": True,
                            "messages": [{"role": "user", "content": "a long one"}]}) as response:
        lines = response.iter_lines()
        while not next(lines).startswith("data: {"):
            pass
    left = time.monotonic()
    assert wait_for(lambda: len(upstream.yandex.hangups) == 1, 3), "the gateway kept reading the provider"
    assert time.monotonic() - left < 1.0
    assert wait_for(lambda: (tmp_path / "audit.jsonl").exists() and read_audit(tmp_path / "audit.jsonl"))
    (entry,) = read_audit(tmp_path / "audit.jsonl")
    assert entry["status"] == "cancelled" and entry["usage"]["completion_tokens"] > 0
    me = httpx.get(f"{gateway.url}usage/me", headers={"Authorization": f"Bearer {tokens['ann']}"}).json()
    assert me["today"]["requests"] == 1


def test_an_answer_longer_than_the_gateway_allows(start_gateway, tokens, upstream):
    gateway = start_gateway(request_timeout=0.5)
    upstream.yandex.script([f"piece {i} " for i in range(20)])
    upstream.yandex.tamper(delay=0.1)
    answer = ask(gateway, tokens["ann"])
    assert answer.status == 200 and answer.text.startswith("piece 0 ")
    assert answer.error["code"] == 504 and "took longer than the hub's LLM gateway allows" in answer.error["message"]
    upstream.yandex.tamper(stall=1.0)
    assert ask(gateway, tokens["ann"]).status == 504


def test_when_the_hub_cannot_be_asked_about_a_token(hub, upstream, tmp_path, tokens):
    from .harness import ThreadGateway

    config = hub.gateway_config(db_url=f"sqlite:///{tmp_path / 'usage.sqlite'}", providers=upstream.providers())
    config.HubOAuth.api_url = f"http://127.0.0.1:{free_port()}/hub/api"
    with ThreadGateway(config) as gateway:
        answer = ask(gateway, tokens["ann"])
    assert answer.status == 503
    assert answer.error["message"] == (
        "The hub's LLM gateway cannot check your token with JupyterHub right now: try again in a minute.")


def test_a_stopping_gateway_lets_the_answers_in_progress_finish(start_gateway, tokens, upstream):
    gateway = start_gateway()
    upstream.yandex.script(["a ", "b ", "c ", "d"])
    upstream.yandex.tamper(delay=0.2)
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.setdefault("answer", ask(gateway, tokens["ann"])))
    worker.start()
    assert wait_for(lambda: gateway.gateway.active == 1)
    gateway.stop()
    worker.join(10)
    answer = result["answer"]
    assert answer.status == 200 and answer.text == "a b c d" and answer.events[-1] == "[DONE]"
