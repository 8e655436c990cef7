"""A chat's summary: what `list_chats()`, usage totals and `--cache` need to know without reading its messages.

    {"count": 1200, "provider": "gigachat", "model": "GigaChat-Pro",
     "usage": [["2026-11-24", "gigachat", "GigaChat-Pro", prompt, completion, total, messages], ...],
     "cache": ["<cache key of a complete answer>", ...]}

Summaries add up: the summary of a chat is the summary of its sealed segments (which its head carries, see
`segments.py`) merged with that of the messages in its head, so an index row never needs more than the head.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..types import STATUS_COMPLETE

Summary = dict[str, Any]
_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def empty() -> Summary:
    return {"count": 0, "provider": None, "model": None, "usage": [], "cache": []}


def of_rows(rows: Iterable[dict[str, Any]]) -> Summary:
    """The summary of message rows (already checked by `records.row_problem`), oldest first."""
    usage: dict[tuple[str, str | None, str | None], list[int]] = {}
    cache: set[str] = set()
    count, last = 0, None
    for row in rows:
        count += 1
        if row.get("provider") or row.get("model"):
            last = row
        counts = row.get("usage")
        if counts:
            key = (str(row.get("created", ""))[:10], row.get("provider"), row.get("model"))
            totals = usage.setdefault(key, [0, 0, 0, 0])
            for i, name in enumerate(_COUNTS):
                totals[i] += int(counts.get(name) or 0)
            totals[3] += 1
        if row.get("cache_key") and row.get("status") == STATUS_COMPLETE:
            cache.add(row["cache_key"])
    return {
        "count": count,
        "provider": last.get("provider") if last else None,
        "model": last.get("model") if last else None,
        "usage": [[*key, *totals] for key, totals in usage.items()],
        "cache": sorted(cache),
    }


def merge(older: Summary, newer: Summary) -> Summary:
    """The summary of two runs of messages, `older` before `newer`."""
    usage: dict[tuple[Any, ...], list[int]] = {}
    for day, provider, model, *counts in [*older["usage"], *newer["usage"]]:
        totals = usage.setdefault((day, provider, model), [0, 0, 0, 0])
        for i, count in enumerate(counts):
            totals[i] += count
    latest = newer if newer["provider"] or newer["model"] else older
    return {
        "count": older["count"] + newer["count"],
        "provider": latest["provider"],
        "model": latest["model"],
        "usage": [[*key, *totals] for key, totals in usage.items()],
        "cache": sorted({*older["cache"], *newer["cache"]}),
    }


def malformed(value: Any) -> bool:
    """Whether a stored summary is not one (a hand edit, bit rot)."""
    if not isinstance(value, dict) or not isinstance(value.get("count"), int):
        return True
    if not isinstance(value.get("usage"), list) or not isinstance(value.get("cache"), list):
        return True
    return not all(isinstance(row, list) and len(row) == 7 for row in value["usage"])
