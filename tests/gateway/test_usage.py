"""Usage reports (the caller's own, and everyone's for holders of the usage scope), Prometheus metrics protected
like the hub's own, and a browser reaching the gateway through the hub's OAuth."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import httpx
import pytest

from .conftest import ask
from .harness import HubProcess

pytestmark = pytest.mark.gateway


def get(gateway, path: str, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{gateway.url}{path}", headers=headers, params=params, timeout=30)


def test_a_user_sees_their_own_usage_and_limits(start_gateway, tokens):
    gateway = start_gateway(limits={"group:analysts": {"tokens_per_day": 5000, "models": ["*"]}})
    first, second = ask(gateway, tokens["ann"], "one"), ask(gateway, tokens["ann"], "two", model="openai/gpt-4o-mini")
    ask(gateway, tokens["sam"], "not mine")
    me = get(gateway, "usage/me", tokens["ann"]).json()
    today = datetime.now(timezone.utc).date().isoformat()
    assert (me["user"], me["group"], me["groups"]) == ("ann", "analysts", ["analysts"])
    assert me["limits"] == {"tokens_per_day": 5000, "models": ["*"]}
    assert me["today"]["requests"] == 2
    assert me["today"]["total_tokens"] == first.usage["total_tokens"] + second.usage["total_tokens"]
    assert me["month"] == me["today"]
    assert {(r["day"], r["provider"], r["model"]) for r in me["rows"]} == {
        (today, "yandexgpt", "yandexgpt-lite"), (today, "openai", "gpt-4o-mini")}


def test_everyones_usage_needs_the_usage_scope(start_gateway, tokens):
    gateway = start_gateway()
    for user in ("ann", "amy", "sam"):
        ask(gateway, tokens[user], f"hello from {user}")
    assert get(gateway, "usage", tokens["ann"]).status_code == 403
    everyone = get(gateway, "usage", tokens["cfo"])
    assert everyone.status_code == 200, everyone.text
    rows = everyone.json()["rows"]
    assert {(r["user"], r["group"], r["provider"], r["model"], r["requests"]) for r in rows} == {
        ("ann", "analysts", "yandexgpt", "yandexgpt-lite", 1),
        ("amy", "analysts", "yandexgpt", "yandexgpt-lite", 1),
        ("sam", "scientists", "yandexgpt", "yandexgpt-lite", 1),
    }
    by_group = get(gateway, "usage", tokens["cfo"], by="group").json()["rows"]
    assert [(r["group"], r["requests"]) for r in by_group] == [("analysts", 2), ("scientists", 1)]
    assert get(gateway, "usage", tokens["cfo"], group="scientists", by="user").json()["rows"][0]["user"] == "sam"
    assert get(gateway, "usage", tokens["cfo"], since="2000-01-01", until="2000-01-31").json()["rows"] == []
    bad = get(gateway, "usage", tokens["cfo"], by="weekday")
    assert bad.status_code == 400 and "`by` takes some of day, user, group, provider, model" in bad.text
    assert get(gateway, "usage/me", tokens["ann"], since="yesterday").status_code == 400


def test_metrics_are_for_a_token_with_read_metrics_and_label_groups_not_users(start_gateway, tokens, hub: HubProcess):
    gateway = start_gateway(limits={"*": {"requests_per_minute": 1}})
    ask(gateway, tokens["ann"])
    ask(gateway, tokens["ann"])  # refused by the limit
    assert get(gateway, "metrics", None).status_code == 401
    assert get(gateway, "metrics", tokens["ann"]).status_code == 403
    response = get(gateway, "metrics", hub.prom_token)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    labels = 'group="analysts",model="yandexgpt-lite",provider="yandexgpt"'
    assert f"mmchat_gateway_requests_total{{{labels},status=\"ok\"}} 1.0" in text
    assert f"mmchat_gateway_requests_total{{{labels},status=\"refused\"}} 1.0" in text
    assert 'mmchat_gateway_rejections_total{group="analysts",limit="requests_per_minute"} 1.0' in text
    assert re.search(r'mmchat_gateway_tokens_total\{group="analysts",kind="completion",model="yandexgpt-lite",'
                     r'provider="yandexgpt"\} [1-9]', text)
    assert f"mmchat_gateway_first_token_seconds_count{{{labels}}} 1.0" in text
    assert "ann" not in text


def test_per_user_labels_and_open_metrics_when_the_admin_says_so(start_gateway, tokens):
    gateway = start_gateway(metrics_per_user=True, authenticate_prometheus=False)
    ask(gateway, tokens["sam"])
    response = get(gateway, "metrics", None)
    assert response.status_code == 200
    assert 'user="sam"' in response.text


def test_a_browser_signs_in_through_the_hubs_oauth(start_gateway, hub: HubProcess):
    gateway = start_gateway(bind_url=hub.gateway_origin)
    with httpx.Client(timeout=30) as browser:
        page = {"Accept": "text/html"}
        login_page = browser.get(f"{hub.url}/hub/login")
        browser.post(f"{hub.url}/hub/login", data={"username": "sam", "password": "any",
                                                   "_xsrf": login_page.cookies.get("_xsrf", "")})
        response = browser.get(f"{gateway.url}usage/me", headers=page, follow_redirects=True)
        assert response.status_code == 200, (response.url, response.text[:300])
        assert response.json()["user"] == "sam"
        # The cookie is good for reading, never for spending: a POST needs the token.
        post = browser.post(f"{gateway.url}v1/chat/completions",
                            json={"model": "yandexgpt/yandexgpt-lite", "messages": [{"role": "user", "content": "x"}]})
        assert post.status_code == 401
    assert get(gateway, "usage/me", None).status_code == 401  # an API client is not redirected
