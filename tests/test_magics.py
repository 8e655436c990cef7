"""`%%chat` in a real in-process IPython shell against the offline echo provider."""

from __future__ import annotations

import _thread
import subprocess
import sys
import threading
import time

import pytest
from IPython.core.error import UsageError

from mmchat_jupyter.magics import code_of

from .magic_shell import assert_one_usage_line, run, state


def test_load_ext_registers_both_magics(shell):
    shell.run_line_magic("load_ext", "mmchat_jupyter")
    loaded = shell.magics_manager.registry["ChatMagics"]
    try:
        assert shell.find_cell_magic("chat").__self__ is loaded
        assert shell.find_line_magic("chat").__self__ is loaded
        assert loaded in shell.configurables
    finally:
        shell.configurables.remove(loaded)
        shell.extension_manager.loaded.discard("mmchat_jupyter")


def test_load_ext_is_cheap():
    # A fresh interpreter, as a kernel starting up: loading the extension must not pull in the engine's weight.
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'mmchat_jupyter')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = set(result.stdout.split())
    assert "mmchat_jupyter.magics" in loaded
    heavy = {"mmchat_jupyter.session", "mmchat_jupyter.render", "mmchat_jupyter.widget", "mmchat_jupyter.export",
             "mmchat_jupyter.history", "mmchat_jupyter.display", "anywidget", "markdown", "nh3", "tinydb", "httpx"}
    assert not heavy & loaded


def test_answer_streams_then_final_bundle_with_footer(shell, monkeypatch):
    monkeypatch.setenv("MMCHAT_ECHO_DELAY", "0.02")
    started = time.monotonic()
    ran = run(shell, "%%chat\nWhat is **Markdown**?")
    elapsed = time.monotonic() - started
    assert ran.error is None, ran.stderr
    # The streaming outputs are consolidated into one at the end (tests/test_render_display.py checks the stream).
    assert len(ran.outputs) == 1 and elapsed > 0.2
    final = ran.final
    assert set(final) == {"text/html", "text/markdown", "text/plain"}
    assert final["text/markdown"] == final["text/plain"]
    assert final["text/plain"].startswith("**Echo** · turn 1")
    assert "<strong>Echo</strong>" in final["text/html"] and "<style>" in final["text/html"]
    assert 'class="mmchat-footer">echo · echo-1 · ' in final["text/html"]
    assert " tokens · " in final["text/html"] and " s</div>" in final["text/html"]
    assert ran.result.result is None  # no Out[] echo of the answer


def test_follow_up_keeps_context_across_provider_and_model(shell):
    run(shell, "%%chat\nfirst question")
    ran = run(shell, "%%chat -p echo -m echo-2\nsecond question")
    assert "turn 2" in ran.final["text/plain"] and "model `echo-2`" in ran.final["text/plain"]
    assert "Earlier in this chat you asked: “first question”" in ran.final["text/plain"]
    ran = run(shell, "%%chat\nthird")
    assert "turn 3" in ran.final["text/plain"]


def test_named_chats_new_and_no_history(shell, magics):
    run(shell, "%%chat -c 'my chat'\none")
    run(shell, "%%chat -c 'my chat'\ntwo")
    assert "turn 3" in run(shell, "%%chat -c 'my chat'\nthree").final["text/plain"]
    assert "turn 1" in run(shell, "%%chat --new\nfresh").final["text/plain"]
    assert "turn 1" in run(shell, "%%chat --new named\nfresh").final["text/plain"]
    assert magics.session.chat.name == "named"
    before = state(magics.session)
    assert "turn 1" in run(shell, "%%chat --no-history\nonce").final["text/plain"]
    assert state(magics.session) == before
    assert len(magics.session.store.get_chat("my chat").messages) == 6


def test_interpolation_of_variables_and_cells(shell):
    shell.user_ns["topic"] = "graphs"
    ran = run(shell, "%%chat\nTell me about {topic}, {{literal}} and {undefined}")
    assert "\nTell me about graphs, {literal} and {undefined}\n" in ran.final["text/plain"]
    count = shell.execution_count
    run(shell, "21 * 2")
    ran = run(shell, f"%%chat\nIn: {{In[{count}]}} Out: {{Out[{count}]}}")
    assert "\nIn: 21 * 2 Out: 42\n" in ran.final["text/plain"]


def test_template_and_system_prompt(shell, magics):
    ran = run(shell, "%%chat --template summarize\nsome long text")
    assert "Summarize the following text" in ran.final["text/plain"] and "some long text" in ran.final["text/plain"]
    run(shell, "%chat templates add haiku 'Write a haiku about {input}'")
    assert "\nWrite a haiku about the sea" in run(shell, "%%chat --template haiku\nthe sea").final["text/plain"]


