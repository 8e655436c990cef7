"""`%%chat` and `%chat`: the notebook face of the engine (`ChatSession`).

    %%chat [-p PROVIDER] [-m MODEL] [-c NAME | --new [NAME] | --no-history] [-f markdown|text|code] ...
    the cell body is the prompt; {name} inserts a notebook variable, {In[3]}/{Out[3]} a cell

    %chat list | new | use | rename | delete | clear | show | providers | models | set | templates | usage
          | panel | export | help

`%config ChatMagics.*` (this class is a traitlets Configurable, like jupysql's SqlMagic) sets this kernel's
defaults: the "kernel" layer of the one settings precedence (see `_settings`), so `Chat()` and the panel in this
kernel use them too, and a cell's own options win over them. Importing this module stays cheap so that
`%load_ext mmchat_jupyter` is: the engine, the renderer, the widget and exports are imported on first use.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Enum, Float, Int, Unicode, observe
from traitlets.config import Configurable

from ._magic_args import FORMATS, parse_cell_line, parse_options, split_line
from .errors import MMChatError
from .i18n import _
from .types import STATUS_COMPLETE

#: The traits that are settings: this kernel's layer of the settings precedence.
KERNEL_SETTINGS = ("provider", "model", "temperature", "max_tokens", "top_p")

if TYPE_CHECKING:
    from argparse import Namespace

    from .session import ChatSession, Turn

__all__ = ["ChatMagics", "code_of", "install", "keep_empty_chat_cells", "uninstall"]

# A fenced code block: the fence, an optional info string, the code, and the same fence closing it.
_CODE_BLOCK = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)


@contextmanager
def user_errors() -> Iterator[None]:
    """Our errors as IPython's UsageError: one line, no traceback."""
    try:
        yield
    except MMChatError as exc:
        raise UsageError(str(exc)) from None


def install(shell: Any) -> None:
    """What `%load_ext` adds besides the magics: the empty-cell transformer, and one line for a %%chat cell stopped
    by an interrupt that lands outside the magic (while IPython itself runs the cell, before or after it)."""
    if keep_empty_chat_cells not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(keep_empty_chat_cells)
    if _note_cell not in shell.events.callbacks["pre_run_cell"]:
        shell.events.register("pre_run_cell", _note_cell)
    if not shell.custom_exceptions:  # another extension's handler stays theirs
        shell.set_custom_exc((KeyboardInterrupt,), _interrupted)


def uninstall(shell: Any) -> None:
    if keep_empty_chat_cells in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(keep_empty_chat_cells)
    if _note_cell in shell.events.callbacks["pre_run_cell"]:
        shell.events.unregister("pre_run_cell", _note_cell)
    if shell.custom_exceptions == (KeyboardInterrupt,):
        shell.set_custom_exc((), None)


_running = {"chat_cell": False}


def _note_cell(info: Any) -> None:
    _running["chat_cell"] = bool(re.match(r"\s*%%chat(\s|$)", info.raw_cell or ""))


