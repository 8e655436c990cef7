"""The `mmchat` command and the panel, as the kernel's user, on a history that refuses writes (#15 items 1-3): reads
(list, show, export, usage, doctor) work, each write is one line, and a panel answer is kept and saved later."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .kernel import Kernel, user_python, words
from .test_turn_faults import PROMPT, Fault

pytestmark = pytest.mark.slow

FAULTS = {"full": "No space left on device", "read_only": "Read-only file system",
          "permission": "Permission denied", "locked": "stayed locked"}


def mmchat(kernel: Kernel, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line as the kernel's user, with the kernel's environment (and a short lock wait)."""
    code = "import sys\nfrom mmchat_jupyter.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [str(user_python()), "-c", code, *args], user=kernel.user.pw_uid, group=kernel.user.pw_gid, extra_groups=[],
        env=kernel.env, cwd=str(kernel.workdir), capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize("fault", FAULTS)
def test_the_command_line_reads_under_every_fault_and_each_write_is_one_line(kernel: Kernel, disk: Path, fault):
    chat = f"cli-{fault}"
    assert kernel.run(f"%%chat -p echo -c {chat}\nWhat is a photon?").status == "ok"
    out = kernel.workdir / f"out-{fault}"
    out.mkdir()
    os.chown(out, kernel.user.pw_uid, kernel.user.pw_gid)
    undo: Callable[[], None] = getattr(Fault(disk), fault)()
    try:
        listed = mmchat(kernel, "list")
        shown = mmchat(kernel, "show", chat)
        exported = mmchat(kernel, "export", "-f", "md", "-o", str(out / "chat.md"), chat)
        for done in (listed, shown, exported, mmchat(kernel, "usage"), mmchat(kernel, "settings")):
            assert done.returncode == 0 and done.stderr == "", (fault, done.args[3:], done.stderr)
        assert chat in listed.stdout and "What is a photon?" in shown.stdout
        assert "What is a photon?" in (out / "chat.md").read_text()
        start = time.monotonic()
        renamed = mmchat(kernel, "rename", chat, f"{chat}-renamed")
        assert renamed.returncode == 1 and renamed.stdout == ""
        lines = renamed.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mmchat: ") and FAULTS[fault] in lines[0], renamed.stderr
        assert "Traceback" not in renamed.stderr and time.monotonic() - start < 20
    finally:
        undo()
    assert mmchat(kernel, "rename", chat, f"{chat}-renamed").returncode == 0


def test_the_panel_keeps_its_answer_when_the_disk_fills_and_saves_it_later(kernel: Kernel, disk: Path):
    setup = kernel.run(
        "from mmchat_jupyter import ChatPanel\n"
        "panel = ChatPanel(chat='panel-faults', provider='echo')\n"
        f"panel.handle({{'type': 'send', 'text': {PROMPT!r}}})"
    )
    assert setup.status == "ok", setup.errors
    undo = Fault(disk).full()
    try:
        deadline = time.monotonic() + 60
        while kernel.run("print(panel.busy)").stdout.strip() == "True":  # the answer streams between cells
            assert time.monotonic() < deadline
            time.sleep(0.2)
        error = kernel.run("print(panel.error)").stdout.strip()
        assert len(error.splitlines()) == 1 and "%chat retry-save" in error and "No space left" in error
        shown = kernel.run("print(panel._transcript()['text/plain'])").stdout
        assert "Point 11" in shown  # the whole answer is on screen
    finally:
        undo()
    assert kernel.run("%chat retry-save").stdout.strip() == "Saved 1 answer to the history."
    stored = kernel.history("panel-faults")
    assert stored[-1]["status"] == "complete" and words(PROMPT) <= words(stored[-1]["content"])
    assert kernel.alive()
