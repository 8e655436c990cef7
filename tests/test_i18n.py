"""The interface in Russian and English: catalog completeness, plural forms, language choice, localized formats.

The catalog tests extract the current source with Babel (through `mmchat_jupyter.i18n_tools`, the same code the
`extract`/`update`/`check` commands run), so a new `_()` string without a Russian translation fails here, with the
command to fix it in the message.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from mmchat_jupyter import i18n, i18n_tools
from mmchat_jupyter.i18n import _, get_language, ngettext, set_language

from .conftest import REPO
from .magic_shell import run

FIX = (
    "run `python -m mmchat_jupyter.i18n_tools update`, translate the new entries in "
    "mmchat_jupyter/locale/ru/LC_MESSAGES/mmchat.po, then `python -m mmchat_jupyter.i18n_tools compile`"
)
RU_PLURAL = "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"


@pytest.fixture(autouse=True)
def _no_chosen_language(monkeypatch):
    """Each test starts from the environment's language, and a set_language() in it is undone afterwards."""
    monkeypatch.setattr(i18n, "_chosen", None)
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def ru(monkeypatch):
    monkeypatch.setenv("MMCHAT_LANG", "ru")


@pytest.fixture(scope="module")
def source():
    return i18n_tools.extract_catalog()


@pytest.fixture(scope="module")
def ru_po():
    return i18n_tools.read_po("ru")


def _msgids(catalog) -> set:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}


def _translations(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


# -- the catalog ----------------------------------------------------------------------------------------------------


def test_every_user_facing_string_has_a_russian_translation(source, ru_po):
    problems = []
    for message in source:
        if not message.id:
            continue
        where = ", ".join(sorted({path for path, _line in message.locations}))
        translated = ru_po.get(message.id)
        if translated is None or isinstance(translated.id, str) != isinstance(message.id, str):
            problems.append(f"missing: {message.id!r} ({where})")
        elif translated.fuzzy:
            problems.append(f"fuzzy (check the guess, then drop the flag): {message.id!r} ({where})")
        elif not all(_translations(translated)):
            problems.append(f"untranslated: {message.id!r} ({where})")
    assert not problems, f"{len(problems)} msgid(s) lack a Russian translation; {FIX}:\n" + "\n".join(problems)


def test_there_is_a_real_catalog_to_check(source):
    # Guards the test above against an extraction that silently finds nothing.
    ids = _msgids(source)
    assert len(ids) > 250
    assert {"Send", "Stop", ("{n} message", "{n} messages"), "Regenerate answer", "Usage: {synopsis}"} <= ids


def test_extraction_misses_nothing_babels_own_python_extractor_finds(source):
    from babel.messages.extract import extract_from_dir

    stock = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(i18n_tools.PACKAGE_DIR), method_map=[("**.py", "python")], keywords=i18n_tools.KEYWORDS
        )
        if _file not in i18n_tools.SKIP
    }
    assert stock - _msgids(source) == set()


def test_extraction_sees_calls_inside_f_strings():
    code = b'x = f"{mark} {_(\'credentials: {source}\')}"\ny = ngettext("{n} cat", "{n} cats", n)\n'
    found = list(i18n_tools.extract_python_ast(io.BytesIO(code), i18n_tools.KEYWORDS, (), {}))
    assert [(line, func, msgs) for line, func, msgs, _c in found] == [
        (1, "_", "credentials: {source}"), (2, "ngettext", ("{n} cat", "{n} cats", None))]


def test_translations_keep_every_placeholder_command_and_code_span(ru_po):
    broken = []
    for message in ru_po:
        if not message.id:
            continue
        original = message.id if isinstance(message.id, str) else message.id[-1]
        for text in _translations(message):
            if not text:
                continue
            if i18n_tools.placeholders(text) != i18n_tools.placeholders(original):
                broken.append(f"{original!r} -> {text!r}: placeholders {i18n_tools.placeholders(original)}")
            if i18n_tools.literals(text) != i18n_tools.literals(original):
                broken.append(f"{original!r} -> {text!r}: commands/code {i18n_tools.literals(original)}")
            # A translation must format like its msgid does (no stray braces).
            fields = {name.split("!")[0].split(":")[0].strip("{}") for name in i18n_tools.placeholders(original)}
            try:
                text.format(**dict.fromkeys(fields, 1)) if "{" in original else None
            except (ValueError, KeyError, IndexError) as exc:
                broken.append(f"{text!r} does not format: {exc}")
    assert not broken, "\n".join(broken)


def test_russian_translations_use_russian_quotes(ru_po):
    english_quotes = [m.id for m in ru_po if m.id and any("“" in t or "”" in t for t in _translations(m))]
    assert english_quotes == []


