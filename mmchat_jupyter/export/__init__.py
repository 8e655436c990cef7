"""Chats out of and back into mmchat_jupyter: ipynb, Markdown, JSON, plain text and HTML.

    export_chat(chat, "md")                     the transcript as a str
    export_chat("my chat", "ipynb", "out/")     written to out/my chat.ipynb; returns the path
    import_chat("chat.json")                    back into history (a clashing name gets a new one)

Every format is made from the history record alone; no provider is asked. One module per format, imported on
first use: nbformat and the Markdown renderer are not cheap, and `mmchat list` should not pay for them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from .._redact import redact
from ..errors import ExportError
from ..i18n import _
from ..types import ChatRecord

if TYPE_CHECKING:
    from ..history import HistoryStore

#: Canonical format -> (file extension, "module:function" that makes the content from a ChatRecord).
FORMATS: dict[str, tuple[str, str]] = {
    "ipynb": (".ipynb", "notebook:to_notebook"),
    "md": (".md", "transcript:to_markdown"),
    "json": (".json", "document:to_json"),
    "txt": (".txt", "transcript:to_text"),
    "html": (".html", "page:to_html"),
}
ALIASES = {"markdown": "md", "text": "txt"}

#: Characters no common file system takes in a name (Windows' list, which covers POSIX's "/"), and controls.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
#: Room for the extension and a "-2" suffix within the usual 255-byte limit on a file name.
_MAX_NAME_BYTES = 200


def normalise_format(format: str) -> str:
    """The canonical name of an export format ("markdown" -> "md"); ExportError for an unknown one."""
    name = ALIASES.get(format.lower(), format.lower())
    if name not in FORMATS:
        text = _("Unknown export format {format!r}: use one of {choices}.")
        raise ExportError(text.format(format=format, choices=", ".join(FORMATS)))
    return name


def safe_filename(name: str) -> str:
    """A file name stem for a chat name: characters file systems refuse become "_"; Cyrillic and spaces stay."""
    stem = _UNSAFE.sub("_", name).strip(" .")
    while len(stem.encode("utf-8")) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem or "chat"


def export_chat(
    chat: ChatRecord | str,
    format: str,
    path: str | os.PathLike[str] | None = None,
    *,
    store: HistoryStore | None = None,
) -> str | Path:
    """Export a chat (a record, or a chat name or id looked up in history) as ipynb, md, json, txt or html.

    With no `path` the content is returned as a str (for ipynb: the notebook's JSON text). Otherwise it is
    written to `path` (a directory gets a file named after the chat) and the file's path is returned.
    Raises ExportError for an unknown format or an unwritable path, ChatNotFound for an unknown chat.
    """
    fmt = normalise_format(format)
    record = chat if isinstance(chat, ChatRecord) else _store(store).get_chat(chat)
    # History holds no secrets by design; scrubbing the output too keeps a credential the user pasted into a
    # prompt in this kernel out of a file meant for sharing.
    content = redact(_renderer(fmt)(record))
    if path is None:
        return content
    target = _target(Path(path), record.name, FORMATS[fmt][0])
    write_text(target, content)
    return target


def import_chat(
    source: str | os.PathLike[str] | ChatRecord, *, store: HistoryStore | None = None
) -> ChatRecord:
    """Read a JSON export (a path, or a record from `read_export`) back into history; returns the stored chat.

    Messages keep their content, route, parameters, usage, status and timestamps; ids are new, and a name that
    is taken gets a free variant. A malformed file, or one from a newer format version, raises ExportError
    and imports nothing.
    """
    record = source if isinstance(source, ChatRecord) else read_export(source)
    history = _store(store)
    return history.import_chat(record, name=history.unique_name(record.name))


def read_export(path: str | os.PathLike[str]) -> ChatRecord:
    """The chat in a JSON export file, checked but not imported (the CLI checks every file before importing)."""
    from .document import from_json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(_("Cannot read {path}: {reason}").format(path=path, reason=_reason(exc))) from None
    return from_json(text, source=str(path))


def write_text(target: Path, content: str) -> None:
    """Write an export; ExportError with the reason when the file cannot be written."""
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
    except OSError as exc:
        raise ExportError(_("Cannot write {path}: {reason}").format(path=target, reason=_reason(exc))) from None


def _renderer(fmt: str) -> Callable[[ChatRecord], str]:
    module, _sep, function = FORMATS[fmt][1].partition(":")
    return getattr(import_module(f"{__name__}.{module}"), function)


def _target(path: Path, chat_name: str, extension: str) -> Path:
    if path.is_dir():
        return path / (safe_filename(chat_name) + extension)
    return path


def _store(store: HistoryStore | None) -> HistoryStore:
    if store is not None:
        return store
    from ..history import HistoryStore

    return HistoryStore()


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


__all__ = ["ALIASES", "FORMATS", "export_chat", "import_chat", "normalise_format", "read_export", "safe_filename"]
