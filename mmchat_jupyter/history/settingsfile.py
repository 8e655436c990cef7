"""settings.json: the settings a user saved (default provider and model, generation params, language, ...).

A TinyDB file of key/value rows, rewritten whole in one atomic write. It is read only from a folder that is the
user's own (`trust.py`): a file anyone else can write could point a provider's key at another server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from . import trust
from .migrations import SCHEMA_VERSION
from .storage import AtomicJSONStorage, check_schema, read_json

#: The rows have not changed since this schema version.
_OLDEST = 2


def read(path: Path) -> dict[str, Any]:
    """The saved settings; empty when there is no file yet."""
    trust.check_file(path)
    data = read_json(path)
    if data is None:
        return {}
    check_schema(path, data, SCHEMA_VERSION, oldest=_OLDEST)
    rows = data.get("settings", {})
    return {row["key"]: row["value"] for row in rows.values() if isinstance(row, dict) and "key" in row}


def update(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (None removes a key) in one atomic write and return the new settings. Under the store lock."""
    trust.check_file(path)
    db = TinyDB(path, storage=AtomicJSONStorage, schema=SCHEMA_VERSION, oldest=_OLDEST, create=True)
    table = db.table("settings", cache_size=0)
    setting = Query()
    storage: AtomicJSONStorage = db.storage  # type: ignore[assignment]  # TinyDB types it as its base class
    with storage.batch():
        for key, value in changes.items():
            if value is None:
                table.remove(setting.key == key)
            else:
                table.upsert({"key": key, "value": value}, setting.key == key)
        return {row["key"]: row["value"] for row in table.all()}
