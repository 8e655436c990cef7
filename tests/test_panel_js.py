"""The panel's pure JavaScript functions, tested with Node's own test runner (js/panel.test.mjs)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_panel_js_unit_tests():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the panel's JS tests")
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", str(REPO / "js")], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
