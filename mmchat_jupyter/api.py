"""`Chat`: the same engine as `%%chat`, for people who prefer code to magics.

    chat = Chat("research", provider="gigachat", temperature=0.2)
    reply = chat.ask("What is a monad?")        # the text; in a notebook also shown rendered, as %%chat shows it
    for delta in chat.stream("And a functor?"):  # text as it arrives; saved to history like the rest
        print(delta, end="")
    chat.history                                # the stored messages

Every option a `%%chat` cell takes is a keyword here, checked the same way (an unknown one is `UnknownOption`, a
TypeError too): provider, model, temperature, max_tokens, top_p, the provider's own options (`seed=7`), system,
template, save, cache. Options given to `Chat(...)` apply to every question; a call's own override them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from .i18n import _
from .session import ChatSession, default_session
from .types import MessageRecord

__all__ = ["Answer", "Chat"]


def _shell() -> Any:
    """The running IPython, if any; a plain script never imports IPython for this."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class Answer(str):
    """An answer's text. In a notebook `ask()` has already shown it rendered as it streamed, so as the last value of
    that same cell it is not shown a second time; anywhere else it is the plain string it is."""

    _shown_in: int | None = None

    def _ipython_display_(self) -> None:
        shell = _shell()
        if shell is not None and self._shown_in == shell.execution_count:
            return
        from IPython.display import display

        display(str(self))


class Chat:
    """A chat to ask from Python code.

    `name` picks the chat (created on the first question if new); without one, `Chat()` continues the kernel's
    current chat, the one `%%chat` and the panel use. `provider`, `model` and `options` apply to every question
    asked through this object; each call may override them.
    """

    def __init__(
        self,
        name: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        *,
        session: ChatSession | None = None,
        **options: Any,
    ) -> None:
        self.session = session or (default_session() if name is None else ChatSession(name))
        if name is not None and session is not None:
            self.session.use_chat(name)
        self.provider, self.model = provider, model
        self.options = {k: v for k, v in {"provider": provider, "model": model, **options}.items() if v is not None}
        self.session.resolve(**self.options)  # a mistake is reported here, not at the first question

    def __repr__(self) -> str:
        return f"Chat({self.name!r}, provider={self.provider!r}, model={self.model!r})"

    @property
    def name(self) -> str:
        """The chat's name (it can be renamed with `%chat rename`)."""
        return self.session.chat.name

    @property
    def history(self) -> list[MessageRecord]:
        """The chat's stored messages, oldest first."""
        return self.session.chat.messages

    def clear(self) -> int:
        """Remove the chat's messages, keeping the chat; returns how many were removed."""
        return self.session.clear()

    def ask(self, prompt: str, **options: Any) -> Answer:
        """Ask and return the answer's text; in a notebook the answer also streams into the cell's output.

        Raises the `ProviderError` when the provider call fails (what arrived before is saved); in a notebook it
        shows as its one line. An interrupt (Ctrl-C, the notebook's Stop) returns the partial text, saved as
        interrupted.
        """
        merged = {**self.options, **options}
        shell = _shell()
        if shell is None:
            turn = self.session.send(prompt, **merged)
        else:
            from .display import show_answer

            try:
                turn = show_answer(self.session, prompt, shell=shell, **merged)
            except KeyboardInterrupt:
                print(_("Interrupted."), file=sys.stderr)
                return Answer("")
            for notice in self.session.notices():
                print(notice, file=sys.stderr)
        if turn.exception is not None:
            raise turn.exception
        answer = Answer(turn.text)
        if shell is not None:
            answer._shown_in = shell.execution_count
        return answer

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """Ask and yield the answer's text as it arrives (nothing is displayed); saved to history as it grows.

        Raises the `ProviderError` when the provider call fails; stopping early keeps the partial answer.
        """
        return self.session.stream(prompt, **{**self.options, **options})
