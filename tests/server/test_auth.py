"""Authentication and authorization are Jupyter Server's: no token, a wrong token, a cross-site request with the
login cookie and a cookie request without the XSRF token are refused; the server's Authorizer decides per action on
the resource "mmchat"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .jupyter import API, JupyterServer

TURN = {"prompt": "Hi", "provider": "echo"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token wrong-token"}], ids=["no-token", "wrong-token"])
def test_refused_without_the_servers_token(api_server: JupyterServer, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=api_server.url + API, headers=headers) as client:
        for method, path, body in [("GET", "/chats", None), ("POST", "/chats", {}), ("GET", "/events", None),
                                   ("GET", "/openapi.json", None), ("GET", "/settings", None)]:
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, (method, path)
        chats_before = httpx.get(api_server.url + API + "/chats", headers=api_server.auth).json()["total"]
        assert client.post("/chats", json={"name": "intruder"}).status_code == 403
        assert httpx.get(api_server.url + API + "/chats", headers=api_server.auth).json()["total"] == chats_before


@pytest.fixture
def browser(api_server: JupyterServer) -> Iterator[httpx.Client]:
    """A client logged in with the server's cookie, as a browser tab of JupyterLab is."""
    with httpx.Client(base_url=api_server.url) as client:
        assert client.get(f"/api/status?token={api_server.token}").status_code == 200
        assert any(name.startswith("username-") for name in client.cookies)
        yield client


def test_cookie_requests_need_the_xsrf_token(browser: httpx.Client, api_server: JupyterServer) -> None:
    assert browser.get(API + "/chats", headers={"Referer": api_server.url + "/lab"}).status_code == 200
    assert browser.post(API + "/chats", json={}).status_code == 403  # no _xsrf: a forged form or fetch
    xsrf = browser.get("/lab").cookies.get("_xsrf") or browser.cookies.get("_xsrf")
    assert xsrf
    made = browser.post(API + "/chats", json={}, headers={"X-XSRFToken": xsrf, "Origin": api_server.url})
    assert made.status_code == 201


def test_cross_site_post_is_refused(browser: httpx.Client, api_server: JupyterServer) -> None:
    xsrf = browser.get("/lab").cookies.get("_xsrf") or browser.cookies.get("_xsrf")
    evil = {"Origin": "http://evil.example", "X-XSRFToken": xsrf or ""}
    refused = browser.post(API + "/chats", json={}, headers=evil)
    assert refused.status_code in (403, 404)
    assert "access-control-allow-origin" not in refused.headers  # no CORS beyond the server's configuration
    chat = browser.post(API + "/chats", json={}, headers={"X-XSRFToken": xsrf or ""}).json()["id"]
    assert browser.post(API + f"/chats/{chat}/messages", json=TURN, headers=evil).status_code in (403, 404)
    assert browser.get(API + f"/chats/{chat}").json()["messages"] == []


@pytest.fixture(scope="module")
def readonly_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = Path(__file__).resolve().parents[2]
    server = JupyterServer(
        tmp_path_factory.mktemp("readonly-server"), {"PYTHONPATH": str(root)},
        args=("--ServerApp.authorizer_class=tests.server.readonly_authorizer.ReadOnlyMMChat",),
    ).start()
    yield server
    server.stop()


def test_the_authorizer_decides_on_the_mmchat_resource(readonly_server: JupyterServer) -> None:
    with readonly_server.client() as client:
        assert client.get("/chats").status_code == 200
        refused = client.post("/chats", json={})
        assert refused.status_code == 403
        assert refused.json()["message"] == "User is not authorized to write on resource: mmchat."
        assert client.get("/chats").json()["total"] == 0
        assert client.post("/chats/x/messages", json=TURN).json()["message"] == (
            "User is not authorized to execute on resource: mmchat.")
        # Jupyter's own API is not ours to restrict: the same user still lists kernels.
        assert httpx.get(readonly_server.url + "/api/kernels", headers=readonly_server.auth).status_code == 200
