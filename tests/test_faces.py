"""Every face goes through the engine (`ChatSession` and its facets), never around it to the history store.

The faces are the modules a user or a client talks to: the magics, the `Chat` API, the CLI, the panel and the
server API. A face that imports `mmchat_jupyter.history` or reaches for `session.store` would be a second way to
change chats and settings, one that skips validation, precedence and the change signal; this test fails when one
does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mmchat_jupyter"

FACES = ["magics.py", "_magic_args.py", "_commands.py", "api.py", "cli.py", "cli_doctor.py", "widget.py",
         "_panel_state.py"]

#: Faces that still go around the engine, until their streams move them onto it. Each must leave this set when it
#: stops; the test says so. Empty: every face goes through the engine.
KNOWN_OFFENDERS: set[str] = set()


def face_modules() -> list[Path]:
    found = [PACKAGE / name for name in FACES]
    found += sorted(PACKAGE.glob("_panel_*.py"))  # the panel's own modules beside widget.py
    found += sorted((PACKAGE / "server").rglob("*.py"))  # the REST API, when it exists
    return [path for path in found if path.exists()]


def store_access(source: str, module: str) -> list[str]:
    """Where `source` imports the history package or uses a `.store` attribute, as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            absolute = node.module or ""
            if node.level:  # relative: resolve against the module's package
                depth = module.count(".") - node.level + 1
                absolute = ".".join([*module.split(".")[:depth], *([node.module] if node.module else [])])
            names = [f"{absolute}.{alias.name}" for alias in node.names]
            if any(name.startswith("mmchat_jupyter.history") for name in [absolute, *names]):
                found.append(f"{node.lineno}: from {absolute} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mmchat_jupyter.history"):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr in ("store", "_store"):
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "HistoryStore":
            found.append(f"{node.lineno}: HistoryStore")
    return found


def module_name(path: Path) -> str:
    return ".".join(("mmchat_jupyter", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_the_check_finds_each_way_around_the_engine():
    module = "mmchat_jupyter.server.handlers"
    assert store_access("from ..history import HistoryStore", module)
    assert store_access("from mmchat_jupyter.history.store import HistoryStore", module)
    assert store_access("import mmchat_jupyter.history", module)
    assert store_access("from .. import history", module)
    assert store_access("session.store.delete_chat(x)", module)
    assert not store_access("from ..session import ChatSession\nsession.chats.delete(x)", module)
    assert not store_access("from ..types import ChatRecord", module)


@pytest.mark.parametrize("path", face_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_face_goes_around_the_engine(path: Path):
    name = str(path.relative_to(PACKAGE))
    found = store_access(path.read_text(encoding="utf-8"), module_name(path))
    if name in KNOWN_OFFENDERS:
        assert found, f"{name} no longer touches the store: remove it from KNOWN_OFFENDERS"
    else:
        assert not found, f"{name} goes around the engine: {found}"
