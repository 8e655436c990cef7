"""Provider plugins: the example package in tests/plugins (installed into the test environment) through every
face, and what happens to a broken plugin or one named like a built-in (README: "Writing a provider")."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata

import pytest

from mmchat_jupyter.api import Chat
from mmchat_jupyter.config import MMChat
from mmchat_jupyter.errors import ConfigError
from mmchat_jupyter.providers import registry
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.widget import ChatPanel

from .fakes.server import FakeServer, Reply, Request
from .magic_shell import assert_one_usage_line, run

PLUGINS = ("example-async", "example-hooks", "example-stream")


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    try:
        metadata.distribution("mmchat-example-provider")
    except metadata.PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install -e tests/plugins/mmchat-example-provider")


class FakeLines(FakeServer):
    """The example sans-IO plugin's server: `POST /complete` -> NDJSON `{"text"}` lines, then `{"done"}`."""

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", "/complete", self._complete)

    def _complete(self, request: Request) -> Reply:
        if request.header("authorization") != "Key lines-key":
            return Reply.json(401, {"error": "bad key"})
        question = request.json()["messages"][-1][1]
        lines = [json.dumps({"text": word + " "}).encode() + b"\n" for word in question.split()]
        lines.append(json.dumps({"done": True, "tokens": len(lines)}).encode() + b"\n")
        return Reply(200, {"Content-Type": "application/x-ndjson"}, chunks=lines)


@pytest.fixture
def lines(monkeypatch) -> Iterator[FakeLines]:
    with FakeLines() as server:
        monkeypatch.setenv("EXAMPLE_BASE_URL", server.url)
        monkeypatch.setenv("EXAMPLE_API_KEY", "lines-key")
        yield server


def test_built_ins_are_registered_as_plugins_are():
    mine = {ep.name: ep.value for ep in metadata.entry_points(group=registry.ENTRY_POINT_GROUP)
            if ep.dist is not None and ep.dist.name == "mmchat-jupyter"}
    assert mine == registry.BUILTIN
    assert set(PLUGINS) <= set(registry.list_providers())


def test_plugins_say_whether_they_are_configured(shell, monkeypatch):
    out = run(shell, "%chat providers").stdout
    assert "  example-stream (Example (stream)) — credentials: none needed" in out
    assert "  example-hooks (Example (sans-IO)) — credentials: not configured" in out
    monkeypatch.setenv("EXAMPLE_API_KEY", "lines-key")
    assert "example-hooks (Example (sans-IO)) — credentials: environment (EXAMPLE_API_KEY)" in run(
        shell, "%chat providers").stdout
    assert "volume — how many exclamation marks (a whole number from 1 to 3)" in run(
        shell, "%chat options example-stream").stdout


@pytest.mark.parametrize("name", ["example-stream", "example-async"])
def test_a_plugin_doing_its_own_io_works_through_magic_chat_and_panel(shell, magics, name):
    """Regression: a plugin overriding stream() failed through Chat and %%chat with an empty NotImplementedError."""
    ran = run(shell, f"%%chat -p {name} -t 0.5 -o volume=3\nhello plugin")
    assert ran.error is None and not ran.stderr, ran.stderr
    assert ran.final["text/plain"].endswith("t=0.5] HELLO PLUGIN !!!")
    assert Chat(session=magics.session, provider=name).ask("again", volume=2).endswith("AGAIN !!")
    assert_one_usage_line(run(shell, f"%%chat -p {name} -o volume=9\nq"), "volume must be a whole number from 1 to 3")
    with pytest.raises(ConfigError, match="volume must be a whole number from 1 to 3, not 9"):
        Chat(session=magics.session, provider=name).ask("q", volume=9)
    panel = ChatPanel(session=magics.session)
    magics.session.choose("provider", name)
    assert panel_answer(panel, "from the panel").endswith("FROM THE PANEL !")


