"""`%chat panel --side` without a browser: what the kernel does (tests/e2e/test_panel_side.py shows it in a real
JupyterLab's side area)."""

from __future__ import annotations

import sys

import pytest

from mmchat_jupyter import _panel_side

from .magic_shell import assert_one_usage_line, run


@pytest.fixture(autouse=True)
def _no_side_panel_left():
    yield
    _panel_side.close()


def test_without_the_sidecar_package_it_says_what_to_install(shell, monkeypatch):
    monkeypatch.setitem(sys.modules, "sidecar", None)  # `import sidecar` fails as when it is not installed
    ran = run(shell, "%chat panel --side")
    assert_one_usage_line(ran, "pip install sidecar")
    assert _panel_side._open is None and ran.outputs == []  # no panel anywhere, none left running


def test_the_side_panel_holds_the_kernels_chat_and_replaces_the_one_before(shell, magics):
    run(shell, "%%chat\nWhat is 2+2?")
    ran = run(shell, "%chat panel --side")
    assert ran.error is None and "%chat panel" in ran.stdout  # where it is, and what to do if it is not there
    first_side, first = _panel_side._open
    assert first.session is magics.session and first.chat["id"] == magics.session.chat.id
    assert first_side.anchor == "right"

    assert run(shell, "%chat panel --side review").error is None
    _side, panel = _panel_side._open
    assert panel.chat["name"] == "review"
    assert first_side.comm is None and first.comm is None  # the one before is closed, not left behind


def test_a_mistake_in_the_words_is_the_usage_line(shell):
    assert_one_usage_line(run(shell, "%chat panel a b --side"), "%chat panel [NAME] [--side]")
