"""Limits that hold across replicas: two gateway processes sharing one real PostgreSQL (Debian's package, a fresh
cluster on a private Unix socket) enforce one user's daily limit together under 50 concurrent requests, counting
every answer exactly once; the same with the SQLite default and one process. Then the database goes away and
comes back: requests are refused with one line (or, with fail_open, served and recorded when it is back).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from mmchat_jupyter.gateway.ledger import database_url, inflight_table, usage_table

from .conftest import Upstream, ask
from .harness import HubProcess, ProcessGateway, wait_for
from .postgres import Postgres, find_bindir

pytestmark = [pytest.mark.gateway, pytest.mark.slow, pytest.mark.timeout(300)]

LIMIT = 400
#: Every answer: 30 tokens asked for and given (the fake counts one piece as one token), plus a 1-token prompt.
PIECES = ["word "] * 30
CONCURRENT = 50


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (.ci/gateway-setup.sh installs Debian's postgresql)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = Postgres(bindir).create()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def replicas(hub: HubProcess, upstream: Upstream, tmp_path: Path) -> Iterator[list[ProcessGateway]]:
    started: list[ProcessGateway] = []

    def start(count: int, **settings: object) -> list[ProcessGateway]:
        for _ in range(count):
            config = hub.gateway_config(providers=upstream.providers(), audit_log=str(tmp_path / "audit.jsonl"),
                                        housekeeping_interval=0.2, **settings)
            started.append(ProcessGateway(config, tmp_path).start())
        return started[-count:]

    yield start  # type: ignore[misc]
    for gateway in started:
        gateway.stop()


def burst(gateways: list[ProcessGateway], token: str) -> list:
    """CONCURRENT requests at once, spread over the gateways, each asking for a 30-token answer."""
    def one(i: int):
        return ask(gateways[i % len(gateways)], token, f"burst {i}", stream=i % 2 == 0, max_tokens=30)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT)))


def recorded(url: str, user: str) -> tuple[int, int, int]:
    """(requests, total tokens, reservations still open) as the database holds them."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            u, f = usage_table.c, inflight_table.c
            requests, tokens = conn.execute(
                select(func.coalesce(func.sum(u.requests), 0), func.coalesce(func.sum(u.total_tokens), 0))
                .where(u.user_name == user)).one()
            open_ = conn.execute(select(func.count()).where(f.user_name == user, f.settled.is_(False))).scalar_one()
    finally:
        engine.dispose()
    return int(requests), int(tokens), int(open_)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_replicas_enforce_one_users_daily_limit_together_with_no_double_counting(
    request, replicas, upstream, tokens, tmp_path, backend
):
    if backend == "postgresql":
        url, count = request.getfixturevalue("postgres").url, 2
    else:
        url, count = f"sqlite:///{tmp_path / 'usage.sqlite'}", 1
    gateways = replicas(count, db_url=url, limits={"*": {"tokens_per_day": LIMIT}})
    upstream.yandex.script(PIECES)
    user = "sam" if backend == "postgresql" else "amy"  # one day's usage each: the backends share nothing
    for gateway in gateways:  # every replica is up and serving
        assert ask(gateway, tokens[user], "warm-up", max_tokens=30).status == 200
    answers = burst(gateways, tokens[user])
    statuses = [a.status for a in answers]
    assert set(statuses) <= {200, 429}, [a.body[:200] for a in answers if a.status not in (200, 429)]
    served = [a for a in answers if a.status == 200]
    assert served and 429 in statuses
    assert all(a.error["code"] == "tokens_per_day" for a in answers if a.status == 429)
    # Then one request after another until the limit refuses: what is left must be too little for an answer.
    for i in range(LIMIT):
        answer = ask(gateways[i % count], tokens[user], "after", max_tokens=30)
        if answer.status == 429:
            break
        served.append(answer)
    else:
        pytest.fail("the daily limit never refused")
    clients_saw = sum(a.usage["total_tokens"] for a in served) + count * 31  # the warm-up answers
    requests, tokens_recorded, still_open = recorded(url, user)
    assert tokens_recorded == clients_saw, "usage counted twice or lost"
    assert requests == len(served) + count
    assert still_open == 0
    assert tokens_recorded <= LIMIT
    # Refused only when no answer of at least 16 tokens fitted (a 5-token prompt estimate): no phantom reservations.
    assert LIMIT - tokens_recorded < 5 + 16
    assert len(upstream.yandex.requests) == requests


def test_the_database_going_away_refuses_requests_and_fail_open_records_them_when_it_is_back(
    postgres, replicas, upstream, tokens
):
    closed = replicas(1, db_url=postgres.url, limits={"*": {"tokens_per_day": 100_000}})[0]
    open_ = replicas(1, db_url=postgres.url, limits={"*": {"tokens_per_day": 100_000}}, fail_open=True)[0]
    assert ask(closed, tokens["cfo"]).status == 200
    before = recorded(postgres.url, "cfo")
    postgres.stop()
    try:
        refused = ask(closed, tokens["cfo"])
        assert refused.status == 503 and refused.error["message"].startswith(
            "The hub's LLM gateway cannot record usage right now, so it is not answering")
        served = ask(open_, tokens["cfo"])
        assert served.status == 200
    finally:
        postgres.start()
    # The kept usage is recorded within a few housekeeping rounds, and the closed replica serves again.
    expected = (before[0] + 1, before[1] + served.usage["total_tokens"])
    assert wait_for(lambda: recorded(postgres.url, "cfo")[:2] == expected), recorded(postgres.url, "cfo")
    assert ask(closed, tokens["cfo"]).status == 200