def test_the_committed_mo_matches_the_po():
    import gettext

    committed = i18n_tools.mo_contents(i18n_tools.mo_path("ru").read_bytes())
    assert committed == i18n_tools.mo_contents(i18n_tools.compile_bytes("ru")), (
        "the .mo is stale: run `python -m mmchat_jupyter.i18n_tools compile`")
    assert gettext.GNUTranslations(io.BytesIO(i18n_tools.compile_bytes("ru"))).info()["plural-forms"] == RU_PLURAL


def test_the_check_command_passes():
    assert i18n_tools.pot_problems() + i18n_tools.problems("ru") == []


def test_catalogs_compare_by_content_not_by_the_babel_release_that_wrote_them(monkeypatch):
    import babel.messages.catalog

    ours = i18n_tools.compile_bytes("ru")
    monkeypatch.setattr(babel.messages.catalog, "VERSION", "99.0.0")
    theirs = i18n_tools.compile_bytes("ru")
    assert b"Generated-By: Babel 99.0.0" in theirs and theirs != ours
    assert i18n_tools.mo_contents(theirs) == i18n_tools.mo_contents(ours)


@pytest.fixture
def locale_copy(tmp_path, monkeypatch):
    """The catalogs copied aside, so a test can make them stale without touching the package's."""
    import shutil

    copy = tmp_path / "locale"
    shutil.copytree(i18n_tools.LOCALE_DIR, copy)
    monkeypatch.setattr(i18n_tools, "LOCALE_DIR", copy)
    monkeypatch.setattr(i18n_tools, "POT_PATH", copy / "mmchat.pot")
    return copy


def test_a_mo_older_than_its_po_fails_the_check(locale_copy):
    po = i18n_tools.po_path("ru")
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Остановить"', 'msgstr "Стоп"', 1), encoding="utf-8")
    stale = f"{i18n_tools.mo_path('ru')} is out of date: run `python -m mmchat_jupyter.i18n_tools compile`"
    assert i18n_tools.problems("ru") == [stale]
    i18n_tools.compile()
    assert i18n_tools.problems("ru") == []


def test_a_pot_older_than_the_source_fails_the_check(locale_copy):
    pot = locale_copy / "mmchat.pot"
    text = pot.read_text(encoding="utf-8")
    stale, removed = re.subn(r'(?:#.*\n)*msgid "Regenerate answer"\nmsgstr ""\n\n', "", text)
    assert removed == 1
    pot.write_text(stale, encoding="utf-8")
    assert i18n_tools.pot_problems() == [f"{pot} is out of date: run `python -m mmchat_jupyter.i18n_tools update`"]
    pot.write_text(text.replace("#: mmchat_jupyter/widget.py", "#: mmchat_jupyter/elsewhere.py", 1), encoding="utf-8")
    assert i18n_tools.pot_problems() != []
    i18n_tools.extract()
    assert i18n_tools.pot_problems() == []


def test_the_package_does_not_import_babel_or_the_tooling():
    code = (
        "import sys, mmchat_jupyter, mmchat_jupyter.magics, mmchat_jupyter.widget, mmchat_jupyter.cli;"
        "from mmchat_jupyter.i18n import set_language, _; set_language('ru'); _('Send');"
        "print(sorted(m for m in sys.modules if m.startswith('babel') or m.endswith('i18n_tools')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_panel_js_asks_only_for_strings_python_sends():
    from mmchat_jupyter import _panel_state

    script = (REPO / "mmchat_jupyter" / "static" / "panel.js").read_text(encoding="utf-8")
    asked = set(re.findall(r"\bt\(\s*\"(\w+)\"\s*\)", script))
    for pair in re.findall(r"\bt\([^()]*\?\s*\"(\w+)\"\s*:\s*\"(\w+)\"\s*\)", script):
        asked.update(pair)
    assert asked, "no t(\"key\") calls found: has the panel's lookup function been renamed?"
    assert asked - set(_panel_state.ui_strings()) == set()


# -- plural forms ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "1 сообщение"), (2, "2 сообщения"), (5, "5 сообщений"), (11, "11 сообщений"), (21, "21 сообщение"),
     (22, "22 сообщения"), (25, "25 сообщений"), (0, "0 сообщений"), (12, "12 сообщений"), (101, "101 сообщение"),
     (111, "111 сообщений"), (1004, "1004 сообщения")],
)
def test_russian_plural_forms(ru, n, expected):
    assert ngettext("{n} message", "{n} messages", n).format(n=n) == expected


