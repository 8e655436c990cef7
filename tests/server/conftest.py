"""Fixtures for the server API tests: one real Jupyter Server with the extension (as installed) for the session, a
loopback fake OpenAI-compatible provider it talks to, and httpx clients checked against the OpenAPI description.

    api_server   the JupyterServer (its history is `api_server.home`)
    fake_openai  the provider fake, reset for each test
    api          an httpx.Client with the server's token; every answer is checked against openapi.json
    chat         a fresh chat of this test (its id)
    history      a HistoryStore on the server's own history, as another process (a kernel) would open it
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.server.openapi import document
from tests.fakes.openai_compat import FakeOpenAI

from .jupyter import JupyterServer, OpenAPICheck

OPENAI_KEY = "sk-api-test-4f9a2c7e1b"


@pytest.fixture(scope="session")
def _fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fake_openai(_fake_openai: FakeOpenAI) -> FakeOpenAI:
    _fake_openai.reset()
    _fake_openai.unscript()
    return _fake_openai


@pytest.fixture(scope="session")
def api_server(_fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    env = {"OPENAI_BASE_URL": _fake_openai.url + "/v1", "OPENAI_API_KEY": OPENAI_KEY}
    server = JupyterServer(tmp_path_factory.mktemp("jupyter-server"), env).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spec() -> OpenAPICheck:
    return OpenAPICheck(document())


@pytest.fixture
def api(api_server: JupyterServer, spec: OpenAPICheck, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with api_server.client(spec) as client:
        yield client
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(f"Jupyter Server log tail:\n{api_server.log_tail()}")


@pytest.fixture
def chat(api: httpx.Client) -> str:
    response = api.post("/chats", json={"name": f"test-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def history(api_server: JupyterServer, monkeypatch: pytest.MonkeyPatch) -> HistoryStore:
    monkeypatch.setenv("MMCHAT_HOME", str(api_server.home))
    return HistoryStore(api_server.home)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
