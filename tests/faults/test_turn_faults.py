"""%%chat in a real kernel under disk, lock, kill, interrupt and provider faults (#15). Every time: the kernel lives,
the user sees one line, and no text that was on screen or already saved is lost."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from .disks import fill
from .kernel import Cell, Kernel, words

pytestmark = pytest.mark.slow

PROMPT = " ".join(f"Point {n}: photons carry energy and momentum but no rest mass." for n in range(12))


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)



class Fault:
    """Something that makes the history unwritable, applied mid-answer and undone afterwards."""

    def __init__(self, disk: Path) -> None:
        self.disk, self.home = disk, disk / "mmchat"
        self._lock: int | None = None

    def full(self) -> Callable[[], None]:
        filler = fill(self.disk)
        return filler.unlink

    def read_only(self) -> Callable[[], None]:
        for _attempt in range(200):  # refused (busy) while a write has a file open: retried until between writes
            remount = ["mount", "-o", "remount,ro", str(self.disk)]
            if subprocess.run(remount, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.005)
        else:
            raise AssertionError("could not remount the history's disk read-only")
        return lambda: mount("-o", "remount,rw", str(self.disk))

    def permission(self) -> Callable[[], None]:
        folders = [self.home, self.home / "chats"]
        for folder in folders:
            folder.chmod(0o500)
        return lambda: [folder.chmod(0o700) for folder in folders] and None

    def locked(self) -> Callable[[], None]:
        fd = os.open(self.home / ".lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process holds the history, past the save's wait
        return lambda: os.close(fd)


def one_line(cell: Cell, says: str) -> str:
    assert cell.status == "ok" and not cell.errors, cell.errors
    assert "Traceback" not in cell.everything
    lines = cell.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], cell.stderr
    return lines[0]


def nothing_shown_is_lost(cell: Cell) -> None:
    assert cell.streamed, "the answer did not stream"
    answer = [text for text in cell.streamed if "waiting for the answer" not in text.casefold()]  # a status line
    shown = set().union(*(words(text) for text in answer))
    assert shown <= words(cell.final), shown - words(cell.final)
    assert "photons carry energy" in cell.final and "Point 11" in cell.final  # the whole answer, to the end


@pytest.mark.parametrize(
    "fault, says",
    [("full", "No space left on device"), ("read_only", "Read-only file system"),
     ("permission", "Permission denied"), ("locked", "stayed locked")],
)
def test_a_history_that_stops_taking_writes_mid_answer(kernel: Kernel, disk: Path, fault: str, says: str) -> None:
    chat = f"fault-{fault}"
    assert kernel.run(f"%%chat -p echo -c {chat}\nfirst question").status == "ok"
    undo: list[Callable[[], None]] = []

    def inject(cell: Cell) -> None:
        if cell.streamed and not undo:
            undo.append(getattr(Fault(disk), fault)())

    try:
        cell = kernel.run(f"%%chat -p echo -c {chat}\n{PROMPT}", on_output=inject)
    finally:
        for action in undo:
            action()
    assert undo, "the fault was never injected"
    line = one_line(cell, says)
    assert "%chat retry-save" in line
    nothing_shown_is_lost(cell)
    assert kernel.run("%chat retry-save").stdout.strip() == "Saved 1 answer to the history."
    stored = kernel.history(chat)
    assert [m["content"] for m in stored][:2] == ["first question", stored[1]["content"]]
    assert stored[-2]["content"] == PROMPT and stored[-1]["status"] == "complete"
    assert words(cell.final) <= words(stored[-1]["content"]) | {"echo", "1"}


def test_kill_9_mid_answer_keeps_what_was_saved(kernel: Kernel) -> None:
    chat = "fault-kill"
    assert kernel.run(f"%%chat -p echo -c {chat}\nbefore the kill").status == "ok"
    before = kernel.history(chat)
    shown: list[str] = []
    long_prompt = f"{PROMPT} {PROMPT}"  # about 5 s of streaming
    threading.Timer(3.0, kernel.signal, args=(signal.SIGKILL,)).start()  # after the first progress save (2 s)
    with contextlib.suppress(Exception):  # the kernel dies under the request, as intended
        kernel.run(f"%%chat -p echo -c {chat}\n{long_prompt}", timeout=20,
                   on_output=lambda cell: shown.append(" ".join(cell.streamed)))
    kernel.process.wait(timeout=30)  # type: ignore[union-attr]
    kernel.client.stop_channels()
    kernel.start()
    stored = kernel.history(chat)
    assert stored[: len(before)] == before  # what was saved before is intact
    question, answer = stored[len(before) :]
    assert question["content"] == long_prompt and answer["status"] == "interrupted"
    assert answer["content"] and words(answer["content"]) <= words(shown[-1])  # saved text is text that was shown
    assert kernel.run(f"%%chat -p echo -c {chat}\nafter the kill").status == "ok"


def test_interrupts_at_random_moments_end_in_at_most_one_line(kernel: Kernel) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    chat = "fault-interrupts"
    for n in range(12):
        delay = 0.0 if n < 2 else rng.uniform(0.0, 1.2)  # from before the request to mid-answer
        timer = threading.Timer(delay, kernel.signal, args=(signal.SIGINT,))
        timer.start()
        cell = kernel.run(f"%%chat -p echo -c {chat}\nQuestion {n}: {PROMPT[:300]}")
        timer.join()
        context = f"run {n}, delay {delay:.3f}, seed {seed}"
        assert "Traceback" not in cell.everything, context
        assert len(cell.stderr.strip().splitlines()) <= 1 and len(cell.errors) <= 1, context
        if cell.errors:
            assert "\n" not in cell.errors[-1].strip(), context
    assert kernel.alive()
    stored = kernel.history(chat)
    for earlier, later in pairwise(stored):
        if earlier["role"] == "user":
            assert later["role"] == "assistant", f"a question without its answer record (seed {seed})"
    assert stored[-1]["role"] == "assistant"


def test_provider_faults_are_one_line_and_keep_the_partial_answer(kernel: Kernel, provider) -> None:
    chat = "fault-provider"
    provider.script([f"word{n} " for n in range(40)])
    provider.tamper(drop_after=12)  # the connection drops mid-answer
    cell = kernel.run(f"%%chat -p openai -c {chat}\nhello")
    one_line(cell, "")
    assert "word5" in cell.final and "word30" not in cell.final
    provider.fail(401)  # refused before the first byte (a 5xx would be retried, and answered)
    refused = kernel.run(f"%%chat -p openai -c {chat}\nagain")
    one_line(refused, "OPENAI_API_KEY")
    stored = kernel.history(chat)
    assert [m["status"] for m in stored if m["role"] == "assistant"] == ["error", "error"]
    assert stored[1]["content"].startswith("word0 word1") and words(stored[1]["content"]) <= words(cell.final)
    provider.unscript()
