"""Limits resolved per user and group, and the admission decision (pure: no database, no network)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mmchat_jupyter.gateway.limits import (
    MIN_ANSWER_TOKENS,
    Calendar,
    Counts,
    Grant,
    Limits,
    LimitsConfigError,
    Policy,
    Refusal,
    decide,
)

CONFIG = {
    "*": {"tokens_per_day": 1000, "requests_per_minute": 10, "models": ["yandexgpt/*"]},
    "group:analysts": {"tokens_per_day": 5000, "models": ["gigachat/*"], "group_tokens_per_day": 20000},
    "group:interns": {"tokens_per_day": 2000, "concurrent_streams": 1},
    "user:alice": {"tokens_per_day": 100000},
}
UTC = Calendar("UTC")
NOON = datetime(2025, 6, 15, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()


def test_a_users_own_entry_wins_then_the_most_generous_group_then_everyone():
    policy = Policy(CONFIG)
    alice = policy.caller("alice", ["interns"])
    assert alice.limits.tokens_per_day == 100000
    assert alice.limits.concurrent_streams == 1  # from her group: her own entry does not set it
    both = policy.caller("bob", ["interns", "analysts"])
    assert both.limits.tokens_per_day == 5000
    assert both.limits.models == ("gigachat/*",)
    assert both.limits.requests_per_minute == 10  # no group sets it: everyone's
    nobody = policy.caller("carol", [])
    assert (nobody.limits.tokens_per_day, nobody.group) == (1000, "")
    assert nobody.limits.allows("yandexgpt/yandexgpt-lite") and not nobody.limits.allows("gigachat/GigaChat")


def test_a_request_counts_under_the_first_listed_group_and_its_budget():
    policy = Policy(CONFIG)
    assert policy.caller("bob", ["zeta", "interns", "analysts"]).group == "analysts"
    caller = policy.caller("bob", ["zeta", "interns", "analysts"])
    assert caller.limits.group_tokens_per_day == 20000
    assert policy.caller("dan", ["zeta", "beta"]).group == "beta"  # none listed: the first by name


def test_models_of_several_groups_add_up():
    policy = Policy({"group:a": {"models": ["x/*"]}, "group:b": {"models": ["y/1", "x/*"]}})
    assert policy.caller("u", ["a", "b"]).limits.models == ("x/*", "y/1")


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"users:bob": {}}, "is not '*', 'user:NAME' or 'group:NAME'"),
        ({"*": {"tokens_per_week": 3}}, "unknown limit 'tokens_per_week'"),
        ({"*": {"tokens_per_day": -1}}, "must be a whole number >= 0"),
        ({"*": {"tokens_per_day": "lots"}}, "must be a whole number >= 0"),
        ({"*": {"models": "yandexgpt/*"}}, "must be a list of model patterns"),
        ({"user:bob": {"group_tokens_per_day": 5}}, "unknown limit 'group_tokens_per_day'"),
        ({"*": 5}, "must be a dict of limits"),
    ],
)
def test_a_malformed_limits_entry_is_one_line_naming_it(config, says):
    with pytest.raises(LimitsConfigError) as caught:
        Policy(config)
    assert says in str(caught.value) and "\n" not in str(caught.value)


NOTHING = Counts()


def grant(limits: Limits, counts: Counts = NOTHING, *, prompt: int = 10, max_tokens: int | None = None,
          reserve: int = 1000, now: float = NOON) -> Grant | Refusal:
    return decide(limits, counts, prompt_tokens=prompt, max_tokens=max_tokens, answer_reserve=reserve, now=now,
                  calendar=UTC)


def test_a_request_reserves_its_prompt_and_its_answer():
    assert grant(Limits(tokens_per_day=5000)) == Grant(1010, None)
    assert grant(Limits(tokens_per_day=5000), max_tokens=200) == Grant(210, 200)
    assert grant(Limits(tokens_per_day=5000, max_tokens=300)) == Grant(310, 300)


def test_near_the_limit_the_answer_is_capped_to_what_is_left():
    limits = Limits(tokens_per_day=1000)
    assert grant(limits, Counts(user_day=700)) == Grant(300, 290)
    # Reservations of requests still running count as used.
    assert grant(limits, Counts(user_day=600, user_reserved=100)) == Grant(300, 290)


def test_when_no_short_answer_fits_the_daily_limit_refuses_until_midnight():
    limits = Limits(tokens_per_day=1000)
    refused = grant(limits, Counts(user_day=1000 - 10 - MIN_ANSWER_TOKENS + 1))
    assert refused == Refusal("tokens_per_day", 1000, 12 * 3600)
    assert isinstance(grant(limits, Counts(user_day=1000 - 10 - MIN_ANSWER_TOKENS)), Grant)


def test_the_tightest_window_refuses_month_and_group_budgets_included():
    limits = Limits(tokens_per_day=1000, tokens_per_month=5000, group_tokens_per_day=3000)
    month = grant(limits, Counts(user_month=4995))
    assert isinstance(month, Refusal) and month.limit == "tokens_per_month"
    assert month.retry_after == 15.5 * 86400  # from June 15th, noon, to July 1st, 00:00 UTC
    group = grant(limits, Counts(group_day=2900, group_reserved=95))
    assert isinstance(group, Refusal) and group.limit == "group_tokens_per_day"


def test_requests_per_minute_say_when_the_oldest_leaves_the_window():
    refused = grant(Limits(requests_per_minute=3), Counts(recent=3, oldest_recent=NOON - 45))
    assert refused == Refusal("requests_per_minute", 3, 15)


def test_concurrent_streams():
    refused = grant(Limits(concurrent_streams=2), Counts(streams=2))
    assert isinstance(refused, Refusal) and refused.limit == "concurrent_streams"
    assert isinstance(grant(Limits(concurrent_streams=2), Counts(streams=1)), Grant)


def test_metered_means_something_is_counted_across_requests():
    assert not Limits(models=("x/*",), max_tokens=100).metered
    assert Limits(requests_per_minute=1).metered and Limits(group_tokens_per_month=1).metered


def test_days_and_months_follow_the_administrators_time_zone():
    moscow = Calendar("Europe/Moscow")
    late = datetime(2025, 6, 30, 22, 30, tzinfo=ZoneInfo("UTC")).timestamp()  # 01:30 on July 1st in Moscow
    assert (UTC.day(late), moscow.day(late)) == ("2025-06-30", "2025-07-01")
    assert (UTC.month_start(late), moscow.month_start(late)) == ("2025-06-01", "2025-07-01")
    assert UTC.until_next_day(late) == 90 * 60
    assert moscow.until_next_day(late) == 22.5 * 3600
    december = datetime(2025, 12, 31, 23, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert UTC.until_next_month(december) == 3600
    with pytest.raises(LimitsConfigError, match="unknown time zone"):
        Calendar("Mars/Olympus")
