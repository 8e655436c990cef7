"""The rough edges a new user met (issue 14) and the engine's items of issue 15 (6, 9, 11), each as it was found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from mmchat_jupyter.config import MMChat
from mmchat_jupyter.errors import ConfigError, ExportError, ProviderConnectionError
from mmchat_jupyter.session import ChatSession

from .fakes.gigachat import FakeGigaChat
from .fakes.openai_compat import FakeOpenAI
from .magic_shell import assert_one_usage_line, run


@pytest.fixture
def loaded(shell):
    """The shell after a real `%load_ext` (its input transformer and interrupt guard), undone afterwards."""
    shell.run_line_magic("load_ext", "mmchat_jupyter")
    loaded = shell.magics_manager.registry["ChatMagics"]
    yield shell
    shell.run_line_magic("unload_ext", "mmchat_jupyter")
    shell.configurables.remove(loaded)


# -- issue 15, item 6: lone surrogates ----------------------------------------------------------------------------


def test_a_lone_surrogate_in_the_prompt_is_one_line(shell, magics):
    """Regression: a UnicodeEncodeError traceback from deep in the history writer."""
    shell.user_ns["raw"] = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")
    assert_one_usage_line(run(shell, "%%chat\nTranslate {raw}"), "lone surrogate, U+DCE9, at position 14")
    assert magics.session.chats.list() == []


def test_surrogates_in_a_chat_name_or_system_prompt_leave_no_chat_behind(shell, magics):
    """Regression: `-c sur -s \\udcff` left an empty chat `sur` (called from code: a notebook cell's text cannot
    hold a surrogate, but a line built in Python can)."""
    with pytest.raises(UsageError, match="the system prompt contains a character that is not valid text"):
        shell.run_cell_magic("chat", "-c sur -s '\udcff'", "hello")
    with pytest.raises(UsageError, match="the chat name contains"):
        shell.run_cell_magic("chat", "-c 'bad\udcffname'", "hello")
    assert magics.session.chats.list() == []


def test_a_multi_file_import_checks_every_file_before_storing_any(tmp_path: Path):
    """Regression: `mmchat import good.json bad.json` imported good, then crashed on bad."""
    session = ChatSession(admin=MMChat())
    session.send("hello", chat="good")
    good = session.chats.export("good", "json", tmp_path / "good.json")
    session.chats.delete("good")
    bad = tmp_path / "bad.json"
    document = json.loads(Path(good).read_text())
    document["chat"]["messages"][0]["content"] = "caf\udce9"
    bad.write_text(json.dumps(document), encoding="utf-8")  # json escapes the surrogate as \\udce9
    with pytest.raises(ExportError, match=r"bad\.json"):
        session.chats.import_files([good, bad])
    assert session.chats.list() == []
    assert [item.chat.name for item in session.chats.import_files([good])] == ["good"]


# -- issue 15, item 9: the GigaChat host that failed ---------------------------------------------------------------


def test_gigachat_names_the_oauth_host_when_that_is_the_one_down():
    """Regression: an unreachable OAuth host (port 9443 blocked) was reported as the API host, which was up."""
    with FakeGigaChat() as giga:
        session = ChatSession(admin=MMChat(), provider_settings={
            "gigachat": giga.settings(auth_url="http://127.0.0.1:9/api/v2/oauth", max_retries=0)})
        turn = session.send("hello", provider="gigachat")
    assert isinstance(turn.exception, ProviderConnectionError)
    assert turn.error == ("Cannot reach GigaChat's token service at http://127.0.0.1:9/api/v2/oauth: check that the "
                          "network allows this host and port, and GIGACHAT_AUTH_URL.")


# -- issue 15, item 11 and issue 14: Chat in a notebook -----------------------------------------------------------


def test_a_chat_error_in_a_notebook_is_one_line_and_still_raised(shell, monkeypatch):
    """Regression: `Chat("x").ask()` showed a traceback wall where %%chat shows one line."""
    with FakeOpenAI(api_key="sk-right") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        ran = run(shell, "from mmchat_jupyter import Chat\nChat('x', provider='openai').ask('hi')")
    shown = (ran.stdout + ran.stderr).strip()
    assert type(ran.error).__name__ == "AuthError"  # raised, for code that catches it
    assert shown.startswith("AuthError: OpenAI API rejected the credentials (401") and "\n" not in shown
    assert "Traceback" not in shown and "sk-wrong" not in shown


def test_ask_on_the_last_line_shows_the_answer_once(shell):
    """Regression: the streamed answer, then the same text again as the cell's Out[]."""
    ran = run(shell, "from mmchat_jupyter import Chat\nreply = Chat('once').ask('hello there')\nreply")
    assert "hello there" not in ran.stdout  # no Out[] repeating it
    assert [o for o in ran.outputs if "hello there" in o.data.get("text/plain", "")]  # shown while it streamed
    later = run(shell, "reply")
    assert "hello there" in later.stdout + "".join(o.data.get("text/plain", "") for o in later.outputs)
    assert run(shell, "isinstance(reply, str) and 'HELLO THERE' in reply.upper()").result.result is True


