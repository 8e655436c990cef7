"""`mmchat`: the chats in your history, from a terminal or a script.

    mmchat list                                   every chat, newest first
    mmchat show NAME                              one chat as a plain-text transcript
    mmchat export NAME --format md [-o PATH]      to stdout, a file, or a directory (named after the chat)
    mmchat export --all --format json -o DIR      every chat, one file each
    mmchat import FILE...                         JSON exports back into history
    mmchat rename OLD NEW  |  mmchat delete NAME
    mmchat usage [--by provider|model|day]        token totals
    mmchat settings [KEY=VALUE ...]               each setting and where it comes from; or save some
    mmchat doctor                                 providers, history and versions: what works and what does not

`--json` on list, show, usage, settings and doctor prints JSON for scripts. Errors are one line on stderr starting with
`mmchat: `, exit status 1; usage mistakes exit 2 as argparse does. Only what a command needs is imported, so
`mmchat list` starts fast (no IPython, no widgets, no nbformat).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._format import format_date, format_datetime, format_number
from .errors import MMChatError
from .i18n import _, localize_argparse, ngettext, set_language

if TYPE_CHECKING:
    from .session import ChatSession, UsageTotal

USAGE_KEYS = ("provider", "model", "day")
#: UsageTotal fields that add up, in the order the table shows them.
USAGE_COUNTS = ("messages", "prompt_tokens", "completion_tokens", "total_tokens")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script passes it to `sys.exit`)."""
    _use_saved_language()
    localize_argparse()
    parser = build_parser()
    args = parser.parse_args(argv)
    # The store warns (a damaged chat file left out of a listing): one line, like our errors, not a source quote.
    warnings.showwarning = lambda message, *_args, **_kwargs: print(f"mmchat: {message}", file=sys.stderr)
    try:
        return args.run(args, sys.stdout) or 0
    except MMChatError as exc:
        return fail(exc.message)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `mmchat list | head`: the reader left. Say nothing, and point stdout at /dev/null so that Python's
        # flush at exit does not complain (the recipe in the `signal` module's documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _use_saved_language() -> None:
    """The language chosen in Jupyter (`%chat set lang=...`) speaks here too, `--help` included."""
    from .session import saved_language

    with contextlib.suppress(MMChatError):  # a damaged settings file is reported by the command that needs it
        set_language(saved_language())


