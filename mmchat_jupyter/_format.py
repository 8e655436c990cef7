"""Numbers, durations and dates as listings show them, in the interface language.

Babel is not a run-time dependency, so this is done by hand: digit grouping and the decimal separator per language,
and month names from the gettext catalog ("24 Nov 2026, 07:12" / "24 ноября 2026, 07:12").
"""

from __future__ import annotations

from datetime import date, datetime

from .i18n import N_, _, get_language

# One whole date pattern per month, so that a translation can decline the month name (Russian: genitive,
# "24 ноября 2026") and put the parts in its own order.
_DATE_PATTERNS = (
    # TRANSLATORS: a date in listings; {day} is the day of the month without a leading zero, {year} four digits.
    N_("{day} Jan {year}"),
    N_("{day} Feb {year}"),
    N_("{day} Mar {year}"),
    N_("{day} Apr {year}"),
    N_("{day} May {year}"),
    N_("{day} Jun {year}"),
    N_("{day} Jul {year}"),
    N_("{day} Aug {year}"),
    N_("{day} Sep {year}"),
    N_("{day} Oct {year}"),
    N_("{day} Nov {year}"),
    N_("{day} Dec {year}"),
)

# Thousands separator and decimal mark per language (Russian: a narrow no-break space and a comma).
_SEPARATORS = {"en": (",", "."), "ru": ("\u202f", ",")}


def _separators() -> tuple[str, str]:
    return _SEPARATORS.get(get_language(), _SEPARATORS["en"])


def format_number(n: int) -> str:
    """12345 -> '12,345' (Russian groups with a narrow no-break space: '12 345')."""
    group, _decimal = _separators()
    return f"{n:,}".replace(",", group)


def format_decimal(x: float, digits: int = 1) -> str:
    """0.43 -> '0.4' ('0,4' in Russian), grouped like format_number."""
    group, decimal = _separators()
    return f"{x:,.{digits}f}".replace(",", "\0").replace(".", decimal).replace("\0", group)


def format_seconds(seconds: float) -> str:
    """0.43 -> '0.4 s'; Russian uses a decimal comma ('0,4 с')."""
    text = _("{seconds:.1f} s").format(seconds=seconds)
    return text.replace(".", _separators()[1])


def _day(day: date) -> str:
    return _(_DATE_PATTERNS[day.month - 1]).format(day=day.day, year=day.year)


def format_date(day: str | date) -> str:
    """A stored day ('2024-05-01') as listings show it ('1 May 2024', '1 мая 2024'); unparsable text as it is."""
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(day)
        except (TypeError, ValueError):
            return str(day)
    return _day(day)


def format_datetime(iso: str | datetime) -> str:
    """A stored ISO 8601 timestamp in the local time zone, to the minute ('24 Nov 2026, 07:12',
    '24 ноября 2026, 07:12'); a naive one is shown as it is; unparsable text as it is."""
    moment = iso
    if not isinstance(moment, datetime):
        try:
            moment = datetime.fromisoformat(moment)
        except (TypeError, ValueError):
            return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    # TRANSLATORS: a date and a time of day in listings: "24 Nov 2026, 07:12".
    return _("{date}, {time}").format(date=_day(moment.date()), time=moment.strftime("%H:%M"))


def excerpt(text: str, needle: str, width: int = 80) -> str:
    """A one-line excerpt of `text`, at most `width` characters plus "…" marks, around the first match of `needle`,
    matched casefolded as the history's search matches (the start of `text` when nothing matches). What a chat
    search shows under each chat, in the panel and in the server API."""
    flat = " ".join(text.split())
    key = " ".join(needle.split()).casefold()
    folded = flat.casefold()
    found = max(folded.find(key), 0)
    if len(folded) != len(flat):  # "ß" folds to "ss": count the original characters up to the match
        at = length = 0
        while length < found:
            length += len(flat[at].casefold())
            at += 1
        found = at
    start = max(found - width // 3, 0)
    return ("…" if start else "") + flat[start : start + width] + ("…" if start + width < len(flat) else "")
