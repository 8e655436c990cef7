"""What the history looks like on disk: permissions, atomic writes, damaged and foreign files."""

from __future__ import annotations

import errno
import json
import os
import re
import stat

import pytest

from mmchat_jupyter.errors import ChatNotFound, CorruptHistoryError, HistoryError
from mmchat_jupyter.history import SCHEMA_VERSION, HistoryStore
from mmchat_jupyter.history.storage import write_json_atomic

from .helpers import all_json_valid


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directories_are_0700_and_files_0600(tmp_path):
    os.umask(0o022)
    root = tmp_path / "new" / "mmchat"
    store = HistoryStore(root)
    chat = store.create_chat()
    store.append_message(chat, role="user", content="secret")
    store.update_settings(provider="echo")
    store.list_chats()
    dirs = [root, root.parent, root / "chats"]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {".lock", "index.json", "settings.json", f"{chat.id}.json"}
    assert {str(p): mode(p) for p in dirs} == {str(p): 0o700 for p in dirs}
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}


def test_an_existing_root_keeps_its_mode(tmp_path):
    root = tmp_path / "shared"
    root.mkdir(mode=0o750)
    os.chmod(root, 0o750)
    HistoryStore(root)
    assert mode(root) == 0o750 and mode(root / "chats") == 0o700


def test_files_carry_the_schema_version(store):
    chat = store.create_chat()
    store.update_settings(lang="en")
    store.list_chats()
    for path in (store.root / "index.json", store.root / "settings.json", store.root / "chats" / f"{chat.id}.json"):
        assert json.loads(path.read_text())["_meta"] == {"1": {"schema": SCHEMA_VERSION}}


