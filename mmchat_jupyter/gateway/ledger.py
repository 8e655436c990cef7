"""The usage ledger: what each request reserved and used, in one SQL database that every replica shares.

SQLite (the default: one replica) or PostgreSQL (several replicas behind one Kubernetes Service), through
SQLAlchemy Core. Three tables:

    mmchat_gateway_usage     requests and tokens per day, user, group, provider and model (what reports read)
    mmchat_gateway_inflight  one row per metered request of the last day: its reservation while it runs
    mmchat_gateway_subjects  one row per user and group, locked while a request of theirs is admitted

Admission locks the caller's subject rows (`SELECT ... FOR UPDATE`, so admissions of one user serialize across
replicas), reads every count in one statement (one snapshot, so a settlement committing meanwhile is seen either
whole or not at all), and inserts the reservation: one transaction. Settling turns a reservation into usage in one
transaction guarded by `settled = false`, so a settlement retried after an unknown outcome cannot count twice.
The reservation of a replica that died stops counting after `request_timeout`.

Every method blocks: the gateway calls them on its database threads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from .limits import Calendar, Caller, Counts, Grant, Refusal, decide

#: Rows of finished requests are kept this long (seconds): the last minute counts towards requests_per_minute, and a
#: settlement retried within a day still finds its row (and so is not counted twice).
INFLIGHT_KEEP = 86400.0
#: Report dimensions -> columns.
DIMENSIONS = ("day", "user", "group", "provider", "model")
COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "total_tokens")

metadata = MetaData()

usage_table = Table(
    "mmchat_gateway_usage",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("user_name", String(255), primary_key=True),
    Column("group_name", String(255), primary_key=True),
    Column("provider", String(64), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Index("ix_mmchat_gateway_usage_user_day", "user_name", "day"),
    Index("ix_mmchat_gateway_usage_group_day", "group_name", "day"),
)

inflight_table = Table(
    "mmchat_gateway_inflight",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_name", String(255), nullable=False),
    Column("group_name", String(255), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("settled", Boolean, nullable=False),
    Index("ix_mmchat_gateway_inflight_user", "user_name", "created"),
    Index("ix_mmchat_gateway_inflight_group", "group_name", "created"),
)

subjects_table = Table("mmchat_gateway_subjects", metadata, Column("name", String(300), primary_key=True))


class LedgerUnavailable(Exception):
    """The database could not be reached, or refused the statement (the message is for the gateway's log)."""


@dataclass(frozen=True)
class Settlement:
    """What one finished request used. `request_id` is set when it was admitted with a reservation."""

    request_id: str | None
    day: str
    user: str
    group: str
    provider: str
    model: str
    #: 1 when an answer (or part of one) was given, 0 for a request that failed before any.
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def database_url(url: str) -> str:
    """`url` with the driver we ship: `postgresql://` (which SQLAlchemy maps to psycopg2) means psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, pool_size: int) -> Engine:
    """An engine for a SQLite file (created 0600: it names users) or a PostgreSQL database."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(parsed, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=3600,
            connect_args={"connect_timeout": 5},
        )
    raise ValueError(f"db_url: use sqlite:///PATH or postgresql://..., not {parsed.get_backend_name()}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (reports) never wait for the writer; NORMAL: no fsync per commit (safe against a process crash).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Ledger:
    """Admission, settlement and reports over one database."""

    def __init__(self, engine: Engine, calendar: Calendar) -> None:
        self.engine = engine
        self.calendar = calendar
        self._known_subjects: set[str] = set()
        self._statements = _Statements(postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)

    def create_schema(self) -> None:
        """Create the tables if missing; replicas starting together take turns (an advisory lock on PostgreSQL)."""
        with self._begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7262013)"))
            metadata.create_all(conn)

    def close(self) -> None:
        self.engine.dispose()

    # -- admission and settlement -------------------------------------------------------------------------------

    def admit(
        self,
        request_id: str,
        caller: Caller,
        *,
        prompt_tokens: int,
        max_tokens: int | None,
        answer_reserve: int,
        timeout: float,
        now: float,
    ) -> Grant | Refusal:
        """Decide on a request of a metered caller and, when granted, hold its reservation."""
        sql = self._statements
        budget = caller.limits.group_tokens_per_day is not None or caller.limits.group_tokens_per_month is not None
        group = caller.group if budget else ""
        subjects = [f"user:{caller.name}", *([f"group:{group}"] if group else [])]
        window = {"today": self.calendar.day(now), "month": self.calendar.month_start(now), "now": now,
                  "minute_ago": now - 60}
        with self._begin() as conn:
            new = [name for name in subjects if name not in self._known_subjects]
            if new:
                conn.execute(sql.add_subjects, [{"name": name} for name in new])
            conn.execute(sql.lock, {"names": subjects}).all()
            row = conn.execute(sql.user_counts, {**window, "user": caller.name}).one()
            grouped = conn.execute(sql.group_counts, {**window, "group": group}).one() if group else (0, 0, 0)
            counts = Counts(
                user_day=int(row[0]), user_month=int(row[1]), user_reserved=int(row[2]), streams=int(row[3]),
                recent=int(row[4]), oldest_recent=None if row[5] is None else float(row[5]),
                group_day=int(grouped[0]), group_month=int(grouped[1]), group_reserved=int(grouped[2]),
            )
            decision = decide(
                caller.limits, counts, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                answer_reserve=answer_reserve, now=now, calendar=self.calendar,
            )
            if isinstance(decision, Grant):
                conn.execute(sql.reserve, {
                    "id": request_id, "user_name": caller.name, "group_name": caller.group, "created": now,
                    "expires": now + timeout, "reserved": decision.reserve, "settled": False,
                })
        self._known_subjects.update(new)  # only once committed: a row we lock must exist
        return decision

    def settle(self, done: Settlement) -> None:
        """Record what a request used, and release its reservation; safe to retry."""
        sql = self._statements
        with self._begin() as conn:
            if done.request_id is not None:
                released = conn.execute(sql.release, {"request": done.request_id})
                if released.rowcount == 0:
                    return  # settled already: this is a retry of a commit that did happen
            conn.execute(sql.add_usage, {
                "day": done.day, "user_name": done.user, "group_name": done.group, "provider": done.provider,
                "model": done.model, "requests": done.requests, "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens, "total_tokens": done.total_tokens,
            })

    def purge(self, now: float) -> int:
        """Forget requests finished (or abandoned by a dead replica) more than a day ago."""
        with self._begin() as conn:
            result = conn.execute(inflight_table.delete().where(inflight_table.c.created < now - INFLIGHT_KEEP))
        forgotten: int = result.rowcount
        return forgotten

    # -- reports ------------------------------------------------------------------------------------------------

    def report(
        self,
        *,
        since: str,
        until: str,
        by: Sequence[str] = DIMENSIONS,
        user: str | None = None,
        group: str | None = None,
    ) -> list[dict[str, Any]]:
        """Usage summed over `by` (some of DIMENSIONS) for days `since`..`until` (inclusive, 'YYYY-MM-DD')."""
        u = usage_table.c
        columns = {"day": u.day, "user": u.user_name, "group": u.group_name, "provider": u.provider, "model": u.model}
        dims = [columns[name].label(name) for name in by]
        sums = [func.sum(u[name]).label(name) for name in COUNTERS]
        query = select(*dims, *sums).where(u.day >= since, u.day <= until)
        if user is not None:
            query = query.where(u.user_name == user)
        if group is not None:
            query = query.where(u.group_name == group)
        if dims:
            query = query.group_by(*dims).order_by(*dims)
        with self._begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [{k: (int(v) if k in COUNTERS else v) for k, v in row.items()} for row in rows
                if row["requests"] is not None]

    def _begin(self) -> Any:
        return _Transaction(self.engine)


