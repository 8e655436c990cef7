"""A real JupyterHub that identifies the gateway tests' users, and mmchat-gateway served in a thread or a process.

The hub is JupyterHub itself (DummyAuthenticator, its own SQLite database, no proxy and no single-user servers):
the gateway asks it who owns each token, exactly as in production. Users, groups and roles:

    ann  group analysts    role llm-users (access:services!service=mmchat-gateway)
    amy  group analysts    role llm-users
    sam  group scientists  role llm-users
    vic  group visitors    no role: no access to the gateway
    cfo  no group          role llm-accountants (the usage scope, and access)
    service prom           role metrics (read:metrics), as a Prometheus scraper would hold
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from traitlets.config import Config

from mmchat_jupyter.gateway.app import MMChatGateway

REPO = Path(__file__).resolve().parents[2]
SERVICE = "mmchat-gateway"
PREFIX = f"/services/{SERVICE}/"
USAGE_SCOPE = f"custom:{SERVICE}:usage"
GROUPS = {"analysts": ["ann", "amy"], "scientists": ["sam"], "visitors": ["vic"]}
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubProcess:
    """One JupyterHub process for the session; `token(user)` gives a user a fresh API token of their own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.hub_port = free_port()
        #: The hub itself (there is no proxy in front of it): /hub/api, /hub/login, /hub/api/oauth2/...
        self.url = f"http://127.0.0.1:{self.hub_port}"
        self.api_url = f"{self.url}/hub/api"
        self.admin_token = secrets.token_hex(24)
        self.gateway_token = secrets.token_hex(24)
        self.prom_token = secrets.token_hex(24)
        #: Where the OAuth test's gateway listens (the hub must know the service's URL for its redirects).
        self.gateway_port = free_port()
        self.gateway_origin = f"http://127.0.0.1:{self.gateway_port}"
        self.log_path = workdir / "jupyterhub.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=self.api_url, headers={"Authorization": f"token {self.admin_token}"},
                                timeout=30)

    def config_text(self) -> str:
        settings: dict[str, Any] = {
            "c.JupyterHub.ip": "127.0.0.1",
            "c.JupyterHub.port": free_port(),
            "c.JupyterHub.hub_ip": "127.0.0.1",
            "c.JupyterHub.hub_port": self.hub_port,
            "c.JupyterHub.proxy_class": "tests.gateway.nullproxy.NullProxy",
            "c.JupyterHub.db_url": f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}",
            "c.JupyterHub.cookie_secret_file": str(self.workdir / "cookie_secret"),
            "c.JupyterHub.pid_file": str(self.workdir / "jupyterhub.pid"),
            "c.JupyterHub.authenticator_class": "dummy",
            "c.Authenticator.allow_all": True,
            "c.JupyterHub.custom_scopes": {USAGE_SCOPE: {"description": "Read everyone's usage of the LLM gateway."}},
            "c.JupyterHub.services": [
                {"name": "mmchat-test", "api_token": self.admin_token},
                {"name": SERVICE, "api_token": self.gateway_token, "url": self.gateway_origin,
                 "oauth_redirect_uri": f"{self.gateway_origin}{PREFIX}oauth_callback",
                 "oauth_no_confirm": True, "timeout": 1},  # started by each test: the hub need not wait for it
                {"name": "prom", "api_token": self.prom_token},
            ],
            "c.JupyterHub.load_groups": {name: {"users": users} for name, users in GROUPS.items()},
            "c.JupyterHub.load_roles": [
                {"name": "admin", "services": ["mmchat-test"]},
                {"name": "llm-users", "scopes": [f"access:services!service={SERVICE}"],
                 "groups": ["analysts", "scientists"]},
                {"name": "llm-accountants", "scopes": [USAGE_SCOPE, f"access:services!service={SERVICE}"],
                 "users": ["cfo"]},
                {"name": "metrics", "scopes": ["read:metrics"], "services": ["prom"]},
            ],
        }
        return "".join(f"{name} = {value!r}\n" for name, value in settings.items())

    def start(self) -> HubProcess:
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config_text(), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self._process.returncode}\n{self.log_tail()}")
            try:
                if self.api.get("/").status_code == 200:
                    self.api.post("/users", json={"usernames": ["ann", "amy", "sam", "vic", "cfo"]})
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"JupyterHub did not answer in {START_TIMEOUT:.0f} s\n{self.log_tail()}")

    def stop(self) -> None:
        self.api.close()
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def token(self, user: str) -> str:
        """A new API token of `user` (the hub's default for a user's token: everything the user may do)."""
        response = self.api.post(f"/users/{user}/tokens", json={"note": "mmchat gateway test"})
        response.raise_for_status()
        return response.json()["token"]

    def gateway_config(self, **settings: Any) -> Config:
        """A gateway configuration that trusts this hub; `settings` are MMChatGateway traits."""
        config = Config()
        config.HubOAuth.api_url = self.api_url
        config.HubOAuth.api_token = self.gateway_token
        config.HubOAuth.oauth_client_id = f"service-{SERVICE}"
        # No proxy in front of both: the hub's pages and the gateway's callback are on their own ports.
        config.HubOAuth.hub_host = self.url
        config.HubOAuth.oauth_redirect_uri = f"{self.gateway_origin}{PREFIX}oauth_callback"
        config.MMChatGateway.service_name = SERVICE
        config.MMChatGateway.base_url = PREFIX
        config.MMChatGateway.bind_url = "http://127.0.0.1:0"
        for name, value in settings.items():
            setattr(config.MMChatGateway, name, value)
        return config


class ThreadGateway:
    """mmchat-gateway serving in a thread of this process, on an event loop of its own."""

    def __init__(self, config: Config) -> None:
        self.app = MMChatGateway(config=config)
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mmchat-gateway", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    @property
    def gateway(self) -> Any:
        return self.app.gateway

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        listening.add_done_callback(lambda f: self._bound(f.result()))
        try:
            await self.app.serve(listening=listening, stop=self._stop)
        except BaseException as exc:  # noqa: BLE001 - reported to the test that started it
            self._error = exc
            self._ready.set()

    def _bound(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def start(self) -> ThreadGateway:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"the gateway did not start: {self._error!r}")
        return self

    def call(self, function: Any, *args: Any) -> Any:
        """Run `function(*args)` (a coroutine function) on the gateway's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(function(*args), self.loop).result(30)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> ThreadGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    """Whether `condition()` came true within `timeout` seconds (polled: for what happens in another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def read_audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class ProcessGateway:
    """mmchat-gateway as a process of its own (`python -m mmchat_jupyter.gateway --config FILE`), as a replica of a
    Kubernetes Deployment runs: the same hub, the same service token, its own port."""

    def __init__(self, config: Config, workdir: Path) -> None:
        self.port = free_port()
        config.MMChatGateway.bind_url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / f"gateway-{self.port}.py"
        self.config_path.write_text(config_text(config), encoding="utf-8")
        self.log_path = workdir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def start(self) -> ProcessGateway:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mmchat_jupyter.gateway", "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}usage/me", timeout=2).status_code == 401:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the gateway did not answer in {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def config_text(config: Config) -> str:
    """A configuration file (`c.Section.name = value` lines) holding `config`."""
    lines = ["c = get_config()  # noqa: F821"]
    for section, values in config.items():
        for name, value in values.items():
            lines.append(f"c.{section}.{name} = {value!r}")
    return "\n".join(lines) + "\n"