def _interrupted(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    """An interrupt that escaped a cell: one line for a %%chat cell (history is consistent whatever the moment:
    the question and its answer record are written together), IPython's usual traceback for any other cell."""
    if _running["chat_cell"]:
        print(_("⏹ Stopped."), file=sys.stderr)
    else:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return []


def keep_empty_chat_cells(lines: list[str]) -> list[str]:
    """An input transformer: a `%%chat` cell with no body still reaches the magic, so that `%%chat --help` alone
    prints the help, and an empty question gets our one line, not IPython's "the cell body is empty"."""
    if lines and re.match(r"%%chat(\s|$)", lines[0]) and all(not line.strip() for line in lines[1:]):
        return [lines[0] if lines[0].endswith("\n") else lines[0] + "\n", "\n"]
    return lines


def code_of(answer: str) -> str:
    """The code in an answer: its fenced blocks joined by blank lines, or the whole answer when it has none."""
    blocks = [match.group(2).rstrip("\n") for match in _CODE_BLOCK.finditer(answer)]
    return "\n\n".join(blocks) if blocks else answer.strip()


@magics_class
class ChatMagics(Magics, Configurable):
    """`%%chat` asks the model; `%chat` manages chats and settings. Configurable with `%config ChatMagics.*`."""

    provider = Unicode("", help="This kernel's provider, unless a cell or a panel chooses another.").tag(config=True)
    model = Unicode("", help="This kernel's model (with the provider in effect).").tag(config=True)
    temperature = Float(None, allow_none=True, help="This kernel's temperature.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="This kernel's answer length limit.").tag(config=True)
    top_p = Float(None, allow_none=True, help="This kernel's nucleus sampling share.").tag(config=True)
    format = Enum(FORMATS, default_value="markdown", help="How answers are shown when the cell gives no -f.").tag(
        config=True
    )
    update_interval = Float(
        0.1, min=0.05, help="Seconds between display updates while an answer streams (at most 20 a second)."
    ).tag(config=True)

    def __init__(self, shell: Any = None, session: ChatSession | None = None, **kwargs: Any) -> None:
        # Magics registers the instance with shell.configurables (for %config) and takes the shell's config.
        super().__init__(shell=shell, **kwargs)
        self._session = session
        for name in KERNEL_SETTINGS:
            self._kernel_setting({"name": name, "new": getattr(self, name)})

    @observe(*KERNEL_SETTINGS)
    def _kernel_setting(self, change: Any) -> None:
        from .config import KERNEL

        KERNEL[change["name"]] = change["new"] if change["new"] not in ("", None) else None

    @property
    def session(self) -> ChatSession:
        """The engine: the kernel's shared session (the panel and `Chat()` use it too), made on first use."""
        if self._session is None:
            from .session import default_session

            self._session = default_session()
        return self._session

    @session.setter
    def session(self, session: ChatSession) -> None:
        self._session = session

    # -- %%chat ---------------------------------------------------------------------------------------------------

    # IPython would fill {x} and $x in the line itself; templates and system prompts contain braces of their own.
    @no_var_expand
    @cell_magic("chat")  # type: ignore[arg-type]  # IPython types cell_magic(name) as `_F | Callable[[_F], _F]`
    def chat_cell(self, line: str, cell: str) -> None:
        """Ask the model: the cell body is the prompt (`%chat help` lists the options)."""
        try:
            self._ask(line, cell)
        except KeyboardInterrupt:
            # Before the question was saved, or between two steps after it: either way history is consistent
            # (question and answer both saved and marked, or neither); say so in one line, not a traceback.
            print(_("⏹ Stopped."), file=sys.stderr)

    def _ask(self, line: str, cell: str) -> None:
        with user_errors():
            args = parse_cell_line(line)
            if args.help:
                from ._magic_args import cell_parser

                print(cell_parser().format_help().rstrip())
                return
            prompt = self._prompt(cell)
            session = self.session
            from .display import show_answer

            fmt = args.format or self.format
            try:
                turn = show_answer(session, prompt, shell=self.shell, format=fmt, interval=self.update_interval,
                                   own_output=True, **self._options(args))
            finally:  # after the answer, which owns the cell's output; also when the request was refused
                for notice in session.notices():
                    print(notice, file=sys.stderr)
        self._after(turn, fmt)

    def _prompt(self, cell: str) -> str:
        from .interpolate import interpolate

        # IPython ends every cell body with a newline of its own; the prompt is what was typed.
        assert self.shell is not None  # a magic runs in the shell that loaded it
        prompt = interpolate(cell.removesuffix("\n"), self.shell.user_ns)
        if not prompt.strip():
            raise UsageError(_("%%chat: write the question in the cell, below the %%chat line."))
        return prompt

    @staticmethod
    def _options(args: Namespace) -> dict[str, Any]:
        """The cell's options for the engine (the call layer); what the cell leaves out comes from the layers
        below, %config ChatMagics.* among them."""
        options: dict[str, Any] = {
            **parse_options(args.option),
            "provider": args.provider,
            "model": args.model,
            "temperature": args.temperature,
            "max_tokens": args.max_tokens,
            "top_p": args.top_p,
            "system": args.system,
            "template": args.template,
            "cache": args.cache,
        }
        if args.no_history:
            options["save"] = False
        elif args.chat is not None:
            options["chat"] = args.chat
        elif args.new is not None:
            options["new_chat"] = args.new or True
        if not args.cache:
            del options["cache"]
        return {key: value for key, value in options.items() if value is not None}

    def _after(self, turn: Turn, fmt: str) -> None:
        """Say what went wrong in one line (the partial answer is already shown and saved); insert code."""
        if turn.error:
            print(turn.error, file=sys.stderr)
        elif turn.save_error is not None:
            print(turn.save_error.message, file=sys.stderr)
        elif fmt == "code" and turn.status == STATUS_COMPLETE and turn.text.strip():
            assert self.shell is not None
            self.shell.set_next_input(code_of(turn.text), replace=False)

    # -- %chat ----------------------------------------------------------------------------------------------------

    @no_var_expand
    @line_magic("chat")  # type: ignore[arg-type]  # the same for line_magic(name)
    def chat_line(self, line: str) -> None:
        """Manage chats and settings: `%chat help` lists the subcommands."""
        words = split_line(line, "%chat")
        from ._commands import Commands

        with user_errors():
            Commands(self.session).run(words[0] if words else "help", words[1:])
