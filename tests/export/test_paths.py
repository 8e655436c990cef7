"""Where an export lands and who can read it: folders that do not exist yet, 0600 whatever the umask, and every
way of naming the chat (a record, a list_chats() row, a name, plain messages)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mmchat_jupyter.errors import ExportError
from mmchat_jupyter.export import FORMATS, export_chat
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.types import Message

from .chats import golden_chat

STEM = "Отчёт_ план_итоги"


@pytest.mark.parametrize("suffix", ["/", os.sep, ""])
def test_a_folder_that_does_not_exist_yet_is_created(tmp_path: Path, suffix: str) -> None:
    """`%chat export NAME md reports/` (or `reports`): a folder with the chat's file in it, not a file `reports`."""
    written = export_chat(golden_chat(), "md", str(tmp_path / "reports" / "2024") + suffix)
    assert written == tmp_path / "reports" / "2024" / f"{STEM}.md"
    assert written.is_file() and (tmp_path / "reports").is_dir()


def test_a_file_path_is_written_as_given_with_its_folders(tmp_path: Path) -> None:
    written = export_chat(golden_chat(), "html", tmp_path / "new" / "page.htm")
    assert written == tmp_path / "new" / "page.htm" and written.read_text(encoding="utf-8").startswith("<!DOCTYPE")


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_exports_are_private_whatever_the_umask(tmp_path: Path, fmt: str, umask: int) -> None:
    old = os.umask(umask)
    try:
        written = export_chat(golden_chat(), fmt, tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_an_existing_readable_file_is_made_private(tmp_path: Path) -> None:
    target = tmp_path / "chat.md"
    target.write_text("old")
    target.chmod(0o644)
    export_chat(golden_chat(), "md", target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_text(encoding="utf-8") != "old"


def test_a_list_chats_row_and_a_name_export_the_same_chat() -> None:
    store = HistoryStore()
    store.import_chat(golden_chat())
    (row,) = store.list_chats()
    assert export_chat(row, "txt") == export_chat(row.name, "txt") == export_chat(golden_chat(), "txt")


def test_plain_messages_export_as_an_unsaved_chat() -> None:
    messages = [Message("user", "What is 2+2?"), Message("assistant", "**4**")]
    md = export_chat(messages, "md")
    assert "What is 2+2?" in md and "**4**" in md
    assert "What is 2+2?" in export_chat(messages, "ipynb")


def test_anything_else_is_one_line() -> None:
    with pytest.raises(ExportError, match="Cannot export int"):
        export_chat(42, "md")  # type: ignore[arg-type]
