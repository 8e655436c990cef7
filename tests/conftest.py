"""Test-wide isolation: a private history root per test and no real credentials from the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The `shell` and `magics` fixtures: an IPython shell with %%chat loaded.
pytest_plugins = ["tests.magic_shell"]

REPO = Path(__file__).resolve().parents[1]
#: Recorded provider responses and real model answers, copied into the repository with their provenance and
#: licence notices (tests/data/fixtures/SOURCES.md).
FIXTURES = REPO / "tests" / "data" / "fixtures"

_CREDENTIAL_PREFIXES = ("YANDEX_", "GIGACHAT_", "OPENAI_", "MMCHAT_")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Each test gets its own MMCHAT_HOME and sees no provider credentials unless it sets them."""
    for name in list(os.environ):
        if name.startswith(_CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)
    from mmchat_jupyter import _layers, config

    config.KERNEL.clear()  # %config ChatMagics.* of an earlier test's shell
    _layers._reported.clear()  # "said once" is per process: each test starts unsaid
    home = tmp_path_factory.mktemp("mmchat-home")
    monkeypatch.setenv("MMCHAT_HOME", str(home))
    monkeypatch.setenv("MMCHAT_LANG", "en")
    return home


@pytest.fixture
def fixtures_dir() -> Path:
    """The recorded provider responses in tests/data/fixtures (see SOURCES.md there)."""
    return FIXTURES
