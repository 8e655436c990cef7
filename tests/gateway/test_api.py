"""The gateway's OpenAI-compatible API against a real JupyterHub and the fake providers: who gets in, what they get,
and that the providers' keys stay in the gateway."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Upstream, ask
from .harness import read_audit

pytestmark = pytest.mark.gateway

MODELS = ("yandexgpt/yandexgpt-lite", "gigachat/GigaChat", "openai/gpt-4o-mini")


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_answer_comes_through_each_provider_with_the_gateways_key(start_gateway, tokens, upstream, model):
    gateway = start_gateway()
    upstream.gigachat.script(["You said: ", "Hello"])
    answer = ask(gateway, tokens["ann"], "Hello", model=model)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text == "You said: Hello"
    assert answer.events[-1] == "[DONE]"
    assert answer.events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert answer.events[0]["model"] == model
    assert answer.usage and answer.usage["total_tokens"] > 0
    fake = {"yandexgpt": upstream.yandex, "gigachat": upstream.gigachat, "openai": upstream.openai}[
        model.partition("/")[0]]
    sent = [r for r in fake.requests if r.method == "POST" and "oauth" not in r.path]
    assert len(sent) == 1
    authorization = sent[0].header("authorization") or ""
    assert tokens["ann"] not in authorization and tokens["ann"] not in sent[0].body.decode()
    if model.startswith("yandexgpt"):
        assert authorization == f"Api-Key {upstream.yandex.keys.copy().pop()}"
    elif model.startswith("openai"):
        assert authorization.startswith("Bearer sk-gateway-canary")


def test_a_whole_answer_when_the_client_does_not_stream(start_gateway, tokens):
    gateway = start_gateway()
    answer = ask(gateway, tokens["sam"], "Bonjour", stream=False)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.text == "You said: Bonjour"
    assert answer.usage["total_tokens"] == answer.usage["prompt_tokens"] + answer.usage["completion_tokens"] > 0


def test_a_revised_yandex_answer_is_sent_whole_and_marked(start_gateway, tokens, upstream):
    gateway = start_gateway()
    upstream.yandex.script_texts(["Helo", "Hello, world"])
    answer = ask(gateway, tokens["ann"])
    deltas = [e["choices"][0] for e in answer.events if isinstance(e, dict) and e.get("choices")]
    assert [d["delta"].get("content") for d in deltas[:2]] == ["Helo", "Hello, world"]
    assert deltas[1].get("mmchat_replace") is True and "mmchat_replace" not in deltas[0]


def test_no_token_a_wrong_token_and_no_access_are_refused_with_one_line(start_gateway, tokens):
    gateway = start_gateway()
    for token, status in ((None, 401), ("not-a-hub-token", 401), (tokens["vic"], 403)):
        answer = ask(gateway, token)
        assert answer.status == status
        message = answer.error["message"]
        assert "\n" not in message and message.endswith("."), message
    assert "vic has no access to the hub's LLM gateway" in ask(gateway, tokens["vic"]).error["message"]
    assert "JUPYTERHUB_API_TOKEN" in ask(gateway, None).error["message"]
    models = httpx.get(f"{gateway.url}v1/models", headers={"Authorization": f"token {tokens['vic']}"})
    assert models.status_code == 403


def test_the_model_list_and_the_models_allowed_follow_the_callers_groups(start_gateway, tokens):
    limits = {"*": {"models": ["yandexgpt/*"]}, "group:scientists": {"models": ["gigachat/GigaChat*"]}}
    gateway = start_gateway(limits=limits)

    def listed(user: str) -> set[str]:
        response = httpx.get(f"{gateway.url}v1/models", headers={"Authorization": f"Bearer {tokens[user]}"})
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "list"
        return {m["id"] for m in response.json()["data"]}

    ann, sam = listed("ann"), listed("sam")
    assert ann and all(m.startswith("yandexgpt/") for m in ann)
    assert sam and all(m.startswith("gigachat/GigaChat") for m in sam)
    refused = ask(gateway, tokens["ann"], model="gigachat/GigaChat")
    assert refused.status == 403
    assert refused.error["message"] == (
        "Model gigachat/GigaChat is not allowed for you on the hub's LLM gateway: see GET /v1/models for yours."
    )
    assert ask(gateway, tokens["sam"], model="gigachat/GigaChat").status == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "Tools and function calls are not supported"),
        ({"n": 2}, "`n` must be 1"),
        ({"temperature": 7}, "`temperature` must be a number from 0 to 2"),
        ({"max_tokens": 0}, "`max_tokens` must be a whole number above 0"),
        ({"model": "gpt-4o"}, "has no provider"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "Role 'tool' is not supported"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "Only text messages"),
    ],
)
def test_a_request_the_gateway_cannot_serve_gets_400_with_what_to_change(start_gateway, tokens, body, says):
    gateway = start_gateway()
    answer = ask(gateway, tokens["ann"], **body)
    assert answer.status == 400
    assert says in answer.error["message"] and answer.error["type"] == "invalid_request_error"


def test_an_unknown_model_is_404(start_gateway, tokens):
    gateway = start_gateway(models={"yandexgpt": ["yandexgpt-lite"]})
    answer = ask(gateway, tokens["ann"], model="yandexgpt/yandexgpt-pro")
    assert answer.status == 404
    assert answer.error["message"] == (
        "The hub's LLM gateway offers no model yandexgpt/yandexgpt-pro: see GET /v1/models.")
    assert ask(gateway, tokens["ann"], model="mistral/large").status == 404


def test_a_provider_error_that_echoes_the_key_reaches_the_client_without_it(start_gateway, tokens, upstream):
    gateway = start_gateway(providers=upstream.providers(
        yandexgpt={"base_url": upstream.yandex.url, "api_key": "AQVN-wrong-canary-5c1d", "folder_id": "b1g",
                   "max_retries": 0}))
    answer = ask(gateway, tokens["ann"])
    assert answer.status == 502
    assert answer.error["message"] == "The hub's LLM gateway could not sign in to YandexGPT: tell your administrator."
    assert b"canary" not in answer.body
    assert "AQVN-wrong-canary-5c1d" in upstream.yandex.requests[0].header("authorization")


def test_the_audit_line_says_who_what_and_how_much_without_the_prompt(start_gateway, tokens, tmp_path):
    gateway = start_gateway()
    ask(gateway, tokens["ann"], "a private question")
    ask(gateway, tokens["vic"], "let me in")
    gateway.stop()
    ok, refused = read_audit(tmp_path / "audit.jsonl")
    assert (ok["user"], ok["group"], ok["model"], ok["status"], ok["http_status"]) == (
        "ann", "analysts", "yandexgpt/yandexgpt-lite", "ok", 200)
    assert ok["usage"]["total_tokens"] > 0 and ok["duration_ms"] >= ok["first_token_ms"] > 0
    text = (tmp_path / "audit.jsonl").read_text()
    assert "private question" not in text and "You said" not in text
    assert (refused["user"], refused["status"], refused["http_status"]) == ("vic", "error", 403)
    assert "no access" in refused["error"]


def test_the_prompt_is_audited_only_when_the_admin_enables_it(start_gateway, tokens, tmp_path):
    gateway = start_gateway(audit_prompts=True)
    ask(gateway, tokens["ann"], "a question worth auditing")
    gateway.stop()
    (entry,) = read_audit(tmp_path / "audit.jsonl")
    assert entry["prompt"] == [{"role": "user", "content": "a question worth auditing"}]
    assert "You said" not in (tmp_path / "audit.jsonl").read_text()


def test_no_response_to_a_client_carries_a_provider_key(start_gateway, tokens, upstream: Upstream):
    gateway = start_gateway()
    bodies = [ask(gateway, tokens["ann"], model=m).body for m in MODELS]
    bodies.append(httpx.get(f"{gateway.url}v1/models", headers={"Authorization": f"Bearer {tokens['ann']}"}).content)
    bodies.append(httpx.get(f"{gateway.url}usage/me", headers={"Authorization": f"Bearer {tokens['ann']}"}).content)
    for body in bodies:
        assert not any(secret.encode() in body for secret in upstream.secrets)
