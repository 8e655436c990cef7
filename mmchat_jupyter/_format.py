"""Numbers, durations and dates as listings show them; one place so they can follow the language later."""

from __future__ import annotations

from datetime import date, datetime

from .i18n import _, get_language


def format_number(n: int) -> str:
    """12345 -> '12,345' (Russian groups with a narrow no-break space: '12 345')."""
    text = f"{n:,}"
    return text.replace(",", "\u202f") if get_language() == "ru" else text


def format_seconds(seconds: float) -> str:
    """0.43 -> '0.4 s'; Russian uses a decimal comma."""
    text = _("{seconds:.1f} s").format(seconds=seconds)
    return text.replace(".", ",") if get_language() == "ru" else text


def format_date(day: str) -> str:
    """A stored day ('2024-05-01') as listings show it ('01.05.2024' in Russian); unparsable text as it is."""
    try:
        parsed = date.fromisoformat(day)
    except (TypeError, ValueError):
        return str(day)
    return parsed.strftime("%d.%m.%Y" if get_language() == "ru" else "%Y-%m-%d")


def format_datetime(iso: str) -> str:
    """A stored ISO 8601 UTC timestamp in the local time zone, to the minute; unparsable text as it is."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%d.%m.%Y %H:%M" if get_language() == "ru" else "%Y-%m-%d %H:%M")
