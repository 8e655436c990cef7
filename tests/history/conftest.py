"""Fixtures for the history tests: a store on the per-test MMCHAT_HOME that tests/conftest.py provides."""

from __future__ import annotations

import pytest

from mmchat_jupyter.history import HistoryStore


@pytest.fixture
def store() -> HistoryStore:
    return HistoryStore()
