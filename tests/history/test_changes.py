"""The change feed: every write, from any store or process, is announced; readers poll it cheaply."""

from __future__ import annotations

import subprocess
import sys

from mmchat_jupyter.history import HistoryStore, journal


def kinds(changes) -> list[tuple[str, str | None]]:
    return [(c.kind, c.name) for c in changes.events]


def test_every_write_is_announced_in_order(store):
    other = HistoryStore(store.root)  # another kernel
    start = other.change_seq()
    chat = store.create_chat("physics")
    question, answer = store.append_messages(
        chat, [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]
    )
    store.update_message(chat, answer, content="a")
    store.rename_chat(chat, "optics")
    store.update_chat_meta(chat, system="s")
    store.update_settings(lang="en")
    store.clear_chat(chat)
    store.delete_chat(chat)
    changes = other.changes(start)
    assert kinds(changes) == [
        ("chat_created", "physics"),
        ("message_added", "physics"),
        ("message_added", "physics"),
        ("message_updated", "physics"),
        ("chat_renamed", "optics"),
        ("chat_updated", "optics"),
        ("settings_changed", None),
        ("chat_cleared", "optics"),
        ("chat_deleted", None),
    ]
    assert [c.message for c in changes.events[1:4]] == [question, answer, answer]
    assert {c.chat for c in changes.events[:6]} == {chat.id}
    seqs = [c.seq for c in changes.events]
    assert seqs == sorted(seqs) and changes.seq == seqs[-1] == other.change_seq() and not changes.resync
    assert other.changes(changes.seq).events == []
    assert kinds(other.changes(seqs[-3])) == [("chat_cleared", "optics"), ("chat_deleted", None)]


def test_changes_from_another_process_are_seen(store):
    start = store.change_seq()
    code = "from mmchat_jupyter.history import HistoryStore; HistoryStore().create_chat('from-cli')"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert store.change_seq() > start
    assert kinds(store.changes(start)) == [("chat_created", "from-cli")]


def test_reads_announce_nothing(store):
    store.append_message(store.create_chat("x"), role="user", content="q")
    seq = store.change_seq()
    store.list_chats()
    store.get_chat("x")
    store.search("q")
    assert store.change_seq() == seq


def test_the_journal_rotates_and_a_reader_left_behind_resyncs(store, monkeypatch):
    monkeypatch.setattr(journal, "MAX_BYTES", 1000)
    chat = store.create_chat("busy")
    first = store.change_seq()
    rotated = store.root / "changes.1.jsonl"

    def append_until(done) -> list[str]:
        ids = []
        while not done():
            ids.append(store.append_message(chat, role="user", content="x"))
        return ids

    ids = append_until(rotated.exists)  # one rotation: what came before is in changes.1.jsonl
    ids += [store.append_message(chat, role="user", content="y") for _ in range(2)]
    changes = store.changes(first)
    assert not changes.resync and [c.message for c in changes.events] == ids
    inode = rotated.stat().st_ino
    middle = store.change_seq()
    later = append_until(lambda: rotated.stat().st_ino != inode)  # a second rotation: `first` is gone
    assert store.changes(first).resync and store.changes(first).seq == store.change_seq()
    assert [c.message for c in store.changes(middle).events] == later


def test_a_lost_journal_means_resync(store):
    store.create_chat("x")
    seq = store.change_seq()
    store.layout.changes.unlink()
    assert store.changes(seq).resync
    store.create_chat("y")
    assert store.changes(seq).resync  # positions went back: the reader cannot know what it missed
    assert kinds(store.changes(0)) == [("chat_created", "y")]


def test_a_line_cut_short_by_a_full_disk_is_skipped(store):
    store.create_chat("x")
    with open(store.layout.changes, "ab") as handle:
        handle.write(b'{"kind":"message_add')  # the disk filled up mid-line
    seq = store.change_seq()
    store.create_chat("y")
    assert kinds(store.changes(0)) == [("chat_created", "x"), ("chat_created", "y")]
    assert kinds(store.changes(seq)) == [("chat_created", "y")]
