"""The per-user audit log: what one line holds, the file's mode, who it is filed under, and the shared directory's
hazards: a file another user planted (the lock-out), symlinks, FIFOs, and the administrator's prepared layout."""

from __future__ import annotations

import json
import logging
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mmchat_jupyter import audit
from mmchat_jupyter.config import MMChat
from mmchat_jupyter.session import Turn
from mmchat_jupyter.types import GenerationParams, Usage

PROMPT = "What is our Q3 revenue? (confidential)"


def turn() -> Turn:
    t = Turn(PROMPT, "yandexgpt", "yandexgpt-lite", GenerationParams(model="yandexgpt-lite"), chat="c")
    t.text, t.usage, t.status = "The answer text", Usage(12, 5, 17), "complete"
    return t


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    return tmp_path


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
NOBODY = 65534


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_line_records_usage_but_neither_prompt_nor_answer(log_dir: Path) -> None:
    audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    path = log_dir / "alice.jsonl"
    (entry,) = lines(path)
    assert entry["user"] == "alice" and entry["account"] == pwd.getpwuid(os.geteuid()).pw_name
    assert (entry["provider"], entry["model"], entry["status"]) == ("yandexgpt", "yandexgpt-lite", "complete")
    assert entry["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert "prompt" not in entry
    text = path.read_text(encoding="utf-8")
    assert PROMPT not in text and "The answer text" not in text


def test_the_prompt_is_recorded_only_when_enabled(log_dir: Path) -> None:
    admin = MMChat(audit_log=str(log_dir), audit_prompts=True)
    audit.record_turn(admin, turn())
    audit.record_turn(admin, turn())
    entries = lines(log_dir / "alice.jsonl")
    assert [e["prompt"] for e in entries] == [PROMPT, PROMPT]  # appended, one line each
    assert "The answer text" not in (log_dir / "alice.jsonl").read_text(encoding="utf-8")


def test_the_file_is_private_to_its_user(log_dir: Path) -> None:
    old = os.umask(0)  # even with a permissive umask
    try:
        audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    finally:
        os.umask(old)
    assert stat.S_IMODE((log_dir / "alice.jsonl").stat().st_mode) == 0o600


def test_the_user_name_cannot_leave_the_directory(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "../../etc/evil user")
    audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    (path,) = log_dir.iterdir()
    assert path.name == "_.._etc_evil_user.jsonl"
    assert lines(path)[0]["user"] == "../../etc/evil user"


def test_a_planted_symlink_is_not_followed(log_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = log_dir / "victim.txt"
    target.write_text("untouched")
    (log_dir / "alice.jsonl").symlink_to(target)
    with caplog.at_level(logging.ERROR, logger="mmchat_jupyter.audit"):
        problem = audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    assert target.read_text() == "untouched"
    assert problem and "audit log not written" in caplog.text and "prepare" in problem


def test_a_planted_fifo_does_not_hang_the_kernel(log_dir: Path) -> None:
    os.mkfifo(log_dir / "alice.jsonl")
    assert audit.record_turn(MMChat(audit_log=str(log_dir)), turn()) is not None


def test_the_name_comes_from_the_account_never_from_user(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a hub, USER and LOGNAME (which anyone can set) do not choose whose file gets the line."""
    monkeypatch.delenv("JUPYTERHUB_USER")
    for variable in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "bob")
    audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    account = pwd.getpwuid(os.geteuid()).pw_name
    assert [p.name for p in log_dir.iterdir()] == [f"{account}.jsonl"]
    assert lines(log_dir / f"{account}.jsonl")[0]["user"] == account


@ROOT_ONLY
def test_a_file_planted_by_another_user_is_refused_loudly_every_time(
    log_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock-out: another user creates alice.jsonl first in a shared (1733) directory. Nothing goes into their
    file, and every answer logs an ERROR saying what the administrator must run; the chat itself goes on."""
    log_dir.chmod(0o1733)
    planted = log_dir / "alice.jsonl"
    planted.write_text("")
    planted.chmod(0o666)
    os.chown(planted, NOBODY, NOBODY)  # someone who would then read alice's entries
    admin = MMChat(audit_log=str(log_dir))
    with caplog.at_level(logging.ERROR, logger="mmchat_jupyter.audit"):
        first, second = audit.record_turn(admin, turn()), audit.record_turn(admin, turn())
    assert planted.read_text() == ""
    assert first == second and "not this user's own file" in first
    assert f"python -m mmchat_jupyter.audit prepare {log_dir} alice" in first
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


@ROOT_ONLY
def test_prepare_moves_a_planted_file_aside_and_hands_the_user_their_own(log_dir: Path) -> None:
    planted = log_dir / "alice.jsonl"
    planted.write_text("planted")
    os.chown(planted, NOBODY, NOBODY)
    path = audit.prepare(log_dir, "alice", uid=os.geteuid(), gid=os.getegid())
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode), path.read_text()) == (os.geteuid(), 0o600, "")
    assert [p.read_text() for p in log_dir.glob("alice.jsonl.planted-*")] == ["planted"]
    assert audit.record_turn(MMChat(audit_log=str(log_dir)), turn()) is None and len(lines(path)) == 1
    assert audit.prepare(log_dir, "alice", uid=os.geteuid(), gid=os.getegid()) == path  # idempotent
    assert len(lines(path)) == 1


@ROOT_ONLY
def test_in_the_prepared_layout_no_other_user_can_plant_a_file(tmp_path: Path) -> None:
    """prepare() makes the directory root's, 0711: another account cannot create (or list) anything in it, so the
    pre-creation attack cannot even start; the prepared user's own kernel appends as usual."""
    directory = tmp_path / "audit"
    audit.prepare(directory, "alice", uid=NOBODY, gid=NOBODY)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o711
    tmp_path.chmod(0o755)
    attempt = (
        "import os, sys\n"
        f"os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        "try:\n"
        f"    os.open({str(directory / 'bob.jsonl')!r}, os.O_WRONLY | os.O_CREAT, 0o666)\n"
        "except PermissionError:\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    assert subprocess.run([sys.executable, "-c", attempt], check=False).returncode == 0
    assert sorted(p.name for p in directory.iterdir()) == ["alice.jsonl"]


def test_the_command_line_prepares_files(tmp_path: Path) -> None:
    account = pwd.getpwuid(os.geteuid()).pw_name
    done = subprocess.run([sys.executable, "-m", "mmchat_jupyter.audit", "prepare", str(tmp_path / "a"), account],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == str(tmp_path / "a" / f"{account}.jsonl")
    usage = subprocess.run([sys.executable, "-m", "mmchat_jupyter.audit"], capture_output=True, check=False)
    assert usage.returncode == 2


def test_a_missing_directory_is_an_error_line_per_answer_and_never_breaks_the_chat(
    log_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = MMChat(audit_log=str(log_dir / "missing"))
    with caplog.at_level(logging.ERROR, logger="mmchat_jupyter.audit"):
        audit.record_turn(admin, turn())
        audit.record_turn(admin, turn())
    assert caplog.text.count("audit log not written") == 2