def fail(message: str) -> int:
    """Print a one-line error the Unix way and return the failure status."""
    print(f"mmchat: {message}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; help texts are looked up now, so they follow the current language."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="mmchat", description=_("Chats in your mmchat-jupyter history."))
    parser.add_argument("--version", action="version", version=f"mmchat-jupyter {__version__}",
                        help=_("show the version and exit"))
    commands = parser.add_subparsers(metavar=_("COMMAND"), required=True)

    def command(name: str, run: Any, help: str, json_flag: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if json_flag:
            sub.add_argument("--json", action="store_true", help=_("print JSON for scripts"))
        return sub

    command("list", cmd_list, _("list chats, newest first"), json_flag=True)
    show = command("show", cmd_show, _("print a chat as a transcript"), json_flag=True)
    show.add_argument("name", metavar=_("NAME"), help=_("chat name or id"))

    from .export import ALIASES, FORMATS

    export = command("export", cmd_export, _("export a chat (or every chat) as ipynb, md, json, txt or html"))
    export.add_argument("name", metavar=_("NAME"), nargs="?", help=_("chat name or id"))
    export.add_argument("--all", action="store_true", help=_("export every chat into the directory given by -o"))
    export.add_argument(
        "-f", "--format", required=True, choices=[*FORMATS, *ALIASES], metavar=_("FORMAT"),
        help=_("one of: {choices}").format(choices=", ".join([*FORMATS, *ALIASES])),
    )
    export.add_argument("-o", "--output", metavar=_("PATH"), help=_("file or directory to write (default: stdout)"))

    imports = command("import", cmd_import, _("import chats from JSON exports"))
    imports.add_argument("files", metavar=_("FILE"), nargs="+", help=_("a file made by `mmchat export --format json`"))
    rename = command("rename", cmd_rename, _("rename a chat"))
    rename.add_argument("old", metavar=_("OLD"), help=_("chat name or id"))
    rename.add_argument("new", metavar=_("NEW"), help=_("the new name"))
    delete = command("delete", cmd_delete, _("delete a chat"))
    delete.add_argument("name", metavar=_("NAME"), help=_("chat name or id"))
    usage = command("usage", cmd_usage, _("token usage totals"), json_flag=True)
    usage.add_argument("--by", choices=USAGE_KEYS, default="provider", help=_("group by (default: provider)"))

    settings = command("settings", cmd_settings, _("show each setting and where it comes from, or save KEY=VALUE"),
                       json_flag=True)
    settings.add_argument("changes", nargs="*", metavar="KEY=VALUE",
                          help=_("save a default, as %%chat set does (an empty value removes it)"))

    from .cli_doctor import cmd_doctor

    command("doctor", cmd_doctor, _("check providers, history and versions"), json_flag=True)
    return parser


def open_session() -> ChatSession:
    """The engine over the user's history (no IPython configuration is read until a command needs settings)."""
    from .session import ChatSession

    return ChatSession(language=False)


def print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO, right: Sequence[int] = ()) -> None:
    """Columns padded to their widest cell; the column numbers in `right` are right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [cell.rjust(width) if i in right else cell.ljust(width) for i, (cell, width) in pairs]
        out.write("  ".join(cells).rstrip() + "\n")


# -- commands ---------------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    chats = open_session().chats.list()
    if args.json:
        print_json([dataclasses.asdict(chat) for chat in chats], out)
        return 0
    if not chats:
        out.write(_("No chats yet: ask something with %%chat in Jupyter, or import a JSON export.") + "\n")
        return 0
    rows = [
        (
            chat.name,
            format_number(chat.message_count),
            format_datetime(chat.updated),
            " · ".join(part for part in (chat.last_provider, chat.last_model) if part),
        )
        for chat in chats
    ]
    print_table([_("NAME"), _("MESSAGES"), _("UPDATED"), _("LAST MODEL")], rows, out, right=(1,))
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    out.write(str(open_session().chats.export(args.name, "json" if args.json else "txt")))
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    session = open_session()
    if args.all:
        if args.name:
            raise MMChatError(_("Give a chat name or --all, not both."))
        return export_all(session, args.format, args.output, out)
    if not args.name:
        raise MMChatError(_("Name the chat to export, or use --all."))
    result = session.chats.export(args.name, args.format, args.output)
    if args.output is None:
        out.write(str(result))
    else:
        out.write(f"{result}\n")
    return 0


def export_all(session: ChatSession, format: str, directory: str | None, out: TextIO) -> int:
    """Every chat into `directory`, one file each, named after the chat (a number added where names collide)."""
    from .export import FORMATS, normalise_format, safe_filename

    if not directory:
        raise MMChatError(_("--all needs a directory to write to: add -o DIR."))
    extension = FORMATS[normalise_format(format)][0]
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MMChatError(_("Cannot create {path}: {reason}").format(path=target, reason=exc.strerror)) from None
    taken: set[str] = set()
    for summary in session.chats.list():
        stem = safe_filename(summary.name)
        name, n = stem + extension, 1
        while name.lower() in taken:  # case-insensitive file systems would merge "Chat" and "chat"
            n += 1
            name = f"{stem}-{n}{extension}"
        taken.add(name.lower())
        out.write(f"{session.chats.export(summary, format, target / name)}\n")
    return 0


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    # Every file is checked before any is imported, and all are imported or none.
    for item in open_session().chats.import_files(args.files):
        if item.chat.name == item.original_name:
            text = _("{file}: imported as “{name}”")
        else:
            text = _("{file}: imported as “{name}” (“{original}” was taken)")
        out.write(text.format(file=item.source, name=item.chat.name, original=item.original_name) + "\n")
    return 0


def cmd_rename(args: argparse.Namespace, out: TextIO) -> int:
    chat = open_session().chats.rename(args.old, args.new)
    out.write(_("Renamed “{old}” to “{new}”.").format(old=args.old, new=chat.name) + "\n")
    return 0


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    chat = open_session().chats.delete(args.name)
    count = ngettext("{n} message", "{n} messages", len(chat.messages)).format(n=len(chat.messages))
    out.write(_("Deleted “{name}” ({count}).").format(name=chat.name, count=count) + "\n")
    return 0


def usage_rows(totals: Sequence[UsageTotal], by: str) -> list[dict[str, Any]]:
    """Token totals grouped by provider, by (provider, model) or by UTC day, in the store's order."""
    keys = {"provider": ("provider",), "model": ("provider", "model"), "day": ("day",)}[by]
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for total in totals:
        key = tuple(getattr(total, name) for name in keys)
        row = rows.setdefault(key, {**dict(zip(keys, key, strict=True)), **dict.fromkeys(USAGE_COUNTS, 0)})
        for name in USAGE_COUNTS:
            row[name] += getattr(total, name)
    return list(rows.values())


