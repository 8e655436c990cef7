"""ChatPanel's Python side without a browser: the messages the front end sends in, what goes back out."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

from mmchat_jupyter import i18n
from mmchat_jupyter import session as session_module
from mmchat_jupyter._panel_state import ui_strings
from mmchat_jupyter._panel_stream import AnswerStream, block_crc
from mmchat_jupyter.config import MMChat
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.types import Chunk, Completion
from mmchat_jupyter.widget import ChatPanel
from tests.fakes.openai_compat import RecordedLiteLLM

PANEL_JS = Path(__file__).resolve().parents[1] / "mmchat_jupyter" / "static" / "panel.js"


class Recorder:
    """A panel whose outgoing custom messages are collected instead of sent."""

    def __init__(self, panel: ChatPanel) -> None:
        self.panel, self.sent = panel, []
        panel.send = self.sent.append  # type: ignore[method-assign]
        panel.handle({"type": "hello"})  # what a front end says first

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == kind]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The message window as the front end holds it after everything sent (panel.js foldLog, in Python)."""
        return window(self.sent)


def window(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    held: list[dict[str, Any]] = []
    rev = None
    for msg in sent:
        if msg["type"] == "log":
            held, rev = list(msg["messages"]), msg["rev"]
            continue
        if msg["type"] not in ("older", "message", "remove"):
            continue
        assert rev is not None and msg["rev"] == rev + 1, "a gap in the message window"
        rev = msg["rev"]
        if msg["type"] == "older":
            held = msg["messages"] + held
        elif msg["type"] == "remove":
            held = [m for m in held if m["id"] not in msg["ids"]]
        else:
            key = msg.get("replaces", msg["message"]["id"])
            at = next((i for i, m in enumerate(held) if m["id"] == key), None)
            if at is None:
                held.append(msg["message"])
            else:
                held[at] = msg["message"]
    return held


def make_panel(delay: float = 0.0, **kwargs: Any) -> Recorder:
    session = ChatSession(provider="echo", provider_settings={"echo": {"delay": delay}}, **kwargs)
    return Recorder(ChatPanel(session=session))


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def fold(deltas: list[dict[str, Any]]) -> list[str]:
    """The blocks the deltas add up to (panel.js foldStream is tested against Python in test_panel_js.py)."""
    blocks: list[str] = []
    for delta in deltas:
        blocks[delta["at"]:] = delta["blocks"]
    return blocks


def test_send_streams_deltas_then_the_saved_question_and_answer_replace_the_streamed_ones():
    async def main() -> Recorder:
        rec = make_panel(delay=0.01)
        rec.panel.handle({"type": "send", "text": "Hello there"})
        assert rec.panel.busy and rec.panel.pending == {"turn": 1}
        assert rec.messages[-1] == {"id": "pending:1", "role": "user", "text": "Hello there"}
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    deltas = rec.of("delta")
    assert deltas and deltas[0]["at"] == 0 and deltas[0]["seq"] == 1
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    end = rec.sent[rec.sent.index(deltas[-1]) + 1:]
    assert [m["type"] for m in end] == ["message", "message"]  # the turn's end: its question and its answer
    question, _saved = rec.panel.session.chat.messages
    assert end[0]["replaces"] == "pending:1" and end[0]["message"]["id"] == question.id
    answer = rec.messages[-1]
    assert answer["role"] == "assistant" and answer["status"] == "complete" and answer["badge"] == ""
    assert "Hello there" in answer["text"] and answer["html"].startswith('<div class="mmchat-md ')
    assert "echo" in answer["meta"]
    assert rec.panel.pending == {} and rec.panel.error == ""
    assert fold(deltas)[0] in answer["html"]  # throttled: the last delta may be older than the final answer


def test_deltas_are_throttled_to_ten_a_second():
    async def main() -> Recorder:
        rec = make_panel(delay=0.005)  # ~40 chunks in ~0.2 s
        rec.panel.handle({"type": "send", "text": "one two three four five six seven eight nine ten " * 2})
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    chunks = len(rec.messages[-1]["text"].split())
    assert 1 <= len(rec.of("delta")) <= 5 < chunks


def test_stop_keeps_the_partial_answer_marked():
    async def main() -> Recorder:
        rec = make_panel(delay=0.05)
        rec.panel.handle({"type": "send", "text": "a long question " * 10})
        await until(lambda: rec.of("delta"))
        rec.panel.handle({"type": "stop"})
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    answer = rec.messages[-1]
    assert rec.messages[-1]["status"] == "interrupted"
    assert answer["status"] == "interrupted" and answer["badge"] == "Interrupted"
    stored = rec.panel.session.chat.messages[-1]
    assert stored.status == "interrupted" and stored.content == answer["text"] != ""


def test_regenerate_replaces_the_last_answer():
    async def main() -> Recorder:
        rec = make_panel()
        rec.panel.handle({"type": "send", "text": "first"})
        await until(lambda: not rec.panel.busy)
        rec.panel.handle({"type": "regenerate"})
        assert [m["role"] for m in rec.messages] == ["user"]  # the old answer gives way at once
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    assert [m["role"] for m in rec.messages] == ["user", "assistant"]
    assert len(rec.panel.session.chat.messages) == 2


def test_second_send_while_streaming_is_refused_in_one_line():
    async def main() -> Recorder:
        rec = make_panel(delay=0.05)
        rec.panel.handle({"type": "send", "text": "first question here"})
        rec.panel.handle({"type": "send", "text": "second"})
        error = rec.panel.error
        rec.panel.handle({"type": "stop"})
        await until(lambda: not rec.panel.busy)
        rec.panel.error = error
        return rec

    rec = asyncio.run(main())
    assert "still streaming" in rec.panel.error and "\n" not in rec.panel.error
    assert rec.of("unsent") == [{"type": "unsent", "view": None, "text": "second"}]  # back to the input box


def test_a_question_refused_before_anything_was_saved_goes_back_to_the_input_box():
    async def main() -> Recorder:
        rec = Recorder(ChatPanel(session=ChatSession(provider="yandexgpt")))  # not set up: refused at once
        rec.panel.handle({"type": "send", "text": "  What is 2+2?\n", "view": "v1"})
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    assert rec.panel.error and "YANDEX_" in rec.panel.error
    assert rec.of("unsent") == [{"type": "unsent", "view": "v1", "text": "  What is 2+2?\n"}]  # as typed
    assert rec.messages == [] and rec.panel.session.chats.page(rec.panel.chat["id"]).total == 0


def test_errors_are_shown_in_the_panel_not_raised(monkeypatch):
    rec = make_panel()
    rec.panel.handle({"type": "no-such-request"})
    assert "unknown request" in rec.panel.error
    rec.panel.handle({"type": "dismiss"})
    assert rec.panel.error == ""

    def broken(_msg: dict[str, Any]) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(rec.panel, "_do_clear", broken)
    rec.panel.handle({"type": "clear"})
    assert rec.panel.error.startswith("Unexpected error (KeyError") and "\n" not in rec.panel.error
    rec.panel.handle({"type": "rename_chat", "id": rec.panel.chat["id"], "name": "   "})
    assert rec.panel.error.startswith("A chat name cannot be empty")  # the history error, as it is


def test_provider_failure_is_one_line_with_what_to_do(monkeypatch):
    async def main() -> Recorder:
        rec = Recorder(ChatPanel(session=ChatSession(provider="yandexgpt")))  # no credentials anywhere
        rec.panel.handle({"type": "send", "text": "hello"})
        await until(lambda: not rec.panel.busy)
        return rec

    rec = asyncio.run(main())
    assert rec.panel.error and "\n" not in rec.panel.error
    assert "YANDEX_" in rec.panel.error  # names the setting to fix


def option(panel: ChatPanel, name: str) -> Any:
    return next(o for o in panel.settings["options"] if o["name"] == name)["value"]


def test_settings_hold_for_this_panel_until_saved_as_defaults():
    rec = make_panel()
    rec.panel.handle({"type": "set", "key": "temperature", "value": "0.4"})
    rec.panel.handle({"type": "set", "key": "max_tokens", "value": "300"})
    rec.panel.handle({"type": "set", "key": "top_p", "value": "0.9"})
    assert option(rec.panel, "temperature") == 0.4 and option(rec.panel, "max_tokens") == 300
    assert ChatSession().resolve()[1].temperature is None  # another notebook's %%chat: untouched
    rec.panel.handle({"type": "set", "key": "temperature", "value": ""})
    assert option(rec.panel, "temperature") is None
    rec.panel.handle({"type": "set", "key": "temperature", "value": "7"})
    assert "temperature" in rec.panel.error and "\n" not in rec.panel.error
    rec.panel.handle({"type": "save_defaults"})
    assert rec.of("saved") and ChatSession().resolve()[1].top_p == 0.9  # now for every later session
    rec.panel.handle({"type": "set", "key": "system", "value": "Answer in haiku."})
    assert rec.panel.session.chat.meta["system"] == "Answer in haiku." == rec.panel.settings["system"]


def test_the_sheet_offers_the_providers_own_options():
    rec = Recorder(ChatPanel(session=ChatSession(provider="yandexgpt")))
    names = [o["name"] for o in rec.panel.settings["options"]]
    assert names[:3] == ["temperature", "max_tokens", "top_p"] and "reasoning_mode" in names
    rec.panel.handle({"type": "set", "key": "reasoning_mode", "value": "ENABLED_HIDDEN"})
    assert option(rec.panel, "reasoning_mode") == "ENABLED_HIDDEN"
    assert rec.panel.session.resolve()[1].extra["reasoning_mode"] == "ENABLED_HIDDEN"
    rec.panel.handle({"type": "set", "key": "reasoning_mode", "value": "SOMETIMES"})
    assert "DISABLED" in rec.panel.error  # the valid choices, in one line


def test_a_provider_the_administrator_forbids_is_an_error_line_not_a_broken_panel():
    HistoryStore().update_settings(provider="gigachat")  # saved before the administrator's policy changed
    panel = ChatPanel(session=ChatSession(admin=MMChat(allowed_providers=["echo"])))
    assert "not allowed" in panel.error and panel.chat["name"] and panel.settings["lang"] == "en"
    assert [p["name"] for p in panel.providers] == ["echo"]
    panel.handle({"type": "set", "key": "provider", "value": "echo"})
    assert panel.error == "" and panel.settings["provider"] == "echo"


def test_provider_switch_is_this_panels_choice_with_that_providers_model():
    rec = make_panel()
    rec.panel.handle({"type": "set", "key": "provider", "value": "gigachat"})
    assert rec.panel.settings["provider"] == "gigachat" and rec.panel.settings["model"] == "GigaChat"
    assert "provider" not in HistoryStore().get_settings()  # not every notebook's default (issue 14)
    rec.panel.handle({"type": "set", "key": "model", "value": "GigaChat-Pro"})
    assert rec.panel.session.resolve()[1].model == "GigaChat-Pro"
    rec.panel.handle({"type": "save_defaults"})
    assert ChatSession().resolve()[1].model == "GigaChat-Pro"  # saved: the next panel or %%chat uses it


def test_language_switch_resends_strings():
    rec = make_panel()
    english = rec.panel.strings["send"]
    rec.panel.handle({"type": "set", "key": "lang", "value": "ru"})
    try:
        assert rec.panel.settings["lang"] == "ru"
        assert set(rec.panel.strings) == set(ui_strings())
        rec.panel.handle({"type": "set", "key": "lang", "value": "en"})
        assert rec.panel.strings["send"] == english
    finally:
        i18n.set_language(None)  # back to the environment's language for the tests that follow


def test_templates_fill_the_input_and_user_templates_are_saved():
    rec = make_panel()
    rec.panel.handle({"type": "template", "name": "summarize", "text": "Some text", "view": "v1"})
    fill = rec.of("fill")[0]
    assert fill["view"] == "v1" and fill["text"].endswith("\n\nSome text") and fill["text"].startswith("Summarize")
    rec.panel.handle({"type": "save_template", "name": "review", "text": "Review this:\n\n{input}"})
    assert {"name": "review", "title": "review", "text": "Review this:\n\n{input}"} in rec.panel.templates
    assert rec.panel.session.store.get_settings()["templates"] == {"review": "Review this:\n\n{input}"}


def test_chat_list_new_rename_switch_search_delete():
    async def main() -> Recorder:
        rec = make_panel()
        first = rec.panel.chat["id"]
        rec.panel.handle({"type": "new_chat"})
        assert rec.panel.chat["id"] == first  # the current chat is empty: it already is a new chat
        rec.panel.handle({"type": "send", "text": "about llamas"})
        await until(lambda: not rec.panel.busy)
        rec.panel.handle({"type": "rename_chat", "id": first, "name": "Llamas"})
        assert rec.panel.chats == []  # rows travel only while the drawer is open
        rec.panel.handle({"type": "drawer", "open": True, "text": ""})
        rec.panel.handle({"type": "new_chat"})
        assert rec.panel.chat["id"] != first and rec.messages == []
        assert [row["name"] for row in rec.panel.chats][1] == "Llamas"
        rec.panel.handle({"type": "drawer", "open": True, "text": "llama"})
        assert [row["name"] for row in rec.panel.chats] == ["Llamas"]
        rec.panel.handle({"type": "drawer", "open": True, "text": "ABOUT LLA"})  # by content, ignoring case
        assert [row["id"] for row in rec.panel.chats] == [first] and "about llamas" in rec.panel.chats[0]["detail"]
        rec.panel.handle({"type": "drawer", "open": True, "text": ""})
        rec.panel.handle({"type": "use_chat", "id": first})
        assert rec.panel.chat == {"id": first, "name": "Llamas"} and len(rec.messages) == 2
        rec.panel.handle({"type": "delete_chat", "id": first})
        assert rec.panel.chat["id"] != first and len(rec.panel.chats) == 1
        return rec

    asyncio.run(main())


def test_clear_empties_the_chat():
    async def main() -> Recorder:
        rec = make_panel()
        rec.panel.handle({"type": "send", "text": "hi"})
        await until(lambda: not rec.panel.busy)
        rec.panel.handle({"type": "clear"})
        return rec

    rec = asyncio.run(main())
    assert rec.messages == [] and rec.panel.session.chat.messages == []
    assert rec.of("log")[-1]["messages"] == []


def test_export_sends_a_download():
    async def main() -> Recorder:
        rec = make_panel()
        rec.panel.handle({"type": "send", "text": "export me"})
        await until(lambda: not rec.panel.busy)
        rec.panel.handle({"type": "export", "format": "md", "view": "v2"})
        return rec

    rec = asyncio.run(main())
    download = rec.of("download")[0]
    assert download["view"] == "v2" and download["mime"] == "text/markdown"
    assert download["filename"] == rec.panel.chat["name"] + ".md" and "export me" in download["content"]
    assert {f["id"] for f in rec.panel.export_formats} >= {"md", "json"}


def test_messages_from_another_thread_are_handled_on_the_kernel_loop():
    async def main() -> tuple[Recorder, str]:
        rec = make_panel()
        seen: list[str] = []
        original = rec.panel.handle
        rec.panel.handle = lambda content: (seen.append(threading.current_thread().name), original(content))
        thread = threading.Thread(target=rec.panel._on_message, args=(rec.panel, {"type": "new_chat"}, []),
                                  name="subshell")
        thread.start()
        thread.join()
        await until(lambda: seen)
        return rec, seen[0]

    _rec, thread_name = asyncio.run(main())
    assert thread_name == threading.main_thread().name


def _answer(*pieces: str) -> Completion:
    answer = Completion()
    for piece in pieces:
        answer.add(Chunk(piece))
    return answer


def test_resync_resends_the_whole_answer():
    stream = AnswerStream(3, interval=0)
    first = stream.update(_answer("# Title\n\nSome text"))
    again = stream.delta(resend=True)
    assert first["at"] == 0 and again["at"] == 0 and again["blocks"] == list(stream.renderer.blocks)
    assert again["seq"] == first["seq"] + 1 and again["crc"] == first["crc"]


def test_deltas_send_only_the_blocks_that_changed_with_the_crc_of_the_whole():
    stream, answer = AnswerStream(1, interval=0), _answer("Paragraph one.\n\nParagraph two\n")
    stream.update(answer)
    answer.add(Chunk("is longer.\n\nThree"))
    second = stream.update(answer)
    assert second["at"] >= 1 and "Paragraph one" not in "".join(second["blocks"])
    assert second["crc"] == block_crc("".join(stream.renderer.blocks))
    answer.add(Chunk("Rewritten.", replace=True))  # a provider may rewrite the text: the delta starts earlier
    third = stream.update(answer)
    assert third["at"] == 0 and fold([third]) == list(stream.renderer.blocks)
    assert block_crc("a\U0001F600") == 0x92DAC67B  # UTF-16 code units, as js/panel.test.mjs checks in JavaScript


def test_no_arguments_share_the_magics_session(monkeypatch):
    monkeypatch.setattr(session_module, "_default", None)
    panel = ChatPanel()
    assert panel.session is session_module.default_session()
    named = ChatPanel(chat="Named chat")
    assert named.session is not panel.session and named.chat["name"] == "Named chat"


def test_every_string_the_front_end_uses_comes_from_python():
    source = PANEL_JS.read_text(encoding="utf-8")
    patterns = [r'\bt\("(\w+)"\)', r't\(\w+ \? "(\w+)" : "(\w+)"\)', r'\[ui\.\w+, "(\w+)"\]', r'field\("(\w+)"']
    used = {key for pattern in patterns for match in re.findall(pattern, source)
            for key in ([match] if isinstance(match, str) else match)}
    assert len(used) > 30
    assert used <= set(ui_strings()), f"panel.js uses strings Python does not send: {used - set(ui_strings())}"


def test_an_openai_compatible_servers_own_models_are_offered(monkeypatch):
    """The recorded LiteLLM proxy lists `mock-gpt` at /v1/models: the panel offers that, not OpenAI's models."""
    with RecordedLiteLLM() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", server.master_key)

        async def main(key: str) -> ChatPanel:
            monkeypatch.setenv("OPENAI_API_KEY", key)
            panel = ChatPanel(session=ChatSession(provider="openai"))
            await until(lambda: panel._models.get("openai") or panel.error)
            return panel

        panel = asyncio.run(main(server.master_key))
        assert next(p for p in panel.providers if p["name"] == "openai")["models"] == ["mock-gpt"]
        assert server.requests[-1].path == "/v1/models"
        refused = asyncio.run(main("sk-wrong-key-1111"))
        assert "did not accept the key" in refused.error and "sk-wrong" not in refused.error
