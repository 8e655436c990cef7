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
import signal
import sys
import threading
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

__all__ = ["GUARD", "CellGuard", "ChatMagics", "code_of", "install", "keep_empty_chat_cells", "uninstall"]

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
    """What `%load_ext` adds besides the magics: the empty-cell transformer, and the guard that turns an interrupt
    landing in a %%chat cell outside the magic's own work (while IPython runs the cell around it) into one line."""
    if keep_empty_chat_cells not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(keep_empty_chat_cells)
    for event, callback in (("pre_run_cell", GUARD.pre_run_cell), ("post_execute", GUARD.post_execute)):
        if callback not in shell.events.callbacks[event]:
            shell.events.register(event, callback)


def uninstall(shell: Any) -> None:
    if keep_empty_chat_cells in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(keep_empty_chat_cells)
    for event, callback in (("pre_run_cell", GUARD.pre_run_cell), ("post_execute", GUARD.post_execute)):
        if callback in shell.events.callbacks[event]:
            shell.events.unregister(event, callback)


class CellGuard:
    """Holds SIGINT back for the whole of a %%chat cell except the magic's own work (`live()`), where it stops the
    answer as it should. An interrupt held before the magic starts means "don't ask" (one line, nothing saved); one
    held after it ends comes too late to stop anything and is dropped. The kernel's own handler is back once the
    cell is over (`post_execute` always fires)."""

    def __init__(self) -> None:
        self.previous: Any = None
        self.active = False
        self.held = False

    def pre_run_cell(self, info: Any) -> None:
        if not re.match(r"\s*%%chat(\s|$)", info.raw_cell or ""):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            self.previous = signal.signal(signal.SIGINT, self._hold)
        except ValueError:  # not the main interpreter: nothing to guard
            return
        self.active, self.held = True, False

    def post_execute(self) -> None:
        if self.active:
            self.active = False
            signal.signal(signal.SIGINT, self.previous)

    def _hold(self, _signum: int, _frame: Any) -> None:
        self.held = True

    def take_held(self) -> bool:
        held, self.held = self.held, False
        return held

    @contextmanager
    def live(self) -> Iterator[None]:
        """Interrupts raise KeyboardInterrupt again while the magic works."""
        if not self.active:
            yield
            return
        signal.signal(signal.SIGINT, self.previous)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._hold)


GUARD = CellGuard()


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
        if GUARD.take_held():  # interrupted before the magic began: nothing was asked or saved
            print(_("Interrupted before the question was sent: nothing was saved."), file=sys.stderr)
            return
        try:
            with GUARD.live():
                self._ask(line, cell)
        except KeyboardInterrupt:
            # Before the question was saved, or between two steps after it: either way history is consistent
            # (question and answer both saved and marked, or neither); say so in one line, not a traceback.
            print(_("Interrupted."), file=sys.stderr)

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
