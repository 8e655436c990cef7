"""The installed `mmchat` console script, run in a subprocess against the test's own MMCHAT_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmchat_jupyter.export import export_chat
from mmchat_jupyter.history import HistoryStore
from tests.export.chats import golden_chat, shapes
from tests.export.test_json import comparable
from tests.fakes.yandex import FakeYandex

# The script installed beside this interpreter: a `mmchat` elsewhere on PATH may belong to another environment.
MMCHAT = str(Path(sys.executable).with_name("mmchat"))
pytestmark = pytest.mark.skipif(
    not os.path.exists(MMCHAT) and not os.environ.get("CI"),
    reason="the console script is not installed: pip install -e .",
)


def mmchat(*args: str, home: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    if home is not None:
        environ["MMCHAT_HOME"] = str(home)
    return subprocess.run(
        [MMCHAT, *args], capture_output=True, text=True, encoding="utf-8", env=environ, timeout=60, check=False
    )


def ok(*args: str, **kwargs) -> str:
    result = mmchat(*args, **kwargs)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str, status: int = 1, **kwargs) -> str:
    """The one-line error of a failing command."""
    result = mmchat(*args, **kwargs)
    assert result.returncode == status, (result.stdout, result.stderr)
    if status == 1:
        assert result.stderr.startswith("mmchat: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def store() -> HistoryStore:
    """The history the script sees, filled with every chat shape."""
    history = HistoryStore()
    for record in shapes().values():
        history.import_chat(record)
    return history


def test_an_empty_history():
    assert "No chats yet" in ok("list")
    assert json.loads(ok("list", "--json")) == []
    assert "No token usage" in ok("usage")


def test_list(store):
    out = ok("list")
    assert out.splitlines()[0].split() == ["NAME", "MESSAGES", "UPDATED", "LAST", "MODEL"]
    assert "экспорт тест" in out and "gigachat · GigaChat" in out
    rows = {row["name"]: row for row in json.loads(ok("list", "--json"))}
    assert rows.keys() == {record.name for record in shapes().values()}
    assert rows["long"]["message_count"] == 300


def test_show(store):
    assert ok("show", "экспорт тест") == export_chat(shapes()["cyrillic"], "txt")
    document = json.loads(ok("show", "code fences", "--json"))
    assert document["chat"]["messages"][1]["content"] == shapes()["code"].messages[1].content
    assert "No chat 'nope'" in fails("show", "nope")


def test_export_to_stdout_file_and_directory(store, tmp_path):
    assert ok("export", "tables", "--format", "markdown") == export_chat(shapes()["tables"], "md")
    written = Path(ok("export", "экспорт тест", "-f", "html", "-o", str(tmp_path)).strip())
    assert written == tmp_path / "экспорт тест.html"
    assert written.read_text(encoding="utf-8") == export_chat(store.get_chat("экспорт тест"), "html")
    assert "Unknown export format" not in fails("export", "tables", "-f", "pdf", status=2)
    assert "Name the chat" in fails("export", "-f", "md")
    assert "-o DIR" in fails("export", "--all", "-f", "json")
    assert "not both" in fails("export", "tables", "--all", "-f", "json", "-o", str(tmp_path))


def test_export_all_then_import_into_another_history(store, tmp_path):
    out = ok("export", "--all", "--format", "json", "-o", str(tmp_path / "backup"))
    files = sorted((tmp_path / "backup").glob("*.json"))
    assert len(files) == len(shapes()) == len(out.splitlines())
    other = tmp_path / "other-home"
    out = ok("import", *map(str, files), home=other)
    assert len(out.splitlines()) == len(files)
    imported = HistoryStore(other)
    for record in shapes().values():
        assert comparable(imported.get_chat(record.name)) == comparable(store.get_chat(record.name))


def test_import_renames_on_a_clash_and_refuses_bad_files(store, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(export_chat(golden_chat(), "json"), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "mmchat-chat", "version": 99}', encoding="utf-8")
    before = len(store.list_chats())
    assert "upgrade" in fails("import", str(good), str(bad))
    assert len(store.list_chats()) == before  # the good file was not imported either
    assert "imported as “Отчёт: план/итоги”" in ok("import", str(good))
    assert "imported as “Отчёт: план/итоги-2” (“Отчёт: план/итоги” was taken)" in ok("import", str(good))


def test_rename_and_delete(store):
    assert "Renamed “tables” to “таблицы”" in ok("rename", "tables", "таблицы")
    assert "already exists" in fails("rename", "таблицы", "long")
    assert "Deleted “таблицы” (2 messages)" in ok("delete", "таблицы")
    assert "No chat" in fails("delete", "таблицы")
    assert "таблицы" not in ok("list")


def test_usage(store):
    by_provider = {row["provider"]: row for row in json.loads(ok("usage", "--json"))}
    assert by_provider["yandexgpt"]["messages"] == 152
    assert by_provider["gigachat"]["total_tokens"] == 65
    by_model = json.loads(ok("usage", "--by", "model", "--json"))
    assert {"provider": "openai", "model": "qwen2.5:7b", "messages": 1, "prompt_tokens": 11,
            "completion_tokens": 4, "total_tokens": 15} in by_model
    assert [row["day"] for row in json.loads(ok("usage", "--by", "day", "--json"))] == ["2024-05-01"]
    table = ok("usage", "--by", "model")
    assert "yandexgpt · yandexgpt-lite" in table and "1,851" in table
    fails("usage", "--by", "week", status=2)


def test_doctor_reports_without_secrets(store):
    secret = "AQVN-doctor-secret-0001"
    with FakeYandex() as server:
        env = {"YANDEX_API_KEY": secret, "YANDEX_FOLDER_ID": "b1g", "YANDEX_BASE_URL": server.url,
               "GIGACHAT_CREDENTIALS": secret, "GIGACHAT_BASE_URL": "http://127.0.0.1:9/api/v1"}
        result = mmchat("doctor", "--json", **env)
        text = mmchat("doctor", **env)
    assert secret not in result.stdout + result.stderr + text.stdout + text.stderr
    assert result.returncode == text.returncode == 1  # GigaChat cannot be reached
    report = json.loads(result.stdout)
    providers = {row["name"]: row for row in report["providers"]}
    assert providers["yandexgpt"]["configured"] and providers["yandexgpt"]["reachable"]
    assert providers["yandexgpt"]["credentials"] == "environment (YANDEX_API_KEY)"
    assert providers["gigachat"]["reachable"] is False
    assert providers["echo"]["reachable"] is True
    assert providers["openai"]["configured"] is False and providers["openai"]["reachable"] is None
    assert report["history"]["chats"] == len(shapes()) and report["history"]["ok"]
    assert report["history"]["mode"] == "700"
    assert set(report["versions"]) >= {"mmchat-jupyter", "python", "httpx", "jupyterlab"}
    assert "✗  gigachat" in text.stdout and "✓  yandexgpt" in text.stdout


def test_doctor_finds_a_damaged_chat(store):
    ok("doctor")
    victim = store.get_chat("tables")
    (store.root / "chats" / f"{victim.id}.json").write_text("{not json", encoding="utf-8")
    report = json.loads(mmchat("doctor", "--json").stdout)
    assert not report["ok"] and len(report["history"]["damaged"]) == 1
    listing = mmchat("list")
    assert listing.returncode == 0 and "tables" not in listing.stdout
    assert listing.stderr.startswith("mmchat: ") and listing.stderr.count("\n") == 1


def test_usage_errors_exit_2():
    assert "invalid choice" in fails("bogus", status=2)
    assert "required" in fails("export", "x", status=2)
    assert "mmchat-jupyter" in ok("--version")
    assert "doctor" in ok("--help")


def test_list_imports_no_notebook_machinery():
    code = (
        "import sys; from mmchat_jupyter.cli import main; main(['list']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'IPython', 'ipywidgets', 'anywidget', 'nbformat', "
        "'markdown', 'traitlets'}), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stderr.strip() == "[]"


def test_help_speaks_the_language_saved_in_jupyter(tmp_path):
    HistoryStore(tmp_path).update_settings(lang="ru")
    text = ok("--help", home=tmp_path)
    assert "экспорт" in text.lower() or "чат" in text.lower(), text
