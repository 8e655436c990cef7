"""`%%chat -p openai` against a real LiteLLM proxy, replayed: what the proxy (1.82.6, mock mode) answered when the
client was configured only through OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL (tests/data/litellm)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.fakes.openai_compat import RecordedLiteLLM
from tests.magic_shell import run


@pytest.fixture
def proxy(monkeypatch) -> Iterator[RecordedLiteLLM]:
    with RecordedLiteLLM() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", server.master_key)
        monkeypatch.setenv("OPENAI_MODEL", "mock-gpt")
        yield server


def test_the_recording_is_what_the_fake_serves():
    server = RecordedLiteLLM()
    assert server.model_ids == ["mock-gpt"]
    assert server.recorded_answer == "Hello from the LiteLLM mock proxy: streaming works."
    assert len(server.exchanges["stream"]["response"]["chunks"]) > 10  # it really streamed, in pieces


def test_a_streamed_answer_configured_by_the_environment_alone(shell, magics, proxy):
    """Regression: OPENAI_MODEL was ignored, so every question named gpt-4o-mini and LiteLLM refused it (400)."""
    ran = run(shell, "%%chat -p openai\nSay hello in five words.")
    assert ran.error is None and not ran.stderr, ran.stderr
    assert ran.final["text/plain"] == proxy.recorded_answer
    assert proxy.models_asked == ["mock-gpt"]
    sent = proxy.requests[-1].json()
    assert sent == proxy.recorded_request  # the request is still the one the real proxy answered
    answer = magics.session.chat.messages[-1]
    assert (answer.provider, answer.model, answer.status) == ("openai", "mock-gpt", "complete")


def test_the_answer_streams_as_the_proxy_sent_it(magics, proxy):
    seen: list[str] = []
    turn = magics.session.send("Say hello in five words.", provider="openai", on_update=lambda t: seen.append(t.text))
    assert turn.text == proxy.recorded_answer and len(set(seen)) > 10
    assert seen[0] == "Hel"  # the first delta shown before the rest arrived


def test_the_models_are_the_servers_own(shell, proxy):
    assert run(shell, "%chat models openai").stdout.splitlines() == ["* mock-gpt"]
    assert proxy.requests[-1].path == "/v1/models"


def test_a_key_the_proxy_does_not_take_is_one_line_that_says_so(shell, magics, proxy, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-1111")
    ran = run(shell, "%%chat -p openai\nAre you there?")
    assert ran.stderr.count("\n") == 1 and "did not accept the key (400: No connected db.)" in ran.stderr
    assert "check OPENAI_API_KEY" in ran.stderr and "sk-wrong" not in ran.stderr
    listed = run(shell, "%chat models openai")  # not the built-in list as if the server had answered
    assert listed.stdout == "" and "did not accept the key" in listed.stderr


def test_no_key_at_all(shell, proxy, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    ran = run(shell, "%%chat -p openai\nAre you there?")
    assert "rejected the credentials (401: Authentication Error" in ran.stderr and ran.stderr.count("\n") == 1


def test_an_unknown_model_names_itself_and_the_fix(shell, proxy):
    ran = run(shell, "%%chat -p openai -m gpt-4o-mini\nAre you there?")
    said = ran.stderr.strip()
    assert "Invalid model name passed in model=gpt-4o-mini" in said and "{'error'" not in said
    assert said.endswith("check the model name (%chat models openai).") and "\n" not in said
    assert proxy.models_asked == ["gpt-4o-mini"]


def test_the_recording_was_made_in_an_isolated_network():
    """The provenance note: how, where, which release (a known-good one: 1.82.7 and 1.82.8 were malicious)."""
    from tests.fakes.openai_compat import LITELLM_RECORDING

    note = (LITELLM_RECORDING / "README.md").read_text()
    assert "1.82.6" in note and "unshare -n" in note and "LITELLM_LOCAL_MODEL_COST_MAP=True" in note
    steps = json.loads((LITELLM_RECORDING / "steps.json").read_text())
    assert [s["name"] for s in steps] == ["stream", "models", "bad-key", "bad-key-models", "no-key", "unknown-model"]
