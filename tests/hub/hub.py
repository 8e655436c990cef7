"""A real JupyterHub on loopback for tests: its config, its process, its REST API and a kernel client.

`Hub` writes a `jupyterhub_config.py` into a private directory, starts `python -m jupyterhub` (which starts
configurable-http-proxy), and talks to the REST API with an admin service token. `UserServer` is one user's
single-user server reached through the proxy with that user's own token; `Kernel` runs code in one of its kernels
over the `/api/kernels/<id>/channels` websocket and keeps every message it received, so that a test can check
that a secret appears in none of them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websocket

HUB_START_TIMEOUT = 60.0
SERVER_START_TIMEOUT = 90.0
EXECUTE_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    """One JupyterHub process: DummyAuthenticator, LocalProcessSpawner, configurable-http-proxy from npm."""

    def __init__(
        self,
        workdir: Path,
        *,
        proxy: str,
        spawner_cmd: list[str],
        environment: dict[str, str],
        services: Sequence[dict[str, Any]] = (),
        roles: Sequence[dict[str, Any]] = (),
        settings: dict[str, Any] | None = None,
    ) -> None:
        """`services` and `roles` are added to the test's own; `settings` are more `c.Class.name` lines."""
        self.workdir = workdir
        self._services, self._roles, self._settings = list(services), list(roles), dict(settings or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.log_path = workdir / "jupyterhub.log"
        self._proxy = proxy
        self._spawner_cmd = spawner_cmd
        self._environment = environment
        self._process: subprocess.Popen | None = None
        self.api = httpx.Client(
            base_url=f"{self.url}/hub/api", headers={"Authorization": f"token {self.token}"}, timeout=30
        )

    def config_text(self) -> str:
        """The hub's configuration: everything on loopback and inside `workdir`."""
        settings = {
            "c.JupyterHub.ip": "127.0.0.1",
            "c.JupyterHub.port": self.port,
            "c.JupyterHub.hub_ip": "127.0.0.1",
            "c.JupyterHub.hub_port": free_port(),
            "c.ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{free_port()}",
            "c.ConfigurableHTTPProxy.command": [self._proxy],
            "c.ConfigurableHTTPProxy.pid_file": str(self.workdir / "proxy.pid"),
            "c.JupyterHub.db_url": f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}",
            "c.JupyterHub.cookie_secret_file": str(self.workdir / "cookie_secret"),
            "c.JupyterHub.pid_file": str(self.workdir / "jupyterhub.pid"),
            "c.JupyterHub.cleanup_servers": True,
            "c.JupyterHub.authenticator_class": "dummy",
            "c.JupyterHub.spawner_class": "localprocess",
            # Admin API access for the test, as a service holding the built-in admin role.
            "c.JupyterHub.services": [{"name": "mmchat-test", "api_token": self.token}, *self._services],
            "c.JupyterHub.load_roles": [{"name": "admin", "services": ["mmchat-test"]}, *self._roles],
            "c.Spawner.cmd": self._spawner_cmd,
            # Nothing of root's environment (PATH into /root/.pyenv, MMCHAT_HOME of the test) reaches the users.
            "c.Spawner.env_keep": [],
            "c.Spawner.environment": self._environment,
            "c.Spawner.start_timeout": int(SERVER_START_TIMEOUT),
            "c.Spawner.http_timeout": int(SERVER_START_TIMEOUT),
            **self._settings,
        }
        return "".join(f"{name} = {value!r}\n" for name, value in settings.items())

    def start(self) -> Hub:
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config_text(), encoding="utf-8")
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self._process.returncode}\n{self.log_tail()}")
            try:
                if self.api.get("/").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"JupyterHub did not answer in {HUB_START_TIMEOUT:.0f} s\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (the hub stops the user servers and the proxy it started), SIGKILL if it hangs."""
        self.api.close()
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- REST API -------------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.api.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}\n{self.log_tail()}")
        return response

    def login(self, name: str) -> UserServer:
        """Create the user, give them a token (their own, not the admin's) and start their server."""
        created = self.api.post(f"/users/{name}")
        if created.status_code not in (201, 409):  # 409: made already (by the config's load_groups, for one)
            raise RuntimeError(f"POST /users/{name}: {created.status_code} {created.text}\n{self.log_tail()}")
        token = self.call("POST", f"/users/{name}/tokens", json={"note": "mmchat hub test"}).json()["token"]
        self.call("POST", f"/users/{name}/server")
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            server = self.call("GET", f"/users/{name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return UserServer(name, f"{self.url}{server['url']}", token)
            if server is None:  # the hub forgets a server whose spawn failed
                raise RuntimeError(f"the server of {name} failed to start\n{self.log_tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"the server of {name} was not ready in {SERVER_START_TIMEOUT:.0f} s\n{self.log_tail()}")

    def stop_server(self, name: str) -> None:
        self.api.delete(f"/users/{name}/server")


@dataclass
class UserServer:
    """One user's single-user server, reached through the proxy with the user's own token."""

    name: str
    url: str
    token: str

    def start_kernel(self) -> Kernel:
        headers = {"Authorization": f"token {self.token}"}
        response = httpx.post(f"{self.url}api/kernels", json={"name": "python3"}, headers=headers, timeout=60)
        response.raise_for_status()
        kernel_id = response.json()["id"]
        ws_url = f"{self.url.replace('http://', 'ws://', 1)}api/kernels/{kernel_id}/channels"
        return Kernel(websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=10))


@dataclass
class Result:
    """What one execute_request produced: the text of every output, and the error if there was one."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """Everything shown, as text: streams, and every MIME type of every display."""
        shown = [self.stdout, self.stderr]
        for content in self.outputs:
            shown.extend(str(value) for value in content.get("data", {}).values())
        if self.error:
            shown.extend([self.error["ename"], self.error["evalue"], *self.error["traceback"]])
        return "\n".join(shown)


class Kernel:
    """A kernel driven over the server's websocket (the legacy JSON protocol: no subprotocol requested)."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.session = uuid.uuid4().hex
        #: Every message received, raw, for "no secret anywhere" checks.
        self.received: list[str] = []

    def execute(self, code: str, timeout: float = EXECUTE_TIMEOUT) -> Result:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request",
                  "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell", "buffers": []}))
        result, replied, idle = Result(), False, False
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to {code!r} in {timeout:.0f} s; so far: {result.text}")
            raw = self.ws.recv()
            self.received.append(raw)
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = msg["msg_type"], msg["content"]
            if kind == "execute_reply":
                replied = True
            elif kind == "status":
                idle = body["execution_state"] == "idle"
            elif kind == "stream":
                setattr(result, body["name"], getattr(result, body["name"]) + body["text"])
            elif kind in ("display_data", "update_display_data", "execute_result"):
                result.outputs.append(body)
            elif kind == "error":
                result.error = body
        return result

    def close(self) -> None:
        self.ws.close()
