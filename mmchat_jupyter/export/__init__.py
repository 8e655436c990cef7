"""Chats out of and back into mmchat_jupyter: ipynb, Markdown, JSON, plain text and HTML.

    export_chat(chat, "md")                     the transcript as a str
    export_chat("my chat", "ipynb", "out/")     written to out/my chat.ipynb (out/ is created); returns the path
    import_chat("chat.json")                    back into history (a clashing name gets a new one)

Every format is made from the history record alone; no provider is asked. One module per format, imported on
first use: the Markdown renderer is not cheap, and `mmchat list` should not pay for it.

Exports are safe to open anywhere (model output is untrusted): html and ipynb carry sanitized HTML, md and the
Markdown in ipynb are inert (`safe_markdown`), and files are written 0600 whatever the umask, like history: they
hold the whole conversation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard, overload

from .._redact import redact
from ..errors import ExportError, HistoryError
from ..i18n import _
from ..types import ChatRecord, ChatSummary, Message, MessageRecord, now_iso

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

#: What `export_chat` takes: a record, a `list_chats()` row, a chat id or name, or messages (`Message` or
#: `MessageRecord`) to export as an unsaved chat.
ChatLike = ChatRecord | ChatSummary | str | Sequence[Message | MessageRecord]


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


@overload
def export_chat(chat: ChatLike, format: str, path: None = None, *, store: HistoryStore | None = None) -> str: ...
@overload
def export_chat(
    chat: ChatLike, format: str, path: str | os.PathLike[str], *, store: HistoryStore | None = None
) -> Path: ...
def export_chat(
    chat: ChatLike,
    format: str,
    path: str | os.PathLike[str] | None = None,
    *,
    store: HistoryStore | None = None,
) -> str | Path:
    """Export a chat as ipynb, md, json, txt or html.

    `chat` is a record, a row of `list_chats()`, a chat id or name looked up in history, or a list of messages
    (`Message` or `MessageRecord`). With no `path` the content is returned as a str (for ipynb: the notebook's
    JSON text). Otherwise it is written to `path` and the file's path is returned: a directory (an existing one,
    or a path that ends with a separator or has no extension, created if missing) gets a file named after the
    chat. Raises ExportError for an unknown format or an unwritable path, ChatNotFound for an unknown chat.
    """
    fmt = normalise_format(format)
    record = _record(chat, store)
    # History holds no secrets by design; scrubbing the output too keeps a credential the user pasted into a
    # prompt in this kernel out of a file meant for sharing.
    content = redact(_renderer(fmt)(record))
    if path is None:
        return content
    target = _target(path, record.name, FORMATS[fmt][0])
    write_text(target, content)
    return target


def _record(chat: ChatLike, store: HistoryStore | None) -> ChatRecord:
    if isinstance(chat, ChatRecord):
        return chat
    if isinstance(chat, ChatSummary):
        return _store(store).get_chat(chat.id)
    if isinstance(chat, str):
        return _store(store).get_chat(chat)
    if _messages(chat):
        now = now_iso()
        messages = [
            m if isinstance(m, MessageRecord)
            else MessageRecord(id=f"m{n}", role=m.role, content=m.content, created=now)
            for n, m in enumerate(chat)
        ]
        return ChatRecord(id="", name=_("Chat"), created=now, updated=now, messages=messages)
    raise ExportError(_("Cannot export {what}: give a chat name, a chat or a list of messages.").format(
        what=type(chat).__name__))


def _messages(chat: object) -> TypeGuard[Sequence[Message | MessageRecord]]:
    return isinstance(chat, Sequence) and all(isinstance(m, (Message, MessageRecord)) for m in chat)


def import_chat(
    source: str | os.PathLike[str] | ChatRecord, *, store: HistoryStore | None = None
) -> ChatRecord:
    """Read a JSON export (a path, or a record from `read_export`) back into history; returns the stored chat.

    Messages keep their content, route, parameters, usage, status and timestamps (as UTC); ids are new, and a
    name that is taken gets a free variant. A file that breaks the export schema (`schema`), or one from a newer
    format version, raises ExportError naming the file and the field, and imports nothing.
    """
    return import_chats([source], store=store)[0]


def import_chats(
    sources: Sequence[str | os.PathLike[str] | ChatRecord], *, store: HistoryStore | None = None
) -> list[ChatRecord]:
    """Import several exports, all or nothing: every file is read and checked before the first is imported, and
    if storing one fails, the chats already stored by this call are removed again. Returns the stored chats."""
    records = [source if isinstance(source, ChatRecord) else read_export(source) for source in sources]
    history = _store(store)
    stored: list[ChatRecord] = []
    try:
        for source, record in zip(sources, records, strict=True):
            try:
                stored.append(history.import_chat(record, name=history.unique_name(record.name)))
            except HistoryError as exc:
                where = source if not isinstance(source, ChatRecord) else record.name
                raise ExportError(f"{where}: {exc.message}") from None
    except BaseException:
        for chat in stored:
            history.delete_chat(chat.id)
        raise
    return stored


def read_export(path: str | os.PathLike[str]) -> ChatRecord:
    """The chat in a JSON export file, checked against the schema but not imported."""
    from .document import from_json, malformed
    from .schema import MAX_FILE_BYTES

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ExportError(_("Cannot read {path}: {reason}").format(path=path, reason=_reason(exc))) from None
    if len(data) > MAX_FILE_BYTES:
        raise malformed(str(path), _("larger than {n} MB").format(n=MAX_FILE_BYTES // 2**20))
    try:
        text = data.decode("utf-8-sig")  # a byte order mark, as some Windows editors write, is not an error
    except UnicodeDecodeError as exc:
        raise malformed(str(path), _("not UTF-8 text ({reason})").format(reason=exc.reason)) from None
    return from_json(text, source=str(path))


def read_exports(paths: Sequence[str | os.PathLike[str]]) -> list[ChatRecord]:
    """Every file's chat, checked; the first file that fails raises its one-line ExportError."""
    return [read_export(path) for path in paths]


def write_text(target: Path, content: str) -> None:
    """Write an export, readable by its owner only (0600, whatever the umask or the mode of a file replaced);
    ExportError with the reason when the file cannot be written."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
            with open(fd, "w", encoding="utf-8", newline="", closefd=False) as handle:
                handle.write(content)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ExportError(_("Cannot write {path}: {reason}").format(path=target, reason=_reason(exc))) from None


def _renderer(fmt: str) -> Callable[[ChatRecord], str]:
    module, _sep, function = FORMATS[fmt][1].partition(":")
    renderer: Callable[[ChatRecord], str] = getattr(import_module(f"{__name__}.{module}"), function)
    return renderer


def _target(path: str | os.PathLike[str], chat_name: str, extension: str) -> Path:
    """The file to write for `path`: itself, or a file named after the chat when `path` is a directory, which
    it is when it exists as one, ends with a separator, or has no extension (then it is created)."""
    raw = os.fspath(path)
    target = Path(raw)
    folder = target.is_dir() or raw.endswith(("/", os.sep)) or (not target.exists() and not target.suffix)
    if folder:
        directory, target = target, target / (safe_filename(chat_name) + extension)
    else:
        directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(_("Cannot create {path}: {reason}").format(path=directory, reason=_reason(exc))) from None
    return target


def _store(store: HistoryStore | None) -> HistoryStore:
    if store is not None:
        return store
    from ..history import HistoryStore

    return HistoryStore()


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


__all__ = [
    "ALIASES", "FORMATS", "export_chat", "import_chat", "import_chats", "normalise_format", "read_export",
    "read_exports", "safe_filename",
]
