"""The per-user audit log: what one line holds, the file's mode, and the shared directory's hazards."""

from __future__ import annotations

import json
import logging
import os
import stat
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
    monkeypatch.setattr(audit, "_warned", set())
    return tmp_path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_line_records_usage_but_neither_prompt_nor_answer(log_dir: Path) -> None:
    audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    path = log_dir / "alice.jsonl"
    (entry,) = lines(path)
    assert entry["user"] == "alice"
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
    with caplog.at_level(logging.WARNING, logger="mmchat_jupyter.audit"):
        audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    assert target.read_text() == "untouched"
    assert "cannot write the audit log" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_file_planted_by_another_user_is_not_written(log_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    planted = log_dir / "alice.jsonl"
    planted.write_text("")
    planted.chmod(0o666)
    os.chown(planted, 65534, 65534)  # nobody: someone who would then read alice's entries
    with caplog.at_level(logging.WARNING, logger="mmchat_jupyter.audit"):
        audit.record_turn(MMChat(audit_log=str(log_dir)), turn())
    assert planted.read_text() == ""
    assert "belongs to another user" in caplog.text


def test_a_missing_directory_warns_once_and_never_breaks_the_chat(
    log_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = MMChat(audit_log=str(log_dir / "missing"))
    with caplog.at_level(logging.WARNING, logger="mmchat_jupyter.audit"):
        audit.record_turn(admin, turn())
        audit.record_turn(admin, turn())
    assert caplog.text.count("cannot write the audit log") == 1
