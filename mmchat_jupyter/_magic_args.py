"""Reading the `%%chat` option line: argparse, made to fail in one line instead of printing usage and exiting.

Every problem (an unknown option, a bad value, an unclosed quote) becomes one `UsageError`, which IPython shows
without a traceback. Kept apart from magics.py so `%load_ext` stays cheap: nothing here imports the engine.
"""

from __future__ import annotations

import argparse
import shlex
from typing import NoReturn

from IPython.core.error import UsageError

from .i18n import _, localize_argparse

#: How an answer is shown: rendered Markdown, plain text, or Markdown whose code also becomes the next cell.
FORMATS = ("markdown", "text", "code")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError rather than printing and calling sys.exit()."""

    def error(self, message: str) -> NoReturn:
        text = _("{prog}: {problem} (see {prog} --help)")
        raise UsageError(" ".join(text.format(prog=self.prog, problem=message).split()))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        self.error(message or _("cannot read the options"))


def split_line(line: str, prog: str) -> list[str]:
    """Shell-like words of a magic line; a UsageError for an unclosed quote."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(_("{prog}: {problem}: close the quote.").format(prog=prog, problem=exc)) from None


def cell_parser() -> argparse.ArgumentParser:
    """The `%%chat` option parser (built per call: the help follows the current language)."""
    localize_argparse()  # argparse's own words ("usage:", its errors) in the user's language too
    parser = _Parser(
        prog="%%chat",
        description=_("Ask the model: the cell body is the prompt; {name} inserts a notebook variable (in prose "
                      "only: code and math are sent as written)."),
        add_help=False,
        allow_abbrev=False,
    )
    add = parser.add_argument
    add("-p", "--provider", metavar="NAME", help=_("provider: yandexgpt, gigachat, openai, echo (%%chat providers)"))
    add("-m", "--model", metavar="NAME", help=_("model name (%%chat models)"))
    add("-t", "--temperature", type=float, metavar="T", help=_("sampling temperature, 0 to 2"))
    add("-n", "--max-tokens", type=int, metavar="N", help=_("answer length limit in tokens"))
    add("--top-p", type=float, metavar="P", help=_("nucleus sampling share, above 0 up to 1"))
    add("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
        help=_("a provider's own option, e.g. -o seed=7 (%%chat options lists them); repeatable"))
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-c", "--chat", metavar="NAME", help=_("use the chat NAME, creating it if needed"))
    where.add_argument("--new", nargs="?", const="", metavar="NAME", help=_("start a new chat (optionally named)"))
    where.add_argument("--no-history", action="store_true", help=_("a one-off question: no context, not saved"))
    add("-s", "--system", metavar="TEXT", help=_("system prompt for this chat"))
    add("--template", metavar="NAME", help=_("wrap the cell in a prompt template (%%chat templates)"))
    add("-f", "--format", choices=FORMATS, help=_("markdown (default), text, or code: the answer's code becomes the "
                                                  "next cell"))
    add("--cache", action="store_true", help=_("reuse the saved answer to an identical request"))
    add("-h", "--help", action="store_true", help=_("show this help"))
    return parser


def parse_options(words: list[str]) -> dict[str, str]:
    """`-o KEY=VALUE` words as {KEY: VALUE} (the engine checks names and values); UsageError for a malformed one."""
    options = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key.strip():
            raise UsageError(_("%%chat: write options as -o KEY=VALUE, e.g. -o seed=7"))
        options[key.strip()] = value.strip()
    return options


def parse_cell_line(line: str) -> argparse.Namespace:
    """The `%%chat` options; UsageError (one line) for anything wrong."""
    parser = cell_parser()
    return parser.parse_args(split_line(line, parser.prog))
