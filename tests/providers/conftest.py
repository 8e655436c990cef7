"""Fixtures for the provider tests: a GigaChat fake and a factory of providers pointed at it."""

from __future__ import annotations

import pytest

from mmchat_jupyter.providers.gigachat import GigaChatProvider
from tests.fakes.gigachat import FakeGigaChat


@pytest.fixture
def fake():
    with FakeGigaChat() as server:
        yield server


@pytest.fixture
def make(fake):
    """A provider factory pointed at `fake` (or the server given), closed after the test."""
    made: list[GigaChatProvider] = []

    def factory(server: FakeGigaChat | None = None, **overrides) -> GigaChatProvider:
        provider = GigaChatProvider(**(server or fake).settings(backoff=0.01, **overrides))
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        provider.close()