DAMAGE = {
    "truncated": (lambda raw: raw[: len(raw) // 2], "unexpected end of data"),
    "garbage": (lambda raw: b"not json at all" + raw, "invalid JSON at line 1, column 1"),
    "empty": (lambda raw: b"", "the file is empty"),
    "not tinydb": (lambda raw: b"[1, 2, 3]", "not a TinyDB file"),
    "newer": (
        lambda raw: json.dumps({**json.loads(raw), "_meta": {"1": {"schema": SCHEMA_VERSION + 1}}}).encode(),
        "written by a newer mmchat-jupyter",
    ),
    "headerless": (lambda raw: json.dumps({"_meta": json.loads(raw)["_meta"]}).encode(), "chat header"),
    "other chat's": (lambda raw: raw.replace(b'"id":"', b'"id":"f', 1), "not the chat its name says"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_chat_file_is_named_kept_and_isolated(store, kind):
    damage, reason = DAMAGE[kind]
    broken = store.create_chat("broken")
    healthy = store.create_chat("healthy")
    store.append_message(broken, role="user", content="some text that makes the file long enough")
    store.list_chats()
    path = store.root / "chats" / f"{broken.id}.json"
    path.write_bytes(damage(path.read_bytes()))
    content = path.read_bytes()

    for action in (
        lambda: store.get_chat(broken.id),
        lambda: store.get_chat("broken"),  # still found by the name the index last knew
        lambda: store.append_message(broken, role="user", content="more"),
        lambda: store.update_message(broken, "x", content="y"),
        lambda: store.rename_chat(broken, "other"),
    ):
        with pytest.raises(CorruptHistoryError) as info:
            action()
        assert info.value.path == str(path) and str(path) in str(info.value) and reason in str(info.value)
        assert "\n" not in str(info.value) and "left untouched" in str(info.value)
    assert path.read_bytes() == content

    with pytest.warns(RuntimeWarning, match=str(path)):
        rows = HistoryStore(store.root).list_chats()
    assert [r.name for r in rows] == ["healthy"]
    store.append_message(healthy, role="user", content="still works")
    with pytest.warns(RuntimeWarning, match=str(path)):
        assert [h.chat_name for h in store.search("works")] == ["healthy"]
    assert [e.path for e in store.problems()] == [str(path)]
    assert path.read_bytes() == content


def test_a_file_damaged_before_the_index_knew_it_reads_as_problem(store):
    path = store.root / "chats" / ("0" * 32 + ".json")
    path.write_text('{"_meta": {"1": {"schema": 2}}, "chat": {"1": {"id": "trunc')
    with pytest.warns(RuntimeWarning, match="unexpected end of data"):
        assert store.list_chats() == []
    with pytest.raises(CorruptHistoryError, match="unexpected end of data"):
        store.get_chat("0" * 32)
    with pytest.warns(RuntimeWarning, match="unexpected end of data"):
        store.create_chat("fine")
        assert [r.name for r in store.list_chats()] == ["fine"]


def test_a_damaged_settings_file_is_an_error_and_chats_stay_usable(store):
    store.update_settings(provider="echo")
    path = store.root / "settings.json"
    path.write_text('{"_meta": {"1": {"schema": 2}}, "settings": {"1": {"key": "pro')
    for action in (store.get_settings, lambda: store.update_settings(provider="x")):
        with pytest.raises(CorruptHistoryError, match=r"settings\.json is damaged"):
            action()
    assert path.read_text().endswith('"pro')
    store.create_chat("fine")
    assert [r.name for r in store.list_chats()] == ["fine"]


def test_a_damaged_index_is_set_aside_and_rebuilt(store):
    for name in ("a", "b"):
        store.append_message(store.create_chat(name), role="user", content=name)
    store.list_chats()
    index = store.root / "index.json"
    index.write_bytes(index.read_bytes()[:40])
    with pytest.warns(RuntimeWarning, match="index.json is damaged .* moved to .*index.json.damaged-"):
        reopened = HistoryStore(store.root)
        rows = reopened.list_chats()
    assert sorted((r.name, r.message_count) for r in rows) == [("a", 1), ("b", 1)]
    (aside,) = store.root.glob("index.json.damaged-*")
    assert len(aside.read_bytes()) == 40
    all_json_valid(store.root / "chats")


def test_an_index_from_a_newer_version_is_refused_untouched(store):
    index = store.root / "index.json"
    index.write_text(json.dumps({"_meta": {"1": {"schema": SCHEMA_VERSION + 1}}, "chats": {}}))
    before = index.read_bytes()
    with pytest.raises(CorruptHistoryError, match="newer mmchat-jupyter") as info:
        HistoryStore(store.root)
    assert info.value.path == str(index) and index.read_bytes() == before


def test_leftover_temp_files_are_removed_on_open(store):
    chat = store.create_chat()
    leftovers = [store.root / ".index.json.dead.tmp", store.root / "chats" / f".{chat.id}.json.dead.tmp"]
    for path in leftovers:
        path.write_text('{"half')
    HistoryStore(store.root)
    assert not any(path.exists() for path in leftovers)
    assert store.get_chat(chat).id == chat.id


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "f.json"
    write_json_atomic(path, {"t": {"1": {"v": 1}}})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"t": {"1": {"v": object()}}})
    assert json.loads(path.read_text()) == {"t": {"1": {"v": 1}}}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_full_disk_is_one_line_and_keeps_what_was_saved(store, monkeypatch):
    """Regression: a refused write (disk full, read-only) escaped as a raw OSError, a traceback in %%chat."""
    chat = store.create_chat("kept")
    store.append_message(chat, role="user", content="before")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(HistoryError) as info:
        store.append_message(chat, role="user", content="after")
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    monkeypatch.undo()
    assert [m.content for m in store.get_chat("kept").messages] == ["before"]
    assert not [p for p in (store.root / "chats").iterdir() if p.name.startswith(".")]


def test_an_unusable_history_folder_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(HistoryError, match="MMCHAT_HOME"):
        HistoryStore(blocker / "mmchat").create_chat()


def test_each_rewrite_gets_a_later_mtime(tmp_path):
    # The index spots changed chats by (inode, mtime, size): same-size rewrites within one clock tick must differ.
    path = tmp_path / "f.json"
    stamps = set()
    for n in range(20):
        write_json_atomic(path, {"t": {"1": {"v": n % 10}}})
        info = path.stat()
        stamps.add((info.st_ino, info.st_mtime_ns, info.st_size))
    assert len(stamps) == 20


def test_a_chat_deleted_elsewhere_is_not_found(store):
    chat = store.create_chat("x")
    (store.root / "chats" / f"{chat.id}.json").unlink()
    with pytest.raises(ChatNotFound):
        store.append_message(chat, role="user", content="x")
    assert store.list_chats() == []


WRONG_TYPES = {
    "usage": ("lots", "field 'usage' should be a mapping, not 'lots'"),
    "content": (42, "field 'content' should be text, not 42"),
    "role": ("robot", "field 'role' should be one of system, user, assistant, not 'robot'"),
    "params": ([1], "field 'params' should be a mapping, not [1]"),
}


@pytest.mark.parametrize("field", WRONG_TYPES)
def test_a_wrong_typed_field_damages_only_its_chat_named_once(store, field):
    """Regression (#15 item 8): `usage: "lots"` in one message broke every listing; `content: 42` that chat."""
    value, says = WRONG_TYPES[field]
    bad, good = store.create_chat("hand-edited"), store.create_chat("fine")
    store.append_message(good, role="user", content="kept", usage={"prompt_tokens": 1, "total_tokens": 1})
    store.append_message(bad, role="user", content="q")
    store.append_message(bad, role="assistant", content="a")
    path = store.root / "chats" / f"{bad.id}.json"
    data = json.loads(path.read_text())
    data["messages"]["2"][field] = value
    path.write_text(json.dumps(data))

    reader = HistoryStore(store.root)
    with pytest.warns(RuntimeWarning) as caught:
        assert [r.name for r in reader.list_chats()] == ["fine"]
        assert [h.chat_name for h in reader.search("kept")] == ["fine"]
        assert [t.total_tokens for t in reader.usage_totals()] == [1]
    (message,) = {str(w.message) for w in caught}  # the same one line each time: the warning shows once
    assert "'hand-edited', message 2: " + says in message and str(path) in message and "\n" not in message
    assert "move it away or restore it from a backup" in message
    with pytest.raises(CorruptHistoryError, match="message 2: " + re.escape(says)):
        reader.get_chat("hand-edited")
    assert [p.path for p in reader.problems()] == [str(path)]
    assert reader.get_chat("fine").messages[0].content == "kept"


def refuse_constant(name: str) -> None:
    raise ValueError(f"not JSON: {name}")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_no_history_file_ever_holds_nan_or_infinity(store, bad):
    """Python's json writes NaN and Infinity, which are not JSON (JSON.parse, jq and strict readers refuse them):
    every write refuses them with one line naming the field, and nothing is written."""
    chat = store.create_chat("kept")
    answer_id = store.append_message(chat, role="assistant", content="before", params={"temperature": 0.5})
    before = {path: path.read_bytes() for path in store.root.rglob("*") if path.is_file() and path.name != ".lock"}
    question = {"role": "user", "content": "q"}
    attempts = [
        ("params.temperature", lambda: store.append_message(chat, role="user", content="x",
                                                            params={"temperature": bad})),
        ("usage.total_tokens", lambda: store.append_messages(
            chat, [question, {"role": "assistant", "content": "", "usage": {"total_tokens": bad}}])),
        ("params.temperature", lambda: store.update_message(chat, answer_id, params={"temperature": bad})),
        ("temperature", lambda: store.update_settings(temperature=bad)),
        ("scores.1", lambda: store.update_chat_meta(chat, scores=[1.0, bad])),
    ]
    for field, attempt in attempts:
        with pytest.raises(HistoryError) as info:
            attempt()
        message = str(info.value)
        assert "\n" not in message and f"{field} is {bad}, a number history cannot store" in message
    after = {path: path.read_bytes() for path in store.root.rglob("*") if path.is_file() and path.name != ".lock"}
    assert after == before
    for path in after:  # and what is there is standard JSON
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line, parse_constant=refuse_constant)


def test_the_writer_itself_refuses_nan(tmp_path):
    path = tmp_path / "f.json"
    with pytest.raises(HistoryError, match=r"t\.1\.v is nan"):
        write_json_atomic(path, {"t": {"1": {"v": float("nan")}}})
    assert not list(tmp_path.iterdir())