def test_system_prompt_is_kept_for_the_chat(shell):
    ran = run(shell, "%%chat -s 'You are terse.'\nhello")
    assert "System prompt: “You are terse.”" in ran.final["text/plain"]
    assert "You are terse." in run(shell, "%%chat\nagain").final["text/plain"]


def test_cache_reuses_an_identical_request(shell, magics):
    # The same question in two fresh chats is the same request (same context); without --cache it is asked again.
    first = run(shell, "%%chat --new --cache\nsame")
    second = run(shell, "%%chat --new --cache\nsame")
    assert second.final["text/plain"] == first.final["text/plain"]
    assert "cached" in second.final["text/html"] and "cached" not in first.final["text/html"]
    assert magics.session.chat.messages[-1].content == first.final["text/plain"]
    assert "cached" not in run(shell, "%%chat --new\nsame").final["text/html"]


def test_format_text_and_code(shell):
    ran = run(shell, "%%chat -f text\n<b>bold</b>")
    assert "text/markdown" not in ran.final
    assert '<pre class="mmchat-text">' in ran.final["text/html"] and "&lt;b&gt;" in ran.final["text/html"]
    shell.rl_next_input = None
    run(shell, "%%chat -f code\nprint(1)")
    assert shell.rl_next_input and "print(1)" in shell.rl_next_input


def test_code_of_takes_fenced_blocks():
    answer = "Here:\n```python\nx = 1\n```\nand\n~~~\ny = 2\n~~~\n"
    assert code_of(answer) == "x = 1\n\ny = 2"
    assert code_of("  just text ") == "just text"


def test_config_traits_are_the_defaults(shell, magics):
    shell.run_line_magic("config", "ChatMagics.model = 'echo-9'")
    shell.run_line_magic("config", "ChatMagics.format = 'text'")
    try:
        ran = run(shell, "%%chat\nhi")
        assert "model `echo-9`" in ran.final["text/plain"] and "text/markdown" not in ran.final
        assert "model `echo-1`" in run(shell, "%%chat -m echo-1 -f markdown\nhi").final["text/plain"]
    finally:  # %config also wrote the shell's config, which later magics instances would read
        shell.config.pop("ChatMagics", None)
        magics.model, magics.format = "", "markdown"


@pytest.mark.parametrize(
    "line, says",
    [
        ("-x", "unrecognized arguments: -x"),
        ("-t hot", "invalid float value: 'hot'"),
        ("-t 5", "temperature must be a number from 0 to 2"),
        ("-n 0", "max_tokens must be"),
        ("-p nope", "Unknown provider 'nope'"),
        ("-f pdf", "invalid choice: 'pdf'"),
        ("-c a --new b", "not allowed with argument"),
        ("-s 'unclosed", "close the quote"),
        ("--template nope", "Unknown template 'nope'"),
        ("extra words", "unrecognized arguments"),
    ],
)
def test_mistakes_are_one_usage_line_and_write_nothing(shell, magics, line, says):
    run(shell, "%%chat\nearlier")
    before = state(magics.session)
    ran = run(shell, f"%%chat {line}\nhello")
    assert_one_usage_line(ran, says)
    assert state(magics.session) == before


def test_empty_cell_and_bad_interpolation(shell):
    assert "write the question" in run(shell, "%%chat\n   \n").stderr
    shell.user_ns["items"] = [1]
    ran = run(shell, "%%chat\n{items[5]}")
    assert isinstance(ran.error, UsageError) and "IndexError" in ran.stderr


def test_help_option_prints_usage(shell):
    ran = run(shell, "%%chat --help\nignored")
    assert ran.error is None and "--no-history" in ran.stdout and ran.outputs == []


def test_interrupt_keeps_partial_answer_and_chat_usable(shell, magics, monkeypatch):
    monkeypatch.setenv("MMCHAT_ECHO_DELAY", "0.05")
    timer = threading.Timer(0.4, _thread.interrupt_main)
    timer.start()
    ran = run(shell, "%%chat\nplease take your time")
    timer.join()
    assert ran.error is None
    assert "interrupted" in ran.final["text/html"]
    answer = magics.session.chat.messages[-1]
    assert answer.status == "interrupted" and answer.content and answer.content == ran.final["text/plain"]
    assert "turn 2" in run(shell, "%%chat\nnext").final["text/plain"]
