"""A real IPython kernel for the fault suite, run as an ordinary OS user so that permissions bite (root ignores them).

The kernel is `python -m ipykernel_launcher` of a Python environment that user can execute (the hub test's venv,
made by .ci/hub-setup.sh), started by `subprocess` as that user: its pid is the kernel's own, so SIGINT is an
interrupt and SIGKILL a kill -9. The package is a fresh copy the user can read; the history is on its own small
tmpfs (see `disks.py`), so the test can fill it, remount it read-only or take its permissions away mid-answer.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MMCHAT_HUB_VENV", "/opt/mmchat-hub-test/venv"))
USER = "mmchat-faults"
#: The GECOS comment of the user this suite created; a user of that name without it is someone else's.
MARKER = "mmchat-jupyter fault test user"
HUB_LOCK = "/tmp/mmchat-hub.lock"


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"the fault suite must run in CI but cannot: {reason}", pytrace=False)
    pytest.skip(reason)


def fault_user() -> pwd.struct_passwd:
    """The OS user the kernels run as, created the first time (under the hub tests' lock: they add users too)."""
    if os.geteuid() != 0:
        unavailable("needs root: it runs kernels as another OS user and mounts small disks")
    with open(HUB_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entry = pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--comment", MARKER, "--shell", "/usr/sbin/nologin", USER],
                           check=True, capture_output=True)
            entry = pwd.getpwnam(USER)
    if entry.pw_gecos != MARKER:
        unavailable(f"the OS user {USER} exists and was not made by this suite: not touching it")
    return entry


def user_python() -> Path:
    """A Python with ipykernel and the package's dependencies that any user can run (made by hub-setup.sh)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        done = subprocess.run(["bash", str(REPO / ".ci" / "hub-setup.sh"), shutil.which("python3") or "python3"],
                              capture_output=True, text=True, timeout=900, check=False,
                              env={**os.environ, "MMCHAT_HUB_VENV": str(VENV)})
        if done.returncode != 0 or not python.exists():
            unavailable(f"no Python environment other users can run ({VENV}): {done.stderr[-500:]}")
    return python


@dataclass
class Cell:
    """What one cell did, as a notebook would keep it."""

    status: str
    streamed: list[str] = field(default_factory=list)  # the text of every display while the answer streamed
    final: str = ""  # the last display's text/plain: what the saved notebook shows
    stdout: str = ""
    stderr: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def everything(self) -> str:
        return "\n".join([*self.streamed, self.final, self.stdout, self.stderr, *self.errors])


class _Text(HTMLParser):
    """The text a reader sees (not the stylesheet)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script") and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    return html.unescape(" ".join(parser.parts))


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


class Kernel:
    """One kernel as `user`, restartable after a kill."""

    def __init__(self, workdir: Path, user: pwd.struct_passwd, env: dict[str, str]) -> None:
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.workdir, self.user, self.env = workdir, user, env
        self._client_class = BlockingKernelClient
        self._write = write_connection_file
        self.process: subprocess.Popen[bytes] | None = None
        self.client: Any = None
        self.start()

    def start(self) -> None:
        connection, _info = self._write(str(self.workdir / f"kernel-{time.monotonic_ns()}.json"), ip="127.0.0.1")
        os.chmod(connection, 0o644)
        self.process = subprocess.Popen(
            [str(user_python()), "-m", "ipykernel_launcher", "-f", connection],
            user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[], cwd=str(self.workdir), env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = self._client_class(connection_file=connection)
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        self.client = client
        assert self.run("%load_ext mmchat_jupyter").status == "ok"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.run("1 + 1").status == "ok"

    def signal(self, number: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, number)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=30)
        self.client.stop_channels()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def run(self, code: str, *, on_output: Any = None, timeout: float = 120) -> Cell:
        """Execute `code`; `on_output(cell)` is called after each display (to inject a fault mid-answer)."""
        cell = Cell("?")

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("display_data", "update_display_data"):
                data = content["data"]
                if "text/markdown" in data or not content.get("transient", {}).get("display_id"):
                    cell.final = data.get("text/plain", visible(data.get("text/html", "")))
                else:
                    cell.streamed.append(visible(data.get("text/html", "")))
                if on_output is not None:
                    on_output(cell)
            elif kind == "stream":
                setattr(cell, content["name"], getattr(cell, content["name"]) + content["text"])
            elif kind == "error":
                cell.errors.append(f"{content['ename']}: {content['evalue']}\n" + "\n".join(content["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        cell.status = reply["content"]["status"]
        if cell.status == "error":
            cell.errors.append(f"{reply['content']['ename']}: {reply['content']['evalue']}")
        return cell

    def history(self, chat: str) -> list[dict[str, Any]]:
        """The chat's messages as stored, read in the kernel (the test's root may not read the user's history)."""
        code = (
            "import json\nfrom mmchat_jupyter.history import HistoryStore\n"
            f"print(json.dumps([m.to_dict() for m in HistoryStore().get_chat({chat!r}).messages]))"
        )
        cell = self.run(code)
        assert cell.status == "ok", cell.errors
        rows: list[dict[str, Any]] = json.loads(cell.stdout)
        return rows