def test_ask_takes_every_cell_option(shell, magics):
    """Regression: ask(model=...) was refused while unknown options to send() were silently ignored."""
    from mmchat_jupyter.api import Chat

    chat = Chat(session=magics.session)
    assert "model `echo-7`" in chat.ask("hi", model="echo-7", top_p=0.5, max_tokens=50)
    with pytest.raises(TypeError, match="Unknown option 'colour'"):
        chat.ask("hi", colour="red")


# -- issue 14: configuration and providers ------------------------------------------------------------------------


def test_gigachat_without_credentials_saves_nothing():
    """Regression: YandexGPT was refused before anything was saved; GigaChat saved a failed turn."""
    session = ChatSession(admin=MMChat())
    with pytest.raises(ConfigError, match="GigaChat has no credentials: set GIGACHAT_CREDENTIALS"):
        session.send("hello", provider="gigachat")
    assert session.chats.list() == []


def test_a_typo_in_provider_settings_is_one_line():
    """Regression: `api_kye` in c.MMChat.provider_settings was a raw TypeError traceback."""
    session = ChatSession(admin=MMChat(provider_settings={"openai": {"api_kye": "sk-x", "base_url": "http://x"}}))
    with pytest.raises(ConfigError) as info:
        session.send("hello", provider="openai")
    message = str(info.value)
    assert message.startswith("c.MMChat.provider_settings['openai'] has 'api_kye', which OpenAI API does not take:")
    assert "api_key" in message and "\n" not in message and session.chats.list() == []


def test_a_saved_provider_that_is_gone_is_reported_with_the_fix(shell, magics):
    """Regression: `%chat set provider=nosuch` was saved, then every %%chat failed without saying the fix."""
    assert_one_usage_line(run(shell, "%chat set provider=nosuch"), "Unknown provider 'nosuch': choose one of echo")
    magics.session.store.update_settings(provider="nosuch")  # as if a plugin was uninstalled since
    ran = run(shell, "%%chat\nhello")
    assert ran.error is None and ran.stderr.count("\n") == 1 and "Fix: %chat set provider=echo" in ran.stderr
    assert "turn 1" in ran.final["text/plain"] or ran.final["text/plain"]
    assert run(shell, "%%chat\nagain").stderr == ""  # said once


def test_chat_help_alone(loaded):
    """Regression: `%%chat --help` with nothing below it was IPython's "the cell body is empty"."""
    ran = run(loaded, "%%chat --help")
    assert ran.error is None and "--no-history" in ran.stdout
    assert_one_usage_line(run(loaded, "%%chat -p echo"), "write the question in the cell")


def test_show_has_the_chats_own_title_and_local_dates(shell, monkeypatch):
    """Regression: `%chat show` was titled "Exported from mmchat-jupyter" with ISO UTC times."""
    run(shell, "%%chat -c shown\nhello")
    shown = run(shell, "%chat show shown").final["text/markdown"]
    assert shown.startswith("# shown\n\n*2 messages · created ") and "Exported" not in shown
    assert " UTC" not in shown


def test_doctor_says_a_saved_provider_is_gone_and_how_to_fix_it():
    """Regression: with `provider=nosuch` saved, `mmchat doctor` reported all ✓."""
    import subprocess
    import sys

    ChatSession(admin=MMChat()).store.update_settings(provider="nosuch")
    done = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "doctor"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 1
    assert "✗  Your saved settings: provider='nosuch' cannot be used" in done.stdout
    assert "Fix: %chat set provider=echo" in done.stdout
