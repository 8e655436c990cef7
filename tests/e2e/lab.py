"""A real JupyterLab on loopback and a Playwright page driving a notebook in it, in Debian's Chromium.

`LabServer` starts `python -m jupyterlab` with every Jupyter and IPython directory in a temp dir, quiet UI settings
written as user settings there (nothing under sys.prefix is touched), and the environment the kernels inherit.
`Notebook` writes a notebook, opens it in a fresh kernel and runs its cells the way a user would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nbformat

#: JupyterLab user settings that keep runs deterministic: no news or update toasts, and every cell in the DOM
#: (the default windowing detaches off-screen cells, which locators then miss).
QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

#: Variables of the test runner's environment that must not reach the kernels (real credentials, settings).
_PRIVATE_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_", "JUPYTER", "IPYTHONDIR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """One JupyterLab server; `env` is added to the (cleaned) environment the server and its kernels see."""

    def __init__(self, base: Path, env: dict[str, str], token: str = "mmchat-e2e") -> None:
        self.base, self.token, self.port = base, token, free_port()
        self.root = base / "notebooks"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "lab.log"
        dirs = {name: base / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                                                       "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
        self.env = {**clean, **{k: str(v) for k, v in dirs.items()}, **env}
        self.settings_dir = dirs["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> LabServer:
        self.root.mkdir(parents=True, exist_ok=True)
        for plugin, values in QUIET_SETTINGS.items():
            path = self.settings_dir / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            f"--port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells and read kernel state
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it for its whole life
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def close_sessions(self) -> None:
        """Shut down every kernel, so each test starts on a fresh one and old ones do not eat memory."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def write_notebook(self, name: str, cells: list[str]) -> str:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, self.root / name)
        return name


_KERNEL_IDLE = """() => {
  const panel = window.jupyterapp?.shell.currentWidget;
  const context = panel?.sessionContext;
  return !!(panel?.content?.widgets?.length && context?.isReady && context.session?.kernel?.status === "idle");
}"""

_RUN_CELL = """(index) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  window.jupyterapp.commands.execute("notebook:run-cell");  // not awaited: the promise ends with the cell
}"""

_CELL_DONE = """(index) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
  const prompt = cell.node.querySelector(".jp-InputPrompt")?.textContent ?? "";
  return cell.model.executionCount !== null && !prompt.includes("*");
}"""


class Notebook:
    """A notebook open in JupyterLab, in its own fresh kernel."""

    def __init__(self, page: Any, lab: LabServer, name: str, cells: list[str]) -> None:
        self.page, self.lab = page, lab
        lab.close_sessions()
        lab.write_notebook(name, cells)
        page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
        page.wait_for_function(_KERNEL_IDLE, timeout=90_000)

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea-output")

    def run(self, index: int, *, wait: bool = True, timeout: float = 60_000) -> None:
        """Run one cell; with `wait`, until it has finished."""
        self.page.evaluate(_RUN_CELL, index)
        if wait:
            self.page.wait_for_function(_CELL_DONE, arg=index, timeout=timeout)

    def run_all(self, count: int) -> None:
        for index in range(count):
            self.run(index)

    def set_theme(self, theme: str) -> None:
        """"JupyterLab Light" or "JupyterLab Dark"; waits until the page has switched."""
        self.page.evaluate("(theme) => { window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }",
                           theme)
        # JupyterLab shows its splash screen while the theme's stylesheet loads.
        self.page.wait_for_function(
            "(theme) => document.body.dataset.jpThemeName === theme && !document.querySelector('#jupyterlab-splash')",
            arg=theme)
