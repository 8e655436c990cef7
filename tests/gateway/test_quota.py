"""Limits through the HTTP API: 429 with Retry-After and one line in the caller's language, answers capped near the
limit, budgets shared by a group, and a new day."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from .conftest import ask

pytestmark = pytest.mark.gateway

#: Thirty tokens an answer (the fake counts one scripted piece as one token).
LONG = ["word "] * 30


def test_over_the_daily_limit_a_429_with_retry_after_and_one_line_in_the_callers_language(
    start_gateway, tokens, upstream
):
    gateway = start_gateway(limits={"*": {"tokens_per_day": 100}})
    upstream.yandex.script(LONG)
    answers = [ask(gateway, tokens["ann"], "Hello", stream=i % 2 == 0) for i in range(3)]
    assert [a.status for a in answers] == [200, 200, 200], [a.body for a in answers]
    # Each was capped to what was left of the day's 100 tokens (5 of them reserved for the prompt).
    caps = [r.json()["completionOptions"]["maxTokens"] for r in upstream.yandex.requests]
    assert caps == ["95", "64", "33"]
    refused = ask(gateway, tokens["ann"], "Hello")
    assert refused.status == 429
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    assert refused.error["type"] == "rate_limit_error" and refused.error["code"] == "tokens_per_day"
    assert re.fullmatch(
        r"You have used your daily limit of 100 tokens on the hub's LLM gateway: it renews in (\d+ h )?\d+ min\.",
        refused.error["message"],
    ), refused.error["message"]
    russian = ask(gateway, tokens["ann"], "Привет", lang="ru-RU,ru;q=0.9,en;q=0.5", stream=False)
    assert russian.status == 429
    assert re.fullmatch(
        r"Вы израсходовали суточный лимит токенов в LLM-шлюзе хаба \(100\): он обновится через (\d+ ч )?\d+ мин\.",
        russian.error["message"],
    ), russian.error["message"]
    assert len(upstream.yandex.requests) == 3  # the refused ones never reached the provider
    # Another user's day is their own.
    assert ask(gateway, tokens["sam"], "Hello").status == 200


def test_a_new_day_renews_the_daily_limit(start_gateway, tokens, upstream):
    gateway = start_gateway(limits={"*": {"tokens_per_day": 40}})
    upstream.yandex.script(LONG)
    assert ask(gateway, tokens["ann"]).status == 200
    assert ask(gateway, tokens["ann"]).status == 429
    gateway.gateway.clock = lambda: time.time() + 86400
    assert ask(gateway, tokens["ann"]).status == 200


def test_the_monthly_limit_and_the_groups_shared_budget(start_gateway, tokens, upstream):
    limits = {"*": {"tokens_per_month": 1000}, "group:analysts": {"group_tokens_per_day": 70}}
    gateway = start_gateway(limits=limits)
    upstream.yandex.script(LONG)
    assert ask(gateway, tokens["ann"]).status == 200
    assert ask(gateway, tokens["amy"]).status == 200  # 62 of the group's 70 used by its two members
    refused = ask(gateway, tokens["amy"])
    assert refused.status == 429 and refused.error["code"] == "group_tokens_per_day"
    assert refused.error["message"].startswith(
        "Your group analysts has used its daily limit of 70 tokens on the hub's LLM gateway: it renews in")
    assert ask(gateway, tokens["sam"]).status == 200  # scientists have no such budget
    tight = start_gateway(limits={"*": {"tokens_per_month": 40}})
    assert tight.url != gateway.url
    assert ask(tight, tokens["sam"]).status == 200
    month = ask(tight, tokens["sam"])
    assert month.status == 429 and month.error["code"] == "tokens_per_month"


def test_requests_per_minute(start_gateway, tokens):
    gateway = start_gateway(limits={"*": {"requests_per_minute": 2}})
    assert [ask(gateway, tokens["ann"], stream=False).status for _ in range(2)] == [200, 200]
    refused = ask(gateway, tokens["ann"])
    assert refused.status == 429 and refused.error["code"] == "requests_per_minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.error["message"].startswith(
        "You have sent 2 requests in a minute, your limit on the hub's LLM gateway: retry in")


def test_concurrent_streams(start_gateway, tokens, upstream):
    gateway = start_gateway(limits={"*": {"concurrent_streams": 1}})
    upstream.yandex.script(["one ", "two ", "three ", "four"])
    upstream.yandex.tamper(delay=0.3)
    first_chunk, texts = threading.Event(), []

    def slow_reader() -> None:
        with httpx.stream("POST", f"{gateway.url}v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {tokens['ann']}"},
                          json={"model": "yandexgpt/yandexgpt-lite", "stream": True,
                                "messages": [{"role": "user", "content": "count"}]}) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    first_chunk.set()
                texts.append(line)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    assert first_chunk.wait(10)
    refused = ask(gateway, tokens["ann"])
    assert refused.status == 429 and refused.error["code"] == "concurrent_streams"
    assert refused.error["message"] == (
        "You already have 1 answers streaming, your limit on the hub's LLM gateway: wait for one to finish.")
    assert ask(gateway, tokens["sam"]).status == 200  # someone else's streams do not count
    reader.join(10)
    assert "data: [DONE]" in texts
    assert ask(gateway, tokens["ann"]).status == 200


def test_max_tokens_above_the_ceiling_is_refused_and_the_ceiling_applies_when_none_is_asked(
    start_gateway, tokens, upstream
):
    gateway = start_gateway(limits={"*": {"max_tokens": 50}})
    refused = ask(gateway, tokens["ann"], max_tokens=500)
    assert refused.status == 400
    assert refused.error["message"] == "max_tokens 500 is above the limit of 50 set by your administrator."
    assert ask(gateway, tokens["ann"]).status == 200
    assert ask(gateway, tokens["ann"], max_tokens=20).status == 200
    assert [r.json()["completionOptions"]["maxTokens"] for r in upstream.yandex.requests] == ["50", "20"]
