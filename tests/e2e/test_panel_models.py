"""The model picker of a ChatPanel on an OpenAI-compatible server, in a real JupyterLab: the server's own
`/v1/models` (the recorded LiteLLM proxy, tests/data/litellm), and a refused key as one line."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..fakes.openai_compat import RecordedLiteLLM
from .test_panel import open_panel

pytestmark = pytest.mark.e2e


@pytest.fixture
def litellm():
    with RecordedLiteLLM() as server:
        yield server


def openai_panel(notebook, server: RecordedLiteLLM, key: str):
    """A panel on the `openai` provider, configured only through the environment as README says."""
    code = (f"os.environ.update(OPENAI_BASE_URL={server.url + '/v1'!r}, OPENAI_API_KEY={key!r})\n"
            "ChatPanel(provider='openai')")
    return open_panel(notebook, code)


def test_the_picker_offers_the_servers_own_models_and_the_chosen_one_answers(notebook, litellm):
    _nb, panel = openai_panel(notebook, litellm, litellm.master_key)
    picker = panel.root.locator(".mmc-pick select").nth(1)
    expect(picker.locator("option", has_text="mock-gpt")).to_have_count(1)  # what the server listed...
    listed = picker.locator("option").all_inner_texts()
    assert "gpt-4o" not in listed  # ...not OpenAI's catalogue (only the configured default stays, as the current one)
    assert any(r.path == "/v1/models" for r in litellm.requests)

    picker.select_option("mock-gpt")
    expect(picker).to_have_value("mock-gpt")
    panel.ask("Say hello in five words.")
    panel.wait_idle(1)
    expect(panel.answers.first).to_contain_text(litellm.recorded_answer.strip())
    assert litellm.models_asked == ["mock-gpt"]  # the model picked is the one the server was asked for
    expect(panel.notice).to_be_hidden()


def test_a_refused_key_is_one_line_in_the_panel(notebook, litellm):
    key = "sk-wrong-key-1111"
    _nb, panel = openai_panel(notebook, litellm, key)
    expect(panel.notice).to_be_visible()
    text = panel.notice.locator("span").inner_text()
    assert "OPENAI_API_KEY" in text and "400" in text  # what happened and which setting to fix
    assert "\n" not in text and key[3:] not in text  # one line, and not the key, not even a part of it
    box = panel.notice.bounding_box()
    assert box is not None and box["height"] < 60
    picker = panel.root.locator(".mmc-pick select").nth(1)
    expect(picker.locator("option")).not_to_have_count(0)  # the picker still offers the known models