def test_a_plugin_with_the_sans_io_hooks_works_through_magic_chat_and_panel(shell, magics, lines):
    ran = run(shell, "%%chat -p example-hooks\nthree small words")
    assert ran.final["text/plain"] == "three small words " and not ran.stderr
    assert lines.requests[-1].json()["model"] == "lines-1"
    assert Chat(session=magics.session, provider="example-hooks").ask("two words") == "two words "
    magics.session.choose("provider", "example-hooks")
    assert panel_answer(ChatPanel(session=magics.session), "from the panel") == "from the panel "


def test_a_plugins_missing_key_is_refused_before_anything_is_saved(shell, magics):
    ran = run(shell, "%%chat -p example-hooks\nhello")
    assert "has no key: set EXAMPLE_API_KEY" in ran.stderr and magics.session.chats.list() == []


def test_the_cli_knows_plugins(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "settings", "provider=example-stream",
                           "--json"], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {r["key"]: r["value"] for r in json.loads(done.stdout)}["provider"] == "example-stream"


def panel_answer(panel: ChatPanel, text: str) -> str:
    async def send() -> None:
        panel.handle({"type": "send", "text": text})
        await asyncio.sleep(0)
        while panel.busy:
            await asyncio.sleep(0.01)

    asyncio.run(send())
    assert not panel.error, panel.error
    answer = panel.session.chat.messages[-1]
    assert answer.role == "assistant" and answer.status == "complete"
    return answer.content


# -- plugins that go wrong -----------------------------------------------------------------------------------------


class FakeEntryPoint:
    def __init__(self, name: str, value: str, package: str) -> None:
        self.name, self.value = name, value
        self.dist = type("Dist", (), {"name": package})()


@pytest.fixture
def plugin(monkeypatch) -> Iterator[Callable[[str, str, str], None]]:
    """`plugin(name, target, package)` registers a plugin; the registry sees those and the built-ins only."""
    found = [FakeEntryPoint(name, target, "mmchat-jupyter") for name, target in registry.BUILTIN.items()]
    monkeypatch.setattr(metadata, "entry_points", lambda group: list(found))

    def add(name: str, target: str, package: str) -> None:
        found.append(FakeEntryPoint(name, target, package))
        registry._registrations.cache_clear()
        registry._problems.clear()

    yield add
    registry._registrations.cache_clear()
    registry._problems.clear()


def test_a_broken_plugin_is_skipped_with_one_logged_line(plugin, shell, caplog):
    """Regression: one broken plugin made `%chat providers` a traceback."""
    plugin("broken", "no_such_module_anywhere:Provider", "mmchat-broken")
    plugin("not-a-provider", "json:dumps", "mmchat-odd")
    with caplog.at_level(logging.WARNING, logger="mmchat_jupyter.providers"):
        ran = run(shell, "%chat providers")
        run(shell, "%chat providers")
    assert ran.error is None and "Traceback" not in ran.stdout + ran.stderr
    assert "broken — the provider plugin 'broken' of mmchat-broken cannot be loaded (ModuleNotFoundError" in ran.stdout
    assert "not-a-provider — the provider plugin 'not-a-provider' of mmchat-odd cannot be loaded" in ran.stdout
    assert len(caplog.records) == 2  # once each, however often it is asked
    session = ChatSession(admin=MMChat())
    assert "broken" not in registry.list_providers() and session.send("still works").status == "complete"
    with pytest.raises(ConfigError, match="cannot be loaded"):
        session.send("q", provider="broken")


def test_a_plugin_named_like_a_built_in_is_reported_not_dropped_silently(plugin, shell, caplog):
    plugin("openai", "mmchat_example_provider:ShoutProvider", "mmchat-impostor")
    with caplog.at_level(logging.WARNING, logger="mmchat_jupyter.providers"):
        out = run(shell, "%chat providers").stdout
    assert "the provider plugin 'openai' of mmchat-impostor is ignored: it is named like a built-in provider" in out
    assert registry.provider_class("openai").__module__ == "mmchat_jupyter.providers.openai"
    assert [r.getMessage() for r in caplog.records if "mmchat-impostor" in r.getMessage()]
