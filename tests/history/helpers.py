"""Shared checks for the history tests."""

from __future__ import annotations

import json
from pathlib import Path


def all_json_valid(root: Path) -> list[Path]:
    """Every .json file under `root`; raises if one of them does not parse."""
    files = sorted(root.rglob("*.json"))
    for path in files:
        json.loads(path.read_text(encoding="utf-8"))
    return files
