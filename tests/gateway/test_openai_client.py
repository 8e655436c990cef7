"""The official `openai` package, unmodified, with a user's JupyterHub token as its API key: the check that the
gateway's OpenAI-compatible API really is."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.gateway


def client(gateway, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}v1", api_key=token, max_retries=0)


def test_the_openai_package_streams_through_the_gateway(start_gateway, tokens, upstream):
    gateway = start_gateway()
    upstream.gigachat.script(["Привет", ", ", "мир", "!"])
    stream = client(gateway, tokens["ann"]).chat.completions.create(
        model="gigachat/GigaChat", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Поздоровайся"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Привет, мир!"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]


def test_the_openai_package_gets_whole_answers_models_and_errors(start_gateway, tokens):
    gateway = start_gateway(limits={"*": {"requests_per_minute": 2}})
    ann = client(gateway, tokens["ann"])
    completion = ann.chat.completions.create(model="yandexgpt/yandexgpt-lite",
                                             messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "You said: Hi"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    models = [m.id for m in ann.models.list()]
    assert "yandexgpt/yandexgpt-lite" in models and "openai/gpt-4o-mini" in models
    ann.chat.completions.create(model="yandexgpt/yandexgpt-lite", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.RateLimitError) as limited:  # the third request in a minute
        ann.chat.completions.create(model="yandexgpt/yandexgpt-lite", messages=[{"role": "user", "content": "Hi"}])
    assert "your limit on the hub's LLM gateway" in str(limited.value)
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway, tokens["vic"]).models.list()
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "not-a-token").models.list()


def test_health_needs_no_token(start_gateway):
    gateway = start_gateway()
    response = httpx.get(f"{gateway.url}health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