@pytest.mark.parametrize(
    ("n", "tokens", "chats"),
    [(1, "1 токен", "1 чат"), (2, "2 токена", "2 чата"), (5, "5 токенов", "5 чатов"), (11, "11 токенов", "11 чатов"),
     (21, "21 токен", "21 чат"), (22, "22 токена", "22 чата"), (25, "25 токенов", "25 чатов")],
)
def test_other_counted_words(ru, n, tokens, chats):
    assert ngettext("{n} token", "{n} tokens", n).format(n=n) == tokens
    assert ngettext("{n} chat", "{n} chats", n).format(n=n) == chats


@pytest.mark.parametrize(("n", "expected"), [(1, "1 message"), (2, "2 messages"), (21, "21 messages")])
def test_english_plural_forms(n, expected):
    assert ngettext("{n} message", "{n} messages", n).format(n=n) == expected


# -- choosing the language ------------------------------------------------------------------------------------------


def test_english_by_default(monkeypatch):
    monkeypatch.delenv("MMCHAT_LANG")
    assert get_language() == "en"
    assert _("Stop") == "Stop"


def test_mmchat_lang(monkeypatch):
    monkeypatch.setenv("MMCHAT_LANG", "ru")
    assert get_language() == "ru"
    assert _("Stop") == "Остановить"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "ru_RU"}, "ru"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # a language we do not ship
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),  # LC_ALL overrides LANG
        ({"LC_ALL": "en_US.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, "en"),  # LC_ALL=C means the C locale, whatever LANG says
        ({"LC_MESSAGES": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LANGUAGE": "de:ru:en", "LANG": "en_US.UTF-8"}, "ru"),  # GNU's preference list
        ({"LANGUAGE": "de", "LANG": "ru_RU.UTF-8"}, "ru"),
    ],
)
def test_locale(monkeypatch, env, expected):
    monkeypatch.delenv("MMCHAT_LANG")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert get_language() == expected


def test_mmchat_lang_beats_the_locale_and_an_unknown_one_falls_back(monkeypatch):
    monkeypatch.setenv("LC_ALL", "ru_RU.UTF-8")
    monkeypatch.setenv("MMCHAT_LANG", "en")
    assert get_language() == "en"
    monkeypatch.setenv("MMCHAT_LANG", "klingon")
    assert get_language() == "ru"
    monkeypatch.delenv("LC_ALL")
    assert get_language() == "en"


def test_set_language_switches_without_a_restart_and_beats_the_environment(monkeypatch):
    from mmchat_jupyter import _panel_state

    assert _panel_state.ui_strings()["send"] == "Send"
    assert set_language("ru") == "ru"
    assert _panel_state.ui_strings()["send"] == "Отправить"
    assert _panel_state.ui_strings()["stop"] == "Остановить"
    assert _panel_state.ui_strings()["placeholder"] == "Сообщение…"
    assert set_language("en-GB") == "en"
    assert _("Regenerate answer") == "Regenerate answer"
    monkeypatch.setenv("MMCHAT_LANG", "ru")
    assert set_language(None) == "ru"  # back to the environment
    assert _("Regenerate answer") == "Повторить ответ"


def test_an_unknown_language_is_refused_in_the_current_language(ru):
    from mmchat_jupyter.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        set_language("klingon")
    assert str(caught.value) == "Неизвестный язык 'klingon': используйте один из en, ru."
    assert get_language() == "ru"


def test_a_localized_error_message(ru):
    from mmchat_jupyter.errors import ConfigError
    from mmchat_jupyter.providers.registry import provider_class

    with pytest.raises(ConfigError) as caught:
        provider_class("nope")
    assert str(caught.value).startswith("Неизвестный провайдер 'nope': выберите один из ")


def test_argparse_speaks_the_language_too(ru, capsys):
    from mmchat_jupyter import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("использование: mmchat")
    assert "параметры:" in out and "показать эту справку и выйти" in out and "КОМАНДА" in out
    for english in ("usage:", "options:", "positional arguments", "show this help", "version number"):
        assert english not in out
    with pytest.raises(SystemExit):
        cli.main(["export", "--format", "pdf", "x"])
    assert "недопустимое значение: 'pdf'" in capsys.readouterr().err


# -- dates, numbers, names ------------------------------------------------------------------------------------------


def test_numbers(ru):
    from mmchat_jupyter._format import format_decimal, format_number, format_seconds

    assert format_number(12345) == "12\u202f345"
    assert format_number(1234567) == "1\u202f234\u202f567"
    assert format_number(999) == "999"
    assert format_seconds(0.43) == "0,4 с"
    assert format_decimal(12345.67) == "12\u202f345,7"
    set_language("en")
    assert format_number(12345) == "12,345"
    assert format_seconds(0.43) == "0.4 s"
    assert format_decimal(12345.67) == "12,345.7"


MONTHS_RU = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
             "ноября", "декабря"]
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@pytest.mark.parametrize("month", range(1, 13))
def test_dates_name_the_month_in_the_language(ru, month):
    from mmchat_jupyter._format import format_date

    assert format_date(f"2026-{month:02d}-03") == f"3 {MONTHS_RU[month - 1]} 2026"
    set_language("en")
    assert format_date(f"2026-{month:02d}-03") == f"3 {MONTHS_EN[month - 1]} 2026"


def test_date_and_time(ru, monkeypatch):
    import time

    from mmchat_jupyter._format import format_date, format_datetime

    assert format_datetime("2026-11-24T07:12:00") == "24 ноября 2026, 07:12"
    assert format_date("not a date") == "not a date"
    assert format_datetime("") == ""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        moment = datetime(2026, 11, 24, 7, 12, tzinfo=timezone.utc)
        assert format_datetime(moment.isoformat()) == "24 ноября 2026, 07:12"
    finally:
        monkeypatch.undo()
        time.tzset()
    set_language("en")
    assert format_datetime("2026-11-24T07:12:00") == "24 Nov 2026, 07:12"


def _store_with_a_chat(n_messages: int):
    from mmchat_jupyter.history import HistoryStore

    store = HistoryStore()
    chat = store.create_chat("анализ")
    for i in range(n_messages):
        role = "user" if i % 2 == 0 else "assistant"
        store.append_message(chat.id, role=role, content=f"сообщение {i}", provider="echo", model="echo-1",
                             created="2026-11-24T07:12:00+00:00",
                             usage={"prompt_tokens": 1000, "completion_tokens": 11345, "total_tokens": 12345}
                             if role == "assistant" else None)
    return store


def test_the_cli_listing_in_russian(ru, capsys):
    from mmchat_jupyter import cli

    _store_with_a_chat(21)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "СООБЩЕНИЯ" in out and "ОБНОВЛЁН" in out
    assert re.search(r"\d{1,2} (ноября|декабря|января) 20\d\d, \d\d:\d\d", out), out
    assert "анализ" in out  # user content is never translated
    assert cli.main(["usage", "--by", "day"]) == 0
    usage = capsys.readouterr().out
    assert "ДЕНЬ" in usage and "ноября 2026" in usage
    assert "10\u202f000" in usage or "123\u202f450" in usage, usage


def test_default_chat_names_follow_the_language(ru):
    from mmchat_jupyter.history import HistoryStore

    store = HistoryStore()
    assert re.fullmatch(r"чат-\d{4}-\d\d-\d\d-1", store.create_chat().name)
    set_language("en")
    assert re.fullmatch(r"chat-\d{4}-\d\d-\d\d-1", store.create_chat().name)


def test_templates_are_localized_but_user_templates_are_not(ru):
    from mmchat_jupyter.templates import BUILTIN, all_templates

    templates = all_templates({"mine": "Explain like I am five: {input}"})
    assert templates["mine"][1] == "Explain like I am five: {input}"
    for name in BUILTIN:
        title, text = templates[name]
        assert re.search("[а-яё]", title + text, re.IGNORECASE), name
        assert "{input}" in text


def test_the_magic_in_russian(ru, shell):
    for _turn in range(3):
        assert run(shell, "%%chat -c опыт\nПривет!").error is None
    listing = run(shell, "%chat list").stdout
    assert "опыт — 6 сообщений · обновлён " in listing, listing
    helped = run(shell, "%chat help").stdout
    assert "список чатов" in helped and "%chat" in helped
    answer = run(shell, "%%chat -c опыт\nЕщё раз")
    footer = answer.final["text/html"]
    assert re.search(r"\d+ токен(а|ов)? · \d+,\d с", footer), footer
    assert "ход 4" in answer.final["text/markdown"]
    failed = run(shell, "%chat use нет-такого")
    assert failed.error is not None and "нет чата" in str(failed.error), failed.error


def test_chat_help_and_option_errors_speak_russian(monkeypatch):
    from IPython.core.error import UsageError

    from mmchat_jupyter._magic_args import cell_parser

    monkeypatch.setenv("MMCHAT_LANG", "ru")
    help_text = cell_parser().format_help()
    assert "usage:" not in help_text and "options:" not in help_text, help_text  # argparse's own headings
    with pytest.raises(UsageError) as info:
        cell_parser().parse_args(["--temperature", "hot"])
    assert "invalid" not in str(info.value), str(info.value)
