"""Fixtures of the gateway tests: a real JupyterHub for the session, the three fake providers, gateways to start."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.gigachat import FakeGigaChat
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.yandex import FOLDER, FakeYandex

from .harness import HubProcess, ThreadGateway

#: The provider keys only the gateway holds: the canaries that must never reach a client.
YANDEX_KEY = "AQVN-gateway-canary-3f9a1c7e5b"
OPENAI_KEY = "sk-gateway-canary-8d2e4f6a0c"
USERS = ("ann", "amy", "sam", "vic", "cfo")


@dataclass
class Upstream:
    yandex: FakeYandex
    gigachat: FakeGigaChat
    openai: FakeOpenAI

    @property
    def secrets(self) -> tuple[str, ...]:
        return (YANDEX_KEY, OPENAI_KEY, self.gigachat.credentials)

    def providers(self, **overrides: Any) -> dict[str, dict[str, Any]]:
        """The gateway's provider settings; no retries, so that a fault shows at once."""
        settings = {
            "yandexgpt": {"base_url": self.yandex.url, "api_key": YANDEX_KEY, "folder_id": FOLDER, "max_retries": 0},
            "gigachat": self.gigachat.settings(max_retries=0),
            "openai": {"base_url": f"{self.openai.url}/v1", "api_key": OPENAI_KEY, "max_retries": 0},
        }
        return {**settings, **overrides}

    def reset(self) -> None:
        for fake in (self.yandex, self.gigachat, self.openai):
            fake.reset()
        self.yandex.unscript()
        self.openai.unscript()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = HubProcess(tmp_path_factory.mktemp("hub")).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def tokens(hub: HubProcess) -> dict[str, str]:
    """One API token per test user, made by the hub."""
    return {user: hub.token(user) for user in USERS}


@pytest.fixture(scope="session")
def _upstream() -> Iterator[Upstream]:
    with FakeYandex(keys={YANDEX_KEY}) as yandex, FakeGigaChat() as gigachat, FakeOpenAI(api_key=OPENAI_KEY) as openai:
        yield Upstream(yandex, gigachat, openai)


@pytest.fixture
def upstream(_upstream: Upstream) -> Upstream:
    _upstream.reset()
    return _upstream


@pytest.fixture
def start_gateway(hub: HubProcess, upstream: Upstream, tmp_path: Path) -> Iterator[Callable[..., ThreadGateway]]:
    """`start_gateway(**traits)`: a gateway on this hub and these fakes, with a fresh SQLite ledger and audit file."""
    started: list[ThreadGateway] = []

    def start(**settings: Any) -> ThreadGateway:
        defaults = {
            "db_url": f"sqlite:///{tmp_path / f'usage-{len(started)}.sqlite'}",
            "providers": upstream.providers(),
            "audit_log": str(tmp_path / "audit.jsonl"),
        }
        gateway = ThreadGateway(hub.gateway_config(**{**defaults, **settings})).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@dataclass
class Answer:
    """One chat-completions response, read whole: status, headers, the text and usage it carried, every event."""

    status: int
    headers: httpx.Headers
    body: bytes
    events: list[Any]

    @property
    def error(self) -> dict[str, Any]:
        if self.events and isinstance(self.events[-1], dict) and "error" in self.events[-1]:
            return self.events[-1]["error"]
        return json.loads(self.body)["error"]

    @property
    def text(self) -> str:
        if not self.events:
            return json.loads(self.body)["choices"][0]["message"]["content"]
        return "".join(e["choices"][0]["delta"].get("content") or "" for e in self.events
                       if isinstance(e, dict) and e.get("choices"))

    @property
    def usage(self) -> dict[str, int] | None:
        if not self.events:
            return json.loads(self.body)["usage"]
        return next((e["usage"] for e in self.events if isinstance(e, dict) and e.get("usage")), None)


def ask(gateway: ThreadGateway, token: str | None, prompt: str = "Hello", *, model: str = "yandexgpt/yandexgpt-lite",
        stream: bool = True, lang: str | None = None, **body: Any) -> Answer:
    """POST /v1/chat/completions as a client would, and read the whole response."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if lang:
        headers["Accept-Language"] = lang
    payload = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream,
               **({"stream_options": {"include_usage": True}} if stream else {}), **body}
    response = httpx.post(f"{gateway.url}v1/chat/completions", json=payload, headers=headers, timeout=30)
    events: list[Any] = []
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.split("\n\n"):
            if line.startswith("data: "):
                data = line[6:]
                events.append(data if data == "[DONE]" else json.loads(data))
    return Answer(response.status_code, response.headers, response.content, events)
