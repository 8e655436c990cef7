"""Schema migrations: the schema-1 fixture comes out as the current layout, once, with a backup."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mmchat_jupyter.errors import CorruptHistoryError
from mmchat_jupyter.history import SCHEMA_VERSION, HistoryStore
from mmchat_jupyter.history.migrations import MIGRATIONS

from .helpers import all_json_valid

V1 = Path(__file__).parent / "data" / "v1" / "history.json"


@pytest.fixture
def v1_root(tmp_path) -> Path:
    root = tmp_path / "history"
    root.mkdir()
    shutil.copy(V1, root / "history.json")
    return root


def test_migrations_are_ordered_one_per_version():
    names = [migration.__name__ for migration in MIGRATIONS]
    assert len(names) == SCHEMA_VERSION - 1
    assert [int(re.fullmatch(r"m(\d{3})_\w+", name).group(1)) for name in names] == list(range(1, SCHEMA_VERSION))


def test_v1_fixture_migrates_to_the_current_version_with_a_backup(v1_root):
    store = HistoryStore(v1_root)
    assert store.migrations_applied == ["m001_split_single_file", "m002_segments"]

    (backup,) = (v1_root / "backups").iterdir()
    assert backup.name.startswith("schema-1-")
    assert (backup / "history.json").read_bytes() == V1.read_bytes()
    assert not (v1_root / "history.json").exists()
    assert json.loads((v1_root / "index.json").read_text())["_meta"]["1"]["schema"] == SCHEMA_VERSION
    for path in all_json_valid(v1_root / "chats"):  # short chats need no segments: a version-2 file is a head
        assert json.loads(path.read_text())["_meta"]["1"]["schema"] in (2, SCHEMA_VERSION)

    rows = {row.name: row for row in store.list_chats()}
    assert set(rows) == {"physics", "physics-2", "перевод", "recovered messages"}
    assert list(rows) == ["recovered messages", "physics-2", "перевод", "physics"]  # by last message
    assert rows["recovered messages"].created == "2024-11-25T10:21:40+00:00"  # its first message

    physics = store.get_chat("physics")
    assert physics.created == "2024-11-24T09:20:00+00:00"
    assert [(m.role, m.content, m.created) for m in physics.messages] == [
        ("user", "What is a photon?", "2024-11-24T09:20:10+00:00"),
        ("assistant", "A quantum of light.", "2024-11-24T09:20:12.250000+00:00"),
    ]
    answer = physics.messages[1]
    assert (answer.provider, answer.model, answer.params) == ("yandexgpt", "yandexgpt-lite", {"temperature": 0.3})
    assert answer.usage == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    assert answer.status == "complete" and len({m.id for m in physics.messages}) == 2
    assert physics.updated == answer.created

    translation = store.get_chat("перевод").messages
    assert translation[1].status == "interrupted" and translation[1].content == "Доброе ут"
    assert [m.content for m in store.get_chat("physics-2").messages] == ["And a phonon?"]
    assert [m.content for m in store.get_chat("recovered messages").messages] == ["orphaned question"]
    assert rows["перевод"].last_provider == "gigachat" and rows["перевод"].message_count == 2

    again = HistoryStore(v1_root)
    assert again.migrations_applied == []
    assert len(list((v1_root / "backups").iterdir())) == 1
    assert store.usage_totals()[0].total_tokens == 19


def test_a_migration_killed_while_staging_is_run_again(v1_root):
    staging = v1_root / "chats.m001"
    staging.mkdir()
    (staging / ("0" * 32 + ".json")).write_text('{"half')
    store = HistoryStore(v1_root)
    assert not staging.exists()
    assert len(store.list_chats()) == 4


def test_a_migration_killed_after_the_rename_is_finished_without_duplicates(v1_root, tmp_path):
    done = tmp_path / "done"
    shutil.copytree(v1_root, done)
    HistoryStore(done)
    # The state a kill between "chats.m001 -> chats" and removing history.json leaves behind:
    shutil.copytree(done / "chats", v1_root / "chats")
    store = HistoryStore(v1_root)
    assert store.migrations_applied == ["m001_split_single_file", "m002_segments"]
    assert not (v1_root / "history.json").exists()
    assert sorted(r.name for r in store.list_chats()) == sorted(r.name for r in HistoryStore(done).list_chats())


def test_a_damaged_v1_file_is_refused_untouched(v1_root):
    legacy = v1_root / "history.json"
    legacy.write_bytes(V1.read_bytes()[:100])
    with pytest.raises(CorruptHistoryError, match=r"history\.json is damaged") as info:
        HistoryStore(v1_root)
    assert info.value.path == str(legacy) and legacy.read_bytes() == V1.read_bytes()[:100]


def test_data_from_a_newer_version_is_refused(v1_root):
    legacy = v1_root / "history.json"
    legacy.write_text(json.dumps({"_meta": {"1": {"schema": SCHEMA_VERSION + 5}}}))
    with pytest.raises(CorruptHistoryError, match="newer mmchat-jupyter"):
        HistoryStore(v1_root)
    assert not (v1_root / "chats").exists()


def test_a_lost_index_is_rebuilt_from_the_chat_files(store):
    chat = store.create_chat("survivor")
    store.append_message(chat, role="user", content="x")
    (store.root / "index.json").unlink()
    reopened = HistoryStore(store.root)
    assert reopened.migrations_applied == []
    assert [(r.name, r.message_count) for r in reopened.list_chats()] == [("survivor", 1)]


V2 = Path(__file__).parent / "data" / "v2" / "history"


def raw_messages(root: Path) -> dict[str, list[dict]]:
    """chat name -> its message rows, straight from version-2 files."""
    chats = {}
    for path in (root / "chats").glob("*.json"):
        data = json.loads(path.read_text())
        chats[data["chat"]["1"]["name"]] = list(data["messages"].values())
    return chats


@pytest.fixture
def v2_root(tmp_path) -> Path:
    root = tmp_path / "history"
    shutil.copytree(V2, root, ignore=shutil.ignore_patterns("README.md"))
    return root


def test_a_version_2_history_migrates_to_segments_losing_nothing(v2_root):
    before = raw_messages(v2_root)
    old = HistoryStore(v2_root)  # opening migrates
    assert old.migrations_applied == ["m002_segments"]
    (backup,) = (v2_root / "backups").iterdir()
    assert backup.name.startswith("schema-2-") and raw_messages(backup) == before

    store = HistoryStore(v2_root)
    assert store.migrations_applied == []
    long_chat = store.get_chat("long project")
    head = json.loads((v2_root / "chats" / f"{long_chat.id}.json").read_text())
    assert head["_meta"]["1"]["schema"] == SCHEMA_VERSION and len(head["messages"]) < 100
    assert list((v2_root / "chats" / long_chat.id).iterdir())  # the older messages, sealed
    for name, rows in before.items():
        assert [m.to_dict() for m in store.get_chat(name).messages] == rows, name
    assert long_chat.meta == {"system": "Отвечай кратко."}
    rows = {r.name: (r.message_count, r.last_provider) for r in store.list_chats()}
    assert rows == {"long project": (600, "yandexgpt"), "short": (2, "echo"), "interrupted": (2, "gigachat")}
    assert sum(t.total_tokens for t in store.usage_totals()) == sum(30 + n for n in range(300))
    assert store.find_cached("cd" * 32).content == before["long project"][11]["content"]
    assert store.get_settings()["templates"] == {"short": "Briefly: {input}"}
    store.append_message("short", role="user", content="and now?")
    assert [m.content for m in store.tail("long project", chars=1).messages] == [before["long project"][-1]["content"]]


def test_a_segment_migration_killed_midway_is_run_again(v2_root, monkeypatch):
    from mmchat_jupyter.history import segments

    before = raw_messages(v2_root)
    with monkeypatch.context() as patch:
        patch.setattr(segments, "fsync_dir", lambda path: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):  # killed after writing segments, before the new head
            HistoryStore(v2_root)
    store = HistoryStore(v2_root)
    assert store.migrations_applied == ["m002_segments"]
    for name, rows in before.items():
        assert [m.to_dict() for m in store.get_chat(name).messages] == rows
    (long_id,) = [r.id for r in store.list_chats() if r.name == "long project"]
    epoch = json.loads((v2_root / "chats" / f"{long_id}.json").read_text())["sealed"]["1"]["epoch"]
    assert all(p.name.startswith(epoch) for p in (v2_root / "chats" / long_id).iterdir())  # no leftovers
