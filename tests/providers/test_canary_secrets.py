"""Canary secrets planted in the environment must appear in no exception, repr or log record, whatever fails.

Runs the whole fault matrix of every networked provider against its loopback fake with logging at DEBUG.
"""

from __future__ import annotations

import logging

import pytest

from mmchat_jupyter.errors import ProviderError
from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.providers.base import RETRYABLE_STATUSES
from mmchat_jupyter.types import Message
from tests.fakes.gigachat import FakeGigaChat
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.yandex import FOLDER, FakeYandex

CANARIES = {
    "YANDEX_API_KEY": "CANARY-yandex-api-key-7f3a9c",
    "GIGACHAT_CREDENTIALS": "Q0FOQVJZLWdpZ2FjaGF0LWNyZWRlbnRpYWxz",
    "OPENAI_API_KEY": "sk-CANARY-openai-key-55e1d0",
}
STATUSES = (400, 401, 403, 404, 413, 422, 429, 500, 503)
FAULTS = (*STATUSES, "timeout", "drop", "malformed")


def _spoil(server, fault) -> None:
    """Make the next answer of `server` fail as `fault` says, whichever fake it is (retries included)."""
    times = 2 if fault in RETRYABLE_STATUSES else 1  # max_retries=1 below
    if isinstance(server, FakeGigaChat):
        times = 2 if fault == 401 else times  # a 401 makes GigaChat fetch a new token and try once more
        if fault == "timeout":
            server.stall(3.0)
        elif fault == "drop":
            server.drop_after(1)
        elif fault == "malformed":
            server.malformed(after=1)
        else:
            server.fail(fault, times=times, retry_after=0.01 if fault == 429 else None)
        return
    if fault == "timeout":
        server.tamper(stall=3.0)
    elif fault == "drop":
        server.tamper(drop_after=1)
    elif fault == "malformed":
        server.tamper(corrupt_at=1)
    else:
        for _ in range(times):
            server.tamper(status=fault, retry_after=0.01 if fault == 429 else None)


def _servers():
    yandex = FakeYandex().start()
    gigachat = FakeGigaChat(credentials=CANARIES["GIGACHAT_CREDENTIALS"]).start()
    openai = FakeOpenAI(api_key=CANARIES["OPENAI_API_KEY"]).start()
    return {
        "yandexgpt": (yandex, {"base_url": yandex.url, "folder_id": FOLDER}),
        "gigachat": (gigachat, {"base_url": gigachat.url + "/api/v1", "auth_url": gigachat.url + "/api/v2/oauth"}),
        "openai": (openai, {"base_url": openai.url + "/v1"}),
    }


@pytest.fixture
def servers(monkeypatch):
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    running = _servers()
    yield running
    for server, _settings in running.values():
        server.stop()


def test_no_canary_escapes_the_fault_matrix(servers, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for name, (server, settings) in servers.items():
        provider = get_provider(name, read_timeout=1.0, max_retries=1, backoff=0.01, **settings)
        seen += [repr(provider), str(provider), repr(vars(provider))]
        for fault in FAULTS:
            _spoil(server, fault)
            with pytest.raises(ProviderError) as info:
                answer = list(provider.stream([Message("user", "Hello")]))
                pytest.fail(f"{name} {fault}: no error, answer {answer}")
            exc = info.value
            seen += [str(exc), repr(exc), repr(exc.args), exc.partial_text, repr(vars(exc))]
            assert "\n" not in str(exc), f"{name} {fault}: {exc}"
        if isinstance(server, FakeGigaChat):
            server.expire_tokens()
            assert "".join(c.text for c in provider.stream([Message("user", "Hello")]))
            seen += [repr(provider), repr(vars(provider))]
        provider.close()
    # Tokens GigaChat issued are secrets too.
    issued_tokens = [t for s, _ in servers.values() if isinstance(s, FakeGigaChat) for t in s.tokens]
    assert issued_tokens
    records = [f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records]
    assert len(records) > 10, "DEBUG logging captured nothing: the test would prove nothing"
    shown = "\n".join(seen + records)
    for secret in [*CANARIES.values(), *issued_tokens]:
        assert secret not in shown


def test_a_server_echoing_the_key_is_redacted(monkeypatch):
    """FakeYandex's 401 body quotes the credential it got: our message must not."""
    monkeypatch.setenv("YANDEX_API_KEY", CANARIES["YANDEX_API_KEY"])
    with FakeYandex(keys=["another-key-entirely"]) as server:
        provider = get_provider("yandexgpt", base_url=server.url, folder_id=FOLDER, max_retries=0)
        with pytest.raises(ProviderError) as info:
            list(provider.stream([Message("user", "Hello")]))
    assert info.value.status == 401
    assert "***" in str(info.value) and CANARIES["YANDEX_API_KEY"] not in str(info.value)
