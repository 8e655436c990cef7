"""Who may use which model, and how much: the gateway's limits per user and per hub group, and the decision to let
one request through. Pure: the counts come from the ledger, the clock from the caller.

    c.MMChatGateway.limits = {
        "*":              {"tokens_per_day": 20_000, "requests_per_minute": 10, "concurrent_streams": 2,
                           "models": ["yandexgpt/*"]},
        "group:analysts": {"tokens_per_day": 100_000, "models": ["yandexgpt/*", "gigachat/*"],
                           "group_tokens_per_month": 3_000_000},
        "user:alice":     {"tokens_per_day": 500_000},
    }

A user's limits, field by field: their own `user:` entry; else the most generous value among the `group:` entries
of their hub groups that set it (for `models`: every pattern of those entries); else `*`; else no limit.
`group_tokens_per_day` / `group_tokens_per_month` are a budget the whole group shares. A request counts under one
group (usage is reported per group): the first of the user's groups, by name, that has an entry, else the first of
their groups; its budget is the one checked.

Tokens are reserved before a request goes upstream (the prompt's estimate plus the answer's `max_tokens`, or
`answer_reserve` when it has none) and settled to the provider's count afterwards, so concurrent requests, on any
number of replicas, cannot together overdraw a budget. When less is left than a request would reserve, the answer is
capped to what is left; when not even a short answer fits, the request is refused until the window resets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Per-user limits: an entry for a user, a group (then for each member) or everyone ("*").
USER_FIELDS = ("tokens_per_day", "tokens_per_month", "requests_per_minute", "concurrent_streams", "max_tokens")
#: Budgets of a whole group, only in `group:` entries.
GROUP_FIELDS = ("group_tokens_per_day", "group_tokens_per_month")
#: A request is refused rather than capped when fewer tokens than this are left for its answer.
MIN_ANSWER_TOKENS = 16
#: Retry-After for a refusal over the concurrent-streams limit: streams end at no predictable time.
STREAMS_RETRY_AFTER = 5.0


class LimitsConfigError(ValueError):
    """`c.MMChatGateway.limits` is malformed; the message names the entry and says what is wrong."""


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one user (None: no limit). `models` holds fnmatch patterns of model ids."""

    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    max_tokens: int | None = None
    models: tuple[str, ...] | None = None
    group_tokens_per_day: int | None = None
    group_tokens_per_month: int | None = None

    def allows(self, model_id: str) -> bool:
        return self.models is None or any(fnmatchcase(model_id, pattern) for pattern in self.models)

    @property
    def metered(self) -> bool:
        """Whether a request must be admitted through the shared ledger (anything counted across requests)."""
        counted = ("tokens_per_day", "tokens_per_month", "requests_per_minute", "concurrent_streams", *GROUP_FIELDS)
        return any(getattr(self, name) is not None for name in counted)

    def as_dict(self) -> dict[str, Any]:
        """The limits that are set, for `GET /usage/me`."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        if self.models is not None:
            out["models"] = list(self.models)
        return out


@dataclass(frozen=True)
class Caller:
    """Who is asking: the hub user (or `service:NAME`), their hub groups, the group they count under, and limits."""

    name: str
    groups: tuple[str, ...]
    group: str
    limits: Limits


class Policy:
    """`c.MMChatGateway.limits`, validated once, resolved per caller."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        self.everyone = Limits()
        self.groups: dict[str, Limits] = {}
        self.users: dict[str, Limits] = {}
        for key, entry in config.items():
            kind, _sep, name = str(key).partition(":")
            if key == "*":
                self.everyone = _parse_entry(key, entry, group=False)
            elif kind == "group" and name:
                self.groups[name] = _parse_entry(key, entry, group=True)
            elif kind == "user" and name:
                self.users[name] = _parse_entry(key, entry, group=False)
            else:
                raise LimitsConfigError(f"limits: {key!r} is not '*', 'user:NAME' or 'group:NAME'")

    def caller(self, name: str, groups: Iterable[str]) -> Caller:
        """The limits of user `name` in `groups`, resolved as the module docstring says."""
        ordered = tuple(sorted(set(groups)))
        listed = [g for g in ordered if g in self.groups]
        group = listed[0] if listed else (ordered[0] if ordered else "")
        values: dict[str, Any] = {}
        own = self.users.get(name, Limits())
        for field in (*USER_FIELDS, "models"):
            value = getattr(own, field)
            if value is None:
                value = _most_generous(field, [getattr(self.groups[g], field) for g in listed])
            if value is None:
                value = getattr(self.everyone, field)
            values[field] = value
        budget = self.groups.get(group, Limits())
        for field in GROUP_FIELDS:
            values[field] = getattr(budget, field)
        return Caller(name, ordered, group, Limits(**values))