class _Statements:
    """Every statement of the hot path, built once: a request then costs the database's work, not SQLAlchemy's
    expression building (which was most of an admission's time)."""

    def __init__(self, insert: Any) -> None:
        u, f, s = usage_table.c, inflight_table.c, subjects_table.c
        live = and_(f.settled.is_(False), f.expires > bindparam("now"))

        def counts(usage_column: Any, inflight_column: Any, name: str) -> list[Any]:
            who: Any = bindparam(name)
            tokens = func.coalesce(func.sum(u.total_tokens), 0)
            return [
                select(tokens).where(usage_column == who, u.day == bindparam("today")).scalar_subquery(),
                select(tokens).where(usage_column == who, u.day >= bindparam("month")).scalar_subquery(),
                select(func.coalesce(func.sum(f.reserved), 0)).where(inflight_column == who, live).scalar_subquery(),
            ]

        minute = f.created > bindparam("minute_ago")
        self.user_counts = select(
            *counts(u.user_name, f.user_name, "user"),
            select(func.count()).where(f.user_name == bindparam("user"), live).scalar_subquery(),
            select(func.count()).where(f.user_name == bindparam("user"), minute).scalar_subquery(),
            select(func.min(f.created)).where(f.user_name == bindparam("user"), minute).scalar_subquery(),
        )
        self.group_counts = select(*counts(u.group_name, f.group_name, "group"))
        self.add_subjects = insert(subjects_table).on_conflict_do_nothing()
        self.lock = select(s.name).where(s.name.in_(bindparam("names", expanding=True))).order_by(s.name) \
            .with_for_update()
        self.reserve = inflight_table.insert()
        self.release = update(inflight_table).where(f.id == bindparam("request"), f.settled.is_(False)) \
            .values(settled=True, reserved=0)
        add = insert(usage_table)
        self.add_usage = add.on_conflict_do_update(
            index_elements=["day", "user_name", "group_name", "provider", "model"],
            set_={name: usage_table.c[name] + add.excluded[name] for name in COUNTERS},
        )


class _Transaction:
    """`engine.begin()` whose database failures become LedgerUnavailable (one type for the gateway to handle)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._context: Any = None

    def __enter__(self) -> Connection:
        try:
            self._context = self._engine.begin()
            connection: Connection = self._context.__enter__()
            return connection
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(_describe(exc)) from exc

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._context.__exit__(*exc_info)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(_describe(exc)) from exc
        if exc_info[1] is not None and isinstance(exc_info[1], SQLAlchemyError):
            raise LedgerUnavailable(_describe(exc_info[1])) from exc_info[1]


def _describe(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return " ".join(str(original or exc).split())[:300]
