"""Reads need no write (#15 items 2 and 3): a read-only, full or locked history can still be listed, shown and
exported, and no read ever changes a file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from mmchat_jupyter.errors import HistorySaveError
from mmchat_jupyter.export import export_chat
from mmchat_jupyter.history import HistoryStore

from ..faults.disks import fill, read_only, small_disk


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `root` with its inode, mtime and bytes: what a read must leave exactly as it was."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(root))] = (info.st_ino, info.st_mtime_ns, path.read_bytes())
    return found


def fill_history(store: HistoryStore) -> None:
    """A history whose index is behind its chats (appends never rewrite it), with settings and a cached answer."""
    store.update_settings(provider="echo", lang="en")
    for name in ("alpha", "beta"):
        chat = store.create_chat(name, system="Be brief.")
        store.append_message(chat, role="user", content=f"question about {name}")
        store.append_message(
            chat, role="assistant", content=f"Answer on {name}", cache_key="k" * 64, provider="echo",
            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        )


def every_read(store: HistoryStore, out: Path) -> None:
    rows = store.list_chats()
    assert sorted((r.name, r.message_count) for r in rows) == [("alpha", 2), ("beta", 2)]
    assert [m.content for m in store.get_chat("alpha").messages] == ["question about alpha", "Answer on alpha"]
    assert [m.content for m in store.tail("beta", chars=1).messages] == ["Answer on beta"]
    assert store.page("beta", before=1).messages[0].content == "question about beta"
    assert store.chat_info("alpha").total == 2
    assert {h.chat_name for h in store.search("answer on")} == {"alpha", "beta"}
    assert store.find_cached("k" * 64).content.startswith("Answer on")
    assert store.usage_totals()[0].total_tokens == 6
    assert store.get_settings() == {"provider": "echo", "lang": "en"}
    assert store.problems() == []
    assert store.unique_name("alpha") == "alpha-2"
    store.changes(0)
    export_chat(store.get_chat("alpha"), "md", out / "alpha.md")


def test_reads_never_write_even_when_the_index_is_behind(store, tmp_path):
    fill_history(store)
    before = snapshot(store.root)
    every_read(HistoryStore(store.root), tmp_path)  # a fresh process's view: the index must catch up in memory
    every_read(store, tmp_path)
    assert snapshot(store.root) == before


def test_a_read_only_history_reads_and_each_write_is_one_line(store, tmp_path):
    """Regression (#15 item 2): every command, reads included, was a 40-96-line OSError traceback (EROFS)."""
    fill_history(store)
    with read_only(store.root):
        reader = HistoryStore(store.root)
        every_read(reader, tmp_path)
        for write in (
            lambda: reader.create_chat("gamma"),
            lambda: reader.append_message("alpha", role="user", content="more"),
            lambda: reader.update_settings(lang="ru"),
            lambda: reader.rename_chat("alpha", "delta"),
        ):
            with pytest.raises(HistorySaveError) as info:
                write()
            assert info.value.reason == "read-only" and "MMCHAT_HOME" in str(info.value)
            assert "\n" not in str(info.value)
    assert [m.content for m in HistoryStore(store.root).get_chat("alpha").messages][-1] == "Answer on alpha"


def test_a_history_never_written_reads_as_empty_on_a_read_only_disk(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    with read_only(parent):
        store = HistoryStore(parent / "mmchat")
        assert store.list_chats() == [] and store.get_settings() == {} and store.search("x") == []
        with pytest.raises(HistorySaveError, match="MMCHAT_HOME"):
            store.create_chat()


def test_a_full_disk_can_still_list_show_and_export(tmp_path):
    """Regression (#15 item 3): listing first rewrote the lazy index, so a full disk could not even be read."""
    with small_disk(tmp_path / "disk", size="512k") as disk:
        store = HistoryStore(disk / "mmchat")
        fill_history(store)
        fill(disk)
        before = snapshot(store.root)
        every_read(HistoryStore(store.root), tmp_path)
        assert snapshot(store.root) == before
        with pytest.raises(HistorySaveError) as info:
            store.append_message("alpha", role="user", content="x" * 100_000)
        assert info.value.reason == "full" and "free some disk space" in str(info.value)
        assert store.get_chat("alpha").messages[-1].content == "Answer on alpha"


def test_reads_do_not_wait_for_a_writer_holding_the_lock(store, tmp_path):
    fill_history(store)
    # flock locks belong to the open file: a second open in this process conflicts like another process would.
    fd = os.open(store.root / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        impatient = HistoryStore(store.root, lock_timeout=0.2)
        every_read(impatient, tmp_path)
        with pytest.raises(HistorySaveError) as info:
            impatient.append_message("alpha", role="user", content="x")
        assert info.value.reason == "locked" and "stayed locked for 0.2 s" in str(info.value)
    finally:
        os.close(fd)
    impatient.append_message("alpha", role="user", content="x")


def test_the_lock_wait_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MMCHAT_LOCK_TIMEOUT", "0.25")
    assert HistoryStore().lock_timeout == 0.25
    monkeypatch.setenv("MMCHAT_LOCK_TIMEOUT", "soon")
    assert HistoryStore().lock_timeout == 30.0
