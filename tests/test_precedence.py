"""One precedence order for every setting, every layer and every face (issue 14).

For each setting and each layer, the layers from the environment up to that one are given distinct values, and
each face must use the value of that layer: `%%chat` and `Chat().ask()` and the panel (its Python side) by asking
a real question, whose saved answer records what was used; `mmchat settings --json` by saying it. A face that
has no such layer (the CLI has no kernel, no session and no call; only `%%chat` and `Chat` have a call) is left
out of that row, and the table says so.

    call > session > kernel > user > config > environment > default
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mmchat_jupyter.api import Chat
from mmchat_jupyter.config import MMChat
from mmchat_jupyter.i18n import set_language
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.types import MessageRecord
from mmchat_jupyter.widget import ChatPanel

from .fakes.gigachat import FakeGigaChat
from .fakes.openai_compat import FakeOpenAI
from .fakes.yandex import FOLDER, FakeYandex
from .magic_shell import run

LAYERS = ("environment", "config", "user", "kernel", "session", "call")

#: setting -> layer -> the value that layer gives (None: the setting has no such layer).
VALUES: dict[str, dict[str, Any]] = {
    "provider": {"environment": "yandexgpt", "config": "gigachat", "user": "openai", "kernel": "yandexgpt",
                 "session": "gigachat", "call": "openai"},
    "model": {"environment": "m-environment", "config": "m-config", "user": "m-user", "kernel": "m-kernel",
              "session": "m-session", "call": "m-call"},
    "temperature": {"environment": 0.1, "config": 0.2, "user": 0.3, "kernel": 0.4, "session": 0.5, "call": 0.6},
    "max_tokens": {"environment": 11, "config": 12, "user": 13, "kernel": 14, "session": 15, "call": 16},
    "top_p": {"environment": 0.15, "config": 0.25, "user": 0.35, "kernel": 0.45, "session": 0.55, "call": 0.65},
    "system": {"environment": "sys-environment", "config": "sys-config", "user": "sys-user", "kernel": None,
               "session": "sys-session", "call": "sys-call"},
}
DEFAULTS = {"provider": "echo", "model": "echo-1", "temperature": None, "max_tokens": None, "top_p": None,
            "system": None}
#: The layers each face has.
FACES = {
    "%%chat": LAYERS,
    "Chat": LAYERS,
    "panel": ("environment", "config", "user", "kernel", "session"),
    "mmchat": ("environment", "config", "user"),
}
CELL_OPTIONS = {"provider": "-p", "model": "-m", "temperature": "-t", "max_tokens": "-n", "top_p": "--top-p",
                "system": "-s"}
TRAITS = {"provider": "default_provider", "model": "default_model"}


@dataclass
class Case:
    key: str
    face: str
    layer: str | None  # None: no layer set, the default applies
    given: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> Any:
        return DEFAULTS[self.key] if self.layer is None else VALUES[self.key][self.layer]


def cases() -> list[Any]:
    found = []
    for key, values in VALUES.items():
        for face, layers in FACES.items():
            found.append(pytest.param(Case(key, face, None), id=f"{key}-{face}-default"))
            found += [pytest.param(Case(key, face, layer), id=f"{key}-{face}-{layer}")
                      for layer in layers if values[layer] is not None]
    return found


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, dict[str, Any]]]:
    """The three network providers on loopback, as provider keyword settings."""
    with FakeYandex(keys={"AQVN-key"}) as yandex, FakeGigaChat() as giga, FakeOpenAI() as openai:
        yield {
            "yandexgpt": {"base_url": yandex.url, "api_key": "AQVN-key", "folder_id": FOLDER, "max_retries": 0},
            "gigachat": giga.settings(max_retries=0),
            "openai": {"base_url": openai.url + "/v1", "max_retries": 0},
        }


def answer_value(key: str, record: MessageRecord) -> Any:
    """What a saved answer says was used for `key`."""
    if key in ("provider", "model"):
        return getattr(record, key)
    if key == "system":
        found = re.search(r"System prompt: “(.*?)”", record.content)
        return found.group(1) if found else None
    return record.params.get(key)


@pytest.mark.parametrize("case", cases())
def test_one_precedence_for_every_setting_layer_and_face(case: Case, magics, fakes, monkeypatch, tmp_path):
    below = LAYERS[: LAYERS.index(case.layer) + 1] if case.layer else ()
    given = {layer: VALUES[case.key][layer] for layer in below if VALUES[case.key][layer] is not None}
    if "environment" in given:
        monkeypatch.setenv(f"MMCHAT_{case.key.upper()}", str(given["environment"]))
    config = {TRAITS.get(case.key, case.key): given["config"]} if "config" in given else {}
    if case.face == "mmchat":
        assert mmchat_value(case.key, config, given.get("user"), tmp_path) == case.expected
        return
    session = ChatSession(admin=MMChat(**config), provider_settings=fakes)
    magics.session = session
    if "user" in given:
        session.settings.set(case.key, given["user"])
    if "kernel" in given:
        magics.shell.run_line_magic("config", f"ChatMagics.{case.key} = {given['kernel']!r}")
    try:
        used = ask(case, session, magics, given)
    finally:
        magics.shell.config.pop("ChatMagics", None)
        for trait in ("provider", "model", "temperature", "max_tokens", "top_p"):
            setattr(magics, trait, magics.trait_defaults(trait))
    assert used == case.expected


def ask(case: Case, session: ChatSession, magics: Any, given: dict[str, Any]) -> Any:
    """Ask one question through the face with the session and call layers given; the value its answer used."""
    session_value, call_value = given.get("session"), given.get("call")
    if case.face == "%%chat":
        if session_value is not None:
            session.choose(case.key, session_value)
        option = f"{CELL_OPTIONS[case.key]} {call_value!r}" if call_value is not None else ""
        ran = run(magics.shell, f"%%chat --new {option}\nWhich values?")
        assert ran.error is None and not ran.stderr, ran.stderr
    elif case.face == "Chat":
        chat = Chat(session=session, **({case.key: session_value} if session_value is not None else {}))
        chat.ask("Which values?", new_chat=True, **({case.key: call_value} if call_value is not None else {}))
    else:
        panel = ChatPanel(session=session)
        if session_value is not None:
            session.choose(case.key, session_value)

        async def send() -> None:
            panel.handle({"type": "new_chat"})
            panel.handle({"type": "send", "text": "Which values?"})
            while panel.busy:
                await asyncio.sleep(0.01)

        asyncio.run(send())
        assert not panel.error, panel.error
    answer = session.chat.messages[-1]
    assert answer.role == "assistant" and answer.status == "complete", answer
    return answer_value(case.key, answer)


def mmchat_value(key: str, config: dict[str, Any], user: Any, tmp_path: Path) -> Any:
    """What `mmchat settings --json` says `key` is, with the config layer in an IPython profile."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text("".join(f"c.MMChat.{k} = {v!r}\n" for k, v in config.items()))
    if user is not None:
        ChatSession(admin=MMChat()).settings.set(key, user)
    environ = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    command = [sys.executable, "-m", "mmchat_jupyter.cli", "settings", "--json"]
    result = subprocess.run(command, env=environ, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shown: dict[str, Any] = {row["key"]: row["value"] for row in json.loads(result.stdout)}
    return shown[key]


def test_the_table_covers_every_setting_and_layer():
    from mmchat_jupyter.config import SETTING_KEYS

    assert set(VALUES) == set(SETTING_KEYS) - {"lang"}  # the language: tests/test_i18n.py and below
    assert all(set(values) == set(LAYERS) for values in VALUES.values())


@pytest.mark.parametrize("layer, expected", [(None, "en"), ("environment", "ru"), ("config", "en"), ("user", "ru")])
def test_the_language_follows_the_same_order(layer: str | None, expected: str, monkeypatch):
    monkeypatch.setenv("MMCHAT_LANG", "en" if layer is None else "ru")
    config = {"lang": "en"} if layer in ("config", "user") else {}
    session = ChatSession(admin=MMChat(**config))
    if layer == "user":
        session.settings.set("lang", "ru")
    try:
        assert session.apply_language() == expected
        assert ("ход 1" in session.send("hi").text) is (expected == "ru")
    finally:
        set_language(None)
