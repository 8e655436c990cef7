"""`Chat`: the same engine as `%%chat`, for people who prefer code to magics.

    chat = Chat("research", provider="gigachat", temperature=0.2)
    reply = chat.ask("What is a monad?")        # the text; in a notebook also shown rendered, as %%chat shows it
    for delta in chat.stream("And a functor?"):  # text as it arrives; saved to history like the rest
        print(delta, end="")
    chat.history                                # the stored messages
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from .session import ChatSession, default_session
from .types import MessageRecord

__all__ = ["Chat"]

#: Keyword options a call may give (the rest of the engine's options are the constructor's).
PARAMS = frozenset({"temperature", "max_tokens", "system", "cache", "save"})


def _checked(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; use any of {', '.join(sorted(PARAMS))}")
    return params


def _shell() -> Any:
    """The running IPython, if any; a plain script never imports IPython for this."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class Chat:
    """A chat to ask from Python code.

    `name` picks the chat (created if new); without one, `Chat()` continues the kernel's current chat, the one
    `%%chat` and the panel use. `provider`, `model` and `params` (temperature, max_tokens, system, cache, save)
    apply to every question asked through this object; each call may override `params`.
    """

    def __init__(
        self,
        name: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        *,
        session: ChatSession | None = None,
        **params: Any,
    ) -> None:
        self.session = session or (default_session() if name is None else ChatSession())
        if name is not None:
            self.session.use_chat(name)
        self.provider, self.model, self.params = provider, model, _checked(params)

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

    def ask(self, prompt: str, **params: Any) -> str:
        """Ask and return the answer's text; in a notebook the answer also streams into the cell's output.

        Raises the `ProviderError` when the provider call fails (what arrived before is saved). An interrupt
        (Ctrl-C, the notebook's Stop) returns the partial text, saved as interrupted.
        """
        options = self._options(params)
        shell = _shell()
        if shell is None:
            turn = self.session.send(prompt, **options)
        else:
            from .display import show_answer

            turn = show_answer(self.session, prompt, shell=shell, **options)
        if turn.exception is not None:
            raise turn.exception
        return turn.text

    def stream(self, prompt: str, **params: Any) -> Iterator[str]:
        """Ask and yield the answer's text as it arrives (nothing is displayed); saved to history as it grows.

        Raises the `ProviderError` when the provider call fails; stopping early keeps the partial answer.
        """
        return self.session.stream(prompt, **self._options(params))

    def _options(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, **self.params, **_checked(params)}
