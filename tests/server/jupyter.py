"""A real Jupyter Server on loopback, started as the user would (`python -m jupyter_server`), with nothing but the
package's installed configuration to enable the mmchat API; and a client for it that checks every JSON answer
against the API's own OpenAPI description.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.e2e.lab import free_port

#: Variables of the test runner's environment that must not reach the server (real credentials, settings).
_PRIVATE_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_", "JUPYTER", "IPYTHONDIR")
START_TIMEOUT = 60.0
API = "/mmchat/api/v1"


class JupyterServer:
    """`python -m jupyter_server` in `base`; `env` is added to a cleaned copy of this process's environment."""

    def __init__(self, base: Path, env: dict[str, str], token: str = "mmchat-api-test", args: tuple[str, ...] = ()):
        self.base, self.token, self.port = base, token, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = base / "history"
        self.log_path = base / "server.log"
        dirs = {name: base / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                                                       "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
        self.env = {**clean, **{k: str(v) for k, v in dirs.items()}, "MMCHAT_HOME": str(self.home),
                    "MMCHAT_LANG": "en", **env}
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> JupyterServer:
        (self.base / "root").mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={self.port}",
            "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.base / 'root'}", *self.args,
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it for its whole life
        self.process = subprocess.Popen(command, cwd=self.base, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter_server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/status", headers=self.auth, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"jupyter_server did not answer in {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def client(self, spec: OpenAPICheck | None = None, **kwargs: Any) -> httpx.Client:
        hooks = {"response": [spec.check]} if spec is not None else {}
        headers = {**self.auth, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url + API, headers=headers, event_hooks=hooks, **kwargs)


class OpenAPICheck:
    """Validates answers against the OpenAPI document: the status must be documented for the operation, and a
    JSON body must match its schema. Records every (path, method, status) it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str, str]] = set()
        self._paths = [(re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "/?$"), path)
                       for path in sorted(document["paths"], key=lambda p: p.count("{"))]

    def operation(self, path: str) -> str:
        for pattern, template in self._paths:
            if pattern.match(path):
                return template
        raise AssertionError(f"{path} is not in the OpenAPI description")

    def check(self, response: httpx.Response) -> None:
        path = response.request.url.path.split(API, 1)[1]
        template = self.operation(path)
        method = response.request.method.lower()
        operation = self.document["paths"][template].get(method)
        assert operation is not None, f"{method.upper()} {template} is served but not described"
        status = str(response.status_code)
        assert status in operation["responses"], f"{method.upper()} {template} answered {status}, not described"
        self.seen.add((template, method, status))
        content = operation["responses"][status].get("content", {})
        media = response.headers.get("content-type", "").split(";")[0]
        if media == "application/json" and "schema" in content.get("application/json", {}):
            response.read()
            schema = {**content["application/json"]["schema"], "components": self.document["components"]}
            errors = sorted(Draft202012Validator(schema).iter_errors(json.loads(response.content)), key=str)
            assert not errors, f"{method.upper()} {template} {status}: {errors[0].message}"
        elif content:
            assert media in content, f"{method.upper()} {template} {status}: {media} is not described"
