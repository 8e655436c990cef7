"""The answer in flight as the panel's `delta` messages: whole sanitized blocks keyed by index, never cut strings.

The streaming renderer reports after each update which top-level blocks changed (`StreamingRenderer.update()`:
the first changed index and the HTML of every block from there on, each sanitized as a whole). A delta carries
exactly that, and the front end replaces its blocks from that index on (`foldStream` in static/panel.js). Nothing
is ever sliced by an offset, so there is no character counting for Python and JavaScript to disagree on (they
count non-BMP characters differently), and the browser's DOM only ever holds markup the sanitizer saw whole.

Each delta also carries the CRC-32 of the whole answer's HTML as the front end must have it after applying the
delta, over UTF-16 code units (what a JavaScript string is made of). A front end that ends up with anything else
(a lost or reordered message, a bug) shows nothing of it and asks for a resync: the whole answer, from block 0.
CRCs are kept per block, so a delta costs what changed, not the answer's length.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from ._throttle import Throttle
from .render import StreamingRenderer

if TYPE_CHECKING:
    from .types import Completion

#: At most one delta per this many seconds (docs/architecture.md: about 10 updates/s, cap 20); the first goes at once.
DELTA_INTERVAL = 0.1


def block_crc(html: str, crc: int = 0) -> int:
    """CRC-32 of `html` as UTF-16LE code units, continuing `crc` (panel.js `crc32` computes the same)."""
    return zlib.crc32(html.encode("utf-16-le", "surrogatepass"), crc)


class AnswerStream:
    """One answer's `delta` messages for the front end, throttled."""

    def __init__(self, turn: int, interval: float = DELTA_INTERVAL) -> None:
        self.turn = turn
        self.seq = 0
        self.renderer = StreamingRenderer()
        self.throttle = Throttle(interval)
        self._crcs: list[int] = []  # _crcs[i]: CRC of blocks 0..i as last sent

    def update(self, answer: Completion) -> dict[str, Any] | None:
        """Take the answer so far (no render until a delta is due); a delta message when one is due, else None."""
        self.renderer.follow(answer)
        return self.delta() if self.throttle.ready() else None

    def delta(self, resend: bool = False) -> dict[str, Any]:
        """The blocks that changed since the last delta; `resend` sends every block (the front end saw a gap)."""
        change = self.renderer.update()
        first, blocks = (0, self.renderer.blocks) if resend else (change.first, change.blocks)
        return self._message(first, blocks)

    def _message(self, first: int, blocks: tuple[str, ...]) -> dict[str, Any]:
        crcs = self._crcs[:first]
        crc = crcs[-1] if crcs else 0
        for block in blocks:
            crc = block_crc(block, crc)
            crcs.append(crc)
        self._crcs = crcs
        self.seq += 1
        return {"type": "delta", "turn": self.turn, "seq": self.seq, "at": first, "blocks": list(blocks), "crc": crc}
