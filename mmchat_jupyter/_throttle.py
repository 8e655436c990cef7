"""Rate limiting for streaming displays, kept apart from render.py so faces can import it without Markdown.

Jupyter Server drops IOPub traffic above 1000 messages/s and every display update resends the whole answer, so the
magic and the widget show at most one update per `interval` (docs/architecture.md, "Rendering and the notebook
display").
"""

from __future__ import annotations

import time

__all__ = ["Throttle"]


class Throttle:
    """Say when a streaming display may update: the first update at once, then at most one per `interval` seconds.

    Callers always send one last update when the stream ends, whatever `ready()` says, so the final text is never
    held back. (If the stream stalls, the newest text waits for the next chunk or for that final update.)

        throttle = Throttle(0.1)
        for chunk in stream:
            renderer.append(chunk.text)
            if throttle.ready():
                show(renderer.html)
        show(renderer.finish())
    """

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float = 0.1) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0, got {interval!r}")
        self.interval = interval
        self._last: float | None = None

    def ready(self, now: float | None = None) -> bool:
        """True if an update may go out at `now` (default: `time.monotonic()`); a True answer counts as sent."""
        if now is None:
            now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True
