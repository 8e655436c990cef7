"""Showing an answer in a notebook as it streams: what `%%chat` and `Chat.ask()` both use.

`%%chat` owns its cell's output, so while an answer streams the bytes sent to the browser do not grow with it:

    output 1   the first finished blocks + <style> (sent once)  never updated again once the next output exists
    output 2   more finished blocks                             ...
    output n   the open tail: the only output that is updated (display_id), at most once per `interval`

When blocks finish, the tail output is updated one last time to hold exactly them and a new tail output starts
below it, so a finished block travels about once and each update carries only the open tail (bounded by the
renderer, see render._streaming). Tail updates are also paced by size: one goes out when the text that arrived
since the previous one is at least as long as the tail it would resend (the first token, and every update of a
small tail, still go at once), so the tail's traffic stays within the answer's own size.

At the end the cell is consolidated into ONE output, exactly as a saved notebook has always had it: our CSS, the
answer's HTML (`render_markdown`, one piece), the footer, plus `text/markdown` (made inert by
`export.safe_markdown`) and `text/plain`, so the notebook reads well where our HTML is not shown. That is
`clear_output(wait=True)` followed by that bundle: anything else printed into a `%%chat` cell must come after the
answer (as its one-line error does).

`Chat.ask()` runs inside the user's own cell, whose earlier output must not be cleared: it keeps one output that
is updated as a whole (throttled), with the same final bundle. In a terminal only the final answer is shown.
The HTML is safe by construction: render.py's sanitized blocks, plus our own wrapper, CSS and escaped footer.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from IPython.core.displaypub import DisplayPublisher
from IPython.display import clear_output, display

from ._format import format_number, format_seconds
from ._sanitize import CODE_BLOCK_CLASS
from .export.safe_markdown import safe_markdown
from .i18n import _, ngettext
from .render import BlockUpdate, StreamingRenderer, Throttle, pygments_css, render_markdown, wrap_html
from .types import FINISH_CONTENT_FILTER, FINISH_LENGTH, STATUS_ERROR, STATUS_INTERRUPTED

if TYPE_CHECKING:
    from IPython.core.display_functions import DisplayHandle

    from .session import ChatSession, Turn

__all__ = ["MIN_INTERVAL", "AnswerView", "show_answer", "show_markdown"]

#: The hard cap (docs/architecture.md): never more than 20 display updates a second, whatever the configuration says.
MIN_INTERVAL = 0.05

#: A tail update waits for new text at least this many times its own length (see the module docstring)...
PACE = 1.0
#: ... but never longer than this many seconds.
MAX_WAIT = 1.5

#: The footer is dimmed through its text colour, not opacity, so the mark keeps a colour of its own; each reaches
#: 4.5:1 (WCAG AA) on JupyterLab Light and Dark (tests/e2e/test_chat_footer.py measures it in Chromium). Browsers
#: without color-mix() show the footer undimmed.
_CSS = """
.mmchat-footer { margin-top: .4em; font-size: 85%; color: inherit;
  color: color-mix(in srgb, currentColor 75%, transparent); }