def cmd_settings(args: argparse.Namespace, out: TextIO) -> int:
    session = open_session()
    changes = []
    for word in args.changes:
        key, sep, value = word.partition("=")
        if not sep:
            raise MMChatError(_("Write settings as KEY=VALUE, e.g. mmchat settings temperature=0.3"))
        changes.append((key.strip(), value.strip()))
    settings = session.settings
    for key, value in changes:
        settings.check(key, value)  # every change checked before any is saved
    for key, value in changes:
        session.settings.set(key, value)
    shown = session.settings.all()
    for notice in session.notices():  # a saved value that can no longer be used: said once, with the fix
        print(f"mmchat: {notice}", file=sys.stderr)
    if args.json:
        print_json([dataclasses.asdict(setting) for setting in shown], out)
        return 0
    rows = [(s.key, "—" if s.value is None else str(s.value), s.where()) for s in shown]
    print_table([_("SETTING"), _("VALUE"), _("FROM")], rows, out)
    return 0


def cmd_usage(args: argparse.Namespace, out: TextIO) -> int:
    session = open_session()
    gateway = session.settings.gateway()
    if gateway is not None:  # what the hub's gateway recorded (every kernel and client of this user), not history
        from .providers.gateway import gateway_usage
        from .session import UsageTotal

        report = gateway_usage(gateway, session.settings.env)
        totals = [UsageTotal(r["day"], r["provider"], r["model"], r["prompt_tokens"], r["completion_tokens"],
                             r["total_tokens"], r["requests"]) for r in report.get("rows", [])]
        if not args.json:
            out.write(_("Usage recorded by the hub's LLM gateway for {user}, {since} to {until}:").format(
                user=report.get("user", "?"), since=format_date(report.get("since", "")),
                until=format_date(report.get("until", ""))) + "\n")
    else:
        totals = session.usage()
    rows = usage_rows(totals, args.by)
    if args.json:
        print_json(rows, out)
        return 0
    if not rows:
        out.write(_("No token usage recorded yet.") + "\n")
        return 0
    group = {"provider": _("PROVIDER"), "model": _("MODEL"), "day": _("DAY")}[args.by]
    headers = [group, _("ANSWERS"), _("PROMPT"), _("ANSWER"), _("TOTAL")]
    table = [
        [" · ".join(format_date(row[k]) if k == "day" else str(row[k]) for k in row if k not in USAGE_COUNTS and row[k])
         or "-",
         *(format_number(row[name]) for name in USAGE_COUNTS)]
        for row in rows
    ]
    print_table(headers, table, out, right=(1, 2, 3, 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
