"""#15 item 7: every file of the hostile import corpus (tests/data/import-hostile/, expected.json there) is either
rejected with one line naming the file and the field, or imported into a chat that is fully usable: listed, shown,
exported in every format and continued with a new turn. Multi-file imports are all or nothing; history never
holds NaN, Infinity or an imported credential."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mmchat_jupyter.errors import ExportError
from mmchat_jupyter.export import FORMATS, export_chat, import_chats, read_export
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession

CORPUS = Path(__file__).parents[1] / "data" / "import-hostile"
CASES = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
SECRETS = ("sk-imported-secret-0001", "sk-imported-secret-0002", "Q1JFRC1pbXBvcnRlZA==", "sk-leaked-in-error-0003")
REJECTED = [case for case in CASES if case["expect"] == "reject"]
ACCEPTED = [case for case in CASES if case["expect"] == "accept"]


def test_the_corpus_has_sixty_files_or_more() -> None:
    assert len(CASES) >= 60 and len(list(CORPUS.glob("*.json"))) == len(CASES) + 1


@pytest.mark.parametrize("case", REJECTED, ids=[case["file"] for case in REJECTED])
def test_a_hostile_file_is_one_line_naming_the_file_and_the_field(case: dict[str, str]) -> None:
    path = CORPUS / case["file"]
    with pytest.raises(ExportError) as info:
        read_export(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and case["field"] in message, message
    assert "Traceback" not in message


def test_a_bad_file_anywhere_in_the_list_imports_nothing() -> None:
    good = CORPUS / "cyrillic-name.json"
    store = HistoryStore()
    for case in REJECTED:
        for files in ([good, CORPUS / case["file"]], [CORPUS / case["file"], good]):
            with pytest.raises(ExportError):
                import_chats(files, store=store)
    assert store.list_chats() == []


def test_a_failure_while_storing_takes_back_what_was_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    store = HistoryStore()
    real = store.import_chat
    calls = []

    def second_fails(record, *, name=None):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(record, name=name)

    monkeypatch.setattr(store, "import_chat", second_fails)
    with pytest.raises(OSError, match="disk full"):
        import_chats([CORPUS / "cyrillic-name.json", CORPUS / "no-messages.json"], store=store)
    assert store.list_chats() == []


@pytest.mark.parametrize("case", ACCEPTED, ids=[case["file"] for case in ACCEPTED])
def test_an_accepted_file_is_a_fully_usable_chat(case: dict[str, str]) -> None:
    store = HistoryStore()
    (chat,) = import_chats([CORPUS / case["file"]], store=store)
    assert [row.id for row in store.list_chats()] == [chat.id]
    for fmt in FORMATS:  # `mmchat show` is the txt export
        assert export_chat(chat.id, fmt, store=store)
    session = ChatSession(chat=chat.id, store=store)
    turn = session.send("And now?", provider="echo")
    assert turn.status == "complete" and turn.text
    again = store.get_chat(chat.id)
    assert [m.content for m in again.messages[-2:]] == ["And now?", turn.text]
    assert len(again.messages) == len(chat.messages) + 2
    assert export_chat(again, "json")  # still exportable after the new turn
    _history_is_clean(Path(os.environ["MMCHAT_HOME"]))


def _history_is_clean(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(secret in text for secret in SECRETS), path
            for token in ("NaN", "Infinity"):
                assert f": {token}" not in text and f":{token}" not in text, path


def test_imported_times_are_utc_and_in_order() -> None:
    chat = read_export(CORPUS / "created-offset.json")
    assert chat.messages[1].created == "2024-05-01T09:31:00+00:00"
    assert read_export(CORPUS / "created-naive.json").messages[0].created == "2024-05-01T10:00:00+00:00"


def test_mmchat_import_checks_every_file_first(tmp_path: Path) -> None:
    """`mmchat import good.json bad.json`: one line about the bad file, and the good one is not imported."""
    import subprocess
    import sys

    bad = CORPUS / "content-surrogate.json"
    done = subprocess.run(
        [sys.executable, "-m", "mmchat_jupyter.cli", "import", str(CORPUS / "cyrillic-name.json"), str(bad)],
        check=False, capture_output=True, text=True, env={**os.environ, "MMCHAT_HOME": str(tmp_path)},
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "chat.messages[1].content" in lines[0]
    assert HistoryStore(tmp_path).list_chats() == []
