"""Every `%chat` subcommand in a real in-process IPython shell."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from mmchat_jupyter._commands import SUBCOMMANDS

from .magic_shell import assert_one_usage_line, run, state


def lines(ran) -> list[str]:
    assert ran.error is None, ran.stderr
    return ran.stdout.splitlines()


def test_list_marks_the_current_chat_with_counts_and_routes(shell):
    assert lines(run(shell, "%chat list")) == ["No chats yet: ask something with %%chat."]
    run(shell, "%%chat -c alpha\nhi")
    run(shell, "%%chat -c beta\nhi")
    run(shell, "%%chat\nagain")
    listed = lines(run(shell, "%chat list"))
    assert listed[0].startswith("* beta — 4 messages · updated ") and listed[0].endswith(" · echo / echo-1")
    assert listed[1].startswith("  alpha — 2 messages")


def test_new_use_rename_delete_clear(shell, magics):
    assert lines(run(shell, "%chat new first")) == ["Started chat first."]
    assert magics.session.chat.name == "first"
    assert lines(run(shell, "%chat new"))[0].startswith("Started chat chat-")
    assert lines(run(shell, "%chat use first")) == ["Now in chat first (0 messages)."]
    run(shell, "%%chat\nq")
    assert lines(run(shell, "%chat rename renamed")) == ["Renamed the chat to renamed."]
    assert lines(run(shell, "%chat rename renamed 'second name'")) == ["Renamed the chat to second name."]
    assert lines(run(shell, "%chat use 'second name'")) == ["Now in chat second name (2 messages)."]
    assert lines(run(shell, "%chat clear")) == ["Cleared chat second name: 2 messages removed."]
    run(shell, "%%chat\nq")
    assert lines(run(shell, "%chat delete 'second name'")) == ["Deleted chat second name (2 messages)."]
    # The current chat is gone: the next question starts a new one instead of failing.
    assert "turn 1" in run(shell, "%%chat\nafter").final["text/plain"]
    assert magics.session.store.list_chats()[0].name.startswith("chat-")


def test_show_renders_the_transcript(shell):
    run(shell, "%%chat -c shown\nWhat is `x`?")
    ran = run(shell, "%chat show shown")
    assert ran.error is None
    data = ran.final
    assert set(data) == {"text/html", "text/markdown", "text/plain"}
    assert "# shown" in data["text/markdown"] and "What is `x`?" in data["text/markdown"]
    assert "<code>x</code>" in data["text/html"]
    assert run(shell, "%chat show").final["text/markdown"] == data["text/markdown"]


def test_providers_say_where_credentials_come_from_never_values(shell, monkeypatch):
    monkeypatch.setenv("GIGACHAT_CREDENTIALS", "c2VjcmV0LXZhbHVl")
    out = run(shell, "%chat providers").stdout
    assert "  echo (Echo) — credentials: none needed" in out
    # Configured, so it is the default (*).
    assert "* gigachat (GigaChat) — credentials: environment (GIGACHAT_CREDENTIALS)" in out
    assert "yandexgpt (YandexGPT) — credentials: not configured" in out
    assert "c2VjcmV0LXZhbHVl" not in out


def test_models(shell):
    assert lines(run(shell, "%chat models")) == ["* echo-1"]
    listed = lines(run(shell, "%chat models yandexgpt"))
    assert "* yandexgpt-lite" in listed and "  yandexgpt" in listed


def test_set_persists_defaults_and_shows_them(shell, magics):
    assert lines(run(shell, "%chat set temperature=0.3 'system=Be brief.'")) == [
        "Saved: temperature = 0.3", "Saved: system = Be brief."]
    assert magics.session.store.get_settings()["temperature"] == 0.3
    shown = lines(run(shell, "%chat set"))
    assert "temperature = 0.3  (your saved settings)" in shown and "system = Be brief.  (your saved settings)" in shown
    assert "max_tokens = —  (default)" in shown and "provider = echo  (default)" in shown
    assert "System prompt: “Be brief.”" in run(shell, "%%chat\nhi").final["text/plain"]


def test_templates_list_add_remove(shell, magics):
    listed = run(shell, "%chat templates").stdout
    assert "summarize — Summarize (built-in): " in listed
    assert lines(run(shell, "%chat templates add shout Say it loudly: {input}")) == ["Saved template shout."]
    assert magics.session.store.get_settings()["templates"] == {"shout": "Say it loudly: {input}"}
    assert "shout — shout (yours): Say it loudly: {input}" in run(shell, "%chat templates").stdout
    assert lines(run(shell, "%chat templates remove shout")) == ["Removed template shout."]
    assert "built-in template" in run(shell, "%chat templates remove summarize").stderr
    assert "No template of yours" in run(shell, "%chat templates remove shout").stderr


def test_usage_sums_tokens_per_day_provider_and_model(shell):
    assert lines(run(shell, "%chat usage")) == ["No token usage recorded yet."]
    run(shell, "%%chat\none two")
    run(shell, "%%chat -m echo-2\nthree")
    out = lines(run(shell, "%chat usage"))
    assert len(out) == 3 and " echo / echo-1 — " in out[0] and " echo / echo-2 — " in out[1]
    assert "1 answer" in out[0] and " prompt + " in out[0] and out[2].startswith("Total: ")


def test_export_writes_a_file(shell, tmp_path):
    run(shell, "%%chat -c 'to export'\nhello")
    out = lines(run(shell, f"%chat export 'to export' json {tmp_path}"))
    written = tmp_path / "to export.json"
    assert out == [f"Exported chat to export to {written}."]
    assert "hello" in json.dumps(json.loads(written.read_text()), ensure_ascii=False)


def test_panel_displays_the_widget_or_says_it_is_unavailable(shell, monkeypatch):
    ran = run(shell, "%chat panel")
    assert ran.error is None and "application/vnd.jupyter.widget-view+json" in ran.final
    monkeypatch.setitem(__import__("sys").modules, "mmchat_jupyter.widget", None)  # as if not installed
    ran = run(shell, "%chat panel")
    assert isinstance(ran.error, UsageError) and "panel is not available" in ran.stderr


def test_help_lists_every_subcommand(shell):
    out = run(shell, "%chat help").stdout
    assert run(shell, "%chat").stdout == out
    for name in SUBCOMMANDS:
        assert f"%chat {name}" in out
    assert "--no-history" in out


@pytest.mark.parametrize(
    "line, says",
    [
        ("bogus", "Unknown subcommand 'bogus'"),
        ("use nowhere", "No chat 'nowhere'"),
        ("use", "Usage: %chat use NAME"),
        ("delete a b", "Usage: %chat delete NAME"),
        ("rename", "Usage: %chat rename [OLD] NEW"),
        ("set temperature", "Write settings as KEY=VALUE"),
        ("set temperature=warm", "temperature must be a number from 0 to 2"),
        ("set colour=red", "Unknown setting 'colour'"),
        ("set lang=xx", "lang must be one of en, ru, not 'xx'"),
        ("models nope", "Unknown provider 'nope'"),
        ("new 'taken'", "already exists"),
        ("templates add onlyname", "Usage: %chat templates"),
        ("export taken pdf", "Unknown export format 'pdf'"),
        ("show 'unclosed", "close the quote"),
    ],
)
def test_mistakes_are_one_usage_line_and_change_nothing(shell, magics, line, says):
    run(shell, "%chat new taken")
    before = state(magics.session)
    ran = run(shell, f"%chat {line}")
    assert_one_usage_line(ran, says)
    assert state(magics.session) == before
