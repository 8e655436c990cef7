"""A history folder is used only if it is the user's own (#12 finding 2). Here the other user is simulated by
`chown` (the tests run as root); tests/hub/test_history_trust.py does it with two real OS users."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmchat_jupyter.errors import HistoryError, HistorySaveError
from mmchat_jupyter.history import HistoryStore

OTHER = 65534  # nobody: an account that is not the one running the test

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user (chown)")


def refused(root: Path, says: str) -> str:
    with pytest.raises(HistoryError) as info:
        HistoryStore(root)
    line = str(info.value)
    assert says in line and "\n" not in line and not isinstance(info.value, HistorySaveError)
    return line


def test_a_folder_of_another_user_is_refused(tmp_path):
    root = tmp_path / "foreign"
    root.mkdir(mode=0o700)
    os.chown(root, OTHER, OTHER)
    assert "nobody" in refused(root, "belongs to another user")
    assert not (root / "index.json").exists()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702], ids=["0777", "0770", "0702"])
def test_a_folder_others_can_write_is_refused(tmp_path, mode):
    """Regression: a 0777 MMCHAT_HOME stayed 0777, and its settings.json was obeyed whoever wrote it."""
    root = tmp_path / "open"
    root.mkdir()
    os.chmod(root, mode)
    assert f"chmod 700 {root}" in refused(root, f"mode {mode:04o}")


def test_a_link_made_by_another_user_is_refused_one_of_mine_is_followed(tmp_path):
    target = tmp_path / "real"
    target.mkdir(mode=0o700)
    planted = tmp_path / "planted"
    planted.symlink_to(target)
    os.lchown(planted, OTHER, OTHER)
    refused(planted, "symbolic link made by another user")
    mine = tmp_path / "mine"
    mine.symlink_to(target)
    HistoryStore(mine).create_chat("through my link")
    assert [r.name for r in HistoryStore(target).list_chats()] == ["through my link"]


def test_a_folder_inside_one_another_user_controls_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chown(shared, OTHER, OTHER)
    refused(shared / "mmchat", "which another user can change (it belongs to nobody)")
    open_parent = tmp_path / "open-parent"
    open_parent.mkdir()
    os.chmod(open_parent, 0o777)
    refused(open_parent / "mmchat", "(mode 0777)")
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)  # like /tmp: others cannot replace what is mine
    HistoryStore(sticky / "mmchat").create_chat("fine")


def test_chats_as_a_link_is_refused(tmp_path):
    root = tmp_path / "h"
    HistoryStore(root).create_chat("x")
    elsewhere = tmp_path / "elsewhere"
    (root / "chats").rename(elsewhere)
    (root / "chats").symlink_to(elsewhere)
    refused(root, "symbolic link")


@pytest.mark.parametrize("how", ["foreign", "writable", "link"])
def test_a_settings_file_that_is_not_mine_is_never_used(store, tmp_path, how):
    store.update_settings(provider="openai")
    settings = store.root / "settings.json"
    planted = settings.read_text().replace('"openai"', '"https://attacker.example/v1"')
    if how == "link":
        other = tmp_path / "their-settings.json"
        other.write_text(planted)
        settings.unlink()
        settings.symlink_to(other)
    else:
        settings.write_text(planted)
        if how == "foreign":
            os.chown(settings, OTHER, OTHER)
        else:
            os.chmod(settings, 0o666)
    for action in (store.get_settings, lambda: store.update_settings(lang="en"), HistoryStore(store.root).get_settings):
        with pytest.raises(HistoryError, match=r"was not used: delete it") as info:
            action()
        assert "\n" not in str(info.value)
    assert [r.name for r in store.list_chats()] == []  # the chats stay usable


def test_a_lock_file_planted_as_a_link_is_one_line_and_its_target_untouched(store, tmp_path):
    """Regression: with filelock 3.16.1 a planted .lock link truncated and chmod'ed its target; with 4.x it was a
    raw OSError on every command."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.chmod(victim, 0o640)
    lock = store.root / ".lock"
    lock.unlink()
    lock.symlink_to(victim)
    writer = HistoryStore(store.root)
    with pytest.raises(HistorySaveError, match=r"lock file .* is a symbolic link") as info:
        writer.create_chat("x")
    assert "\n" not in str(info.value)
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o640
    assert writer.list_chats() == []  # reading never needed the lock
