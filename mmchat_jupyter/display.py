"""Showing an answer in a notebook as it streams: what `%%chat` and `Chat.ask()` both use.

One output area per answer (`display(..., display_id=True)`): a loading line until the first token, then the
rendered answer, updated at once for the first token and then at most once per `interval` (Jupyter drops IOPub
traffic above 1000 messages/s and every update resends the whole answer), and always a final update. The final
bundle also carries `text/markdown` and `text/plain`, so a saved notebook reads well where our HTML is not shown.

The HTML is safe by construction: render.py's sanitized answer, plus our own wrapper, CSS and escaped footer.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from IPython.core.displaypub import DisplayPublisher
from IPython.display import display

from ._format import format_number, format_seconds
from ._sanitize import CODE_BLOCK_CLASS
from .export.safe_markdown import safe_markdown
from .i18n import _, ngettext
from .render import StreamingRenderer, Throttle, pygments_css, render_markdown
from .types import FINISH_CONTENT_FILTER, FINISH_LENGTH, STATUS_ERROR, STATUS_INTERRUPTED

if TYPE_CHECKING:
    from .session import ChatSession, Turn

__all__ = ["MIN_INTERVAL", "AnswerView", "show_answer", "show_markdown"]

#: The hard cap (docs/architecture.md): never more than 20 display updates a second, whatever the configuration says.
MIN_INTERVAL = 0.05

_CSS = """
.mmchat-footer { margin-top: .4em; font-size: 85%; opacity: .7; }
.mmchat-mark { font-weight: 600; color: #b45309; }
.mmchat-loading { opacity: .7; font-style: italic; }
.mmchat-text { white-space: pre-wrap; margin: 0; }
"""


def _with_style(body: str) -> str:
    """`body` after our CSS; the Pygments colours (~13 KB, saved with every output) only when it has code."""
    highlight = pygments_css() if f'class="{CODE_BLOCK_CLASS}"' in body else ""
    return f"<style>{highlight}{_CSS}</style>{body}"


def live_updates(shell: Any) -> bool:
    """Whether the front end replaces an output in place. A terminal's plain publisher would print every update
    again, so there only the final answer is shown."""
    return shell is not None and type(shell.display_pub) is not DisplayPublisher


class AnswerView:
    """The output area of one answer; `update(turn)` is the engine's `on_update`, `finish(turn)` the last word."""

    def __init__(self, shell: Any, *, format: str = "markdown", interval: float = 0.1) -> None:
        self._markdown = format != "text"
        self._renderer = StreamingRenderer()
        self._throttle = Throttle(max(interval, MIN_INTERVAL))
        self._handle = None
        if live_updates(shell):
            loading = _("Waiting for the answer…")
            bundle = {"text/html": _with_style(f'<div class="mmchat-loading">{html.escape(loading)}</div>'),
                      "text/plain": loading}
            self._handle = display(bundle, raw=True, display_id=True)

    def update(self, turn: Turn) -> None:
        """Take the answer so far; show it if the throttle allows (the first token always goes at once)."""
        self._renderer.follow(turn)
        if self._handle is not None and self._throttle.ready():
            self._handle.update({"text/html": self._html(None)}, raw=True)

    def finish(self, turn: Turn) -> None:
        """Show the final answer with its footer; replaces the streaming output."""
        self._renderer.follow(turn)
        bundle = {"text/html": self._html(turn), "text/plain": turn.text}
        if self._markdown:  # inert: a viewer may prefer it to our HTML (see export.safe_markdown)
            bundle["text/markdown"] = safe_markdown(turn.text)
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            display(bundle, raw=True)

    def discard(self) -> None:
        """Empty the output area (the request failed before it started)."""
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)

    def _html(self, final: Turn | None) -> str:
        """Our CSS, the answer (streaming or final) and, once `final` is given, its footer."""
        if not self._markdown:
            body = f'<pre class="mmchat-text">{html.escape(self._renderer.text)}</pre>'
        else:
            body = self._renderer.finish() if final is not None else self._renderer.html
        if final is not None:
            body += f'<div class="mmchat-footer">{footer_html(final)}</div>'
        return _with_style(body)


def footer_html(turn: Turn) -> str:
    """Provider · model · tokens · time, then what was unusual (interrupted, failed, ...) emphasised; escaped."""
    facts = [fact for fact in (turn.provider, turn.model) if fact]
    if turn.usage is not None:
        total = turn.usage.total_tokens
        facts.append(ngettext("{n} token", "{n} tokens", total).format(n=format_number(total)))
    facts.append(format_seconds(turn.elapsed))
    marks = []
    if turn.cached:
        marks.append(_("cached"))
    if turn.status == STATUS_INTERRUPTED:
        marks.append(_("⏹ interrupted"))
    elif turn.status == STATUS_ERROR:
        marks.append(_("failed"))
    if turn.finish_reason == FINISH_LENGTH:
        marks.append(_("cut off at the token limit"))
    elif turn.finish_reason == FINISH_CONTENT_FILTER:
        marks.append(_("withheld by the content filter"))
    parts = [html.escape(fact) for fact in facts]
    parts += [f'<span class="mmchat-mark">{html.escape(mark)}</span>' for mark in marks]
    return " · ".join(parts)


def show_answer(
    session: ChatSession,
    prompt: str,
    *,
    shell: Any,
    format: str = "markdown",
    interval: float = 0.1,
    **options: Any,
) -> Turn:
    """Ask `session` and show the answer streaming in the current output; returns the finished turn.

    Like `ChatSession.send()`, provider failures and interrupts come back in the turn, not as exceptions.
    """
    view = AnswerView(shell, format=format, interval=interval)
    try:
        turn = session.send(prompt, on_update=view.update, **options)
    except BaseException:
        view.discard()
        raise
    view.finish(turn)
    return turn


def show_markdown(text: str) -> None:
    """Show Markdown we wrote ourselves (listings, transcripts) rendered, with the same CSS as answers."""
    bundle = {"text/html": _with_style(render_markdown(text)), "text/markdown": safe_markdown(text), "text/plain": text}
    display(bundle, raw=True)