def _most_generous(field: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if field == "models":
        return tuple(dict.fromkeys(pattern for patterns in present for pattern in patterns))
    return max(present)


def _parse_entry(key: str, entry: Any, *, group: bool) -> Limits:
    if not isinstance(entry, Mapping):
        raise LimitsConfigError(f"limits[{key!r}] must be a dict of limits, not {type(entry).__name__}")
    allowed = (*USER_FIELDS, "models", *(GROUP_FIELDS if group else ()))
    values: dict[str, Any] = {}
    for field, value in entry.items():
        if field not in allowed:
            raise LimitsConfigError(f"limits[{key!r}]: unknown limit {field!r} (use {', '.join(allowed)})")
        if field == "models":
            if isinstance(value, str) or not all(isinstance(p, str) and p for p in value):
                raise LimitsConfigError(f"limits[{key!r}]['models'] must be a list of model patterns")
            values[field] = tuple(value)
        elif value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LimitsConfigError(f"limits[{key!r}][{field!r}] must be a whole number >= 0, not {value!r}")
            values[field] = value
    return Limits(**values)


# -- time windows -------------------------------------------------------------------------------------------------


class Calendar:
    """Days and months in the administrator's time zone: a daily limit resets at that zone's midnight."""

    def __init__(self, zone: str = "UTC") -> None:
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LimitsConfigError(f"timezone: unknown time zone {zone!r} (e.g. UTC, Europe/Moscow)") from None

    def local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.zone)

    def day(self, now: float) -> str:
        """The day `now` falls on, as stored: '2025-06-01'."""
        return self.local(now).date().isoformat()

    def month_start(self, now: float) -> str:
        return self.local(now).date().replace(day=1).isoformat()

    def until_next_day(self, now: float) -> float:
        today = self.local(now).date()
        return self._until(today + timedelta(days=1), now)

    def until_next_month(self, now: float) -> float:
        today = self.local(now).date()
        first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        return self._until(first, now)

    def _until(self, day: date, now: float) -> float:
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return max(1.0, midnight.timestamp() - now)


# -- admission ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """What the ledger holds for a caller at one moment (one consistent read)."""

    user_day: int = 0
    user_month: int = 0
    #: Tokens reserved by the caller's requests still running (on any replica).
    user_reserved: int = 0
    streams: int = 0
    #: Requests the caller started in the last minute, and when the oldest of them started.
    recent: int = 0
    oldest_recent: float | None = None
    group_day: int = 0
    group_month: int = 0
    group_reserved: int = 0


@dataclass(frozen=True)
class Grant:
    """Go ahead: `reserve` tokens are held for the request; `max_tokens` is what to ask upstream (None: as asked)."""

    reserve: int
    max_tokens: int | None


@dataclass(frozen=True)
class Refusal:
    """Not now: `limit` is the field that refused (`tokens_per_day`, ...), `value` its setting."""

    limit: str
    value: int
    retry_after: float


def decide(
    limits: Limits,
    counts: Counts,
    *,
    prompt_tokens: int,
    max_tokens: int | None,
    answer_reserve: int,
    now: float,
    calendar: Calendar,
) -> Grant | Refusal:
    """Whether a request may go ahead, and how many tokens it holds meanwhile."""
    if limits.concurrent_streams is not None and counts.streams >= limits.concurrent_streams:
        return Refusal("concurrent_streams", limits.concurrent_streams, STREAMS_RETRY_AFTER)
    if limits.requests_per_minute is not None and counts.recent >= limits.requests_per_minute:
        oldest = counts.oldest_recent if counts.oldest_recent is not None else now
        return Refusal("requests_per_minute", limits.requests_per_minute, max(1.0, math.ceil(oldest + 60 - now)))
    answer = max_tokens if max_tokens is not None else limits.max_tokens
    wanted = prompt_tokens + (answer if answer is not None else answer_reserve)
    windows = [
        ("tokens_per_day", limits.tokens_per_day, counts.user_day + counts.user_reserved, calendar.until_next_day),
        ("tokens_per_month", limits.tokens_per_month, counts.user_month + counts.user_reserved,
         calendar.until_next_month),
        ("group_tokens_per_day", limits.group_tokens_per_day, counts.group_day + counts.group_reserved,
         calendar.until_next_day),
        ("group_tokens_per_month", limits.group_tokens_per_month, counts.group_month + counts.group_reserved,
         calendar.until_next_month),
    ]
    tightest: tuple[int, str, int, Any] | None = None
    for name, limit, used, until in windows:
        if limit is not None and (tightest is None or limit - used < tightest[0]):
            tightest = (limit - used, name, limit, until)
    if tightest is None or tightest[0] >= wanted:
        return Grant(wanted, answer)
    left, name, limit, until = tightest
    if left - prompt_tokens >= MIN_ANSWER_TOKENS:
        return Grant(left, left - prompt_tokens)
    return Refusal(name, limit, math.ceil(until(now)))