.mmchat-mark { font-weight: 600; color: #9a3412; }
[data-jp-theme-light="false"] .mmchat-mark, .vscode-dark .mmchat-mark { color: #fdba74; }
.mmchat-loading { opacity: .7; font-style: italic; }
.mmchat-text { white-space: pre-wrap; margin: 0; }
.mmchat-md .mmchat-cut { margin-bottom: 0 !important; border-bottom-left-radius: 0; border-bottom-right-radius: 0; }
.mmchat-md .mmchat-cont { margin-top: 0 !important; border-top: 0; border-top-left-radius: 0;
  border-top-right-radius: 0; }
.mmchat-md .mmchat-display { display: block; overflow-x: auto; }
"""


def _style(highlight: bool) -> str:
    """Our CSS; the Pygments colours (~13 KB, saved with the output) only when the answer has code."""
    return f"<style>{pygments_css() if highlight else ''}{_CSS}</style>"


def _with_style(body: str) -> str:
    return _style(f'class="{CODE_BLOCK_CLASS}' in body) + body


def live_updates(shell: Any) -> bool:
    """Whether the front end replaces an output in place. A terminal's plain publisher would print every update
    again, so there only the final answer is shown."""
    return shell is not None and type(shell.display_pub) is not DisplayPublisher


class AnswerView:
    """The output of one answer; `update(turn)` is the engine's `on_update`, `finish(turn)` the last word.

    `own_output`: the whole cell output is this answer's (`%%chat`), so it may stream finished blocks as outputs
    of their own and consolidate them at the end; otherwise (`Chat.ask()` in a user's cell) one output is updated.
    """

    def __init__(self, shell: Any, *, format: str = "markdown", interval: float = 0.1,
                 own_output: bool = False) -> None:
        self._markdown = format != "text"
        self._renderer = StreamingRenderer()
        self._throttle = Throttle(max(interval, MIN_INTERVAL))
        self._live = live_updates(shell)
        self._blocks = self._live and self._markdown and own_output
        self._handle: DisplayHandle | None = None
        self._tail: list[str] = []  # the blocks the tail output shows
        # The renderer's blocks below the frozen outputs, as its last update() reported them: its reports are
        # relative to that, not to what the tail shows, which lags behind whenever an update is paced out.
        self._open: list[str] = []
        self._frozen = 0  # blocks already in outputs above the tail output
        self._frozen_bytes = 0  # their HTML's size
        self._arrived = 0  # characters received since the last tail update
        self._received = 0  # characters received in all
        self._last = 0.0
        if self._live:
            loading = _("Waiting for the answer…")
            bundle = {"text/html": _style(False) + f'<div class="mmchat-loading">{html.escape(loading)}</div>',
                      "text/plain": loading}
            self._handle = display(bundle, raw=True, display_id=True)

    def update(self, turn: Turn) -> None:
        """Take the answer so far; show it if the throttle allows (the first token always goes at once)."""
        self._renderer.follow(turn)
        arrived = len(turn.last.text) if turn.last is not None else 0  # not len(text): that would join it all
        self._arrived += arrived
        self._received += arrived
        if self._handle is None:
            return
        if self._blocks:
            self._update_blocks()
        elif self._throttle.ready():
            self._handle.update({"text/html": self._html(None)}, raw=True)

    def finish(self, turn: Turn) -> None:
        """Show the final answer with its footer, as one output (the streaming outputs give way to it)."""
        self._renderer.follow(turn)
        bundle = {"text/html": self._html(turn), "text/plain": turn.text}
        if self._markdown:  # inert: a viewer may prefer it to our HTML (see export.safe_markdown)
            bundle["text/markdown"] = safe_markdown(turn.text)
        if self._handle is None:
            display(bundle, raw=True)
        elif self._blocks:
            clear_output(wait=True)
            display(bundle, raw=True)
        else:
            self._handle.update(bundle, raw=True)

    def discard(self) -> None:
        """Empty the output (the request failed before it started)."""
        if self._blocks:
            clear_output()
        elif self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)

    # -- %%chat: finished blocks in outputs of their own, only the tail updated ---------------------------------

    def _update_blocks(self) -> None:
        if not self._throttle.ready():
            return
        change = self._renderer.update()
        if change.first < self._frozen:  # the provider rewrote text already in frozen outputs: start over
            clear_output(wait=True)
            self._frozen, self._frozen_bytes, self._tail, self._open = 0, 0, [], []
            self._handle = display({"text/html": ""}, raw=True, display_id=True)
            change = BlockUpdate(0, self._renderer.blocks, change.finished)
        self._open = tail = self._open[:change.first - self._frozen] + list(change.blocks)
        finished = change.finished - self._frozen
        if 0 < finished < len(tail):  # the tail output freezes with the blocks that finished in it
            self._show(tail[:finished], style=self._frozen == 0)  # the first keeps our CSS for all below it
            self._frozen += finished
            self._frozen_bytes += sum(map(len, tail[:finished]))
            self._open = self._tail = tail = tail[finished:]
            self._handle = display({"text/html": wrap_html("".join(tail))}, raw=True, display_id=True)
            self._sent()
        elif tail != self._tail and self._paced(tail):
            self._show(tail)
            self._tail = tail
            self._sent()

    def _paced(self, tail: list[str]) -> bool:
        """Resend the tail once about as much new text arrived as it holds (or after MAX_WAIT); see the docstring."""
        size = sum(map(len, tail))
        ratio = (self._frozen_bytes + size) / max(self._received, 1)  # HTML bytes per character of the answer
        return not self._tail or size <= PACE * ratio * self._arrived or time.monotonic() - self._last >= MAX_WAIT

    def _sent(self) -> None:
        self._arrived, self._last = 0, time.monotonic()

    def _show(self, blocks: list[str], style: bool = False) -> None:
        assert self._handle is not None
        body = wrap_html("".join(blocks))
        self._handle.update({"text/html": _style(True) + body if style else body}, raw=True)

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
        marks.append(_("interrupted"))
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
    own_output: bool = False,
    **options: Any,
) -> Turn:
    """Ask `session` and show the answer streaming in the current output; returns the finished turn.

    `own_output=True` when the cell's whole output is this answer's (`%%chat`): see the module docstring.
    Like `ChatSession.send()`, provider failures and interrupts come back in the turn, not as exceptions.
    """
    view = AnswerView(shell, format=format, interval=interval, own_output=own_output)
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
